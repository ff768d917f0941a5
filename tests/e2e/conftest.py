"""A real server (the app as ``bot.app`` builds it, on SQLite) and Debian's Chromium.

Playwright's own browser download does not work here: the tests drive ``/usr/bin/chromium``
(``apt-get install chromium``; ``make browser`` and ``.ci/run`` install it). Without it the
tests are skipped on a developer's machine and FAIL under ``CI=true``.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from bot.handoff.accounts import create_counsellor
from tests.handoff.conftest import ALWAYS_OPEN
from tests.handoff.support import ROOT, content_dirs

CHROMIUM = os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "a long demo password"


def _require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    message = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def browser():
    _require_chromium()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=10_000)  # CI runs everything on two cores: be patient, not flaky
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class Server:
    def __init__(self, base: str, runtime, service):
        self.base, self.runtime, self.service = base, runtime, service


async def start_server(tmp_path: Path, hours: str = ALWAYS_OPEN, wait_minutes: int = 10, real_flow: bool = False):
    """``real_flow``: the project's own flows/ and locales/ (first_contact, its long texts)
    instead of the mini fixture flow."""
    from aiohttp import web

    from bot.app import assemble, attach_runtime, build_app
    from bot.reload import BundleHolder
    from bot.settings import Settings
    from tests.conftest import SECRET

    if real_flow:
        flows, locales, flow_name = ROOT / "flows", ROOT / "locales", "first_contact"
    else:
        (flows, locales), flow_name = content_dirs(tmp_path / "content"), "mini"
    hours_file = tmp_path / "office_hours.yaml"
    hours_file.write_text(hours)
    settings = Settings(BOT_DATA_DIR=tmp_path / "data", BOT_SECRET_KEY=SECRET.decode(), BOT_FLOWS_DIR=flows,
                        BOT_LOCALES_DIR=locales, BOT_FLOW=flow_name, DATABASE_URL="", BOT_OFFICE_HOURS_FILE=hours_file,
                        BOT_HANDOFF_WAIT_MINUTES=wait_minutes)
    process = assemble(settings, holder=BundleHolder(flows, locales, flow_name), poll_interval=0.05)
    runtime = process.runtime
    app = build_app(process)
    attach_runtime(app, process)
    # Migrate before the app starts the runtime (two migrations at once would wait on each other).
    await runtime.store.upgrade()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await create_counsellor(runtime.store, "aiko", PASSWORD)
    await create_counsellor(runtime.store, "ben", PASSWORD)
    return runner, Server(f"http://127.0.0.1:{port}", runtime, process.handoff)


@pytest.fixture
async def server(tmp_path):
    runner, srv = await start_server(tmp_path)
    yield srv
    await runner.cleanup()
