"""Issue 15, item 5 in Chromium: a ready reply inserted by typing "/" and the start of its short
name; the list is filtered as one types, Enter or a click inserts the text from the locale file."""
import pytest
from playwright.async_api import expect

from tests.e2e.test_console_person_left import taken
from tests.handoff.test_ready_replies import _file_order

pytestmark = pytest.mark.browser


async def test_slash_and_a_short_name_insert_a_ready_reply(browser, server, artifacts):
    replies = dict(_file_order("ja"))
    chat_ctx, chat, console_ctx, console = await taken(browser, server.base)
    box, ready = console.locator("#reply-text"), console.locator("#ready-list")
    await expect(ready).to_be_hidden()
    # "/" alone offers every reply, in the order of the file.
    await box.press_sequentially("/")
    await expect(ready.locator(".ready-item strong")).to_have_text(["/" + n for n in replies])
    # Filtered as one types; Enter inserts the text in place of "/no".
    await box.press_sequentially("no")
    await expect(ready.locator(".ready-item")).to_have_count(1)
    await console.screenshot(path=str(artifacts / "console-ready-replies.png"), full_page=True)
    await box.press("Enter")
    assert await box.input_value() == replies["not_your_fault"]
    await expect(ready).to_be_hidden()
    # After other words, the list follows what is typed; a click inserts at the caret, the words stay.
    await box.press_sequentially(" /")
    await box.press_sequentially("t")
    await expect(ready.locator(".ready-item strong")).to_have_text(["/take_your_time"])
    await box.press("Backspace")
    await box.press_sequentially("s")
    await ready.locator(".ready-item", has_text="/still_there").click()
    assert await box.input_value() == replies["not_your_fault"] + " " + replies["still_there"]
    # A slash inside a word (a date, a URL) offers nothing.
    await box.fill("")
    await box.press_sequentially("12/1")
    await expect(ready).to_be_hidden()
    # The inserted text is sent as it stands.
    await box.fill("")
    await box.press_sequentially("/hel")
    await box.press("Enter")
    await console.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text(replies["hello"])
    await chat_ctx.close()
    await console_ctx.close()
