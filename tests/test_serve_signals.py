"""``python -m bot serve`` stops cleanly on SIGTERM, also when the signal comes twice at once
(GNU ``timeout`` and some process managers signal the process and then its whole group)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
