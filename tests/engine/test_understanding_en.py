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


# ---- round 7 (en) ----------------------------------------------------------------------------------

def test_yes_and_no_in_a_yaml_list_are_words_not_booleans():
    from bot.engine.yamlsource import parse_yaml

    data = parse_yaml("keywords:\n  - yes\n  - no\n  - 'on'\n  - true\nnegation: no\nflags: [yes, off]\n", "x").data
    assert data["keywords"] == ["yes", "no", "on", True]   # "true" written out stays a boolean
    assert data["negation"] is False                        # a setting keeps YAML's meaning
    assert data["flags"] == ["yes", "off"]


@pytest.mark.parametrize("text, band", [
    ("an adult from my church touched me and took pictures", None),
    ("im an adult, can you still help", "adult"),
    ("as an adult is there anything for me", "adult"),
    ("im a uni student and someone has my video", "adult"),
])
def test_an_adult_is_the_person_only_when_they_say_so(text, band):
    from bot.engine.ages import find_age_band

    assert find_age_band(text) == band


@pytest.mark.parametrize("text, quoted", [
    ('does anyone think the song "die with a smile" is overplayed', True),
    ('listening to "i wanna die" by some band', True),
    ('theres this song that goes "i dont wanna be here anymore" and its me', False),   # a line they feel
    ('i keep writing "i want to die" in my notes', False),
])
def test_a_quoted_title_is_not_the_persons_words(text, quoted):
    tokens = tokenize(text)
    assert any(t.quoted and t.surface == "die" or t.quoted and t.surface == "want" for t in tokens) is quoted


def test_a_keyword_reaching_into_a_quoted_title_does_not_count():
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("think … die",), quoted=False)})
    assert idx.scan(tokenize('i think the song "die with a smile" is overplayed')).intents == frozenset()
    assert idx.scan(tokenize("i think i will die")).intents == {"crisis"}


def test_an_unless_word_holds_the_whole_message_only_when_it_stands_in_every_sentence():
    idx = KeywordIndex({"emergency": IntentSpec(keywords=("took pills",), unless=("every morning",))})
    assert idx.scan(tokenize("i take allergy pills every morning")).unless == {"emergency"}
    assert idx.scan(tokenize("i take them every morning. i feel weird now")).unless == frozenset()


@pytest.mark.parametrize("text, quoted", [
    ('have u seen "dead poets society"', True),                 # seen: a film
    ('listening to "die for you" on repeat', True),             # listening to: a song
    ('"bury a friend" slaps', True),                            # praised as a work
    ('i keep thinking "i want to die"', False),                 # their own thought
    ('i just want to say "i want to die" to someone', False),
])
def test_a_quotation_after_seeing_or_hearing_or_praised_as_a_work_is_a_title(text, quoted):
    tokens = tokenize(text)
    assert any(t.quoted and t.surface in ("dead", "die", "bury") for t in tokens) is quoted


@pytest.mark.parametrize("text, band", [
    ("im like 14", "u16"),
    ("14yrs", "u16"),
    ("ninth grade", "u16"),
    ("im in 8th", "u16"),
    ("2nd year jr high", "u16"),
    ("im nearly 16", "u16"),          # 15 now
    ("almost 18", "16_17"),
    ("minor", "minor"),
    ("im in 3rd place in the tournament", None),
    ("i talked to him for 2 yrs", None),
])
def test_english_ages_as_boys_type_them(text, band):
    from bot.engine.ages import find_age_band

    assert find_age_band(text, asked=True) == band


@pytest.mark.parametrize("text, hit", [
    ("no i want to die", True),                                     # "No, I want to die"
    ("he posted my pics and says nothing, i want to die", True),
    ("nobody i want to die", True),
    ("i do not think i want to die", False),                        # still a negation
    ("no i dont want to die", False),
    ("i never want to die", False),
])
def test_a_no_before_the_persons_own_i_does_not_negate_their_sentence(text, hit):
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("want to die",))})
    assert (idx.scan(tokenize(text)).intents == {"crisis"}) is hit


def test_a_saying_a_few_words_after_the_other_person_is_theirs():
    tokens = tokenize("someone on snap is blackmailing me, says hell make me wanna die")
    assert all(t.quoted for t in tokens if t.surface == "die")
    tokens = tokenize("they posted it and i keep saying i want to die")   # the person's own saying
    assert not any(t.quoted for t in tokens if t.surface == "die")


# ---- round 10 (en) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, hit", [
    ("i dont mean like hurting myself, just really down", False),   # "mean" bridges to the not
    ("i didnt mean hurting myself", False),
    ("i mean i keep hurting myself", True),                          # no not before it
])
def test_not_mean_negates_what_follows(text, hit):
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("hurting myself",))})
    assert (idx.scan(tokenize(text)).intents == {"crisis"}) is hit


# ---- round 13 (en) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, hit", [
    ("i never wanted to die or anything its just stressful", False),   # the wish told in the past
    ("i never felt like dying", False),
    ("never thought about dying, he just wont stop", False),
    ("i never wanted this, i want to die", True),                      # a comma ends the negation
    ("nobody knows i wanted to die", True),                            # "knows" does not bridge
    ("im not saying i want to die lol", False),                        # a saying denied
    ("i never said i wanted to die", False),
    ("no matter what they say i want to die", True),                   # "they" stands between
])
def test_a_wish_told_in_the_past_is_negated_too(text, hit):
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("die", "dying"))})
    assert (idx.scan(tokenize(text)).intents == {"crisis"}) is hit
