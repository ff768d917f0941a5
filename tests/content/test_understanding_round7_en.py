"""Rules found by round 7 (en) of the evaluation set, on the real flow and locales: an adult age
said after the story, a typed number that is not the button's number, a thanks with a yes, a yes
that opens a longer message, "yes" and "no" as keywords, the model's net held back by staff's
``unless`` words. Each case fails without its rule."""
from __future__ import annotations

import pytest

from .helpers import typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("en", state, text, variables)


@pytest.mark.parametrize("text", [
    "someone is threatening to post my pics. im 19 btw",
    "he wants money or he sends my nudes to my coworkers. im 22",
    "a woman i met on an app is blackmailing me, i am 25",
])
def test_an_adult_age_said_after_the_story_goes_to_the_adult_branch(text):
    turn = at("start", text)
    assert turn.session.state == "adult" and turn.session.variables.get("age_band") == "adult"


def test_the_adult_branch_does_not_take_over_where_the_age_is_known_or_someone_else_is_the_adult():
    # in the law's own state the age is part of the question
    assert at("law_adult", "so even tho im 18 its still extortion?").session.state != "adult"
    # known before this message
    assert at("menu", "he posted it again, im 19", {"age_band": "adult"}).session.state != "adult"
    # an adult they know: abuse, and "an adult" is not the person's age
    turn = at("start", "an adult from my church touched me and took pictures")
    assert turn.session.state == "abuse" and turn.session.variables.get("age_band") != "adult"


def test_a_typed_number_must_be_the_buttons_number():
    turn = at("age_ask", "under 18")
    assert turn.session.variables.get("age_band") == "minor"      # not the button "Under 16"
    assert at("age_ask", "under 16").session.variables.get("age_band") == "u16"


@pytest.mark.parametrize("state, text, nxt", [
    ("dont", "ok ty", "ev_noimage"),
    ("law_u16", "ok thx", "ev_noimage"),
    ("ev_when", "ok ty", "ev_money"),
])
def test_a_thanks_with_a_yes_goes_on_where_the_step_goes_on(state, text, nxt):
    assert at(state, text).session.state == nxt


def test_a_thanks_alone_is_still_a_thanks():
    assert "goodbye" in at("removal", "thank u 🙏").entered_tags or at("removal", "thank u 🙏").session.state == "thanks"


@pytest.mark.parametrize("state, text, nxt", [
    ("law_1617", "ok good to know, i was dying to know that", "ev_noimage"),
    ("dont", "ok i wont pay, over my dead body", "ev_noimage"),
    ("law_general", "ok i see. that kills my worry a bit", "ev_noimage"),
])
def test_a_longer_message_that_opens_with_a_yes_is_a_yes(state, text, nxt):
    assert at(state, text).session.state == nxt


def test_a_longer_message_after_a_yes_that_asks_something_is_not_a_yes():
    assert at("dont", "ok but should i tell my parents about all of this").session.state == "parents"
    # and a yes that does not open the message is not enough to make it one
    assert at("dont", "im so confused about everything he said to me ok").session.state != "ev_noimage"


@pytest.mark.parametrize("text, nxt", [("yes", "ev_screens"), ("no", "ev_screens"), ("yea", "ev_screens")])
def test_yes_and_no_are_words_in_the_keyword_lists(text, nxt):
    # YAML 1.1 reads a bare "- yes" as true: the keyword never matched
    assert at("ev_keep", text).session.state == nxt


@pytest.mark.parametrize("text", [
    "i take allergy pills every morning in spring",
    "i want to end this streak its annoying",
])
def test_the_models_net_is_held_back_by_the_interrupts_unless_words_where_nothing_else_matched(text):
    turn = at("start", text)
    assert "crisis" not in turn.entered_tags and "emergency" not in turn.entered_tags, turn.matched

