"""Transfer and supervision: a conversation handed to a named colleague or back to the queue, and
a supervisor who joins a conversation or takes it over.

A transfer is made by the counsellor in charge, to a colleague who is at the console now (an
active account that may converse, with a login that still holds) or back to the queue. A
colleague needs a note (what the next counsellor must know, so the person does not tell it all
again); going back to the queue does not (a counsellor who must leave at once is not held up),
but may have one. The note is a transcript line (author ``handover``): encrypted, with the
transcript's retention, erased with it, never sent to the person. The crisis flag, the priority
and the first wait stay as they were. The person stays connected and reads one short line from
the locale files (``console.person.transferred``).

A supervisor (``supervise``) may join a live conversation (write alongside the counsellor: the
person receives it as the counsellor's messages, the console marks them) or take it over (they
are in charge; the counsellor's page turns read-only and says so). Every transfer, look, join
and take-over is a row of the audit log.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.engine.model import Reply
from bot.store import audit, counsellors, handoffs
from bot.store.models import HANDOVER, LIVE, SUPERVISOR, TAKEN_OVER, TO_COLLEAGUE, TO_QUEUE

from .accounts import Actor, may
from .service import MAX_REPLY_CHARS, HandoffService

log = logging.getLogger(__name__)

MAX_HANDOVER = 4000
# What ``transfer`` answers besides "ok"; each has a text console.transfer_<code>.
REFUSALS = ("not_yours", "note_needed", "offline", "disabled", "cannot_converse", "self", "missing")
PERSON_TEXT = "console.person.transferred"


@dataclass(frozen=True)
class Presence:
    """How long a console login holds (the console's settings): who counts as there now."""
    idle_seconds: float
    login_seconds: float


async def colleagues(service: HandoffService, me: int, presence: Presence) -> list[tuple[int, str]]:
    """(id, name) of those a conversation can be transferred to now: at the console, active,
    allowed to converse, not ``me``."""
    now = service.clock()
    async with service.store.transaction() as s:
        rows = await counsellors.online_counsellors(s, now, presence.idle_seconds, presence.login_seconds)
    return [(r.id, r.name) for r in rows if r.id != me and may(r.role, "converse")]


async def transfer(service: HandoffService, handoff_id: str, actor: Actor, to_id: int | None, note: str,
                   presence: Presence) -> str:
    """Hand a live conversation from ``actor`` to the colleague ``to_id`` or (None) back to the
    queue. ``ok`` or one of ``REFUSALS``."""
    note = note.strip()[:MAX_HANDOVER]
    me = actor.counsellor_id
    if to_id is not None and not note:
        return "note_needed"
    if to_id == me:
        return "self"
    now = service.clock()
    async with service.store.transaction() as s:
        h = await handoffs.get_handoff(s, handoff_id, lock=True)
        if h is None:
            return "missing"
        if h.status != LIVE or h.counsellor_id != me:
            return "not_yours"
        if to_id is not None:
            target = await counsellors.counsellor_by_id(s, to_id)
            if target is None or not target.is_active:
                return "disabled"
            if not may(target.role, "converse"):
                return "cannot_converse"
            there = await counsellors.online_counsellors(s, now, presence.idle_seconds, presence.login_seconds)
            if to_id not in {r.id for r in there}:
                return "offline"
        kind = TO_QUEUE if to_id is None else TO_COLLEAGUE
        if not await handoffs.hand_over(s, handoff_id, me, to_id, now, kind):
            return "not_yours"
        if note:
            # Written at the transfer's moment: the page finds this transfer's note by it.
            await handoffs.add_line(s, service.store.crypto, handoff_id, HANDOVER, note, now)
        await audit.append(s, audit.TRANSFERRED, now, me, handoff_id, login_id=actor.login_id,
                           address_hash=actor.address_hash, detail="to queue" if to_id is None else f"to #{to_id}")
        conversation_id, locale = h.conversation_id, h.locale
    log.info("handoff.transferred", extra={"handoff": handoff_id, "counsellor": me, "to": to_id or "queue"})
    await _tell_person(service, handoff_id, conversation_id, locale)
    await service._changed(handoff_id, crisis=False)
    return "ok"


def _not_for_a_supervisor(h, me: int) -> str | None:
    """Why a supervisor cannot join or take over ``h`` (``missing``, ``not_live``, ``yours``), or None."""
    if h is None:
        return "missing"
    if h.status != LIVE:
        return "not_live"
    return "yours" if h.counsellor_id == me else None


async def join(service: HandoffService, handoff_id: str, actor: Actor) -> str:
    """A supervisor writes alongside the counsellor in charge: ``ok``, ``not_live``, ``missing``
    or ``yours`` (they are in charge already)."""
    now = service.clock()
    me = actor.counsellor_id
    async with service.store.transaction() as s:
        h = await handoffs.get_handoff(s, handoff_id, lock=True)
        refused = _not_for_a_supervisor(h, me)
        if refused:
            return refused
        if h.supervisor_id != me:
            await handoffs.set_supervisor(s, handoff_id, me)
            await audit.append(s, audit.JOINED, now, me, handoff_id, login_id=actor.login_id,
                               address_hash=actor.address_hash, detail=f"with #{h.counsellor_id}")
    log.info("handoff.supervisor_joined", extra={"handoff": handoff_id, "counsellor": me})
    await service._changed(handoff_id)
    return "ok"


async def take_over(service: HandoffService, handoff_id: str, actor: Actor) -> str:
    """A supervisor becomes the one in charge: ``ok``, ``not_live``, ``missing`` or ``yours``."""
    now = service.clock()
    me = actor.counsellor_id
    async with service.store.transaction() as s:
        h = await handoffs.get_handoff(s, handoff_id, lock=True)
        refused = _not_for_a_supervisor(h, me)
        if refused:
            return refused
        previous = h.counsellor_id
        if not await handoffs.hand_over(s, handoff_id, previous, me, now, TAKEN_OVER):
            return "not_live"
        await audit.append(s, audit.TOOK_OVER, now, me, handoff_id, login_id=actor.login_id,
                           address_hash=actor.address_hash, detail=f"from #{previous}")
        conversation_id, locale = h.conversation_id, h.locale
    log.info("handoff.taken_over", extra={"handoff": handoff_id, "counsellor": me})
    await _tell_person(service, handoff_id, conversation_id, locale)
    await service._changed(handoff_id)
    return "ok"


async def supervisor_says(service: HandoffService, handoff_id: str, supervisor_id: int, text: str) -> bool:
    """A joined supervisor's message: to the person as the counsellor's, marked in the console."""
    text = text.strip()[:MAX_REPLY_CHARS]
    if not text:
        return False
    now = service.clock()
    async with service.store.transaction() as s:
        h = await handoffs.get_handoff(s, handoff_id)
        if h is None or h.status != LIVE or h.supervisor_id != supervisor_id:
            return False
        await handoffs.add_line(s, service.store.crypto, handoff_id, SUPERVISOR, text, now)
        await audit.append(s, audit.ANSWERED, now, supervisor_id, handoff_id, detail="as supervisor")
        conversation_id = h.conversation_id
    if not await service._push(conversation_id, (Reply(text, "counsellor"),), "counsellor"):
        return False
    await service._changed(handoff_id)
    return True


async def _tell_person(service: HandoffService, handoff_id: str, conversation_id: str, locale: str) -> None:
    """One short line: another counsellor will continue here (nothing about who or why)."""
    text = service.flow.text(locale, PERSON_TEXT)
    await service._send(handoff_id, conversation_id, (Reply(text, PERSON_TEXT),), kind="notice")
