"""The editor's "try a sentence" and preview turns: the engine's own step, with what decided it."""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

from bot.engine import load_bundle
from bot.engine.explain import preview_turn, rule_kind, session_at, try_message
from bot.engine.model import Session, UserInput
from bot.engine.turn import step

from .helpers import TODAY

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)


@lru_cache(maxsize=1)
def flow():
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", TODAY)
    assert not bundle.errors
    return bundle.flow()


def test_a_crisis_sentence_is_the_crisis_interrupt_with_its_keyword():
    e = try_message(flow(), "もう死にたい", "ja", None, NOW)
    assert (e.matched, e.kind) == ("interrupt:crisis", "interrupt")
    assert "死にたい" in e.because and "crisis" in flow().states[e.state].tags
    assert e.found["crisis"]


def test_the_same_turn_as_the_bot_from_a_state():
    f = flow()
    state = "sit_threat"
    e = try_message(f, "お金払えって言われた", "ja", state, NOW)
    turn = step(f, session_at(f, state, "ja", NOW), UserInput.typed("お金払えって言われた", "ja"), NOW)
    assert (e.matched, e.state, e.because) == (turn.matched, turn.session.state, turn.because)
    assert [r["text"] for r in e.replies] == [r.text for r in turn.replies]


def test_a_negated_keyword_and_an_idiom_are_shown_as_what_kept_the_intent_out():
    negated = try_message(flow(), "死にたくはない", "ja", "sit_threat", NOW)
    assert not negated.matched.startswith("interrupt:crisis") and "crisis" in negated.negated
    idiom = try_message(flow(), "死ぬほど恥ずかしい", "ja", "sit_threat", NOW)
    assert "crisis" not in idiom.found and "死ぬほど" in idiom.cancelled["crisis"]


def test_a_button_number_and_the_fallback():
    f = flow()
    state = next(n for n, s in f.states.items() if s.choices and not s.end)
    e = try_message(f, "1", "ja", state, NOW)
    assert e.kind == "choice" and e.matched == f"choice:{f.states[state].choices[0].id}"
    miss = try_message(f, "ｑｑｑｑ", "ja", state, NOW)
    assert (miss.kind, miss.state) == ("fallback", state)
    assert rule_kind("age:u16") == "age" and rule_kind("model:feel_sad") == "model" and rule_kind("ack") == "ack"


def test_a_preview_turn_runs_on_the_session_the_browser_sent_back():
    f = flow()
    first = preview_turn(f, None, UserInput("start"), NOW)
    again = Session.from_dict(json.loads(json.dumps(first.session.to_dict())))
    tap = first.replies[-1]["choices"][0]["id"]
    second = preview_turn(f, again, UserInput.tapped(tap, first.state), NOW + dt.timedelta(seconds=5))
    assert second.kind == "choice" and second.state != first.state
    assert second.as_dict()["matched"] == f"choice:{tap}"
