"""The audit log as a hash chain: every row holds the hash of the row before it.

``append`` is the one way a row gets into ``audit_log``: under a lock that orders writers (an
advisory transaction lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already does), it reads the
newest row's ``row_hash``, and writes the new row with that as ``prev_hash`` and its own
``row_hash`` = SHA-256 over ``prev_hash`` and the row's fields. ``verify`` walks the rows in
order: a changed row no longer matches its hash, a removed or reordered one breaks the link to
the next (``python -m bot audit verify`` says which row).

The hash is not keyed, so the chain can be checked without the secret key and survives a key
rotation; what it cannot show by itself is that the newest rows were cut off. Note the head
that ``audit verify`` prints somewhere else (a ticket, an e-mail) to pin it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Connection, insert, select, text
from sqlalchemy import column as sa_column, table as sa_table
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditEntry

# Actions. Counsellors' own (OPENED: read a transcript, once per login and handoff), then what
# the console refused (with a keyed hash of the address), then the system's (counsellor_id
# None), which also mark that a notice was sent, so that it is sent once.
OPENED, TOOK, ANSWERED, CLOSED_BY, SWITCHED = "opened", "took", "answered", "closed", "switched"
DISMISSED_SPAM = "dismissed_spam"
LOGGED_IN, LOGGED_OUT, LOGIN_ENDED = "logged_in", "logged_out", "login_ended"
ACCOUNT = "account"  # an account added, given a new password or disabled (from the shell): the detail says
ACCOUNT_CHANGED_BY = "account_changed_by"  # ...from the console's accounts page: the admin's row ("#id what")
LOGIN_FAILED, LOGIN_THROTTLED, CSRF_REFUSED, REFUSED = "login_failed", "login_throttled", "csrf_refused", "refused"
TOLD_UNAVAILABLE, TOLD_NOBODY_ANSWERED, ACKED_MESSAGE = "told_unavailable", "told_nobody_answered", "acked_message"
NOTED = "noted"  # a counsellor wrote a private note on a handoff
# The person's page said they may have left (quick exit, page hidden) or came back: detail says which.
PERSON_LEFT, PERSON_BACK = "person_left", "person_back"
TOLD_STILL_WAITING = "told_still_waiting"  # one row per "still waiting" notice (how many were sent)
EXPIRED = "expired"  # the system closed a handoff nobody took, or one idle for days
# A conversation handed to a colleague or back to the queue (detail "to #id" / "to queue"); a
# supervisor opening one read-only (every time), joining it, taking it over.
TRANSFERRED, LOOKED, JOINED, TOOK_OVER = "transferred", "looked", "joined", "took_over"
FLOWS_PUBLISHED, FLOWS_RESTORED = "flows_published", "flows_restored"  # a version of what the bot says went live

GENESIS = "0" * 64          # the prev_hash of the first row
_CHAIN_LOCK = 0x4155_4454   # any constant: one advisory lock for appending to the chain
CHAINED = ("counsellor_id", "action", "handoff_id", "at", "login_id", "address_hash", "detail")


def row_digest(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 over the previous row's hash and this row's fields (``CHAINED``)."""
    fields = [row.get(name) for name in CHAINED]
    fields[CHAINED.index("at")] = repr(float(row["at"]))  # the same text on SQLite and PostgreSQL
    payload = json.dumps([prev_hash, *fields], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


async def append(s: AsyncSession, action: str, at: float, counsellor_id: int | None = None,
                 handoff_id: str | None = None, *, login_id: int | None = None, address_hash: str | None = None,
                 detail: str | None = None) -> None:
    """Add one row at the end of the chain, inside the caller's transaction."""
    if s.bind.dialect.name == "postgresql":
        # Held until the caller's commit: the next writer reads this row as the newest.
        await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    prev = (await s.execute(select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1))).scalar_one_or_none()
    row = {"counsellor_id": counsellor_id, "action": action[:40], "handoff_id": handoff_id, "at": float(at),
           "login_id": login_id, "address_hash": address_hash, "detail": detail[:60] if detail else None}
    prev = prev or GENESIS
    await s.execute(insert(AuditEntry).values(**row, prev_hash=prev, row_hash=row_digest(prev, row)))


async def has_entry(s: AsyncSession, handoff_id: str, action: str, login_id: int | None = None) -> bool:
    """Whether ``action`` was recorded for this handoff (with ``login_id``: by that login)."""
    cond = [AuditEntry.handoff_id == handoff_id, AuditEntry.action == action]
    if login_id is not None:
        cond.append(AuditEntry.login_id == login_id)
    return (await s.execute(select(AuditEntry.id).where(*cond).limit(1))).first() is not None


async def latest(s: AsyncSession, handoff_ids: Iterable[str], actions: Iterable[str]) -> dict[tuple[str, str], tuple[float, str]]:
    """The newest (time, detail) of each of ``actions`` for each handoff, by (handoff id, action)."""
    ids = list(handoff_ids)
    if not ids:
        return {}
    rows = await s.execute(select(AuditEntry.handoff_id, AuditEntry.action, AuditEntry.at, AuditEntry.detail)
                           .where(AuditEntry.handoff_id.in_(ids), AuditEntry.action.in_(list(actions)))
                           .order_by(AuditEntry.id))
    return {(hid, action): (at, detail or "") for hid, action, at, detail in rows}


async def trail(s: AsyncSession, handoff_id: str) -> list[AuditEntry]:
    """The rows of one handoff, in order."""
    return list((await s.execute(select(AuditEntry).where(AuditEntry.handoff_id == handoff_id)
                                 .order_by(AuditEntry.id))).scalars())


def chain_existing(conn: Connection) -> int:
    """Give rows written before the chain existed (migration 0002) their hashes, in id order.
    Names only the columns it needs, so a later migration that adds one does not break it."""
    table = sa_table("audit_log", *(sa_column(name) for name in ("id", *CHAINED, "prev_hash", "row_hash")))
    rows = conn.execute(select(table).order_by(table.c.id)).mappings().all()
    prev = GENESIS
    for row in rows:
        digest = row_digest(prev, dict(row))
        conn.execute(table.update().where(table.c.id == row["id"]).values(prev_hash=prev, row_hash=digest))
        prev = digest
    return len(rows)


@dataclass(frozen=True)
class Verdict:
    rows: int
    head: str                 # the newest row's hash (GENESIS for an empty log)
    broken_at: int | None     # the id of the first row that does not check out
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_rows(rows: Iterable[dict[str, Any]]) -> Verdict:
    """Check rows given in id order (mappings with the table's columns)."""
    prev, count = GENESIS, 0
    for row in rows:
        count += 1
        if not row["row_hash"] or not row["prev_hash"]:
            return Verdict(count, prev, row["id"], "has no hash (written outside the chain)")
        if row["prev_hash"] != prev:
            return Verdict(count, prev, row["id"], "does not follow the row before it (a row was removed, "
                                                   "inserted or reordered before it)")
        if row_digest(prev, row) != row["row_hash"]:
            return Verdict(count, prev, row["id"], "does not match its hash (it was changed)")
        prev = row["row_hash"]
    return Verdict(count, prev, None)


def verify_connection(conn: Connection) -> Verdict:
    """Read the whole log in id order, a batch at a time, and check the chain."""
    result = conn.execution_options(yield_per=1000).execute(select(AuditEntry.__table__).order_by(AuditEntry.id))
    return verify_rows(result.mappings())


async def verify(store) -> Verdict:
    async with store.connection() as conn:
        return await conn.run_sync(verify_connection)
