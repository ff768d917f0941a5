"""Retention: tombstones, settled outbox rows, transcripts and idle conversations expire."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.envelope import InboundEvent
from bot.store.models import Conversation, Handoff, InboxEvent, OutboxMessage, TranscriptMessage
from bot.store.retention import DAY, purge


async def n(store, model) -> int:
    async with store.transaction() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_purge_applies_each_rule_at_its_age(runtime, clock):
    st, cfg = runtime.store, runtime.settings
    await runtime.accept([InboundEvent("memory", "a1", "U1", "start", locale_hint="en"),
                          InboundEvent("memory", "b1", "U2", "text", text="talk to a person", locale_hint="en"),
                          InboundEvent("memory", "b2", "U2", "text", text="are you there", locale_hint="en")])
    await runtime.drain()
    assert await n(st, TranscriptMessage) == 1

    counts = await purge(st, cfg, now=clock.now + 1)
    assert sum(counts.values()) == 0

    # Event ids and settled outbox rows go after event_id_retention_days.
    counts = await purge(st, cfg, now=clock.now + cfg.event_id_retention_days * DAY + 1)
    assert counts["inbox"] == 3 and counts["outbox"] == 2
    assert await n(st, InboxEvent) == 0 and await n(st, OutboxMessage) == 0
    # A redelivery after that is a new event; that is why the retention is days, not minutes.

    counts = await purge(st, cfg, now=clock.now + cfg.transcript_retention_days * DAY + 1)
    assert counts["transcript_messages"] == 1 and await n(st, TranscriptMessage) == 0

    # Idle conversations go, except one with an open handoff.
    counts = await purge(st, cfg, now=clock.now + cfg.conversation_retention_days * DAY + 1)
    assert counts["conversations"] == 1
    async with st.transaction() as s:
        left = (await s.execute(select(Conversation))).scalars().all()
    assert len(left) == 1 and left[0].in_handoff
    assert await n(st, Handoff) == 1


async def test_purge_erases_a_kept_id_without_an_open_handoff(runtime, clock):
    await runtime.accept([InboundEvent("memory", "a1", "U1", "text", text="talk to a person", locale_hint="en")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
        conv.in_handoff = False  # as if a crash left the id behind
    counts = await purge(runtime.store, runtime.settings, now=clock.now)
    assert counts["kept_ids_erased"] == 1


async def test_the_hourly_purge_waits_for_the_migrations_of_a_new_database(tmp_path, monkeypatch):
    """Started with the server, it would otherwise query tables that do not exist yet (and log
    the database as unavailable on every first start)."""
    import asyncio

    from bot.store import Store, retention

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", b"k" * 40)
    runs = []

    async def purge(store_, settings):
        runs.append(await store_.ping())

    monkeypatch.setattr(retention, "purge", purge)
    task = asyncio.create_task(retention.purge_forever(store, None, interval=3600))
    await asyncio.sleep(0.05)
    assert runs == []
    await store.upgrade()
    for _ in range(100):
        if runs:
            break
        await asyncio.sleep(0.01)
    assert runs == [True]
    task.cancel()
    await store.dispose()
