"""Kinds found by rounds 11 and 12 (en) of the evaluation set, on the real flow and locales, with
wordings that are not in the set: wanting all of it to stop, a doubt about going on ("i dont think i
can keep going"), not making it through the week; hyperbole that is not a crisis (someone else
"killing himself laughing", "my life is over if my dad sees", "so done with this girl"), a past
feeling set aside or resolved through help, where they met him told as a story; and the routing kinds
(a site made to delete it, a time or "idk" given at the step that asks when, the follower list shown,
a parent's reaction feared inside a threat to send it to them, their own counsellor)."""
from __future__ import annotations

import pytest

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("en", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("menu", "honestly i just want all this to stop"),
    ("ev_screens", "i dont think i can do this anymore"),
    ("ev_block", "i dont know if i can keep going honestly"),
    ("ev_money", "not sure i can go on"),
    ("start", "i'm not gonna make it through the weekend"),
    ("start", "how do i make it painless"),
    ("start", "i keep dreaming about dying and i want it to be real"),
])
def test_wanting_it_all_to_stop_and_doubting_going_on_reach_the_crisis_or_its_question(state, text):
    assert "crisis" in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("start", "my sister said shed kill herself laughing at my texts, anyway a guy wants money for my pic"),
    ("start", "my life will be over if my mom finds out, he says hell send it to her"),
    ("start", "im so done with this girl she keeps texting from new numbers"),
    ("start", "i wanted to die last year but i talked to someone, now a guy is asking for pics"),
    ("start", "i used to self harm years ago, its not about that, someone has my pics and wants money"),
    ("start", "i had a dream where i jumped off a building, weird. anyway he still has my pics"),
    ("start", "i was suicidal last year but im doing fine now, someone is blackmailing me"),
    ("start", "my life is ruined if this gets out, he has my nudes"),
    # the model alone read a crisis in this row of round 11 (a place high up); where they met is a story
    ("start", "i met him at the mall on the rooftop parking last month, he still has my pics and wants more"),
])
def test_hyperbole_and_past_feelings_are_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text))


def test_a_present_doubt_after_a_past_one_stays_a_crisis():
    assert "crisis" in tags(at("start", "i used to self harm and i still do it every night"))


@pytest.mark.parametrize("state, text, label", [
    ("start", "how do i get the website to delete my pic", "removal"),
    ("ev_when", "it started last week", "ev_money"),
    ("ev_when", "it was in march i think", "ev_money"),
    ("ev_when", "dunno", "ev_money"),
    ("ev_keep", "i put it all in a folder", "ev_screens"),
    ("start", "he screenshotted my follower list and wants $300", "threat"),
    ("start", "my dad would kill me if he saw it, someone is threatening to send it to him", "threat"),
    ("start", "im literally dead if my mom sees this", "parents"),
    ("law_1617", "is it really not my fault tho", "reassure"),
])
def test_routing_kinds(state, text, label):
    turn = at(state, text)
    assert label in tags(turn) or turn.session.state == label or label in turn.entered, (turn.session.state, turn.matched)


def test_their_own_counsellor_is_not_a_request_for_a_person_here():
    assert "handoff" not in tags(at("start", "my school counselor said i should ask here, a guy is asking for pics"))
