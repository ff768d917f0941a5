"""Whether the person may have left a handoff: their page said so (quick exit, the tab closed or
hidden: ``page_hide``), or they have been silent for ``BOT_HANDOFF_SILENT_MINUTES``. A LINE
unfollow or block forgets the conversation, handoff and all: the console then says it is gone.

The signals are audit rows (``person_left`` / ``person_back``, the detail a code), so nothing
else is stored; a message from the person, or their page coming back, clears the sign.
"""
from __future__ import annotations

import logging

from bot.store import audit, conversations, handoffs
from bot.store.models import LIVE, OPEN_HANDOFF

log = logging.getLogger(__name__)

REASONS = ("quick_exit", "page_hide")  # what a page may say; "back" clears
SILENCE = "silence"


async def mark(service, channel: str, user_id: str, reason: str) -> str | None:
    """Record that the person of (``channel``, ``user_id``) may have left (or is back) while a
    handoff is open for them; returns its id. Unknown reasons and people are ignored."""
    if reason not in REASONS and reason != "back":
        return None
    now = service.clock()
    async with service.store.transaction() as s:
        conv = None
        for pseudonym in service.store.crypto.pseudonyms(channel, user_id):
            conv = await conversations.get_by_pseudonym(s, pseudonym)
            if conv is not None:
                break
        if conv is None or not conv.in_handoff:
            return None
        h = await handoffs.active_handoff(s, conv.id)
        if h is None or h.status not in OPEN_HANDOFF:
            return None
        if reason == "back":
            left = (await audit.latest(s, [h.id], [audit.PERSON_LEFT, audit.PERSON_BACK]))
            if (h.id, audit.PERSON_LEFT) not in left:
                return h.id  # nothing to clear: no audit row for an ordinary page load
        action = audit.PERSON_BACK if reason == "back" else audit.PERSON_LEFT
        await audit.append(s, action, now, None, h.id, detail=reason)
        hid = h.id
    log.info("handoff.person_signal", extra={"handoff": hid, "reason": reason})
    await service._changed(hid)
    return hid


async def left_reasons(s, rows, now: float, silent_seconds: float) -> dict[str, str]:
    """For open handoffs ``rows``: id -> why the person may have left (``quick_exit``,
    ``page_hide``, ``silence``), for those where they may have."""
    signals = await audit.latest(s, [h.id for h in rows], [audit.PERSON_LEFT, audit.PERSON_BACK])
    out: dict[str, str] = {}
    for h in rows:
        left = signals.get((h.id, audit.PERSON_LEFT))
        back = signals.get((h.id, audit.PERSON_BACK))
        seen = max(h.last_person_at or 0.0, back[0] if back else 0.0)
        if left is not None and left[0] >= seen:
            out[h.id] = left[1]
        elif h.status == LIVE and now - max(seen, h.taken_at or 0.0) >= silent_seconds:
            out[h.id] = SILENCE
    return out
