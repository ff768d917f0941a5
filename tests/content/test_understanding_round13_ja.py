"""Kinds of message found by round 13 (ja) of the evaluation set, on the real flow and locales,
each written here in words the set does not use: asking why one is still alive (the direct
question); and the ordinary messages that held a crisis word (hyperbole said not to be serious,
a question about a helpline "even when I don't want to die", a rooftop whose door is locked in a
story about where a photo was taken). Each case fails without its rule."""
from __future__ import annotations

import pytest

from bot.engine import step

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("ja", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "どうしてまだ生きてるんだろう"),
    ("ev_when", "なんで私まだ生きてんの"),
])
def test_asking_why_one_is_still_alive_reaches_crisis(state, text):
    assert "crisis" in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("start", "飛び降りたいレベルで恥ずかしい でも本気じゃないから 写真のこと聞きたい"),
    ("resources", "消えたいときじゃなくてもLINEしていい？"),
    ("ev_block", "屋上の鍵をかけた音楽室で撮られた写真、アカウントはブロックした"),
])
def test_an_ordinary_message_holding_a_crisis_word_is_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text)), at(state, text).matched


@pytest.mark.parametrize("state, text, label", [
    # the image is up on a site now (上がってる), told without 拡散
    ("start", "動画がインスタに上がってる どうしよう", "spread"),
    # their own waiting (for a bus) when the threat came is not a demand to meet
    ("start", "バス待ってる間にDM見たら晒すって来た", "threat"),
    # will the police scold me: a question about the police, not self-blame
    ("police", "けいさつってめっちゃ怒られるもん？", "police"),
])
def test_particular_situations_reach_their_branch(state, text, label):
    assert label in tags(at(state, text)), at(state, text).matched


@pytest.mark.parametrize("state, text, label", [
    # relief after the law was explained is an acknowledgement: on to the evidence steps
    ("law_1617", "ほっとした", "ev_noimage"),
    # how far to keep / screenshot, asked at an evidence step, is its how-question
    ("ev_keep", "どこまで保存しとけばいいの", "ev_keep_how"),
])
def test_short_replies_mid_flow_move_on(state, text, label):
    assert at(state, text).session.state == label, at(state, text).matched


def test_asking_whether_blocking_angers_them_is_a_blocking_question():
    # their worry about blocking, not the other person's threat
    turn = at("start", "ブロックしたら逆上しないかな")
    assert "evidence" in tags(turn) and "threat" not in tags(turn), turn.matched
