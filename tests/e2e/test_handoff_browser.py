"""End to end in Chromium: a person on /chat asks for a person, a counsellor answers from
/console, closes, and the bot goes on. Screenshots of both screens go to test-artifacts/."""
import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import PASSWORD, start_server

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 760}
NEUTRAL = re.compile(r"^https://www\.google\.com/")


async def open_chat(browser, base):
    context = await browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    # The quick exit goes to an outside page; the test answers for it (no network needed).
    await context.route(NEUTRAL, lambda route: route.fulfill(body="<html><title>weather</title>sunny</html>",
                                                             content_type="text/html"))
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(base + "/chat")
    await expect(page.locator(".bubble.bot").first).to_contain_text("こんにちは")
    return context, page


async def person_says(page, text):
    await page.fill("#message", text)
    await page.press("#message", "Enter")
    await expect(page.locator(".bubble.you").last).to_have_text(text)


async def console_login(browser, base, name="aiko", live=True):
    context = await browser.new_context(viewport={"width": 1200, "height": 860}, locale="ja-JP",
                                        java_script_enabled=live)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(base + "/console")
    await expect(page).to_have_url(base + "/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.login button[type=submit]")
    await expect(page).to_have_url(base + "/console/queue")
    return context, page


async def test_person_to_counsellor_and_back_to_the_bot(browser, server, artifacts):
    base = server.base
    # Someone else asked for a person first.
    other_ctx, other = await open_chat(browser, base)
    await person_says(other, "人と話したい")
    await expect(other.locator(".bubble.bot").last).to_contain_text("相談員につなぎます。")

    chat_ctx, chat = await open_chat(browser, base)
    dialogs = []
    chat.on("dialog", lambda d: dialogs.append(d))
    # The person talks, then asks for a person.
    await person_says(chat, "写真を晒すと言われた")
    await expect(chat.locator(".bubble.bot").last).to_contain_text("脅しは犯罪です。")
    await person_says(chat, "人と話したい")
    await expect(chat.locator(".bubble.bot").last).to_contain_text("相談員につなぎます。")
    chat_id = await chat.evaluate("sessionStorage.getItem('chat.id')")
    assert chat_id and await chat_ctx.cookies() == []

    # The console lists the earlier one first, until this person writes a crisis word: then
    # this conversation is at the top, marked, without reloading the page.
    console_ctx, console = await console_login(browser, base)
    items = console.locator("ol.queue > li.item")
    await expect(items).to_have_count(2)
    earlier = await items.first.get_attribute("data-handoff")
    await expect(items.first).not_to_have_class(re.compile("crisis"))
    await person_says(chat, "もう死にたい")
    await expect(items.first).to_have_class(re.compile("crisis"))
    first = items.first
    assert await first.get_attribute("data-handoff") != earlier
    await console.screenshot(path=str(artifacts / "console-queue.png"), full_page=True)
    await first.locator("button").click()
    await expect(console).to_have_url(re.compile(r"/console/handoff/[0-9a-f]+$"))
    await expect(console.locator(".context")).to_contain_text("law_general")
    html = await console.content()
    assert chat_id not in html

    await expect(chat.locator(".bubble.bot").last).to_contain_text("相談員が入りました")
    await console.fill("#reply-text", "こんにちは、相談員です。話してくれてありがとう。")
    await console.click("#send")
    await expect(console.locator("#lines .line.counsellor").last).to_contain_text("相談員です")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("こんにちは、相談員です。")

    # The person's reply reaches the console live; markup is shown as text, never run.
    trap = "<img src=x onerror=alert(1)><b>bold</b>"
    await person_says(chat, trap)
    await expect(console.locator("#lines .line.person .text").last).to_have_text(trap)
    assert await console.locator("#lines img").count() == 0 and await console.locator("#lines b").count() == 0
    # Canned replies come from the locale files.
    await console.select_option("#canned", index=1)
    assert (await console.input_value("#reply-text")).strip()
    await console.fill("#reply-text", "")

    await console.screenshot(path=str(artifacts / "console-conversation.png"), full_page=True)
    await chat.screenshot(path=str(artifacts / "chat-person.png"), full_page=True)

    # The counsellor closes; the person is told, and the bot goes on.
    await console.select_option("#outcome", "resolved")
    await console.click("#close")
    await console.click("#confirm-close")
    await expect(console).to_have_url(base + "/console/queue")
    await expect(chat.locator(".bubble.bot", has_text="相談員との会話はここまでです")).to_be_visible()
    await expect(chat.locator(".bubble.bot").last).to_contain_text("こんにちは")
    await chat.locator(".choice", has_text="脅されている").click()
    # The second time in this conversation: the first came before the handoff. (Waiting for it
    # to be visible passed only while the new one had not come yet.)
    await expect(chat.locator(".bubble.bot", has_text="あなたは悪くありません。")).to_have_count(2)
    await chat.screenshot(path=str(artifacts / "chat-after-close.png"), full_page=True)
    assert dialogs == []
    # The office-hours switch and the figures.
    await console.click("a[href='/console/hours']")
    await console.click("#switch")
    await expect(console.locator("p.banner")).to_contain_text("いまはだれも応答できない")
    await console.screenshot(path=str(artifacts / "console-hours.png"), full_page=True)
    await console.click("#switch")
    await console.click("a[href='/console/figures']")
    today = console.locator("table.figures tbody tr").first
    await expect(today.locator("td").nth(1)).to_have_text("2")   # two conversations
    await expect(today.locator("td").nth(4)).to_have_text("2")   # both asked for a person
    await expect(today.locator("td").nth(6)).to_have_text("1")   # one was answered
    await console.screenshot(path=str(artifacts / "console-figures.png"), full_page=True)
    assert chat_id not in await console.content()
    await console_ctx.close()

    # Quick exit: a neutral page at once, and /chat is gone from this tab's history.
    await chat.click("#quick-exit")
    await expect(chat).to_have_url(NEUTRAL)
    await chat.go_back()
    assert "/chat" not in chat.url
    await chat_ctx.close()
    await other_ctx.close()


async def test_two_counsellors_take_the_same_conversation_one_wins(browser, server):
    base = server.base
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    a_ctx, a = await console_login(browser, base, "aiko")
    # Ben's screen does not update live (as if his connection lagged): he presses "take" on a
    # conversation that Aiko has just taken.
    b_ctx, b = await console_login(browser, base, "ben", live=False)
    await expect(a.locator("ol.queue > li.item")).to_have_count(1)
    await expect(b.locator("ol.queue > li.item")).to_have_count(1)
    # Both open the conversation, then both press "take".
    await a.locator("ol.queue > li.item a").click()
    await b.locator("ol.queue > li.item a").click()
    await expect(a).to_have_url(re.compile(r"/console/handoff/"))
    await expect(b.locator("#take")).to_be_visible()
    await a.click("#take")
    await expect(a.locator("#reply-text")).to_be_visible()
    await b.click("#take")
    await expect(b.locator(".error")).to_contain_text("別の相談員が担当しました")
    assert await b.locator("#reply-text").count() == 0
    for ctx in (a_ctx, b_ctx, chat_ctx):
        await ctx.close()


async def test_out_of_hours_the_person_gets_the_lines_and_can_leave_a_message(browser, tmp_path):
    closed = "timezone: Asia/Tokyo\nweekly: []\n"  # nobody on duty, ever
    runner, srv = await start_server(tmp_path, hours=closed)
    try:
        ctx, chat = await open_chat(browser, srv.base)
        await person_says(chat, "人と話したい")
        await expect(chat.locator(".bubble.bot", has_text="いまは相談員がいない時間です")).to_be_visible()
        link = chat.locator("a.link[href^='tel:']").first
        await expect(link).to_be_visible()
        assert await link.get_attribute("href") == "tel:0120279338"
        await person_says(chat, "明日また話したいです")
        await expect(chat.locator(".bubble.bot").last).to_contain_text("メッセージを受け取りました")
        await chat.screenshot(path=str(tmp_path / "out-of-hours.png"))
        await chat.locator(".choice", has_text="ボットに戻る").click()
        await expect(chat.locator(".bubble.bot").last).to_contain_text("こんにちは")
        await ctx.close()
    finally:
        await runner.cleanup()


async def test_nobody_answered_within_the_wait(browser, server):
    ctx, chat = await open_chat(browser, server.base)
    await person_says(chat, "人と話したい")
    await expect(chat.locator(".bubble.bot").last).to_contain_text("相談員につなぎます。")
    server.service.wait_seconds = 0  # as if the configured minutes had passed
    assert await server.service.check_waiting() == 1
    await expect(chat.locator(".bubble.bot", has_text="いま相談員がだれも応答できていません")).to_be_visible()
    await expect(chat.locator("a.link[href='tel:0120279338']")).to_be_visible()
    await ctx.close()


async def test_dismiss_a_flood_as_spam_ticked_boxes_survive_live_updates(browser, server, artifacts):
    base = server.base
    first_ctx, first = await open_chat(browser, base)
    await person_says(first, "人と話したい")
    second_ctx, second = await open_chat(browser, base)
    await person_says(second, "人と話したい")
    console_ctx, console = await console_login(browser, base)
    items = console.locator("ol.queue > li.item")
    await expect(items).to_have_count(2)
    await console.check("#select-all")
    # A third request arrives: the list is redrawn live, and the ticks stay.
    third_ctx, third = await open_chat(browser, base)
    await person_says(third, "人と話したい")
    await expect(items).to_have_count(3)
    await expect(console.locator("ol.queue input.pick:checked")).to_have_count(2)
    await console.screenshot(path=str(artifacts / "console-dismiss.png"), full_page=True)
    await console.click("#dismiss-selected")
    await expect(console).to_have_url(base + "/console/queue")
    await expect(items).to_have_count(1)
    # The one left, from its own page.
    await items.first.locator("a").click()
    await console.click("#dismiss")
    await expect(console).to_have_url(base + "/console/queue")
    await expect(console.locator("p.empty")).to_be_visible()
    # Whoever was there gets the bot back.
    for page in (first, second, third):
        await expect(page.locator(".bubble.bot").last).to_contain_text("こんにちは")
    for ctx in (first_ctx, second_ctx, third_ctx, console_ctx):
        await ctx.close()
