"""Kinds of message found by rounds 9-10 (ja) of the evaluation set, on the real flow and locales,
each written here in words the set does not use: a crisis verb with its particle dropped or typed
with a flick-input slip, harm happening now said with a conversion or a small-kana slip, a past
and resolved feeling that is not a crisis today, and the routing slips of those rounds. Each case
fails without its rule."""
from __future__ import annotations

import pytest

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("ja", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("text", [
    "命たとうかな",              # 命を絶つ without を, in kana
    "いのちたちたい",            # all in kana
    "しにとい",                  # flick slip: と beside た
])
def test_a_crisis_verb_without_its_particle_or_with_a_flick_slip_is_a_crisis(text):
    assert "crisis" in tags(at("start", text))


@pytest.mark.parametrize("text", [
    "薬のんちゃつた",                             # unvoiced じゃ and a full-size つ for っ
    "くすりのんじゃつた",                         # full-size つ for っ
    "コンビニで会えって あと5分",                  # a demand to meet, minutes away
])
def test_harm_happening_now_with_a_typing_slip_is_an_emergency(text):
    assert "emergency" in tags(at("start", text))


@pytest.mark.parametrize("text", [
    "昔リスカしてたけど今はもうしてない。写真のことで相談したい",
    "去年ODしたけど今は落ち着いてる、写真のことで相談",
])
def test_a_past_resolved_feeling_is_not_a_clear_crisis_today(text):
    # the keyword no longer interrupts; the model may still ask the one direct question
    turn = at("start", text)
    assert turn.session.state != "crisis" and turn.matched != "interrupt:crisis", turn.matched


def test_a_past_feeling_not_resolved_still_asks():
    assert "crisis" in tags(at("start", "前はリスカしてたけど今は大丈夫じゃない"))


@pytest.mark.parametrize("text, state", [
    ("会わないなら写真ばらまくって", "meeting"),
    ("相手は大人です。写真送れって言われてる", "sit_asked"),   # the other person's age
    ("元カノ 同じ学校だけど 写真ばらすって", "school"),
    ("親に送るって言われた、まだカミングアウトしてないのに", "outing"),
    ("昼寝してたら脅しのDMきてた", "sit_threat"),
    ("学校の名前まで調べられた", "contact"),
    ("元彼がストーリーに写真のせてた", "sit_spread"),
    ("有人対応ってありますか", "human"),
])
def test_routing_kinds_of_rounds_9_and_10(text, state):
    turn = at("start", text)
    assert turn.session.state == state or state in turn.entered, (turn.session.state, turn.entered)


@pytest.mark.parametrize("state, text, goes", [
    ("ev_when", "書いといたよ", "ev_money"),
    ("ev_block", "ブロックもした", "ev_end"),
    ("law_u16", "理解しました", "ev_noimage"),
])
def test_short_replies_of_rounds_9_and_10(state, text, goes):
    turn = at(state, text)
    assert turn.session.state == goes or goes in turn.entered, (turn.session.state, turn.entered)


@pytest.mark.parametrize("text", ["有人威胁要公开我的照片", "なまらやばい、写真送れって言われてる"])
def test_words_inside_other_words_do_not_route(text):
    turn = at("start", text)
    assert turn.session.state not in ("human", "outing")


def test_hitting_ones_head_against_a_wall_asks_the_direct_question():
    assert "crisis" in tags(at("start", "毎晩かべに頭打ちつけちゃう"))
    assert "crisis" not in tags(at("start", "成績が頭打ちでつらくはない"))


@pytest.mark.parametrize("text", ["BBQ用の練炭買ってきた", "歩道橋の上で自転車パンクして最悪"])
def test_charcoal_for_cooking_and_a_flat_tyre_on_a_bridge_are_not_harm(text):
    assert "crisis" not in tags(at("start", text))


def test_daijoubu_as_a_question_is_not_a_nod():
    # 「大丈夫？」 asks; the age said before it decides where the message goes
    assert at("start", "21なんだけど大丈夫？").session.state == "adult"


def test_a_self_harm_word_learned_in_a_lesson_is_a_topic():
    assert "crisis" not in tags(at("start", "リスカって言葉が総合の授業で出てきた"))
    assert "crisis" in tags(at("start", "道徳の授業のあとリスカした"))
