"""The text helpers every adapter shares: UTF-16 length, clipping, splitting."""
from __future__ import annotations

from bot.text import clip, split_text, utf16_len


def test_utf16_counting_and_clipping():
    assert utf16_len("abc") == 3
    assert utf16_len("相談") == 2
    assert utf16_len("😢") == 2
    assert clip("a" * 25, 20) == "a" * 19 + "…"
    assert utf16_len(clip("😢" * 15, 20)) <= 20
    assert clip("😢" * 15, 20).endswith("…")  # never half a surrogate pair
    assert clip("short", 20) == "short"
    assert clip("x" * 200, 80) == "x" * 79 + "…"
    assert clip("word " * 10, 11) == "word word…"  # no space before the ellipsis


def test_long_text_is_split_within_limits_at_line_breaks():
    text = "\n".join(f"{i:04d} " + "あ" * 90 for i in range(120))  # about 11,400 units
    pieces = split_text(text, 5000)
    assert len(pieces) == 3
    assert all(utf16_len(p) <= 5000 for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")
    assert all(p.startswith(("0", "1")) for p in pieces)  # cut at a line break


def test_emoji_never_split_in_half():
    pieces = split_text("😢" * 6000, 5000)
    assert [utf16_len(p) for p in pieces] == [5000, 5000, 2000]
    assert "".join(pieces) == "😢" * 6000


def test_split_keeps_everything_within_the_limit_and_keeps_the_end_of_a_sentence():
    text = "一行目。\n" * 300 + "😀" * 1200 + " tail"
    pieces = split_text(text, 2000)
    assert all(utf16_len(p) <= 2000 for p in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert split_text("short", 2000) == ["short"] and split_text("", 2000) == [] and split_text(" \n ", 2000) == []


def test_split_prefers_line_breaks_then_sentences_then_spaces():
    assert split_text("a" * 1500 + "\n" + "b" * 1000, 2000) == ["a" * 1500, "b" * 1000]
    assert split_text("あ" * 15 + "。" + "い" * 10, 20) == ["あ" * 15 + "。", "い" * 10]
    assert split_text("a" * 15 + " " + "b" * 10, 20) == ["a" * 15, "b" * 10]
    assert split_text("a" * 5 + " " + "b" * 30, 20) == ["a" * 5 + " " + "b" * 14, "b" * 16]  # no break in the second half
