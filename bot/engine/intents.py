"""Intent matching: keywords (substring or word), Japanese conjugations, fuzzy phrases.

Matchers are compiled once when flows load; matching a message is a handful of regex
searches on short strings. Keywords of every locale are merged, so a crisis word is
recognised whatever language the session is in.

Keyword rules, for staff:
- Japanese (any non-ASCII keyword) matches anywhere in the message, spaces ignored. A keyword
  that ends in a verb or adjective also matches its conjugations: 晒す matches 晒される,
  晒した, 晒すって (SudachiPy finds the conjugation type when the flow loads).
- English and other ASCII keywords match whole words: "die" matches "i want to die" but not
  "diet". End a keyword with * to match the start of words: "threat*" matches "threatened".
- Phrases are whole example messages; a message close to one (rapidfuzz) matches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from .normalise import compact, is_ascii_word, normalise

PHRASE_THRESHOLD = 88

# Godan verbs change their last kana by row; these are the kana each row can take
# (including the euphonic forms っ/ん/い before た/て).
_GODAN_ROWS = {
    "カ": "かきくけこい", "ガ": "がぎぐげごい", "サ": "さしすせそ", "タ": "たちつてとっ",
    "ナ": "なにぬねのん", "バ": "ばびぶべぼん", "マ": "まみむめもん", "ラ": "らりるれろっ",
    "ワ": "わいうえおっ", "ア": "わいうえおっ",
}


@lru_cache(maxsize=1)
def _tokenizer():
    from sudachipy import Dictionary  # loaded once per process, ~50 ms

    return Dictionary(dict="core").tokenizer()


MIN_READING_CHARS = 3  # a kana spelling shorter than this would match too much ("し")


def keyword_variants(keyword: str) -> list[str]:
    """Every spelling a keyword stands for: its conjugations, and the same in kana.

    Staff write 死にたい; people type しにたい or シニタイ. 晒す -> 晒さ 晒し ... and さらさ さらし ...
    """
    forms = set(conjugation_variants(keyword))
    for form in list(forms):
        reading = _reading(form)
        if reading and len(reading) >= MIN_READING_CHARS:
            forms.add(reading)
    return sorted(forms)


def _reading(text: str) -> str:
    if is_ascii_word(text) or not any(_is_kanji(c) for c in text):
        return ""
    try:
        from sudachipy import SplitMode

        return "".join(m.reading_form() for m in _tokenizer().tokenize(text, SplitMode.C))
    except Exception:
        return ""


def _is_kanji(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def conjugation_variants(keyword: str) -> list[str]:
    """Forms of ``keyword`` that conjugated text contains, e.g. 晒す -> 晒さ 晒し 晒す 晒せ 晒そ."""
    if is_ascii_word(keyword):
        return [keyword]
    try:
        from sudachipy import SplitMode

        tokens = _tokenizer().tokenize(keyword, SplitMode.C)
    except Exception:  # a missing dictionary must not stop loading: plain substring still works
        return [keyword]
    if not tokens:
        return [keyword]
    last = tokens[-1]
    pos = last.part_of_speech()
    if pos[5] != "終止形-一般" or pos[0] not in ("動詞", "形容詞"):
        return [keyword]
    head = keyword[: len(keyword) - len(last.surface())]
    surface = last.surface()
    stem = surface[:-1]
    ctype = pos[4]
    if pos[0] == "形容詞":
        endings = ["い", "く", "か", "け", "さ", "そ"]
    elif ctype.startswith("五段-"):
        row = ctype.split("-")[1][0]
        endings = list(_GODAN_ROWS.get(row, surface[-1]))
    elif ctype.startswith(("上一段", "下一段", "カ行変格")):
        # Ichidan verbs keep their stem: 上げる -> 上げ (上げた, 上げられる, 上げて).
        endings = [""]
    else:
        return [keyword]
    if not stem and endings == [""]:
        return [keyword]
    return sorted({head + stem + e for e in endings} | {keyword})


@dataclass(frozen=True)
class IntentMatcher:
    """One intent's compiled keywords and phrases, over all locales."""

    name: str
    compact_pattern: re.Pattern | None  # non-ASCII keywords, matched on text without spaces
    word_pattern: re.Pattern | None     # ASCII keywords, matched as words on spaced text
    phrases: tuple[str, ...]
    exclude_pattern: re.Pattern | None = None  # e.g. すばらしい must not count as ばらす

    def matches(self, spaced: str, packed: str) -> bool:
        if self.exclude_pattern is not None and self.exclude_pattern.search(packed):
            packed = self.exclude_pattern.sub("|", packed)
        if self.compact_pattern is not None and self.compact_pattern.search(packed):
            return True
        if self.word_pattern is not None and self.word_pattern.search(spaced):
            return True
        if self.phrases:
            for phrase in self.phrases:
                if fuzz.ratio(spaced, phrase) >= PHRASE_THRESHOLD:
                    return True
        return False


def compile_intent(name: str, keywords: list[str], phrases: list[str], exclude: list[str] = ()) -> IntentMatcher:
    packed: set[str] = set()
    words: list[str] = []
    for raw in keywords:
        raw = str(raw)
        if is_ascii_word(raw):
            norm = normalise(raw)
            if norm.endswith("*"):
                words.append(re.escape(norm[:-1].rstrip()) + r"[a-z0-9']*")
            else:
                words.append(re.escape(norm))
        else:
            for variant in keyword_variants(raw.rstrip("*")):
                folded = compact(normalise(variant))
                if folded:
                    packed.add(folded)
    # Longest first so the regex engine prefers specific keywords; order does not change truth.
    compact_pattern = re.compile("|".join(re.escape(k) for k in sorted(packed, key=len, reverse=True))) if packed else None
    word_pattern = (
        re.compile(r"(?<![a-z0-9])(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?![a-z0-9])")
        if words
        else None
    )
    excluded = sorted({compact(normalise(str(e))) for e in exclude} - {""}, key=len, reverse=True)
    exclude_pattern = re.compile("|".join(re.escape(e) for e in excluded)) if excluded else None
    return IntentMatcher(
        name, compact_pattern, word_pattern, tuple(normalise(p) for p in phrases if str(p).strip()), exclude_pattern
    )
