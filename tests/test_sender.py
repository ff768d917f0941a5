"""The sender (bot/sender.py), on SQLite and PostgreSQL: outcomes are recorded even when the
database comes and goes, and a delivery whose outcome is unknown is not made twice."""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import observability as metrics
from bot.channels.line.delivery import LineChannel
from bot.channels.line.fake import LineStandIn, new_reply_token, new_user_id
from bot.envelope import DeliveryResult, InboundEvent
from bot.runtime import Runtime
from bot.store import outbox
from bot.store.models import OutboxMessage
from tests.conftest import SECRET
from tests.test_runtime import channel, ev

TOKEN = "test-access-token"


@contextlib.asynccontextmanager
async def store_target_again(store):
    """Another store on the same database (the stopped runtime disposed of its own)."""
    from bot.store import Store

    other = Store(store.url, SECRET, schema=store.schema)
    try:
        yield other
    finally:
        await other.dispose()


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
    line.fail_next(500, kinds=("reply",), accept=True)
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


class SlowChannel:
    """Delivers after ``release`` is set (or at once), counting what arrived."""

    name = "memory"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.delivered: list[str] = []

    async def deliver(self, user_id, outbound):
        self.started.set()
        await self.release.wait()
        self.delivered.append(user_id)
        return DeliveryResult("sent", None, "memory")


async def lease(store) -> float:
    [row] = await rows(store)
    return row.leased_until


async def test_the_lease_is_short_and_renewed_while_a_delivery_runs(runtime, clock):
    """Another sender must not take a row whose delivery is still under way, however long it
    takes; and a dead sender's rows come back after a few seconds, not a minute."""
    assert runtime.lease_seconds <= 10
    runtime.lease_seconds = 0.3  # renewed every 0.1 s
    slow = SlowChannel()
    runtime.register_channel(slow)
    await runtime.accept([ev("U1", kind="start")])
    await runtime.process_batch(8)
    round_ = asyncio.create_task(runtime.deliver_due())
    await slow.started.wait()
    assert await lease(runtime.store) == clock.now + 0.3
    clock.advance(5)  # far past the first lease
    deadline = time.monotonic() + 5
    while await lease(runtime.store) < clock.now and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await lease(runtime.store) == clock.now + 0.3  # renewed
    assert await runtime.sender.deliver_due() == 0  # nobody else takes it
    slow.release.set()
    assert await round_ == 1
    assert slow.delivered == ["U1"] and [r.status for r in await rows(runtime.store)] == ["sent"]


async def test_stop_lets_the_deliveries_under_way_finish_and_records_them(settings, mini_holder, store, clock):
    """SIGTERM mid-delivery: the runtime stops taking rows, the delivery in flight ends and is
    marked sent before the process goes (before: cancelled, the row left leased for a minute,
    then sent again)."""
    rt = Runtime(settings, mini_holder, store=store, clock=clock)
    slow = SlowChannel()
    rt.register_channel(slow)
    await rt.start(run_worker=True, migrate=False)
    await rt.accept([ev("U1", kind="start")])
    await asyncio.wait_for(slow.started.wait(), 10)
    asyncio.get_running_loop().call_later(0.3, slow.release.set)
    await rt.stop()
    assert slow.delivered == ["U1"]
    async with store_target_again(store) as other:
        assert [r.status for r in await rows(other)] == ["sent"]


async def test_a_delivery_still_running_at_the_end_of_the_drain_is_released_for_another(settings, mini_holder, store,
                                                                                         clock):
    rt = Runtime(settings, mini_holder, store=store, clock=clock)
    slow = SlowChannel()  # never released: a platform that hangs
    rt.register_channel(slow)
    await rt.start(run_worker=True, migrate=False)
    await rt.accept([ev("U1", kind="start")])
    await asyncio.wait_for(slow.started.wait(), 10)
    await rt.stop(drain=0.2)
    async with store_target_again(store) as other:
        [row] = await rows(other)
    # Free for the next sender at once, and marked: this attempt may have reached the platform.
    assert (row.status, row.leased_until, row.in_flight) == ("pending", 0.0, 1)


def test_a_retry_waits_at_most_about_ten_seconds_and_the_bot_keeps_trying_for_minutes():
    """Once LINE is back every waiting answer goes within ~10 s (the fault suite's goal), yet the
    default attempts still cover about two minutes of failures before a row is given up."""
    from bot.settings import Settings
    from bot.store.outbox import backoff_seconds

    delays = [backoff_seconds(n) for n in range(1, 40)]
    assert max(delays) <= 10.0 and delays[0] < 1.5
    assert backoff_seconds(9, retry_after=30.0) == 30.0   # never sooner than LINE asked
    attempts = Settings(DATABASE_URL="").outbox_max_attempts
    shortest_window = sum(0.8 * min(8.0, 2 ** (n - 1)) for n in range(1, attempts))
    assert shortest_window >= 100.0
