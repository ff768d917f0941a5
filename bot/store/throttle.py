"""Limits that every process shares, counted in the database (``throttle_hits``).

A hit is one counted attempt under a key: a failed login for a name from an address, any failed
login from an address, a handoff opened from an address. Keys are keyed hashes made by the
caller (``Crypto.pseudonym``), never a name or an address. Hits older than ``KEEP_SECONDS`` are
deleted as new ones are written and by the hourly purge, so the table stays small.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ThrottleHit

KEEP_SECONDS = 86_400.0  # longer than any window that reads the table


@dataclass(frozen=True)
class Count:
    hits: int
    last_at: float | None


_T = ThrottleHit.__table__


def count_sync(conn: Connection, key: str, since: float) -> Count:
    """Hits under ``key`` at or after ``since``, and when the newest was."""
    n, last = conn.execute(select(func.count(), func.max(_T.c.at)).where(_T.c.key == key, _T.c.at >= since)).one()
    return Count(int(n), last)


async def count(s: AsyncSession, key: str, since: float) -> Count:
    return await s.run_sync(lambda sync: count_sync(sync.connection(), key, since))


def hit_many(conn: Connection, keys: list[str], now: float) -> None:
    if keys:
        conn.execute(insert(_T), [{"key": k, "at": now} for k in keys])


async def hit(s: AsyncSession, key: str, now: float) -> None:
    await s.run_sync(lambda sync: hit_many(sync.connection(), [key], now))


async def clear(s: AsyncSession, key: str) -> None:
    await s.execute(delete(ThrottleHit).where(ThrottleHit.key == key))


async def prune(s: AsyncSession, now: float, keep_seconds: float = KEEP_SECONDS) -> int:
    result = await s.execute(delete(ThrottleHit).where(ThrottleHit.at < now - keep_seconds))
    return result.rowcount or 0
