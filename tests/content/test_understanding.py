"""The evaluation set tests/data/understanding.tsv, run by the same code as ``python -m bot eval``.

A missed crisis is the worst bug this product can have. The targets of issue 13 are crisis and
emergency recall 100%, false crisis at most 1% of ordinary messages, overall routing at least
95%, on both splits; they are not met yet, so the figures last measured are a floor no change
may fall below. The `test` split is held back: the matching rules are never tuned on it, so its
figures say whether the rules generalise.
"""
from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache

import pytest

from bot.evaluation import CRISIS_LABELS, DEFAULT_SET, TARGETS, evaluate, load_set, print_report

from .helpers import flow

SPLITS = ("dev", "test")
FLOOR = DEFAULT_SET.parent / "understanding_floor.json"


@lru_cache(maxsize=1)
def rows():
    return tuple(load_set(DEFAULT_SET))


@lru_cache(maxsize=1)
def reports():
    return {r.split: r for r in evaluate(flow(), list(rows()), SPLITS)}


def test_the_set_is_big_varied_and_split():
    all_rows = rows()
    locales = Counter(r.locale for r in all_rows)
    assert len(all_rows) >= 1000 and locales["ja"] >= 600 and locales["en"] >= 400, locales
    crisis = [r for r in all_rows if set(r.expected) & CRISIS_LABELS]
    lookalike = [r for r in all_rows if r.is_ordinary]
    assert len(crisis) >= 300 and len(lookalike) >= 300
    about = [r for r in all_rows if set(r.expected) & {"evidence", "forget", "delete_which", "feelings"}
             or any(e.startswith("age_band=") or e.startswith("ev_") for e in r.expected)]
    assert len(about) >= 100
    splits = Counter(r.split for r in all_rows)
    assert 0.17 <= splits["test"] / len(all_rows) <= 0.23, splits
    assert len({(r.where, r.message) for r in all_rows}) == len(all_rows), "a message is listed twice"
    states = set(flow().states)
    assert all(r.where == "start" or r.where in states for r in all_rows)


@pytest.mark.parametrize("split", SPLITS)
def test_no_change_makes_understanding_worse_than_the_recorded_floor(split, capsys):
    """A ratchet: tests/data/understanding_floor.json holds the figures last measured
    (``python -m bot eval --record-floor``); a change that lowers any of them fails here. The
    issue's targets are printed beside them: they are not met yet on either split."""
    report = reports()[split]
    with capsys.disabled():
        print()
        print_report(report, examples=False)
        short = report.failures_of_targets()
        if short:
            print(f"{split}: short of the issue's targets: " + "; ".join(short))
    floor = json.loads(FLOOR.read_text(encoding="utf-8"))[split]
    assert not report.failures_of_targets(floor), f"{split}: " + "; ".join(report.failures_of_targets(floor))


def test_the_floor_is_never_below_what_it_was_when_recorded_for_the_issue():
    # The floor only moves up (new rows aside): the figures of 2026-12-01 after rounds 9-14
    # (ja and en, 3,603 rows written before the keywords were read, tuned on in four passes,
    # each measured fresh first) and the model refit, test split. On the held-back rows of
    # rounds 1-8 alone the test split went from 91.4 / 90.3 / 2.45 / 88.5 to 92.0 / 92.6 / 2.29 / 90.1.
    # (The refit with round 14 traded 2 held-back crises of rounds 1-13 for a false crisis and
    # routing: 93.0 / 2.15 / 90.0 -> 92.8 / 2.08 / 90.1 on those rows.)
    floor = json.loads(FLOOR.read_text(encoding="utf-8"))
    assert floor["test"]["crisis_recall"] >= 92.7 and floor["test"]["emergency_recall"] >= 94.1
    assert floor["test"]["false_crisis_max"] <= 2.11 and floor["test"]["routing"] >= 90.1


def test_the_students_story_lands_in_the_threat_branch():
    # The case behind the product (FACTS.md), typed as one first message.
    from bot.engine import UserInput, step

    from .helpers import NIGHT

    turn = step(flow(), None, UserInput.typed("インスタで知り合った人に動画を送ったら学校にばらすって言われた"), NIGHT)
    assert turn.matched == "intent:threat_spread"
    assert "sit_threat" in turn.entered
    assert turn.replies[0].key == "system.intro"  # a first message still hears that this is a bot


def test_the_targets_are_the_issues():
    assert TARGETS == {"crisis_recall": 100.0, "emergency_recall": 100.0, "false_crisis_max": 1.0, "routing": 95.0}
