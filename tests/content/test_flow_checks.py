"""The shipped content (flows/, locales/) loads clean and keeps the promises of issue 3.

The engine's own checks (dead ends, missing keys, platform limits, ...) run in load_bundle; the
tests here add what only this content promises: tags from the vocabulary, a way on and a way to
a person from every state, crisis first, the shell texts, honest opening hours.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bot.engine import HUMAN_CHOICE_ID, UserInput, step

from .helpers import NIGHT, bundle, flow, walk

# The tag vocabulary of the flow's header (issues 13 and 14).
VOCABULARY = {"welcome", "triage", "reassure", "threat", "asked", "spread", "paid", "law", "evidence",
              "dont", "removal", "resources", "police", "parents", "handoff", "crisis", "emergency",
              "feelings", "friend", "school", "meeting", "abuse", "deepfake", "hacked", "outing", "adult",
              "contact", "forget", "other_language", "goodbye"}
JST = dt.timezone(dt.timedelta(hours=9))


def resting(f):
    """States where the person can stay (not the ones that move on by themselves)."""
    return [s for s in f.states.values() if not s.moves_on]


def test_the_content_loads_with_no_errors_and_no_warnings_but_unchecked_services():
    b = bundle()
    assert not b.errors, "\n".join(str(i) for i in b.errors)
    # No unused text and no bubble over 250 characters. The only warnings are the services
    # whose `verified` date is old: every one of them, because those dates are the dates of the
    # sources in FACTS.md, not checks on the live sites (an NGO checks them before going live).
    others = [i for i in b.warnings if i.code != "W203"]
    assert not others, "\n".join(str(i) for i in others)
    warned = {i.message.split('"')[1] for i in b.warnings if i.code == "W203"}
    assert warned == set(b.resources)
    assert "first_contact" in b.flows
    assert set(b.locales) >= {"ja", "en"}


def test_every_state_has_tags_from_the_vocabulary():
    f = flow()
    for state in f.states.values():
        assert state.tags, f"{state.name} has no tags"
        assert set(state.tags) <= VOCABULARY, f"{state.name}: {set(state.tags) - VOCABULARY}"
    used = {t for s in f.states.values() for t in s.tags}
    assert used == VOCABULARY, f"tags never used: {VOCABULARY - used}"


def test_every_resting_state_offers_a_way_on_and_a_way_to_a_person():
    f = flow()
    for state in resting(f):
        ids = [c.id for c in state.choices]
        if state.name == f.human_state:
            assert ids, "the counsellor state must still offer a way back to the bot"
            continue
        assert HUMAN_CHOICE_ID in ids, f"{state.name} offers no way to a person"
        assert state.choice_by_id[HUMAN_CHOICE_ID].target == f.human_state
        assert len([i for i in ids if i != HUMAN_CHOICE_ID]) >= 1, f"{state.name} offers no way on"
        assert len(ids) <= 12, f"{state.name} has {len(ids)} choices"


def test_choice_labels_fit_line_in_every_locale():
    f = flow()
    for state in f.states.values():
        for choice in state.choices:
            for locale in ("ja", "en"):
                label = f.text(locale, choice.label_key)
                assert len(label.encode("utf-16-le")) // 2 <= 20, (state.name, locale, label)


def test_interrupts_come_in_the_promised_order_with_harm_now_and_crisis_first():
    f = flow()
    names = [i.name for i in f.interrupts]
    assert names[-6:] == ["crisis", "crisis_check", "human", "forget_me", "restart", "english", "japanese"][-6:]
    assert names.index("emergency") < names.index("crisis") < names.index("crisis_check") < names.index("human")
    by_name = {i.name: i for i in f.interrupts}
    assert {"crisis", "emergency"} <= set(f.states[by_name["emergency"].target].tags)
    assert "crisis" in f.states[by_name["crisis"].target].tags
    assert "crisis" in f.states[by_name["crisis_check"].target].tags
    assert by_name["human"].target == f.human_state
    assert [(i.set_locale, i.target) for i in f.interrupts[-2:]] == [("en", None), ("ja", None)]


def test_the_special_states_do_what_they_say():
    f = flow()
    human = f.states[f.human_state]
    assert "handoff" in human.tags and [e.type for e in human.effects] == ["handoff"]
    assert f.handoff_return in f.states and not f.states[f.handoff_return].effects
    confirm = f.states[{i.name: i for i in f.interrupts}["forget_me"].target]
    yes = f.states[confirm.choice_by_id["forget_yes"].target]
    assert [e.type for e in yes.effects] == ["forget_me"]
    assert confirm.choice_by_id["forget_no"].target != yes.name
    assert not confirm.effects  # nothing is deleted before the person confirms


def test_the_age_band_is_optional_and_fits_the_law_explanation():
    f = flow()
    # `law` first says a word fitted to what happened, then `law_age` picks the age band.
    by_age = f.states["law_age"]
    assert by_age.branch_var == "age_band"
    assert by_age.branch_default == "age_ask"
    assert f.states["law"].branch_var == "situation" and f.states["law"].branch_default == "law_age"
    bands = {c.sets[0][1] for c in f.states["age_ask"].choices if c.sets}
    # "minor" is also read from what people type (高1, 未成年): under 18, not known whether under 16.
    assert bands == {"u16", "16_17", "minor", "adult", "unsaid"}
    assert set(by_age.branch_cases) == bands
    # Each band's explanation is its own; "rather not say" gets the one that covers every age.
    said = {band: f.states[target].say for band, target in by_age.branch_cases.items()}
    assert "law.u16" in said["u16"] and "law.ordinance" in said["16_17"]
    assert "law.minor_age" in said["minor"] and "law.u16" not in said["minor"]
    assert "law.adult" in said["adult"] and "law.minor" not in said["adult"]
    assert "law.general" in said["unsaid"]


def test_the_evidence_walkthrough_is_one_step_per_state_with_done_how_skip():
    f = flow()
    # Issue 14, fix 2: never copying the image itself is the first step; blocking is the last.
    steps = ["ev_noimage", "ev_keep", "ev_screens", "ev_when", "ev_money", "ev_safe", "ev_block"]
    for i, name in enumerate(steps):
        state = f.states[name]
        assert {c.id for c in state.choices} == {"done", "how", "skip", HUMAN_CHOICE_ID}, name
        nxt = steps[i + 1] if i + 1 < len(steps) else "ev_end"
        assert state.choice_by_id["done"].target == nxt
        assert state.choice_by_id["skip"].target == nxt
        how = f.states[state.choice_by_id["how"].target]
        assert {c.id for c in how.choices} == {"done", "skip", HUMAN_CHOICE_ID}
        assert how.choice_by_id["done"].target == nxt
        for locale in ("ja", "en"):
            assert f"{i + 1}/7" in f.text(locale, state.say[0]), (name, locale)


def test_the_crisis_state_gives_119_and_110_first_then_24_hour_lines_and_no_lecture():
    f = flow()
    crisis = f.states["crisis"]
    # Issue 14, fix 1: the emergency numbers before the helplines, as links and in the text.
    assert crisis.links[:2] == ("ambulance119", "police110")
    assert {"yorisoi", "ibasho", "jido189"} <= set(crisis.links)
    for rid in crisis.links:
        assert f.resources[rid].is_open(NIGHT) is True, rid
    assert not any(k.startswith(("ev.", "law.", "dont.")) for k in crisis.say)
    assert {c.id for c in crisis.choices} >= {HUMAN_CHOICE_ID, "back"}
    for locale in ("ja", "en"):
        text = " ".join(f.text(locale, k) for k in crisis.say)
        for number in ("119", "110", "0120-279-338", "189"):
            assert number in text, (locale, number)
        assert text.index("119") < text.index("0120-279-338") and text.index("110") < text.index("0120-279-338")
    # The first crisis reply also says that this is a bot and that a person can join.
    first = {"ja": f.text("ja", crisis.say[0]), "en": f.text("en", crisis.say[0])}
    assert "ボット" in first["ja"] and "相談員" in first["ja"]
    assert "bot" in first["en"] and "counsellor" in first["en"]


def test_opening_hours_are_shown_only_where_they_are_known():
    f = flow()
    res = f.resources
    night = NIGHT                                                      # Wednesday 02:00
    afternoon = dt.datetime(2026, 11, 25, 17, 0, tzinfo=JST)           # Wednesday 17:00
    saturday = dt.datetime(2026, 11, 28, 10, 0, tzinfo=JST)
    new_year = dt.datetime(2027, 1, 1, 17, 0, tzinfo=JST)
    tenth_night = dt.datetime(2026, 12, 11, 3, 0, tzinfo=JST)          # the night after the 10th
    for rid in ("yorisoi", "sos_dial", "jido189", "police110", "police8103", "ibasho"):
        assert res[rid].is_open(night) is True, rid
    assert res["childline"].is_open(night) is False
    assert res["childline"].is_open(afternoon) is True
    assert res["childline"].is_open(new_year) is False
    assert res["jinken110"].is_open(afternoon.replace(minute=30)) is False and res["jinken110"].is_open(saturday) is False
    assert res["jinken110"].is_open(dt.datetime(2026, 11, 25, 9, 0, tzinfo=JST)) is True
    assert res["inochi"].is_open(night) is False and res["inochi"].is_open(tenth_night) is True
    # Hours that vary or are unconfirmed in FACTS.md: the bot never claims "open now".
    for rid in ("police9110", "onestop", "curetime", "paps", "takeitdown", "stopncii", "safeline", "kokoro",
                "minna_jinken", "ihaho", "yorisoi_sexuality"):
        assert res[rid].is_open(night) is None, rid
    # 法テラス: weekdays 9–21, Saturdays 9–17.
    assert res["houterasu_victim"].is_open(afternoon) is True and res["houterasu_victim"].is_open(night) is False
    assert res["houterasu_victim"].is_open(saturday) is True
    assert res["houterasu_victim"].is_open(saturday.replace(hour=18)) is False


def test_links_carry_tel_and_open_now_at_2am():
    _, turn = walk(["start", "tap:threat", "tap:resources"])
    links = {l.resource: l for r in turn.replies for l in r.links}
    assert links["sos_dial"].url == "tel:0120078310" and links["sos_dial"].open_now is True
    assert links["childline"].open_now is False
    assert links["paps"].open_now is None and links["paps"].url.startswith("https://")
    _, turn = walk(["start", "tap:threat", "tap:menu", "tap:police"])
    links = {l.resource: l for r in turn.replies for l in r.links}
    assert links["police9110"].url == "tel:%239110"


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_the_texts_the_engine_and_the_shell_need_exist(locale):
    f = flow()
    keys = ["system.fallback", "system.welcome_back", "system.intro", "system.media", "system.sticker",
            "system.location", "system.choice_human", "system.open_now", "system.closed_now", "system.error",
            "shell.safety_message", "shell.group_only"]
    for key in keys:
        assert key in f.catalog[locale], key
    safety = f.text(locale, "shell.safety_message")
    assert "0120-279-338" in safety and "0120-0-78310" in safety and "110" in safety
    error = f.text(locale, "system.error")
    assert "0120-279-338" in error


def test_the_media_answer_never_asks_for_images_and_says_keep_the_originals():
    f = flow()
    ja, en = f.text("ja", "system.media"), f.text("en", "system.media")
    assert "送らなくて大丈夫" in ja and "保存しません" in ja and "転送しないで" in ja and "証拠" in ja
    assert "don't need to send" in en and "does not keep" in en and "forward" in en and "evidence" in en
    # An image at any point gets that answer and the person stays where they were.
    session, _ = walk(["start", "tap:threat", "tap:evidence"])
    turn = step(f, session, UserInput("media"), NIGHT)
    assert turn.replies[0].key == "system.media" and turn.session.state == session.state


def test_the_welcome_says_bot_anonymous_stop_person_and_delete():
    f = flow()
    ja = " ".join(f.text("ja", k) for k in f.states["welcome"].say)
    for words in ("ボット", "名前", "いつやめても", "人と話したい", "記録を消して"):
        assert words in ja, words
    en = " ".join(f.text("en", k) for k in f.states["welcome"].say)
    for words in ("bot", "name", "stop at any time", "talk to a person", "forget me"):
        assert words in en, words


def test_the_words_the_welcome_teaches_actually_work():
    for locale, human, forget in (("ja", "人と話したい", "記録を消して"), ("en", "talk to a person", "forget me")):
        session, _ = walk(["start"], locale)
        assert step(flow(), session, UserInput.typed(human), NIGHT).matched == "interrupt:human"
        assert step(flow(), session, UserInput.typed(forget), NIGHT).matched == "interrupt:forget_me"
    session, _ = walk(["start"], "ja")
    turn = step(flow(), session, UserInput.typed("English"), NIGHT)
    assert turn.session.locale == "en" and turn.matched == "interrupt:english"


def test_no_text_blames_the_person_or_asks_for_an_image():
    f = flow()
    for key, text in f.catalog["en"].items():
        if key.startswith(("console.", "canned.")):
            continue
        low = text.template.lower()
        assert "send me the" not in low and "send us the" not in low, key
        assert "why did you send" not in low or key == "friend.how", key
    for key, text in f.catalog["ja"].items():
        if key.startswith(("console.", "canned.")):
            continue
        assert "画像を送って" not in text.template, key
        assert "なんで送ったの" not in text.template or key == "friend.how", key
