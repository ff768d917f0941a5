"""Wiring, and the start-up of every long-running process of the Procfile.

* ``assemble(settings)``: what a process runs turns with, wired explicitly: the runtime (on its
  store), the live bus, the handoff service set as the runtime's ``handoff_hooks``, and the
  channels it delivers to (``deliver=False``: none).
* ``build_app(process)``: the web application: ``bot.health``'s routes, the web chat, the console,
  the LINE webhook when LINE is configured; the live bus and the handoff watch run with it.
* ``run_serve`` (``python -m bot serve``): the web server, plus the worker and the sender unless
  ``BOT_WORKER_IN_WEB=false``. ``run_worker`` (``python -m bot worker``): turns and deliveries
  only. ``run_discord`` (``python -m bot discord``): Discord's gateway, its deliveries and a worker.

Every process also serves the newest published flow version (``FlowSync``), applies retention every hour,
and serves the internal port when ``BOT_METRICS_PORT`` is set.
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
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from bot import health, http
from bot.channels import line
from bot.channels.web import WebChannel
from bot.channels.web import setup_routes as web_chat_routes
from bot.engine import FlowError
from bot.flowsync import FlowSync
from bot.flowversions import FlowVersions
from bot.handoff import console, service
from bot.handoff.demo import DemoAccountActive, refuse_active_demo_account
from bot.live import LiveBus
from bot.observability import configure_logging
from bot.reload import BundleHolder
from bot.runtime import Runtime
from bot.store import StoreUnavailable
from bot.store.retention import purge_forever

log = logging.getLogger(__name__)

PROCESS = web.AppKey("process", object)
START_RETRY_SECONDS = 5.0
DISCORD_START_WAIT = 15.0   # seconds the gateway waits for the database at start-up
SIGNAL_REPEAT_SECONDS = 1.0


@dataclass
class Process:
    """What one process runs turns and deliveries with."""

    settings: object
    runtime: Runtime
    bus: LiveBus
    handoff: service.HandoffService
    web: WebChannel | None = None
    line: line.LineChannel | None = None


def assemble(settings, *, holder: BundleHolder | None = None, deliver: bool = True, **runtime_options) -> Process:
    """The runtime and what it works with, wired. Raises ``FlowError`` when the flows have errors.
    ``runtime_options`` go to ``Runtime`` (``store``, ``clock``, ``poll_interval``...)."""
    holder = holder or BundleHolder(settings.bot_flows_dir, settings.bot_locales_dir, settings.bot_flow)
    runtime = Runtime(settings, holder, **runtime_options)
    bus = LiveBus(runtime.store)
    handoff = service.from_settings(settings, runtime, bus)
    # The handoff hears of every turn this process runs (queued, person's messages, closed).
    runtime.handoff_hooks = handoff
    process = Process(settings, runtime, bus, handoff)
    if deliver:
        process.web = WebChannel(bus, runtime.crypto)
        runtime.register_channel(process.web)
        process.line = line.setup_channel(settings, runtime)
    return process


def build_app(process: Process) -> web.Application:
    settings, runtime = process.settings, process.runtime
    app = web.Application(client_max_size=1024 * 1024)
    app[PROCESS] = process
    http.install(app, settings.proxy_trust)
    if settings.bot_env == "production":  # before the console's own middleware
        app.middlewares.append(http.https_only(console.PREFIX))
    health.add_routes(app, runtime, settings.metrics_token.get_secret_value())
    web_chat_routes(app, runtime, process.web or WebChannel(process.bus, runtime.crypto))
    console.setup_routes(app, process.handoff, settings)
    if process.line is not None:
        line.setup_routes(app, settings, process.line, runtime)
    app.cleanup_ctx.append(_live(process))
    app.cleanup_ctx.append(health.internal_site(settings, runtime))
    return app


def _live(process: Process):
    """The live bus listening, and the handoff's watch (nobody answered, expiry), while the app runs."""

    async def lifecycle(_app: web.Application):
        await process.bus.start()
        watch = asyncio.create_task(process.handoff.watch(), name="handoff-watch")
        yield
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch
        await process.bus.stop()

    return lifecycle


# ---- the runtime and the background jobs ---------------------------------------------------------

async def _start_with_retry(runtime: Runtime, run_worker: bool,
                            on_refused: Callable[[str], None] | None = None) -> None:
    """Start the runtime; while the database is down, keep trying (webhooks meanwhile answer
    with the safety message, since ``accept`` raises ``StoreUnavailable``). In production, once
    the database answers, refuse to run while the demo's counsellor account is active: the
    runtime is not started and ``on_refused(why)`` stops the process."""
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


def flow_sync(runtime: Runtime) -> FlowSync:
    """The newest published flow version, served by this process (``bot.flowsync``)."""
    holder = runtime.bundles
    return FlowSync(FlowVersions(runtime.store, holder.flows_dir, holder.locales_dir), holder,
                    auto_upgrade=runtime.settings.flows_auto_upgrade)


def _background(process: Process, run_worker: bool,
                on_refused: Callable[[str], None] | None = None) -> list[asyncio.Task]:
    runtime = process.runtime
    return [
        asyncio.create_task(_start_with_retry(runtime, run_worker, on_refused), name="runtime-start"),
        asyncio.create_task(flow_sync(runtime).run(), name="flows-sync"),
        asyncio.create_task(purge_forever(runtime.store, process.settings,
                                          said_seconds=lambda: runtime.bundles.flow.expiry_seconds),
                            name="retention"),
    ]


async def _stop(tasks: list[asyncio.Task], runtime: Runtime) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    await runtime.stop()


def attach_runtime(app: web.Application, process: Process, run_worker: bool = True,
                   on_refused: Callable[[str], None] | None = None) -> None:
    """Start the runtime, the flow watcher and retention with the app; stop them with it."""

    async def lifecycle(_app: web.Application):
        tasks = _background(process, run_worker, on_refused)
        yield
        await _stop(tasks, process.runtime)

    app.cleanup_ctx.append(lifecycle)


def _assembled(settings, **kwargs) -> Process | None:
    try:
        return assemble(settings, **kwargs)
    except FlowError as exc:
        print(f"the flows have errors; run `python -m bot check`:\n{exc}", file=sys.stderr)
        return None


# ---- python -m bot serve -------------------------------------------------------------------------

def run_serve(settings, host: str | None = None, port: int | None = None, demo: bool = False) -> int:
    """``python -m bot serve``."""
    # A person trying the demo reads the terminal: plain lines there, JSON for log collectors.
    configure_logging("text" if demo else settings.log_format, settings.log_level)
    process = _assembled(settings)
    if process is None:
        return 2
    app = build_app(process)
    refused: list[str] = []

    def refuse(why: str) -> None:  # stop as on SIGTERM (see _stop_on_signals), then exit 2
        refused.append(why)
        signal.raise_signal(signal.SIGTERM)

    attach_runtime(app, process, run_worker=settings.run_worker_in_web is not False, on_refused=refuse)
    host, port = host or settings.host, port or settings.port
    if demo:
        from bot.handoff.demo import setup_demo

        setup_demo(app, process.runtime, host, port)
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


def _stop_event() -> asyncio.Event:
    """Set on SIGTERM or SIGINT (the processes without a web server)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    return stop


# ---- python -m bot worker ------------------------------------------------------------------------

def run_worker(settings) -> int:
    """``python -m bot worker``: turns and deliveries, no web server. Stops on SIGTERM/SIGINT."""
    configure_logging(settings.log_format, settings.log_level)
    process = _assembled(settings)
    if process is None:
        return 2
    refused: list[str] = []

    async def main() -> None:
        stop = _stop_event()

        def refuse(why: str) -> None:
            refused.append(why)
            stop.set()

        tasks = _background(process, run_worker=True, on_refused=refuse)
        async with contextlib.asynccontextmanager(health.internal_site(settings, process.runtime))():
            _freeze_startup_objects()
            await stop.wait()
            await _stop(tasks, process.runtime)

    asyncio.run(main())
    if refused:
        print(f"refusing to run in production: {refused[0]}", file=sys.stderr)
        return 2
    return 0


# ---- python -m bot discord -----------------------------------------------------------------------

def run_discord(settings) -> int:
    """``python -m bot discord``: the gateway client, the inbox, and the worker that answers."""
    import discord

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        print("DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications "
              "and put its token in DISCORD_TOKEN.", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    # This process runs turns (answers within the second, without waiting for another process's
    # poll), so the handoff side hears about them here too; it delivers Discord's rows only.
    process = _assembled(settings, deliver=False)
    if process is None:
        return 2
    try:
        asyncio.run(_serve_discord(process, token))
    except discord.LoginFailure:
        print("DISCORD_TOKEN was refused by Discord: check the bot token.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def _serve_discord(process: Process, token: str) -> None:
    from bot.channels import discord as discord_channel

    runtime = process.runtime
    gateway = discord_channel.connect(runtime, lambda: runtime.bundles.flow)
    runtime.register_channel(gateway.channel)
    stop = _stop_event()
    background = _background(process, run_worker=True)
    starting = background[0]
    async with gateway.client, contextlib.asynccontextmanager(health.internal_site(process.settings, runtime))():
        await gateway.channel.login(token)
        # Migrations first, so the first DMs find the inbox; if the database stays down, connect
        # anyway: people then get the safety message rather than silence.
        await asyncio.wait({starting}, timeout=DISCORD_START_WAIT)
        connected = asyncio.create_task(gateway.client.connect(), name="discord-gateway")
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({connected, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if connected in done:
                connected.result()  # raise what stopped the gateway
        finally:
            log.info("discord.stopping")
            for task in (connected, stopped):
                task.cancel()
            await _stop(background, runtime)
