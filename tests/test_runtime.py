"""The runtime end to end on the mini flow, on SQLite and PostgreSQL: accept, turns, outbox,
effects (forget me, handoff), delivery retries."""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from bot.envelope import DeliveryResult, InboundEvent
from bot.engine import Reply
from bot.runtime import ConversationGone, HandoffHooks, NotReachable
from bot.store import StoreUnavailable, handoffs, conversations
from bot.store.models import (
    Conversation,
    DailyFigure,
    Handoff,
    InboxEvent,
    OutboxMessage,
    TranscriptMessage,
)

_n = 0


def ev(user: str, text: str = "", kind: str = "text", choice: str = "", event_id: str | None = None,
       channel: str = "memory", **kw) -> InboundEvent:
    global _n
    _n += 1
    return InboundEvent(channel, event_id or f"e{_n}", user, kind, text=text, choice=choice, locale_hint="en", **kw)


async def count(store, model, *where) -> int:
    async with store.transaction() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


class RecordingHooks(HandoffHooks):
    def __init__(self):
        self.calls = []

    async def on_queued(self, handoff_id):
        self.calls.append(("queued", handoff_id))

    async def on_person_message(self, handoff_id, text, is_crisis=False, choice=None):
        self.calls.append(("message", handoff_id, text, is_crisis, choice))

    async def on_closed(self, handoff_id, reason):
        self.calls.append(("closed", handoff_id, reason))


def channel(runtime):
    return runtime.channels["memory"]


async def test_accept_stores_once_and_a_redelivery_is_a_no_op(runtime):
    first = ev("U1", "hello", event_id="same")
    assert await runtime.accept([first]) == 1
    assert await runtime.accept([first]) == 0
    assert await runtime.accept([ev("U1", "again", event_id="same")]) == 0
    assert await count(runtime.store, InboxEvent) == 1
    assert await runtime.drain() == 1
    assert await runtime.accept([first]) == 0  # the tombstone still dedupes after processing
    assert await runtime.drain() == 0


async def test_one_commit_counts_only_its_new_events(runtime):
    """A group commit holds deliveries of several webhooks: new events, events stored before,
    and the same event twice (LINE redelivered it while the first was still waiting)."""
    stored = ev("U1", "one", event_id="stored")
    assert await runtime.accept([stored]) == 1
    new = ev("U2", "two", event_id="new")
    assert await runtime.accept([new, stored, ev("U3", "three", event_id="other"), new]) == 2
    assert await count(runtime.store, InboxEvent) == 3
    assert await runtime.drain() == 3


async def test_a_turn_commits_session_and_reply_and_the_sender_delivers_it(runtime):
    await runtime.accept([ev("U1", kind="start")])
    await runtime.drain()
    [d] = channel(runtime).deliveries
    assert d.user_id == "U1"
    assert d.keys == ["welcome.hello"]
    assert d.outbound.meta["state"] == "welcome"
    assert d.outbound.retry_key
    async with runtime.store.transaction() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
        row = (await s.execute(select(OutboxMessage))).scalar_one()
        inbox_row = (await s.execute(select(InboxEvent))).scalar_one()
    assert conv.state == "welcome" and conv.locale == "en" and conv.user_ref_enc is None
    assert conversations.load_session(runtime.crypto, conv).state == "welcome"
    assert "welcome" not in conv.session_json  # sealed, not clear JSON
    assert row.status == "sent" and row.payload_enc is None and row.user_ref_enc is None
    assert inbox_row.status == "done" and inbox_row.payload_enc is None


async def test_turns_run_in_order_per_conversation(runtime):
    await runtime.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="threatened"),
                          ev("U2", kind="start"), ev("U1", kind="tap", choice="evidence")])
    assert await runtime.drain() == 4
    u1 = [d.keys for d in channel(runtime).for_user("U1")]
    assert u1 == [["welcome.hello"], ["reassure.not_your_fault", "reassure.not_alone", "law.general"],
                  ["evidence.keep"]]
    assert [d.keys for d in channel(runtime).for_user("U2")] == [["welcome.hello"]]


async def test_forget_me_deletes_everything_and_confirms(runtime):
    await runtime.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="threatened")])
    await runtime.drain()
    await runtime.accept([ev("U1", "forget me")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["forget.done"]
    assert await count(runtime.store, Conversation) == 0
    # Only the anonymous tombstone of the "forget me" event itself stays, for dedupe.
    async with runtime.store.transaction() as s:
        rows = (await s.execute(select(InboxEvent))).scalars().all()
    assert len(rows) == 1 and rows[0].pseudonym.startswith("forgotten:")
    pending = await count(runtime.store, OutboxMessage, OutboxMessage.status == "pending")
    assert pending == 0


async def test_unfollow_forgets_at_once_and_sends_nothing(runtime):
    await runtime.accept([ev("U1", kind="start")])
    await runtime.drain()
    before = len(channel(runtime).deliveries)
    await runtime.accept([ev("U1", kind="forget")])
    await runtime.drain()
    assert len(channel(runtime).deliveries) == before
    assert await count(runtime.store, Conversation) == 0
    assert await count(runtime.store, OutboxMessage) == 0


async def test_handoff_relays_messages_and_raises_priority_on_crisis_words(runtime):
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    await runtime.accept([ev("U1", kind="start"), ev("U1", "talk to a person")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["person.connecting"]
    async with runtime.store.transaction() as s:
        h = (await s.execute(select(Handoff))).scalar_one()
        conv = (await s.execute(select(Conversation))).scalar_one()
    assert h.status == "queued" and not h.is_crisis and conv.in_handoff and conv.user_ref_enc is not None
    ctx = handoffs.open_context(runtime.crypto, h)
    assert ctx["path"][-1] == "person" and ctx["locale"] == "en" and "handoff" in ctx["tags"]
    # Sealed: no JSON string of the context is readable (quotes never occur in the
    # token's base64, so a short id like "U1" cannot match by chance inside it).
    assert '"U1"' not in h.context_json and '"person"' not in h.context_json
    assert not h.context_json.lstrip().startswith(("{", "["))
    assert hooks.calls == [("queued", h.id)]

    sent_before = len(channel(runtime).deliveries)
    await runtime.accept([ev("U1", "hello is anyone there"), ev("U1", "i want to die")])
    await runtime.drain()
    assert len(channel(runtime).deliveries) == sent_before  # the engine did not answer
    assert hooks.calls[1:] == [("message", h.id, "hello is anyone there", False, None),
                               ("message", h.id, "i want to die", True, None)]
    async with runtime.store.transaction() as s:
        h2 = await s.get(Handoff, h.id)
        lines = (await s.execute(select(TranscriptMessage).order_by(TranscriptMessage.id))).scalars().all()
        conv = (await s.execute(select(Conversation))).scalar_one()
    assert h2.is_crisis and h2.priority > 0
    assert [handoffs.open_body(runtime.crypto, r) for r in lines] == ["hello is anyone there", "i want to die"]
    assert all(b"die" not in r.body_enc for r in lines)
    assert "crisis" in conversations.load_session(runtime.crypto, conv).risk

    await runtime.send_to_person(conv.id, "I am here with you.")
    await runtime.send_to_person(conv.id, (Reply("Two"), Reply("bubbles")), kind="notice")
    await runtime.drain()
    assert [d.texts for d in channel(runtime).for_user("U1")[-2:]] == [["I am here with you."], ["Two", "bubbles"]]
    assert channel(runtime).for_user("U1")[-2].outbound.kind == "counsellor"

    assert await runtime.return_to_bot(conv.id, outcome="resolved") == h.id
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["welcome.hello"]
    assert hooks.calls[-1] == ("closed", h.id, "returned")
    async with runtime.store.transaction() as s:
        h3 = await s.get(Handoff, h.id)
        conv = (await s.execute(select(Conversation))).scalar_one()
    assert h3.status == "closed" and h3.outcome == "resolved"
    assert not conv.in_handoff and conv.user_ref_enc is None and conv.state == "welcome"
    with pytest.raises(NotReachable):
        await runtime.send_to_person(conv.id, "too late")
    # Back with the bot: the engine answers again.
    await runtime.accept([ev("U1", kind="tap", choice="threatened")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys[0] == "reassure.not_your_fault"


async def test_forget_me_during_a_handoff_closes_it_and_deletes_the_transcript(runtime):
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    await runtime.accept([ev("U1", "talk to a person"), ev("U1", "something private")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        hid = (await s.execute(select(Handoff.id))).scalar_one()
    await runtime.accept([ev("U1", "forget me")])
    await runtime.drain()
    assert ("closed", hid, "forgotten") in hooks.calls
    for model in (Conversation, Handoff, TranscriptMessage):
        assert await count(runtime.store, model) == 0
    assert channel(runtime).for_user("U1")[-1].keys == ["forget.done"]


async def test_media_during_a_handoff_gets_the_fixed_answer(runtime):
    await runtime.accept([ev("U1", "talk to a person"), ev("U1", kind="media")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["system.media"]


async def test_send_to_a_forgotten_conversation_raises(runtime):
    with pytest.raises(ConversationGone):
        await runtime.send_to_person("nope", "hello")


async def test_delivery_retries_with_backoff_then_succeeds_in_order(runtime, clock):
    ch = channel(runtime)
    ch.results = [DeliveryResult("retry", retry_after=5, reason="http_429")]
    await runtime.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="threatened")])
    await runtime.drain()
    assert ch.deliveries == [] and ch.attempts == 1  # the second row waits behind the first
    async with runtime.store.transaction() as s:
        first = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().first()
    assert first.attempts == 1 and first.reason == "http_429" and first.next_attempt_at >= clock.now + 5
    clock.advance(6)
    await runtime.drain()
    assert [d.keys[0] for d in ch.deliveries] == ["welcome.hello", "reassure.not_your_fault"]


async def test_delivery_gives_up_after_max_attempts_without_content_in_logs(runtime, clock, caplog):
    ch = channel(runtime)
    ch.results = [DeliveryResult("retry", reason="http_500")] * 10
    await runtime.accept([ev("U1", "secret words here", kind="text")])
    for _ in range(10):
        await runtime.drain()
        clock.advance(400)
    async with runtime.store.transaction() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.status == "failed" and row.attempts == runtime.settings.outbox_max_attempts
    assert row.payload_enc is None and row.user_ref_enc is None
    gave_up = [r for r in caplog.records if r.msg == "outbox.gave_up"]
    assert len(gave_up) == 1 and gave_up[0].reason == "http_500"
    assert "secret" not in caplog.text


async def test_a_failed_delivery_is_not_retried(runtime):
    channel(runtime).results = [DeliveryResult("failed", reason="http_400")]
    await runtime.accept([ev("U1", kind="start")])
    await runtime.drain()
    assert await count(runtime.store, OutboxMessage, OutboxMessage.status == "failed") == 1


async def test_an_adapter_exception_is_a_retry(runtime, clock):
    class Broken:
        name = "memory"
        calls = 0

        async def deliver(self, user_id, outbound):
            Broken.calls += 1
            raise RuntimeError("boom " + user_id)

    runtime.register_channel(Broken())
    await runtime.accept([ev("U1", kind="start")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert Broken.calls == 1 and row.status == "pending" and row.reason == "exception:RuntimeError"


async def test_rows_of_unregistered_channels_wait(runtime):
    await runtime.accept([ev("U1", kind="start", channel="line")])
    await runtime.drain()
    assert await count(runtime.store, OutboxMessage, OutboxMessage.status == "pending") == 1


async def test_figures_count_days_tags_and_requests_without_identity(runtime):
    await runtime.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="age_u16"),
                          ev("U2", kind="start"), ev("U2", "talk to a person")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        rows = (await s.execute(select(DailyFigure))).scalars().all()
    figures = {r.name: r.value for r in rows}
    assert figures["conversations"] == 2 and "turns" not in figures
    assert figures["reached:law"] == 1 and figures["asked_person"] == 1


async def test_a_turn_that_keeps_failing_is_answered_with_the_error_text(runtime, monkeypatch):
    import bot.turns.plan as rt_mod

    def broken_step(*a, **k):
        raise KeyError("nothing")

    monkeypatch.setattr(rt_mod, "step", broken_step)
    await runtime.accept([ev("U1", "hello")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["system.error"]
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "failed") == 1


async def test_safety_text_falls_back_to_the_24_hour_numbers(runtime):
    text = runtime.safety_text("ja")
    assert "0120-279-338" in text and "0120-0-78310" in text
    assert "0120-279-338" in runtime.safety_text("en")


async def test_deliveries_arriving_together_share_one_commit_and_each_hears_its_own_count(runtime, caplog):
    import logging

    from bot.observability import REGISTRY

    def figure(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    caplog.set_level(logging.DEBUG, logger="bot.runtime")
    before = (figure("bot_inbox_commits_total"), figure("bot_inbox_events_total", new="true"),
              figure("bot_inbox_events_total", new="false"))
    a, b = ev("U1", "one", event_id="a"), ev("U2", "two", event_id="b")
    # The same event twice (redelivered while the first was waiting) counts once, for the first.
    assert await asyncio.gather(runtime.accept([a]), runtime.accept([ev("U1", "one", event_id="a")]),
                                runtime.accept([b])) == [1, 0, 1]
    commits = [(r.events, r.count) for r in caplog.records if r.getMessage() == "inbox.accepted"]
    assert commits == [(3, 2)]
    after = (figure("bot_inbox_commits_total"), figure("bot_inbox_events_total", new="true"),
             figure("bot_inbox_events_total", new="false"))
    assert [y - x for x, y in zip(before, after)] == [1, 2, 1]  # on /metrics
    assert await count(runtime.store, InboxEvent) == 2


async def test_a_failed_commit_fails_each_of_its_deliveries_and_the_next_commit_works(runtime, monkeypatch):
    from bot.store import inbox

    rows = inbox.event_rows

    def broken_for_b(crypto, events, now):
        if any(e.event_id == "b" for e in events):
            raise ValueError("a bug")
        return rows(crypto, events, now)

    monkeypatch.setattr(inbox, "event_rows", broken_for_b)
    results = await asyncio.gather(runtime.accept([ev("U1", "one", event_id="a")]),
                                   runtime.accept([ev("U2", "two", event_id="b")]), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]  # one transaction: neither is stored
    assert await count(runtime.store, InboxEvent) == 0
    assert await runtime.accept([ev("U1", "one", event_id="a")]) == 1


async def test_a_delivery_whose_caller_gives_up_is_still_committed(runtime, store_target, settings, mini_holder):
    from bot.runtime import Runtime

    task = asyncio.create_task(runtime.accept([ev("U1", "one", event_id="a")]))
    await asyncio.sleep(0)  # it is waiting for its commit
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await runtime.inbox_commits.idle()
    assert await count(runtime.store, InboxEvent) == 1
    # and stop() lets a commit under way end before it closes the store
    other = Runtime(settings, mini_holder, store=store_target.make())
    pending = asyncio.ensure_future(other.accept([ev("U2", "two", event_id="b")]))
    await asyncio.sleep(0)
    await other.stop()
    assert await pending == 1
    assert await count(runtime.store, InboxEvent) == 2


async def test_a_delivery_arriving_just_as_the_committer_ends_gets_a_committer(runtime):
    """The committer checks for waiting deliveries and ends in one step: a delivery added right
    after that check (the next callback of the event loop) must start a new committer, not be
    left waiting for one that has finished."""
    import collections
    import threading

    loop = asyncio.get_running_loop()
    late: list[asyncio.Future] = []

    class Waiting(collections.deque):
        def __bool__(self):
            empty = len(self) == 0
            if empty and not late and threading.current_thread() is threading.main_thread():
                loop.call_soon(lambda: late.append(runtime.inbox_commits.add([ev("U2", "two", event_id="late")],
                                                                              runtime.clock())))
            return not empty

    runtime.inbox_commits._waiting = Waiting()
    assert await runtime.accept([ev("U1", "one", event_id="first")]) == 1
    while not late:
        await asyncio.sleep(0)
    assert await asyncio.wait_for(late[0], 2) == 1


async def test_a_committer_cancelled_before_it_ran_blocks_neither_deliveries_nor_stop(runtime, monkeypatch):
    commits = runtime.inbox_commits
    first = commits.add([ev("U1", "one", event_id="x")], runtime.clock())
    [task] = commits._committers
    task.cancel()  # before its first step (as when the event loop is torn down)
    await asyncio.sleep(0)
    assert task.cancelled()
    # the next delivery starts a committer, which commits the one left waiting too
    assert await runtime.accept([ev("U2", "two", event_id="y")], timeout=2) == 1
    assert await asyncio.wait_for(first, 2) == 1
    assert await commits.idle(timeout=2)

    # a commit that never ends does not hold a stopping runtime forever
    async def forever(*args, **kwargs):
        await asyncio.Event().wait()

    monkeypatch.setattr(runtime.store, "run_batches", forever)
    stuck = commits.add([ev("U3", "three", event_id="z")], runtime.clock())
    assert await commits.idle(timeout=0.1) is False
    commits._waiting.clear()
    for t in list(commits._committers):
        t.cancel()
    stuck.cancel()
    assert await commits.idle(timeout=2)


async def test_accept_raises_store_unavailable_when_the_database_is_down(settings, mini_holder, tmp_path):
    from bot.runtime import Runtime
    from bot.store import Store

    bad = Store("postgresql+asyncpg://postgres@127.0.0.1:1/nothing", b"k" * 40)
    rt = Runtime(settings, mini_holder, store=bad)
    with pytest.raises(StoreUnavailable):
        await rt.accept([ev("U1", "hello")])
    await bad.dispose()
    # SQLite in a place that cannot be written to.
    blocked = tmp_path / "file"
    blocked.write_text("")
    bad = Store(f"sqlite+aiosqlite:///{blocked}/bot.db", b"k" * 40)
    rt = Runtime(settings, mini_holder, store=bad)
    with pytest.raises(StoreUnavailable):
        await rt.accept([ev("U1", "hello")])
    await bad.dispose()
    await asyncio.sleep(0.2)  # let the driver's thread finish before the test's loop closes


def confirm_flow_holder(tmp_path):
    """The mini flow with "forget me" asking first, like the shipped flow (forget_confirm)."""
    import shutil

    import yaml

    from bot.reload import BundleHolder
    from tests.conftest import MINI

    shutil.copytree(MINI, tmp_path / "flow")
    flows, locales = tmp_path / "flow" / "flows", tmp_path / "flow" / "locales"
    doc = yaml.safe_load((flows / "mini.yaml").read_text())
    for it in doc["interrupts"]:
        if it["name"] == "forget":
            it["target"] = "forget_confirm"
    doc["states"]["forget_confirm"] = {
        "tags": ["goodbye"], "say": ["forget.confirm"],
        "choices": [{"id": "forget_yes", "label": "choice.done", "target": "forget"},
                    {"id": "forget_no", "label": "choice.back", "target": "welcome"}]}
    (flows / "mini.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    for loc, text in (("ja", "本当に消しますか？"), ("en", "Delete everything?")):
        path = locales / f"{loc}.yaml"
        data = yaml.safe_load(path.read_text())
        data["texts"]["forget"]["confirm"] = text
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return BundleHolder(flows, locales, "mini")


async def test_forget_with_a_confirmation_during_a_handoff(runtime, tmp_path):
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    runtime.bundles = confirm_flow_holder(tmp_path)
    await runtime.accept([ev("U1", "talk to a person"), ev("U1", "forget me")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["forget.confirm"]  # the bot asks, not the counsellor
    assert [c[0] for c in hooks.calls] == ["queued"]
    assert await count(runtime.store, Handoff, Handoff.status == "queued") == 1
    await runtime.accept([ev("U1", kind="tap", choice="forget_yes")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["forget.done"]
    assert hooks.calls[-1][0::2] == ("closed", "forgotten")
    assert await count(runtime.store, Handoff) == 0 and await count(runtime.store, Conversation) == 0


async def test_a_tap_on_the_human_states_own_choice_leaves_the_queue(runtime):
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    await runtime.accept([ev("U1", "talk to a person"), ev("U1", kind="tap", choice="back", from_state="person")])
    await runtime.drain()
    assert channel(runtime).for_user("U1")[-1].keys == ["welcome.hello"]
    assert hooks.calls[-1][0::2] == ("closed", "person_left")
    async with runtime.store.transaction() as s:
        h = (await s.execute(select(Handoff))).scalar_one()
        conv = (await s.execute(select(Conversation))).scalar_one()
    assert h.status == "closed" and h.outcome == "person_left"
    assert not conv.in_handoff and conv.user_ref_enc is None


async def test_a_tap_while_live_goes_to_the_counsellor(runtime):
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    await runtime.accept([ev("U1", "talk to a person")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        h = (await s.execute(select(Handoff))).scalar_one()
        h.status = "live"
    await runtime.accept([ev("U1", kind="tap", choice="back")])
    await runtime.drain()
    assert hooks.calls[-1] == ("message", h.id, "", False, "back")
    async with runtime.store.transaction() as s:
        lines = (await s.execute(select(TranscriptMessage))).scalars().all()
    assert [handoffs.open_body(runtime.crypto, r) for r in lines] == ["[back]"]


async def test_accept_gives_up_in_time_when_sqlite_is_held_by_another_process(settings, mini_holder, store_target):
    """LINE wants an answer within 2 s: a database busy for longer must not hold the webhook."""
    import sqlite3
    import time as _time

    if store_target.kind != "sqlite":
        pytest.skip("SQLite's file lock")
    from bot.runtime import Runtime

    store = store_target.make()
    await store.upgrade()
    rt = Runtime(settings, mini_holder, store=store, accept_timeout=0.5)
    other = sqlite3.connect(store_target.sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = _time.monotonic()
    with pytest.raises(StoreUnavailable):
        await rt.accept([ev("U1", "hello")])
    # Bounded by the driver's busy wait, not by how long the other process keeps the lock.
    from bot.store.db import SQLITE_WEBHOOK_BUSY_SECONDS

    assert _time.monotonic() - started < SQLITE_WEBHOOK_BUSY_SECONDS + rt.accept_timeout + 3
    other.execute("ROLLBACK")
    other.close()
    # Once the other writer is gone, the same runtime works again.
    assert await rt.accept([ev("U1", "hello", event_id="after")]) == 1
    await store.dispose()


async def test_rows_written_under_another_key_are_given_up_not_retried_forever(runtime, store_target, settings,
                                                                               mini_holder):
    from bot.runtime import Runtime

    await runtime.accept([ev("U1", kind="start"), ev("U2", kind="start")])
    await runtime.process_next()  # one turn done, one event still pending; one reply waiting
    other = Runtime(settings, mini_holder, store=store_target.make(secret=b"another-key" * 4))
    other.register_channel(runtime.channels["memory"])
    await other.drain()
    assert runtime.channels["memory"].deliveries == []
    assert await count(runtime.store, OutboxMessage, OutboxMessage.status == "failed") == 1
    assert await count(runtime.store, InboxEvent, InboxEvent.status == "failed") == 1
    await other.store.dispose()
