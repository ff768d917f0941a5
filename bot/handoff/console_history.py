"""A counsellor's history (issue 15, item 5): their OWN closed conversations still within the
transcript retention period, each opening read-only (transcript and notes as the store still
holds them). Every read is audited (``opened``, detail ``history``); another counsellor's
conversation, an open one or one past retention is refused with 403, audited too."""
from __future__ import annotations

import datetime as dt
import time

from aiohttp import web

from bot.http import client_address, request_locale
from bot.store import audit, handoffs
from bot.store.models import CLOSED, HANDOVER, NOTE

from .console_core import CONSOLE, COUNSELLOR_ID, LOGIN_ID, address_hash, audit_refused, render
from .packet import in_words

DAY = 86400.0
HISTORY = "history"  # the audit detail of a read from the history


def _since(c, now: float) -> float:
    return now - c.settings.transcript_retention_days * DAY


def _when(at: float | None, tz) -> str:
    return dt.datetime.fromtimestamp(at or 0, tz).strftime("%Y-%m-%d %H:%M")


async def history_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    locale = request_locale(request, c.flow)
    async with c.store.transaction() as s:
        mine = await handoffs.closed_by(s, request[COUNSELLOR_ID], _since(c, time.time()))
    items = [{"id": h.id, "closed": _when(h.closed_at, c.tz), "outcome": h.outcome or "other",
              "situation": in_words(c.flow, handoffs.open_context(c.store.crypto, h), h.locale, h.channel,
                                    locale).get("situation") or "—"} for h in mine]
    return render(request, "history.html", page="history", items=items, refused=False)


async def history_item(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid, me, now = request.match_info["id"], request[COUNSELLOR_ID], time.time()
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        allowed = (h.status == CLOSED and h.counsellor_id == me and (h.closed_at or 0) >= _since(c, now))
        if allowed:
            lines = await handoffs.transcript(s, c.store.crypto, hid)
            await audit.append(s, audit.OPENED, now, me, hid, login_id=request[LOGIN_ID],
                               address_hash=address_hash(c, client_address(request)), detail=HISTORY)
    if not allowed:
        await audit_refused(request, HISTORY, hid)
        return render(request, "history.html", status=403, page="history", items=None, refused=True)
    words = in_words(c.flow, handoffs.open_context(c.store.crypto, h), h.locale, h.channel,
                     request_locale(request, c.flow))

    def shown(line):
        return {"author": line.author, "text": line.text, "at": _when(line.at, c.tz)}
    return render(request, "history_item.html", page="history", words=words,
                  h={"id": h.id, "closed": _when(h.closed_at, c.tz), "outcome": h.outcome or "other"},
                  lines=[shown(x) for x in lines if x.author not in (NOTE, HANDOVER)],
                  notes=[shown(x) for x in lines if x.author in (NOTE, HANDOVER)])
