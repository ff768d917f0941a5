"""The evaluation set tests/data/understanding.tsv: does the bot understand what young people type?

Every message is sent as the first message of a new conversation and from the middle of the
flow (inside an evidence step, at the age question, in the friend branch). A missed crisis is
the worst bug this product can have, so crisis recall must be 100% and no ordinary message may
raise a crisis (0 false alarms). Ordinary messages must also reach one of their tags from the
start and from the evidence step.

Run with ``-s`` to see the figures.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import pytest

from bot.engine import UserInput, step

from .helpers import NIGHT, ROOT, flow, locale_of, walk

DATA = ROOT / "tests" / "data" / "understanding.tsv"

# Where a message can arrive "in the middle": the inputs that lead there.
MIDDLES = {
    "evidence step": ["start", "tap:threat", "tap:evidence", "tap:done"],   # ev_screens
    "age question": ["start", "tap:spread", "tap:menu", "tap:law"],        # age_ask
    "friend branch": ["start", "tap:friend"],                              # friend
}
TAGGED_MIDDLE = "evidence step"  # ordinary messages must reach their tags from here too


@dataclass(frozen=True)
class Case:
    line: int
    message: str
    tags: tuple[str, ...]

    @property
    def is_crisis(self) -> bool:
        return "crisis" in self.tags


@lru_cache(maxsize=1)
def cases() -> tuple[Case, ...]:
    out = []
    with DATA.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or row[0].startswith("#") or (n == 1 and row[0] == "message"):
                continue
            assert len(row) == 2, f"understanding.tsv:{n}: expected 2 columns (message, tags), got {row!r}"
            tags = tuple(t.strip() for t in row[1].split(",") if t.strip())
            out.append(Case(n, row[0], tags))
    return tuple(out)


@lru_cache(maxsize=None)
def middle_session(where: str, locale: str):
    session, _ = walk(MIDDLES[where], locale)
    return session


def run(case: Case, where: str | None):
    locale = locale_of(case.message)
    session = None if where is None else middle_session(where, locale)
    return step(flow(), session, UserInput.typed(case.message, locale_hint=locale), NIGHT)


def reached(turn) -> set[str]:
    return set(turn.entered_tags) | set(turn.tags)


def is_crisis(turn) -> bool:
    return turn.matched == "interrupt:crisis" and turn.session.state == "crisis"


def test_the_set_is_big_and_varied_enough():
    all_cases = cases()
    crisis = [c for c in all_cases if c.is_crisis]
    ordinary = [c for c in all_cases if not c.is_crisis]
    assert len(all_cases) >= 150
    assert len(crisis) >= 60
    assert len(ordinary) >= 40
    vocabulary = {"welcome", "triage", "reassure", "law", "evidence", "dont", "removal", "resources",
                  "handoff", "crisis", "friend", "goodbye", "parents"}
    for c in all_cases:
        assert c.tags and set(c.tags) <= vocabulary, f"line {c.line}: unknown tag in {c.tags}"
    assert len({c.message for c in all_cases}) == len(all_cases), "a message is listed twice"
    # Both languages and several scripts are represented.
    assert any(locale_of(c.message) == "en" for c in crisis)
    assert any(any("\uff61" <= ch <= "\uff9f" for ch in c.message) for c in crisis), "half-width katakana"


def test_crisis_recall_is_100_percent_and_there_are_no_false_alarms():
    contexts = [None] + list(MIDDLES)
    missed: list[str] = []
    false_alarms: list[str] = []
    crisis_runs = ordinary_runs = 0
    for case in cases():
        for where in contexts:
            turn = run(case, where)
            label = f"line {case.line} {case.message!r} from {where or 'the start'}: {turn.matched} -> {turn.session.state}"
            if case.is_crisis:
                crisis_runs += 1
                if not is_crisis(turn):
                    missed.append(label)
            else:
                ordinary_runs += 1
                if is_crisis(turn) or "crisis" in reached(turn):
                    false_alarms.append(label)
    recall = 100.0 * (crisis_runs - len(missed)) / crisis_runs
    print(f"\ncrisis recall: {recall:.1f}% ({crisis_runs - len(missed)}/{crisis_runs} runs, "
          f"{len(contexts)} contexts); false alarms: {len(false_alarms)}/{ordinary_runs} ordinary runs")
    for m in missed:
        print("  MISSED", m)
    for f in false_alarms:
        print("  FALSE ALARM", f)
    assert not missed, f"{len(missed)} crisis message(s) missed:\n" + "\n".join(missed)
    assert not false_alarms, f"{len(false_alarms)} false alarm(s):\n" + "\n".join(false_alarms)


@pytest.mark.parametrize("where", [None, TAGGED_MIDDLE], ids=["from the start", "from an evidence step"])
def test_ordinary_messages_reach_one_of_their_tags(where):
    wrong = []
    ordinary = [c for c in cases() if not c.is_crisis]
    for case in ordinary:
        turn = run(case, where)
        if not reached(turn) & set(case.tags):
            wrong.append(f"line {case.line} {case.message!r}: wanted {case.tags}, got {turn.matched} -> "
                         f"{turn.session.state} {sorted(reached(turn))}")
    share = 100.0 * (len(ordinary) - len(wrong)) / len(ordinary)
    print(f"\nordinary messages understood {where or 'from the start'}: {share:.1f}% ({len(ordinary) - len(wrong)}/{len(ordinary)})")
    for w in wrong:
        print("  WRONG", w)
    assert not wrong, "\n".join(wrong)


def test_the_students_story_lands_in_the_threat_branch():
    # The case behind the product (FACTS.md), typed as one first message.
    turn = run(Case(0, "インスタで知り合った人に動画を送ったら学校にばらすって言われた", ("reassure",)), None)
    assert turn.matched == "intent:threat_spread"
    assert "sit_threat" in turn.entered
    assert turn.replies[0].key == "system.intro"  # a first message still hears that this is a bot
