"""/healthz, /readyz, /metrics: on the public port (details behind a token) and the internal one."""
from __future__ import annotations

import socket

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from aiohttp import web

from bot import health
from bot.envelope import InboundEvent
from bot.runtime import Runtime


TOKEN = "metrics-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def public_app(runtime, token: str = "") -> web.Application:
    app = web.Application()
    health.add_routes(app, runtime, token)
    return app


async def test_public_readyz_says_only_ready_and_metrics_are_not_served(runtime):
    """Issue 16: the queue depths, versions and Prometheus figures are not for anyone on the internet."""
    app = public_app(runtime)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 200 and await resp.json() == {"status": "ready"}
        assert (await client.get("/metrics")).status == 404
        assert (await client.get("/healthz")).status == 200


async def test_a_bearer_token_opens_metrics_and_readyz_details_on_the_public_port(runtime):
    app = public_app(runtime, TOKEN)
    async with TestClient(TestServer(app)) as client:
        for auth in (None, "Bearer wrong", f"Basic {TOKEN}", "Bearer "):
            headers = {"Authorization": auth} if auth else {}
            resp = await client.get("/metrics", headers=headers)
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
            assert "db" not in await (await client.get("/readyz", headers=headers)).json()
        good = {"Authorization": f"Bearer {TOKEN}"}
        body = await (await client.get("/readyz", headers=good)).json()
        metrics = await (await client.get("/metrics", headers=good)).text()
    assert body["db"] is True and "inbox_pending" in body
    assert "bot_turns_total" in metrics


async def test_the_internal_port_serves_metrics_and_details_without_a_token(runtime, settings):
    port = _free_port()
    app = public_app(runtime)
    app.cleanup_ctx.append(health.internal_site(settings.model_copy(update={"metrics_port": port}), runtime))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 404  # not on the public port
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and "bot_inbox_depth" in await resp.text()
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert (await resp.json())["db"] is True
    with socket.socket() as s:  # closed with the app
        s.bind(("127.0.0.1", port))


async def test_readyz_details_report_the_database_and_the_flow_version(runtime, settings):
    app = health.build_internal_app(settings, runtime)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 200
        body = await resp.json()
        alive = await client.get("/healthz")
        assert alive.status == 200
        metrics = await (await client.get("/metrics")).text()
    assert body["db"] is True and body["flows"] is True and body["flow_version"] == runtime.bundles.version
    assert body["handoff_queue"] == 0
    for name in ("bot_turns_total", "bot_turn_seconds", "bot_inbox_depth", "bot_outbox_retries_total",
                 "bot_handoff_queue_length", "bot_handoff_wait_seconds", "bot_state_visits_total"):
        assert name in metrics


async def test_readyz_is_503_and_healthz_200_when_the_database_is_down(settings, mini_holder):
    from bot.store import Store

    rt = Runtime(settings, mini_holder, store=Store("postgresql+asyncpg://postgres@127.0.0.1:1/x", b"k" * 40))
    app = public_app(rt)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 503 and await resp.json() == {"status": "not ready"}
        assert (await client.get("/healthz")).status == 200
    await rt.store.dispose()


async def test_readyz_shows_the_queues(runtime, settings):
    app = health.build_internal_app(settings, runtime)
    await runtime.accept([InboundEvent("memory", "q1", "U1", "start", locale_hint="en")])
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/readyz")).json()
    assert body["inbox_pending"] == 1 and body["outbox_pending"] == 0


async def test_readyz_is_not_ready_after_write_failures_until_a_write_works_again(runtime, settings, monkeypatch):
    """A full disk (or a read-only database) still answers reads: /readyz must not say ready
    while every webhook's write fails, and must say ready again once writing works."""
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from bot.store import StoreUnavailable, db, inbox

    def disk_full(*_args):
        raise OperationalError("INSERT INTO inbox", {}, sqlite3.OperationalError("database or disk is full"))

    internal = health.build_internal_app(settings, runtime)
    public = public_app(runtime)
    async with TestClient(TestServer(internal)) as details, TestClient(TestServer(public)) as client:
        assert (await client.get("/readyz")).status == 200
        monkeypatch.setattr(inbox, "insert_events", disk_full)
        monkeypatch.setattr(inbox, "insert_events_sqlite3", disk_full)
        monkeypatch.setattr(db, "_WRITE_PROBE", text("UPDATE no_such_table SET x = 1"))  # writes still fail
        try:
            await runtime.accept([InboundEvent("memory", "w1", "U1", "start", locale_hint="en")])
            raise AssertionError("the write should have failed")
        except StoreUnavailable:
            pass
        assert await runtime.store.ping()  # reads still work
        resp = await client.get("/readyz")
        assert resp.status == 503 and await resp.json() == {"status": "not ready"}
        resp = await details.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["db"] is True and body["writable"] is False
        assert "OperationalError" in body["why"]
        monkeypatch.undo()  # the disk has room again: the next /readyz writes, and is ready
        assert (await client.get("/readyz")).status == 200
        body = await (await details.get("/readyz")).json()
        assert body["writable"] is True and "why" not in body
        assert await runtime.accept([InboundEvent("memory", "w2", "U1", "start", locale_hint="en")]) == 1


async def test_readyz_details_explain_a_refused_edit_in_bot_lang_until_a_good_one_loads(settings, store, tmp_path,
                                                                                          monkeypatch):
    """Issue 17: staff see why their edit did not load, in their language, not only codes in the log."""
    from bot.reload import BundleHolder
    from tests.engine.helpers import copy_mini

    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    rt = Runtime(settings, holder, store=store)
    app = health.build_internal_app(settings, rt)
    original = (flows / "mini.yaml").read_text()
    async with TestClient(TestServer(app)) as client:
        assert "flows_rejected" not in await (await client.get("/readyz")).json()
        (flows / "mini.yaml").write_text(original.replace("target: evidence}", "target: evidense}"))
        assert holder.reload() is False
        monkeypatch.setenv("BOT_LANG", "ja")
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["flow_version"] == holder.version  # the last good one serves
        [why] = body["flows_rejected"]
        assert why["code"] == "F102" and why["file"] == "flows/mini.yaml" and why["line"] == 42
        assert "evidense" in why["message"] and why["message"] == holder.last_rejection[0]["message_ja"]
        monkeypatch.setenv("BOT_LANG", "en")
        [why] = (await (await client.get("/readyz")).json())["flows_rejected"]
        assert why["message"] == holder.last_rejection[0]["message_en"]
        (flows / "mini.yaml").write_text(original.replace("expiry_hours: 24", "expiry_hours: 12"))
        assert holder.reload() is True
        assert "flows_rejected" not in await (await client.get("/readyz")).json()
