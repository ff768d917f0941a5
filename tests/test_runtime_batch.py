"""Turns run in batches (one transaction, a savepoint each): order per conversation holds, and a
turn that fails is rolled back alone."""
from __future__ import annotations

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
    from bot import runtime as runtime_module

    real_step = runtime_module.step

    def step(flow, session, user_input, now):
        if user_input.text == "explode":
            raise RuntimeError("a bug in one turn")
        return real_step(flow, session, user_input, now)

    monkeypatch.setattr(runtime_module, "step", step)
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
