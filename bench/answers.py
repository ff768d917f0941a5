"""Every row of the evaluation set, answered: one JSON line per row with everything a turn says.

    .venv/bin/python bench/answers.py [--set FILE] > answers.jsonl

Run before and after a change to the matching machinery and compare with ``diff``: a change
meant only to make the bot faster must leave every line as it was. Besides the single rows, each
row is also sent as the second message of a conversation that began with an unmatched one (so
that joining fragments, the model's routing and the fallback are exercised too).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.commands import _turn_json  # noqa: E402
from bot.engine import UserInput, load_bundle, step  # noqa: E402
from bot.evaluation import DEFAULT_SET, NIGHT, load_set, run_row  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(DEFAULT_SET))
    args = ap.parse_args()
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", dt.date(2026, 11, 25))
    flow = bundle.flow(None)
    out = sys.stdout
    rows = load_set(Path(args.set))
    for row in rows:
        result = run_row(flow, row)
        line = _turn_json(result.turn)
        line.update(row=row.line, passed=result.passed, variables=dict(result.turn.session.variables),
                    resume=result.turn.session.resume, misses=result.turn.session.misses,
                    because=list(result.turn.because))
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    # Two messages in a row: the first often unmatched, so the second is also read joined to it.
    later = NIGHT + dt.timedelta(seconds=20)
    for i, row in enumerate(rows):
        locale = row.locale if row.locale in flow.locales else flow.default_locale
        first = step(flow, None, UserInput.typed(rows[i - 1].message[:30], locale_hint=locale), NIGHT)
        turn = step(flow, first.session, UserInput.typed(row.message), later)
        line = _turn_json(turn)
        line.update(pair=row.line, variables=dict(turn.session.variables), resume=turn.session.resume,
                    fragments=[t for _, t in turn.session.fragments])
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
