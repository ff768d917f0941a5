"""What the person typed to the bot in this conversation, so that the counsellor who takes their
handoff does not make them tell the story again (issue 15, item 2).

* Written by the turn's one transaction (``bot.store.turnwrites``): one sealed row per text
  message the bot read (the engine ran; a message relayed to a counsellor is in the transcript
  instead), at most ``MAX_CHARS`` characters of it. At most ``KEEP`` rows per conversation: the
  row's ``slot`` is its number modulo ``KEEP``, and one upsert overwrites the oldest.
* Erased: when the session starts afresh (the flow's ``expiry_hours`` passed, or the
  conversation had ended), when a handoff of the conversation closes (``handoffs.close_sync``),
  on "forget me" and LINE unfollow (``conversations.forget_sync``), and by the hourly purge once a
  conversation without an open handoff has been idle past the flow's expiry
  (``bot.store.retention``).
* Read: ``for_taker`` gives them only to the counsellor who has the handoff, live; ``read`` is the
  plain read for a caller that decides and audits itself (a supervisor's read-only view).

Nothing of them is logged; the sealed body names its conversation and number, so a row moved to
another conversation or another place does not open.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .crypto import Crypto, DecryptError, where
from .models import LIVE, Conversation, Handoff, PersonMessage

KEEP = 30          # the last messages kept per conversation
MAX_CHARS = 500    # of each message

_P, _C, _H = PersonMessage.__table__, Conversation.__table__, Handoff.__table__


@dataclass(frozen=True)
class Said:
    seq: int
    text: str
    at: float


def row_key(conversation_id: str, seq: int) -> str:
    return f"{conversation_id}/{seq}"


def body_aad(conversation_id: str, seq: int) -> bytes:
    return where(_P.name, "body_enc", row_key(conversation_id, seq))


def kept_text(text: str) -> str:
    """What is kept of one message: at most ``MAX_CHARS`` characters, the end marked."""
    text = text.strip()
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"


def _upsert(dialect):
    ins = dialect.insert(_P)
    return ins.on_conflict_do_update(
        index_elements=[_P.c.conversation_id, _P.c.slot],
        set_={"seq": ins.excluded.seq, "body_enc": ins.excluded.body_enc, "created_at": ins.excluded.created_at})


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


def write_many(conn: Connection, crypto: Crypto, rows: list[tuple[str, int, str, float]]) -> None:
    """Rows ``(conversation id, seq, text, at)``, each sealed, in one statement; the row of the
    same slot (``KEEP`` messages earlier) is overwritten."""
    if rows:
        conn.execute(_UPSERT[conn.dialect.name], [
            dict(conversation_id=cid, slot=seq % KEEP, seq=seq, created_at=at,
                 body_enc=crypto.encrypt(kept_text(text), body_aad(cid, seq))) for cid, seq, text, at in rows])


_ERASE = delete(_P).where(_P.c.conversation_id.in_(bindparam("cids", expanding=True)))


def erase_sync(conn: Connection, conversation_ids: list[str]) -> int:
    """Every message kept of these conversations."""
    if not conversation_ids:
        return 0
    return conn.execute(_ERASE, {"cids": sorted(set(conversation_ids))}).rowcount or 0


def erase_for_handoff_sync(conn: Connection, handoff_id: str) -> int:
    """Every message kept of the conversation of this handoff (it closed)."""
    return conn.execute(delete(_P).where(_P.c.conversation_id.in_(
        select(_H.c.conversation_id).where(_H.c.id == handoff_id).scalar_subquery()))).rowcount or 0


def erase_idle_sync(conn: Connection, before: float) -> int:
    """The messages of conversations idle since before ``before`` with no handoff open."""
    idle = select(_C.c.id).where(_C.c.last_active_at < before, _C.c.in_handoff.is_(False))
    return conn.execute(delete(_P).where(_P.c.conversation_id.in_(idle))).rowcount or 0


async def read(s: AsyncSession, crypto: Crypto, conversation_id: str, until: float | None = None) -> list[Said]:
    """The messages kept of a conversation (written at or before ``until``), oldest first; one
    that does not open reads "…". The caller decides who may see them, and audits."""
    stmt = select(_P.c.seq, _P.c.body_enc, _P.c.created_at).where(_P.c.conversation_id == conversation_id)
    if until is not None:
        stmt = stmt.where(_P.c.created_at <= until)
    out = []
    for r in (await s.execute(stmt.order_by(_P.c.seq))).all():
        try:
            text = crypto.decrypt(bytes(r.body_enc), body_aad(conversation_id, r.seq))
        except DecryptError:
            text = "…"
        out.append(Said(r.seq, text, r.created_at))
    return out


def may_see(handoff, counsellor_id: int | None) -> bool:
    """Only the counsellor who has taken the handoff, while it is live."""
    return handoff is not None and handoff.status == LIVE and counsellor_id is not None \
        and handoff.counsellor_id == counsellor_id


async def before_handoff(s: AsyncSession, crypto: Crypto, handoff) -> list[Said]:
    """What the person typed to the bot before asking for this handoff, oldest first (empty once
    it closed: erased). No check of who asks: for a view that decides and audits itself (a
    supervisor's read-only view); the console's own page uses ``for_taker``."""
    return await read(s, crypto, handoff.conversation_id, until=handoff.queued_at)


async def for_taker(s: AsyncSession, crypto: Crypto, handoff, counsellor_id: int | None) -> list[Said] | None:
    """What the person typed to the bot before asking for a person, for the counsellor who took
    the handoff; ``None`` for anyone else (the queue, a colleague, after the close)."""
    if not may_see(handoff, counsellor_id):
        return None
    return await before_handoff(s, crypto, handoff)
