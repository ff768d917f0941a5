"""The console's pages for counsellors: the queue, one conversation and its actions, office
hours and the switch, the figures. Pages show the flow's view of a conversation, never who the
person is."""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web

from bot.http import client_address, request_locale
from bot.store import audit, counsellors, figures, handoffs, said, switches
from bot.store.models import CLOSED, HANDOVER, LIVE, NOTE, QUEUED, TO_QUEUE

from .accounts import may
from .console_core import (CONSOLE, CONTEXT_LISTS, COUNSELLOR_ID, LOGIN_ID, MAX_BULK, PREFIX, ROLE,
                           Console, address_hash, audit_refused, home_for, ready_replies, render, texts)
from .hours import format_opening
from .packet import in_words
from .presence import left_reasons
from . import console_transfer, transfer as transfer_moves
from .service import OUTCOMES

# ---- the queue ----------------------------------------------------------------------------------

def minutes_since(then: float | None, now: float) -> int:
    return 0 if then is None else max(0, int((now - then) // 60))


def _silent_seconds(c: Console) -> float:
    return c.settings.handoff_silent_minutes * 60.0


async def _queue_rows(c: Console) -> dict[str, list[dict[str, Any]]]:
    now = time.time()
    async with c.store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        names = await counsellors.counsellor_names(
            s, {x for h in rows for x in (h.counsellor_id, h.transferred_from) if x})
        left = await left_reasons(s, rows, now, _silent_seconds(c))
    queued, live = [], []
    for h in rows:
        ctx = handoffs.open_context(c.store.crypto, h)
        item = {
            "id": h.id, "status": h.status, "crisis": h.is_crisis, "locale": h.locale, "channel": h.channel,
            "waiting": minutes_since(handoffs.wait_started(h), now), "since": handoffs.wait_started(h),
            "left_message": h.left_message,
            "transfer_from": names.get(h.transferred_from or -1, "") if h.transfer_kind == TO_QUEUE else "",
            "tags": [str(x) for x in (ctx.get("tags") or [])][:6],
            "counsellor": names.get(h.counsellor_id or -1, ""), "left": left.get(h.id),
        }
        (queued if h.status == QUEUED else live).append(item)
    return {"queued": queued, "live": live}


async def index(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(home_for(request.app, request[ROLE]))


async def nothing_for_role(request: web.Request) -> web.Response:
    """Where a login lands whose role has no page yet (an editor, before the flow editor)."""
    home = home_for(request.app, request[ROLE])
    if home != request.path:
        raise web.HTTPSeeOther(home)
    return render(request, "error.html", message_key="role_nothing", message_vars={"role": request[ROLE]})


async def queue_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    rows = await _queue_rows(c)
    avail = await c.service.availability()
    banner = ""
    if avail.reason == "switch":
        banner = texts(c.flow, request_locale(request, c.flow))("switch_is_on")
    elif avail.reason == "hours":
        locale = request_locale(request, c.flow)
        now = dt.datetime.now(dt.timezone.utc)
        banner = texts(c.flow, locale)("hours_closed", when=format_opening(avail.back_at, locale, now))
    template = "_queue.html" if request.query.get("fragment") else "queue.html"
    return render(request, template, **rows, banner=banner, page="queue")


# ---- one conversation ---------------------------------------------------------------------------

def context_packet(h, now: float, crypto) -> dict[str, Any]:
    """What the counsellor may see of a conversation: the flow, never the person."""
    ctx = handoffs.open_context(crypto, h)
    packet: dict[str, Any] = {}
    for key in CONTEXT_LISTS:
        value = ctx.get(key)
        if isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        packet[key] = [str(x) for x in value][:60] if isinstance(value, (list, tuple)) else []
    variables = ctx.get("variables")
    if isinstance(variables, dict):
        packet["choices"] = packet["choices"] + [f"{k}={v}" for k, v in variables.items()]
    packet["language"] = h.locale
    packet["channel"] = h.channel
    # the wait for the first counsellor (a transfer back to the queue does not make it longer)
    packet["waiting"] = minutes_since(h.queued_at, h.taken_at or now)
    if h.is_crisis and "crisis" not in packet["risk"]:
        packet["risk"].append("crisis")
    return packet


async def _note_read(request: web.Request, s, handoff_id: str, now: float) -> None:
    """Audit a transcript read, once per login and handoff."""
    if not await audit.has_entry(s, handoff_id, audit.OPENED, login_id=request[LOGIN_ID]):
        c = request.app[CONSOLE]
        await audit.append(s, audit.OPENED, now, request[COUNSELLOR_ID], handoff_id, login_id=request[LOGIN_ID],
                      address_hash=address_hash(c, client_address(request)))


async def handoff_page(request: web.Request) -> web.Response:
    return await handoff_view(request, request.match_info["id"], notice=request.query.get("notice"))


PRIVATE = (NOTE, HANDOVER)   # transcript lines never sent to the person: shown with the notes

# Who may read one conversation (its page, its messages feed, the pages a form answers with).
READ, HANDED_ON, REFUSED = "read", "handed_on", "refused"
NOT_YOURS = "not yours"   # the audit's detail of a refused read


def reader_access(h, me: int, role: str | None) -> str:
    """``READ``: a supervisor or admin (every conversation); anyone who converses for one waiting
    in the queue (to take it) or never taken; the counsellor who has it (taken, or transferred
    to them) or had it when it closed (their history). ``HANDED_ON``: the one who handed it to a
    colleague or had it taken over, while it is live: a page saying where it went, nothing of
    the conversation. ``REFUSED``: anyone else (a colleague's live or closed conversation)."""
    if may(role, "supervise") or h.status == QUEUED or h.counsellor_id in (None, me):
        return READ
    if h.status == LIVE and h.transferred_from == me and h.transfer_kind != TO_QUEUE:
        return HANDED_ON
    return REFUSED


async def handoff_view(request: web.Request, hid: str, status: int = 200, watch: bool = False,
                       **extra: Any) -> web.Response:
    """One conversation's page; ``extra`` for the wrap-up (a confirmation, an error, what was typed);
    ``watch``: a supervisor's read-only view (``/console/supervise/{id}``)."""
    c = request.app[CONSOLE]
    me = request[COUNSELLOR_ID]
    now = time.time()
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        access = reader_access(h, me, request[ROLE])
        if access == HANDED_ON:   # their own handover note, and nothing the person wrote
            handed = [x for x in await handoffs.transcript(s, c.store.crypto, hid) if x.author == HANDOVER]
            hands = await console_transfer.page_context(c, s, h, handed, me)
    if access == REFUSED:
        await audit_refused(request, NOT_YOURS, hid)
        return render(request, "handoff_refused.html", status=403, page="handoff", handover=None,
                      notice=extra.get("notice"))
    if access == HANDED_ON:   # where it went, and nothing of the conversation
        hands.pop("seen_now")
        return render(request, "handoff_refused.html", page="handoff", **hands)
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        lines = await handoffs.transcript(s, c.store.crypto, hid)
        names = await counsellors.counsellor_names(s, {h.counsellor_id} if h.counsellor_id else set())
        left = (await left_reasons(s, [h], now, _silent_seconds(c))).get(hid) if h.status in (QUEUED, LIVE) else None
        await _note_read(request, s, hid, now)
        hands = await console_transfer.page_context(c, s, h, lines, me)
        # What they typed to the bot before asking: the counsellor who has it, no one else.
        before = await said.for_taker(s, c.store.crypto, h, me)
    if hands.pop("seen_now"):
        await c.service._changed(hid)   # the transfer's alert ends on every strip
    mine = h.status == LIVE and h.counsellor_id == me
    colleagues = await transfer_moves.colleagues(c.service, me, console_transfer.presence(c)) if mine else []
    flow = c.flow
    canned = ready_replies(flow, h.locale)
    talk = [_line(line, c.tz) for line in lines if line.author not in PRIVATE]
    words = in_words(flow, handoffs.open_context(c.store.crypto, h), h.locale, h.channel, request_locale(request, flow))
    return render(
        request, "handoff.html", status=status, page="handoff", h={
            "id": h.id, "status": h.status, "crisis": h.is_crisis, "mine": mine, "watch": watch,
            "counsellor": names.get(h.counsellor_id or -1, ""), "left_message": h.left_message, "left": left,
            "may_note": h.counsellor_id == me and h.status in (LIVE, CLOSED)},
        silent_minutes=c.settings.handoff_silent_minutes,
        packet=context_packet(h, now, c.store.crypto), words=words, lines=talk,
        notes=[_line(line, c.tz) for line in lines if line.author in PRIVATE],
        last_id=lines[-1].id if lines else 0, canned=canned, outcomes=OUTCOMES,
        colleagues=colleagues, **hands,
        said=None if before is None else [{"text": m.text, "at": dt.datetime.fromtimestamp(m.at, c.tz).strftime("%H:%M")}
                                          for m in before],
        **{"notice": None, "error": None, "confirm": None, "note_text": "", "transfer_note": "", **extra})


def _line(line: handoffs.Line, tz) -> dict[str, Any]:
    return {"id": line.id, "author": line.author, "text": line.text,
            "at": dt.datetime.fromtimestamp(line.at, tz).strftime("%H:%M")}


async def handoff_messages(request: web.Request) -> web.Response:
    """New lines after ``after`` (JSON), for the live view; the browser shows them as text."""
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        after = 0
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        allowed = reader_access(h, request[COUNSELLOR_ID], request[ROLE]) == READ
        if allowed:
            lines = await handoffs.transcript(s, c.store.crypto, hid, after)
            now = time.time()
            left = (await left_reasons(s, [h], now, _silent_seconds(c))).get(hid) if h.status in (QUEUED, LIVE) else None
            if lines:
                await _note_read(request, s, hid, now)
    if not allowed:   # the page reloads and says why (handed on, or someone else's)
        await audit_refused(request, NOT_YOURS, hid)
        return web.json_response({"error": "not_yours"}, status=403)
    return web.json_response({"status": h.status, "crisis": h.is_crisis, "left": left,
                              "mine": h.status == LIVE and h.counsellor_id == request[COUNSELLOR_ID],
                              "supervisor": h.supervisor_id or 0,
                              "lines": [_line(x, c.tz) for x in lines if x.author not in PRIVATE]})


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def take(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    result = await c.service.take(hid, request[COUNSELLOR_ID])
    if result != "ok":
        await audit_refused(request, f"take: {result}", hid if result != "missing" else None)
    if wants_json(request):
        return web.json_response({"result": result}, status=200 if result == "ok" else 409)
    notice = "" if result == "ok" else f"?notice={'taken_by_other' if result == 'taken' else 'already_closed'}"
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}{notice}")


async def reply(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    ok = await c.service.reply(hid, request[COUNSELLOR_ID], str(form.get("text") or ""))
    if not ok:
        await audit_refused(request, "reply", await known(c, hid))
    if wants_json(request):
        return web.json_response({"ok": ok}, status=200 if ok else 409)
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")


async def known(c: Console, handoff_id: str) -> str | None:
    """The id if such a handoff exists (the audit's handoff column names real ones only)."""
    async with c.store.transaction() as s:
        return handoff_id if await handoffs.get_handoff(s, handoff_id) is not None else None


async def dismiss(request: web.Request) -> web.Response:
    """Dismiss queued handoffs as spam: one (``/handoff/{id}/dismiss``) or those ticked in the
    queue (``/dismiss``, form field ``ids``). Each is closed, audited, and the bot goes on."""
    c = request.app[CONSOLE]
    form = await request.post()
    single = request.match_info.get("id")
    ids = [single] if single else [str(v) for v in form.getall("ids", [])][:MAX_BULK]
    ids = list(dict.fromkeys(i for i in ids if i))
    dismissed = await c.service.dismiss_spam(ids, request[COUNSELLOR_ID], login_id=request[LOGIN_ID])
    for hid in ids:
        if hid not in dismissed:
            await audit_refused(request, "dismiss", await known(c, hid))
    if wants_json(request):
        return web.json_response({"dismissed": dismissed}, status=200 if dismissed or not ids else 409)
    if single and not dismissed:
        raise web.HTTPSeeOther(f"{PREFIX}/handoff/{single}?notice=already_closed")
    raise web.HTTPSeeOther(f"{PREFIX}/queue")


# ---- office hours and the switch ----------------------------------------------------------------

async def hours_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    now = time.time()
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    avail = await c.service.availability(now)
    async with c.store.transaction() as s:
        switch_on = await switches.switch_is_on(s)
    locale = request_locale(request, c.flow)
    hours = c.service.hours
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    def hhmm(minute: int) -> str:
        return "24:00" if minute == 1440 else f"{(minute // 60) % 24:02d}:{minute % 60:02d}"

    shifts = [(days[d], hhmm(start), hhmm(end)) for d, start, end in sorted(hours.shifts)]
    return render(request, "hours.html", page="hours", switch_on=switch_on, in_hours=hours.is_open(moment),
                  shifts=shifts, closed=sorted(hours.closed), timezone=str(hours.tz),
                  next_opening=format_opening(hours.next_opening(moment), locale, moment),
                  available=avail.available, wait_minutes=c.service.wait_minutes)


async def set_switch(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await request.post()
    await c.service.set_unavailable(request[COUNSELLOR_ID], form.get("on") == "1")
    raise web.HTTPSeeOther(f"{PREFIX}/hours")


# ---- figures ------------------------------------------------------------------------------------

async def figures_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    async with c.store.transaction() as s:
        days = await figures.report(s, 14, time.time(), c.settings.timezone)
    return render(request, "figures.html", page="figures", days=days)
