"""``python -m bot serve`` stops cleanly on SIGTERM, also when the signal comes twice at once
(GNU ``timeout`` and some process managers signal the process and then its whole group), and
finishes the deliveries under way first."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

from bot.channels.line.fake import LineStandIn, make_text, new_user_id, sign, webhook_body

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path) -> subprocess.Popen:
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "BOT_DATA_DIR": str(tmp_path), "DATABASE_URL": "",
           "BOT_LOG_FORMAT": "text"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(proc.communicate()[0].decode(errors="replace")[-2000:])


def test_a_repeated_sigterm_does_not_cut_the_shutdown_short(tmp_path):
    proc = _serve(tmp_path)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.02)  # apart, so that the kernel does not merge them into one: the second lands mid-shutdown
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out[-2000:]
    assert "runtime.stopped" in out, out[-2000:]  # the runtime and the database closed in order
    assert "Exception closing" not in out and "Traceback" not in out, out[-2000:]


def test_ctrl_c_stops_cleanly(tmp_path):
    proc = _serve(tmp_path)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0 and "runtime.stopped" in out and "Traceback" not in out, out[-2000:]


class SlowLine(LineStandIn):
    """LINE answering replies after ``delay`` seconds; ``replying`` is set when one arrives."""

    def __init__(self, token: str, delay: float) -> None:
        super().__init__(token)
        self.delay = delay
        self.replying = asyncio.Event()

    async def _handle(self, request):
        if request.path.endswith("/message/reply"):
            self.replying.set()
            await asyncio.sleep(self.delay)
        return await super()._handle(request)


async def test_sigterm_mid_delivery_finishes_it_and_loses_or_doubles_nothing(tmp_path):
    """LINE is slow (1.5 s a reply). SIGTERM arrives while the reply is on its way: the server
    stops taking work, lets the delivery end and records it, then exits. Before, the delivery
    was cut, and the row was sent again a minute later, by push."""
    secret, token = "line-secret-0123456789", "line-access-token"
    async with SlowLine(token, delay=1.5) as line:
        port = _free_port()
        env = {**os.environ, "PORT": str(port), "BOT_DATA_DIR": str(tmp_path), "DATABASE_URL": "",
               "BOT_LOG_FORMAT": "text", "LINE_CHANNEL_SECRET": secret, "LINE_CHANNEL_ACCESS_TOKEN": token,
               "LINE_API_BASE_URL": line.url}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            async with aiohttp.ClientSession() as http:
                await _ready(http, port, proc)
                body = webhook_body([make_text(new_user_id(), "hello")])
                async with http.post(f"http://127.0.0.1:{port}/line/webhook", data=body,
                                     headers={"X-Line-Signature": sign(secret, body),
                                              "Content-Type": "application/json"}) as resp:
                    assert resp.status == 200
            await asyncio.wait_for(line.replying.wait(), 20)
            proc.send_signal(signal.SIGTERM)
            out = (await asyncio.wait_for(proc.communicate(), 30))[0].decode(errors="replace")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, out[-2000:]
    assert "runtime.stopped" in out and "Traceback" not in out, out[-2000:]
    assert [(r.kind, r.status) for r in line.requests if r.kind in ("reply", "push")] == [("reply", 200)]
    with sqlite3.connect(tmp_path / "bot.db") as db:  # statuses only: the content is sealed
        assert [s for (s,) in db.execute("SELECT status FROM outbox")] == ["sent"]


async def _ready(http, port: int, proc) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.returncode is None:
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the server did not become ready")
