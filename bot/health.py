"""How a process is doing: ``/healthz``, ``/readyz`` and ``/metrics``, on the public port and on
the internal one (``BOT_METRICS_PORT``, bound to ``BOT_METRICS_HOST``).

``/healthz`` always answers 200 (the process is alive; it answers people with the safety message
while its database is down, so a platform must not restart it). ``/readyz`` says whether the
database answers and the flows are loaded; its details (queue depths, versions) and
``/metrics`` need the internal port, or ``Authorization: Bearer <BOT_METRICS_TOKEN>`` on the
public one. Nothing here holds an identity or a message.
"""
from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import http
from bot.observability import HANDOFF_QUEUE, REGISTRY
from bot.settings import SettingsError, message_language
from bot.store import handoffs

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", object)
METRICS_TOKEN = web.AppKey("metrics_token", str)
INTERNAL = web.AppKey("internal_port", bool)


def add_routes(app: web.Application, runtime, metrics_token: str = "", internal: bool = False) -> None:
    """The three routes, for ``runtime``; ``internal``: the internal port (no token needed)."""
    app[RUNTIME] = runtime
    app[METRICS_TOKEN] = metrics_token
    app[INTERNAL] = internal
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def build_internal_app(settings, runtime) -> web.Application:
    """What the internal port serves: the three routes with their details, no token."""
    app = web.Application()
    http.install(app, settings.proxy_trust)
    add_routes(app, runtime, internal=True)
    return app


def internal_site(settings, runtime):
    """A cleanup context serving the internal port while it runs, when ``BOT_METRICS_PORT`` is
    set (every process: ``serve``, ``worker``, ``discord``)."""

    async def serve(_app=None):
        if not settings.metrics_port:
            yield
            return
        runner = web.AppRunner(build_internal_app(settings, runtime), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        log.info("web.metrics_port", extra={"host": settings.metrics_host, "port": settings.metrics_port})
        try:
            yield
        finally:
            await runner.cleanup()

    return serve


def _may_see_details(request: web.Request) -> bool:
    """The internal port, or the public one with ``Authorization: Bearer <BOT_METRICS_TOKEN>``."""
    return request.app[INTERNAL] or http.bearer_ok(request, request.app[METRICS_TOKEN])


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Always 200, so a platform does not restart a server that is
    waiting for its database (it still answers people with the safety message meanwhile)."""
    runtime = request.app[RUNTIME]
    return web.json_response({"status": "alive", "flow_version": runtime.bundles.version})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers, writes to it work, and the flows are loaded. 503 otherwise.
    Writes are checked after a recent failure (``Store.writable``): a full disk or a read-only
    database still answers a read, while every webhook gets 503. The public answer says only
    ready or not; the details (why, queue depths, versions) need ``_may_see_details``."""
    runtime = request.app[RUNTIME]
    if not _may_see_details(request):
        ready = (bool(runtime.bundles.bundle.flows) and await runtime.store.ping()
                 and await runtime.store.writable() is None)
        return web.json_response({"status": "ready" if ready else "not ready"}, status=200 if ready else 503)
    body = {"status": "ready", "db": True, "writable": True, "flows": bool(runtime.bundles.bundle.flows),
            "flow_version": runtime.bundles.version,
            "flow_db_version": getattr(runtime.bundles, "db_version", None)}  # `flows list` numbers
    rejected = rejection_details(runtime.bundles)
    if rejected:  # still ready: the last good version serves; staff see why their edit did not load
        body["flows_rejected"] = rejected
    news = getattr(runtime.bundles, "repository_news", None)
    if news is not None:  # after an upgrade: the repository's texts are not published yet
        body["flows_repository_newer"] = news.details()
    try:
        body.update(await runtime.queue_depths())
        body["handoff_queue"] = await _handoff_queue_length(runtime)
    except Exception:  # StoreUnavailable, or anything else: the database is not usable
        body.update(status="not ready", db=False)
    why = await runtime.store.writable()
    if why is not None:
        body.update(writable=False, why=why)
    ready = body["db"] and body["writable"] and body["flows"]
    if not ready:
        body["status"] = "not ready"
    return web.json_response(body, status=200 if ready else 503)


def rejection_details(holder, lang: str | None = None) -> list[dict]:
    """Why the last edit of the flows was refused (empty once a good one loads): each error with
    its code, file, line, state and the checker's message in ``BOT_LANG`` (else the locale)."""
    records = holder.last_rejection
    if not records:
        return []
    lang = lang or _message_language()
    return [{"code": r["code"], "file": r["file"], "line": r["line"], "state": r["state"],
             "message": r["message_ja"] if lang == "ja" else r["message_en"]} for r in records]


def _message_language() -> str:
    try:
        return message_language()
    except SettingsError:  # a bad BOT_LANG must not break the probe
        return "en"


async def _handoff_queue_length(runtime) -> int:
    async with runtime.store.transaction() as s:
        n = await handoffs.count_queued(s)
    HANDOFF_QUEUE.set(n)
    return n


async def metrics(request: web.Request) -> web.Response:
    """Prometheus: turns, turn time, deliveries, queues, state visits; no identities, no text."""
    if not _may_see_details(request):
        if request.app[METRICS_TOKEN]:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        raise web.HTTPNotFound()  # served on BOT_METRICS_PORT only
    runtime = request.app[RUNTIME]
    try:  # the gauges are read from the store at scrape time
        await runtime.queue_depths()
        await _handoff_queue_length(runtime)
    except Exception:
        pass
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
