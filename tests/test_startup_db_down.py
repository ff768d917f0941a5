"""A server started while its database is down still starts: /healthz says so, people get answers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_and_reports_degraded_when_postgresql_is_down(tmp_path):
    port, dead = _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{dead}/nothing", "PORT": str(port),
           "BOT_DATA_DIR": str(tmp_path), "BOT_SECRET_KEY": "k" * 40}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        status, body = None, b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as err:
                status, body = err.code, err.read()
            except OSError:
                time.sleep(0.2)
                continue
            break
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-2000:]
        assert status == 503 and b'"not ready"' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/chat", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode(errors="replace")
    assert "Traceback" not in out
