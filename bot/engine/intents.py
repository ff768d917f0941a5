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
- A kanji keyword also matches its kana spelling (死にたい: しにたい). Write "=遺書" to match a
  keyword only as written (no kana spelling, no conjugations) when those match other words.
- ``exclude:`` lists phrases in which a keyword does not count (すばらしい for ばらす).
"""
from __future__ import annotations

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


MIN_READING_CHARS = 4  # shorter kana spellings match inside other words (いしょ in ないしょ)
MIN_VARIANT_CHARS = 3  # shorter conjugated forms match almost anything (しな, しに from しぬ)
EXACT = "="            # a keyword written "=遺書" is matched as written: no kana spelling, no conjugation


def keyword_variants(keyword: str) -> list[str]:
    """Every spelling a keyword stands for: its conjugations, and the same in kana.

    Staff write 死にたい; people type しにたい or シニタイ. 晒す -> 晒さ 晒し ... and さらさ さらし ...
    """
    if keyword.startswith(EXACT):
        return [keyword[1:]]
    forms = {f for f in conjugation_variants(keyword)
             if len(f) >= MIN_VARIANT_CHARS or any(_is_kanji(c) for c in f)} | {keyword}
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
    """One intent: its name and its example phrases. Keywords live in the shared ``KeywordIndex``."""

    name: str
    phrases: tuple[str, ...] = ()

    def matches(self, hits: frozenset[str], spaced: str) -> bool:
        if self.name in hits:
            return True
        for phrase in self.phrases:
            if fuzz.ratio(spaced, phrase) >= PHRASE_THRESHOLD:
                return True
        return False


class KeywordIndex:
    """Every intent's keywords in two Aho-Corasick automatons (pyahocorasick).

    One pass over a message finds every intent whose keywords occur in it, however many
    keywords there are; a regex alternation of a thousand keywords costs far more per message.
    """

    def __init__(self, specs: dict[str, tuple[list[str], list[str]]]):
        """``specs``: intent name -> (keywords, exclude), over all locales."""
        # keyword -> [(intent, kind)], kind: "word", "prefix" (ASCII "threat*") or "exclude"
        packed: dict[str, list[tuple[str, str]]] = {}    # folded, spaces removed (Japanese)
        words: dict[str, list[tuple[str, str]]] = {}     # ASCII, matched as words on spaced text
        for name, (keywords, exclude) in specs.items():
            for raw in keywords:
                raw = str(raw)
                if is_ascii_word(raw.lstrip(EXACT)):
                    norm = normalise(raw.lstrip(EXACT))
                    kind = "prefix" if norm.endswith("*") else "word"
                    norm = norm.rstrip("*").rstrip()
                    if norm:
                        words.setdefault(norm, []).append((name, kind))
                else:
                    for variant in keyword_variants(raw.rstrip("*")):
                        folded = compact(normalise(variant))
                        if folded:
                            packed.setdefault(folded, []).append((name, "word"))
            for raw in exclude:
                raw = str(raw)
                if is_ascii_word(raw):
                    norm = normalise(raw)
                    if norm:
                        words.setdefault(norm, []).append((name, "exclude"))
                folded = compact(normalise(raw))
                if folded:
                    packed.setdefault(folded, []).append((name, "exclude"))
        self._packed = _automaton(packed)
        self._words = _automaton(words)

    def scan(self, spaced: str, packed: str) -> frozenset[str]:
        """Names of the intents whose keywords occur; a keyword inside an excluded phrase of
        the same intent (ばらし inside すばらしい) does not count."""
        found: list[tuple[int, int, str, bool]] = []     # (start, end, intent, is_packed)
        excluded: list[tuple[int, int, str, bool]] = []
        if self._packed is not None and packed:
            for end, (length, entries) in self._packed.iter(packed):
                for name, kind in entries:
                    (excluded if kind == "exclude" else found).append((end - length + 1, end, name, True))
        if self._words is not None and spaced:
            last = len(spaced) - 1
            for end, (length, entries) in self._words.iter(spaced):
                start = end - length + 1
                if start > 0 and _is_word_char(spaced[start - 1]):
                    continue
                whole = end == last or not _is_word_char(spaced[end + 1])
                for name, kind in entries:
                    if kind == "exclude":
                        excluded.append((start, end, name, False))
                    elif whole or kind == "prefix":
                        found.append((start, end, name, False))
        if not excluded:
            return frozenset(name for _, _, name, _ in found)
        return frozenset(
            name for start, end, name, in_packed in found
            if not any(n == name and p == in_packed and s <= start and end <= e for s, e, n, p in excluded)
        )


def _is_word_char(char: str) -> bool:
    # Only ASCII letters and digits bind English words: "take it downって" still has "take it down".
    return char.isascii() and char.isalnum()


def _automaton(table: dict[str, list[tuple[str, str]]]):
    if not table:
        return None
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key, entries in table.items():
        automaton.add_word(key, (len(key), tuple(entries)))
    automaton.make_automaton()
    return automaton


def compile_intent(name: str, phrases: list[str]) -> IntentMatcher:
    return IntentMatcher(name, tuple(normalise(p) for p in phrases if str(p).strip()))
