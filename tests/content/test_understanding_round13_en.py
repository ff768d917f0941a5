"""Kinds found by round 13 (en) of the evaluation set, on the real flow and locales, with wordings
that are not in the set: a wish told in the past and negated ("i never wanted to die"), a past
feeling with "but now im fine" or "i got through it" (keywords and the model), a nightmare told, embarrassment
measured by wanting to disappear (but "forever" is asked), where they met him or how far he lives (not an emergency); a means
looked at while "thinking about it" (asked directly); and the routing kinds (other places to get
help, paying as a condition, all over a group or an app, asking to meet, a chat on another app,
blocked but back on a new account, a call with him, whether he really deleted it, a time a few words after "started", a worried face)."""
from __future__ import annotations

import pytest

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("en", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "i never really wanted to kill myself, its just a lot. a guy wants money"),
    ("start", "i never thought about dying, someone has my pics"),
    ("start", "i wanted to die in grade 7 but now im fine. a girl has my pics"),
    ("start", "i met him at the train platform once, now hes blackmailing me"),
    ("start", "i had a nightmare that i jumped off a building, anyway he still has my pics"),
    ("start", "im so embarrassed i wanna disappear lol"),
    ("start", "i was suicidal two years ago but im in a good place now, i just need help with this guy"),
    # the model alone read a crisis here: a past feeling resolved stops it too
    ("start", "i wanted to kill myself last year but i got through it. now a guy has my nudes"),
])
def test_negated_and_past_feelings_and_where_they_met_are_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("start", "i was staring at the train tracks tonight and thinking about it"),
    ("ev_screens", "i keep looking at the balcony and thinking about it"),
    ("start", "i never wanted this, i want to die"),
    ("start", "i want to die and now im fine with it"),
    ("start", "so embarrassing i want to disappear forever"),         # vanishing for ever: asked
    ("start", "i have nightmares every night and i want to jump off a building"),
])
def test_a_means_looked_at_and_a_present_wish_still_reach_the_crisis_or_its_question(state, text):
    assert "crisis" in tags(at(state, text))


def test_how_far_he_lives_is_not_a_meeting_minutes_away():
    assert "emergency" not in tags(at("start", "he lives like 15 mins away from me and wants to meet"))
    assert "emergency" in tags(at("start", "im meeting him in 10 minutes"))


@pytest.mark.parametrize("state, text, label", [
    ("start", "is there anywhere else i can get help", "resources"),
    ("start", "if i send him the cash will he delete it", "dont"),
    ("start", "its all over a telegram channel", "spread"),
    ("start", "he keeps asking to meet up", "meeting"),
    ("start", "delete our chat on whatsapp?", "evidence"),
    ("ev_block", "blocked him but he made a new account", "contact"),
    ("ev_when", "it started in my room like last week", "ev_money"),
    ("dont", "😥", "feelings"),
    ("start", "the guy hung up on me when i begged him to delete the pics", "contact"),
    ("start", "how do i know if he really deleted it", "dont"),
])
def test_routing_kinds(state, text, label):
    turn = at(state, text)
    assert label in tags(turn) or turn.session.state == label or label in turn.entered, (turn.session.state, turn.matched)
