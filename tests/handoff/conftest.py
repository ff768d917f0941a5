"""Fixtures for the handoff tests: the runtime on the test store (SQLite and PostgreSQL, from
tests/conftest.py), the mini flow with the console's texts, a memory channel, and the handoff
service wired in as the runtime's hooks."""
from __future__ import annotations

from tests.conftest import FakeClock

import datetime as dt
import itertools

import pytest

from bot.envelope import InboundEvent
from bot.handoff.hours import parse_office_hours
from bot.handoff.service import HandoffService
from bot.reload import BundleHolder
from tests.handoff.support import content_dirs

JST = dt.timezone(dt.timedelta(hours=9))
# Wednesday 25 November 2026, 12:00 in Tokyo: within the test office hours.
NOON = dt.datetime(2026, 11, 25, 12, 0, tzinfo=JST).timestamp()
HOURS = """
timezone: Asia/Tokyo
weekly: [{days: weekdays, from: "10:00", to: "22:00"}]
"""
_ids = itertools.count(1)


@pytest.fixture
def clock():
    return FakeClock(NOON)


@pytest.fixture
def holder(tmp_path):
    flows, locales = content_dirs(tmp_path / "content")
    return BundleHolder(flows, locales, "mini")


@pytest.fixture
def flow(holder):
    return holder.flow


@pytest.fixture
async def hruntime(settings, holder, store, clock):
    from bot.channels.memory import MemoryChannel
    from bot.runtime import Runtime

    rt = Runtime(settings, holder, store=store, clock=clock)
    rt.register_channel(MemoryChannel("memory"))
    await rt.start(run_worker=False, migrate=False)
    yield rt
    await rt.stop()


@pytest.fixture
def service(hruntime, holder, store, clock):
    svc = HandoffService(store, hruntime, lambda: holder.flow, parse_office_hours(HOURS), wait_minutes=10, clock=clock)
    hruntime.handoff_hooks = svc
    return svc


@pytest.fixture
def channel(hruntime):
    return hruntime.channels["memory"]


async def say(runtime, user: str, text: str = "", choice: str = "", kind: str = "text") -> None:
    """The person does something on the memory channel; the runtime runs it to the end."""
    if choice:
        kind = "tap"
    await runtime.accept([InboundEvent("memory", f"e{next(_ids)}", user, kind, text=text, choice=choice)])
    await runtime.drain()


async def ask_for_person(runtime, user: str, store) -> str:
    """Start, then ask for a person; returns the new handoff's id."""
    from bot.store import handoffs

    await say(runtime, user, "こんにちは")
    await say(runtime, user, "人と話したい")
    async with store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
    return max(rows, key=lambda h: h.queued_at).id


ALWAYS_OPEN = "timezone: Asia/Tokyo\nweekly: [{days: daily, from: '00:00', to: '24:00'}]\n"


def make_web_settings(tmp_path, **overrides):
    """Settings for a served app: the mini flow with console texts, counsellors always on duty."""
    from bot.settings import Settings
    from tests.conftest import SECRET

    flows, locales = content_dirs(tmp_path / "content")
    hours = tmp_path / "office_hours.yaml"
    hours.write_text(ALWAYS_OPEN)
    values = dict(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=SECRET.decode(), BOT_FLOWS_DIR=flows,
                  BOT_LOCALES_DIR=locales, BOT_FLOW="mini", DATABASE_URL="", BOT_OFFICE_HOURS_FILE=hours,
                  BOT_HANDOFF_WAIT_MINUTES=10)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def web_settings(tmp_path):
    return make_web_settings(tmp_path)


def assemble_web(settings, store):
    """The process ``serve`` runs (``bot.app.assemble``): the runtime, the live bus, the handoff
    service and the web channel, on ``store``."""
    from bot.app import assemble

    return assemble(settings, holder=BundleHolder(settings.bot_flows_dir, settings.bot_locales_dir, "mini"),
                    store=store, poll_interval=0.05)


@pytest.fixture
async def web_process(web_settings, store):
    """The process with its worker and sender running, on the real clock, as in ``serve``."""
    process = assemble_web(web_settings, store)
    await process.runtime.start(run_worker=True, migrate=False)
    yield process
    await process.runtime.stop()


@pytest.fixture
def web_runtime(web_process):
    return web_process.runtime


@pytest.fixture
async def client(web_process):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    c = TestClient(TestServer(build_app(web_process)))
    await c.start_server()
    yield c
    await c.close()


@pytest.fixture
async def serve(store_target, tmp_path):
    """``await serve(**settings)``: another web process on the test database (its own Store,
    runtime and app), with these settings; a client for it. Stopped after the test."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    started = []

    async def start(**overrides):
        settings = make_web_settings(tmp_path, **overrides)
        store = store_target.make()
        await store.upgrade()
        process = assemble_web(settings, store)
        rt = process.runtime
        await rt.start(run_worker=True, migrate=False)
        c = TestClient(TestServer(build_app(process)))
        await c.start_server()
        started.append((c, rt))
        return c, rt

    yield start
    for c, rt in reversed(started):
        await c.close()
        await rt.stop()
