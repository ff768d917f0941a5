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
    await acceptor.accept(events)

    runtimes, channels = [], []
    for _ in range(3):
        ch = MemoryChannel("memory")
        rt = Runtime(settings, mini_holder, store=store_target.make(), workers=4, poll_interval=0.02)
        rt.register_channel(ch)
        await rt.start(run_worker=True, migrate=False)
        runtimes.append(rt)
        channels.append(ch)
    try:
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
    # every process did some of the work on PostgreSQL; on SQLite they take turns
    assert sum(1 for ch in channels if ch.deliveries) >= (3 if store_target.kind == "postgres" else 1)
    assert len(inbox_ids) == len(events)
