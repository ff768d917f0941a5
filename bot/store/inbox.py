"""The durable inbox: events are stored (encrypted) before the platform is answered, and taken
by workers in order per conversation.

A row's life: ``pending`` with ``payload_enc`` -> the worker runs the turn and, in the same
transaction, sets ``done`` and erases the payload -> the tombstone (channel, event id) keeps
redeliveries out until ``purge`` removes it after ``event_id_retention_days``.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import sqlite3
import uuid
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from sqlalchemy import Connection, Integer, and_, bindparam, exists, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.envelope import InboundEvent

from .crypto import Crypto, where
from .db import SQLITE_WEBHOOK_BUSY_SECONDS, sqlite_busy_timeout
from .models import DONE, PENDING, InboxEvent
from .notify import notify_sync

if TYPE_CHECKING:
    from .db import Store

_T = InboxEvent.__table__
# One delivery waiting for its commit: its events, when they arrived, how many were new (a future).
_Delivery = tuple[Sequence[InboundEvent], float, asyncio.Future]


EVENT_ID_MAX = 128
MAX_COMMIT_EVENTS = 200   # events in one group commit
IDLE_TIMEOUT = 15.0       # seconds a stopping runtime waits for the commits under way

# Written into the SQL, not bound: a PostgreSQL generic plan for a prepared statement can only
# use the partial "pending" indexes when the value is in the text.
IS_PENDING = literal_column("'pending'")


def _accept_statement(insert):
    return (insert(_T).on_conflict_do_nothing(index_elements=["channel", "event_id"])
            .returning(_T.c.channel, _T.c.event_id))


_ACCEPT = {"postgresql": _accept_statement(pg_insert), "sqlite": _accept_statement(sqlite_insert)}
# SQLite: the same INSERT as plain SQL for the driver's own executemany (insert_events_sqlite3).
# With SQLAlchemy's transaction and multi-row INSERT ... RETURNING around it, one group commit of
# 10 events cost three times the CPU (measured: 0.6-0.9 ms of user time against 0.2-0.27 ms), all
# of it holding the GIL in the writer thread while the event loop had webhooks to answer.
_ROW_COLUMNS = ("channel", "event_id", "pseudonym", "status", "payload_enc", "attempts", "accepted_at")
_SQLITE_ACCEPT = (f"INSERT INTO {_T.name} ({', '.join(_T.c[c].name for c in _ROW_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in _ROW_COLUMNS)}) ON CONFLICT (channel, event_id) DO NOTHING")


def payload_aad(channel: str, event_id: str) -> bytes:
    """What an inbox payload is sealed to: its row, named by its unique (channel, event id)."""
    return where(_T.name, "payload_enc", f"{channel}/{event_id}")


def open_payload(crypto: Crypto, row) -> InboundEvent:
    """The event of an inbox row (with ``channel``, ``event_id``, ``payload_enc``); raises
    ``DecryptError`` when it does not open (another key, or a payload moved from another row)."""
    return InboundEvent.from_json(crypto.decrypt(row.payload_enc, payload_aad(row.channel, row.event_id)))


def event_rows(crypto: Crypto, events: Iterable[InboundEvent], now: float) -> list[dict]:
    """The inbox rows of these events (encrypted payload, pseudonym), for ``insert_events``."""
    rows = []
    for ev in events:
        event_id = ev.event_id or uuid.uuid4().hex  # no platform id: cannot dedupe, but never lose it
        if len(event_id) > EVENT_ID_MAX:  # still unique, and fits the column
            event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        rows.append(dict(zip(_ROW_COLUMNS, (ev.channel, event_id, crypto.pseudonym(ev.channel, ev.user_id), PENDING,
                                            crypto.encrypt(ev.to_json(), payload_aad(ev.channel, event_id)), 0, now))))
    return rows


def insert_events(conn: Connection, calls: list[list[dict]], notify_channel: str | None = None) -> list[int]:
    """Store each row once (unique channel + event id); returns how many rows of each list were
    new. The lists are the deliveries of one group commit (``GroupCommit``).

    One statement for the whole commit: executemany with RETURNING, which SQLAlchemy sends as one
    multi-row INSERT ... ON CONFLICT DO NOTHING from a cached statement. An event in two lists
    (redelivered while the first was waiting) counts for the first. On SQLite the store runs
    ``insert_events_sqlite3`` instead.
    """
    rows = [row for call in calls for row in call]
    if not rows:
        return [0] * len(calls)
    new = {tuple(row) for row in conn.execute(_ACCEPT[conn.dialect.name], rows)}
    counts = []
    for call in calls:
        count = 0
        for row in call:
            key = (row["channel"], row["event_id"])
            if key in new:
                new.discard(key)
                count += 1
        counts.append(count)
    if sum(counts) and notify_channel:
        notify_sync(conn, notify_channel)
    return counts


def insert_events_sqlite3(driver: sqlite3.Connection, calls: list[list[dict]]) -> list[int]:
    """``insert_events`` on the ``sqlite3`` connection (``Store.run_batches(..., on_sqlite3=)``):
    the driver's executemany, each list counted by the connection's changes (a row already there
    changes nothing). SQLite has no NOTIFY: the worker in this process is woken by the runtime."""
    counts = []
    for rows in calls:
        before = driver.total_changes
        driver.executemany(_SQLITE_ACCEPT, rows)
        counts.append(driver.total_changes - before)
    return counts


class GroupCommit:
    """The inbox commits of concurrent ``add`` calls (deliveries, from any channel).

    Under load the platforms send many deliveries at once; a transaction each would queue them
    all on the database's write lock (SQLite has one writer), each with its own fsync. Here each
    commit takes every delivery that arrived while the one before ran (up to
    ``MAX_COMMIT_EVENTS`` events): one delivery alone is committed at once, a burst in a few
    transactions. On SQLite one committer runs them back to back in the writer thread
    (``Store.run_batches``); on PostgreSQL up to ``in_flight`` run side by side. Each ``add`` is
    answered after the commit that holds its events, or with that commit's error.
    """

    def __init__(self, store: "Store", crypto: Crypto, *, notify_channel: str | None = None,
                 on_commit: Callable[[int, int], None] | None = None, in_flight: int | None = None):
        self.store = store
        self.crypto = crypto
        self.notify_channel = notify_channel
        self.on_commit = on_commit            # (events, how many were new) after each commit
        self.in_flight = in_flight or (4 if store.is_postgres else 1)
        # Appended on the event loop, taken in the writer thread: a deque is safe for that.
        self._waiting: collections.deque[_Delivery] = collections.deque()
        self._committers: set[asyncio.Task] = set()

    def add(self, events: Sequence[InboundEvent], now: float) -> asyncio.Future:
        """A future of how many of ``events`` were new, done when they are committed."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append((events, now, done))
        if len(self._committers) < self.in_flight:
            self._start_committer()
        return done

    def _start_committer(self) -> None:
        task = asyncio.get_running_loop().create_task(self._commit_waiting())
        self._committers.add(task)
        task.add_done_callback(self._committer_ended)

    def _committer_ended(self, task: asyncio.Task) -> None:
        # Its finally (below) has left the set already, unless it was cancelled before it ever
        # ran; a committer that was cancelled may leave deliveries that nobody else will take.
        self._committers.discard(task)
        if self._waiting and len(self._committers) < self.in_flight and not task.get_loop().is_closed():
            self._start_committer()

    async def idle(self, timeout: float = IDLE_TIMEOUT) -> bool:
        """Until the commits under way have ended (before the store is closed), at most
        ``timeout`` seconds; False if some were still running then."""
        deadline = asyncio.get_running_loop().time() + timeout
        while running := [task for task in self._committers if not task.done()]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(running, timeout=left)
        return True

    async def _commit_waiting(self) -> None:
        try:
            with sqlite_busy_timeout(SQLITE_WEBHOOK_BUSY_SECONDS):
                while self._waiting:
                    try:
                        await self.store.run_batches(self._take, self._write, self._settle,
                                                     on_sqlite3=self._write_sqlite3, urgent=True)
                    except Exception as exc:  # no writer turn: what waits now fails with it
                        while (batch := self._take()) is not None:
                            self._settle(batch, None, exc)
        finally:
            # In the same step as the last look at the queue: a delivery added from the next
            # callback on must see this committer gone and start another (a done-callback
            # would run after that callback, and the delivery would wait for nobody).
            self._committers.discard(asyncio.current_task())

    def _take(self) -> "list[_Delivery] | None":
        batch, size = [], 0
        waiting = self._waiting
        while waiting and (not batch or size + len(waiting[0][0]) <= MAX_COMMIT_EVENTS):
            try:
                delivery = waiting.popleft()
            except IndexError:
                break
            batch.append(delivery)
            size += len(delivery[0])
        return batch or None

    def _rows(self, batch: "list[_Delivery]") -> list[list[dict]]:
        return [event_rows(self.crypto, events, now) for events, now, _ in batch]

    def _write(self, conn: Connection, batch: "list[_Delivery]") -> list[int]:
        return insert_events(conn, self._rows(batch), self.notify_channel)

    def _write_sqlite3(self, driver: sqlite3.Connection, batch: "list[_Delivery]") -> list[int]:
        return insert_events_sqlite3(driver, self._rows(batch))

    def _settle(self, batch: "list[_Delivery]", counts: list[int] | None, error: BaseException | None) -> None:
        for n, (_, _, done) in enumerate(batch):
            if done.done():  # settled already (Runtime.accept shields it from its callers)
                continue
            if error is None:
                done.set_result(counts[n])
            else:
                done.set_exception(error)
        if error is None and self.on_commit is not None:
            self.on_commit(sum(len(events) for events, _, _ in batch), sum(counts))


def _claim_rows_statement(postgres: bool):
    earlier = _T.alias("earlier")
    stmt = (
        select(_T.c.id, _T.c.channel, _T.c.event_id, _T.c.pseudonym, _T.c.payload_enc, _T.c.accepted_at)
        .where(_T.c.status == IS_PENDING)
        .where(~exists().where(and_(earlier.c.pseudonym == _T.c.pseudonym,
                                    earlier.c.status == IS_PENDING, earlier.c.id < _T.c.id)))
        .order_by(_T.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return stmt.with_for_update(skip_locked=True, of=_T) if postgres else stmt


CLAIM_ROWS = {True: _claim_rows_statement(True), False: _claim_rows_statement(False)}


def claim_rows(conn: Connection, limit: int) -> list:
    """Up to ``limit`` events (id, channel, event_id, pseudonym, payload_enc, accepted_at), each the oldest pending
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

