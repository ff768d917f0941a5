"""Wiring: the aiohttp application, the channels, and the two long-running commands.

* ``build_app(settings, runtime)``: the web application. Each feature adds its routes with one
  line in ``_add_routes`` calling its own ``setup_routes(app, runtime)``.
* ``setup_channels(settings, runtime)``: registers every channel this process can deliver to
  (the worker process needs them too). One line per adapter.
* ``run_serve``: web server, plus the worker and sender unless ``BOT_WORKER_IN_WEB=false``.
* ``run_worker``: turns and deliveries only (PostgreSQL deployments with several processes).

Both also reload edited flows (``BundleHolder.watch``) and apply retention every hour.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from typing import Callable

from aiohttp import web

from bot import web_security
from bot.observability import configure_logging
from bot.runtime import Runtime
from bot.store import StoreUnavailable
from bot.store.retention import purge_forever

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", object)
INTERNAL = web.AppKey("internal_port", bool)
START_RETRY_SECONDS = 5.0


def build_app(settings, runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[RUNTIME] = runtime
    app[SETTINGS] = settings
    web_security.install(app, settings)  # before the features' middlewares: the console's HTTPS check first
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    _add_routes(app, runtime)
    if settings.metrics_port:
        app.cleanup_ctx.append(_internal_site)
    return app


def build_internal_app(settings, runtime: Runtime) -> web.Application:
    """What the internal port (``BOT_METRICS_PORT``) serves: ``/metrics``, ``/readyz`` with its
    details, ``/healthz``. No token: it is bound to ``BOT_METRICS_HOST`` (127.0.0.1 by default)."""
    app = web.Application()
    app[RUNTIME] = runtime
    app[SETTINGS] = settings
    app[INTERNAL] = True
    web_security.install(app, settings)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _internal_site(app: web.Application):
    settings = app[SETTINGS]
    runner = web.AppRunner(build_internal_app(settings, app[RUNTIME]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    await site.start()
    log.info("web.metrics_port", extra={"host": settings.metrics_host, "port": settings.metrics_port})
    yield
    await runner.cleanup()


def _may_see_details(request: web.Request) -> bool:
    """The internal port, or the public one with ``Authorization: Bearer <BOT_METRICS_TOKEN>``."""
    if request.app.get(INTERNAL):
        return True
    return web_security.bearer_ok(request, _metrics_token(request))


def _metrics_token(request: web.Request) -> str:
    settings = request.app.get(SETTINGS)
    return settings.metrics_token.get_secret_value() if settings is not None else ""


def _add_routes(app: web.Application, runtime: Runtime) -> None:
    """Features add their routes here, one line each, e.g.
    ``from bot.channels.line import setup_routes as line_routes; line_routes(app, runtime)``."""
    from bot.channels.web import setup_routes as web_chat_routes; web_chat_routes(app, runtime)  # noqa: E702
    from bot.handoff import setup_routes as console_routes; console_routes(app, runtime)  # noqa: E702
    from bot.channels.line import setup_routes as line_routes; line_routes(app, runtime)  # noqa: E702


def setup_channels(settings, runtime: Runtime) -> None:
    """Register the channels this deployment delivers to: one line per adapter, calling its
    ``setup_channel``, which registers it when it is configured, e.g.
    ``from bot.channels.line import setup_channel as line_channel; line_channel(settings, runtime)``
    (``LineChannel.from_settings(settings, flow=...)`` when LINE's two settings are there)."""
    from bot.channels.web import setup_channel as web_channel; web_channel(runtime)  # noqa: E702 (and the handoff hooks)
    from bot.channels.line import setup_channel as line_channel; line_channel(settings, runtime)  # noqa: E702


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Always 200, so a platform does not restart a server that is
    waiting for its database (it still answers people with the safety message meanwhile)."""
    runtime = request.app[RUNTIME]
    return web.json_response({"status": "alive", "flow_version": runtime.bundles.version})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and the flows are loaded. 503 otherwise. The public answer
    says only that; the details (queue depths, versions) need ``_may_see_details``."""
    runtime = request.app[RUNTIME]
    if not _may_see_details(request):
        ready = bool(runtime.bundles.bundle.flows) and await runtime.store.ping()
        return web.json_response({"status": "ready" if ready else "not ready"}, status=200 if ready else 503)
    body = {"status": "ready", "db": True, "flows": bool(runtime.bundles.bundle.flows),
            "flow_version": runtime.bundles.version}
    try:
        body.update(await runtime.queue_depths())
        body["handoff_queue"] = await _handoff_queue_length(runtime)
    except Exception:  # StoreUnavailable, or anything else: the database is not usable
        body.update(status="not ready", db=False)
    ready = body["db"] and body["flows"]
    if not ready:
        body["status"] = "not ready"
    return web.json_response(body, status=200 if ready else 503)


async def _handoff_queue_length(runtime: Runtime) -> int:
    from bot.handoff.queries import count_queued
    from bot.observability import HANDOFF_QUEUE

    async with runtime.store.transaction() as s:
        n = await count_queued(s)
    HANDOFF_QUEUE.set(n)
    return n


async def metrics(request: web.Request) -> web.Response:
    """Prometheus: turns, turn time, deliveries, queues, state visits; no identities, no text."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from bot.observability import REGISTRY

    if not _may_see_details(request):
        if _metrics_token(request):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        raise web.HTTPNotFound()  # served on BOT_METRICS_PORT only
    runtime = request.app[RUNTIME]
    try:  # the gauges are read from the store at scrape time
        await runtime.queue_depths()
        await _handoff_queue_length(runtime)
    except Exception:
        pass
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _start_with_retry(runtime: Runtime, run_worker: bool,
                            on_refused: Callable[[str], None] | None = None) -> None:
    """Start the runtime; while the database is down, keep trying (webhooks meanwhile answer
    with the safety message, since ``accept`` raises ``StoreUnavailable``). In production, once
    the database answers, refuse to run while the demo's counsellor account is active: the
    runtime is not started and ``on_refused(why)`` stops the process."""
    from bot.handoff.demo import DemoAccountActive, refuse_active_demo_account

    check = refuse_active_demo_account if runtime.settings.bot_env == "production" else None
    while True:
        try:
            await runtime.start(run_worker=run_worker, check=check)
            return
        except StoreUnavailable:
            log.error("runtime.start_waiting_for_db", extra={"seconds": START_RETRY_SECONDS})
            await asyncio.sleep(START_RETRY_SECONDS)
        except DemoAccountActive as exc:
            log.error("runtime.start_refused", extra={"reason": "demo_account_active"})
            if on_refused is not None:
                on_refused(str(exc))
            return


def _background(settings, runtime: Runtime, run_worker: bool,
                on_refused: Callable[[str], None] | None = None) -> list[asyncio.Task]:
    return [
        asyncio.create_task(_start_with_retry(runtime, run_worker, on_refused), name="runtime-start"),
        asyncio.create_task(runtime.bundles.watch(), name="flows-watch"),
        asyncio.create_task(purge_forever(runtime.store, settings), name="retention"),
    ]


async def _stop(tasks: list[asyncio.Task], runtime: Runtime) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    await runtime.stop()


def attach_runtime(app: web.Application, runtime: Runtime, run_worker: bool = True,
                   on_refused: Callable[[str], None] | None = None) -> None:
    """Start the runtime, the flow watcher and retention with the app; stop them with it."""

    async def lifecycle(app: web.Application):
        tasks = _background(app[SETTINGS], runtime, run_worker, on_refused)
        yield
        await _stop(tasks, runtime)

    app.cleanup_ctx.append(lifecycle)


def _make_runtime(settings) -> Runtime | None:
    from bot.engine import FlowError
    from bot.reload import BundleHolder

    try:
        holder = BundleHolder(settings.bot_flows_dir, settings.bot_locales_dir, settings.bot_flow)
    except FlowError as exc:
        print(f"the flows have errors; run `python -m bot check`:\n{exc}", file=sys.stderr)
        return None
    runtime = Runtime(settings, holder)
    setup_channels(settings, runtime)
    return runtime


def run_serve(settings, host: str | None = None, port: int | None = None, demo: bool = False) -> int:
    """``python -m bot serve``."""
    # A person trying the demo reads the terminal: plain lines there, JSON for log collectors.
    configure_logging("text" if demo else settings.log_format, settings.log_level)
    runtime = _make_runtime(settings)
    if runtime is None:
        return 2
    app = build_app(settings, runtime)
    refused: list[str] = []

    def refuse(why: str) -> None:  # stop as on SIGTERM (see _stop_on_signals), then exit 2
        refused.append(why)
        signal.raise_signal(signal.SIGTERM)

    attach_runtime(app, runtime, run_worker=settings.run_worker_in_web is not False, on_refused=refuse)
    host, port = host or settings.host, port or settings.port
    if demo:
        from bot.handoff.demo import setup_demo

        setup_demo(app, runtime, host, port)
    log.info("web.starting", extra={"host": host, "port": port, "mode": "demo" if demo else settings.bot_env})
    app.on_startup.append(_stop_on_signals)
    _freeze_startup_objects()
    web.run_app(app, host=host, port=port, print=None, access_log=None, handle_signals=False)
    # Stopped and closed: a signal repeated while the interpreter exits (which puts back the
    # default handlers) must not turn a clean stop into a kill.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if refused:
        print(f"refusing to run in production: {refused[0]}", file=sys.stderr)
        return 2
    return 0


SIGNAL_REPEAT_SECONDS = 1.0


async def _stop_on_signals(_app: web.Application) -> None:
    """SIGTERM and SIGINT stop the server gracefully, as aiohttp's own handlers do, except that
    the same stop asked again within ``SIGNAL_REPEAT_SECONDS`` is ignored: GNU ``timeout`` (and
    some process managers) signal the process and then its group, and that second signal cut
    the shutdown short while the database was being closed, or killed the process once the
    event loop (and its handlers) were gone. A signal after that second still stops at once.

    Plain ``signal.signal`` handlers, not the loop's: those are removed with the loop, before
    the process has exited."""
    loop = asyncio.get_running_loop()
    first: list[float] = []

    def stop() -> None:  # on the event loop
        raise web.GracefulExit()

    def on_signal(signum: int, _frame) -> None:
        now = time.monotonic()
        if first and now - first[0] < SIGNAL_REPEAT_SECONDS:
            return
        if first or loop.is_closed():  # asked again, later: stop now, as without this handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        first.append(now)
        loop.call_soon_threadsafe(stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)


def _freeze_startup_objects() -> None:
    """What startup built (modules, flows, SQLAlchemy's and the SDK's caches) lives as long as the
    process: take it out of the cyclic collector's scans, which otherwise walk it again and again
    under load (gc.freeze, as the Python docs suggest for long-running servers)."""
    gc.collect()
    gc.freeze()


def run_worker(settings) -> int:
    """``python -m bot worker``: turns and deliveries, no web server. Stops on SIGTERM/SIGINT."""
    configure_logging(settings.log_format, settings.log_level)
    runtime = _make_runtime(settings)
    if runtime is None:
        return 2

    refused: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

        def refuse(why: str) -> None:
            refused.append(why)
            stop.set()

        tasks = _background(settings, runtime, run_worker=True, on_refused=refuse)
        _freeze_startup_objects()
        await stop.wait()
        await _stop(tasks, runtime)

    asyncio.run(main())
    if refused:
        print(f"refusing to run in production: {refused[0]}", file=sys.stderr)
        return 2
    return 0
