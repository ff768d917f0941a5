"""The sender (bot/sender.py), on SQLite and PostgreSQL: outcomes are recorded even when the
database comes and goes, and a delivery whose outcome is unknown is not made twice."""
from __future__ import annotations

import sqlite3

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import observability as metrics
from bot.store import outbox
from bot.store.models import OutboxMessage
from tests.test_runtime import channel, ev


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
