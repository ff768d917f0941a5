"""Live updates between the parts of the server: the console's screens and the open web chats.

``LocalBus`` works inside one process (SQLite deployments, the demo, tests). ``PostgresBus``
carries the same messages between processes with PostgreSQL's LISTEN/NOTIFY, so a counsellor's
console on one web process sees a message a worker process handled, with no other broker.

A message is a small JSON object on a topic. Console messages carry only ids and a word of what
changed ("queue", "handoff"); the screen then reads the store. Web chat deliveries carry the
outbound encrypted (NOTIFY payloads pass through the database server's memory), split into
chunks below NOTIFY's 8,000-byte limit.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)

PG_CHANNEL = "bot_live"
CHUNK = 7000  # bytes of one NOTIFY payload (the server's limit is 8,000)
RECONNECT_SECONDS = 5.0
QUEUE_LIMIT = 200  # messages kept for a slow subscriber before the oldest are dropped


class Subscription:
    def __init__(self, bus: "LocalBus", topic: str):
        self.bus, self.topic = bus, topic
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)

    def put(self, message: dict[str, Any]) -> None:
        if self.queue.full():  # a stuck screen must not hold memory: it reloads on reconnect
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(message)

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that lands as the message arrives, and the loop reading here would never end.
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    def close(self) -> None:
        self.bus._subs[self.topic].discard(self)
        if not self.bus._subs[self.topic]:
            del self.bus._subs[self.topic]

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalBus:
    """In-process publish/subscribe."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, topic: str) -> Subscription:
        sub = Subscription(self, topic)
        self._subs[topic].add(sub)
        return sub

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._subs.get(topic))

    def _dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub.put(message)

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self._dispatch(topic, message)

    async def start(self) -> None:
        pass

    async def keep_connected(self) -> None:
        """Runs for the life of the process; nothing to connect in process."""

    async def stop(self) -> None:
        pass


class PostgresBus(LocalBus):
    """LISTEN/NOTIFY on one channel; every process delivers what it hears to its own subscribers."""

    def __init__(self, dsn: str):
        super().__init__()
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://")
        self._listener = None
        self._sender = None
        self._lock = asyncio.Lock()
        self._parts: dict[str, list[str | None]] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        import asyncpg

        self._listener = await asyncpg.connect(self.dsn)
        await self._listener.add_listener(PG_CHANNEL, self._on_notify)
        self._sender = await asyncpg.connect(self.dsn)

    async def keep_connected(self, every: float = RECONNECT_SECONDS) -> None:
        """Listen, and listen again after the database went away. A server started while the
        database is down still starts: the screens catch up once it is back."""
        while True:
            if self._listener is None or self._listener.is_closed():
                try:
                    await self.stop()
                    await self.start()
                    log.info("bus.listening")
                except Exception as exc:
                    log.warning("bus.unavailable", extra={"error": type(exc).__name__})
            await asyncio.sleep(every)

    async def stop(self) -> None:
        for conn in (self._listener, self._sender):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._listener = self._sender = None

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            head, _, body = payload.partition("|")
            mid, index, count, topic = head.split(" ", 3)
            index, count = int(index), int(count)
        except ValueError:
            log.warning("bus.bad_notify")
            return
        if count == 1:
            text = body
        else:
            parts = self._parts.setdefault(mid, [None] * count)
            parts[index] = body
            if any(p is None for p in parts):
                return
            del self._parts[mid]
            text = "".join(parts)  # type: ignore[arg-type]
        try:
            self._dispatch(topic, json.loads(text))
        except ValueError:
            log.warning("bus.bad_notify")

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        if self._sender is None:
            # A process that only publishes (the worker) connects on first use.
            import asyncpg

            try:
                self._sender = await asyncpg.connect(self.dsn)
            except Exception as exc:  # the database is down: the screens catch up on reconnect
                log.warning("bus.publish_failed", extra={"code": type(exc).__name__})
                self._dispatch(topic, message)
                return
        text = json.dumps(message, separators=(",", ":"))
        mid = secrets.token_hex(6)
        room = CHUNK - len(topic.encode()) - 40
        # Split by characters so that no chunk goes over the limit in bytes (JSON here is ASCII).
        chunks = [text[i:i + room] for i in range(0, len(text), room)] or [""]
        try:
            async with self._lock:
                for i, chunk in enumerate(chunks):
                    await self._sender.execute("SELECT pg_notify($1, $2)", PG_CHANNEL, f"{mid} {i} {len(chunks)} {topic}|{chunk}")
        except Exception as exc:  # connection lost: reconnect on the next publish, deliver here now
            log.warning("bus.publish_failed", extra={"error": type(exc).__name__})
            with contextlib.suppress(Exception):
                await self._sender.close()
            self._sender = None
            self._dispatch(topic, message)


def make_bus(db_url: str) -> LocalBus:
    """PostgreSQL: LISTEN/NOTIFY between processes; otherwise in process."""
    if db_url.startswith(("postgresql", "postgres")):
        return PostgresBus(db_url)
    return LocalBus()
