"""Issue 15, item 8: the web chat on a 390x844 phone, with the real first-contact flow (its long
texts). The newest buttons are on screen after every bot turn; Esc while composing never leaves,
a double Esc does; while queued the person hears, honestly, that they are still waiting; after
a counsellor closes, one message says the bot is back. Screenshots go to test-artifacts/."""
import asyncio
import re
import time

import pytest
from playwright.async_api import expect

from bot.store import counsellors
from tests.e2e.conftest import start_server

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
NEUTRAL = re.compile(r"^https://www\.google\.com/")


@pytest.fixture
async def real(tmp_path):
    runner, srv = await start_server(tmp_path, real_flow=True)
    yield srv
    await runner.cleanup()


async def open_phone_chat(browser, base, locale="ja"):
    context = await browser.new_context(viewport=PHONE, locale="ja-JP" if locale == "ja" else "en-US",
                                        is_mobile=True, has_touch=True)
    await context.route(NEUTRAL, lambda route: route.fulfill(body="<html><title>weather</title>sunny</html>",
                                                             content_type="text/html"))
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{base}/chat?lang={locale}")
    return context, page


async def assert_buttons_on_screen(page, what: str) -> int:
    """Every button of the newest set lies inside the viewport and above the composer."""
    buttons = page.locator(".choices .choice")
    await expect(buttons.first).to_be_visible()
    composer = await page.locator("#composer").bounding_box()
    count = await buttons.count()
    for i in range(count):
        box = await buttons.nth(i).bounding_box()
        assert box is not None, what
        assert box["y"] >= 0 and box["x"] >= 0, (what, i, box)
        assert box["x"] + box["width"] <= PHONE["width"], (what, i, box)
        assert box["y"] + box["height"] <= composer["y"] + 0.5, (what, i, box, composer)
    return count


async def tap(page, label):
    before = await page.locator(".bubble.bot").count()
    await page.locator(".choices .choice", has_text=label).first.click()
    await expect(page.locator(".bubble.bot")).not_to_have_count(before)
    # the turn's last bubble carries the buttons: wait for them
    await expect(page.locator(".choices .choice").first).to_be_visible()


async def test_the_newest_buttons_are_on_screen_after_every_bot_turn(browser, real, artifacts):
    ctx, page = await open_phone_chat(browser, real.base)
    await expect(page.locator(".bubble.bot").first).to_contain_text("こんにちは")
    turns = 0
    await assert_buttons_on_screen(page, "welcome")
    await page.screenshot(path=str(artifacts / "phone-1-welcome.png"))
    # Down a long path: each state says a lot, then offers its buttons.
    for n in range(5):
        labels = await page.locator(".choices .choice").all_inner_texts()
        assert labels, f"turn {n}: no buttons"
        await tap(page, labels[0])
        await assert_buttons_on_screen(page, f"turn {n}: after {labels[0]}")
        turns += 1
    await page.screenshot(path=str(artifacts / "phone-2-after-turns.png"))
    # Typed, too: asking for a person shows "back to the bot / end" on screen.
    await page.fill("#message", "人と話したい")
    await page.press("#message", "Enter")
    await expect(page.locator(".bubble.bot", has_text="相談員（人）に、つないでほしいと伝えました")).to_be_visible()
    await assert_buttons_on_screen(page, "asked for a person")
    await expect(page.locator(".choices .choice", has_text="ボット")).to_be_visible()
    await page.screenshot(path=str(artifacts / "phone-3-asked-for-person.png"))
    assert turns == 5
    await ctx.close()


async def test_esc_while_composing_never_leaves_and_a_double_esc_does(browser, real, artifacts):
    ctx, page = await open_phone_chat(browser, real.base)
    await expect(page.locator(".bubble.bot").first).to_contain_text("こんにちは")
    await page.fill("#message", "しゃしんを")
    # Japanese input cancels a conversion with Esc: those keydowns say isComposing (or keyCode 229).
    await page.evaluate("""() => {
        const box = document.getElementById('message');
        const esc = (init, keyCode) => {
            const ev = new KeyboardEvent('keydown', {key: 'Escape', bubbles: true, ...init});
            if (keyCode) { Object.defineProperty(ev, 'keyCode', {get: () => keyCode}); }
            box.dispatchEvent(ev);
        };
        esc({isComposing: true}); esc({isComposing: true}); esc({isComposing: true});
        esc({}, 229); esc({}, 229);
    }""")
    # One plain Esc after composing is not a pair either (the composing ones broke it).
    await page.press("#message", "Escape")
    assert "/chat" in page.url
    assert await page.input_value("#message") == "しゃしんを"
    assert await page.evaluate("sessionStorage.getItem('chat.id')")
    await page.screenshot(path=str(artifacts / "phone-4-esc-composing.png"))
    # A second plain Esc right after the first: quick exit, and nothing is left in the tab.
    await page.press("#message", "Escape")
    await expect(page).to_have_url(NEUTRAL)
    await page.go_back()
    assert "/chat" not in page.url
    await ctx.close()


async def test_the_quick_exit_button_leaves_at_once(browser, real):
    ctx, page = await open_phone_chat(browser, real.base)
    await expect(page.locator(".bubble.bot").first).to_contain_text("こんにちは")
    await page.click("#quick-exit")
    await expect(page).to_have_url(NEUTRAL)
    await ctx.close()


@pytest.mark.parametrize("locale", ["ja", "en"])
async def test_queued_the_person_hears_they_are_still_waiting_then_the_bot_is_back_once(
        browser, real, artifacts, locale):
    ctx, page = await open_phone_chat(browser, real.base, locale)
    ask, still, minutes, back = {
        "ja": ("人と話したい", "相談員の順番を待っています", "4分", "ここからは、またボットが答えます"),
        "en": ("I want to talk to a person", "still waiting for a counsellor", "4 min", None),
    }[locale]
    await expect(page.locator(".bubble.bot").first).to_be_visible()
    await page.fill("#message", ask)
    await page.press("#message", "Enter")
    service = real.service
    await expect(page.locator(".choices .choice").first).to_be_visible()
    async with service.store.transaction() as s:
        from bot.store import handoffs
        queued = await handoffs.open_handoffs(s)
    assert len(queued) == 1
    buttons = await page.locator(".choices .choice").all_inner_texts()
    # Four minutes and a bit later (the service's clock; the queue's time is real).
    service.clock = lambda: time.time() + 4 * 60 + 5
    try:
        assert await service.check_still_waiting() == 1
    finally:
        service.clock = time.time
    await expect(page.locator(".bubble.bot", has_text=still)).to_contain_text(minutes)
    # The person's buttons (back to the bot, end) are still there, under it, on screen.
    assert await page.locator(".choices .choice").all_inner_texts() == buttons
    await assert_buttons_on_screen(page, "still waiting")
    await page.screenshot(path=str(artifacts / f"phone-5-still-waiting-{locale}.png"))

    async with service.store.transaction() as s:
        cid = (await counsellors.add_counsellor(s, "chika", "x", 0.0)).id
    hid = queued[0].id
    assert await service.take(hid, cid) == "ok"
    # A counsellor's long messages: the newest one ends on screen, above the composer, each time.
    long_reply = {"ja": "話してくれてありがとう。あなたは悪くありません。" * 6,
                  "en": "Thank you for telling me. None of this is your fault. " * 6}[locale]
    for n in range(3):
        assert await service.reply(hid, cid, f"{n + 1}. {long_reply}")
        newest = page.locator(".bubble.counsellor").nth(n)
        await expect(newest).to_be_visible()
        composer = await page.locator("#composer").bounding_box()
        for _ in range(100):        # the chat scrolls to it (smoothly, perhaps): wait until it has
            box = await newest.bounding_box()
            if box and box["y"] >= 0 and box["y"] + box["height"] <= composer["y"] + 0.5:
                break
            await asyncio.sleep(0.05)
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= composer["y"] + 0.5, (n, box, composer)
    await page.screenshot(path=str(artifacts / f"phone-5b-counsellor-{locale}.png"))
    assert await service.close(hid, cid, "resolved")
    flow = real.runtime.bundles.flow
    back = back or flow.text(locale, "after_human.back")[:20]
    await expect(page.locator(".bubble.bot", has_text=back)).to_have_count(1)
    await assert_buttons_on_screen(page, "bot is back")
    # One message says the bot is back: after the goodbye, nothing else about it.
    texts = await page.locator(".bubble.bot p").all_inner_texts()
    goodbye = flow.text(locale, "console.person.left")
    assert texts[-2:] == [goodbye, flow.text(locale, "after_human.back")]
    await page.screenshot(path=str(artifacts / f"phone-6-bot-back-{locale}.png"))
    await ctx.close()
