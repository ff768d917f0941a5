"""The console's live updates: a server-sent event stream of queue and handoff changes, and
the alert strip's snapshot of who is waiting (``/console/alerts``)."""
from __future__ import annotations

import time

from aiohttp import web

from bot import http
from bot.store import counsellors, handoffs
from bot.store.models import LIVE, QUEUED, TO_COLLEAGUE, TO_QUEUE

from .console_core import CONSOLE, COUNSELLOR_ID, current_login

SSE_PING_SECONDS = 15.0
# On the bus when an account's logins were ended (disabled, new role, new password, second factor
# reset): every stream checks its own login then, and the pages of that account go to the login.
LOGINS_ENDED = "logins_ended"

async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``queue`` and ``handoff`` changes (ids only; the page fetches the rest)."""
    c = request.app[CONSOLE]
    with c.bus.subscribe("console") as sub:
        async with http.event_stream(request, "'self'") as stream:
            await stream.response.write(b"retry: 3000\n\n")
            while True:
                message = await sub.get(SSE_PING_SECONDS)
                if message is None or message.get("what") == LOGINS_ENDED:
                    # A logout elsewhere, a disabled account or the idle timeout ends the stream too:
                    # at once when an admin ended someone's logins, else at the next ping.
                    if await current_login(request, touch=False) is None:
                        break
                    if message is None:
                        await stream.comment("ping")
                else:
                    await stream.send(message)
    return stream.response


async def alerts(request: web.Request) -> web.Response:
    """Who is waiting, crisis first then longest (the queue's order), for the strip on every
    console page: ids, flags and times only, never who or what they wrote. ``mine``: the
    conversations this counsellor is in (a crisis arriving then is a distinct alert); ``now``:
    the server's clock, so the page counts waiting time from the server's timestamps."""
    c = request.app[CONSOLE]
    me = request[COUNSELLOR_ID]
    async with c.store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        names = await counsellors.counsellor_names(s, {h.transferred_from for h in rows if h.transferred_from})
    waiting = [{"id": h.id, "crisis": h.is_crisis, "since": handoffs.wait_started(h), "last_person_at": h.last_person_at,
                "left_message": h.left_message, "channel": h.channel, "locale": h.locale,
                "transfer_from": names.get(h.transferred_from or -1, "") if h.transfer_kind == TO_QUEUE else ""}
               for h in rows if h.status == QUEUED]
    mine = [h.id for h in rows if h.status == LIVE and h.counsellor_id == me]
    # Conversations a colleague transferred to this counsellor, until they open them: alerted
    # like a new handoff, marked as a transfer from that colleague.
    transfers = [{"id": h.id, "crisis": h.is_crisis, "since": h.transferred_at, "last_person_at": h.last_person_at,
                  "left_message": False, "channel": h.channel, "locale": h.locale,
                  "transfer_from": names.get(h.transferred_from or -1, "")}
                 for h in rows if h.status == LIVE and h.counsellor_id == me and h.transfer_kind == TO_COLLEAGUE
                 and not h.transfer_seen]
    return web.json_response({"now": time.time(), "waiting": waiting, "mine": mine, "transfers": transfers})
