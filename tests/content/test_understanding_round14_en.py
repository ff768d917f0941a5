"""Kinds found by round 14 (en) of the evaluation set, on the real flow and locales, with wordings
that are not in the set: a past feeling ended by "but not now" or by being clean for a time, a
crisis-like word disclaimed in its sentence ("but not like that"), broken English ("no want live"),
the least painful way to go (asked as a method), a life already over; an illness treated with some
medicine (not an overdose); and the routing kinds (a schoolmate who says they will share it, his
having sent it to his friends, a sight imagined or dreamt, the topic "school" named at the menu)."""
from __future__ import annotations

import pytest

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("en", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "i wanted to kill myself in year 8 but not now. a guy has my pics"),
    ("start", "i used to self harm but im 6 months clean, a guy wants pics"),
    ("start", "im dead inside but not in a suicidal way, hes asking for money"),
    ("start", "i have the flu and took some medicine. can i ask something about a guy online"),
])
def test_past_disclaimed_and_ordinary_medicine_are_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("start", "any ideas for the least painful way out"),
    ("start", "me no want live no more"),
    ("ev_keep", "honestly my life is already over"),
    ("start", "i want to die, not in the future, now"),
    ("start", "i have a headache and took all my pills"),
])
def test_a_method_broken_english_and_a_present_wish_still_reach_the_crisis(state, text):
    assert "crisis" in tags(at(state, text))


def test_a_schoolmate_who_says_they_will_share_it_is_the_school_branch():
    assert at("start", "a boy at my school says he'll post my pics if i dont pay").session.state == "school"
    assert at("menu", "school").session.state == "school"


def test_sent_to_his_friends_is_spread_but_a_sight_imagined_or_dreamt_is_not():
    assert "spread" in tags(at("start", "my ex sent my nudes to his whole team"))
    assert "spread" in tags(at("start", "my ex sent my photos around"))
    assert "spread" not in tags(at("start", "i sent my pics to him and now he wants more"))
    assert "spread" not in tags(at("start", "id die if my classmates ever saw it"))
    # the keywords stop; the routing model alone can still read a bare "i dreamt he posted them"
    assert "spread" not in tags(at("start", "had a bad dream he posted my pics, woke up shaking"))
    assert "threat" not in tags(at("start", "had a nightmare she leaked them and woke up crying"))


def test_a_place_naming_a_server_startle_screenshots_he_took_and_an_embedded_law_question():
    # a place word that names a server is not the place; the place itself still is
    assert "emergency" not in tags(at("start", "im on the bridge discord server and he said he will post it there"))
    assert "emergency" in tags(at("start", "im on the rooftop right now"))
    assert at("start", "jumped out of my skin when my phone buzzed, thought it was him").session.state == "feel_scared"
    assert at("start", "he screenshotted all my snaps and wants more").session.state != "ev_noimage"
    assert "law" in tags(at("start", "can someone tell me whether sending a pic at 14 is illegal"))


def test_a_money_demand_told_at_a_station_is_the_threat_but_a_high_place_stays_an_emergency():
    assert "emergency" not in tags(at("start", "at the station now, he is demanding money"))
    assert "emergency" in tags(at("start", "im on the roof and he wants money"))


def test_how_the_police_will_react_said_big_is_a_police_question():
    assert at("police", "will the police kill me for sending pics at 14").session.state == "police"
