"""The fault suite (issue 19): the bot as deployed, people writing to it through LINE, and a fault
in the middle; then each person's answers are checked against what the engine says.

    .venv/bin/python bench/faults.py [--quick] [--only NAME ...] [--report-only] [--allow-pg-restart]
        [--users N] [--drain SECONDS] [--list]

Each scenario starts the real processes (``python -m bot serve``, and ``python -m bot worker``
on PostgreSQL) on a fresh database (SQLite in a temporary folder, or a new database on the local
PostgreSQL at 127.0.0.1:5432, dropped afterwards), with the stand-in LINE
(``bot/channels/line/fake.py``: reply tokens once only and expiring after 60 s, failures, slowness)
in this process. People write every ``1.5`` s, one chat's events in order, each delivery signed as
LINE signs it and redelivered when it is not acknowledged with 2xx within 2 s. The fault comes 4 s
into the load; the load goes on 6 s after it; then the suite waits (``--drain``) until every
acknowledged message is answered and nothing is pending in the inbox or the outbox.

One line per scenario: sent, acknowledged, refused (deliveries not acknowledged in time, each
attempt), answered (and how many of those by push), lost (acknowledged, still unanswered when the
suite stopped waiting), duplicated,
out of order, notices (messages that answer no input: the safety message while the database is
down), and the longest wait from acknowledgement (or the fault's end, if later) to the answer.
The goal in every scenario: everything acknowledged in the end, lost 0, duplicated 0, out of
order 0, every answer within 10 s of the fault's end. Exit status 1 when a scenario misses it,
unless ``--report-only``. ``pg_restart`` restarts the shared server and runs only with
``--allow-pg-restart``; ``pg_kill_connections`` is its variant for shared machines and CI.
``--quick`` (CI): three scenarios, 10 people, up to 75 s to settle.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faultkit.check import GOAL_WAIT, Result  # noqa: E402
from bench.faultkit.scenarios import BY_NAME, QUICK, SCENARIOS, Options, run_scenario  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"the CI subset: {', '.join(QUICK)}")
    ap.add_argument("--only", action="append", choices=sorted(BY_NAME), metavar="NAME", help="run this scenario (repeatable)")
    ap.add_argument("--report-only", action="store_true", help="print the figures, exit 0 even when a goal is missed")
    ap.add_argument("--allow-pg-restart", action="store_true", help="let pg_restart restart the local PostgreSQL server")
    ap.add_argument("--users", type=int, help="people writing at once (default 30, --quick 10)")
    ap.add_argument("--drain", type=float, help="seconds to wait for the last answers after the load (default 90, --quick 75: longer than the 60 s lease, so that a stall shows as a wait, not a loss)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return ap.parse_args(argv)


async def run(args: argparse.Namespace) -> list[Result]:
    opts = Options(quick=args.quick, allow_pg_restart=args.allow_pg_restart)
    opts.users = args.users or (10 if args.quick else opts.users)
    opts.drain = args.drain if args.drain is not None else (75.0 if args.quick else opts.drain)
    names = args.only or (QUICK if args.quick else [s.name for s in SCENARIOS])
    print(f"fault suite: {len(names)} scenario(s), {opts.users} people each writing every {opts.seconds_per_turn} s, "
          f"up to {opts.drain:.0f} s to settle; goal: lost 0, duplicated 0, out of order 0, "
          f"every answer within {GOAL_WAIT:.0f} s of the fault's end; logs in {opts.logs}", flush=True)
    results = []
    for name in names:
        try:
            result = await run_scenario(BY_NAME[name], opts)
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others' figures
            traceback.print_exc()
            result = Result(name, error=f"the scenario itself failed: {type(exc).__name__}: {exc}")
        print(result.line(), flush=True)
        for problem in result.problems:
            print(f"    {problem}", flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:<24} {s.db:<6} {s.about}{'  [quick]' if s.name in QUICK else ''}")
        return 0
    results = asyncio.run(run(args))
    missed = [r.name for r in results if not r.ok]
    print(f"missed the goal: {', '.join(missed)}" if missed else "every scenario met the goal")
    return 0 if args.report_only or not missed else 1


if __name__ == "__main__":
    sys.exit(main())
