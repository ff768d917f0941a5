"""Several worker processes' worth of runtimes on one database: every event is processed once,
turns of one conversation run in order and never side by side (PostgreSQL: SKIP LOCKED queue and
an advisory lock per conversation; SQLite: BEGIN IMMEDIATE serialises)."""
from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from sqlalchemy import select

from bot.channels.memory import MemoryChannel
from bot.runtime import Runtime
from bot.store.models import Conversation, InboxEvent, OutboxMessage

from .test_crash import expected_keys, make_events


async def test_concurrent_workers_keep_order_and_run_each_turn_once(store_target, store, settings, mini_holder):
    events = make_events(users=20, per_user=12, rnd=random.Random(7))
    acceptor = Runtime(settings, mini_holder, store=store)

    runtimes, channels = [], []
    turns_by_runtime = [0, 0, 0]
    for i in range(3):
        ch = MemoryChannel("memory")
        rt = Runtime(settings, mini_holder, store=store_target.make(), workers=4, poll_interval=0.02)
        # Small batches interleave the processes more: the order and once-only checks bite harder,
        # and one process cannot take the whole backlog in a few batches before the others wake.
        rt.turn_batch = rt.send_batch = 4
        rt.process_batch = _counting(rt.process_batch, turns_by_runtime, i)
        rt.register_channel(ch)
        runtimes.append(rt)
        channels.append(ch)
    for rt in runtimes:
        await rt.start(run_worker=True, migrate=False)
    try:
        await acceptor.accept(events)
        for _ in range(600):
            async with store.transaction() as s:
                pending = (await s.execute(select(InboxEvent.id).where(InboxEvent.status == "pending")
                                           .union_all(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))
                                           )).all()
            if not pending:
                break
            await asyncio.sleep(0.05)
        assert not pending
    finally:
        for rt in runtimes:
            await rt.stop()

    async with store.transaction() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        inbox_ids = {r.event_id: r.id for r in (await s.execute(select(InboxEvent))).scalars().all()}
        convs = (await s.execute(select(Conversation))).scalars().all()
    by_conv = defaultdict(list)
    for r in rows:
        by_conv[r.conversation_id].append(r.inbox_id)
    for ids in by_conv.values():
        assert ids == sorted(ids), "turns of one conversation ran out of order"
        assert len(ids) == len(set(ids)), "a turn ran twice"
    assert len(convs) == 20
    got = defaultdict(list)
    for d in sorted((d for ch in channels for d in ch.deliveries), key=lambda d: d.outbound.meta["inbox_id"]):
        got[d.user_id].append(d.keys)
    assert dict(got) == expected_keys(mini_holder.flow, events)
    # every process ran some of the turns on PostgreSQL; on SQLite they take turns
    assert sum(turns_by_runtime) == len(events)
    if store_target.kind == "postgres":
        assert all(turns_by_runtime), turns_by_runtime
    assert len(inbox_ids) == len(events)


def _counting(process_batch, counts: list[int], index: int):
    async def counted(limit: int) -> int:
        taken = await process_batch(limit)
        counts[index] += taken
        return taken
    return counted
