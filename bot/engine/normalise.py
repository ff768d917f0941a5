"""Text normalisation before matching: the same folding is applied to keywords and to input.

Order: Unicode NFKC (full/half width, compatibility forms), lower case, zero-width and
variation characters removed, katakana folded to hiragana (jaconv), runs of the same
character (but digits) squeezed to one, white space collapsed.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jaconv

# Zero-width, joiners, BOM, variation selectors (incl. emoji VS-16), tag characters, bidi marks.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Digits are never squeezed: "110" and "10" are different numbers.
_REPEATS = re.compile(r"([^\d])\1+", re.DOTALL)
_SPACES = re.compile(r"\s+")
# Long-vowel marks and wave dashes that people sprinkle ("たすけてーー", "こわい〜").
_ELONGATION = re.compile("[ー〜~～]+")


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """Fold ``text`` for matching. Idempotent: normalise(normalise(x)) == normalise(x).
    Cached: a message is folded for the keywords and again for the model."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = text.lower()
    text = jaconv.kata2hira(text)
    text = _REPEATS.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    return text


def compact(normalised: str) -> str:
    """Normalised text without spaces or elongation marks: Japanese is written without spaces."""
    return _ELONGATION.sub("", normalised.replace(" ", ""))


def is_ascii_word(keyword: str) -> bool:
    return keyword.isascii() and any(c.isalnum() for c in keyword)
