"""Issue 15, item 3 in Chromium: a private note, then closing with an outcome chosen by the
counsellor (nothing pre-selected) and a confirmation. Screenshots go to test-artifacts/."""
import pytest
from playwright.async_api import expect

from tests.e2e.test_console_person_left import taken

pytestmark = pytest.mark.browser


async def test_notes_and_a_confirmed_wrap_up(browser, server, artifacts):
    chat_ctx, chat, console_ctx, console = await taken(browser, server.base)
    handoff_url = console.url
    note = "本人はまず証拠を残したい。保護者にはまだ言えない。"
    await console.fill("#note-text", note)
    await console.click("#add-note")
    await expect(console.locator("#note-lines .line.note .text")).to_have_text([note])
    await expect(console.locator("#lines")).not_to_contain_text(note)
    # Nothing chosen: the browser will not send the form.
    assert await console.input_value("#outcome") == ""
    await expect(console.locator("#outcome option:checked")).to_have_text("（選んでください）")
    await console.click("#close")
    await expect(console.locator("#confirm-form")).to_have_count(0)
    await console.select_option("#outcome", "referred")
    await console.fill("#close-note", "窓口を2つ案内した")
    await console.click("#close")
    await expect(console.locator("#confirm-form")).to_contain_text("この会話を終えますか？")
    await expect(console.locator("#confirm-outcome")).to_have_text("他の窓口を案内した")
    await console.screenshot(path=str(artifacts / "console-close-confirm.png"), full_page=True)
    # Not yet: back to the conversation, still live.
    await console.click("#cancel-close")
    await expect(console.locator("#reply-text")).to_be_visible()
    await expect(chat.locator(".bubble.bot", has_text="相談員との会話はここまでです")).to_have_count(0)
    # The wrap-up note typed before is still there.
    assert await console.input_value("#close-note") == "窓口を2つ案内した"
    await console.select_option("#outcome", "referred")
    await console.click("#close")
    await console.click("#confirm-close")
    await expect(console).to_have_url(server.base + "/console/queue")
    await expect(chat.locator(".bubble.bot", has_text="相談員との会話はここまでです")).to_be_visible()
    # The notes stay with the closed conversation (and nothing of them reached the person).
    await console.goto(handoff_url)
    await expect(console.locator("#note-lines .line.note .text")).to_have_text([note, "窓口を2つ案内した"])
    await console.screenshot(path=str(artifacts / "console-notes-after-close.png"), full_page=True)
    assert note not in await chat.content()
    await chat_ctx.close()
    await console_ctx.close()
