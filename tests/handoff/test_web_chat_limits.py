"""The web chat against floods (issue 16): ids the server issued and can verify, limits per
address on starting, sending, opening handoffs and open streams, and client event ids kept as
an HMAC per chat."""
import asyncio
import json
import secrets

from sqlalchemy import func, select

from bot.store import handoffs
from bot.store.models import Conversation, Handoff, InboxEvent
from tests.handoff.test_console import Stream, chat_send, chat_start


async def send(client, chat_id, text="こんにちは", event_id=None, headers=None):
    body = {"id": chat_id, "event_id": event_id or secrets.token_hex(8), "lang": "ja", "text": text}
    return await client.post("/chat/api/send", json=body, headers=headers)


async def count(store, model) -> int:
    async with store.transaction() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def settle(rt) -> None:
    """Until the worker has run every turn and the sender delivered everything."""
    for _ in range(200):
        depths = await rt.queue_depths()
        if not depths["inbox_pending"] and not depths["outbox_pending"]:
            return
        await asyncio.sleep(0.02)


async def test_made_up_or_altered_chat_ids_are_refused(serve):
    client, rt = await serve()
    real = await chat_start(client)
    await settle(rt)
    before = await count(rt.store, InboxEvent)
    altered = real[:-1] + ("A" if real[-1] != "A" else "B")
    for chat_id in ("A" * 32, "x" * 46, altered, real[:24] + real[:22]):
        assert (await send(client, chat_id)).status == 400, chat_id
        assert (await client.post("/chat/api/stream", json={"id": chat_id, "after": 0})).status == 400
    assert await count(rt.store, InboxEvent) == before
    assert (await send(client, real)).status == 200


async def test_sending_is_limited_per_address_across_chats(serve):
    client, rt = await serve(BOT_WEB_CHAT_SENDS_PER_MINUTE=3)
    first, second = await chat_start(client), await chat_start(client)
    assert [(await send(client, c)).status for c in (first, second, first)] == [200, 200, 200]
    assert (await send(client, second)).status == 429


async def test_starting_chats_is_limited_per_address(serve):
    client, rt = await serve(BOT_WEB_CHAT_STARTS_PER_HOUR=2, BOT_TRUSTED_PROXIES="1")
    here = {"X-Forwarded-For": "203.0.113.8"}
    for _ in range(2):
        assert (await client.post("/chat/api/start", json={"lang": "ja"}, headers=here)).status == 200
    assert (await client.post("/chat/api/start", json={"lang": "ja"}, headers=here)).status == 429
    elsewhere = {"X-Forwarded-For": "198.51.100.8"}
    assert (await client.post("/chat/api/start", json={"lang": "ja"}, headers=elsewhere)).status == 200


async def ask_for_person(client, rt, headers=None):
    resp = await client.post("/chat/api/start", json={"lang": "ja"}, headers=headers)
    chat_id = (await resp.json())["id"]
    assert (await send(client, chat_id, "人と話したい", headers=headers)).status == 200
    await settle(rt)
    return chat_id


async def test_open_handoffs_are_capped_per_address(serve):
    client, rt = await serve(BOT_WEB_CHAT_OPEN_HANDOFFS=1, BOT_TRUSTED_PROXIES="1")
    here = {"X-Forwarded-For": "203.0.113.9"}
    await ask_for_person(client, rt, here)
    refused = await ask_for_person(client, rt, here)
    async with rt.store.transaction() as s:
        rows = list((await s.execute(select(Handoff))).scalars())
        in_handoff = (await s.execute(select(func.count()).select_from(Conversation)
                                      .where(Conversation.in_handoff.is_(True)))).scalar_one()
    assert len(rows) == 1 and in_handoff == 1
    # The one refused is told so, with the 24-hour lines, and the bot goes on.
    stream = Stream(client, refused)
    told = await stream.until(lambda m: any(r["text"].startswith("ごめんなさい、いまはここから") for r in m["replies"]))
    assert any(link[1].startswith("tel:") for r in told["replies"] for link in r["links"])
    stream.close()
    # Someone at another address is not held back by it.
    await ask_for_person(client, rt, {"X-Forwarded-For": "198.51.100.9"})
    assert await count(rt.store, Handoff) == 2


async def test_handoffs_opened_per_address_per_hour_are_limited(serve):
    client, rt = await serve(BOT_WEB_CHAT_HANDOFFS_PER_HOUR=1, BOT_WEB_CHAT_OPEN_HANDOFFS=5)
    await ask_for_person(client, rt)
    async with rt.store.transaction() as s:
        hid = (await handoffs.open_handoffs(s))[0].id
        assert (await handoffs.get_handoff(s, hid)).origin  # kept while open...
    await rt.handoff_hooks.dismiss_spam([hid], counsellor_id=1)
    async with rt.store.transaction() as s:
        assert (await handoffs.get_handoff(s, hid)).origin is None  # ...erased once closed
    await ask_for_person(client, rt)                          # the first is closed, the hour is not over
    assert await count(rt.store, Handoff) == 1


async def test_client_event_ids_are_kept_as_an_hmac_per_chat(serve):
    client, rt = await serve()
    first, second = await chat_start(client), await chat_start(client)
    await settle(rt)
    before = await count(rt.store, InboxEvent)
    event_id = "client-chosen-id-12345"
    for chat_id in (first, first, second):
        assert (await send(client, chat_id, event_id=event_id)).status == 200
    assert await count(rt.store, InboxEvent) == before + 2    # the repeat in one chat counted once
    async with rt.store.transaction() as s:
        stored = [e for (e,) in await s.execute(select(InboxEvent.event_id))]
    assert not any(event_id in e or first in e or second in e for e in stored)


async def test_streams_are_capped_per_chat_and_per_address(serve):
    client, rt = await serve(BOT_WEB_CHAT_STREAMS_PER_CHAT=2, BOT_WEB_CHAT_STREAMS_PER_ADDRESS=3)
    chat_id = await chat_start(client)

    async def open_stream(cid):
        resp = await client.post("/chat/api/stream", json={"id": cid, "after": 0})
        if resp.status == 200:
            assert (await resp.content.readline()).startswith(b": open")
        return resp

    oldest, newer = await open_stream(chat_id), await open_stream(chat_id)
    newest = await open_stream(chat_id)            # a third for the chat: the oldest one ends
    async with asyncio.timeout(5):
        while not oldest.content.at_eof():
            await oldest.content.readany()
    assert not newer.content.at_eof() and newest.status == 200
    other = await chat_start(client)
    third = await open_stream(other)               # three open from this address now
    assert third.status == 200
    refused = await client.post("/chat/api/stream", json={"id": other, "after": 0})
    assert refused.status == 429 and json.loads(await refused.text())["error"] == "too many streams"
    for resp in (newer, newest, third):
        resp.close()


def test_a_chat_begun_before_a_key_rotation_goes_on_after_it():
    from bot.channels.web import ChatIds

    old, new = b"o" * 32, b"n" * 32
    chat = ChatIds([old]).new()
    assert ChatIds([new, old]).is_valid(chat)
    assert ChatIds([new, old]).is_valid(ChatIds([new, old]).new())
    assert not ChatIds([new]).is_valid(chat)
