"""The application skeleton: /healthz, and the runtime started and stopped with the app."""
from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.app import RUNTIME, attach_runtime, build_app
from bot.channels.base import InboundEvent
from bot.channels.memory import MemoryChannel
from bot.runtime import Runtime


async def test_healthz_reports_the_database_and_the_flow_version(runtime, settings):
    app = build_app(settings, runtime)
    assert app[RUNTIME] is runtime
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200
        body = await resp.json()
    assert body["db"] is True and body["flow_version"] == runtime.bundles.version


async def test_healthz_is_503_when_the_database_is_down(settings, mini_holder):
    from bot.store import Store

    from aiohttp import web

    from bot.app import healthz

    rt = Runtime(settings, mini_holder, store=Store("postgresql+asyncpg://postgres@127.0.0.1:1/x", b"k" * 40))
    app = web.Application()  # the handler alone: features' start-up needs no database here
    app[RUNTIME] = rt
    app.router.add_get("/healthz", healthz)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/healthz")
        assert resp.status == 503 and (await resp.json())["db"] is False
    await rt.store.dispose()


async def test_the_app_runs_the_worker_and_sender(settings, mini_holder, store_target):
    rt = Runtime(settings, mini_holder, store=store_target.make(), poll_interval=0.05)
    ch = MemoryChannel("memory")
    rt.register_channel(ch)
    app = build_app(settings, rt)
    attach_runtime(app, rt)
    async with TestClient(TestServer(app)):
        for _ in range(100):  # the runtime starts (and migrates) in the background
            if rt._running:
                break
            import asyncio

            await asyncio.sleep(0.05)
        await rt.accept([InboundEvent("memory", "e1", "U1", "start", locale_hint="en")])
        [d] = await ch.wait_for(1)
    assert d.keys == ["welcome.hello"]


async def test_healthz_shows_the_queues(runtime, settings):
    from aiohttp import web

    from bot.app import healthz

    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    await runtime.accept([InboundEvent("memory", "q1", "U1", "start", locale_hint="en")])
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/healthz")).json()
    assert body["inbox_pending"] == 1 and body["outbox_pending"] == 0
