"""The LINE benchmark still measures what it says: a tiny run of each of its three servers, and of
the wrk driver."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_line_benchmark_runs_and_every_target_acks_and_answers_everything():
    run = subprocess.run([sys.executable, "bench/line_webhook.py", "--deliveries", "60", "--warmup", "10",
                          "--users", "20", "--concurrency", "4", "--reply-timeout", "10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    [results] = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(results) == {"echo", "bot", "layer"}
    for name, r in results.items():
        assert (r["acked"], r["answered"], r["late"]) == (60, 60, 0), (name, r)
    assert "bot/echo" in run.stdout and "layer/echo" in run.stdout


@pytest.mark.skipif(shutil.which("wrk") is None and os.environ.get("CI") != "true",
                    reason="wrk is not installed (make test installs Debian's package; CI must have it)")
def test_the_wrk_driver_counts_what_wrk_sent_and_waits_for_every_answer():
    run = subprocess.run([sys.executable, "bench/line_webhook.py", "--driver", "wrk", "--seconds", "1",
                          "--wrk-deliveries", "6000", "--wrk-connections", "4", "--warmup", "10", "--users", "20",
                          "--only", "bot", "--reply-timeout", "20"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    [results] = json.loads(run.stdout.strip().splitlines()[-1])
    bot = results["bot"]
    # wrk stops counting at its deadline with up to one request in flight per connection, which
    # the bot still answers: between acked and acked + 4 answers.
    assert bot["acked"] > 10 and bot["acked"] <= bot["answered"] <= bot["acked"] + 4 and bot["late"] == 0, bot
    assert "wrk, 1 thread, 4 connections" in run.stdout


def test_the_wrk_driver_refuses_to_send_a_delivery_twice(tmp_path):
    # wrk cycles its requests; a second copy would be a redelivery (acked, never answered).
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed") if os.environ.get("CI") != "true" else pytest.fail("no wrk in CI")
    from bench import wrk_driver

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        raw = [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()] * 3
        with pytest.raises(RuntimeError, match="more than the 3 deliveries"):
            wrk_driver.run(f"http://127.0.0.1:{port}/", raw, tmp_path, connections=1, seconds=1)
    finally:
        server.terminate()
        server.wait(10)
