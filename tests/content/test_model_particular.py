"""When the keywords found only the general story (a threat, a demand, "what do I do"), the
model may name the particular situation the message reads like (someone at school, a meeting
demanded, an outing threat), whose advice fits better. On the real flow, with a hand-made model
so that the rule is pinned without the trained weights."""
from __future__ import annotations

import dataclasses

from bot.engine import UserInput, step
from bot.engine.classifier import Binary, Classifier, Router

from .helpers import NIGHT, flow

OFF = 30.0


def reads_as(intent: str, word: str) -> Classifier:
    """A model that reads any message with ``word`` as ``intent``, and nothing as a crisis."""
    never = Binary(-OFF, {}, threshold=0.5)
    return Classifier(never, never, Router(("none", intent), (0.0, 0.0), {"w:" + word: {1: OFF}}, threshold=0.8))


def keywords_only():
    return dataclasses.replace(flow(), classifier=None)


def first(f, text: str):
    return step(f, None, UserInput.typed(text, locale_hint="en"), NIGHT)


def test_the_general_story_gives_way_to_the_situation_the_model_is_sure_of():
    story = "he says he will post my pic if i dont send more zork"
    assert first(keywords_only(), story).matched == "intent:threat_spread"
    turn = first(dataclasses.replace(flow(), classifier=reads_as("school_offender", "zork")), story)
    assert turn.session.state == "school" and turn.session.variables.get("situation") == "school"


def test_a_particular_situation_the_keywords_found_is_not_second_guessed():
    # The keywords found someone at school; a model reading "meeting" does not move it.
    story = "my classmate is threatening to spread my pic zork"
    f = dataclasses.replace(flow(), classifier=reads_as("meeting_demand", "zork"))
    assert first(keywords_only(), story).session.state == "school"
    assert first(f, story).session.state == "school"


def test_the_model_does_not_turn_a_general_story_into_a_question_it_was_not():
    # The router may name only a situation, never another kind of intent (the bot's own record).
    story = "he says he will post my pic if i dont send more zork"
    f = dataclasses.replace(flow(), classifier=reads_as("forget_me", "zork"))
    assert first(f, story).matched == "intent:threat_spread"
