"""The handoff's reads and writes, against the store's models (``bot.store.models``).

Kept here rather than in ``bot/store`` so the two can be built in parallel; like the store, only
this module of ``bot.handoff`` imports SQLAlchemy. Every function takes an ``AsyncSession``
inside the caller's transaction (``store.transaction()``) and commits nothing itself.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import audit as audit_chain
from bot.store import handoffs
from bot.store.crypto import Crypto, DecryptError
from bot.store.models import (
    CLOSED, LIVE, QUEUED, AuditEntry, ConsoleLogin, Counsellor, DailyFigure, Handoff, Switch, TranscriptMessage,
)

NOBODY_AVAILABLE = "nobody_available"  # the console's "nobody can answer now" switch

# Audit actions. Counsellors' own (OPENED: read a transcript, once per login and handoff), then
# what the console refused (with a keyed hash of the address), then the system's (counsellor_id
# None), which also mark that a notice was sent so it is sent once.
OPENED, TOOK, ANSWERED, CLOSED_BY, SWITCHED = "opened", "took", "answered", "closed", "switched"
DISMISSED_SPAM = "dismissed_spam"
LOGGED_IN, LOGGED_OUT, LOGIN_ENDED = "logged_in", "logged_out", "login_ended"
ACCOUNT = "account"  # an account added, given a new password or disabled (from the shell): the detail says
LOGIN_FAILED, LOGIN_THROTTLED, CSRF_REFUSED, REFUSED = "login_failed", "login_throttled", "csrf_refused", "refused"
TOLD_UNAVAILABLE, TOLD_NOBODY_ANSWERED, ACKED_MESSAGE = "told_unavailable", "told_nobody_answered", "acked_message"
EXPIRED = "expired"  # the system closed a handoff nobody took, or one idle for days

# Outcomes the console and the system give a closed handoff besides the counsellors' own.
SPAM, QUEUE_EXPIRED, IDLE_EXPIRED = "spam", "expired", "idle"


# ---- counsellors --------------------------------------------------------------------------------

async def add_counsellor(s: AsyncSession, name: str, password_hash: str, now: float) -> Counsellor:
    row = Counsellor(name=name, password_hash=password_hash, is_active=True, created_at=now)
    s.add(row)
    await s.flush()
    return row


async def counsellor_by_name(s: AsyncSession, name: str) -> Counsellor | None:
    return (await s.execute(select(Counsellor).where(Counsellor.name == name))).scalar_one_or_none()


async def counsellor_by_id(s: AsyncSession, counsellor_id: int) -> Counsellor | None:
    return await s.get(Counsellor, counsellor_id)


async def set_password(s: AsyncSession, counsellor_id: int, password_hash: str, only_if: str | None = None) -> None:
    """``only_if``: change it only while the stored hash is still that one (a rehash on login
    must not undo a password changed meanwhile)."""
    cond = [Counsellor.id == counsellor_id]
    if only_if is not None:
        cond.append(Counsellor.password_hash == only_if)
    await s.execute(update(Counsellor).where(*cond).values(password_hash=password_hash))


# ---- console logins -----------------------------------------------------------------------------

async def add_login(s: AsyncSession, counsellor_id: int, token_hash: str, now: float) -> int:
    row = ConsoleLogin(token_hash=token_hash, counsellor_id=counsellor_id, created_at=now, last_seen_at=now)
    s.add(row)
    await s.flush()
    return row.id


async def login_by_token(s: AsyncSession, token_hash: str) -> ConsoleLogin | None:
    return (await s.execute(select(ConsoleLogin).where(ConsoleLogin.token_hash == token_hash))).scalar_one_or_none()


async def end_login(s: AsyncSession, login_id: int, now: float, reason: str) -> bool:
    result = await s.execute(update(ConsoleLogin).where(ConsoleLogin.id == login_id, ConsoleLogin.ended_at.is_(None))
                             .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def end_logins(s: AsyncSession, counsellor_id: int, now: float, reason: str) -> int:
    """End every open login of a counsellor (a new password, a disabled account)."""
    result = await s.execute(update(ConsoleLogin)
                             .where(ConsoleLogin.counsellor_id == counsellor_id, ConsoleLogin.ended_at.is_(None))
                             .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False))
    return result.rowcount or 0


async def counsellor_names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await s.execute(select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(ids)))
    return {i: n for i, n in rows}


# ---- the queue ----------------------------------------------------------------------------------

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


async def get_handoff(s: AsyncSession, handoff_id: str, lock: bool = False) -> Handoff | None:
    """``lock``: hold the row until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises), so two processes do not both send the same notice."""
    if lock:
        stmt = select(Handoff).where(Handoff.id == handoff_id).with_for_update()
        return (await s.execute(stmt)).scalar_one_or_none()
    return await s.get(Handoff, handoff_id)


async def claim(s: AsyncSession, handoff_id: str, counsellor_id: int, now: float) -> bool:
    """Take a queued handoff. One UPDATE guarded by its status: of two counsellors, one wins."""
    result = await s.execute(
        update(Handoff)
        .where(and_(Handoff.id == handoff_id, Handoff.status == QUEUED))
        .values(status=LIVE, counsellor_id=counsellor_id, taken_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def close(s: AsyncSession, handoff_id: str, outcome: str, now: float, counsellor_id: int | None = None,
                status: str | None = None) -> bool:
    """Close an open handoff; with ``counsellor_id``, only the counsellor who has it may; with
    ``status``, only while it has that status (a queued one dismissed, while nobody takes it)."""
    cond = [Handoff.id == handoff_id, Handoff.status.in_((QUEUED, LIVE))]
    if counsellor_id is not None:
        cond += [Handoff.status == LIVE, Handoff.counsellor_id == counsellor_id]
    if status is not None:
        cond.append(Handoff.status == status)
    result = await s.execute(
        update(Handoff).where(and_(*cond)).values(status=CLOSED, closed_at=now, outcome=outcome, origin=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_crisis(s: AsyncSession, handoff_id: str) -> bool:
    """Raise a handoff to the top of the queue; False if it already was a crisis."""
    result = await s.execute(update(Handoff).where(and_(Handoff.id == handoff_id, Handoff.is_crisis.is_(False)))
                             .values(is_crisis=True, priority=Handoff.priority + 10)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


async def note_person_message(s: AsyncSession, handoff_id: str, now: float, left_message: bool) -> None:
    values: dict[str, Any] = {"last_person_at": now}
    if left_message:
        values["left_message"] = True
    await s.execute(update(Handoff).where(Handoff.id == handoff_id).values(**values)
                    .execution_options(synchronize_session=False))


async def queued_longer_than(s: AsyncSession, before: float) -> list[Handoff]:
    """Queued since before ``before`` and not yet told that nobody answered."""
    told = select(AuditEntry.handoff_id).where(AuditEntry.action.in_((TOLD_NOBODY_ANSWERED, TOLD_UNAVAILABLE)))
    rows = await s.execute(select(Handoff).where(and_(Handoff.status == QUEUED, Handoff.queued_at < before,
                                                      Handoff.id.not_in(told))))
    return list(rows.scalars())


async def queued_since_before(s: AsyncSession, before: float) -> list[str]:
    """Handoffs still queued that were queued before ``before`` (nobody took them in time)."""
    rows = await s.execute(select(Handoff.id).where(Handoff.status == QUEUED, Handoff.queued_at < before))
    return list(rows.scalars())


async def live_idle_since(s: AsyncSession, before: float, handoff_id: str | None = None) -> list[str]:
    """Live handoffs (or that one) where nothing happened since ``before``: neither the person
    nor a counsellor wrote (the transcript), nor was it taken."""
    live = select(Handoff.id).where(Handoff.status == LIVE)
    if handoff_id is not None:
        live = live.where(Handoff.id == handoff_id)
    last_line = (select(TranscriptMessage.handoff_id, func.max(TranscriptMessage.created_at).label("last"))
                 .where(TranscriptMessage.handoff_id.in_(live)).group_by(TranscriptMessage.handoff_id).subquery())
    rows = await s.execute(
        select(Handoff.id).outerjoin(last_line, last_line.c.handoff_id == Handoff.id)
        .where(Handoff.id.in_(live),
               func.coalesce(Handoff.taken_at, Handoff.queued_at) < before,
               func.coalesce(Handoff.last_person_at, 0.0) < before,
               func.coalesce(last_line.c.last, 0.0) < before))
    return list(rows.scalars())


async def has_audit(s: AsyncSession, handoff_id: str, action: str, login_id: int | None = None) -> bool:
    """Whether ``action`` was recorded for this handoff (with ``login_id``: by that login)."""
    cond = [AuditEntry.handoff_id == handoff_id, AuditEntry.action == action]
    if login_id is not None:
        cond.append(AuditEntry.login_id == login_id)
    row = await s.execute(select(AuditEntry.id).where(and_(*cond)).limit(1))
    return row.first() is not None


# ---- transcripts and audit ----------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    id: int
    author: str
    text: str
    at: float


async def add_line(s: AsyncSession, crypto: Crypto, handoff_id: str, author: str, text: str, now: float) -> int:
    return (await handoffs.add_transcript(s, crypto, handoff_id, author, text, now)).id


async def transcript(s: AsyncSession, crypto: Crypto, handoff_id: str, after_id: int = 0) -> list[Line]:
    rows = await s.execute(select(TranscriptMessage).where(and_(TranscriptMessage.handoff_id == handoff_id,
                                                                TranscriptMessage.id > after_id))
                           .order_by(TranscriptMessage.id))
    out = []
    for r in rows.scalars():
        try:
            text = handoffs.open_body(crypto, r)
        except DecryptError:
            text = "…"
        out.append(Line(r.id, r.author, text, r.created_at))
    return out


async def audit(s: AsyncSession, action: str, now: float, counsellor_id: int | None = None,
                handoff_id: str | None = None, *, login_id: int | None = None, address_hash: str | None = None,
                detail: str | None = None) -> None:
    """One row at the end of the audit chain (``bot.store.audit``)."""
    await audit_chain.append(s, action, now, counsellor_id=counsellor_id, handoff_id=handoff_id, login_id=login_id,
                             address_hash=address_hash, detail=detail)


async def audit_trail(s: AsyncSession, handoff_id: str) -> list[AuditEntry]:
    rows = await s.execute(select(AuditEntry).where(AuditEntry.handoff_id == handoff_id).order_by(AuditEntry.id))
    return list(rows.scalars())


# ---- the switch ---------------------------------------------------------------------------------

async def switch_is_on(s: AsyncSession, name: str = NOBODY_AVAILABLE) -> bool:
    row = await s.get(Switch, name)
    return row is not None and row.value == "1"


async def set_switch(s: AsyncSession, on: bool, now: float, name: str = NOBODY_AVAILABLE) -> None:
    row = await s.get(Switch, name)
    if row is None:
        s.add(Switch(name=name, value="1" if on else "0", updated_at=now))
    else:
        row.value, row.updated_at = ("1" if on else "0"), now


# ---- figures ------------------------------------------------------------------------------------

FIGURE_NAMES = ("conversations", "reached:evidence", "reached:law", "asked_person")


@dataclass(frozen=True)
class DayFigures:
    day: str
    conversations: int
    evidence: int
    law: int
    asked_person: int
    handoffs: int
    answered: int
    mean_wait_minutes: float | None


async def figures(s: AsyncSession, days: int, now: float, tz: str) -> list[DayFigures]:
    """The last ``days`` local days, newest first: counts only, never who."""
    zone = ZoneInfo(tz)
    today = dt.datetime.fromtimestamp(now, zone).date()
    wanted = [(today - dt.timedelta(days=i)).isoformat() for i in range(days)]
    counts: dict[tuple[str, str], float] = {}
    rows = await s.execute(select(DailyFigure.day, DailyFigure.name, DailyFigure.value)
                           .where(DailyFigure.day.in_(wanted)))
    for day, name, value in rows:
        counts[(day, name)] = value
    # Handoffs and waits come from the handoffs table itself (closed ones stay until purge).
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), zone).timestamp()
    hrows = await s.execute(select(Handoff.queued_at, Handoff.taken_at).where(Handoff.queued_at >= start))
    per_day: dict[str, list[float | None]] = {}
    for queued_at, taken_at in hrows:
        day = dt.datetime.fromtimestamp(queued_at, zone).date().isoformat()
        per_day.setdefault(day, []).append(None if taken_at is None else taken_at - queued_at)
    out = []
    for day in wanted:
        waits = per_day.get(day, [])
        answered = [w for w in waits if w is not None]
        out.append(DayFigures(
            day=day,
            conversations=int(counts.get((day, "conversations"), 0)),
            evidence=int(counts.get((day, "reached:evidence"), 0)),
            law=int(counts.get((day, "reached:law"), 0)),
            asked_person=int(counts.get((day, "asked_person"), 0)),
            handoffs=len(waits),
            answered=len(answered),
            mean_wait_minutes=round(sum(answered) / len(answered) / 60, 1) if answered else None,
        ))
    return out


def context_of(handoff: Handoff, crypto: Crypto) -> dict[str, Any]:
    return handoffs.open_context(crypto, handoff)
