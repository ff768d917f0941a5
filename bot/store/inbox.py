"""The durable inbox: events are stored (encrypted) before the platform is answered, and taken
by workers in order per conversation.

A row's life: ``pending`` with ``payload_enc`` -> the worker runs the turn and, in the same
transaction, sets ``done`` and erases the payload -> the tombstone (channel, event id) keeps
redeliveries out until ``purge`` removes it after ``event_id_retention_days``.
"""
from __future__ import annotations

import hashlib
import sqlite3
import uuid
from typing import Iterable

from sqlalchemy import Connection, Integer, and_, bindparam, exists, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import InboundEvent

from .crypto import Crypto
from .db import notify_sync
from .models import DONE, PENDING, InboxEvent

_T = InboxEvent.__table__


EVENT_ID_MAX = 128

# Written into the SQL, not bound: a PostgreSQL generic plan for a prepared statement can only
# use the partial "pending" indexes when the value is in the text.
IS_PENDING = literal_column("'pending'")


def _accept_statement(insert):
    return insert(_T).on_conflict_do_nothing(index_elements=["channel", "event_id"]).returning(_T.c.id)


_ACCEPT = {"postgresql": _accept_statement(pg_insert), "sqlite": _accept_statement(sqlite_insert)}
# SQLite: the same INSERT as plain SQL for the driver's own executemany (insert_events_sqlite3).
# With SQLAlchemy's transaction and multi-row INSERT ... RETURNING around it, one webhook commit of
# 10 events cost three times the CPU (measured: 0.6-0.9 ms of user time against 0.2-0.27 ms), all
# of it holding the GIL in the writer thread while the event loop had webhooks to answer.
_ROW_COLUMNS = ("channel", "event_id", "pseudonym", "status", "payload_enc", "attempts", "accepted_at")
_SQLITE_ACCEPT = (f"INSERT INTO {_T.name} ({', '.join(_T.c[c].name for c in _ROW_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in _ROW_COLUMNS)}) ON CONFLICT (channel, event_id) DO NOTHING")


def event_rows(crypto: Crypto, events: Iterable[InboundEvent], now: float) -> list[dict]:
    """The inbox rows of these events (encrypted payload, pseudonym), for ``insert_events``."""
    rows = []
    for ev in events:
        event_id = ev.event_id or uuid.uuid4().hex  # no platform id: cannot dedupe, but never lose it
        if len(event_id) > EVENT_ID_MAX:  # still unique, and fits the column
            event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        rows.append(dict(zip(_ROW_COLUMNS, (ev.channel, event_id, crypto.pseudonym(ev.channel, ev.user_id), PENDING,
                                            crypto.encrypt(ev.to_json()), 0, now))))
    return rows


def insert_events(conn: Connection, rows: list[dict], notify_channel: str | None = None) -> int:
    """Store each row once (unique channel + event id); returns how many were new. For ``Store.run``.

    One statement for the whole group commit: executemany with RETURNING, which SQLAlchemy sends
    as one multi-row INSERT ... ON CONFLICT DO NOTHING from a cached statement. On SQLite the
    store runs ``insert_events_sqlite3`` instead.
    """
    if not rows:
        return 0
    added = len(conn.execute(_ACCEPT[conn.dialect.name], rows).all())
    if added and notify_channel:
        notify_sync(conn, notify_channel)
    return added


def insert_events_sqlite3(driver: sqlite3.Connection, rows: list[dict], _notify_channel: str | None = None) -> int:
    """``insert_events`` on the ``sqlite3`` connection (``Store.run(..., on_sqlite3=)``): the
    driver's executemany, counted by the connection's changes (a row already there changes
    nothing). SQLite has no NOTIFY: the worker in this process is woken by ``Runtime.accept``."""
    before = driver.total_changes
    driver.executemany(_SQLITE_ACCEPT, rows)
    return driver.total_changes - before


def _claim_rows_statement(postgres: bool):
    earlier = _T.alias("earlier")
    stmt = (
        select(_T.c.id, _T.c.pseudonym, _T.c.payload_enc, _T.c.accepted_at)
        .where(_T.c.status == IS_PENDING)
        .where(~exists().where(and_(earlier.c.pseudonym == _T.c.pseudonym,
                                    earlier.c.status == IS_PENDING, earlier.c.id < _T.c.id)))
        .order_by(_T.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return stmt.with_for_update(skip_locked=True, of=_T) if postgres else stmt


CLAIM_ROWS = {True: _claim_rows_statement(True), False: _claim_rows_statement(False)}


def claim_rows(conn: Connection, limit: int) -> list:
    """Up to ``limit`` events (id, pseudonym, payload_enc, accepted_at), each the oldest pending
    one of its conversation (so never two of one conversation), oldest first. Inside
    ``Store.run`` or ``AsyncConnection.run_sync``.

    PostgreSQL: the rows are locked ``FOR UPDATE SKIP LOCKED``, so other workers skip them; a
    later event of the same conversation is not eligible while an earlier one is pending, so
    turns of one conversation never run out of order or side by side. SQLite: BEGIN IMMEDIATE
    has already serialised the whole transaction.
    """
    return conn.execute(CLAIM_ROWS[conn.dialect.name == "postgresql"], {"limit": limit}).all()


_MARK_DONE = (update(_T).where(_T.c.id == bindparam("rid"))
              .values(status=bindparam("st"), payload_enc=None, processed_at=bindparam("at")))


def mark_done_many(conn: Connection, row_ids: list[int], now: float, status: str = DONE) -> None:
    """``mark_done`` for many rows in one statement (executemany), inside ``Store.run``."""
    if row_ids:
        conn.execute(_MARK_DONE, [{"rid": r, "st": status, "at": now} for r in row_ids])


async def mark_done(session: AsyncSession, row_id: int, now: float, status: str = DONE) -> None:
    """Erase the payload and keep only the tombstone for deduplication."""
    await session.execute(
        update(InboxEvent).where(InboxEvent.id == row_id)
        .values(status=status, payload_enc=None, processed_at=now)
    )


async def note_failure(session: AsyncSession, row_id: int) -> int:
    """Count a failed attempt at a turn; returns the attempts so far."""
    row = await session.get(InboxEvent, row_id, with_for_update=True)
    if row is None:
        return 0
    row.attempts += 1
    return row.attempts


async def count_pending(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(InboxEvent).where(InboxEvent.status == IS_PENDING))).scalar_one()

