"""The outbox: what to send, written in the same transaction as the turn that produced it.

Delivery happens outside any transaction (a network call must never hold the SQLite write lock
or a PostgreSQL row lock): ``claim_due`` leases the head row of each conversation for
``LEASE_SECONDS``, the sender delivers (renewing the lease meanwhile, ``renew``), then ``settle``
marks them sent, schedules retries or gives up; a sender that stops first ``release``s them.
A sender that dies mid-delivery leaves a lease that runs out within seconds; the row is delivered again with the
same ``Outbound.retry_key``, which the platform uses to drop the repeat (LINE's
``X-Line-Retry-Key``, Discord's message ``nonce`` with ``enforce_nonce``).

A reply token has no such key. So the lease also sets ``in_flight`` (committed before the
platform is called), and ``settle`` keeps it while an attempt's outcome is unknown (a timeout, a
5xx): the next attempt is told (``Outbound.may_have_arrived``), and LINE refusing the token then
means the earlier attempt was delivered.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from sqlalchemy import Connection, Double, Integer, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.envelope import Outbound

from .crypto import Crypto, DecryptError, where
from .db import next_id, next_ids
from .inbox import IS_PENDING
from .models import FAILED, PENDING, SENT, OutboxMessage

_O = OutboxMessage.__table__

# Short, so that a process that died holds nobody's answer for long; the sender renews the
# lease every third of it while a delivery runs (a LINE call may take 10 s, a reply then a push 20).
LEASE_SECONDS = 6.0
BACKOFF_BASE = 1.0
# Someone is waiting for each row: once LINE is back, every answer should go within ~10 s (the
# fault suite's line_500_then_429 waited 18 s with a 5-minute cap). How long the bot keeps trying
# is set by BOT_OUTBOX_MAX_ATTEMPTS (20 by default: about 2 minutes of failures, as before).
BACKOFF_CAP = 8.0


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


def row_key(conversation_id: str, inbox_id: int | None, row_id: int | None) -> str:
    """What names an outbox row in its sealed values' associated data: the conversation and the
    event that caused it (a turn's reply; known before the insert, so the quick path needs no
    statement to learn ids), else its own id (counsellors' messages and notices, whose id
    ``enqueue`` takes from ``next_id`` first)."""
    return f"{conversation_id}/{inbox_id}" if inbox_id is not None else f"{conversation_id}/#{row_id}"


def payload_aad(key: str) -> bytes:
    return where(_O.name, "payload_enc", key)


def user_ref_aad(key: str) -> bytes:
    return where(_O.name, "user_ref_enc", key)


async def enqueue(session: AsyncSession, crypto: Crypto, *, conversation_id: str, channel: str, user_id: str,
                  outbound: Outbound, now: float, inbox_id: int | None = None) -> OutboxMessage:
    """Add one delivery. ``outbound.retry_key`` should be set (``new_retry_key()``)."""
    values = outbox_row(conversation_id=conversation_id, channel=channel, user_id=user_id, outbound=outbound,
                        now=now, inbox_id=inbox_id)
    row_id = await next_id(session, _O) if inbox_id is None else None
    row = OutboxMessage(**_sealed(crypto, values, row_id))
    session.add(row)
    await session.flush()
    return row


def outbox_row(*, conversation_id: str, channel: str, user_id: str, outbound: Outbound,
               now: float, inbox_id: int | None = None) -> dict:
    """One delivery for ``enqueue_many``, not yet sealed: that needs its id (``enqueue_many``)."""
    return dict(conversation_id=conversation_id, channel=channel, kind=outbound.kind, status=PENDING,
                payload=outbound.to_json(), user_id=user_id,
                inbox_id=inbox_id, attempts=0, next_attempt_at=now, leased_until=0.0, created_at=now)


def _sealed(crypto: Crypto, values: dict, row_id: int | None) -> dict:
    """The row's values with its payload and the platform id sealed to it (and its id, when the
    row is named by it)."""
    out = {k: v for k, v in values.items() if k not in ("payload", "user_id")}
    if row_id is not None:
        out["id"] = row_id
    key = row_key(values["conversation_id"], values["inbox_id"], row_id)
    out["payload_enc"] = crypto.encrypt(values["payload"], payload_aad(key))
    out["user_ref_enc"] = crypto.encrypt(values["user_id"], user_ref_aad(key))
    return out


_ENQUEUE = insert(_O)


def enqueue_many(conn: Connection, crypto: Crypto, rows: list[dict]) -> None:
    """Add many deliveries (``outbox_row``) in one statement (executemany), inside ``Store.run``.
    The worker's replies name their event (``row_key``); others take their ids first."""
    if rows:
        ids = iter(next_ids(conn, _O, sum(1 for r in rows if r["inbox_id"] is None)))
        conn.execute(_ENQUEUE, [_sealed(crypto, values, next(ids) if values["inbox_id"] is None else None)
                                for values in rows])


def _due_statement(postgres: bool):
    earlier = _O.alias("earlier")
    stmt = (
        select(_O.c.id, _O.c.conversation_id, _O.c.channel, _O.c.kind, _O.c.attempts, _O.c.payload_enc,
               _O.c.user_ref_enc, _O.c.inbox_id, _O.c.in_flight)
        .where(_O.c.status == IS_PENDING, _O.c.next_attempt_at <= bindparam("now", type_=Double),
               _O.c.leased_until <= bindparam("now", type_=Double), _O.c.channel.in_(bindparam("channels", expanding=True)))
        .where(~exists().where(and_(earlier.c.conversation_id == _O.c.conversation_id,
                                    earlier.c.status == IS_PENDING, earlier.c.id < _O.c.id)))
        .order_by(_O.c.next_attempt_at, _O.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return stmt.with_for_update(skip_locked=True, of=_O) if postgres else stmt


DUE = {True: _due_statement(True), False: _due_statement(False)}
_LEASE = (update(_O).where(_O.c.id.in_(bindparam("ids", expanding=True)))
          .values(leased_until=bindparam("until"), in_flight=1))
_RENEW = (update(_O).where(_O.c.id.in_(bindparam("ids", expanding=True)), _O.c.status == PENDING)
          .values(leased_until=bindparam("until")))
_UNDECRYPTABLE = (update(_O).where(_O.c.id == bindparam("rid"))
                  .values(status=FAILED, payload_enc=None, user_ref_enc=None, settled_at=bindparam("at"),
                          reason="undecryptable"))


def claim_due(conn: Connection, crypto: Crypto, channels: tuple[str, ...], now: float,
              limit: int = 32, lease: float = LEASE_SECONDS) -> list[Claimed]:
    """Lease the oldest due row of each conversation (only channels this process can deliver).
    For ``Store.run``: three statements whatever the batch size (select, lease, and rarely fail
    the rows that cannot be decrypted)."""
    if not channels:
        return []
    rows = conn.execute(DUE[conn.dialect.name == "postgresql"],
                        {"now": now, "channels": list(channels), "limit": limit}).all()
    claimed, leased, broken = [], [], []
    for row in rows:
        try:
            key = row_key(row.conversation_id, row.inbox_id, row.id)
            user_id = crypto.decrypt(row.user_ref_enc, user_ref_aad(key))
            payload = crypto.decrypt(row.payload_enc, payload_aad(key))
        except DecryptError:  # under a key no longer in the ring, or moved from another row: never sent
            broken.append({"rid": row.id, "at": now})
            continue
        leased.append(row.id)
        outbound = Outbound.from_json(payload)
        if row.in_flight:  # an earlier attempt's outcome is unknown: it may have arrived
            outbound = dataclasses.replace(outbound, may_have_arrived=True)
        claimed.append(Claimed(row.id, row.conversation_id, row.channel, row.kind, row.attempts,
                               user_id, outbound))
    if leased:
        conn.execute(_LEASE, {"ids": leased, "until": now + lease})
    if broken:
        conn.execute(_UNDECRYPTABLE, broken)
    return claimed


def renew(conn: Connection, ids: list[int], until: float) -> None:
    """Keep these rows leased until ``until`` (their delivery is still running); ``until`` 0:
    release them (the sender stops), keeping ``in_flight``, for another to take at once."""
    conn.execute(_RENEW, {"ids": ids, "until": until})


@dataclass(frozen=True)
class Retry:
    row_id: int
    attempts: int
    retry_after: float | None
    reason: str
    unknown: bool = False   # this or an earlier attempt may have reached the platform

@dataclass(frozen=True)
class GiveUp:
    row_id: int
    attempts: int
    reason: str


_SENT = (update(_O).where(_O.c.id.in_(bindparam("ids", expanding=True)), _O.c.status == PENDING)
         .values(status=SENT, payload_enc=None, user_ref_enc=None, settled_at=bindparam("at"), leased_until=0.0,
                 attempts=_O.c.attempts + 1))
_RETRY = (update(_O).where(_O.c.id == bindparam("rid"), _O.c.status == PENDING)
          .values(attempts=bindparam("n"), next_attempt_at=bindparam("due"), leased_until=0.0,
                  reason=bindparam("why"), in_flight=bindparam("unknown")))
_GIVE_UP = (update(_O).where(_O.c.id == bindparam("rid"), _O.c.status == PENDING)
            .values(status=FAILED, payload_enc=None, user_ref_enc=None, settled_at=bindparam("at"),
                    attempts=bindparam("n"), leased_until=0.0, reason=bindparam("why")))


def settle(conn: Connection, now: float, sent: list[int], retries: list[Retry] = (), failed: list[GiveUp] = ()) -> None:
    """After a delivery round, for ``Store.run``: sent rows lose their content and raw id (kept
    without content until purge); retries wait with backoff; given-up rows lose their content."""
    if sent:
        conn.execute(_SENT, {"ids": sent, "at": now})
    if retries:
        conn.execute(_RETRY, [{"rid": r.row_id, "n": r.attempts, "why": r.reason[:60], "unknown": int(r.unknown),
                               "due": now + backoff_seconds(r.attempts, r.retry_after)} for r in retries])
    if failed:
        conn.execute(_GIVE_UP, [{"rid": f.row_id, "n": f.attempts, "why": f.reason[:60], "at": now} for f in failed])


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential with jitter: ~1 s, 2 s, 4 s, then every ~8 s (``BACKOFF_CAP``); never sooner
    than the platform asked (``retry_after``)."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    delay *= random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


async def count_pending(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == IS_PENDING)
    return (await session.execute(stmt)).scalar_one()
