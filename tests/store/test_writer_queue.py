"""SQLite writers of one process: a webhook (urgent) waits for the current writer only."""
from __future__ import annotations

import asyncio

import pytest

from bot.store.db import WriterQueue


async def test_urgent_waiters_go_before_the_others_and_order_holds_within_each():
    q = WriterQueue()
    await q.acquire()  # the worker's transaction is running
    order = []

    async def writer(name, urgent):
        await q.acquire(urgent)
        order.append(name)
        await asyncio.sleep(0)
        q.release()

    tasks = [asyncio.create_task(writer(n, u)) for n, u in
             [("worker-1", False), ("sender", False), ("webhook-1", True), ("webhook-2", True)]]
    await asyncio.sleep(0.01)
    q.release()
    await asyncio.gather(*tasks)
    assert order == ["webhook-1", "webhook-2", "worker-1", "sender"]


async def test_a_waiter_that_gives_up_does_not_block_the_queue():
    q = WriterQueue()
    await q.acquire()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.acquire(urgent=True), 0.01)
    q.release()
    await asyncio.wait_for(q.acquire(), 1)  # free again
    q.release()
