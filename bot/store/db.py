"""The database engine and transactions, for SQLite (embedded default) and PostgreSQL.

SQLite: the stdlib driver does not begin a transaction before a SELECT, so a read-modify-write
can silently lose updates. We switch its own transaction handling off (``isolation_level=None``)
and emit ``BEGIN IMMEDIATE`` ourselves, so every transaction takes the write lock up front and
really serialises (SQLAlchemy's SQLite dialect docs, "Serializable isolation"). WAL lets readers
go on meanwhile. ``synchronous=FULL``: an accepted event survives a power cut, not only a crash.

PostgreSQL: READ COMMITTED. The inbox queue uses ``FOR UPDATE SKIP LOCKED`` and offers only a
conversation's oldest pending event, so one conversation never has two turns in flight; the
conversation row is locked ``FOR UPDATE`` for the turn, which also orders it with the console's
writes.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator, Callable, TypeVar

T = TypeVar("T")
B = TypeVar("B")

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


from .crypto import Crypto
from .notify import Listener, publish
from .unavailable import (  # noqa: F401 - StoreUnavailable and is_unavailable are imported from here
    StoreUnavailable, _unreachable_as_store_unavailable, is_unavailable, store_error)
from .writer_queue import WriterQueue  # noqa: F401 - tests import it from here

log = logging.getLogger(__name__)


# How long a write waits for another *process* holding SQLite's write lock. That wait happens
# in the driver's thread and cannot be cancelled, so the webhook path (``Runtime.accept``) asks
# for a short one with ``sqlite_busy_timeout``: it bounds how late a webhook learns the database
# is stuck (LINE wants its answer within 2 s). Writers of this process queue on an asyncio lock
# instead (cancellable, FIFO), for up to SQLITE_QUEUE_SECONDS.
SQLITE_BUSY_SECONDS = 10.0
SQLITE_WEBHOOK_BUSY_SECONDS = 1.5
SQLITE_QUEUE_SECONDS = 10.0
SQLITE_JOURNAL_SIZE_LIMIT = 1 << 20  # bytes of WAL kept after a checkpoint
BATCHES_PER_TURN = 8  # commits in one writer turn of ``Store.run_batches`` before others get theirs
_busy_ms: contextvars.ContextVar[int] = contextvars.ContextVar("sqlite_busy_ms", default=int(SQLITE_BUSY_SECONDS * 1000))


@contextlib.contextmanager
def sqlite_busy_timeout(seconds: float):
    """Transactions begun inside this block wait at most ``seconds`` for another process."""
    token = _busy_ms.set(int(seconds * 1000))
    try:
        yield
    finally:
        _busy_ms.reset(token)
PG_CONNECT_SECONDS = 3.0

def _sqlite_engine(url: str, **kwargs) -> AsyncEngine:
    path = make_url(url).database
    if path and path != ":memory:":
        # A folder or file that cannot be made surfaces as StoreUnavailable on first use, not here.
        with contextlib.suppress(OSError):
            make_private_file(Path(path))
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, **kwargs)
    _sqlite_discipline(engine.sync_engine)
    return engine


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private_file(path: Path) -> None:
    """The database's folder (0700 when made here) and file (0600): only the bot's user reads
    them. SQLite gives its -wal and -shm files the database file's mode. An existing file that
    others could read is closed to them."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for p in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)


def _sqlite_thread_engine(url: str) -> Engine | None:
    """The same database file through the standard driver, for ``Store.run`` (None for ":memory:",
    which would be another database)."""
    sync_url = make_url(url).set(drivername="sqlite")
    if not sync_url.database or sync_url.database == ":memory:":
        return None
    # One connection, only ever used by the store's one writer thread.
    engine = create_engine(sync_url, poolclass=SingletonThreadPool, pool_size=1,
                           connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False})
    _sqlite_discipline(engine)
    return engine


def _sqlite_discipline(engine: Engine) -> None:
    """WAL, full fsync, BEGIN IMMEDIATE on every transaction (see the module docstring)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from the driver (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Overwrite deleted content with zeros: belt and braces, everything sensitive is encrypted.
        cursor.execute("PRAGMA secure_delete=ON")
        # After a checkpoint the WAL shrinks back to this size, instead of keeping old pages.
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        _begin_immediate(conn.connection.info, conn.exec_driver_sql)


def _begin_immediate(info: dict, execute: Callable[[str], object]) -> None:
    """BEGIN IMMEDIATE under this context's busy timeout (``sqlite_busy_timeout``); ``info``
    lives as long as the driver connection and remembers the timeout it has."""
    _apply_busy_timeout(info, execute)
    execute("BEGIN IMMEDIATE")


def _apply_busy_timeout(info: dict, execute: Callable[[str], object]) -> None:
    want = _busy_ms.get()
    if info.get("busy_ms") != want:
        execute(f"PRAGMA busy_timeout={want}")
        info["busy_ms"] = want


def _postgres_engine(url: str, schema: str | None, **kwargs) -> AsyncEngine:
    connect_args: dict = {"timeout": PG_CONNECT_SECONDS}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_timeout=PG_CONNECT_SECONDS,
                               **kwargs)


class Store:
    """One engine, one session factory and the keys. Share one per process.

    ``schema`` (PostgreSQL only) puts every table in that schema; tests use a fresh one per run.
    """

    def __init__(self, url: str, secret: bytes | list[bytes], *, schema: str | None = None, **engine_kwargs):
        self.url = url
        self.crypto = Crypto(secret)  # one key, or the ring (newest first)
        self.schema = schema
        backend = make_url(url).get_backend_name()
        self._thread_engine: Engine | None = None
        if backend == "sqlite":
            self.engine = _sqlite_engine(url, **engine_kwargs)
            self._thread_engine = _sqlite_thread_engine(url)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        elif backend == "postgresql":
            self.engine = _postgres_engine(url, schema, **engine_kwargs)
        else:
            raise ValueError(f"DATABASE_URL: unsupported database {backend!r}; use postgresql:// or leave it empty for SQLite")
        self.dialect = backend
        self.listener = Listener(self.engine) if backend == "postgresql" else None
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Set once ``upgrade`` has brought the schema up to date in this process: background jobs
        # that start with the server wait for it instead of failing on missing tables.
        self.schema_ready = asyncio.Event()
        # SQLite has one writer at a time. Inside a process, writers wait their turn here, in
        # order, instead of in SQLite's busy handler, which polls with growing sleeps (measured:
        # p99 accept-to-reply of seconds at 50 events/s without this). Other processes still
        # meet at BEGIN IMMEDIATE.
        self._sqlite_turn = WriterQueue() if backend == "sqlite" else None
        # Since when the database could not be reached or written (disk full, read-only, a lost
        # connection) and why, until a write succeeds again (``writable``): for /readyz.
        self.write_failure: tuple[float, str] | None = None

    def _failed(self, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
        if self.write_failure is None:  # the first failure says since when, and what it was
            self.write_failure = (time.monotonic(), type(cause).__name__)

    @classmethod
    def from_settings(cls, settings, **kwargs) -> "Store":
        return cls(settings.db_url, settings.secret_keys(), **kwargs)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on error.

        A database that cannot be reached raises ``StoreUnavailable``; other errors pass through.
        """
        async with _unreachable_as_store_unavailable(self._failed), self._writer_turn(urgent):
            async with self.sessions() as session, session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def connection(self, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """``transaction`` without the ORM: a Core connection inside one transaction. For the hot
        paths (the webhook, the worker's batches, the sender), where an ORM session's unit of
        work cost more than the SQL it ran."""
        async with _unreachable_as_store_unavailable(self._failed), self._writer_turn(urgent):
            async with self.engine.begin() as conn:
                yield conn

    async def run(self, fn: Callable[..., T], *args, urgent: bool = False) -> T:
        """``fn(connection, *args)`` inside one transaction (committed if it returns), as one call.

        For the hot paths whose statements are few and plain (the turn batches, the sender's
        lease and settle; the inbox's group commits use ``run_batches``). On SQLite the whole transaction runs in the store's writer
        thread through the standard driver: one hand-over between the event loop and the thread,
        where the async driver makes one per statement, cursor and commit (under load each waits
        for the busy event loop: that was most of an acknowledgement's time). On PostgreSQL it
        runs through the async engine (``run_sync``): the same SQL, the same code.
        """
        async with _unreachable_as_store_unavailable(self._failed), self._writer_turn(urgent):
            if self._thread_engine is None:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn, *args)
            return await self._in_writer_thread(self._run_in_thread, fn, args)

    async def _in_writer_thread(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` in the writer thread, in this context (the busy timeout). A caller that
        is cancelled still waits for it: the transaction goes on in its thread, and the writer
        turn the caller holds must stay taken until it ends."""
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        done = asyncio.get_running_loop().run_in_executor(self._thread, call)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            await asyncio.wait([done])
            raise

    async def run_batches(self, take: Callable[[], B | None], write: Callable[[Connection, B], T],
                          settle: Callable[[B, T | None, BaseException | None], None], *,
                          on_sqlite3: Callable[[sqlite3.Connection, B], T] | None = None,
                          urgent: bool = False, limit: int = BATCHES_PER_TURN) -> None:
        """Transactions one after another while ``take()`` finds a batch, at most ``limit``:
        each runs ``write(connection, batch)`` and is then settled on the event loop,
        ``settle(batch, result, None)`` after its commit or ``settle(batch, None, error)`` after
        its rollback (``StoreUnavailable`` when the database cannot be reached). A failed batch
        ends the series.

        For the inbox's group commit. On SQLite, with ``on_sqlite3`` (the same work written for
        the ``sqlite3`` connection itself), the series runs in the writer thread within one writer
        turn, from one commit straight to the next, each between a BEGIN IMMEDIATE and a COMMIT of
        the store's own. Measured under a burst of webhooks: coming back to the busy event loop
        between commits cost 1-1.5 ms each, longer than the commit, and SQLAlchemy's work around
        one small transaction cost more CPU than its statement. ``take`` then runs in that thread,
        so it may only pop from a queue that is safe across threads (``collections.deque``).
        """
        loop = asyncio.get_running_loop()
        async with _unreachable_as_store_unavailable(self._failed), self._writer_turn(urgent):
            if self._thread_engine is None or on_sqlite3 is None:
                for _ in range(limit):
                    batch = take()
                    if batch is None:
                        return
                    try:
                        async with self.engine.begin() as conn:
                            result = await conn.run_sync(write, batch)
                    except Exception as exc:
                        settle(batch, None, store_error(exc, self._failed))
                        return
                    settle(batch, result, None)
                return

            def settle_on_loop(batch, result, error):
                settle(batch, result, None if error is None else store_error(error, self._failed))

            def series() -> None:  # in the writer thread
                for _ in range(limit):
                    batch = take()
                    if batch is None:
                        return
                    try:
                        result = self._run_on_sqlite3(on_sqlite3, (batch,))
                    except Exception as exc:
                        loop.call_soon_threadsafe(settle_on_loop, batch, None, exc)
                        return
                    loop.call_soon_threadsafe(settle_on_loop, batch, result, None)

            await self._in_writer_thread(series)

    def _run_in_thread(self, fn: Callable[..., T], args: tuple) -> T:
        with self._thread_engine.begin() as conn:
            return fn(conn, *args)

    def _run_on_sqlite3(self, fn: Callable[..., T], args: tuple) -> T:
        """In the writer thread: ``fn(sqlite3_connection, *args)`` in a transaction of our own.
        The driver's errors come out as SQLAlchemy's, as from ``fn`` on the engine, so that a
        locked or broken database still reads as unavailable."""
        try:
            pooled = self._thread_engine.raw_connection()  # the thread's one connection, pragmas set
            try:
                driver = pooled.driver_connection
                _begin_immediate(pooled.info, driver.execute)
                try:
                    result = fn(driver, *args)
                    driver.execute("COMMIT")
                except BaseException:
                    if driver.in_transaction:
                        driver.execute("ROLLBACK")
                    raise
                return result
            finally:
                pooled.close()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(None, None, exc, sqlite3.Error, hide_parameters=True) from exc

    @staticmethod
    def session_on(conn: AsyncConnection) -> AsyncSession:
        """An ORM session inside ``conn``'s transaction: its savepoints are its own, the commit is
        the connection's. Close it before the connection's block ends."""
        return AsyncSession(bind=conn, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def _writer_turn(self, urgent: bool = False) -> AsyncIterator[None]:
        if self._sqlite_turn is None:
            yield
            return
        try:
            # Not wait_for: on Python 3.11 it returns the turn to a caller cancelled just as it was
            # granted, swallowing the cancellation; a loop that runs until cancelled (the
            # handoff watch) then never ended, and a server's shutdown waited for it forever.
            async with asyncio.timeout(SQLITE_QUEUE_SECONDS):
                await self._sqlite_turn.acquire(urgent)
        except TimeoutError:
            raise StoreUnavailable("the database stayed busy") from None
        try:
            yield
        finally:
            self._sqlite_turn.release()

    async def checkpoint_wal(self) -> bool:
        """SQLite: copy the WAL into the database file and truncate it to zero bytes, so that
        the pages of deleted rows (zeroed in the file by ``secure_delete``) no longer linger in
        the WAL. Called after "forget me" and after a purge. False when a reader kept it from
        finishing (the next one will); True on PostgreSQL, which has no such file (see
        docs/STORE.md on VACUUM)."""
        if self._thread_engine is None:
            return True

        def checkpoint() -> bool:  # outside any transaction (the driver's autocommit mode)
            pooled = self._thread_engine.raw_connection()
            try:
                driver = pooled.driver_connection
                _apply_busy_timeout(pooled.info, driver.execute)
                busy, _log, _done = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                return busy == 0
            finally:
                pooled.close()

        try:
            async with self._writer_turn():
                with sqlite_busy_timeout(SQLITE_WEBHOOK_BUSY_SECONDS):
                    done = await self._in_writer_thread(checkpoint)
        except Exception as exc:  # never fails the caller: the data is deleted already
            log.warning("store.checkpoint_failed", extra={"code": type(exc).__name__})
            return False
        if not done:
            log.info("store.checkpoint_busy")
        return done

    async def ping(self) -> bool:
        try:
            async with self.transaction() as s:
                await s.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def writable(self) -> str | None:
        """None when writes work; else why not. After a failure (``write_failure``) it writes
        one row in place to learn whether writing works again; a read (``ping``) cannot tell,
        as a full disk or a read-only database still answers SELECT."""
        if self.write_failure is None:
            return None
        try:
            async with self.transaction() as s:
                await s.execute(_WRITE_PROBE)
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                self._failed(exc)  # a read-only PostgreSQL, say: still not writable
        else:
            self.write_failure = None
            log.info("store.writable")
            return None
        since, code = self.write_failure
        return f"writes failing for {time.monotonic() - since:.0f} s ({code})"

    async def upgrade(self) -> None:
        """Bring the schema to the newest revision (Alembic). Safe to run from several processes."""
        from .migrate import upgrade_connection

        try:
            async with self.engine.connect() as conn:
                await conn.run_sync(upgrade_connection, self.schema)
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("the database cannot be reached") from exc
            raise
        self.schema_ready.set()

    async def wait_for_schema(self, timeout: float = 60.0) -> None:
        """Until ``upgrade`` has run in this process, at most ``timeout`` seconds (another
        process may own the migrations: then go on and let the database answer)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for (see _writer_turn)
                await self.schema_ready.wait()

    def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """PostgreSQL LISTEN: ``callback(payload)`` on each NOTIFY on ``channel``, on this
        process's one listening connection (``notify.Listener``), until the function returned is
        called. Nothing on SQLite (one process: its parts wake each other directly)."""
        if self.listener is None:
            return lambda: None
        return self.listener.listen(channel, callback)

    async def listening(self, channel: str) -> None:
        """Until this process's LISTEN on ``channel`` is in place (PostgreSQL; at once on SQLite):
        a NOTIFY sent from then on reaches it."""
        if self.listener is not None:
            await self.listener.listening(channel)

    async def publish(self, channel: str, payload: str = "") -> None:
        """PostgreSQL NOTIFY, now; nothing on SQLite."""
        if self.is_postgres:
            async with _unreachable_as_store_unavailable():
                await publish(self.engine, channel, payload)

    async def dispose(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        await self.engine.dispose()
        if self._thread_engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._thread_engine.dispose)


def next_ids(conn: Connection, table, count: int) -> list[int]:
    """``count`` new ids for ``table`` (an auto-increment ``id``), before its rows are inserted:
    a sealed value names its row in its associated data, so the id must be known first.

    PostgreSQL: from the column's sequence (safe beside any other transaction). SQLite: after
    the largest id, as SQLite itself would number them; safe because every transaction holds the
    write lock from its start (BEGIN IMMEDIATE). Rows of this transaction added through the ORM
    must be flushed before the next call."""
    if count <= 0:
        return []
    name = table.name
    if conn.dialect.name == "postgresql":
        return sorted(conn.execute(_NEXTVAL, {"t": name, "n": count}).scalars().all())
    sql = f'SELECT max(id) FROM "{name}"'
    driver = conn.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):  # Store.run's thread: the driver's cursor is 6 µs, SQLAlchemy's 20-40
        last = driver.execute(sql).fetchone()[0]
    else:
        last = conn.exec_driver_sql(sql).scalar()
    last = last or 0
    return list(range(last + 1, last + 1 + count))


# Rewrites the one row with itself: a real write (a WAL frame, a new row version), and a table
# every migrated database has.
_WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num")
_NEXTVAL = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")


async def next_id(session: AsyncSession, table) -> int:
    """``next_ids`` for one row, inside an ORM session's transaction."""
    return (await session.run_sync(lambda sync: next_ids(sync.connection(), table, 1)))[0]
