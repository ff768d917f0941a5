"""LineChannel.deliver through the real line-bot-sdk client, against the stand-in LINE on loopback
(which refuses any request LINE would refuse: ``line_contract``)."""
from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import pytest

from bot.channels.line import delivery as line_module
from bot.envelope import Outbound
from bot.channels.line.delivery import AUTH_RETRY_AFTER, LineChannel
from bot.engine.model import Choice, Link, Reply
from bot.reload import BundleHolder
from bot.channels.line.fake import LineStandIn, new_reply_token, new_user_id
from tests.channels.helpers import MINI, mini_locales_with_line
from tests.channels.line_contract import contract_standin

pytestmark = pytest.mark.shared  # the stand-in also checks against the OpenAPI documents where ../shared is there

TOKEN = "test-access-token"
TURN = (Reply("あなたは悪くありません。", "reassure.not_your_fault"),
        Reply("相談できます。", "crisis.hear_you", (Choice("person", "人と話したい"), Choice("back", "戻る")),
              (Link("よりそいホットライン 0120-279-338", "tel:0120279338", "yorisoi", True, "24時間"),)))


@pytest.fixture(scope="module")
def holder(tmp_path_factory):
    return BundleHolder(MINI / "flows", mini_locales_with_line(tmp_path_factory.mktemp("locales")), "mini")


@pytest.fixture
async def line():
    async with contract_standin(TOKEN) as stand_in:
        yield stand_in
        assert stand_in.violations == []


@pytest.fixture
async def channel(line, holder):
    ch = LineChannel(TOKEN, line.url, flow=lambda: holder.flow)
    await ch.start()
    yield ch
    await ch.close()


def turn(token: str | None, age: float = 0.0, **meta) -> Outbound:
    return Outbound(TURN, token, time.time() - age, str(uuid.uuid4()), "turn",
                    {"state": "crisis", "locale": "ja", **meta})


async def test_fresh_reply_token_is_used(line, channel):
    user, token = new_user_id(), new_reply_token()
    result = await channel.deliver(user, turn(token))
    assert (result.status, result.reason) == ("sent", "reply")
    [req] = line.requests
    assert req.kind == "reply" and req.body["replyToken"] == token
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    msgs = req.body["messages"]
    assert [m["type"] for m in msgs] == ["text", "text", "flex"]
    assert [i["action"]["data"] for i in msgs[-1]["quickReply"]["items"]] == ["crisis:person", "crisis:back"]


async def test_old_reply_token_goes_by_push_with_the_retry_key(line, channel):
    user = new_user_id()
    out = turn(new_reply_token(), age=120)
    result = await channel.deliver(user, out)
    assert (result.status, result.reason) == ("sent", "push")
    [req] = line.requests
    assert req.kind == "push" and req.body["to"] == user
    assert req.headers["X-Line-Retry-Key"] == out.retry_key


async def test_no_reply_token_goes_by_push(line, channel):
    result = await channel.deliver(new_user_id(), Outbound((Reply("相談員です。"),), None, 0.0, str(uuid.uuid4()), "counsellor"))
    assert result.status == "sent" and [r.kind for r in line.requests] == ["push"]


async def test_expired_reply_token_falls_back_to_push(line, channel):
    user, token = new_user_id(), new_reply_token()
    line.expire_reply_token(token)
    out = turn(token)
    result = await channel.deliver(user, out)
    assert (result.status, result.reason) == ("sent", "push")
    assert [(r.kind, r.status) for r in line.requests] == [("reply", 400), ("push", 200)]
    assert line.requests[1].body["messages"] == line.requests[0].body["messages"]
    assert line.requests[1].headers["X-Line-Retry-Key"] == out.retry_key


async def test_used_reply_token_falls_back_to_push(line, channel):
    user, token = new_user_id(), new_reply_token()
    await channel.deliver(user, turn(token))
    result = await channel.deliver(user, turn(token))
    assert result.reason == "push"


async def test_429_asks_the_outbox_to_retry_later_then_the_reply_goes(line, channel):
    user, token = new_user_id(), new_reply_token()
    line.fail_next(429, kinds=("reply",), retry_after=3)
    out = turn(token)
    first = await channel.deliver(user, out)
    assert (first.status, first.retry_after, first.reason) == ("retry", 3.0, "http_429")
    second = await channel.deliver(user, out)  # the outbox's retry: the token was not used up
    assert (second.status, second.reason) == ("sent", "reply")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(line, channel, status):
    line.fail_next(status, kinds=("push",))
    result = await channel.deliver(new_user_id(), turn(None))
    assert (result.status, result.reason) == ("retry", f"http_{status}")


async def test_a_reply_accepted_then_answered_500_is_not_sent_again(line, channel):
    """LINE took the reply, then answered 500: the outcome is unknown. The retry (the outbox
    marks it ``may_have_arrived``) tries the same token; LINE refusing it means the first one
    arrived: sent, and no push repeats it."""
    user, token = new_user_id(), new_reply_token()
    line.fail_next(500, kinds=("reply",), accept=True)
    out = turn(token)
    first = await channel.deliver(user, out)
    assert (first.status, first.reason, first.may_have_arrived) == ("retry", "http_500", True)
    again = await channel.deliver(user, dataclasses.replace(out, may_have_arrived=True))
    assert (again.status, again.reason) == ("sent", "reply_earlier")
    assert [r.kind for r in line.requests] == ["reply", "reply"] and len(line.sent()) == 1


async def test_after_an_unknown_outcome_a_reply_that_did_not_arrive_goes_now(line, channel):
    """A 500 before LINE took it: the retry's reply is accepted, once."""
    user, token = new_user_id(), new_reply_token()
    line.fail_next(500, kinds=("reply",))
    out = turn(token)
    assert (await channel.deliver(user, out)).may_have_arrived is True
    again = await channel.deliver(user, dataclasses.replace(out, may_have_arrived=True))
    assert (again.status, again.reason) == ("sent", "reply")
    assert len(line.sent()) == 1


async def test_after_an_unknown_outcome_an_old_token_goes_by_push(line, channel):
    """Once the token may have expired its refusal says nothing: push, with the retry key."""
    user, token = new_user_id(), new_reply_token()
    line.expire_reply_token(token)
    out = dataclasses.replace(turn(token, age=55), may_have_arrived=True)
    result = await channel.deliver(user, out)
    assert (result.status, result.reason) == ("sent", "push")
    assert [r.kind for r in line.requests] == ["push"]


async def test_429_and_a_connection_never_made_did_not_reach_line(line, channel, holder):
    line.fail_next(429, kinds=("reply",))
    assert (await channel.deliver(new_user_id(), turn(new_reply_token()))).may_have_arrived is False
    ch = LineChannel(TOKEN, "http://127.0.0.1:9", flow=lambda: holder.flow)  # nothing listens there
    try:
        assert (await ch.deliver(new_user_id(), turn(None))).may_have_arrived is False
    finally:
        await ch.close()


async def test_push_retry_is_delivered_once(line, channel):
    """A push that LINE accepted but whose answer was lost is retried: LINE answers 409."""
    user, out = new_user_id(), turn(None)
    assert (await channel.deliver(user, out)).status == "sent"
    again = await channel.deliver(user, out)
    assert (again.status, again.reason) == ("sent", "push_duplicate")
    assert [r.status for r in line.requests] == [200, 409]


async def test_expired_access_token_is_retried_slowly(line, channel):
    line.revoke_access_token()
    result = await channel.deliver(new_user_id(), turn(new_reply_token()))
    assert (result.status, result.retry_after, result.reason) == ("retry", AUTH_RETRY_AFTER, "http_401")


async def test_other_client_errors_fail(line, channel):
    line.fail_next(400, kinds=("reply",), message="The request body has 1 error(s)")
    result = await channel.deliver(new_user_id(), turn(new_reply_token()))
    assert (result.status, result.reason) == ("failed", "http_400")


async def test_network_failure_is_retried(holder):
    ch = LineChannel(TOKEN, "http://127.0.0.1:9", flow=lambda: holder.flow)  # nothing listens there
    try:
        result = await ch.deliver(new_user_id(), turn(None))
    finally:
        await ch.close()
    assert (result.status, result.reason) == ("retry", "network")


async def test_the_client_ignores_proxy_settings_from_the_environment(line, channel, monkeypatch, tmp_path):
    """The SDK's own session trusts the environment (a proxy and .netrc look-up per request)."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    result = await channel.deliver(new_user_id(), turn(new_reply_token()))
    assert result.status == "sent"


async def test_many_deliveries_share_one_client(line, channel):
    session = channel._client.rest_client.pool_manager
    results = await asyncio.gather(*(channel.deliver(new_user_id(), turn(new_reply_token())) for _ in range(50)))
    assert all(r.status == "sent" for r in results)
    assert channel._client.rest_client.pool_manager is session and not session.trust_env
    assert len(line.of_kind("reply")) == 50


async def test_loading_animation_only_when_the_turn_is_slow(line, channel, monkeypatch):
    monkeypatch.setattr(line_module, "LOADING_DELAY", 0.05)
    slow, fast = new_user_id(), new_user_id()
    channel.expect_reply(slow)
    channel.expect_reply(fast)
    await channel.deliver(fast, turn(new_reply_token()))  # answered before the delay: no animation
    await line.wait_for(lambda: line.of_kind("loading"))
    await asyncio.sleep(0.1)
    [loading] = line.of_kind("loading")
    assert loading.body == {"chatId": slow, "loadingSeconds": 5} and loading.status == 202


async def test_no_loading_animation_when_the_sender_is_elsewhere(line, holder, monkeypatch):
    monkeypatch.setattr(line_module, "LOADING_DELAY", 0.01)
    ch = LineChannel(TOKEN, line.url, flow=lambda: holder.flow, show_loading=False)
    ch.expect_reply(new_user_id())
    await asyncio.sleep(0.1)
    await ch.close()
    assert line.of_kind("loading") == []


async def test_group_reply_and_leave(line, channel):
    token = new_reply_token()
    text = channel.text(None, "shell.line.group_only")
    assert "1対1" in text
    res = await channel.send_now(None, token, time.time(), (Reply(text),), retry_key="")
    assert res.status == "sent"
    assert await channel.leave("group", "C" + "1" * 32)
    assert await channel.leave("room", "R" + "2" * 32)
    assert [r.path for r in line.of_kind("leave")] == [f"/v2/bot/group/{'C' + '1' * 32}/leave",
                                                        f"/v2/bot/room/{'R' + '2' * 32}/leave"]


class HeldLine(LineStandIn):
    """LINE that holds loading-animation calls until ``release`` and answers replies after
    ``reply_delay`` seconds."""

    def __init__(self, token: str, reply_delay: float = 0.0) -> None:
        super().__init__(token)
        self.release = asyncio.Event()
        self.held = 0
        self.reply_delay = reply_delay

    async def _handle(self, request):
        if request.path.endswith("/chat/loading/start"):
            self.held += 1
            self._changed.set()
            await self.release.wait()
        elif request.path.endswith("/message/reply"):
            await asyncio.sleep(self.reply_delay)
        return await super()._handle(request)


async def test_loading_animations_have_their_own_pool_and_never_hold_up_replies(holder, monkeypatch):
    """LINE is slow to answer animations: they fill their own pool (the next is skipped, not
    queued) and every reply still goes at once. Before, animations and replies shared one pool
    and hung animations starved the replies."""
    monkeypatch.setattr(line_module, "CONNECTIONS", 2)
    monkeypatch.setattr(line_module, "LOADING_CONNECTIONS", 2)
    async with HeldLine(TOKEN) as line:
        ch = LineChannel(TOKEN, line.url, flow=lambda: holder.flow)
        await ch.start()
        try:
            for _ in range(3):
                ch._start_loading(new_user_id())
            await line.wait_for(lambda: line.held == 2)
            assert ch._loading_calls == 2 and len(ch._tasks) == 2  # the third: skipped, its pool is busy
            async with asyncio.timeout(20):  # a guard against the starvation, not a speed check
                results = await asyncio.gather(*(ch.deliver(new_user_id(), turn(new_reply_token())) for _ in range(4)))
            assert [r.reason for r in results] == ["reply"] * 4
        finally:
            line.release.set()
            await ch.close()
    assert len(line.of_kind("loading")) == 2 and len(line.sent()) == 4


async def test_no_loading_animation_while_line_is_slow(holder, monkeypatch):
    monkeypatch.setattr(line_module, "SLOW_CALL", 0.2)
    async with HeldLine(TOKEN, reply_delay=0.4) as line:
        ch = LineChannel(TOKEN, line.url, flow=lambda: holder.flow)
        try:
            assert (await ch.deliver(new_user_id(), turn(new_reply_token()))).status == "sent"
            ch._start_loading(new_user_id())
            assert ch._loading_calls == 0 and not ch._tasks
        finally:
            line.release.set()
            await ch.close()


async def test_the_request_timeout_runs_from_when_the_request_is_sent(holder, monkeypatch):
    """One connection, LINE answering each reply in 1 s, a 1.5 s timeout: the second reply
    waits 1 s for the connection and still has its 1.5 s. Before, the wait counted."""
    monkeypatch.setattr(line_module, "CONNECTIONS", 1)
    monkeypatch.setattr(line_module, "SEND_TIMEOUT", line_module._timeout(1.5))
    async with HeldLine(TOKEN, reply_delay=1.0) as line:
        ch = LineChannel(TOKEN, line.url, flow=lambda: holder.flow)
        try:
            results = await asyncio.gather(*(ch.deliver(new_user_id(), turn(new_reply_token())) for _ in range(2)))
        finally:
            await ch.close()
    assert [r.reason for r in results] == ["reply", "reply"]

