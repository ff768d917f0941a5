"""Kinds found by rounds 9 and 10 (en) of the evaluation set, on the real flow and locales, with
wordings that are not in the set: self-hatred said with "me", cutting to feel something, wanting to
cut (asked directly), kys/kms said to oneself, someone parked across the road, a haircut is not a
cut, a crisis feeling of a past time that is over, safety said in so many words, and the routing
kinds (the police, a site removing it, an adult they know holding the image, sign-offs)."""
from __future__ import annotations

import pytest

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("en", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "i hate me so much rn"),
    ("menu", "honestly i hate me"),
    ("start", "i hate me fr"),                 # fr = for real, not "hating oneself FOR" a deed
    ("start", "i hate myself fr fr"),
    ("start", "i cut so i can feel something other than this"),
    ("start", "he has my pics and i still cut when it gets bad"),
    ("menu", "i want to cut"),
    ("start", "kms is all i say to myself lately"),
    ("start", "i keep telling myself kys"),
])
def test_self_hatred_cutting_and_self_talk_reach_the_crisis_or_its_question(state, text):
    assert "crisis" in tags(at(state, text))


@pytest.mark.parametrize("text", [
    "theres a car parked across the street from my house and its him",
    "hes waiting across the road from our flat",
])
def test_someone_waiting_across_the_road_is_harm_now(text):
    assert "emergency" in tags(at("start", text))


@pytest.mark.parametrize("text", ["i have already swallowed them", "taken them already"])
def test_pills_already_taken_in_any_form_of_the_verb_is_harm_now(text):
    assert "emergency" in tags(at("crisis", text))


@pytest.mark.parametrize("state, text", [
    ("start", "i cut my bangs and now hes saying hell post my pics"),
    ("start", "i wanted to kill myself last year but im fine now. a guy is asking for nudes"),
    ("start", "i thought about ending it years ago but im in a better place, hes threatening me now"),
    ("start", "i was suicidal in 8th grade but im better now. a guy has my nudes"),
    ("start", "i had a panic attack and felt like i was dying, he says hell post it"),
    ("feel_sad", "i wont hurt myself, im just sad"),
    ("menu", "i want to cut him off completely"),
])
def test_ordinary_messages_with_crisis_words_are_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text))


def test_a_present_wish_stays_a_crisis_even_with_a_reassurance():
    assert "crisis" in tags(at("start", "i want to kill myself but im ok now i guess"))


@pytest.mark.parametrize("state, text, label", [
    ("start", "should i report it to the police", "police"),
    ("start", "how do i get instagram to remove the video", "removal"),
    ("start", "my coach is the one who has my pics", "abuse"),
    ("thanks", "night", "goodbye"),
    ("start", "i hate me for sending it", "reassure"),
    ("ev_screens", "took those", "ev_when"),
])
def test_routing_kinds(state, text, label):
    turn = at(state, text)
    assert label in tags(turn) or turn.session.state == label or label in turn.entered, (turn.session.state, turn.matched)
