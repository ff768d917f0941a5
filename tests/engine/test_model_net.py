"""The statistical net under the keywords (bot/engine/classifier.py), on the fixture flow with a
hand-made model, so that what it may and may not do is pinned without the trained weights."""
from __future__ import annotations

import dataclasses

import pytest

from bot.engine import UserInput, step
from bot.engine.classifier import Binary, Classifier, Router, features
from bot.engine.machine import FlowMachine, Triggers

from .helpers import NIGHT
from .test_understanding import flow  # noqa: F401 - the fixture flow

OFF = 30.0   # a weight that decides alone


def model(crisis=None, emergency=None, route=None, veto=0.0) -> Classifier:
    return Classifier(
        Binary(-OFF, crisis or {}, threshold=0.5, veto=veto),
        Binary(-OFF, emergency or {}, threshold=0.5),
        Router(("none", "threat"), (0.0, 0.0), {f: {1: OFF} for f in (route or ())}, threshold=0.8))


def with_model(flow, classifier):
    # Where the net sends a message is a move of the flow's machine (as `model:` in a flow file makes it).
    edges = [(trigger, source, dest) for source, trigger, dest in flow.machine.edges()]
    edges += [(Triggers.MODEL_CRISIS, "*", "check"), (Triggers.MODEL_EMERGENCY, "*", "emergency")]
    return dataclasses.replace(flow, classifier=classifier, model_crisis="check", model_emergency="emergency",
                               machine=FlowMachine(list(flow.states), edges))


def first(flow, text):
    return step(flow, None, UserInput.typed(text, locale_hint="en"), NIGHT)


def test_features_are_words_pairs_and_japanese_characters():
    f = features("not suicidal 死にたい 😭")
    assert {"w:not", "w:suicidal", "b:not_suicidal", "e:😭"} <= f
    assert any(x.startswith("c2:") for x in f) and any(x.startswith("l:") for x in f)


def test_a_message_that_reads_like_a_crisis_gets_the_direct_question(flow):
    net = with_model(flow, model(crisis={"w:hopeless": OFF * 2}))
    turn = first(net, "everything is hopeless")
    assert turn.matched == "model:crisis" and turn.session.state == "check"
    assert first(flow, "everything is hopeless").matched != "model:crisis"   # no model, no net


def test_harm_now_goes_to_the_emergency(flow):
    net = with_model(flow, model(emergency={"w:bridge": OFF * 2}))
    assert first(net, "on the bridge").matched == "model:emergency"


@pytest.mark.parametrize("text", ["not suicidal, just hopeless about the pics", "i dont want to die, im hopeless"])
def test_the_model_does_not_overrule_a_denial(flow, text):
    # "hopeless" alone would raise the question; the person said it is not that.
    net = with_model(flow, model(crisis={"w:hopeless": OFF * 2}))
    assert first(net, text).matched != "model:crisis"
    assert "crisis" not in first(net, text).entered_tags


def test_an_unclear_keyword_in_a_message_that_reads_ordinary_is_set_aside(flow):
    unclear = "my phone is about to die"          # crisis_maybe: "die"
    assert first(flow, unclear).session.state == "check"
    net = with_model(flow, model(veto=0.5))       # everything reads ordinary
    assert first(net, unclear).session.state != "check"
    assert first(net, "i want to die").session.state == "crisis"   # a clear keyword is never vetoed


def test_a_message_no_keyword_matched_goes_where_it_reads_like(flow):
    net = with_model(flow, model(route={"w:blackmail"}))
    turn = first(net, "he will blackmail me")
    assert turn.matched.startswith("model:") and turn.session.state == "threat"
    assert first(flow, "he will blackmail me").session.state != "threat"


def test_a_model_unless_word_keeps_the_model_from_raising_that_interrupt(flow):
    # model_unless: (emergency: cold, fever; crisis_maybe: parcel) in the fixture's intents
    net = with_model(flow, model(emergency={"w:pill": OFF * 2}, crisis={"w:hopeless": OFF * 2}))
    assert first(net, "took all my pills").matched == "model:emergency"
    assert first(net, "took my pills for a cold").matched != "model:emergency"
    assert first(net, "hopeless, the parcel is late").matched != "model:crisis"
    # a word that keeps the model from an emergency does not keep it from the crisis question
    assert first(net, "hopeless and i have a fever").matched == "model:crisis"
    # keywords are not touched: the emergency keyword still counts with "cold" in the message
    assert first(net, "he is outside my house, its cold").matched == "interrupt:emergency"
