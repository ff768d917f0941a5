"""Kinds of message found by rounds 11-12 (ja) of the evaluation set, on the real flow and locales,
each written here in words the set does not use: the other person waiting at an exit or loitering
outside right now, pills disclosed late, a cut with heavy bleeding, asking where to jump from to be
sure, ending it painlessly (the direct question); and the ordinary messages that held a crisis word
(a thought never had, hyperbole with an explicit denial, a comparison of courage, a habit stopped
long ago, a dream, a word read online, a dead account, not me but a friend, a message that
"came" while waiting for a train, "not replied yet"). Each case fails without its rule."""
from __future__ import annotations

import pytest

from bot.engine import step

from .helpers import tags_of, typed_at


def at(state: str, text: str, variables: dict | None = None):
    return typed_at("ja", state, text, variables)


tags = tags_of


@pytest.mark.parametrize("state, text", [
    ("start", "例の男が予備校の出口で待ってて出られない"),
    ("ev_block", "あの人がバイト先の前でうろついてる"),
    ("start", "実は薬のんだ 言えなかった"),
    ("crisis_back", "また切っちゃった 血やばい"),
])
def test_harm_happening_now_is_an_emergency(state, text):
    assert "emergency" in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("ev_keep", "何階から飛べば確実かな"),
    ("start", "苦しまずに終われるやり方ないかな"),
    ("start", "リスカやめたけどまたやりたい"),      # stopped, but not resolved
    ("start", "消えたいくらい恥ずかしい"),          # hyperbole alone still asks
])
def test_a_crisis_said_without_the_usual_words_still_reaches_crisis(state, text):
    assert "crisis" in tags(at(state, text))


@pytest.mark.parametrize("state, text", [
    ("start", "消えたいって思ったことはないけど 写真のことでこわい"),
    ("start", "消えたいほど恥ずかしいけど死なないよ 写真送っちゃった"),
    ("start", "飛び降りるくらいの気持ちで親に打ち明けた"),
    ("start", "アムカはやめた もう一年やってない 写真のことで相談"),
    ("start", "首吊りの夢を見て目が覚めた、そしたら知らない人からDM"),
    ("removal", "もう死んだ垢に写真のこってる"),
    ("start", "リスカって検索したけど わたしじゃなくて友達のこと"),
    ("start", "ホームで快速待ってたら DMきた 写真送れって"),
    ("start", "ビデオ通話で脱いでって言われて録画された 今まだ返事してない"),
])
def test_an_ordinary_message_holding_a_crisis_word_is_not_a_crisis(state, text):
    assert "crisis" not in tags(at(state, text)), at(state, text).matched


@pytest.mark.parametrize("state, text, target", [
    ("ev_when", "先週の金曜の夜", "ev_money"),              # a time answers "when"
    ("ev_keep", "これどうやんの", "ev_keep_how"),             # a casual how-question
    ("ev_money", "送金の履歴どう残すの", "ev_money_how"),
    ("ev_safe", "インスタ鍵かけた", "ev_block"),              # the safety step done
    ("ev_safe", "パスワードかえた", "ev_block"),
])
def test_short_replies_at_the_evidence_steps(state, text, target):
    turn = at(state, text)
    assert turn.session.state == target or target in turn.entered, (turn.session.state, turn.matched)


@pytest.mark.parametrize("text, state", [
    ("botに言ったの消せる？", "forget_confirm"),    # the bot named in Latin letters
    ("ボットとの話って消える？", "forget_confirm"),            # asking whether it disappears
    ("おやにばれたらどうしよ", "parents"),                            # parents in kana
])
def test_routing_kinds_of_rounds_11_12(text, state):
    turn = at("start", text)
    assert turn.session.state == state, (turn.session.state, turn.matched)
