"""Issue 15, item 5 in Chromium: a counsellor's own closed conversations, read-only. Aiko closes
a conversation with a note; her history lists it, its page shows what was said and the note,
with nothing to answer with; Ben's history does not list it and its address is refused to him.
Screenshots in test-artifacts/."""
import pytest
from playwright.async_api import expect

from tests.e2e.test_console_person_left import taken
from tests.e2e.test_handoff_browser import console_login, person_says

pytestmark = pytest.mark.browser


async def test_her_own_closed_conversation_in_her_history_not_in_a_colleagues(browser, server, artifacts):
    base = server.base
    chat_ctx, chat, console_ctx, aiko = await taken(browser, base)
    await aiko.fill("#reply-text", "話してくれてありがとう。")
    await aiko.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("ありがとう")
    await person_says(chat, "証拠はどう残せばいい？")
    await expect(aiko.locator("#lines .line.person").last).to_contain_text("証拠はどう残せばいい？")
    await aiko.select_option("#outcome", "referred")
    await aiko.fill("#close-note", "警察の相談窓口を案内した")
    await aiko.click("#close")
    await aiko.click("#confirm-close")
    await expect(aiko).to_have_url(base + "/console/queue")

    await aiko.click("header nav a[href='/console/history']")
    rows = aiko.locator("#history-list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".outcome")).to_have_text("他の窓口を案内した")
    await aiko.screenshot(path=str(artifacts / "console-history.png"), full_page=True)
    await rows.first.locator("a").click()
    item = aiko.locator("#history-item")
    await expect(item.locator("[role=note]")).to_contain_text("読むだけです")
    await expect(item.locator("#lines .line.person .text")).to_contain_text(["証拠はどう残せばいい？"])
    await expect(item.locator("#lines .line.counsellor .text")).to_contain_text(["話してくれてありがとう。"])
    await expect(item.locator("#note-lines .text")).to_contain_text(["警察の相談窓口を案内した"])
    await expect(aiko.locator("textarea, #reply-text, #send")).to_have_count(0)
    url = aiko.url
    await aiko.screenshot(path=str(artifacts / "console-history-item.png"), full_page=True)

    ben_ctx, ben = await console_login(browser, base, "ben")
    await ben.click("header nav a[href='/console/history']")
    await expect(ben.locator("#history-empty")).to_be_visible()
    await ben.goto(url)
    await expect(ben.locator("#history-refused")).to_be_visible()
    assert "証拠はどう残せばいい？" not in await ben.content()
    for ctx in (chat_ctx, console_ctx, ben_ctx):
        await ctx.close()
