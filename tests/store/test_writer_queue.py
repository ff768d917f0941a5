"""SQLite writers of one process: a webhook (urgent) waits for the current writer only."""
from __future__ import annotations

import asyncio

import pytest

from bot.store.db import WriterQueue


async def _turns_taken(writers: list[tuple[str, bool]]) -> list[str]:
    """The order in which ``writers`` (name, urgent) get the queue, all waiting behind a writer
    that holds it when they arrive."""
    q = WriterQueue()
    await q.acquire()  # the worker's transaction is running
    order = []

    async def writer(name, urgent):
        await q.acquire(urgent)
        order.append(name)
        await asyncio.sleep(0)
        q.release()

    tasks = [asyncio.create_task(writer(n, u)) for n, u in writers]
    await asyncio.sleep(0.01)
    q.release()
    await asyncio.gather(*tasks)
    return order


async def test_urgent_waiters_go_before_the_others_and_order_holds_within_each():
    order = await _turns_taken([("worker-1", False), ("sender", False), ("webhook-1", True), ("webhook-2", True)])
    assert order == ["webhook-1", "webhook-2", "worker-1", "sender"]


async def test_a_waiter_that_gives_up_does_not_block_the_queue():
    q = WriterQueue()
    await q.acquire()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.acquire(urgent=True), 0.01)
    q.release()
    await asyncio.wait_for(q.acquire(), 1)  # free again
    q.release()


async def test_a_cancelled_run_keeps_the_writer_turn_until_its_thread_has_committed(tmp_path):
    """``Store.run`` on SQLite runs the transaction in a thread that cannot be interrupted: a
    caller that gives up must not let the next writer start before that transaction ends."""
    import time

    from bot.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", b"k" * 40)
    await store.upgrade()
    order = []

    def slow(conn):
        order.append("slow begins")
        time.sleep(0.3)
        order.append("slow commits")

    first = asyncio.create_task(store.run(slow))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The caller is released only once the thread's transaction is over: the writer turn it
    # held was not handed to another writer meanwhile (who would wait in SQLite's busy loop).
    assert order == ["slow begins", "slow commits"]
    assert not store._sqlite_turn._busy
    await store.dispose()


async def test_a_long_burst_of_urgent_writers_lets_a_waiting_worker_in_now_and_then():
    """Webhook commits can follow each other without a gap for as long as a burst lasts: the
    worker still gets a turn after URGENT_STREAK of them."""
    order = await _turns_taken([("worker", False)] + [(f"webhook-{i}", True) for i in range(10)])
    assert order.index("worker") == WriterQueue.URGENT_STREAK
    assert [n for n in order if n != "worker"] == [f"webhook-{i}" for i in range(10)]


async def _series(store, batches: list, on_sqlite3, urgent: bool = False) -> list:
    """``Store.run_batches`` over ``batches``; what each was settled with, in order."""
    waiting = list(batches)
    settled = []

    def on_engine(conn, batch):
        raise AssertionError("the store ran the SQLAlchemy version on SQLite")

    await store.run_batches(lambda: waiting.pop(0) if waiting else None, on_engine,
                            lambda batch, result, error: settled.append((batch, result, error)),
                            on_sqlite3=on_sqlite3, urgent=urgent)
    return settled


async def test_a_series_of_commits_on_the_sqlite3_connection_each_whole_or_not_at_all(tmp_path):
    """``Store.run_batches(..., on_sqlite3=)``: the inbox's group commits, one transaction per
    batch on the driver's own connection, begun and ended by the store; a failed batch is rolled
    back, settled with its error, and ends the series."""
    import sqlite3

    from bot.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", b"k" * 40)
    await store.upgrade()
    await store.run(lambda conn: conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER)"))

    def insert(driver: sqlite3.Connection, n: int) -> int:
        assert driver.in_transaction  # BEGIN IMMEDIATE came first
        driver.execute("INSERT INTO scratch VALUES (?)", (n,))
        if n == 3:
            raise ValueError("a bug halfway")
        return n * 10

    settled = await _series(store, [1, 2, 3, 4], insert)
    assert [(b, r) for b, r, _ in settled] == [(1, 10), (2, 20), (3, None)]
    assert isinstance(settled[2][2], ValueError) and settled[0][2] is None
    check = sqlite3.connect(tmp_path / "bot.db")
    assert check.execute("SELECT n FROM scratch ORDER BY n").fetchall() == [(1,), (2,)]  # 3 rolled back
    check.close()
    # the connection is usable again, and the series stops at its limit
    settled = await _series(store, list(range(100, 120)), insert)
    from bot.store.db import BATCHES_PER_TURN

    assert [b for b, _, _ in settled] == list(range(100, 100 + BATCHES_PER_TURN))
    await store.dispose()


async def test_a_series_on_the_sqlite3_connection_gives_up_on_a_lock_as_unavailable(tmp_path):
    """Another process holding the write lock: the webhook's short busy timeout applies on the
    driver's connection too, and the driver's error reads as the store being unavailable."""
    import sqlite3
    import time

    from bot.store import Store, StoreUnavailable
    from bot.store.db import sqlite_busy_timeout

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", b"k" * 40)
    await store.upgrade()
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with sqlite_busy_timeout(0.2):
        [(_, _, error)] = await _series(store, ["first"], lambda driver, batch: batch, urgent=True)
    assert isinstance(error, StoreUnavailable)
    assert time.monotonic() - started < 3  # 0.2 s of busy wait, not the default 10 s
    other.execute("ROLLBACK")
    other.close()
    assert await _series(store, ["again"], lambda driver, batch: batch.upper()) == [("again", "AGAIN", None)]
    await store.dispose()


async def test_a_writer_cancelled_as_it_is_given_the_turn_is_cancelled(tmp_path):
    """Python 3.11's asyncio.wait_for returns the result to a task cancelled just as the result
    came, swallowing the cancellation: a loop that runs until cancelled (the handoff watch) then
    went on for ever, and the server's shutdown waited for it."""
    from bot.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", b"k" * 40)
    queue = store._sqlite_turn
    loop = asyncio.get_running_loop()
    finished = []

    async def writer():
        async with store._writer_turn():
            await asyncio.sleep(0.05)
            finished.append(True)

    await queue.acquire()  # someone else's transaction
    task = asyncio.create_task(writer())
    await asyncio.sleep(0.01)  # waiting for the turn
    loop.call_soon(lambda: loop.call_soon(task.cancel))  # lands as the turn is handed over
    queue.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == []
    await asyncio.wait_for(queue.acquire(), 1)  # and the turn is free again
    queue.release()
    await store.dispose()
