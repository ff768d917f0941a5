"""The stand-in LINE's fault modes (``bot/channels/line/fake.py``), which the fault suite
(``bench/faults.py``) relies on: reply tokens once only and expiring, acceptance followed by an
error, failures for a time with Retry-After, slowness, and what each person received."""
from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from bot.channels.line.fake import LineStandIn, new_user_id

TOKEN = "standin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def text(t: str) -> list[dict]:
    return [{"type": "text", "text": t}]


@pytest.fixture
async def line():
    async with LineStandIn(TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def reply(http, line, token: str, t: str = "hi") -> tuple[int, dict, dict]:
    async with http.post(f"{line.url}/v2/bot/message/reply", headers=HEADERS,
                         json={"replyToken": token, "messages": text(t)}) as r:
        return r.status, await r.json(), dict(r.headers)


async def push(http, line, user: str, t: str = "hi", key: str | None = None) -> tuple[int, dict, dict]:
    headers = {**HEADERS, "X-Line-Retry-Key": key or str(uuid.uuid4())}
    async with http.post(f"{line.url}/v2/bot/message/push", headers=headers,
                         json={"to": user, "messages": text(t)}) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_an_issued_reply_token_works_once_and_the_reply_is_recorded_for_its_owner(line, http):
    user = new_user_id()
    token = line.issue_reply_token(user)
    assert (await reply(http, line, token, "first"))[0] == 200
    status, body, _ = await reply(http, line, token, "again")
    assert (status, body["message"]) == (400, "Invalid reply token")
    [got] = line.delivered_to(user)
    assert (got.kind, got.texts) == ("reply", ("first",))


async def test_an_issued_reply_token_expires_after_its_ttl(line, http):
    line.reply_token_ttl = 0.2
    user = new_user_id()
    fresh, old = line.issue_reply_token(user), line.issue_reply_token(user)
    line.token_owner[old] = (user, time.monotonic() - 1.0)  # issued a second ago
    assert (await reply(http, line, old))[:2] == (400, {"message": "Invalid reply token"})
    assert (await reply(http, line, fresh))[0] == 200
    assert [d.kind for d in line.delivered_to(user)] == ["reply"]


async def test_accept_then_500_delivers_the_message_but_answers_500(line, http):
    user = new_user_id()
    token = line.issue_reply_token(user)
    line.fail_next(500, kinds=("reply",), accept=True)
    assert (await reply(http, line, token, "once"))[0] == 500
    # the person has it, and the token is used: a retry with it is refused as LINE refuses it
    assert [d.texts for d in line.delivered_to(user)] == [("once",)]
    assert (await reply(http, line, token, "once"))[:2] == (400, {"message": "Invalid reply token"})
    assert len(line.delivered_to(user)) == 1


async def test_accept_then_500_on_push_uses_up_the_retry_key(line, http):
    user, key = new_user_id(), str(uuid.uuid4())
    line.fail_next(500, kinds=("push",), accept=True)
    assert (await push(http, line, user, "p", key))[0] == 500
    assert (await push(http, line, user, "p", key))[0] == 409   # LINE already has it
    assert [(d.kind, d.texts) for d in line.delivered_to(user)] == [("push", ("p",))]


async def test_500_then_429_with_retry_after_in_order_and_nothing_delivered(line, http):
    user = new_user_id()
    token = line.issue_reply_token(user)
    line.fail_next(500, kinds=("reply",))
    line.fail_next(429, kinds=("reply",), retry_after=2)
    first, second = await reply(http, line, token), await reply(http, line, token)
    assert first[0] == 500 and "Retry-After" not in first[2]
    assert (second[0], second[2]["Retry-After"]) == (429, "2")
    assert line.delivered_to(user) == []
    assert (await reply(http, line, token, "now"))[0] == 200   # a refused call does not use the token
    assert [d.texts for d in line.delivered_to(user)] == [("now",)]


async def test_fail_for_lasts_its_time_whatever_the_number_of_calls(line, http):
    user = new_user_id()
    line.fail_for(503, 0.3, kinds=("push",), retry_after=1)
    statuses = [(await push(http, line, user))[0] for _ in range(3)]
    assert statuses == [503, 503, 503]
    await asyncio.sleep(0.35)
    assert (await push(http, line, user))[0] == 200
    assert len(line.delivered_to(user, "push")) == 1


async def test_delay_slows_the_calls_of_its_kinds_only(line, http):
    assert set(line.delay_kinds) == {"reply", "push", "loading", "leave"}   # by default LINE is slow for all
    line.delay, line.delay_kinds = 1.0, ("push",)
    user = new_user_id()
    slow = asyncio.create_task(push(http, line, user))
    await line.wait_for(lambda: line.counts.get("push"))   # the push has arrived and waits
    async with http.post(f"{line.url}/v2/bot/chat/loading/start", headers=HEADERS,
                         json={"chatId": user, "loadingSeconds": 5}) as r:
        assert r.status == 202
    # the animation was answered while the push, sent first, was still held back
    assert not slow.done() and line.delivered_to(user) == [] and line.in_flight == 1
    assert (await slow)[0] == 200 and len(line.delivered_to(user)) == 1 and line.in_flight == 0


async def test_reply_and_push_are_recorded_apart_per_person(line, http):
    a, b = new_user_id(), new_user_id()
    await reply(http, line, line.issue_reply_token(a), "ra")
    await push(http, line, a, "pa")
    await push(http, line, b, "pb")
    assert [(d.kind, d.texts) for d in line.delivered_to(a)] == [("reply", ("ra",)), ("push", ("pa",))]
    assert [d.texts for d in line.delivered_to(a, "push")] == [("pa",)]
    assert [(d.kind, d.texts) for d in line.delivered_to(b)] == [("push", ("pb",))]
