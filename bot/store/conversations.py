"""Conversations: the engine's session for one person on one channel, found by pseudonym.

The session (``session_json``: state, path, choices, risk) and the kept platform id are sealed
to their row (``crypto``). A conversation is keyed by the pseudonym under the ring's newest key;
after a rotation one still keyed under an older key is found by that key's pseudonym (the
event's platform id gives all of them) and re-keyed at once, with its inbox rows
(``find_for_event``); ``python -m bot keys rotate`` re-keys the ones it can without the person
writing (``bot.store.keys``).

``forget_conversation`` is the one place that deletes everything of a person: the
conversation, their inbox tombstones, outbox rows, handoffs and transcripts, and what they typed
to the bot (``bot.store.said``), in one transaction.
"""
from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Session
from bot.turns.plan import new_id

from .crypto import Crypto, open_json, seal_json, where
from .models import (OPEN_HANDOFF, PENDING, Conversation, Handoff, InboxEvent, OutboxMessage, PersonMessage,
                     TranscriptMessage)

_H, _O, _TM, _P = Handoff.__table__, OutboxMessage.__table__, TranscriptMessage.__table__, PersonMessage.__table__


_C, _I = Conversation.__table__, InboxEvent.__table__
_BY_PSEUDONYM = select(Conversation).where(Conversation.pseudonym == bindparam("p"))
_BY_PSEUDONYM_LOCKED = _BY_PSEUDONYM.with_for_update()


async def get_by_pseudonym(session: AsyncSession, pseudonym: str) -> Conversation | None:
    """The conversation, locked for this transaction on PostgreSQL (SQLite: already serialised)."""
    stmt = _BY_PSEUDONYM_LOCKED if session.bind.dialect.name == "postgresql" else _BY_PSEUDONYM
    return (await session.execute(stmt, {"p": pseudonym})).scalar_one_or_none()


async def get(session: AsyncSession, conversation_id: str, for_update: bool = False) -> Conversation | None:
    return await session.get(Conversation, conversation_id, with_for_update=for_update or None)


def load_session(crypto: Crypto, conv) -> Session | None:
    """The engine's session of a conversation (an ORM row or a ``load_many`` row), or None.
    Raises ``DecryptError`` when it does not open."""
    if conv is None:
        return None
    return Session.from_dict(json.loads(open_json(crypto, conv.session_json, _C.name, "session_json", conv.id)))


def dump_session(crypto: Crypto, conversation_id: str, engine_session: Session) -> str:
    """The session for ``session_json``, sealed to its conversation."""
    data = json.dumps(engine_session.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return seal_json(crypto, data, _C.name, "session_json", conversation_id)


def seal_user_ref(crypto: Crypto, conversation_id: str, user_id: str) -> bytes:
    """The platform id kept while a handoff is open, sealed to its conversation."""
    return crypto.encrypt(user_id, where(_C.name, "user_ref_enc", conversation_id))


def open_user_ref(crypto: Crypto, conv) -> str:
    return crypto.decrypt(conv.user_ref_enc, where(_C.name, "user_ref_enc", conv.id))


async def save_session(session: AsyncSession, crypto: Crypto, conv: Conversation | None, *, pseudonym: str,
                       channel: str, engine_session: Session, now: float) -> Conversation:
    if conv is None:
        conv = Conversation(id=new_id(), pseudonym=pseudonym, channel=channel, created_at=now, in_handoff=False)
        session.add(conv)
    conv.state = engine_session.state
    conv.locale = engine_session.locale
    conv.flow_version = engine_session.flow_version
    conv.session_json = dump_session(crypto, conv.id, engine_session)
    conv.last_active_at = now
    return conv  # written by the transaction's next flush (with the outbox row), not here


# ---- after a key rotation: conversations keyed by an older key's pseudonym -------------------

def rekey(conn: Connection, crypto: Crypto, row_pseudonym: str, channel: str, user_id: str) -> str:
    """The pseudonym under the newest key of the person who sent an inbox event (stored under
    ``row_pseudonym``). With a ring, a conversation (and inbox rows) still keyed under an older
    key is re-keyed to the newest pseudonym here, in the turn's transaction: the person is found
    as before, and nothing stays keyed by a retired key."""
    if crypto.ring_size == 1:
        return row_pseudonym
    newest, *older = crypto.pseudonyms(channel, user_id)
    moved = {row_pseudonym} - {newest}  # the event itself was stored under an older key
    if conn.execute(select(_C.c.id).where(_C.c.pseudonym == newest)).first() is None:
        for old in older:
            if conn.execute(update(_C).where(_C.c.pseudonym == old).values(pseudonym=newest)).rowcount:
                moved.add(old)
                break
    for old in moved:  # the person's inbox rows (pending and tombstones) follow
        conn.execute(update(_I).where(_I.c.pseudonym == old).values(pseudonym=newest))
    return newest


async def find_for_event(session: AsyncSession, crypto: Crypto, row_pseudonym: str, channel: str,
                         user_id: str) -> tuple[str, Conversation | None]:
    """``rekey``, then the conversation, locked as ``get_by_pseudonym`` locks it."""
    newest = await session.run_sync(lambda sync: rekey(sync.connection(), crypto, row_pseudonym, channel, user_id))
    return newest, await get_by_pseudonym(session, newest)


def older_keyed(conn: Connection, crypto: Crypto, events: dict) -> set:
    """Inside ``Store.run``, with a ring of several keys: which of these
    inbox rows (``{row: event}``) need ``rekey`` first, because the row was stored
    under an older key or an older key's pseudonym still keys the person's conversation."""
    if crypto.ring_size == 1 or not events:
        return set()
    out, older = set(), {}
    for row, event in events.items():
        newest, *rest = crypto.pseudonyms(event.channel, event.user_id)
        if row.pseudonym != newest:
            out.add(row)
        else:
            for p in rest:
                older[p] = row
    if older:
        found = conn.execute(select(_C.c.pseudonym).where(_C.c.pseudonym.in_(list(older)))).scalars()
        out.update(older[p] for p in found)
    return out


# ---- the worker's batch path: plain rows, one statement per batch ---------------------------

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

    def __init__(self, crypto: Crypto) -> None:
        self.crypto = crypto
        self.new: list[dict] = []
        self.changed: list[dict] = []
        self.handoff: list[dict] = []   # in_handoff changed: the platform id kept, or erased

    def save(self, conversation_id: str, new: bool, *, pseudonym: str, channel: str, engine_session: Session,
             now: float, said_count: int = 0) -> None:
        """``save_session`` for the batch: a new conversation with this id, or a change to one;
        ``said_count``: how many texts of the person it has numbered (``bot.store.said``)."""
        fields = {"st": engine_session.state, "loc": engine_session.locale, "fv": engine_session.flow_version,
                  "sj": dump_session(self.crypto, conversation_id, engine_session), "at": now, "sc": said_count}
        if new:
            self.new.append({"cid": conversation_id, "ps": pseudonym, "ch": channel, "created": now, **fields})
        else:
            self.changed.append({"cid": conversation_id, **fields})

    def set_handoff(self, conversation_id: str, user_id: str | None) -> None:
        """In a handoff, keeping the platform id (sealed) so a counsellor may push; or
        (``None``) out of it, the id erased."""
        self.handoff.append({"cid": conversation_id, "ih": user_id is not None,
                             "ur": None if user_id is None else seal_user_ref(self.crypto, conversation_id, user_id)})


_INSERT_NEW = insert(_C).values(
    id=bindparam("cid"), pseudonym=bindparam("ps"), channel=bindparam("ch"), created_at=bindparam("created"),
    in_handoff=False, state=bindparam("st"), locale=bindparam("loc"), flow_version=bindparam("fv"),
    session_json=bindparam("sj"), last_active_at=bindparam("at"), said_count=bindparam("sc"))
_UPDATE = update(_C).where(_C.c.id == bindparam("cid")).values(
    state=bindparam("st"), locale=bindparam("loc"), flow_version=bindparam("fv"), session_json=bindparam("sj"),
    last_active_at=bindparam("at"), said_count=bindparam("sc"))


_SET_HANDOFF = update(_C).where(_C.c.id == bindparam("cid")).values(in_handoff=bindparam("ih"),
                                                                     user_ref_enc=bindparam("ur"))


def write_many(conn: Connection, writes: SessionWrites) -> None:
    if writes.new:
        conn.execute(_INSERT_NEW, writes.new)
    if writes.changed:
        conn.execute(_UPDATE, writes.changed)
    if writes.handoff:
        conn.execute(_SET_HANDOFF, writes.handoff)


def forget_sync(conn: Connection, conversation_id: str | None, pseudonym: str,
                keep_inbox_id: int | None = None) -> list[str]:
    """Delete everything of this person; returns the ids of handoffs that were still open.

    Later pending inbox events (written after "forget me") are kept: they start a new
    conversation. The event being processed (``keep_inbox_id``) stays as an anonymous tombstone
    so a redelivery of it is still ignored. Without a conversation, only the inbox tombstones.
    """
    handoffs = []
    if conversation_id is not None:
        handoffs = conn.execute(select(_H.c.id, _H.c.status).where(_H.c.conversation_id == conversation_id)).all()
        ids = [h.id for h in handoffs]
        if ids:
            conn.execute(delete(_TM).where(_TM.c.handoff_id.in_(ids)))
            conn.execute(delete(_H).where(_H.c.id.in_(ids)))
        conn.execute(delete(_O).where(_O.c.conversation_id == conversation_id))
        conn.execute(delete(_P).where(_P.c.conversation_id == conversation_id))
    conn.execute(delete(_I).where(_I.c.pseudonym == pseudonym, _I.c.status != PENDING,
                                  _I.c.id != (keep_inbox_id or -1)))
    if keep_inbox_id is not None:
        conn.execute(update(_I).where(_I.c.id == keep_inbox_id).values(pseudonym="forgotten:" + new_id()[:20]))
    if conversation_id is not None:
        conn.execute(delete(_C).where(_C.c.id == conversation_id))
    return [h.id for h in handoffs if h.status in OPEN_HANDOFF]


async def forget_conversation(session: AsyncSession, conv: Conversation, keep_inbox_id: int | None = None) -> list[str]:
    """``forget_sync`` in an ORM session."""
    cid, pseudonym = conv.id, conv.pseudonym
    return await session.run_sync(lambda sync: forget_sync(sync.connection(), cid, pseudonym, keep_inbox_id))
