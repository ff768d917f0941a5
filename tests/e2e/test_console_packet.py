"""Issue 15, item 2, in Chromium on the real first-contact flow: a young person writes a few
messages in the web chat, says a crisis word, asks for a person and is told the counsellor will
see what they wrote; the counsellor who takes it sees those messages and the words that raised
the crisis; a second counsellor opening the same conversation does not; after the close they
are gone. Screenshots in test-artifacts/."""
import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import start_server
from tests.e2e.test_handoff_browser import console_login

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
STORY = "部活の先輩に写真を広めるって言われた"
CRISIS = "もう死にたい"


@pytest.fixture
async def real(tmp_path):
    runner, srv = await start_server(tmp_path, real_flow=True)
    yield srv
    await runner.cleanup()


async def says(page, text):
    before = await page.locator(".bubble.bot").count()
    await page.fill("#message", text)
    await page.press("#message", "Enter")
    await expect(page.locator(".bubble.you").last).to_have_text(text)
    await expect(page.locator(".bubble.bot")).not_to_have_count(before)


async def test_the_taker_sees_what_they_wrote_and_the_crisis_words_a_colleague_does_not(browser, real, artifacts):
    base = real.base
    chat_ctx = await browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    chat = await chat_ctx.new_page()
    await chat.goto(base + "/chat?lang=ja")
    await expect(chat.locator(".bubble.bot").first).to_contain_text("こんにちは")
    await says(chat, STORY)
    await says(chat, CRISIS)
    await says(chat, "人と話したい")
    # The confirmation tells them the counsellor will see what they wrote here.
    await expect(chat.locator(".bubble.bot", has_text="ボットに書いたことも見える")).to_be_visible()
    await chat.screenshot(path=str(artifacts / "packet-chat-asked.png"))

    aiko_ctx, aiko = await console_login(browser, base, "aiko")
    item = aiko.locator("ol.queue > li.item").first
    await expect(item).to_have_class(re.compile("crisis"))
    assert STORY not in await aiko.content() and CRISIS not in await aiko.content()   # not in the queue
    await item.locator("button").click()
    await expect(aiko).to_have_url(re.compile(r"/console/handoff/[0-9a-f]+$"))
    url = aiko.url
    said = aiko.locator("#said-lines")
    await expect(said).to_contain_text(STORY)
    await expect(said).to_contain_text(CRISIS)
    await expect(said.locator("li")).to_have_count(3)
    await expect(aiko.locator("#ctx-triggers")).to_contain_text("「死にたい」という言葉")
    await aiko.screenshot(path=str(artifacts / "packet-console-taker.png"), full_page=True)

    # Ben, another counsellor, opens the same conversation: it is Aiko's, so he is refused
    # (only a supervisor watches colleagues' conversations) and sees nothing the person wrote.
    ben_ctx, ben = await console_login(browser, base, "ben")
    response = await ben.goto(url)
    assert response.status == 403
    await expect(ben.locator("#said")).to_have_count(0)
    await expect(ben.locator("#ctx-triggers")).to_have_count(0)
    html = await ben.content()
    assert STORY not in html and CRISIS not in html
    await ben.screenshot(path=str(artifacts / "packet-console-colleague.png"), full_page=True)

    # Aiko closes: the messages are erased, her page no longer shows them.
    await aiko.select_option("#outcome", "resolved")
    await aiko.click("#close")
    await aiko.click("#confirm-close")
    await expect(aiko).to_have_url(base + "/console/queue")
    await aiko.goto(url)
    await expect(aiko.locator("#said")).to_have_count(0)
    assert STORY not in await aiko.content()
    for ctx in (chat_ctx, aiko_ctx, ben_ctx):
        await ctx.close()
