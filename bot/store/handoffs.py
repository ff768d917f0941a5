"""Handoffs and their transcripts: the queue's reads and the guarded writes of its states.

A handoff is ``queued`` (waiting for a counsellor), then ``live`` (a counsellor took it), then
``closed``; every change of status is one UPDATE guarded by the status it expects, so of two
processes (or two counsellors) one wins. Transcript lines are sealed to their row; the context
packet holds what the person chose, never who they are. ``bot.handoff`` decides when each
change happens; these are the reads and writes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession


from . import said, throttle
from .audit import TOLD_NOBODY_ANSWERED, TOLD_UNAVAILABLE
from .crypto import Crypto, DecryptError, open_json, seal_json, where
from .db import next_ids
from .models import (CLOSED, LIVE, OPEN_HANDOFF, QUEUED, TAKEN_OVER, TO_COLLEAGUE, TO_QUEUE, AuditEntry, Handoff,
                     TranscriptMessage)

_H, _TM = Handoff.__table__, TranscriptMessage.__table__

CRISIS_PRIORITY = 10
ORIGIN_WINDOW = 3_600.0  # handoffs opened per address are counted per hour
ORIGIN_KEY = "handoff:"  # throttle key prefix for the handoffs opened from an address


# ---- the context packet -------------------------------------------------------------------------

def seal_context(crypto: Crypto, handoff_id: str, context: dict[str, Any]) -> str:
    """The context packet for ``handoffs.context_json``: sealed (situation, age band and risk are
    what the person chose, and say a lot about them)."""
    return seal_json(crypto, json.dumps(context, ensure_ascii=False), _H.name, "context_json", handoff_id)


def open_context(crypto: Crypto, handoff) -> dict[str, Any]:
    """The context packet of a handoff; ``{}`` when it does not open or is not an object."""
    try:
        data = json.loads(open_json(crypto, handoff.context_json or "{}", _H.name, "context_json", handoff.id))
    except (DecryptError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


MAX_TRIGGERS = 3


def add_trigger_sync(conn: Connection, crypto: Crypto, handoff_id: str, trigger: tuple[str, ...]) -> None:
    """Crisis words written while the handoff is open: added to its sealed packet's
    ``triggers`` (the last few), so the packet says what raised the crisis."""
    row = conn.execute(select(_H.c.id, _H.c.context_json).where(_H.c.id == handoff_id)).first()
    if row is None:
        return
    try:
        context = json.loads(open_json(crypto, row.context_json or "{}", _H.name, "context_json", row.id))
    except (DecryptError, ValueError):
        return  # a packet that does not open is left as it is, not replaced
    if not isinstance(context, dict):
        return
    kept = [t for t in context.get("triggers") or [] if isinstance(t, list) and t != list(trigger)]
    context["triggers"] = (kept + [list(trigger)])[-MAX_TRIGGERS:]
    conn.execute(update(_H).where(_H.c.id == handoff_id).values(context_json=seal_context(crypto, handoff_id, context)))


# ---- opening and changing status ----------------------------------------------------------------

_INSERT = insert(_H)


def open_many(conn: Connection, crypto: Crypto, opened: list[dict]) -> None:
    """Queue handoffs (``id``, ``conversation_id``, ``channel``, ``locale``, ``context``,
    ``is_crisis``, ``origin``, ``now``), one statement; the context packet is sealed to its row."""
    if opened:
        conn.execute(_INSERT, [dict(
            id=h["id"], conversation_id=h["conversation_id"], channel=h["channel"], status=QUEUED,
            priority=CRISIS_PRIORITY if h["is_crisis"] else 0, is_crisis=h["is_crisis"], locale=h["locale"],
            context_json=seal_context(crypto, h["id"], h["context"]), queued_at=h["now"], left_message=False,
            origin=h["origin"]) for h in opened])


_OPEN_FOR = (select(_H.c.id, _H.c.conversation_id, _H.c.status)
             .where(_H.c.conversation_id.in_(bindparam("cids", expanding=True)), _H.c.status.in_(OPEN_HANDOFF))
             .order_by(_H.c.queued_at))


def open_for(conn: Connection, conversation_ids: list[str]) -> dict:
    """The newest open handoff (``id``, ``status``) of each of these conversations."""
    if not conversation_ids:
        return {}
    return {r.conversation_id: r for r in conn.execute(_OPEN_FOR, {"cids": sorted(set(conversation_ids))})}


def origin_headroom(conn: Connection, origin: str, now: float, *, max_open: int, per_hour: int) -> int:
    """How many more handoffs may open from the address ``origin`` (a keyed hash) stands for:
    at most ``max_open`` of its handoffs open, and at most ``per_hour`` opened in the last hour
    (``count_origins`` records those that open). A flood from one address must not fill the
    queue. PostgreSQL: held for the transaction, so two workers decide for one address in turn."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": "origin:" + origin})
    open_now = conn.execute(select(func.count()).select_from(_H).where(
        _H.c.origin == origin, _H.c.status.in_(OPEN_HANDOFF))).scalar_one()
    hits = throttle.count_sync(conn, ORIGIN_KEY + origin, now - ORIGIN_WINDOW).hits
    return max(0, min(max_open - open_now, per_hour - hits))


def count_origins(conn: Connection, origins: list[str], now: float) -> None:
    """One more handoff opened from each of these addresses (read by ``origin_headroom``)."""
    throttle.hit_many(conn, [ORIGIN_KEY + o for o in origins], now)


async def claim(s: AsyncSession, handoff_id: str, counsellor_id: int, now: float) -> bool:
    """Take a queued handoff. One UPDATE guarded by its status: of two counsellors, one wins."""
    result = await s.execute(
        update(Handoff)
        .where(and_(Handoff.id == handoff_id, Handoff.status == QUEUED))
        # taken_at stays the first take's (after a transfer back to the queue): the first wait's length
        .values(status=LIVE, counsellor_id=counsellor_id, taken_at=func.coalesce(Handoff.taken_at, now))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def close_sync(conn: Connection, handoff_id: str, outcome: str | None, now: float,
               counsellor_id: int | None = None, status: str | None = None) -> bool:
    """Close an open handoff; with ``counsellor_id``, only the counsellor who has it may; with
    ``status``, only while it has that status (a queued one dismissed, while nobody takes it).
    The address it came from is erased, and what the person typed to the bot before (``said``)."""
    cond = [_H.c.id == handoff_id, _H.c.status.in_(OPEN_HANDOFF)]
    if counsellor_id is not None:
        cond += [_H.c.status == LIVE, _H.c.counsellor_id == counsellor_id]
    if status is not None:
        cond.append(_H.c.status == status)
    values: dict[str, Any] = {"status": CLOSED, "closed_at": now, "origin": None}
    if outcome is not None:
        values["outcome"] = outcome[:40]
    closed = conn.execute(update(_H).where(and_(*cond)).values(**values)).rowcount == 1
    if closed:  # what the person typed to the bot before asking goes with the handoff
        said.erase_for_handoff_sync(conn, handoff_id)
    return closed


async def close(s: AsyncSession, handoff_id: str, outcome: str | None, now: float, counsellor_id: int | None = None,
                status: str | None = None) -> bool:
    """``close_sync`` in an ORM session."""
    return await s.run_sync(lambda sync: close_sync(sync.connection(), handoff_id, outcome, now, counsellor_id, status))


async def hand_over(s: AsyncSession, handoff_id: str, from_id: int, to_id: int | None, now: float,
                    kind: str) -> bool:
    """Move a live handoff from the counsellor ``from_id`` (who must still have it) to ``to_id``
    (a colleague, or a supervisor taking over: it stays live) or, with ``to_id`` None, back to the
    queue. The crisis flag, the priority, ``queued_at`` and ``taken_at`` stay as they were: the
    queue keeps its place and the first wait its length. One guarded UPDATE: of two moves, one wins."""
    assert kind in (TO_COLLEAGUE, TO_QUEUE, TAKEN_OVER)
    values: dict[str, Any] = {"transferred_at": now, "transferred_from": from_id, "transfer_kind": kind,
                              "transfer_seen": kind == TAKEN_OVER, "supervisor_id": None}
    if kind == TO_QUEUE:
        values.update(status=QUEUED, counsellor_id=None)
    else:
        values["counsellor_id"] = to_id
    result = await s.execute(update(Handoff).where(and_(Handoff.id == handoff_id, Handoff.status == LIVE,
                                                        Handoff.counsellor_id == from_id))
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def mark_transfer_seen(s: AsyncSession, handoff_id: str, counsellor_id: int) -> bool:
    """The colleague a conversation was transferred to opened it: its alert ends."""
    result = await s.execute(update(Handoff).where(and_(
        Handoff.id == handoff_id, Handoff.counsellor_id == counsellor_id, Handoff.transfer_kind == TO_COLLEAGUE,
        Handoff.transfer_seen.is_(False))).values(transfer_seen=True).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def set_supervisor(s: AsyncSession, handoff_id: str, supervisor_id: int) -> bool:
    """A supervisor joins a live conversation someone else has."""
    result = await s.execute(update(Handoff).where(and_(
        Handoff.id == handoff_id, Handoff.status == LIVE, Handoff.counsellor_id != supervisor_id))
        .values(supervisor_id=supervisor_id).execution_options(synchronize_session=False))
    return result.rowcount == 1


def waiting_since():
    """When the current wait began: the transfer back to the queue, else the request."""
    return func.coalesce(Handoff.transferred_at, Handoff.queued_at)


def wait_started(h) -> float:
    """``waiting_since`` of a row: for a handoff transferred back to the queue, the transfer."""
    return h.transferred_at if h.transfer_kind == TO_QUEUE and h.transferred_at else h.queued_at


_MARK_CRISIS = (update(_H).where(_H.c.id == bindparam("hid"), _H.c.is_crisis.is_(False))
                .values(is_crisis=True, priority=_H.c.priority + CRISIS_PRIORITY))


def mark_crisis_sync(conn: Connection, handoff_ids: list[str]) -> int:
    """Raise handoffs to the top of the queue; returns how many were not a crisis yet."""
    if not handoff_ids:
        return 0
    return conn.execute(_MARK_CRISIS, [{"hid": h} for h in handoff_ids]).rowcount


async def mark_crisis(s: AsyncSession, handoff_id: str) -> bool:
    """Raise a handoff to the top of the queue; False if it already was a crisis."""
    return await s.run_sync(lambda sync: mark_crisis_sync(sync.connection(), [handoff_id])) == 1


_NOTE = update(_H).where(_H.c.id == bindparam("hid")).values(last_person_at=bindparam("at"))


def note_person_messages(conn: Connection, handoff_ids: list[str], now: float, left_message: bool = False) -> None:
    if handoff_ids:
        stmt = _NOTE.values(left_message=True) if left_message else _NOTE
        conn.execute(stmt, [{"hid": h, "at": now} for h in handoff_ids])


async def note_person_message(s: AsyncSession, handoff_id: str, now: float, left_message: bool) -> None:
    await s.run_sync(lambda sync: note_person_messages(sync.connection(), [handoff_id], now, left_message))


# ---- reads --------------------------------------------------------------------------------------

async def active_handoff(session: AsyncSession, conversation_id: str) -> Handoff | None:
    stmt = (select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_HANDOFF))
            .order_by(Handoff.queued_at.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_handoff(s: AsyncSession, handoff_id: str, lock: bool = False) -> Handoff | None:
    """``lock``: hold the row until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises), so two processes do not both send the same notice."""
    if lock:
        stmt = select(Handoff).where(Handoff.id == handoff_id).with_for_update()
        return (await s.execute(stmt)).scalar_one_or_none()
    return await s.get(Handoff, handoff_id)


async def closed_by(s: AsyncSession, counsellor_id: int, since: float) -> list[Handoff]:
    """A counsellor's own closed handoffs closed at or after ``since`` (the retention period's
    start), newest first: their history. Another counsellor's never."""
    stmt = (select(Handoff).where(Handoff.status == CLOSED, Handoff.counsellor_id == counsellor_id,
                                  Handoff.closed_at >= since)
            .order_by(Handoff.closed_at.desc(), Handoff.id))
    return list((await s.execute(stmt)).scalars())


def queue_order():
    """Crisis first, then higher priority, then the longest waiting."""
    return (case((Handoff.is_crisis, 0), else_=1), Handoff.priority.desc(), Handoff.queued_at.asc(), Handoff.id)


async def count_queued(s: AsyncSession) -> int:
    return (await s.execute(select(func.count()).select_from(Handoff).where(Handoff.status == QUEUED))).scalar_one()


async def open_handoffs(s: AsyncSession) -> list[Handoff]:
    """Queued ones in queue order, then live ones (oldest taken first)."""
    queued = (await s.execute(select(Handoff).where(Handoff.status == QUEUED).order_by(*queue_order()))).scalars().all()
    live = (await s.execute(select(Handoff).where(Handoff.status == LIVE).order_by(Handoff.taken_at))).scalars().all()
    return list(queued) + list(live)


async def queued_longer_than(s: AsyncSession, before: float) -> list[Handoff]:
    """Queued since before ``before`` (or back in the queue since then, after a transfer) and not
    yet told that nobody answered."""
    told = select(AuditEntry.handoff_id).where(AuditEntry.action.in_((TOLD_NOBODY_ANSWERED, TOLD_UNAVAILABLE)))
    rows = await s.execute(select(Handoff).where(and_(Handoff.status == QUEUED, waiting_since() < before,
                                                      Handoff.id.not_in(told))))
    return list(rows.scalars())


async def queued_since_before(s: AsyncSession, before: float) -> list[str]:
    """Handoffs still queued that were queued before ``before`` (nobody took them in time)."""
    rows = await s.execute(select(Handoff.id).where(Handoff.status == QUEUED, waiting_since() < before))
    return list(rows.scalars())


async def live_idle_since(s: AsyncSession, before: float, handoff_id: str | None = None) -> list[str]:
    """Live handoffs (or that one) where nothing happened since ``before``: neither the person
    nor a counsellor wrote (the transcript), nor was it taken or transferred."""
    live = select(Handoff.id).where(Handoff.status == LIVE)
    if handoff_id is not None:
        live = live.where(Handoff.id == handoff_id)
    last_line = (select(TranscriptMessage.handoff_id, func.max(TranscriptMessage.created_at).label("last"))
                 .where(TranscriptMessage.handoff_id.in_(live)).group_by(TranscriptMessage.handoff_id).subquery())
    rows = await s.execute(
        select(Handoff.id).outerjoin(last_line, last_line.c.handoff_id == Handoff.id)
        .where(Handoff.id.in_(live),
               func.coalesce(Handoff.transferred_at, Handoff.taken_at, Handoff.queued_at) < before,
               func.coalesce(Handoff.last_person_at, 0.0) < before,
               func.coalesce(last_line.c.last, 0.0) < before))
    return list(rows.scalars())


# ---- transcripts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    id: int
    author: str
    text: str
    at: float


def body_aad(row_id: int) -> bytes:
    return where(_TM.name, "body_enc", row_id)


def open_body(crypto: Crypto, row) -> str:
    """A transcript line's text; raises ``DecryptError``."""
    return crypto.decrypt(row.body_enc, body_aad(row.id))


def add_lines(conn: Connection, crypto: Crypto, lines: list[tuple[str, str, str, float]]) -> list[int]:
    """Transcript lines ``(handoff id, author, text, at)``, each sealed to its row, in one
    statement; returns their ids."""
    if not lines:
        return []
    ids = next_ids(conn, _TM, len(lines))  # the sealed body names its row
    conn.execute(insert(_TM), [dict(id=row_id, handoff_id=hid, author=author, created_at=at,
                                    body_enc=crypto.encrypt(text, body_aad(row_id)))
                               for row_id, (hid, author, text, at) in zip(ids, lines)])
    return ids


async def add_line(session: AsyncSession, crypto: Crypto, handoff_id: str, author: str, text: str,
                   now: float) -> int:
    """One transcript line (sealed to its row); returns its id."""
    return (await session.run_sync(lambda sync: add_lines(sync.connection(), crypto, [(handoff_id, author, text, now)])))[0]


async def transcript(s: AsyncSession, crypto: Crypto, handoff_id: str, after_id: int = 0) -> list[Line]:
    """The lines after ``after_id``, oldest first; a line that does not open reads "…"."""
    rows = await s.execute(select(TranscriptMessage).where(and_(TranscriptMessage.handoff_id == handoff_id,
                                                                TranscriptMessage.id > after_id))
                           .order_by(TranscriptMessage.id))
    out = []
    for r in rows.scalars():
        try:
            text = open_body(crypto, r)
        except DecryptError:
            text = "…"
        out.append(Line(r.id, r.author, text, r.created_at))
    return out
