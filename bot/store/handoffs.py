"""Handoff rows and transcripts: the storage the handoff part builds on.

Transcript bodies are encrypted; the context packet holds what the person chose, never who
they are. ``bot.handoff`` owns the queue logic; these are the plain reads and writes.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Flow, Session

from . import throttle
from .crypto import Crypto, DecryptError, open_json, seal_json, where
from .db import next_id
from .models import CLOSED, LIVE, OPEN_HANDOFF, QUEUED, Handoff, TranscriptMessage

_H, _TM = Handoff.__table__, TranscriptMessage.__table__

CRISIS_PRIORITY = 10
ORIGIN_WINDOW = 3_600.0  # handoffs opened per address are counted per hour


def context_packet(flow: Flow, session: Session) -> dict[str, Any]:
    """What the counsellor sees first: the way through the flow, its tags, the choices made,
    the language and the risk. Never a name, an id or anything typed."""
    tags = sorted({t for s in session.path if s in flow.states for t in flow.states[s].tags})
    return {
        "state": session.state,
        "path": list(session.path),
        "tags": tags,
        "choices": dict(session.variables),
        "locale": session.locale,
        "risk": list(session.risk),
        "flow_version": session.flow_version,
    }


def seal_context(crypto: Crypto, handoff_id: str, context: dict[str, Any]) -> str:
    """The context packet for ``handoffs.context_json``: sealed (situation, age band and risk are
    what the person chose, and say a lot about them)."""
    return seal_json(crypto, json.dumps(context, ensure_ascii=False), _H.name, "context_json", handoff_id)


def open_context(crypto: Crypto, handoff: Handoff) -> dict[str, Any]:
    """The context packet of a handoff; ``{}`` when it does not open or is not an object."""
    try:
        data = json.loads(open_json(crypto, handoff.context_json or "{}", _H.name, "context_json", handoff.id))
    except (DecryptError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def body_aad(row_id: int) -> bytes:
    return where(_TM.name, "body_enc", row_id)


def open_body(crypto: Crypto, row: TranscriptMessage) -> str:
    """A transcript line's text; raises ``DecryptError``."""
    return crypto.decrypt(row.body_enc, body_aad(row.id))


async def open_handoff(session: AsyncSession, crypto: Crypto, *, conversation_id: str, channel: str, locale: str,
                       context: dict[str, Any], is_crisis: bool, now: float, origin: str | None = None) -> Handoff:
    hid = uuid.uuid4().hex
    row = Handoff(id=hid, conversation_id=conversation_id, channel=channel, status=QUEUED,
                  priority=CRISIS_PRIORITY if is_crisis else 0, is_crisis=is_crisis, locale=locale,
                  context_json=seal_context(crypto, hid, context), queued_at=now, left_message=False,
                  origin=origin)
    session.add(row)
    await session.flush()
    return row


async def may_open_from(session: AsyncSession, origin: str, now: float, *, max_open: int, per_hour: int) -> bool:
    """Whether one more handoff may open from the address ``origin`` (a keyed hash) stands for:
    fewer than ``max_open`` of its handoffs are open and fewer than ``per_hour`` were opened in
    the last hour. If so, counts this one. A flood from one address must not fill the queue."""
    if session.bind.dialect.name == "postgresql":  # two workers deciding for one address: one at a time
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": "origin:" + origin})
    open_now = (await session.execute(select(func.count()).select_from(Handoff).where(
        Handoff.origin == origin, Handoff.status.in_(OPEN_HANDOFF)))).scalar_one()
    if open_now >= max_open:
        return False
    key = "handoff:" + origin
    if (await throttle.count(session, key, now - ORIGIN_WINDOW)).hits >= per_hour:
        return False
    await throttle.hit(session, key, now)
    return True


async def active_handoff(session: AsyncSession, conversation_id: str) -> Handoff | None:
    stmt = (select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_HANDOFF))
            .order_by(Handoff.queued_at.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


def mark_crisis(handoff: Handoff) -> bool:
    """Raise the priority; True if it was not a crisis before."""
    was = handoff.is_crisis
    handoff.is_crisis = True
    handoff.priority = max(handoff.priority, CRISIS_PRIORITY)
    return not was


def close(handoff: Handoff, now: float, outcome: str | None = None, counsellor_id: int | None = None) -> None:
    handoff.status = CLOSED
    handoff.closed_at = now
    handoff.origin = None
    if outcome is not None:
        handoff.outcome = outcome[:40]
    if counsellor_id is not None and handoff.counsellor_id is None:
        handoff.counsellor_id = counsellor_id


def take(handoff: Handoff, counsellor_id: int, now: float) -> None:
    handoff.status = LIVE
    handoff.taken_at = now
    handoff.counsellor_id = counsellor_id


async def add_transcript(session: AsyncSession, crypto: Crypto, handoff_id: str, author: str, text: str,
                         now: float) -> TranscriptMessage:
    row_id = await next_id(session, _TM)  # the sealed body names its row
    row = TranscriptMessage(id=row_id, handoff_id=handoff_id, author=author,
                            body_enc=crypto.encrypt(text, body_aad(row_id)), created_at=now)
    session.add(row)
    await session.flush()
    return row


async def read_transcript(session: AsyncSession, crypto: Crypto, handoff_id: str) -> list[dict[str, Any]]:
    rows = (await session.execute(select(TranscriptMessage).where(TranscriptMessage.handoff_id == handoff_id)
                                  .order_by(TranscriptMessage.id))).scalars().all()
    return [{"id": r.id, "author": r.author, "text": open_body(crypto, r), "created_at": r.created_at}
            for r in rows]
