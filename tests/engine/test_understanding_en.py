"""English-only matcher rules added while tuning on the evaluation set (round 6, en): a saying in
a condition ("if he tells everyone ..."), and a language request inside a longer message."""
from __future__ import annotations

import pytest

from bot.engine import Session, UserInput, step
from bot.engine.intents import IntentSpec, KeywordIndex
from bot.engine.tokens import tokenize

from .helpers import NIGHT, mini_bundle


def found(text: str) -> bool:
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("kill myself", "life is over"), quoted=False)})
    return idx.scan(tokenize(text)).intents == {"crisis"}


@pytest.mark.parametrize("text, hit", [
    ("if he tells everyone im gay i'll kill myself", True),       # the condition is his, the rest theirs
    ("if he tells my parents i am going to kill myself", True),
    ("when he sends it to my class i will kill myself", True),
    ("he tells everyone im gay i will kill myself", False),        # no condition: still his words
    ("he says i will kill myself if i see it posted", False),
    ("if he says my life is over", False),                         # nothing of their own follows
])
def test_a_saying_in_a_condition_ends_where_their_own_clause_starts(text, hit):
    assert found(text) is hit


FLOW = mini_bundle().flow("mini")


def at(state: str, locale: str) -> Session:
    ts = NIGHT.timestamp()
    return Session(state, locale, FLOW.version, {}, (), ts, ts)


def test_a_language_request_inside_a_longer_message_in_that_language_lets_the_rest_through():
    turn = step(FLOW, at("welcome", "en"), UserInput.typed("english pls, evidence?"), NIGHT)
    assert turn.matched == "intent:evidence_question"
    # in the other language, or said alone, it still switches
    assert step(FLOW, at("welcome", "ja"), UserInput.typed("english pls, evidence?"), NIGHT).matched == "interrupt:english"
    assert step(FLOW, at("welcome", "en"), UserInput.typed("english"), NIGHT).matched == "interrupt:english"


@pytest.mark.parametrize("text, hit", [
    ("is there a helpline? not for suicide, just for this photo problem", False),
    ("its not really for suicide", False),
    ("there is no hope for me suicide is the only way", True),   # "me" stands between: not negated
    ("i think about suicide for real", True),
])
def test_not_for_negates_what_follows(text, hit):
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("suicide",))})
    assert (idx.scan(tokenize(text)).intents == {"crisis"}) is hit
