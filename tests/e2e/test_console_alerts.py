"""Issue 15, item 1: alerts on every console page. Two counsellors; one is busy in a
conversation when a crisis arrives: the strip, the title and a notification change on her page,
with a distinct alert; waiting time counts up in the browser; the sound can be muted; the
browser's permission for notifications is asked once. Screenshots go to test-artifacts/."""
import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import PASSWORD
from tests.e2e.test_handoff_browser import open_chat, person_says

pytestmark = pytest.mark.browser

# Notifications and WebAudio, recorded: headless Chromium shows neither, the page's calls are
# what the test can see. ``permission`` starts as "default", like a browser never asked.
RECORD = """
window.__notes = []; window.__tones = 0;
class RecordedNotification {
  constructor(title, options) { window.__notes.push({title: title, options: options || {}}); }
  static get permission() { return localStorage.getItem('test.permission') || 'default'; }
  static requestPermission() {  // the person closed the prompt: still "default"
    localStorage.setItem('test.asked', String(Number(localStorage.getItem('test.asked') || 0) + 1));
    return Promise.resolve('default');
  }
}
window.Notification = RecordedNotification;
const RealAudioContext = window.AudioContext;
window.AudioContext = class extends RealAudioContext {
  createOscillator() { window.__tones += 1; return super.createOscillator(); }
};
"""


async def counsellor(browser, base, name, granted=True):
    context = await browser.new_context(viewport={"width": 1200, "height": 860}, locale="ja-JP")
    await context.add_init_script(RECORD)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(base + "/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.login button[type=submit]")
    await expect(page).to_have_url(base + "/console/queue")
    if granted:
        await page.evaluate("localStorage.setItem('test.permission', 'granted')")
    return context, page


async def notes(page):
    return await page.evaluate("window.__notes")


async def until(page, expression, wanted):
    """Poll ``expression`` (the console's CSP forbids wait_for_function's eval) until it is ``wanted``."""
    for _ in range(200):
        value = await page.evaluate(expression)
        if value == wanted:
            return
        await asyncio.sleep(0.05)
    assert value == wanted, expression


async def test_a_crisis_arriving_while_a_counsellor_is_busy_alerts_her_page(browser, server, artifacts):
    """The issue's cast: two counsellors, a supervisor and two young people."""
    from bot.handoff.accounts import create_counsellor

    base = server.base
    await create_counsellor(server.runtime.store, "sara", PASSWORD, role="supervisor")
    # Aiko takes a first conversation and is in it.
    first_ctx, first = await open_chat(browser, base)
    await person_says(first, "人と話したい")
    a_ctx, aiko = await counsellor(browser, base, "aiko")
    b_ctx, ben = await counsellor(browser, base, "ben")
    s_ctx, sara = await counsellor(browser, base, "sara")
    await aiko.locator("ol.queue > li.item .take button").click()
    await expect(aiko).to_have_url(re.compile(r"/console/handoff/[0-9a-f]+$"))
    await expect(aiko.locator("#reply-text")).to_be_visible()
    # Sara, the supervisor, watches the list of every conversation.
    await sara.click("a[href='/console/supervise']")
    await expect(sara.locator("table.supervise tr.item .who")).to_have_text(["aiko"])
    strip = aiko.locator("#alerts")
    await expect(strip).to_be_hidden()            # nobody waits
    assert await aiko.title() == "相談員コンソール"

    # Someone else asks for a person: a new-handoff alert on both pages.
    second_ctx, second = await open_chat(browser, base)
    await person_says(second, "人と話したい")
    await expect(strip.locator(".alert-item")).to_have_count(1)
    await expect(aiko).to_have_title("(1) 相談員コンソール")
    await expect(ben).to_have_title("(1) 相談員コンソール")
    assert [n["title"] for n in await notes(aiko)] == ["新しい相談が待っています。"]
    await expect(aiko.locator("#alerts-busy")).to_be_hidden()

    # They write a crisis word: marked, first, and a distinct alert for Aiko, who is busy.
    await person_says(second, "もう死にたい")
    await expect(strip.locator(".alert-item.crisis")).to_have_count(1)
    await expect(aiko).to_have_title("(1) 危機 · 相談員コンソール")
    await expect(aiko.locator("#alerts-busy")).to_be_visible()
    await expect(aiko.locator("#alerts-busy")).to_contain_text("対応中に、危機の相談が届きました")
    await expect(strip).to_have_class(re.compile("crisis-busy"))
    await expect(strip.locator(".alert-item.crisis .flag")).to_have_text("危機")
    aiko_notes = await notes(aiko)
    assert aiko_notes[-1]["title"].startswith("対応中に、危機の相談が届きました")
    assert aiko_notes[-1]["options"]["requireInteraction"] is True
    # Nothing the person wrote is in a notification (they show on lock screens).
    assert not any("死にたい" in n["title"] or "死にたい" in str(n["options"]) for n in aiko_notes)
    assert await aiko.evaluate("window.__tones") >= 2 + 5   # the two-tone, then the crisis tones
    await aiko.screenshot(path=str(artifacts / "console-alert-crisis-busy.png"), full_page=True)

    # Ben is not in a conversation: the crisis is marked and counted, without the busy alert.
    await expect(ben).to_have_title("(1) 危機 · 相談員コンソール")
    await expect(ben.locator("#alerts .alert-item.crisis")).to_have_count(1)
    await expect(ben.locator("#alerts-busy")).to_be_hidden()
    assert (await notes(ben))[-1]["title"] == "危機の相談が待っています。"
    # The strip is on every console page, not only the queue.
    await ben.click("a[href='/console/figures']")
    await expect(ben.locator("#alerts .alert-item.crisis")).to_have_count(1)
    await expect(ben).to_have_title(re.compile(r"^\(1\) 危機"))
    await ben.screenshot(path=str(artifacts / "console-alert-strip-figures.png"), full_page=True)
    # The supervisor's page alerts too, and her list shows the crisis waiting, first and marked.
    await expect(sara).to_have_title("(1) 危機 · 相談員コンソール")
    await expect(sara.locator("#alerts .alert-item.crisis")).to_have_count(1)
    await expect(sara.locator("table.supervise tr.item").first).to_have_class(re.compile("crisis"))
    await expect(sara.locator("table.supervise tr.item")).to_have_count(2)

    # Ben takes it from the strip: it leaves everyone's strip, and Aiko's alert ends.
    await ben.locator("#alerts .alert-item a").click()
    await ben.click("#take")
    await expect(ben.locator("#reply-text")).to_be_visible()
    await expect(strip).to_be_hidden()
    await expect(aiko.locator("#alerts-busy")).to_be_hidden()
    await expect(aiko).to_have_title("相談員コンソール")
    # Sara sees both conversations live, one each, without reloading.
    await expect(sara.locator("#alerts")).to_be_hidden()
    await expect(sara.locator("table.supervise tr.item.live .who")).to_have_text(["ben", "aiko"])
    await sara.screenshot(path=str(artifacts / "console-alert-supervisor.png"), full_page=True)
    for ctx in (first_ctx, second_ctx, a_ctx, b_ctx, s_ctx):
        await ctx.close()


async def test_waiting_time_counts_up_in_the_page(browser, server, artifacts):
    base = server.base
    a_ctx, aiko = await counsellor(browser, base, "aiko")
    await aiko.clock.install()
    await aiko.reload()
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    strip_wait = aiko.locator("#alerts .alert-item .since")
    queue_wait = aiko.locator("ol.queue .since")
    await expect(strip_wait).to_have_text("0分")
    await expect(queue_wait).to_have_text("0分")
    # 70 seconds on this page's clock, without a reload or a server event.
    await aiko.clock.fast_forward("01:10")
    await expect(strip_wait).to_have_text("1分")
    await expect(queue_wait).to_have_text("1分")
    await aiko.clock.fast_forward("02:00")
    await expect(strip_wait).to_have_text("3分")
    await aiko.screenshot(path=str(artifacts / "console-alert-counting.png"), full_page=True)
    for ctx in (chat_ctx, a_ctx):
        await ctx.close()


async def test_a_message_from_someone_waiting_alerts_and_the_sound_can_be_muted(browser, server):
    base = server.base
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    a_ctx, aiko = await counsellor(browser, base, "aiko")
    await expect(aiko.locator("#alerts .alert-item")).to_have_count(1)
    assert await notes(aiko) == []              # what waited before the page opened is no news
    await person_says(chat, "まだですか")
    await until(aiko, "window.__notes.length", 1)
    assert (await notes(aiko))[0]["title"] == "待っている人からメッセージが届きました。"
    tones = await aiko.evaluate("window.__tones")
    assert tones == 2
    # Muted: still notified, no sound; the choice survives a reload.
    await aiko.click("#alerts-sound")
    await expect(aiko.locator("#alerts-sound")).to_have_text("通知音: オフ")
    await aiko.reload()
    await expect(aiko.locator("#alerts-sound")).to_have_text("通知音: オフ")
    await expect(aiko.locator("#alerts .alert-item")).to_have_count(1)
    other_ctx, other = await open_chat(browser, base)
    await person_says(other, "人と話したい")
    await expect(aiko.locator("#alerts .alert-item")).to_have_count(2)
    await until(aiko, "window.__notes.length", 1)   # since the reload
    assert await aiko.evaluate("window.__tones") == 0
    for ctx in (chat_ctx, other_ctx, a_ctx):
        await ctx.close()


async def test_notification_permission_is_asked_once(browser, server):
    a_ctx, aiko = await counsellor(browser, server.base, "aiko", granted=False)
    assert await aiko.evaluate("localStorage.getItem('test.asked')") is None   # not before a click
    await aiko.click("h1")
    await until(aiko, "localStorage.getItem('test.asked')", "1")
    await aiko.click("h1")
    await aiko.click("a[href='/console/hours']")
    await aiko.click("h1")
    await aiko.reload()
    await aiko.click("h1")
    # The person closed the prompt (still "default"): the console does not ask again.
    assert await aiko.evaluate("localStorage.getItem('test.asked')") == "1"
    await a_ctx.close()
