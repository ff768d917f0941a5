"""The console's transfer form and the supervisor's pages (``/console/supervise``).

``POST /console/handoff/{id}/transfer`` (form ``to``: a colleague's id or ``queue``; ``note``)
hands the conversation on; a refusal answers with the page, its reason and the note as typed.
Under ``/console/supervise`` (capability ``supervise``: supervisors and admins; others get 403):
the list of every open conversation, one conversation read-only (each opening audited), ``join``,
``take-over`` and ``say`` (a joined supervisor's message).
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web

from bot.http import client_address
from bot.store import audit, counsellors, handoffs
from bot.store.models import HANDOVER, LIVE, QUEUED, TO_COLLEAGUE, TO_QUEUE

from .accounts import Actor
from .console_core import CONSOLE, COUNSELLOR_ID, LOGIN_ID, PREFIX, Console, address_hash, audit_refused, render, restrict
from . import transfer as moves

SUPERVISE = f"{PREFIX}/supervise"


def presence(c: Console) -> moves.Presence:
    return moves.Presence(c.idle_seconds, c.login_seconds)


def actor(request: web.Request) -> Actor:
    c = request.app[CONSOLE]
    return Actor(request[COUNSELLOR_ID], request[LOGIN_ID], address_hash(c, client_address(request)))


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# ---- what the conversation page shows -----------------------------------------------------------

async def page_context(c: Console, s, h, lines, me: int) -> dict[str, Any]:
    """For ``handoff.html``: the last change of hands (and this transfer's note), a joined
    supervisor, the colleagues one may transfer to. Marks a transfer to ``me`` as seen."""
    names = await counsellors.counsellor_names(s, {x for x in (h.transferred_from, h.supervisor_id, h.counsellor_id) if x})
    handover = None
    if h.transfer_kind:
        note = next((x.text for x in reversed(lines) if x.author == HANDOVER and x.at == h.transferred_at), "")
        handover = {"kind": h.transfer_kind, "from": names.get(h.transferred_from or -1, ""),
                    "to": names.get(h.counsellor_id or -1, ""), "note": note,
                    "at": dt.datetime.fromtimestamp(h.transferred_at, c.tz).strftime("%H:%M"),
                    "minutes": max(0, int((time.time() - h.transferred_at) // 60)),
                    # the one who handed it on (or had it taken over), now reading only
                    "by_me": h.transferred_from == me and h.counsellor_id != me and h.transfer_kind != TO_QUEUE}
    seen = (h.transfer_kind == TO_COLLEAGUE and h.counsellor_id == me and not h.transfer_seen
            and await handoffs.mark_transfer_seen(s, h.id, me))
    return {"handover": handover, "seen_now": bool(seen),  # seen_now: the caller tells the strips after the commit
            "supervisor": names.get(h.supervisor_id or -1, "") if h.supervisor_id else "",
            "supervisor_id": h.supervisor_id or 0, "supervisor_is_me": h.supervisor_id == me}


# ---- the transfer -------------------------------------------------------------------------------

async def transfer(request: web.Request) -> web.Response:
    from .console_pages import handoff_view

    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    note = str(form.get("note") or "")
    to = str(form.get("to") or "")
    if to == "queue":
        to_id = None
    else:
        try:
            to_id = int(to)
        except ValueError:
            if _wants_json(request):
                return web.json_response({"result": "choose"}, status=422)
            return await handoff_view(request, hid, status=422, error="transfer_choose", transfer_note=note)
    result = await moves.transfer(c.service, hid, actor(request), to_id, note, presence(c))
    if result != "ok":
        await audit_refused(request, f"transfer: {result}", hid if result != "missing" else None)
    if _wants_json(request):
        return web.json_response({"result": result}, status=200 if result == "ok" else 409)
    if result == "missing":
        raise web.HTTPNotFound()
    if result != "ok":
        status = 422 if result == "note_needed" else 409
        return await handoff_view(request, hid, status=status, error=f"transfer_{result}", transfer_note=note)
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")


# ---- the supervisor -----------------------------------------------------------------------------

async def supervise_page(request: web.Request) -> web.Response:
    """Every open conversation: waiting ones and taken ones (who has it, since when), crisis first."""
    c = request.app[CONSOLE]
    now = time.time()
    async with c.store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        names = await counsellors.counsellor_names(
            s, {x for h in rows for x in (h.counsellor_id, h.supervisor_id) if x})
    items = []
    for h in rows:
        since = handoffs.wait_started(h) if h.status == QUEUED else (h.transferred_at or h.taken_at or h.queued_at)
        items.append({"id": h.id, "status": h.status, "crisis": h.is_crisis, "since": since,
                      "minutes": max(0, int((now - since) // 60)), "locale": h.locale, "channel": h.channel,
                      "counsellor": names.get(h.counsellor_id or -1, ""),
                      "supervisor": names.get(h.supervisor_id or -1, ""),
                      "transferred": bool(h.transfer_kind)})
    items.sort(key=lambda x: (not x["crisis"], x["status"] != QUEUED, x["since"]))
    template = "_supervise.html" if request.query.get("fragment") else "supervise.html"
    return render(request, template, page="supervise", items=items)


async def watch(request: web.Request) -> web.Response:
    """One conversation, read-only, messages live. Every opening is audited."""
    from .console_pages import handoff_view

    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        if h.status == LIVE and h.counsellor_id == request[COUNSELLOR_ID]:
            raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")   # one's own: the ordinary page
        a = actor(request)
        await audit.append(s, audit.LOOKED, time.time(), a.counsellor_id, hid, login_id=a.login_id,
                           address_hash=a.address_hash)
    return await handoff_view(request, hid, watch=True, notice=request.query.get("notice"))


async def join(request: web.Request) -> web.Response:
    return await _supervisor_move(request, moves.join, "join")


async def take_over(request: web.Request) -> web.Response:
    return await _supervisor_move(request, moves.take_over, "take_over")


async def _supervisor_move(request: web.Request, move, name: str) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    result = await move(c.service, hid, actor(request))
    if result not in ("ok", "yours"):
        await audit_refused(request, f"{name}: {result}", hid if result != "missing" else None)
    if _wants_json(request):
        return web.json_response({"result": result}, status=200 if result in ("ok", "yours") else 409)
    if result == "missing":
        raise web.HTTPNotFound()
    if result == "not_live":
        raise web.HTTPSeeOther(f"{SUPERVISE}/{hid}?notice=not_live")
    if name == "take_over" or result == "yours":
        raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")
    raise web.HTTPSeeOther(f"{SUPERVISE}/{hid}")


async def say(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    ok = await moves.supervisor_says(c.service, hid, request[COUNSELLOR_ID], str(form.get("text") or ""))
    if not ok:
        from .console_pages import known
        await audit_refused(request, "supervisor reply", await known(c, hid))
    if _wants_json(request):
        return web.json_response({"ok": ok}, status=200 if ok else 409)
    raise web.HTTPSeeOther(f"{SUPERVISE}/{hid}")


def setup(app: web.Application) -> None:
    restrict(app, SUPERVISE, "supervise")
    r = app.router
    r.add_post(f"{PREFIX}/handoff/{{id}}/transfer", transfer)
    r.add_get(SUPERVISE, supervise_page)
    r.add_get(f"{SUPERVISE}/{{id}}", watch)
    r.add_post(f"{SUPERVISE}/{{id}}/join", join)
    r.add_post(f"{SUPERVISE}/{{id}}/take-over", take_over)
    r.add_post(f"{SUPERVISE}/{{id}}/say", say)

