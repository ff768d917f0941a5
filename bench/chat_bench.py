"""The `bot chat --json` path, one turn per message of the evaluation set: median and p90 microseconds.

    .venv/bin/python bench/chat_bench.py [--set FILE] [--passes N] [--limit N] [--profile]

Each turn is what ``bot chat --json`` does with one input line: the line read into an input, one
``step`` (tokens, keywords, idioms, negation, ages, language, the model, the engine's move) and
the turn written as JSON. Messages are those of tests/data/understanding.tsv, each in the state
its row names (a first message in the start state), in Japanese or English as the row says.

A real message is new: before every pass the caches of whole messages are emptied, so each pass
reads every message afresh. The caches of words (a dictionary word's spellings, an English
lemma) stay, as they do in a running bot; the first pass, with them empty too, is printed apart.

The baseline, measured in the same run and interleaved with the turns (so that a machine busy
with other work slows both alike): SudachiPy alone cutting the same message into words (split
mode C, the tokeniser the bot uses), the least any reading of Japanese text costs. Figures are
printed as ratios to it, since absolute times drift between machines and runs.

Instruction counts, repeatable on a loaded machine: run under ``valgrind --tool=callgrind`` with
``--passes 1`` and ``--passes 2`` (and ``--limit``); the difference of the totals, divided by the
turns of one pass, is the cost of a turn in instructions.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.commands import _parse_line, _turn_json  # noqa: E402
from bot.engine import Session, UserInput, load_bundle, step  # noqa: E402
from bot.evaluation import DEFAULT_SET, NIGHT, load_set  # noqa: E402


def percentile(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def forget_messages() -> None:
    """Empty every cache keyed by a whole message (not those keyed by a word)."""
    from bot.engine import classifier, normalise, tokens, turn

    for module, name in ((tokens, "tokenize"), (turn, "_read"), (classifier, "_verdict"), (normalise, "normalise")):
        cached = getattr(module, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    clear = getattr(turn, "forget_messages", None)
    if clear is not None:
        clear()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(DEFAULT_SET))
    ap.add_argument("--passes", type=int, default=5, help="timed passes over the messages, after a first one")
    ap.add_argument("--limit", type=int, default=0, help="only the first N messages")
    ap.add_argument("--no-baseline", action="store_true",
                    help="time the turns alone (for instruction counts under callgrind)")
    ap.add_argument("--profile", action="store_true", help="cProfile one pass instead: where the time goes")
    ap.add_argument("--sort", default="tottime", help="with --profile: tottime or cumulative")
    args = ap.parse_args()

    t0 = time.perf_counter()
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", dt.date(2026, 11, 25))
    load_ms = (time.perf_counter() - t0) * 1000
    if bundle.errors:
        sys.exit("flows have errors: run python -m bot check")
    flow = bundle.flow(None)
    rows = load_set(Path(args.set))
    if args.limit:
        rows = rows[: args.limit]

    ts = NIGHT.timestamp()
    inputs = []
    for row in rows:
        locale = row.locale if row.locale in flow.locales else flow.default_locale
        if row.where == "start" or row.where not in flow.states:
            session = step(flow, None, UserInput("start", locale_hint=locale), NIGHT).session
        else:
            session = Session(row.where, locale, flow.version, {}, (row.where,), ts - 600, ts - 30)
        inputs.append((session, row.message.replace("\n", " ") + "\n"))

    from bot.engine.tokens import _sudachi

    tokenizer, mode = _sudachi()
    baseline = not args.no_baseline

    def one_pass() -> tuple[list[int], list[int]]:
        turns, base = [], []
        clock = time.perf_counter_ns
        for session, line in inputs:
            if baseline:
                t = clock()
                tokenizer.tokenize(line.rstrip("\n"), mode)
                base.append(clock() - t)
            t = clock()
            turn = step(flow, session, _parse_line(line), NIGHT)
            json.dumps(_turn_json(turn), ensure_ascii=False)
            turns.append(clock() - t)
        return turns, base

    if args.profile:
        import cProfile
        import pstats

        one_pass()
        forget_messages()
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        one_pass()
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)
        return

    gc.collect()
    first, first_base = one_pass()
    times: list[int] = []
    base: list[int] = []
    medians = []
    for _ in range(args.passes):
        forget_messages()
        gc.collect()
        t, b = one_pass()
        times += t
        base += b
        medians.append(statistics.median(t) / 1000)

    def us(ns: float) -> str:
        return f"{ns / 1000:.1f} us"

    print(f"flow {flow.name}: {len(inputs)} messages of {Path(args.set).name}, {args.passes} passes after a first")
    print(f"load and validate flows and locales: {load_ms:.0f} ms")
    print(f"first pass (no word seen before): median {us(statistics.median(first))}, p90 {us(percentile(first, 0.9))}")
    if times:
        med, p90 = statistics.median(times), percentile(times, 0.9)
        print(f"chat --json turn: median {us(med)}, p90 {us(p90)}, {len(times) / (sum(times) / 1e9):,.0f} turns/s "
              f"(median of each pass: {', '.join(f'{m:.0f}' for m in medians)} us)")
    if base:
        med, p90, bmed = statistics.median(times), percentile(times, 0.9), statistics.median(base)
        print(f"baseline (SudachiPy alone cutting the message into words): median {us(bmed)}, "
              f"p90 {us(percentile(base, 0.9))}")
        print(f"ratio turn/baseline: median {med / bmed:.2f}x, p90 {p90 / percentile(base, 0.9):.2f}x")


if __name__ == "__main__":
    main()
