"""The LINE benchmark still measures what it says: a tiny run of each of its three servers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
