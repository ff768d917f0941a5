"""Conversations: the engine's session for one person on one channel, found by pseudonym.

``forget_conversation`` is the one place that deletes everything of a person: the
conversation, their inbox tombstones, outbox rows, handoffs and transcripts, in one transaction.
"""
from __future__ import annotations

import json
import uuid

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Session

from .models import OPEN_HANDOFF, PENDING, Conversation, Handoff, InboxEvent, OutboxMessage, TranscriptMessage


def new_id() -> str:
    """A random id: what logs, the console and the outbox use to refer to a conversation."""
    return uuid.uuid4().hex


_BY_PSEUDONYM = select(Conversation).where(Conversation.pseudonym == bindparam("p"))
_BY_PSEUDONYM_LOCKED = _BY_PSEUDONYM.with_for_update()


async def get_by_pseudonym(session: AsyncSession, pseudonym: str) -> Conversation | None:
    """The conversation, locked for this transaction on PostgreSQL (SQLite: already serialised)."""
    stmt = _BY_PSEUDONYM_LOCKED if session.bind.dialect.name == "postgresql" else _BY_PSEUDONYM
    return (await session.execute(stmt, {"p": pseudonym})).scalar_one_or_none()


async def get(session: AsyncSession, conversation_id: str, for_update: bool = False) -> Conversation | None:
    return await session.get(Conversation, conversation_id, with_for_update=for_update or None)


def load_session(conv: Conversation | None) -> Session | None:
    return Session.from_dict(json.loads(conv.session_json)) if conv is not None else None


async def save_session(session: AsyncSession, conv: Conversation | None, *, pseudonym: str, channel: str,
                       engine_session: Session, now: float) -> Conversation:
    data = json.dumps(engine_session.to_dict(), ensure_ascii=False, separators=(",", ":"))
    if conv is None:
        conv = Conversation(id=new_id(), pseudonym=pseudonym, channel=channel, created_at=now, in_handoff=False)
        session.add(conv)
    conv.state = engine_session.state
    conv.locale = engine_session.locale
    conv.flow_version = engine_session.flow_version
    conv.session_json = data
    conv.last_active_at = now
    return conv  # written by the transaction's next flush (with the outbox row), not here


# ---- the worker's batch path: plain rows, one statement per batch ---------------------------

_C = Conversation.__table__
_MANY = select(_C).where(_C.c.pseudonym.in_(bindparam("ps", expanding=True)))
LOAD_MANY = {True: _MANY.with_for_update(), False: _MANY}


def load_many(conn: Connection, pseudonyms: list[str]) -> dict:
    """The conversations of these pseudonyms (rows with the same attributes as ``Conversation``),
    locked for this transaction on PostgreSQL. Sorted, so two transactions lock in one order.
    Inside ``Store.run``."""
    if not pseudonyms:
        return {}
    rows = conn.execute(LOAD_MANY[conn.dialect.name == "postgresql"], {"ps": sorted(set(pseudonyms))})
    return {r.pseudonym: r for r in rows}


class SessionWrites:
    """New and changed conversations of one batch of turns, written by ``write_many``."""

    def __init__(self) -> None:
        self.new: list[dict] = []
        self.changed: list[dict] = []

    def save(self, conv, *, pseudonym: str, channel: str, engine_session: Session, now: float) -> str:
        """``save_session`` for a row from ``load_many`` (or None); returns the conversation id."""
        data = json.dumps(engine_session.to_dict(), ensure_ascii=False, separators=(",", ":"))
        fields = {"st": engine_session.state, "loc": engine_session.locale, "fv": engine_session.flow_version,
                  "sj": data, "at": now}
        if conv is None:
            cid = new_id()
            self.new.append({"cid": cid, "ps": pseudonym, "ch": channel, "created": now, **fields})
            return cid
        self.changed.append({"cid": conv.id, **fields})
        return conv.id


_INSERT_NEW = insert(_C).values(
    id=bindparam("cid"), pseudonym=bindparam("ps"), channel=bindparam("ch"), created_at=bindparam("created"),
    in_handoff=False, state=bindparam("st"), locale=bindparam("loc"), flow_version=bindparam("fv"),
    session_json=bindparam("sj"), last_active_at=bindparam("at"))
_UPDATE = update(_C).where(_C.c.id == bindparam("cid")).values(
    state=bindparam("st"), locale=bindparam("loc"), flow_version=bindparam("fv"), session_json=bindparam("sj"),
    last_active_at=bindparam("at"))


def write_many(conn: Connection, writes: SessionWrites) -> None:
    if writes.new:
        conn.execute(_INSERT_NEW, writes.new)
    if writes.changed:
        conn.execute(_UPDATE, writes.changed)


async def forget_conversation(session: AsyncSession, conv: Conversation, keep_inbox_id: int | None = None) -> list[str]:
    """Delete everything of this person; returns the ids of handoffs that were still open.

    Later pending inbox events (written after "forget me") are kept: they start a new
    conversation. The event being processed (``keep_inbox_id``) stays as an anonymous tombstone
    so a redelivery of it is still ignored.
    """
    handoffs = (await session.execute(select(Handoff.id, Handoff.status)
                                      .where(Handoff.conversation_id == conv.id))).all()
    ids = [h.id for h in handoffs]
    if ids:
        await session.execute(delete(TranscriptMessage).where(TranscriptMessage.handoff_id.in_(ids)))
        await session.execute(delete(Handoff).where(Handoff.id.in_(ids)))
    await session.execute(delete(OutboxMessage).where(OutboxMessage.conversation_id == conv.id))
    await forget_inbox(session, conv.pseudonym, keep_inbox_id)
    await session.execute(delete(Conversation).where(Conversation.id == conv.id))
    return [h.id for h in handoffs if h.status in OPEN_HANDOFF]


async def forget_inbox(session: AsyncSession, pseudonym: str, keep_inbox_id: int | None) -> None:
    await session.execute(delete(InboxEvent).where(InboxEvent.pseudonym == pseudonym, InboxEvent.status != PENDING,
                                                   InboxEvent.id != (keep_inbox_id or -1)))
    if keep_inbox_id is not None:
        await session.execute(update(InboxEvent).where(InboxEvent.id == keep_inbox_id)
                              .values(pseudonym="forgotten:" + new_id()[:20]))
