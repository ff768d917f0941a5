"""The store's commands: ``python -m bot db upgrade``, ``purge``, ``audit verify``, ``keys rotate``.

Each opens the store from the settings, brings its schema up to date, does its work and closes
it; a database that cannot be reached is said in one line (exit status 1).
"""
from __future__ import annotations

import asyncio
import sys
from typing import Awaitable, Callable, TypeVar

from . import audit, keys, retention
from .db import Store, StoreUnavailable
from .migrate import head_revision

T = TypeVar("T")
UNREACHABLE = 1


def with_store(settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """``work(store)`` on a migrated store, closed after; raises ``StoreUnavailable``."""

    async def go() -> T:
        store = Store.from_settings(settings)
        try:
            await store.upgrade()
            return await work(store)
        finally:
            await store.dispose()

    return asyncio.run(go())


def _unreachable(exc: StoreUnavailable) -> int:
    print(f"database: {exc} (DATABASE_URL or BOT_DATA_DIR)", file=sys.stderr)
    return UNREACHABLE


def run_upgrade(settings) -> int:
    """``python -m bot db upgrade``."""

    async def nothing(_store: Store) -> None:
        return None

    try:
        with_store(settings, nothing)
    except StoreUnavailable as exc:
        return _unreachable(exc)
    print(f"database schema is at {head_revision()}")
    return 0


def run_purge(settings) -> int:
    """``python -m bot purge``: the retention rules, now."""
    try:
        counts = with_store(settings, lambda store: retention.purge(store, settings))
    except StoreUnavailable as exc:
        return _unreachable(exc)
    print("deleted: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def run_verify(settings) -> int:
    """``python -m bot audit verify``: 0 when the chain is intact, 1 (and which row) when not,
    2 when the database cannot be reached."""
    try:
        verdict = with_store(settings, audit.verify)
    except StoreUnavailable as exc:
        return _unreachable(exc) + 1
    if verdict.intact:
        print(f"audit log: {verdict.rows} rows, chain intact; head {verdict.head}")
        return 0
    print(f"audit log: row {verdict.broken_at} {verdict.reason}; the {verdict.rows - 1} rows before it check out",
          file=sys.stderr)
    return 1


def run_rotate(settings) -> int:
    """``python -m bot keys rotate``."""
    try:
        report = with_store(settings, keys.rotate)
    except StoreUnavailable as exc:
        return _unreachable(exc)
    print(report.line())
    if len(settings.secret_keys()) > 1:
        print(f"Keep the older keys in BOT_SECRET_KEYS for {settings.conversation_retention_days} days "
              "(BOT_CONVERSATION_RETENTION_DAYS): conversations whose person has not written since are "
              "re-keyed when they do, or deleted by the purge.")
    return 1 if any(report.unreadable.values()) else 0
