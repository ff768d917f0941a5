"""The one writer of turns: carries out the plans of a batch (``bot.turns.plan``) inside the
batch's one transaction (``Store.run``), with one statement per table where it can
(executemany), the same on SQLite and PostgreSQL.

Order: forgetting first (it deletes), then conversations, handoffs and their transcripts, what
the person typed to the bot (``said``), the outbox, the figures, and the inbox tombstones last.
"""
from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import Connection

from bot.engine import Flow
from bot.turns.plan import Limits, Plan, plan_turn

from . import conversations, figures, handoffs, inbox, outbox, said
from .crypto import Crypto, DecryptError
from .db import is_unavailable
from .models import BOT, FAILED, PERSON
from .notify import notify_sync

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Batch:
    """What a batch did, handed back from its transaction."""

    taken: int = 0
    plans: list[Plan] = dataclasses.field(default_factory=list)
    failed: list[tuple[int, Exception]] = dataclasses.field(default_factory=list)
    oldest: float | None = None  # when the oldest event taken was accepted


def run_turns(conn: Connection, crypto: Crypto, flow: Flow, now: float, limit: int, limits: Limits, alone: bool,
              notify_channel: str | None, max_open: int, per_hour: int) -> Batch:
    """The worker's transaction (``Store.run``): claim up to ``limit`` events, load their
    conversations and open handoffs, plan each turn, write the plans. Plain statements and the
    pure planner, nothing that awaits. A turn whose planning raises is left out (``failed``).
    ``alone`` (after a failed batch): the writes in a savepoint, so that their failure counts as
    this one event's. ``max_open``, ``per_hour``: the handoffs one address may open."""
    batch = Batch()
    rows = inbox.claim_rows(conn, limit)
    if not rows:
        return batch
    batch.taken = len(rows)
    batch.oldest = min(r.accepted_at for r in rows)
    # No other worker can hold an event of these conversations now: claim_rows only offers a
    # conversation's oldest pending event, and those are locked by us until commit. The
    # console's writes meet us at the conversation's row lock (load_many locks FOR UPDATE on
    # PostgreSQL).
    if notify_channel:
        notify_sync(conn, notify_channel)
    writes = TurnWrites(crypto)
    events = {}
    for row in rows:
        try:
            events[row] = inbox.open_payload(crypto, row)
        except DecryptError:
            log.error("turn.undecryptable", extra={"inbox": row.id})
            writes.failed_ids.append(row.id)
    # After a key rotation: a person still keyed under an older key is re-keyed first.
    rekey = conversations.older_keyed(conn, crypto, events)
    pseudonyms = {row: conversations.rekey(conn, crypto, row.pseudonym, ev.channel, ev.user_id)
                  if row in rekey else row.pseudonym for row, ev in events.items()}
    convs = conversations.load_many(conn, list(pseudonyms.values()))
    open_handoffs = handoffs.open_for(conn, [c.id for c in convs.values() if c.in_handoff])
    headroom = {o: handoffs.origin_headroom(conn, o, now, max_open=max_open, per_hour=per_hour)
                for o in sorted({ev.origin for ev in events.values() if ev.origin})}
    full = dataclasses.replace(limits, may_open_handoff=False)  # this address may open no more
    for row, event in events.items():
        conv = convs.get(pseudonyms[row])
        try:
            session = conversations.load_session(crypto, conv)
            plan = plan_turn(flow, row.id, pseudonyms[row], event, conv, session,
                             open_handoffs.get(conv.id) if conv is not None else None, now,
                             full if event.origin and headroom[event.origin] <= 0 else limits)
        except Exception as exc:
            batch.failed.append((row.id, exc))
            continue
        if plan.open_handoff is not None and event.origin:
            headroom[event.origin] -= 1
        writes.add(plan, now)
        batch.plans.append(plan)
    if not alone:
        writes.write(conn, now)
        return batch
    try:
        with conn.begin_nested():
            writes.write(conn, now)
    except Exception as exc:
        if is_unavailable(exc):
            raise
        batch.failed += [(p.inbox_id, exc) for p in batch.plans]
        batch.plans = []
    return batch


class TurnWrites:
    """What the turns of one batch write, gathered by ``add`` and written by ``write``."""

    def __init__(self, crypto: Crypto) -> None:
        self.crypto = crypto
        self.conversations = conversations.SessionWrites(crypto)
        self.outbox: list[dict] = []
        self.figures: dict[tuple[str, str], float] = {}
        self.done_ids: list[int] = []
        self.failed_ids: list[int] = []
        self.forgets: list[Plan] = []
        self.opened: list[dict] = []
        self.origins: list[str] = []
        self.left: list[str] = []
        self.lines: list[tuple[str, str, str, float]] = []
        self.relayed: list[str] = []
        self.crises: list[str] = []
        self.said: list[tuple[str, int, str, float]] = []
        self.triggers: list[tuple[str, tuple[str, ...]]] = []
        self.said_resets: list[str] = []

    def add(self, plan: Plan, now: float) -> None:
        ev, cid = plan.event, plan.conversation_id
        if plan.forget:
            self.forgets.append(plan)
        if plan.session is not None:
            self.conversations.save(cid, plan.new_conversation, pseudonym=plan.pseudonym, channel=ev.channel,
                                    engine_session=plan.session, now=now, said_count=plan.said_count)
            if plan.said_reset and not plan.new_conversation:
                self.said_resets.append(cid)
            if plan.said is not None:
                self.said.append((cid, plan.said_count, plan.said, now))
        if plan.in_handoff is not None:
            self.conversations.set_handoff(cid, ev.user_id if plan.in_handoff else None)
        if plan.leave:
            self.left.append(plan.leave)
        if plan.open_handoff:
            h = plan.open_handoff
            self.opened.append(dict(id=h.id, conversation_id=cid, channel=ev.channel, locale=h.locale,
                                    context=h.context, is_crisis=h.is_crisis, origin=h.origin, now=now))
            if h.origin:
                self.origins.append(h.origin)
        if plan.relay:
            r = plan.relay
            self.lines.append((r.handoff_id, PERSON, r.text, now))
            if r.bot_text is not None:
                self.lines.append((r.handoff_id, BOT, r.bot_text, now))
            self.relayed.append(r.handoff_id)
            if r.is_crisis:
                self.crises.append(r.handoff_id)
            if r.trigger is not None:
                self.triggers.append((r.handoff_id, r.trigger))
        for conversation_id, out in plan.replies:
            self.outbox.append(outbox.outbox_row(conversation_id=conversation_id, channel=ev.channel,
                                                 user_id=ev.user_id, outbound=out, now=now, inbox_id=plan.inbox_id))
        for key, amount in plan.figures.items():
            self.figures[key] = self.figures.get(key, 0.0) + amount
        self.done_ids.append(plan.inbox_id)

    def write(self, conn: Connection, now: float) -> None:
        for plan in self.forgets:
            conversations.forget_sync(conn, plan.conversation_id, plan.pseudonym, keep_inbox_id=plan.inbox_id)
        conversations.write_many(conn, self.conversations)
        for hid in self.left:  # the person went back to the bot while waiting
            handoffs.close_sync(conn, hid, "person_left", now)
        handoffs.open_many(conn, self.crypto, self.opened)
        handoffs.count_origins(conn, self.origins, now)
        handoffs.add_lines(conn, self.crypto, self.lines)
        handoffs.note_person_messages(conn, self.relayed, now)
        handoffs.mark_crisis_sync(conn, self.crises)
        for hid, trigger in self.triggers:  # rare: crisis words while waiting or with a counsellor
            handoffs.add_trigger_sync(conn, self.crypto, hid, trigger)
        # What the person typed to the bot: after the closes above (which erase what came before).
        said.erase_sync(conn, self.said_resets)
        said.write_many(conn, self.crypto, self.said)
        outbox.enqueue_many(conn, self.crypto, self.outbox)
        figures.bump_days_sync(conn, self.figures)
        # Erase the payloads, keep the tombstones (redeliveries stay no-ops).
        inbox.mark_done_many(conn, self.done_ids, now)
        inbox.mark_done_many(conn, self.failed_ids, now, status=FAILED)

