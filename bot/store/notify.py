"""PostgreSQL LISTEN/NOTIFY: how processes wake each other (no other broker).

One ``Listener`` per store: one connection and one loop for every channel the process listens
on (the worker's inbox, the sender's outbox, the live updates of the console and the web chat),
reconnecting after a lost connection: noticed at once (asyncpg's termination listener; a ping
every ``PING_SECONDS`` for a connection that died silently), retried every 0.25 s doubling to
``RECONNECT_MAX``, and after each reconnection every callback is called once with ``""`` (what
was published meanwhile is lost: the callers look for themselves). ``publish`` sends at once; a NOTIFY issued inside a
transaction (``notify_sync``, ``notify``) is delivered when that transaction commits. On SQLite
there is one process: nothing to listen to, and the callers wake their own parts.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Callable

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

RECONNECT_FIRST = 0.25
RECONNECT_MAX = 2.0   # the worker and the sender hear of the database's return within 2 s
PING_SECONDS = 5.0
_NOTIFY = text("SELECT pg_notify(:c, :p)")
INBOX_CHANNEL = "bot_inbox"    # the worker's: events were accepted
OUTBOX_CHANNEL = "bot_outbox"  # the sender's: replies were queued

Callback = Callable[[str], None]  # called with the payload, on the event loop


class Listener:
    """The process's one LISTEN connection (PostgreSQL). ``listen`` adds a callback for a channel
    (and starts the loop on first use); the function it returns removes it."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)
        self._task: asyncio.Task | None = None
        self._connection = None       # the driver's connection while connected
        self._listening: set[str] = set()
        self._lock = asyncio.Lock()   # asyncpg runs one operation at a time on a connection
        self._changed = asyncio.Condition()

    def listen(self, channel: str, callback: Callback) -> Callable[[], None]:
        self._callbacks[channel].append(callback)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store-listen")
        elif self._connection is not None and channel not in self._listening:
            asyncio.get_running_loop().create_task(self._add(channel))

        def unlisten() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks[channel].remove(callback)

        return unlisten

    def _dispatch(self, _connection, _pid, channel: str, payload: str) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(payload)
            except Exception as exc:  # one listener's bug must not silence the others
                log.error("store.listen_callback_failed", extra={"code": type(exc).__name__})

    async def _add(self, channel: str) -> None:
        async with self._lock:
            connection = self._connection
            if connection is not None and channel not in self._listening:
                await connection.add_listener(channel, self._dispatch)
                self._listening.add(channel)
        async with self._changed:
            self._changed.notify_all()

    async def listening(self, channel: str) -> None:
        """Until the LISTEN on ``channel`` is in place (what was published before may be missed)."""
        async with self._changed:
            await self._changed.wait_for(lambda: channel in self._listening)

    async def _run(self) -> None:
        pause, away = RECONNECT_FIRST, False
        while True:
            try:
                async with self._engine.connect() as conn:
                    self._connection = (await conn.get_raw_connection()).driver_connection
                    self._listening = set()
                    lost = asyncio.Event()
                    self._connection.add_termination_listener(lambda _c: lost.set())
                    try:
                        for channel in list(self._callbacks):
                            await self._add(channel)
                        pause = RECONNECT_FIRST
                        if away:  # NOTIFYs sent while we were away are gone: look now
                            away = False
                            log.info("store.listen_back")
                            for channel in list(self._callbacks):
                                self._dispatch(None, 0, channel, "")
                        while not lost.is_set():
                            with contextlib.suppress(TimeoutError):
                                async with asyncio.timeout(PING_SECONDS):
                                    await lost.wait()
                            async with self._lock:  # also notices a connection that died silently
                                await self._connection.execute("SELECT 1")
                        raise ConnectionError("the LISTEN connection was closed")
                    finally:
                        connection, self._connection = self._connection, None
                        for channel in self._listening:
                            with contextlib.suppress(Exception):
                                await connection.remove_listener(channel, self._dispatch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not away:
                    log.warning("store.listen_lost", extra={"code": type(exc).__name__})
                away = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


async def publish(engine: AsyncEngine, channel: str, payload: str) -> None:
    """NOTIFY now, outside any transaction (PostgreSQL)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(_NOTIFY, {"c": channel, "p": payload})


def notify_sync(conn: Connection, channel: str) -> None:
    """NOTIFY ``channel`` when this transaction commits (PostgreSQL; nothing on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"c": channel, "p": ""})


async def notify(session: AsyncSession | AsyncConnection, channel: str) -> None:
    """``notify_sync`` in an async session or connection."""
    dialect = getattr(session, "dialect", None) or session.bind.dialect
    if dialect.name == "postgresql":
        await session.execute(_NOTIFY, {"c": channel, "p": ""})
