"""The web channel: what reaches the page, and deliveries across processes (PostgreSQL)."""
import asyncio

import pytest

from bot.envelope import Outbound
from bot.channels.web import WebChannel, WebChat, outbound_for_page
from bot.engine.model import Choice, Link, Reply
from bot.live import PG_CHANNEL, LiveBus
from bot.store.crypto import Crypto
from tests.conftest import PG_URL, SECRET, require_postgres

CHAT_ID = "A" * 32


def test_only_tel_and_https_links_reach_the_page():
    out = Outbound((Reply("hi", "k", (Choice("a", "A"),), (
        Link("ok", "tel:0120279338"), Link("web", "https://example.org/x"),
        Link("bad", "javascript:alert(1)"), Link("bad2", "http://example.org"))),), kind="turn",
        meta={"state": "welcome"})
    page = outbound_for_page(out)
    assert page["state"] == "welcome" and page["replies"][0]["choices"] == [["a", "A"]]
    assert [l[1] for l in page["replies"][0]["links"]] == ["tel:0120279338", "https://example.org/x"]


async def _mailbox_gets(chat: WebChat, key: str, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        box = chat.mailboxes.get(key)
        if box and box.items:
            return box.items[-1][1]
        await asyncio.sleep(0.02)
    raise AssertionError("nothing arrived")


async def test_in_one_process():
    crypto = Crypto(SECRET)
    bus = LiveBus()
    channel = WebChannel(bus, crypto)
    chat = WebChat(None, channel, None)
    task = asyncio.create_task(chat.run())
    await asyncio.sleep(0)
    try:
        assert (await channel.deliver(CHAT_ID, Outbound((Reply("hello"),), kind="counsellor"))).status == "sent"
        got = await _mailbox_gets(chat, channel.mailbox_key(CHAT_ID))
        assert got["kind"] == "counsellor" and got["replies"][0]["text"] == "hello"
    finally:
        task.cancel()


async def test_a_delivery_opens_only_in_its_own_mailbox():
    """A token sealed to one chat's mailbox, put on the bus under another's, does not open:
    a message never reaches the wrong page."""
    crypto = Crypto(SECRET)
    bus = LiveBus()
    channel = WebChannel(bus, crypto)
    chat = WebChat(None, channel, None)
    with bus.subscribe("web") as spy:
        await channel.deliver(CHAT_ID, Outbound((Reply("for A"),), kind="counsellor"))
        message = await spy.get(1)
    other = channel.mailbox_key("B" * 32)
    with pytest.raises(Exception):
        channel.open({"k": other, "d": message["d"]})
    assert channel.open(message)[1].replies[0].text == "for A"
    task = asyncio.create_task(chat.run())
    await asyncio.sleep(0)
    try:
        await bus.publish("web", {"k": other, "d": message["d"]})   # moved to another mailbox
        await bus.publish("web", message)                             # then the genuine one
        await _mailbox_gets(chat, channel.mailbox_key(CHAT_ID))
        assert other not in chat.mailboxes or not chat.mailboxes[other].items
    finally:
        task.cancel()


@pytest.mark.postgres
async def test_across_processes_through_postgres_and_never_in_clear(store_target):
    if store_target.kind != "postgres":
        pytest.skip("between processes: PostgreSQL's NOTIFY (one SQLite process hands over in memory)")
    require_postgres()
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg", "postgresql")
    crypto = Crypto(SECRET)
    worker_store, web_store = store_target.make(), store_target.make()
    worker_bus, web_bus = LiveBus(worker_store), LiveBus(web_store)
    await web_bus.start()
    spy = await asyncpg.connect(dsn)
    heard: list[str] = []
    await spy.add_listener(PG_CHANNEL, lambda *args: heard.append(args[-1]))
    web_channel = WebChannel(web_bus, crypto)
    chat = WebChat(None, web_channel, None)
    task = asyncio.create_task(chat.run())
    try:
        async with asyncio.timeout(5):
            await web_store.listening(PG_CHANNEL)
        # The worker process delivers; the web process's page gets it.
        text = "秘密のメッセージ"
        await WebChannel(worker_bus, crypto).deliver(CHAT_ID, Outbound((Reply(text),), kind="counsellor"))
        got = await _mailbox_gets(chat, web_channel.mailbox_key(CHAT_ID))
        assert got["replies"][0]["text"] == text
        for _ in range(200):  # the spy's connection hears it on its own time
            if heard:
                break
            await asyncio.sleep(0.01)
        assert heard and all(text not in p and CHAT_ID not in p for p in heard)
    finally:
        task.cancel()
        await spy.close()
        await web_bus.stop()
        await worker_store.dispose()
        await web_store.dispose()
