"""Issue 15, item 4 in Chromium: two counsellors and a supervisor. Aiko takes a conversation and
transfers it to Ben with a note; Ben's page alerts him (strip, title, notification, marked as a
transfer from Aiko), he opens it, reads the note at the top and answers; the person stays
connected. Sara, a supervisor, watches read-only (no input box) and sees Ben's message appear,
joins (Ben's page says so, her messages are marked), then takes over: Ben's page says so and
turns read-only. Back to the queue and a refused transfer, too. Screenshots in test-artifacts/."""
import re

import pytest
from playwright.async_api import expect

from bot.handoff.accounts import create_counsellor, disable_counsellor
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_console_alerts import counsellor, notes
from tests.e2e.test_handoff_browser import open_chat, person_says

pytestmark = pytest.mark.browser

NOTE = "証拠のスクリーンショットは保存済み。警察に行くか迷っている。"


async def test_transfer_with_a_note_then_a_supervisor_watches_joins_and_takes_over(browser, server, artifacts):
    base = server.base
    await create_counsellor(server.runtime.store, "sara", PASSWORD, role="supervisor")
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    a_ctx, aiko = await counsellor(browser, base, "aiko")
    b_ctx, ben = await counsellor(browser, base, "ben")
    s_ctx, sara = await counsellor(browser, base, "sara")

    # Aiko takes it and answers.
    await aiko.locator("ol.queue > li.item .take button").click()
    await expect(aiko).to_have_url(re.compile(r"/console/handoff/[0-9a-f]+$"))
    url = aiko.url
    await aiko.fill("#reply-text", "相談員のあいこです。")
    await aiko.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("あいこです")

    # Transfer to Ben (at the console now, offered by name) with a note.
    options = aiko.locator("#transfer-to option")
    await expect(options).to_have_text(["（選んでください）", "ben", "sara", "待ち行列に戻す"])
    await aiko.select_option("#transfer-to", label="ben")
    await aiko.fill("#transfer-note", NOTE)
    await aiko.screenshot(path=str(artifacts / "console-transfer-form.png"), full_page=True)
    await aiko.click("#transfer")
    await expect(aiko.locator("#handover-what")).to_have_text("この会話は ben さんに引き継ぎました。これからの内容は、担当の ben さんとスーパーバイザーだけが読めます。")
    await expect(aiko.locator("#lines")).to_have_count(0)           # nothing of the conversation any more
    await expect(aiko.locator("#reply-text")).to_have_count(0)
    # The person is still connected and reads one short line, nothing about why.
    await expect(chat.locator(".bubble.bot").last).to_have_text(re.compile("担当の相談員が交代します"))
    await expect(chat.locator("#message")).to_be_enabled()

    # Ben, on the queue page, is alerted: strip (marked as a transfer from Aiko), title, notification.
    item = ben.locator("#alerts .alert-item.transfer")
    await expect(item).to_have_count(1)
    await expect(item.locator(".flag.transfer")).to_have_text("aiko さんから転送")
    await expect(ben).to_have_title("(1) 相談員コンソール")
    assert [n["title"] for n in await notes(ben)][-1] == "aiko さんから相談が転送されました。"
    assert not any(NOTE in n["title"] or NOTE in str(n["options"]) for n in await notes(ben))
    assert await ben.evaluate("window.__tones") >= 2
    await ben.screenshot(path=str(artifacts / "console-transfer-alert.png"), full_page=True)
    # He opens it: the note at the top, the strip's alert ends, and he answers.
    await item.locator("a").click()
    await expect(ben).to_have_url(url)
    await expect(ben.locator("#handover-what")).to_contain_text("aiko さんから引き継がれました")
    await expect(ben.locator("#handover-note")).to_have_text(NOTE)
    await expect(ben.locator("#lines .line.counsellor")).to_contain_text(["相談員のあいこです。"])
    await expect(ben.locator("#alerts .alert-item")).to_have_count(0)
    await ben.screenshot(path=str(artifacts / "console-transfer-received.png"), full_page=True)
    await ben.fill("#reply-text", "ここからは、べんが続けます。")
    await ben.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("べんが続けます")

    # Sara watches: every conversation, then this one read-only; Ben's next message appears live.
    await sara.click("a[href='/console/supervise']")
    row = sara.locator("table.supervise tr.item")
    await expect(row).to_have_count(1)
    await expect(row.locator(".who")).to_have_text("ben")
    await sara.screenshot(path=str(artifacts / "console-supervise-list.png"), full_page=True)
    await row.locator("a.watch").click()
    await expect(sara.locator("#read-only")).to_be_visible()
    await expect(sara.locator("#reply-text")).to_have_count(0)
    await expect(sara.locator("#transfer-form")).to_have_count(0)
    await expect(sara.locator("#handover-note")).to_have_text(NOTE)
    await ben.fill("#reply-text", "証拠を残してくれて、ありがとう。")
    await ben.click("#send")
    await expect(sara.locator("#lines .line.counsellor").last).to_contain_text("証拠を残してくれて")
    await person_says(chat, "ありがとう")
    await expect(sara.locator("#lines .line.person").last).to_have_text(re.compile("ありがとう"))
    await sara.screenshot(path=str(artifacts / "console-supervise-watch.png"), full_page=True)

    # Sara joins: Ben's page says so; her message is marked on his page and reaches the person.
    await sara.click("#join")
    await expect(sara.locator("#supervisor-joined")).to_contain_text("スーパーバイザーとして参加しています")
    await expect(ben.locator("#supervisor-joined")).to_have_text("スーパーバイザーの sara さんが参加しています。")
    await sara.fill("#reply-text", "スーパーバイザーのさらです。一緒に考えます。")
    await sara.click("#send")
    marked = ben.locator("#lines .line.supervisor")
    await expect(marked).to_have_count(1)
    await expect(marked.locator(".who")).to_have_text("スーパーバイザー")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("さらです")
    await expect(ben.locator("#reply-text")).to_be_visible()            # Ben is still in charge
    await ben.screenshot(path=str(artifacts / "console-supervisor-joined.png"), full_page=True)

    # Sara takes over: she is in charge, Ben's page says so and turns read-only.
    await sara.click("#take-over")
    await expect(sara).to_have_url(url)
    await expect(sara.locator("#reply-text")).to_be_visible()
    await expect(ben.locator("#handover-what")).to_have_text(
        "スーパーバイザーの sara さんがこの会話を引き継ぎました。あなたは担当ではなくなり、これからの内容は読めません。")
    await expect(ben.locator("#lines")).to_have_count(0)
    await expect(ben.locator("#reply-text")).to_have_count(0)
    await ben.screenshot(path=str(artifacts / "console-taken-over.png"), full_page=True)
    await sara.fill("#reply-text", "ここからは私が担当します。")
    await sara.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("私が担当します")
    for ctx in (chat_ctx, a_ctx, b_ctx, s_ctx):
        await ctx.close()


async def test_back_to_the_queue_and_a_refused_transfer(browser, server, artifacts):
    base = server.base
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    await person_says(chat, "もう死にたい")
    a_ctx, aiko = await counsellor(browser, base, "aiko")
    b_ctx, ben = await counsellor(browser, base, "ben")
    await aiko.locator("ol.queue > li.item .take button").click()
    await expect(aiko.locator("#reply-text")).to_be_visible()
    # Ben was offered when the page was drawn, then his account is disabled: refused, in words,
    # and the note typed is kept.
    await disable_counsellor(server.runtime.store, "ben")
    await aiko.select_option("#transfer-to", label="ben")
    await aiko.fill("#transfer-note", NOTE)
    await aiko.click("#transfer")
    await expect(aiko.locator("#form-error")).to_have_text("このアカウントは無効になっているため、引き継げません。")
    await expect(aiko.locator("#transfer-note")).to_have_value(NOTE)
    await expect(aiko.locator("#transfer-to option")).to_have_text(["（選んでください）", "待ち行列に戻す"])
    await aiko.screenshot(path=str(artifacts / "console-transfer-refused.png"), full_page=True)
    # Back to the queue: first (a crisis), marked as a transfer from Aiko, waiting counted anew.
    await aiko.select_option("#transfer-to", value="queue")
    await aiko.click("#transfer")
    await expect(aiko.locator("#handover-what")).to_have_text(re.compile("aiko さんが待ち行列に戻しました"))
    await aiko.click("a[href='/console/queue']")
    item = aiko.locator("ol.queue > li.item").first
    await expect(item).to_have_class(re.compile("crisis"))
    await expect(item.locator(".flag.transfer")).to_have_text("aiko さんから転送")
    await expect(item.locator(".since")).to_have_text("0分")
    await expect(chat.locator(".bubble.bot").last).to_have_text(re.compile("担当の相談員が交代します"))
    await aiko.screenshot(path=str(artifacts / "console-transfer-queue.png"), full_page=True)
    for ctx in (chat_ctx, a_ctx, b_ctx):
        await ctx.close()
