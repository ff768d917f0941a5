"""The wiring: what ``assemble`` puts together, the runtime started and stopped with the app, and
the internal port in the processes without a web server."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.app import assemble, attach_runtime, build_app
from bot.channels.memory import MemoryChannel
from bot.envelope import InboundEvent

from .conftest import MINI, SECRET

ROOT = Path(__file__).resolve().parents[1]


def test_assemble_wires_the_handoff_and_the_channels_explicitly(settings, mini_holder):
    process = assemble(settings, holder=mini_holder)
    runtime = process.runtime
    assert runtime.handoff_hooks is process.handoff       # the handoff hears of every turn
    assert process.handoff.bus is process.bus and process.web.bus is process.bus
    assert runtime.channels == {"web": process.web}       # LINE is not configured here
    quiet = assemble(settings, holder=mini_holder, deliver=False)
    assert quiet.runtime.channels == {} and quiet.runtime.handoff_hooks is quiet.handoff


async def test_the_app_runs_the_worker_and_sender(settings, mini_holder, store_target):
    process = assemble(settings, holder=mini_holder, store=store_target.make(), poll_interval=0.05)
    rt = process.runtime
    ch = MemoryChannel("memory")
    rt.register_channel(ch)
    app = build_app(process)
    attach_runtime(app, process)
    async with TestClient(TestServer(app)):
        async with asyncio.timeout(30):  # the runtime starts (migrates, seeds flow version 1) in the background
            await rt.store.schema_ready.wait()
        await rt.accept([InboundEvent("memory", "e1", "U1", "start", locale_hint="en")])
        [d] = await ch.wait_for(1)
    assert d.keys == ["welcome.hello"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_worker_process_serves_the_internal_port(tmp_path):
    """``python -m bot worker`` has no web server, but Prometheus scrapes it too."""
    port = _free_port()
    env = {**os.environ, "BOT_DATA_DIR": str(tmp_path), "DATABASE_URL": "", "BOT_SECRET_KEY": SECRET.decode(),
           "BOT_FLOWS_DIR": str(MINI / "flows"), "BOT_LOCALES_DIR": str(MINI / "locales"), "BOT_FLOW": "mini",
           "BOT_METRICS_PORT": str(port), "BOT_LOG_FORMAT": "text"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    assert r.status == 200 and b"bot_turns_total" in r.read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[-2000:]
                time.sleep(0.1)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode(errors="replace")
    assert proc.returncode == 0 and "Traceback" not in out
