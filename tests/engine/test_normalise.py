from __future__ import annotations

import pytest

from bot.engine.intents import KeywordIndex, compile_intent, keyword_variants
from bot.engine.normalise import compact, normalise


@pytest.mark.parametrize("raw, folded", [
    ("ＡＢＣ１２３", "abc123"),            # full width
    ("ｼﾆﾀｲ", "しにたい"),                   # half-width katakana
    ("シニタイ", "しにたい"),               # katakana folded to hiragana
    ("HeLLo", "helo"),                      # case, repeated letters squeezed
    ("たすけてええええ", "たすけてえ"),      # repeated characters squeezed
    ("死\u200bに\u200dたい", "死にたい"),    # zero-width characters removed
    ("❤️", "❤"),                            # variation selector removed
    ("a \t\n b", "a b"),                    # white space collapsed
])
def test_normalise(raw, folded):
    assert normalise(raw) == folded


def test_normalise_is_idempotent():
    for text in ["ﾊﾞﾗｽぞ！！", "ＡＢＣ", "死にたい😢😢", "I'M   SCARED"]:
        assert normalise(normalise(text)) == normalise(text)


def test_compact_drops_spaces_and_elongation():
    assert compact(normalise("た す け て ー ー")) == "たすけて"


def _matcher(keywords, exclude=()):
    index = KeywordIndex({"x": (list(keywords), list(exclude))})

    class M:
        @staticmethod
        def matches(spaced, packed):
            return "x" in index.scan(spaced, packed)

    return M


def test_verb_keywords_match_their_conjugations_and_kana_spellings():
    m = _matcher(["晒す", "ばらす", "ネットに上げる", "死にたい", "飛び降りる"])
    for text in ["晒される", "晒すって", "晒した", "バラすぞ", "ﾊﾞﾗｽ", "ネットに上げられた", "しにたい", "シニタイ", "とびおりたい"]:
        n = normalise(text)
        assert m.matches(n, compact(n)), text
    assert "晒さ" in keyword_variants("晒す")


def test_short_kana_forms_and_exact_keywords_do_not_spread():
    # しぬ's conjugations (しな, しに ...) and 遺書's reading (いしょ, inside ないしょ) match too much.
    assert keyword_variants("しぬ") == ["しぬ"]
    assert "イショ" not in keyword_variants("遺書")
    assert keyword_variants("=死ね") == ["死ね"]
    m = _matcher(["遺書"])
    text = normalise("ないしょにしてね")
    assert not m.matches(text, compact(text))


def test_digits_are_not_squeezed():
    assert normalise("110番") == "110番" and normalise("#9110") == "#9110"
    m = _matcher(["110番"])
    assert not m.matches(normalise("10万円"), compact(normalise("10万円")))


def test_english_excludes():
    m = _matcher(["kill"], ["kill time"])
    assert not m.matches(normalise("just to kill time"), compact(normalise("just to kill time")))
    assert m.matches(normalise("i want to kill myself"), compact(normalise("i want to kill myself")))


def test_ascii_keywords_match_whole_words_or_prefixes_with_star():
    m = _matcher(["die", "threat*"])
    yes = ["i want to die", "they threatened me", "threat"]
    no = ["diet coke", "indie music"]
    for text in yes:
        assert m.matches(normalise(text), compact(normalise(text))), text
    for text in no:
        assert not m.matches(normalise(text), compact(normalise(text))), text


def test_exclude_removes_false_friends():
    m = _matcher(["ばらす"], ["すばらしい"])
    assert not m.matches(normalise("すばらしい"), compact(normalise("すばらしい")))
    assert m.matches(normalise("ばらされた"), compact(normalise("ばらされた")))


def test_phrases_match_close_messages():
    m = compile_intent("x", ["someone is blackmailing me"])
    text = normalise("someone is blackmailing me!!")
    assert m.matches(frozenset(), text)
    assert not m.matches(frozenset(), normalise("what is the weather"))


def test_many_keywords_of_many_intents_are_found_in_one_scan():
    index = KeywordIndex({"a": (["脅す", "money"], []), "b": (["証拠"], []), "c": (["unused"], [])})
    text = normalise("脅されて money 証拠")
    assert index.scan(text, compact(text)) == {"a", "b"}


def test_english_words_inside_japanese_text_are_still_words():
    index = KeywordIndex({"removal": (["take it down"], [])})
    text = normalise("take it downって何")
    assert index.scan(text, compact(text)) == {"removal"}
