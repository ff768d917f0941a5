"""The chat benchmark still measures what it says: every message read afresh, figures printed."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def test_the_chat_benchmark_runs_and_prints_its_figures_against_the_baseline():
    run = subprocess.run([sys.executable, "bench/chat_bench.py", "--limit", "40", "--passes", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "40 messages of understanding.tsv" in run.stdout
    assert "chat --json turn: median" in run.stdout and "ratio turn/baseline: median" in run.stdout


def test_before_each_pass_no_message_is_remembered():
    """A real message is new: a pass that found its messages already read would time nothing."""
    from bench.chat_bench import forget_messages
    from bot.engine import UserInput, load_bundle, step
    from bot.engine import classifier, normalise, tokens, turn

    flow = load_bundle(ROOT / "flows", ROOT / "locales", dt.date(2026, 11, 25)).flow(None)
    step(flow, None, UserInput.typed("インスタで知り合った人に写真を送ったらお金を要求された", locale_hint="ja"),
         dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc))
    caches = (tokens.tokenize, turn._read, classifier._verdict, normalise.normalise)
    assert all(c.cache_info().currsize > 0 for c in caches)
    forget_messages()
    assert [c.cache_info().currsize for c in caches] == [0, 0, 0, 0]
