"""The sender (bot/sender.py), on SQLite and PostgreSQL: outcomes are recorded even when the
database comes and goes, and a delivery whose outcome is unknown is not made twice."""
from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import observability as metrics
from bot.channels.line.delivery import LineChannel
from bot.channels.line.fake import LineStandIn, new_reply_token, new_user_id
from bot.envelope import InboundEvent
from bot.store import outbox
from bot.store.models import OutboxMessage
from tests.test_runtime import channel, ev

TOKEN = "test-access-token"


async def rows(store) -> list[OutboxMessage]:
    async with store.transaction() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_a_settle_that_fails_while_the_database_is_away_is_retried_until_it_works(runtime, monkeypatch, caplog):
    """The reply went out; marking it sent failed twice (the database restarting): the row must
    still end up sent, not leased and delivered again after the lease."""
    real, calls = outbox.settle, []

    def flaky(conn, *args):
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("UPDATE outbox", {}, sqlite3.OperationalError("disk I/O error"))
        return real(conn, *args)

    monkeypatch.setattr(outbox, "settle", flaky)
    before = metrics.OUTBOX_SETTLE_FAILURES._value.get()
    await runtime.accept([ev("U1", kind="start")])
    await runtime.drain()
    assert len(calls) == 3
    assert [r.status for r in await rows(runtime.store)] == ["sent"]
    assert len(channel(runtime).deliveries) == 1
    assert metrics.OUTBOX_SETTLE_FAILURES._value.get() - before == 2
    failed = [r for r in caplog.records if r.msg == "outbox.settle_failed"]
    assert len(failed) == 2 and failed[0].code == "StoreUnavailable"
    assert [r.msg for r in caplog.records].count("store.unavailable") == 2


@pytest.fixture
async def line(runtime, mini_holder):
    """LINE on loopback, and the runtime delivering to it."""
    async with LineStandIn(TOKEN) as stand_in:
        ch = LineChannel(TOKEN, stand_in.url, flow=lambda: mini_holder.flow)
        runtime.register_channel(ch)
        yield stand_in
        await ch.close()


def line_event(user: str, token: str) -> InboundEvent:
    return InboundEvent("line", new_reply_token(), user, "start", locale_hint="en", reply_token=token,
                        received_at=time.time())


async def test_a_reply_line_accepted_then_answered_500_is_delivered_once(runtime, line, clock):
    """The turn's reply reached LINE, which answered 500: the retry finds the token used and
    marks the row sent. One answer, no push (before: the same answer again by push)."""
    user, token = new_user_id(), new_reply_token()
    line.fail_next(500, kinds=("reply",), after_accepting=True)
    await runtime.accept([line_event(user, token)])
    await runtime.drain()
    [row] = await rows(runtime.store)
    assert (row.status, row.in_flight, row.reason) == ("pending", 1, "http_500")
    clock.advance(3)  # the backoff
    await runtime.drain()
    [row] = await rows(runtime.store)
    assert row.status == "sent"
    assert [(r.kind, r.status) for r in line.requests] == [("reply", 500), ("reply", 400)]
    assert len(line.sent()) == 1 and line.of_kind("push") == []


async def test_a_reply_that_did_not_arrive_is_sent_on_retry_and_a_known_failure_clears_the_mark(runtime, line, clock):
    user = new_user_id()
    line.fail_next(429, kinds=("reply",))
    await runtime.accept([line_event(user, new_reply_token())])
    await runtime.drain()
    [row] = await rows(runtime.store)
    assert (row.status, row.in_flight) == ("pending", 0)  # LINE refused it: nothing can have arrived
    clock.advance(3)
    await runtime.drain()
    assert [r.status for r in await rows(runtime.store)] == ["sent"]
    assert [(r.kind, r.status) for r in line.requests] == [("reply", 429), ("reply", 200)]


async def test_a_sender_that_died_after_sending_is_not_repeated(runtime, line, clock):
    """A sender leased the row (marked in flight, committed) and replied, then died before
    recording it. After the lease the next sender's reply is refused: sent, not pushed."""
    user, token = new_user_id(), new_reply_token()
    await runtime.accept([line_event(user, token)])
    await runtime.process_batch(8)
    [claimed] = await runtime.store.run(outbox.claim_due, runtime.crypto, ("line",), clock(), 8, runtime.lease_seconds)
    assert claimed.outbound.may_have_arrived is False
    assert (await runtime.channels["line"].deliver(claimed.user_id, claimed.outbound)).status == "sent"
    # ... and the process dies here.
    assert await runtime.deliver_due() == 0  # leased
    clock.advance(runtime.lease_seconds + 0.1)
    await runtime.drain()
    assert [r.status for r in await rows(runtime.store)] == ["sent"]
    assert [(r.kind, r.status) for r in line.requests] == [("reply", 200), ("reply", 400)]
    assert len(line.sent()) == 1
