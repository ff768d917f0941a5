"""Notes and the wrap-up of a conversation.

A note is private: never sent to the person, kept encrypted in the handoff's transcript (author
``note``), so it has the transcript's retention and goes with it when the person is forgotten.
The counsellor who has (or had) the conversation writes them; every note is audited.

Closing asks for the outcome with nothing chosen beforehand, then for a confirmation: a first
POST (or one with a missing outcome) answers with the page showing the confirmation (or the
error), with what was typed kept; only ``confirm=yes`` closes.
"""
from __future__ import annotations

import logging
import time

from aiohttp import web

from bot.http import client_address
from bot.store import audit, handoffs
from bot.store.models import CLOSED, LIVE, NOTE

from .console_core import CONSOLE, COUNSELLOR_ID, LOGIN_ID, PREFIX, address_hash, audit_refused
from .console_pages import handoff_view, known, wants_json
from .service import OUTCOMES

log = logging.getLogger(__name__)

MAX_NOTE = 4000


async def _add_note(request: web.Request, hid: str, text: str) -> bool:
    """Keep ``text`` as a note if this counsellor has, or had, the conversation."""
    c = request.app[CONSOLE]
    me = request[COUNSELLOR_ID]
    now = time.time()
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid, lock=True)
        if h is None or h.counsellor_id != me or h.status not in (LIVE, CLOSED):
            return False
        await handoffs.add_line(s, c.store.crypto, hid, NOTE, text[:MAX_NOTE], now)
        await audit.append(s, audit.NOTED, now, me, hid, login_id=request[LOGIN_ID],
                           address_hash=address_hash(c, client_address(request)))
    log.info("handoff.noted", extra={"handoff": hid, "counsellor": me})
    return True


async def note(request: web.Request) -> web.Response:
    hid = request.match_info["id"]
    form = await request.post()
    text = str(form.get("note") or "").strip()
    if not text:
        return await handoff_view(request, hid, status=422, error="note_empty")
    if not await _add_note(request, hid, text):
        await audit_refused(request, "note", await known(request.app[CONSOLE], hid))
        if wants_json(request):
            return web.json_response({"ok": False}, status=409)
        return await handoff_view(request, hid, status=409, error="note_refused", note_text=text)
    if wants_json(request):
        return web.json_response({"ok": True})
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")


async def close(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    outcome = str(form.get("outcome") or "")
    text = str(form.get("note") or "").strip()
    if outcome not in OUTCOMES:
        if wants_json(request):
            return web.json_response({"ok": False, "error": "outcome"}, status=422)
        return await handoff_view(request, hid, status=422, error="outcome_missing", note_text=text)
    if form.get("confirm") == "no":   # not yet: back to the conversation, the note still typed
        return await handoff_view(request, hid, note_text=text)
    if form.get("confirm") != "yes":
        if wants_json(request):
            return web.json_response({"ok": False, "error": "confirm"}, status=422)
        return await handoff_view(request, hid, confirm={"outcome": outcome, "note": text}, note_text=text)
    if text and not await _add_note(request, hid, text):
        ok = False
    else:
        ok = await c.service.close(hid, request[COUNSELLOR_ID], outcome)
    if not ok:
        await audit_refused(request, "close", await known(c, hid))
    if wants_json(request):
        return web.json_response({"ok": ok}, status=200 if ok else 409)
    raise web.HTTPSeeOther(f"{PREFIX}/queue" if ok else f"{PREFIX}/handoff/{hid}?notice=already_closed")
