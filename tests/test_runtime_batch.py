"""Turns run in batches (one transaction): order per conversation holds, quick and careful turns
share a batch, a turn that fails is rolled back alone, and a batch whose writes fail falls back to
one event at a time."""
from __future__ import annotations

import asyncio
import time

import pytest

from bot.store.models import InboxEvent

from .test_runtime import channel, count, ev


async def test_a_batch_takes_one_event_per_conversation_and_keeps_each_conversations_order(runtime):
    taps = ["threatened", "evidence", "done"]
    for user in ("U1", "U2", "U3"):
        await runtime.accept([ev(user, kind="start")] + [ev(user, kind="tap", choice=c) for c in taps])
    assert await runtime.process_batch(16) == 3  # the first event of each of the three
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "pending") == 9
    while await runtime.process_batch(16):
        pass
    await runtime.drain()
    for user in ("U1", "U2", "U3"):
        keys = [d.outbound.replies[0].key for d in channel(runtime).for_user(user)]
        assert keys == ["welcome.hello", "reassure.not_your_fault", "evidence.keep", "goodbye.bye"]


async def test_a_failing_turn_rolls_back_alone_and_the_rest_of_the_batch_commits(runtime, monkeypatch):
    from bot.turns import plan as plan_module

    real_step = plan_module.step

    def step(flow, session, user_input, now):
        if user_input.text == "explode":
            raise RuntimeError("a bug in one turn")
        return real_step(flow, session, user_input, now)

    monkeypatch.setattr(plan_module, "step", step)
    await runtime.accept([ev("A", kind="start"), ev("B", "explode"), ev("C", kind="start")])
    assert await runtime.process_batch(16) == 3
    # A's and C's turns committed in that one batch; B's was rolled back alone and counted.
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "done") == 2
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "pending", InboxEvent.attempts == 1) == 1
    await runtime.drain()
    delivered = {d.user_id for d in channel(runtime).deliveries}
    assert {"A", "C"} <= delivered
    # The failed turn is retried, then answered with the flow's error text, never lost.
    errors = [d for d in channel(runtime).for_user("B") if d.outbound.replies[0].key == "system.error"]
    assert len(errors) == 1
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "pending") == 0


async def test_one_batch_mixes_quick_turns_with_a_handoff_and_a_forgetting(runtime):
    """Most turns take the quick path (one statement per table for the batch); a handoff and a
    forgetting take the careful path inside the same transaction. Each comes out as alone."""
    from sqlalchemy import select

    from bot.store.models import Conversation, Handoff

    from .test_runtime import RecordingHooks

    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    for user in ("Q1", "H1", "F1", "Q2"):
        await runtime.accept([ev(user, kind="start")])
    await runtime.drain()
    await runtime.accept([ev("Q1", kind="tap", choice="threatened"), ev("H1", "talk to a person"),
                          ev("F1", "forget me"), ev("Q2", kind="tap", choice="threatened")])
    assert await runtime.process_batch(16) == 4
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "pending") == 0
    await runtime.drain()
    assert channel(runtime).for_user("Q1")[-1].keys[0] == "reassure.not_your_fault"
    assert channel(runtime).for_user("Q2")[-1].keys[0] == "reassure.not_your_fault"
    assert channel(runtime).for_user("H1")[-1].keys == ["person.connecting"]
    assert channel(runtime).for_user("F1")[-1].keys == ["forget.done"]
    async with runtime.store.transaction() as s:
        convs = (await s.execute(select(Conversation))).scalars().all()
        handoff = (await s.execute(select(Handoff))).scalar_one()
    assert len(convs) == 3  # F1 is gone
    [waiting] = [c for c in convs if c.state == "person"]
    assert waiting.in_handoff and handoff.conversation_id == waiting.id
    assert [c.in_handoff for c in convs].count(True) == 1
    assert hooks.calls == [("queued", handoff.id)]


async def test_when_a_batchs_writes_fail_the_events_go_one_by_one_and_none_is_lost(runtime, monkeypatch):
    from bot.store import conversations

    real = conversations.write_many
    failures = []

    def write_many(conn, writes):
        if len(writes.new) + len(writes.changed) > 1:  # a whole batch: fail it, as a bug would
            failures.append(len(writes.new))
            raise RuntimeError("a bug in the batch's writes")
        real(conn, writes)

    monkeypatch.setattr(conversations, "write_many", write_many)
    await runtime.accept([ev(u, kind="start") for u in ("A", "B", "C")])
    assert await runtime.process_batch(16) == 1  # rolled back, then the oldest alone, carefully
    assert failures == [3]
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "pending") == 2
    while await runtime.process_batch(16):
        pass
    await runtime.drain()
    for user in ("A", "B", "C"):
        assert [d.keys for d in channel(runtime).for_user(user)] == [["welcome.hello"]]


async def test_the_worker_waits_while_a_burst_of_deliveries_is_stored_but_not_for_ever(runtime, monkeypatch):
    """Platform deliveries first in a burst (LINE gives a webhook 2 s; a reply token lasts a
    minute), but steady traffic is never held back and a long burst cannot starve the turns."""
    from bot import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "DELIVERIES_MAX_DEFER", 0.3)
    burst = runtime_module.DELIVERIES_BURST
    runtime._last_burst = 0.0
    await asyncio.wait_for(runtime._after_deliveries(0.0), 0.1)  # quiet: no wait
    runtime._accepting = burst - 1  # steady traffic: a small commit is running
    await asyncio.wait_for(runtime._after_deliveries(0.0), 0.1)
    runtime._accepting = burst  # a burst is being stored
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(runtime._after_deliveries(0.0), 0.1)
    await asyncio.wait_for(runtime._after_deliveries(0.0), 2.0)  # ... but returns after the longest wait
    # Once people have waited long, the turns go first again.
    await asyncio.wait_for(runtime._after_deliveries(runtime_module.DELIVERIES_PATIENCE), 0.1)
    runtime._accepting = 0
    runtime._last_burst = time.monotonic()  # a burst's commit just ended: wait for the quiet
    waited = asyncio.create_task(runtime._after_deliveries(0.0))
    await asyncio.sleep(0)
    assert not waited.done()
    await asyncio.wait_for(waited, 1.0)


async def test_accept_counts_the_events_being_stored_and_marks_bursts(runtime):
    from bot import runtime as runtime_module

    assert runtime._accepting == 0 and runtime._last_burst == 0.0
    await runtime.accept([ev("S", kind="start")])
    assert runtime._last_burst == 0.0  # one event: steady traffic
    await runtime.accept([ev(f"B{i}", kind="start") for i in range(runtime_module.DELIVERIES_BURST)])
    assert runtime._last_burst > 0.0 and runtime._accepting == 0


async def test_the_worker_and_sender_know_how_long_people_have_waited(runtime, clock):
    """What ends the waiting above: the age of the events and replies they last took."""
    await runtime.accept([ev("A", kind="start")])
    clock.advance(7.0)
    assert await runtime.process_batch(16) == 1
    assert runtime._inbox_lag == 7.0
    clock.advance(2.0)
    assert await runtime.deliver_due() == 1
    assert runtime._outbox_lag == 2.0  # the reply was queued by the turn, 2 s ago
