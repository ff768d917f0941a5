"""The pure turn: matching order, interrupts from every state, expiry, safety nets."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.engine import FALLBACK, HUMAN_CHOICE_ID, Session, UserInput, step
from bot.engine.model import PATH_LIMIT

from .helpers import NIGHT, mini_bundle

FLOW = mini_bundle().flow("mini")


def start(locale="ja"):
    return step(FLOW, None, UserInput("start", locale_hint=locale), NIGHT)


def at(state: str, locale="ja", **variables) -> Session:
    ts = NIGHT.timestamp()
    return Session(state, locale, FLOW.version, variables, (), ts, ts)


def test_first_contact_says_the_welcome_with_its_choices():
    turn = start()
    assert turn.matched == "start"
    assert turn.session.state == "welcome"
    assert [c.id for c in turn.replies[-1].choices] == ["threatened", "age_u16", "person"]


def test_a_choice_can_be_tapped_typed_as_number_full_width_number_or_label():
    s = start().session
    for text in ("1", "１", "脅されている", "脅されてる", "I am threatened", "i am threatend"):
        turn = step(FLOW, s, UserInput.typed(text), NIGHT)
        assert turn.matched == "choice:threatened", text
    assert step(FLOW, s, UserInput.tapped("threatened"), NIGHT).matched == "choice:threatened"


def test_auto_moves_say_each_state_and_branch_on_variables():
    s = start().session
    turn = step(FLOW, s, UserInput.tapped("threatened"), NIGHT)
    assert turn.entered == ("reassure", "law", "law_general")
    assert [r.key for r in turn.replies] == ["reassure.not_your_fault", "reassure.not_alone", "law.general"]
    assert {"reassure", "law"} <= turn.entered_tags
    turn = step(FLOW, s, UserInput.tapped("age_u16"), NIGHT)
    assert turn.session.state == "law_u16"
    assert turn.session.variables["age_band"] == "u16"


@pytest.mark.parametrize("state", sorted(FLOW.states))
@pytest.mark.parametrize("text", ["死にたい", "しにたい", "シニタイ", "ｼﾆﾀｲ", "死にたい😢", "死\u200bに\u200bた\u200bい", "I want to DIE", "💊💊💊"])
def test_crisis_is_recognised_from_every_state(state, text):
    turn = step(FLOW, at(state), UserInput.typed(text), NIGHT)
    assert turn.matched == "interrupt:crisis"
    assert turn.session.state == "crisis"
    assert "crisis" in turn.session.risk


def test_interrupts_come_before_the_states_own_choices_and_routes():
    # "人と話したい" is the human interrupt; it wins even though the state has its own choices.
    turn = step(FLOW, start().session, UserInput.typed("人と話したい"), NIGHT)
    assert turn.matched == "interrupt:human"
    assert [e.type for e in turn.effects] == ["handoff"]


def test_matching_order_state_routes_then_global_intents_then_fallback():
    s = start().session
    assert step(FLOW, s, UserInput.typed("学校にバラすって言われた"), NIGHT).matched == "intent:threat_spread"
    assert step(FLOW, s, UserInput.typed("証拠ってどうすればいい"), NIGHT).matched == "intent:evidence_question"
    turn = step(FLOW, s, UserInput.typed("うーん"), NIGHT)
    assert turn.matched == FALLBACK
    assert turn.session.state == "welcome"


def test_fallback_repeats_the_choices_and_offers_a_person():
    turn = step(FLOW, at("evidence"), UserInput.typed("???"), NIGHT)
    assert turn.matched == FALLBACK
    ids = [c.id for c in turn.replies[-1].choices]
    assert ids == ["done", HUMAN_CHOICE_ID]
    then = step(FLOW, turn.session, UserInput.tapped(HUMAN_CHOICE_ID), NIGHT)
    assert then.session.state == "person" and [e.type for e in then.effects] == ["handoff"]


def test_language_switch_repeats_the_state_in_the_new_language():
    turn = step(FLOW, at("evidence"), UserInput.typed("English please"), NIGHT)
    assert turn.matched == "interrupt:english"
    assert turn.session.locale == "en" and turn.session.state == "evidence"
    assert turn.replies[0].text == "Do not delete anything."
    back = step(FLOW, turn.session, UserInput.typed("日本語"), NIGHT)
    assert back.session.locale == "ja"


def test_locale_comes_from_the_platform_hint_else_the_flow_default():
    assert start("en-US").session.locale == "en"
    assert start("ko").session.locale == "ja"
    assert start(None).session.locale == "ja"


def test_expired_session_starts_again_with_welcome_back():
    s = at("evidence")
    later = NIGHT + dt.timedelta(hours=25)
    turn = step(FLOW, s, UserInput.typed("hello"), later)
    assert turn.session.state == "welcome"
    assert turn.replies[0].key == "system.welcome_back"
    assert turn.session.locale == "ja"


def test_expired_session_still_hears_a_crisis():
    turn = step(FLOW, at("evidence"), UserInput.typed("死にたい"), NIGHT + dt.timedelta(days=3))
    assert turn.matched == "interrupt:crisis"


def test_a_state_removed_by_a_flow_edit_restarts_safely():
    turn = step(FLOW, at("state_that_was_deleted"), UserInput.typed("1"), NIGHT)
    assert turn.session.state in FLOW.states
    turn = step(FLOW, at("state_that_was_deleted"), UserInput.typed("なにこれ"), NIGHT)
    assert turn.matched == "start" and turn.session.state == "welcome"


def test_a_finished_conversation_starts_again_on_the_next_message():
    turn = step(FLOW, at("goodbye"), UserInput.typed("こんにちは"), NIGHT)
    assert turn.session.state == "welcome"


def test_media_sticker_location_get_a_fixed_answer_and_the_conversation_stays():
    for kind, key in (("media", "system.media"), ("sticker", "system.sticker"), ("location", "system.location")):
        turn = step(FLOW, at("evidence"), UserInput(kind), NIGHT)
        assert turn.replies[0].key == key
        assert turn.session.state == "evidence"
        assert "done" in [c.id for c in turn.replies[0].choices]


def test_a_button_from_an_older_message_is_honoured_and_an_unknown_one_falls_back():
    turn = step(FLOW, at("evidence"), UserInput.tapped("threatened", from_state="welcome"), NIGHT)
    assert turn.matched == "choice:threatened"
    turn = step(FLOW, at("evidence"), UserInput.tapped("gone_choice", from_state="gone_state"), NIGHT)
    assert turn.matched == FALLBACK


@pytest.mark.parametrize("text", ["", " ", "\x00\x01", "a" * 100_000, "😀" * 5000, "\u202e\u200b", "{name}{0}{}", "%s%n"])
def test_strange_input_never_raises(text):
    turn = step(FLOW, at("welcome"), UserInput.typed(text), NIGHT)
    assert turn.replies


def test_links_carry_tel_urls_and_whether_they_are_open_at_the_turns_time():
    turn = step(FLOW, at("welcome"), UserInput.typed("死にたい"), NIGHT)  # 2am in Tokyo
    links = {l.resource: l for r in turn.replies for l in r.links}
    assert links["yorisoi"].url == "tel:0120279338" and links["yorisoi"].open_now is True
    assert links["childline"].open_now is False
    evening = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    turn = step(FLOW, at("welcome"), UserInput.typed("死にたい"), evening)
    assert {l.resource: l for r in turn.replies for l in r.links}["childline"].open_now is True
    new_year = dt.datetime(2027, 1, 2, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    turn = step(FLOW, at("welcome"), UserInput.typed("死にたい"), new_year)
    assert {l.resource: l for r in turn.replies for l in r.links}["childline"].open_now is False


def test_step_is_deterministic_and_does_not_change_its_input():
    s = at("welcome")
    before = s.to_dict()
    a = step(FLOW, s, UserInput.typed("1"), NIGHT)
    b = step(FLOW, s, UserInput.typed("1"), NIGHT)
    assert a == b
    assert s.to_dict() == before


def test_session_round_trips_through_json_and_path_is_bounded():
    s = start().session
    for _ in range(PATH_LIMIT * 2):
        s = step(FLOW, s, UserInput.tapped("threatened", "welcome"), NIGHT).session
    assert len(s.path) == PATH_LIMIT
    assert Session.from_dict(s.to_dict()) == s


def test_forget_me_is_an_effect_and_the_session_holds_no_understood_text():
    turn = step(FLOW, at("evidence"), UserInput.typed("記録を消して"), NIGHT)
    assert turn.session.state == "forget"
    assert [e.type for e in turn.effects] == ["forget_me"]
    marker = "UNIQUE-MARKER-4711"
    turn = step(FLOW, at("welcome"), UserInput.typed(marker + " 晒すって言われた"), NIGHT)
    assert marker not in repr(turn.session.to_dict())


def test_an_english_first_message_without_a_hint_is_answered_in_english():
    assert step(FLOW, None, UserInput.typed("someone threatens to leak my pics"), NIGHT).session.locale == "en"
    assert step(FLOW, None, UserInput.typed("助けて help"), NIGHT).session.locale == "ja"
    assert step(FLOW, None, UserInput.typed("ok"), NIGHT).session.locale == "ja"


def test_a_tap_whose_state_the_platform_lost_is_honoured_when_its_id_is_unique():
    turn = step(FLOW, at("goodbye"), UserInput.tapped("threatened"), NIGHT)
    assert turn.matched == "choice:threatened"


def test_enter_resumes_at_a_named_state_after_a_handoff():
    from bot.engine import enter

    turn = enter(FLOW, at("person"), FLOW.handoff_return, NIGHT)
    assert turn.session.state == FLOW.handoff_return and turn.replies
    assert enter(FLOW, at("person"), "no_such_state", NIGHT).session.state == FLOW.start
