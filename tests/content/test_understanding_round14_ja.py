"""Kinds of message found by round 14 (ja) of the evaluation set, on the real flow and locales,
each written here in words the set does not use: no reason or confidence left to live, "it's
all useless, I'll end it" (the direct question); the ordinary
messages that held a crisis word (surprise "thought I'd die" in any spelling, dead-fish eyes, a
crisis word named and denied with とかは…ない); and the particular situations (images sent under
threat, a nude made by editing, "come to the park", calls after a new number, a known adult who
keeps filming; regret at having sent it; an evidence step done with は between). Each case fails without its rule."""
from __future__ import annotations

import pytest

from bot.engine import step

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("ja", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "生きる理由なんてない"),
    ("ev_keep", "こんなの広まったら生きていく自信ないよ"),
    ("start", "もう何やっても無駄だから終わりにする"),
])
def test_no_reason_to_live_or_all_useless_asks_or_reaches_crisis(state, text):
    assert "crisis" in tags(at(state, text)), at(state, text).matched


@pytest.mark.parametrize("state, text", [
    ("start", "タヒるかと思ったわ、もう落ち着いた"),
    ("start", "もう完全に死んだ魚の目だけど平気、質問あるだけ"),
    ("start", "自殺しようとかは全くない、親に言うか悩んでる"),
])
def test_an_ordinary_message_holding_a_crisis_word_is_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text)), at(state, text).matched


@pytest.mark.parametrize("state, text, label", [
    # images already sent under threat: the person has given in (the paid branch)
    ("start", "動画送らされちゃった、怖くて", "paid"),
    ("start", "脅されて3枚目も送った", "paid"),
    # a nude made by editing is a deepfake
    ("start", "加工してヌードっぽくされた", "deepfake"),
    # a place to come to is a demand to meet
    ("start", "明日の夜に公園に来いって", "meeting"),
    # still called after changing the number
    ("start", "番号変えたのに非通知でずっとくる", "contact"),
    # a known adult at home who keeps filming: abuse, not harm happening now
    ("start", "家にいる義父が撮ってくる", "abuse"),
])
def test_particular_situations_reach_their_branch(state, text, label):
    t = at(state, text)
    assert label in tags(t), t.matched
    assert "emergency" not in tags(t), t.matched


@pytest.mark.parametrize("state, text, label", [
    # regret at having sent it is self-blame: the reassurance
    ("start", "あんなの送らなきゃ良かった", "reassure"),
    # an evidence step done, with は between the verb and its kept form
    ("ev_keep", "めっちゃ怖かったけどスクショはしといた", "ev_screens"),
])
def test_regret_and_a_step_done_with_a_particle(state, text, label):
    t = at(state, text)
    assert label in tags(t) or t.session.state == label, t.matched
