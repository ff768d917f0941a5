"""The outbox: what to send, written in the same transaction as the turn that produced it.

Delivery happens outside any transaction (a network call must never hold the SQLite write lock
or a PostgreSQL row lock): ``claim_due`` leases the head row of each conversation for
``LEASE_SECONDS``, the sender delivers, then ``mark_sent`` / ``schedule_retry`` / ``give_up``.
A sender that dies mid-delivery leaves a lease that runs out; the row is delivered again with the
same ``Outbound.retry_key``, which the platform uses to drop the repeat (LINE's
``X-Line-Retry-Key``, Discord's message ``nonce`` with ``enforce_nonce``).
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.channels.base import Outbound

from .crypto import Crypto, DecryptError
from .inbox import IS_PENDING
from .models import FAILED, PENDING, SENT, OutboxMessage

LEASE_SECONDS = 60.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


@dataclass(frozen=True)
class Claimed:
    """A leased outbox row, decrypted for delivery (lives in memory only)."""

    id: int
    conversation_id: str
    channel: str
    kind: str
    attempts: int
    user_id: str
    outbound: Outbound


def new_retry_key() -> str:
    return uuid.uuid4().hex


async def enqueue(session: AsyncSession, crypto: Crypto, *, conversation_id: str, channel: str, user_id: str,
                  outbound: Outbound, now: float, inbox_id: int | None = None) -> OutboxMessage:
    """Add one delivery. ``outbound.retry_key`` should be set (``new_retry_key()``)."""
    row = OutboxMessage(
        conversation_id=conversation_id, channel=channel, kind=outbound.kind, status=PENDING,
        payload_enc=crypto.encrypt(outbound.to_json()), user_ref_enc=crypto.encrypt(user_id),
        inbox_id=inbox_id, attempts=0, next_attempt_at=now, leased_until=0.0, created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def claim_due(session: AsyncSession, crypto: Crypto, channels: tuple[str, ...], now: float,
                    limit: int = 32, lease: float = LEASE_SECONDS) -> list[Claimed]:
    """Lease the oldest due row of each conversation (only channels this process can deliver)."""
    if not channels:
        return []
    earlier = aliased(OutboxMessage)
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == IS_PENDING, OutboxMessage.next_attempt_at <= now,
               OutboxMessage.leased_until <= now, OutboxMessage.channel.in_(channels))
        .where(~exists().where(and_(earlier.conversation_id == OutboxMessage.conversation_id,
                                    earlier.status == IS_PENDING, earlier.id < OutboxMessage.id)))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
    rows = (await session.execute(stmt)).scalars().all()
    claimed = []
    for row in rows:
        try:
            user_id, payload = crypto.decrypt(row.user_ref_enc), crypto.decrypt(row.payload_enc)
        except DecryptError:  # written under another BOT_SECRET_KEY: can never be sent
            row.status, row.payload_enc, row.user_ref_enc = FAILED, None, None
            row.settled_at, row.reason = now, "undecryptable"
            continue
        row.leased_until = now + lease
        claimed.append(Claimed(row.id, row.conversation_id, row.channel, row.kind, row.attempts,
                               user_id, Outbound.from_json(payload)))
    return claimed


async def mark_sent(session: AsyncSession, row_id: int, now: float) -> None:
    """Settled: erase the content and the raw id, keep the row (no content) until purge."""
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.status == PENDING)
        .values(status=SENT, payload_enc=None, user_ref_enc=None, settled_at=now, leased_until=0.0,
                attempts=OutboxMessage.attempts + 1)
    )


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential with jitter: ~1 s, 2 s, 4 s ... capped at 5 minutes; never sooner than the
    platform asked (``retry_after``)."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    delay *= random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


async def schedule_retry(session: AsyncSession, row_id: int, now: float, attempts: int,
                         retry_after: float | None, reason: str) -> None:
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.status == PENDING)
        .values(attempts=attempts, next_attempt_at=now + backoff_seconds(attempts, retry_after),
                leased_until=0.0, reason=reason[:60])
    )


async def give_up(session: AsyncSession, row_id: int, now: float, attempts: int, reason: str) -> None:
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.status == PENDING)
        .values(status=FAILED, payload_enc=None, user_ref_enc=None, settled_at=now, attempts=attempts,
                leased_until=0.0, reason=reason[:60])
    )


async def count_pending(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == IS_PENDING)
    return (await session.execute(stmt)).scalar_one()
