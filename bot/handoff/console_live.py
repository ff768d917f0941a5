"""The console's live updates: a server-sent event stream of queue and handoff changes."""
from __future__ import annotations

from aiohttp import web

from bot import http

from .console_core import CONSOLE, current_login

SSE_PING_SECONDS = 15.0

async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``queue`` and ``handoff`` changes (ids only; the page fetches the rest)."""
    c = request.app[CONSOLE]
    with c.bus.subscribe("console") as sub:
        async with http.event_stream(request, "'self'") as stream:
            await stream.response.write(b"retry: 3000\n\n")
            while True:
                message = await sub.get(SSE_PING_SECONDS)
                if message is None:
                    # A logout elsewhere, a disabled account or the idle timeout ends the stream too.
                    if await current_login(request, touch=False) is None:
                        break
                    await stream.comment("ping")
                else:
                    await stream.send(message)
    return stream.response
