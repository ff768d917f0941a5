"""Issue 15, item 6: the counsellor is never left typing to nobody without a sign. Quick exit,
closing the chat tab, and a forgotten conversation (LINE unfollow or block) show on the
counsellor's page, live, and closing is offered. Screenshots go to test-artifacts/."""
import re

import pytest
from playwright.async_api import expect

from bot.envelope import InboundEvent
from tests.e2e.test_handoff_browser import NEUTRAL, console_login, open_chat, person_says

pytestmark = pytest.mark.browser


async def taken(browser, base, name="aiko"):
    """A person asks for a person; ``name`` takes it and is on its page."""
    chat_ctx, chat = await open_chat(browser, base)
    await person_says(chat, "人と話したい")
    await expect(chat.locator(".bubble.bot").last).to_contain_text("相談員につなぎます。")
    console_ctx, console = await console_login(browser, base, name)
    await console.locator("ol.queue > li.item .take button").first.click()
    await expect(console).to_have_url(re.compile(r"/console/handoff/[0-9a-f]+$"))
    await expect(chat.locator(".bubble.bot", has_text="相談員が入りました")).to_be_visible()
    return chat_ctx, chat, console_ctx, console


async def test_quick_exit_shows_the_person_may_have_left_and_offers_closing(browser, server, artifacts):
    chat_ctx, chat, console_ctx, console = await taken(browser, server.base)
    alert = console.locator("#left-alert")
    await expect(alert).to_be_hidden()
    # The context packet in words (item 2): language and channel by name, not codes.
    await expect(console.locator("#ctx-language")).to_have_text("日本語")
    await expect(console.locator("#ctx-channel")).to_have_text("ウェブチャット")
    await chat.click("#quick-exit")
    await expect(chat).to_have_url(NEUTRAL)
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("相談者が離れたかもしれません")
    await expect(alert).to_contain_text("「すぐに閉じる」を押しました。")
    await console.screenshot(path=str(artifacts / "console-person-left.png"), full_page=True)
    await console.click("#offer-close")
    assert await console.input_value("#outcome") == "person_left"
    # The queue says so too.
    await console.goto(server.base + "/console/queue")
    await expect(console.locator("ul.queue.live li.item .flag.gone")).to_have_text("相談者が離れたかもしれません")
    for ctx in (chat_ctx, console_ctx):
        await ctx.close()


async def test_closing_the_chat_tab_shows_the_person_may_have_left(browser, server):
    chat_ctx, chat, console_ctx, console = await taken(browser, server.base)
    await chat.close()            # the tab closes: pagehide
    alert = console.locator("#left-alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("チャットの画面を閉じたか")
    for ctx in (chat_ctx, console_ctx):
        await ctx.close()


async def test_a_forgotten_conversation_says_it_is_gone(browser, server, artifacts):
    chat_ctx, chat, console_ctx, console = await taken(browser, server.base)
    chat_id = await chat.evaluate("sessionStorage.getItem('chat.id')")
    # What a LINE unfollow (or block) does: the conversation is forgotten, handoff and all.
    await server.runtime.accept([InboundEvent("web", "forget-1", chat_id, "forget")])
    await expect(console.locator("#gone-alert")).to_be_visible()
    await expect(console.locator("#gone-alert")).to_contain_text("この会話は消去されました")
    await expect(console.locator("#reply-form")).to_be_hidden()
    await console.screenshot(path=str(artifacts / "console-conversation-gone.png"), full_page=True)
    for ctx in (chat_ctx, console_ctx):
        await ctx.close()
