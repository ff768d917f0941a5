"""Issue 17, item 1 in Chromium, on the real first-contact flow: an editor reorders, relabels and
removes buttons on a card; removing a state that others lead to is refused and names who does;
renaming a state keeps a person who was inside it where they were (their old buttons still
work after publishing). The preview beside the cards follows the state chosen even when the
previous turn is still on its way. Screenshots in test-artifacts/."""
from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from bot.handoff.accounts import create_counsellor
from tests.e2e.conftest import PASSWORD, start_server
from tests.e2e.test_editor_browser import LIVE_WITHIN, editor, saved, show_top_of

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def real(tmp_path):
    runner, srv = await start_server(tmp_path, real_flow=True)
    await create_counsellor(srv.runtime.store, "eri", PASSWORD, role="editor")
    yield srv
    await runner.cleanup()


def button_ids(card):
    return card.locator("table.buttons tbody tr")


async def new_chat_buttons(browser, base):
    """The buttons of the first turn of a new web chat."""
    context = await browser.new_context(viewport=PHONE, locale="ja-JP")
    try:
        page = await context.new_page()
        await page.goto(f"{base}/chat?lang=ja")
        await expect(page.locator(".choices .choice").first).to_be_visible()
        return await page.locator(".choices .choice").all_inner_texts()
    finally:
        await context.close()


async def test_buttons_reordered_relabelled_removed_a_state_renamed_and_old_buttons_work(browser, real, artifacts):
    base = real.base
    text = real.runtime.bundles.flow.text
    # A young person is inside "sit_other" (its buttons on screen) before any of this happens.
    person_ctx = await browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    person = await person_ctx.new_page()
    person.set_default_timeout(10_000)
    await person.goto(f"{base}/chat?lang=ja")
    await person.locator(".choices .choice", has_text=text("ja", "choice.other")).click()
    await expect(person.locator(".bubble.bot", has_text=text("ja", "other.ask"))).to_be_visible()
    await expect(person.locator(".choices .choice", has_text=text("ja", "choice.school"))).to_be_visible()

    context, page = await editor(browser, base)
    welcome = page.locator("#card-welcome")
    rows = button_ids(welcome)
    before = ["threat", "asked", "spread", "paid", "friend", "other", "talk_to_person"]
    assert [await r.get_attribute("data-choice") for r in await rows.all()] == before

    # 1. Reorder: "threat" one down (the page draws the cards again).
    async with page.expect_navigation():
        await welcome.locator('tr[data-choice="threat"] button[data-move="1"]').click()
    await expect(rows.first).to_have_attribute("data-choice", "asked")
    await expect(rows.nth(1)).to_have_attribute("data-choice", "threat")
    await expect(welcome.locator('tr[data-choice="asked"] button[data-move="-1"]')).to_be_disabled()   # first now

    # 2. Relabel: a button's Japanese words, saved as typed.
    new_label = "写真や動画を送れと言われてる"
    await welcome.locator('tr[data-choice="asked"] input[data-lang="ja"]').fill(new_label)
    await saved(page)

    # 3. Remove: "friend" (the menu still leads there).
    async with page.expect_navigation():
        await welcome.locator('tr[data-choice="friend"] button[data-remove-choice="friend"]').click()
    await expect(welcome.locator('tr[data-choice="friend"]')).to_have_count(0)
    assert [await r.get_attribute("data-choice") for r in await rows.all()] == [
        "asked", "threat", "spread", "paid", "other", "talk_to_person"]
    await expect(welcome.locator('tr[data-choice="asked"] input[data-lang="ja"]')).to_have_value(new_label)
    await show_top_of(page, "welcome")
    await page.screenshot(path=str(artifacts / "editor-buttons-reordered.png"))

    # 4. Removing a state that others lead to is refused, saying who leads there; nothing changes.
    other = page.locator("#card-sit_other")
    await expect(other.locator(".leads-here a.pointer")).to_contain_text(["welcome", "menu"])
    await other.locator("details.state-actions summary").click()
    await other.locator('form[data-op="remove_state"] button[type=submit]').click()
    refused = other.locator('form[data-op="remove_state"] .refused')
    await expect(refused).to_be_visible()
    await expect(refused).to_contain_text("ほかの場所からここへ来ます")
    await expect(refused).to_contain_text("「welcome」（ボタン other）")
    await expect(refused).to_contain_text("「menu」（ボタン other）")
    await expect(page.locator("#editor-status")).not_to_have_attribute("data-state", "failed")
    await show_top_of(page, "sit_other")
    await page.screenshot(path=str(artifacts / "editor-remove-state-refused.png"))
    await page.reload()
    await expect(page.locator("#card-sit_other")).to_have_count(1)

    # 5. Rename it: every button leading there follows, the old name stays as an alias.
    other = page.locator("#card-sit_other")
    await other.locator("details.state-actions summary").click()
    await other.locator('form[data-op="rename_state"] input[name=new]').fill("sit_more")
    async with page.expect_navigation():
        await other.locator('form[data-op="rename_state"] button[type=submit]').click()
    await expect(page.locator("#card-sit_other")).to_have_count(0)
    await expect(page.locator("#card-sit_more")).to_be_visible()
    await expect(page.locator('#card-welcome tr[data-choice="other"] input.target')).to_have_value("sit_more")
    await expect(page.locator('#card-menu tr[data-choice="other"] input.target')).to_have_value("sit_more")
    await expect(page.locator("#card-sit_more .leads-here")).to_contain_text("sit_other")   # the alias
    await expect(page.locator("#publish")).to_be_enabled()

    # 6. Publish: a new chat shows the buttons in the new order and words ...
    await page.fill("#publish-form input[name=note]", "ボタンの順番と言葉、状態の名前")
    async with page.expect_navigation():
        await page.click("#publish")
    await expect(page.locator("#outcome")).to_contain_text("を公開しました")
    wanted = [new_label, text("ja", "choice.threat"), text("ja", "choice.spread"), text("ja", "choice.paid"),
              text("ja", "choice.other"), text("ja", "system.choice_human")]
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + LIVE_WITHIN
    while asyncio.get_running_loop().time() < deadline:
        seen = await new_chat_buttons(browser, base)
        if seen == wanted:
            break
    assert seen == wanted

    # ... and the person inside the renamed state taps a button drawn before: it still works.
    await person.locator(".choices .choice", has_text=text("ja", "choice.school")).click()
    await expect(person.locator(".bubble.bot", has_text=text("ja", "school.not_you"))).to_be_visible()
    await expect(person.locator(".bubble.bot", has_text=text("ja", "system.fallback"))).to_have_count(0)
    await person.screenshot(path=str(artifacts / "editor-renamed-old-button-works.png"))
    for ctx in (context, person_ctx):
        await ctx.close()


async def test_the_preview_beside_the_cards_follows_the_state_chosen_while_a_turn_is_on_its_way(browser, real, artifacts):
    base = real.base
    context, page = await editor(browser, base)
    # The first turn (from the start) is held on its way, as on a loaded server, until the
    # editor has chosen a state and the preview has answered for it.
    held: list[str] = []
    release = asyncio.Event()

    async def hold_first(route):
        held.append(route.request.post_data or "")
        if len(held) == 1:
            await release.wait()
        await route.continue_()

    # The page as first drawn has had its own first turn (nothing of it is left on its way).
    await expect(page.locator(".editor-side .preview-log li.rule")).to_have_count(1)
    await page.route(re.compile(r"/console/editor/preview/turn$"), hold_first)
    await page.reload()
    preview = page.locator(".editor-side .editor-preview")
    await expect(preview.locator(".preview-state option[value=ev_keep]")).to_have_count(1)
    for _ in range(400):                        # the start turn has left the page and is held
        if held:
            break
        await asyncio.sleep(0.05)
    assert len(held) == 1
    await preview.locator(".preview-state").select_option("ev_keep")
    rules = preview.locator(".preview-log li.rule")
    await expect(rules.last).to_have_attribute("data-state", "ev_keep")
    assert '"start"' in held[0] and '"enter"' in held[1]
    # The held answer (from the start) arrives late: the preview does not show it.
    async with page.expect_request_finished(lambda r: r.url.endswith("/preview/turn") and '"start"' in (r.post_data or "")):
        release.set()
    await page.evaluate("new Promise(r => setTimeout(r, 0))")
    await expect(rules).to_have_count(1)
    await expect(rules.first).to_have_attribute("data-state", "ev_keep")
    await expect(preview.locator(".preview-log li.note")).to_contain_text("ev_keep")
    await page.screenshot(path=str(artifacts / "editor-preview-beside-cards.png"), full_page=True)
    await context.close()
