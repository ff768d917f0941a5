"""Issue 19, item 5: a database that goes away and comes back. Lost connections are named
"database unavailable" (not crashes), the loops try again at most every 2 s, and the LISTEN
connection notices its loss at once and wakes its listeners when it is back."""
from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from sqlalchemy import text

from bot.runtime import DB_RETRY_MAX
from bot.store import StoreUnavailable
from tests.conftest import PG_URL, require_postgres

RAW_PG = PG_URL.replace("postgresql+asyncpg", "postgresql")


async def terminate(pid: int) -> None:
    """What a PostgreSQL restart does to a connection: the server ends it."""
    conn = await asyncpg.connect(RAW_PG, timeout=5)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_a_connection_ended_by_the_server_is_the_database_unavailable(store_target, store):
    if store_target.kind != "postgres":
        pytest.skip("PostgreSQL only")
    with pytest.raises(StoreUnavailable):
        async with store.connection() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await terminate(pid)
            await conn.execute(text("SELECT 1"))
    assert store.write_failure is not None  # /readyz: not ready until a write works
    assert await store.writable() is None   # the server is still there: the next write works


@pytest.mark.postgres
async def test_the_listen_connection_notices_its_loss_and_wakes_its_listeners_when_back(store_target, store, caplog):
    """Before: a lost LISTEN connection was found by a ping every 30 s, retried after 5 s, and
    what was published meanwhile was never looked for."""
    if store_target.kind != "postgres":
        pytest.skip("PostgreSQL only")
    caplog.set_level(logging.INFO, logger="bot.store.notify")
    heard: list[str] = []
    got = asyncio.Event()

    def on_notify(payload: str) -> None:
        heard.append(payload)
        got.set()

    unlisten = store.listen("test_away", on_notify)
    await store.listening("test_away")
    pid = store.listener._connection.get_server_pid()
    await terminate(pid)
    async with asyncio.timeout(20):  # a guard: the old ping alone came after 30 s
        await got.wait()
    assert heard == [""]  # "look now": what was published while it was away is gone
    await store.listening("test_away")
    assert store.listener._connection.get_server_pid() != pid
    got.clear()
    await store.publish("test_away", "hello")
    async with asyncio.timeout(20):
        await got.wait()
    assert heard == ["", "hello"]
    assert [r.msg for r in caplog.records if r.msg.startswith("store.listen")] == ["store.listen_lost",
                                                                                  "store.listen_back"]
    unlisten()


async def test_the_loops_retry_at_most_every_2_seconds_and_say_the_database_is_unavailable(runtime, monkeypatch,
                                                                                           caplog):
    """Before: 1, 2, 4 ... 30 s between tries, so turns resumed up to 16 s after the database
    was back; and a connection lost mid-batch was logged as worker.crashed."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    pauses: list[float] = []
    failures = [StoreUnavailable("down")] * 6 + [OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))]

    async def batch(_limit):
        if failures:
            raise failures.pop(0)
        runtime._running = False
        return 0

    async def idle(pause, _wake):
        pauses.append(pause)

    monkeypatch.setattr(runtime, "process_batch", batch)
    monkeypatch.setattr(runtime, "_idle", idle)
    runtime.poll_interval = 0.5
    await runtime._worker_loop()
    assert pauses == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, DB_RETRY_MAX, 0.5]
    messages = [r.msg for r in caplog.records]
    assert "worker.crashed" not in messages and messages.count("store.unavailable") == 1


async def test_a_read_only_database_cannot_be_written_and_readyz_learns_it(store):
    """PostgreSQL read-only (SQLSTATE 25006: a standby, default_transaction_read_only) and
    SQLite's query_only: a write fails as "unavailable", which /readyz reports."""
    with pytest.raises(StoreUnavailable):
        async with store.connection() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY" if store.is_postgres else "PRAGMA query_only = 1"))
            await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
    assert store.write_failure is not None
