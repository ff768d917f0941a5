"""Live updates between the parts of the server: the console's screens and the open web chats.

A message is a small JSON object on a topic. Console messages carry only ids and a word of what
changed ("queue", "handoff"); the screen then reads the store. Web chat deliveries carry the
outbound sealed (NOTIFY payloads pass through the database server's memory).

Within one process (SQLite deployments, the demo, tests) a message goes straight to the
subscribers. On PostgreSQL it goes through the store's NOTIFY (``Store.publish``) on one
channel, split into chunks below NOTIFY's 8,000-byte limit, and every process, this one
included, hands what it hears (``Store.listen``) to its own subscribers: a counsellor's console
on one web process sees a message a worker process handled, with no other broker.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger(__name__)

PG_CHANNEL = "bot_live"
CHUNK = 7000  # bytes of one NOTIFY payload (the server's limit is 8,000)
QUEUE_LIMIT = 200  # messages kept for a slow subscriber before the oldest are dropped
MAX_PARTS = 1000   # messages being reassembled at once (parts of a lost message are dropped past it)


class Subscription:
    def __init__(self, bus: "LiveBus", topic: str):
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
        self.bus._unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveBus:
    """Publish/subscribe for this process; through ``store`` between processes (PostgreSQL).
    ``start`` listens (call it once the event loop runs), ``stop`` stops listening."""

    def __init__(self, store=None):
        self.store = store if store is not None and store.is_postgres else None
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._parts: dict[str, list[str | None]] = {}
        self._unlisten: Callable[[], None] | None = None

    def subscribe(self, topic: str) -> Subscription:
        sub = Subscription(self, topic)
        self._subs[topic].add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs[sub.topic].discard(sub)
        if not self._subs[sub.topic]:
            del self._subs[sub.topic]

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._subs.get(topic))

    def _dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub.put(message)

    async def start(self) -> None:
        if self.store is not None and self._unlisten is None:
            self._unlisten = self.store.listen(PG_CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        if self.store is None:
            self._dispatch(topic, message)
            return
        text = json.dumps(message, separators=(",", ":"))
        mid = secrets.token_hex(6)
        room = CHUNK - len(topic.encode()) - 40
        # Split by characters so that no chunk goes over the limit in bytes (JSON here is ASCII).
        chunks = [text[i:i + room] for i in range(0, len(text), room)] or [""]
        try:
            for i, chunk in enumerate(chunks):
                await self.store.publish(PG_CHANNEL, f"{mid} {i} {len(chunks)} {topic}|{chunk}")
        except Exception as exc:  # the database is down: deliver here now, the others catch up on reconnect
            log.warning("bus.publish_failed", extra={"code": type(exc).__name__})
            self._dispatch(topic, message)

    def _on_notify(self, payload: str) -> None:
        if not payload:  # the listener reconnected ("look now"): nothing to show
            return
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
            if mid not in self._parts and len(self._parts) >= MAX_PARTS:
                self._parts.pop(next(iter(self._parts)))
            parts = self._parts.setdefault(mid, [None] * count)
            if not 0 <= index < len(parts):
                log.warning("bus.bad_notify")
                return
            parts[index] = body
            if any(p is None for p in parts):
                return
            del self._parts[mid]
            text = "".join(parts)  # type: ignore[arg-type]
        try:
            self._dispatch(topic, json.loads(text))
        except ValueError:
            log.warning("bus.bad_notify")
