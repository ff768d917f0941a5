"""Engine benchmark: turns per second, median and p99 microseconds per turn, load time.

    .venv/bin/python bench/engine_bench.py [--flows DIR --locales DIR --flow NAME] [--turns N]

The baseline, measured in the same run on the same flow: firing one event of a `transitions`
machine shared by all conversations (state set on a plain object, event fired directly), the
cheapest way PLATFORMS.md found to use that library per message. Figures are printed as ratios
to it, since absolute times drift between machines and runs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import UserInput, load_bundle, step  # noqa: E402

TEXTS = [
    "インスタで知り合った人に動画を送ったら学校にばらすって言われた", "お金を要求された", "どうしたらいいの",
    "死にたい", "証拠ってどうやって残すの", "ありがとう", "1", "2", "someone is threatening to leak my pics",
    "i paid already", "警察に言ったら怒られる？", "ｱﾘｶﾞﾄｳ", "😢😢😢", "English", "日本語",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", default=str(ROOT / "flows"))
    ap.add_argument("--locales", default=str(ROOT / "locales"))
    ap.add_argument("--flow", default=None)
    ap.add_argument("--turns", type=int, default=50_000)
    ap.add_argument("--conversations", type=int, default=1_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    bundle = load_bundle(args.flows, args.locales, dt.date.today())
    load_ms = (time.perf_counter() - t0) * 1000
    if bundle.errors:
        sys.exit("flows have errors: run python -m bot check")
    flow = bundle.flow(args.flow)

    # Baseline: one shared transitions machine, one trigger per turn on a plain object.
    from transitions import Machine

    class Model:
        pass

    names = list(flow.states)
    edges = [{"trigger": "go", "source": s, "dest": names[(i + 1) % len(names)]} for i, s in enumerate(names)]
    machine = Machine(model=None, states=names, transitions=edges, initial=names[0], auto_transitions=False)
    event = machine.events["go"]
    model = Model()
    model.state = names[0]
    base = []
    for _ in range(args.turns):
        t = time.perf_counter_ns()
        event.trigger(model)
        base.append(time.perf_counter_ns() - t)

    # The engine: many conversations, each a random walk of taps and typed messages.
    rng = random.Random(7)
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc)
    sessions = [step(flow, None, UserInput("start", locale_hint="ja"), now).session for _ in range(args.conversations)]
    times = []
    gc.collect()
    for i in range(args.turns):
        c = rng.randrange(args.conversations)
        s = sessions[c]
        choices = list(flow.states[s.state].choices)
        if choices and rng.random() < 0.6:
            user_input = UserInput.tapped(rng.choice(choices).id, s.state)
        else:
            user_input = UserInput.typed(rng.choice(TEXTS))
        t = time.perf_counter_ns()
        turn = step(flow, s, user_input, now)
        times.append(time.perf_counter_ns() - t)
        sessions[c] = turn.session

    # Where a move leads, as a turn asks it: read from the flow's machine (no event fired).
    moves = [(s, t) for s, t, _ in flow.machine.edges()]
    lookups = []
    for i in range(args.turns):
        source, trigger = moves[i % len(moves)]
        t = time.perf_counter_ns()
        flow.machine.resolve(source, trigger)
        lookups.append(time.perf_counter_ns() - t)

    med, p99 = statistics.median(times) / 1000, percentile(times, 0.99) / 1000
    bmed = statistics.median(base) / 1000
    total_s = sum(times) / 1e9
    print(f"flow {flow.name} ({len(flow.states)} states), {args.turns} turns over {args.conversations} conversations")
    print(f"load and validate flows and locales: {load_ms:.0f} ms")
    print(f"engine turn: median {med:.1f} us, p99 {p99:.1f} us, {args.turns / total_s:,.0f} turns/s")
    print(f"baseline (transitions event on a shared machine): median {bmed:.1f} us")
    print(f"ratio engine/baseline: median {med / bmed:.2f}x")
    print(f"where a move leads (read from the machine): median {statistics.median(lookups) / 1000:.2f} us")


if __name__ == "__main__":
    main()
