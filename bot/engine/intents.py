"""Intent matching on tokens: keywords, idioms, negation, phrases.

Keywords are matched on the message's tokens (``tokens.py``), never inside a word: 薬 matches
the word 薬 or くすり, not 薬局 or 目薬; "die" matches "died" and "dying", not "diet". A keyword
matches when its tokens appear in the message's tokens in any of four spellings (as written, in
dictionary form, as read, dictionary form as read), so 死にたい matches 死にたかった, しにたい
and ｼﾆﾀｲ, and 晒す matches 晒された. Readings count only from three kana on (ち alone is not 血).

The keyword language, for staff (the README has it in Japanese and English):
- ``死にたい``, ``kill myself``: these words, in this order, as whole words.
- ``=遺書``: only as written (no dictionary form, no reading).
- ``threat*``: a word that starts with it (threatened, threatening).
- ``*薬``: a word that ends with it (睡眠薬, 風邪薬 - and 目薬, so use it with care).
- ``先輩 … 広める`` (or ``...``): the parts in this order in one sentence, a few words apart;
  ``want …3 die``: at most 3 words between.
- ``薬 & 全部飲んだ``: every part somewhere in the message, in any order.
- ``{amount}``: any word of the list ``amount`` (``words:`` in the intents file), so
  ``薬 & {amount}`` stands for ``薬 & 全部``, ``薬 & 大量``, ...
- ``idioms:`` (or ``exclude:``): phrases that cancel a keyword they overlap (死ぬほど; "die of
  embarrassment" cancels "want … die" in "she wants to die of embarrassment").
- Negation is seen by itself: 死にたくない, 死ぬつもりはない, "not suicidal", "i dont want to
  die" do not count as 死にたい / "suicidal" / "want to die". An intent with ``negation: false``
  keeps its keywords even when negated. Keywords that carry their own negation (生きたくない,
  "cant go on") match as written.
- ``suicidal~``: one English word, also with one letter wrong, missing, added or swapped.
- ``unless:``: words that cancel the intent in their sentence ("来週" for a meeting that is not
  happening now; "lmao" for "im dead").
- ``quoted: false``: keywords inside 「」 or "" (what someone else said: 「人生終わりだね」って
  言われた; a title: the song "die with a smile") do not count for this intent, nor a keyword
  that reaches into them ("i think the song "die ..."").
- ``phrases:``: whole example messages; a message close to one (rapidfuzz) matches.
"""
from __future__ import annotations

import dataclasses
import gc
import re
from collections import defaultdict
from bisect import bisect_right
from itertools import accumulate
from operator import itemgetter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from rapidfuzz import fuzz, process

from .negation import is_negated
from .tokens import EN, JA, Token, tokenize

PHRASE_THRESHOLD = 88
MIN_READING_CHARS = 3   # shorter readings meet too many other words (ち, し, くび)
MAX_GAP = 12            # tokens allowed between the parts of "A … B"
EXACT = "="
GAP_MARKS = ("…", "...")
ALL_OF = "&"

LAYERS = ("surface", "lemma", "reading", "lemma_reading", "skeleton")
FUZZY = "~"              # "suicidal~": also with one letter wrong, missing, added or swapped
MIN_FUZZY_LETTERS = 6
_READING_LAYERS = frozenset({"reading", "lemma_reading"})



# ---- compiling keywords ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One run of words of a keyword (or any word of a {word list}), with every spelling it may
    take: (layer, string, needs_start, needs_end). needs_start is False for "*薬" (may start
    inside a word), needs_end False for "threat*" (may end inside a word)."""

    strings: tuple[tuple[str, str, bool, bool], ...]
    min_reading: int = MIN_READING_CHARS   # a part after "…" has its context: two kana will do
    gap: int = MAX_GAP                     # words allowed between the part before and this one


@dataclass(frozen=True)
class Pattern:
    """A keyword or idiom: groups that must all occur ("A & B"), each a run of parts in order in
    one sentence ("A … B"), each part a run of words."""

    intent: str
    text: str                  # as staff wrote it, for explanations
    kind: str                  # "keyword" or "idiom"
    groups: tuple[tuple[Part, ...], ...]


def compile_pattern(intent: str, raw: str, kind: str = "keyword", words: dict[str, list[str]] | None = None,
                    shown: str | None = None) -> Pattern | None:
    """Turn what staff wrote into a pattern; None when it has no words at all. A {word list} in a
    part makes that part match any of its words (one part, not one pattern per word)."""
    text = str(raw).strip()
    groups = []
    for group_text in text.split(ALL_OF):
        # "A … B" or "A ... B"; "A …3 B": at most 3 words between A and B.
        pieces = _GAP.split(group_text.replace("...", "…"))
        chunks = [c.strip() for c in pieces[::2]]
        gaps = [int(g) if g else MAX_GAP for g in pieces[1::2]]
        parts = []
        for n, chunk in enumerate(chunks):
            min_reading = MIN_READING_CHARS if n == 0 else 2
            strings: set = set()
            for alternative in expand_word_lists(chunk, words or {}):
                strings |= _compile_part(alternative.strip(), min_reading)
            if not strings:
                return None
            parts.append(Part(tuple(sorted(strings)), min_reading, gaps[n - 1] if n else MAX_GAP))
        groups.append(tuple(parts))
    return Pattern(intent, shown or text, kind, tuple(groups)) if groups else None


_WORD_LIST = re.compile(r"\{([A-Za-z0-9_.]+)\}")
_LOCALE_PREFIX = re.compile(r"\{[a-z]+\.(?=[A-Za-z0-9_]+\})")
_GAP = re.compile(r"\s*…(\d*)\s*")


def _spelled_out(raw: str, words: dict[str, list[str]]) -> list[str]:
    """A keyword whose {list} holds words with their own "…" or "&" ("how many … take") is
    spelled out into one keyword per word, since a part cannot hold a gap; others stay whole."""
    names = _WORD_LIST.findall(raw)
    if any(_GAP.search(str(w).replace("...", "…")) or ALL_OF in str(w)
           for name in names for w in words.get(name, ())):
        return expand_word_lists(raw, words)
    return [raw]


def expand_word_lists(text: str, words: dict[str, list[str]]) -> list[str]:
    """"薬 & {amount}" with amount: [全部, 大量] -> ["薬 & 全部", "薬 & 大量"]. Raises KeyError
    naming an unknown list."""
    match = _WORD_LIST.search(text)
    if match is None:
        return [text]
    name = match.group(1)
    if name not in words:
        raise KeyError(name)
    out = []
    for word in words[name]:
        out.extend(expand_word_lists(text[: match.start()] + str(word) + text[match.end():], words))
    return out


@lru_cache(maxsize=None)
def _compile_part(chunk: str, min_reading: int = MIN_READING_CHARS) -> frozenset:
    exact = chunk.startswith(EXACT)
    chunk = chunk.lstrip(EXACT)
    fuzzy = chunk.endswith(FUZZY)
    chunk = chunk.rstrip(FUZZY)
    needs_end = not chunk.endswith("*")
    needs_start = not chunk.startswith("*")
    tokens = tokenize(chunk.strip("*"), romaji=False)
    if not tokens:
        return frozenset()
    strings = {("surface", "".join(t.surface for t in tokens))}
    if any(t.kind == EN for t in tokens):
        skeleton = "".join(t.skeleton or t.surface for t in tokens)
        strings.add(("skeleton", skeleton))
        if fuzzy and len(tokens) == 1 and len(skeleton) >= MIN_FUZZY_LETTERS:
            strings.update(("skeleton", v) for v in _one_edit(skeleton))
    # A keyword written in an inflected form means that form: "done", "sent" (not "do", "send");
    # 払え (pay!) is not 払った (paid). Japanese verb stems before an ending (死に-たい) still
    # take every form of the ending (死にたかった).
    last = tokens[-1]
    inflected = (any(t.kind == EN and t.surface != t.lemma for t in tokens)
                 or (last.kind == JA and last.form and last.form != "*" and not last.form.startswith("終止形"))
                 # Alone, a word in kana is often taken for another word (しのう for 昨日):
                 # written in kana, a keyword matches as written and as read, not by its lemma.
                 or all(t.is_kana for t in tokens))
    if not exact and not inflected:
        strings.add(("lemma", "".join(t.lemma for t in tokens)))
    if not exact and needs_end:  # a prefix ("threat*") is matched as written: its reading means nothing
        for layer in ("reading", "lemma_reading") if not inflected else ("reading",):
            value = "".join(getattr(t, layer) for t in tokens)
            if len(value) >= min_reading:
                strings.add((layer, value))
        if not inflected or (len(tokens) == 1 and tokens[0].is_kana):
            # 切る written in kana is often not recognised as 切る (きり, きっ): its stems, as read.
            # A keyword written in kana in its dictionary form (ぶつける) takes its forms too.
            head = "".join(t.reading for t in tokens[:-1])
            strings.update(("reading", head + v) for v in conjugated_readings(tokens[-1])
                           if len(head + v) >= min_reading)
    # A match by reading alone must not be another word read the same way (いける is 行ける, not
    # 逝ける): reading entries carry the keyword's own lemma when it is written with kanji.
    # Several words (逝き-たい): the first word's lemma, checked only where the message writes that
    # word in other kanji (行き-たい is 行きたい, not 逝きたい; いきたい in kana stays unclear).
    own = tokens[0].lemma if len(tokens) == 1 or tokens[0].kind == JA else ""
    own = own if needs_start and needs_end and _has_kanji(own) else ""
    # A word of one or two kana (レズ, ゲイ) read across words must not start on the ending of the
    # word before (知ら-れ-ず: れ+ず is not レズ); across other words it may (slang is cut oddly).
    whole = len(tokens) == 1 and tokens[0].kind == JA and tokens[0].is_kana and len(tokens[0].surface) <= 2
    return frozenset((layer, string, needs_start, needs_end, own if layer in _READING_LAYERS else "", whole)
                     for layer, string in strings)


_KANJI = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


def _has_kanji(text: str) -> bool:
    return _KANJI.search(text) is not None


# Godan verbs change their last kana by row; these are the kana each row can take
# (with the euphonic forms っ/ん/い before た/て).
_GODAN_ROWS = {
    "カ": "かきくけこい", "ガ": "がぎぐげごい", "サ": "さしすせそ", "タ": "たちつてとっ",
    "ナ": "なにぬねのん", "バ": "ばびぶべぼん", "マ": "まみむめもん", "ラ": "らりるれろっ",
    "ワ": "わいうえおっ", "ア": "わいうえおっ",
}


def conjugated_readings(token: Token) -> set[str]:
    """The readings of a verb's stems: 切る -> きら きり きる きれ きろ きっ; 消える -> きえ."""
    if token.kind != JA or not token.pos.startswith("動詞") or not token.form.startswith("終止形"):
        return set()
    ctype = _conjugation_type(token.surface)
    reading = token.reading
    if not reading:
        return set()
    if ctype.startswith("五段-"):
        row = ctype.split("-")[1][0]
        return {reading[:-1] + e for e in _GODAN_ROWS.get(row, "")}
    if ctype.startswith(("上一段", "下一段")):
        return {reading[:-1]}  # 消える -> きえ (消えた, 消えたい)
    return set()


def _conjugation_type(word: str) -> str:
    from .tokens import conjugation_type

    return conjugation_type(word)


# ---- one message, as layers --------------------------------------------------------------------------

_FIELD = {layer: itemgetter(Token._fields.index(layer)) for layer in LAYERS}


def _layer(tokens: tuple[Token, ...], layer: str) -> tuple[str, list[int], set[int]]:
    """One spelling of the whole message: the tokens' strings joined; where each token ends
    (``cuts``, so that the token a character belongs to is ``bisect_right(cuts, offset)``); and
    every offset where a token starts or ends (``bounds``), so that a hit can be checked to start
    and end on word boundaries by two look-ups (a hit ends after its first character: 0 is only
    ever asked as a start)."""
    if layer == "skeleton":
        pieces = [t.skeleton or t.surface for t in tokens]
    else:
        pieces = list(map(_FIELD[layer], tokens))
    cuts = list(accumulate(map(len, pieces)))
    return "".join(pieces), cuts, {0, *cuts}


_NO_SOFT: frozenset[int] = frozenset()
MIN_SOFT_READING = 3   # a word read across the dictionary's cuts of a hiragana run: three kana at least
_NO_WORD_STARTS = frozenset("んっゃゅょぁぃぅぇぉーゎ")
_CONTRACTIONS = frozenset({"ん", "んだ", "んです", "んでし", "んで", "っす", "っけ", "っしょ", "った"})  # しにたいんだ, やばいっす


def _soft_boundaries(tokens: tuple[Token, ...], cuts: list[int]) -> frozenset[int]:
    """Offsets inside a run of kana words that the dictionary plainly cut wrong, where a word may
    also start or end. Typed without conversion, hiragana is sometimes cut into pieces no word
    has (じさつってどう: じ|さ|つっ|て, an auxiliary opening the message; れんたんかった:
    れん|た|んかっ|た and ほぞんしといた: ほぞ|んし|…, a word starting with ん), so a keyword read in
    such a run need not start and end on those cuts. A run cut into real words (わたし|に|たいして,
    ありす|かふぇ) keeps its cuts: しにたい is not read across them."""
    soft: set[int] = set()
    i, n = 0, len(tokens)
    while i < n:
        if not tokens[i].is_kana:
            i += 1
            continue
        j = i
        while j < n and tokens[j].is_kana and tokens[j].sentence == tokens[i].sentence \
                and len(tokens[j].reading) == len(tokens[j].surface):
            j += 1
        opens_clause = i == 0 or tokens[i - 1].kind != JA or tokens[i - 1].sentence != tokens[i].sentence
        broken = (opens_clause and tokens[i].pos.startswith("助動詞")) or \
            any(t.surface[0] in _NO_WORD_STARTS and t.pos.startswith("助動詞") and t.surface not in _CONTRACTIONS
                for t in tokens[i:j])
        if j - i >= 2 and broken:
            begin = cuts[i - 1] if i else 0
            soft.update(range(begin, cuts[j - 1] + 1))
        i = max(j, i + 1)
    return frozenset(soft)


@dataclass
class Scan:
    """What one message matched: intent names, and for each the keywords that made it match."""

    intents: frozenset[str]
    found: dict[str, tuple[str, ...]] = field(default_factory=dict)
    negated: frozenset[str] = frozenset()   # intents whose only keywords were negated
    vetoed: frozenset[str] = frozenset()    # intents one of whose model_unless words stands in the message
    # intents a keyword was found for but an idiom or ``unless`` word cancelled: the idioms, as
    # staff wrote them (the editor's "try a sentence" shows why)
    cancelled: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unless: frozenset[str] = frozenset()    # intents with one of their ``unless`` words in every sentence


EMPTY_SCAN = Scan(frozenset())


class KeywordIndex:
    """Every intent's keywords and idioms in one Aho-Corasick automaton per layer (pyahocorasick).

    One pass per layer over a message finds every part (a run of words, or any word of a list)
    that occurs in it, however many keywords there are; parts are shared by every keyword that
    uses them, so a common word ("写真", "{image}") is checked once, not once per keyword.
    """

    def __init__(self, specs: dict[str, "IntentSpec"], words: dict[str, list[str]] | None = None):
        # Tens of thousands of small tuples, none of them garbage: the cyclic collector, run again
        # and again over the whole process while they are made, took half the time of building.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(specs, words)
        finally:
            if collecting:
                gc.enable()

    def _build(self, specs: dict[str, "IntentSpec"], words: dict[str, list[str]] | None) -> None:
        self.patterns: list[Pattern] = []
        self.negatable: dict[str, bool] = {}
        self.ignores_quotes: set[str] = set()
        part_ids: dict[tuple, int] = {}
        self._layout: list[tuple[tuple[tuple[int, int], ...], ...]] = []  # pattern -> groups -> (part id, gap)
        users: dict[int, set[int]] = {}                                   # part id -> patterns using it
        table: dict[str, dict[str, set[tuple]]] = {layer: {} for layer in LAYERS}
        for name, spec in specs.items():
            self.negatable[name] = spec.negation
            if not spec.quoted:
                self.ignores_quotes.add(name)
            written = ([(k, "keyword") for k in spec.keywords] + [(i, "idiom") for i in spec.idioms]
                       + [(u, "unless") for u in spec.unless] + [(m, "model_unless") for m in spec.model_unless])
            for raw, kind, text in ((raw, kind, text) for raw, kind in written
                                    for text in _spelled_out(str(raw), words or {})):
                pattern = compile_pattern(name, text, kind, words, shown=_LOCALE_PREFIX.sub("{", str(raw)))
                if pattern is None:
                    continue
                pid = len(self.patterns)
                self.patterns.append(pattern)
                layout = []
                for parts in pattern.groups:
                    group = []
                    for part in parts:
                        key = (part.strings, part.min_reading)
                        part_id = part_ids.get(key)
                        if part_id is None:
                            part_id = part_ids[key] = len(part_ids)
                            for layer, string, needs_start, needs_end, lemma, whole in part.strings:
                                table[layer].setdefault(string, set()).add(
                                    (part_id, needs_start, needs_end, part.min_reading, lemma, whole))
                        users.setdefault(part_id, set()).add(pid)
                        group.append((part_id, part.gap))
                    layout.append(tuple(group))
                self._layout.append(tuple(layout))
        # Each pattern is looked at only when its rarest part was found: a common part ("{image}",
        # 写真) used by hundreds of keywords does not make each of them a candidate.
        anchored: dict[int, list[int]] = {}
        for pid, groups in enumerate(self._layout):
            parts = {part_id for group in groups for part_id, _ in group}
            anchored.setdefault(min(parts, key=lambda p: (len(users[p]), p)), []).append(pid)
        self._anchored = {part_id: tuple(pids) for part_id, pids in anchored.items()}
        # The parts a pattern needs besides the one it is anchored on (None: that one alone).
        self._needs: list[frozenset[int] | None] = [None] * len(self._layout)
        for anchor, pids in anchored.items():
            for pid in pids:
                others = frozenset(part_id for group in self._layout[pid] for part_id, _ in group) - {anchor}
                self._needs[pid] = others or None
        self._automata = {layer: _automaton(layer, {k: sorted(v) for k, v in entries.items()})
                          for layer, entries in table.items() if entries}

    def scan(self, tokens: tuple[Token, ...]) -> Scan:
        if not tokens:
            return EMPTY_SCAN
        hits: dict[int, set[tuple[int, int]]] = defaultdict(set)   # part id -> {(first token, last token)}
        kinds = {t.kind for t in tokens}
        has_ja = JA in kinds
        has_en = EN in kinds
        for layer, automaton in self._automata.items():
            # Readings are of Japanese words, skeletons of English ones: skip what cannot differ.
            if automaton is None or (layer in _READING_LAYERS and not has_ja) or (layer == "skeleton" and not has_en):
                continue
            text, cuts, bounds = _layer(tokens, layer)
            if not text:
                continue
            # a word read across the dictionary's wrong cuts of a kana run may start or end there
            soft = _soft_boundaries(tokens, cuts) if layer == "reading" else _NO_SOFT
            for end, (length, buckets) in automaton.iter(text):
                start = end - length + 1
                where = 2 * (start in bounds) + ((end + 1) in bounds)
                if soft and where != 3 and length >= MIN_SOFT_READING and start in soft and (end + 1) in soft:
                    where = 3
                bucket = buckets[where]
                if bucket is None:
                    continue
                span = (bisect_right(cuts, start), bisect_right(cuts, end))
                plain, checked = bucket
                for part_id in plain:
                    hits[part_id].add(span)
                for part_id, lemma, whole in checked:
                    if whole and span[0] != span[1] and tokens[span[0]].pos.startswith("助動詞"):
                        continue
                    if lemma and _another_word(tokens, span, lemma):
                        continue
                    hits[part_id].add(span)
        if not hits:
            return EMPTY_SCAN
        patterns, layout, anchored, needs = self.patterns, self._layout, self._anchored, self._needs
        candidates = [pid for part_id in hits for pid in anchored.get(part_id, ())]
        spans: dict[int, list[list[tuple[int, int]]]] = {}
        found_parts = hits.keys()
        for pid in candidates:
            others = needs[pid]
            if others is not None and not found_parts >= others:
                continue
            groups = layout[pid]
            found = [_group_spans(group, hits, tokens) for group in groups]
            if all(found):
                spans[pid] = found
        idioms: dict[str, list[tuple[int, int]]] = {}
        cancelled: dict[str, set[int]] = {}   # intent -> sentences where an "unless" word stands
        vetoed: set[str] = set()
        cancellers: dict[str, list[str]] = {}  # intent -> the idioms and "unless" words found
        for pid, groups in spans.items():
            if patterns[pid].kind == "idiom":
                if all(_denied_by_copula(tokens, a, b) for a, b in groups[-1]):
                    continue  # the idiom's last words are denied (今は大丈夫-じゃない): it says nothing
                for group in groups:
                    idioms.setdefault(patterns[pid].intent, []).extend(group)
            elif patterns[pid].kind == "model_unless":
                vetoed.add(patterns[pid].intent)
                continue  # it stops the model, not a keyword
            elif patterns[pid].kind == "unless":
                for group in groups:
                    cancelled.setdefault(patterns[pid].intent, set()).update(tokens[a].sentence for a, _ in group)
            else:
                continue
            cancellers.setdefault(patterns[pid].intent, []).append(patterns[pid].text)
        matched: dict[str, list[str]] = {}
        negated: set[str] = set()
        for pid in sorted(spans):
            pattern = patterns[pid]
            if pattern.kind != "keyword" or pattern.intent in matched:
                continue  # one keyword is enough to say an intent matched
            name = pattern.intent
            covered = idioms.get(name, ())
            negatable = self.negatable.get(name, True)
            skip_quoted = name in self.ignores_quotes
            off = cancelled.get(name, ())
            ok = True
            for g, group in enumerate(spans[pid]):
                if covered or skip_quoted or off:
                    # An idiom cancels a keyword it overlaps, but not a keyword of one run of words
                    # that holds it and says more (死んでもいい holds the idiom 死んでも).
                    longer = len(layout[pid][g]) == 1
                    free = [(a, b) for a, b in group
                            if not any(x <= b and a <= y and not (longer and a <= x and y <= b and (x, y) != (a, b))
                                       for x, y in covered)
                            and not (skip_quoted and any(t.quoted for t in tokens[a:b + 1]))
                            and tokens[a].sentence not in off]
                else:
                    free = group
                if not free:
                    ok = False
                    break
                if negatable and all(is_negated(tokens, a, b) for a, b in free):
                    negated.add(name)
                    ok = False
                    break
            if ok:
                matched.setdefault(name, []).append(pattern.text)
        names = frozenset(matched)
        stopped = {k: tuple(dict.fromkeys(v)) for k, v in cancellers.items() if k not in names} if cancellers else {}
        # an intent whose "unless" words stand in every sentence: the whole message is not that
        everywhere = {t.sentence for t in tokens} if cancelled else set()
        held = frozenset(name for name, sentences in cancelled.items() if sentences >= everywhere)
        return Scan(names, {k: tuple(v) for k, v in matched.items()}, frozenset(negated - names),
                    vetoed=frozenset(vetoed), cancelled=stopped, unless=held)


def _denied_by_copula(tokens: tuple[Token, ...], first: int, last: int) -> bool:
    """The words end in "…じゃない" / "…ではない" (大丈夫じゃない): what they say is denied. A verb's
    own negation (返信してない) is a fact stated, not a denial of the words."""
    return last + 1 < len(tokens) and tokens[last + 1].lemma == "だ" and is_negated(tokens, first, last)


def _another_word(tokens: tuple[Token, ...], span: tuple[int, int], lemma: str) -> bool:
    """The words read like the keyword are, by the dictionary, other words written with kanji."""
    first = tokens[span[0]]
    if first.lemma == lemma:
        return False
    if span[0] != span[1] and not _has_kanji(first.surface):
        return False
    return _has_kanji(first.lemma)


def _group_spans(group: tuple[tuple[int, int], ...], hits, tokens) -> list[tuple[int, int]]:
    """Token spans where every part of a group occurs, in order, in one sentence."""
    first_hits = hits[group[0][0]]
    if len(group) == 1:
        return sorted(first_hits)
    out = []
    rest = group[1:]
    for first, last in sorted(first_hits):
        end = last
        sentence = tokens[first].sentence
        for part_id, gap in rest:
            # the nearest end of the next part, after this one, a few words on, in the sentence
            best = -1
            for a, b in hits[part_id]:
                if end < a <= end + gap + 1 and (best < 0 or b < best) and tokens[a].sentence == sentence:
                    best = b
            if best < 0:
                break
            end = best
        else:
            out.append((first, end))
    return out


def _one_edit(word: str) -> set[str]:
    """Every spelling one letter away: missing, added, changed, or two swapped (Norvig)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    return {w for w in out if len(w) >= MIN_FUZZY_LETTERS - 1}


def _bucket(entries: list[tuple]) -> tuple[tuple[int, ...], tuple[tuple[int, str, bool], ...]] | None:
    """Parts a hit counts for as they are (``plain``), and those with a check on the words found."""
    if not entries:
        return None
    return (tuple(part_id for part_id, _, _, _, lemma, whole in entries if not lemma and not whole),
            tuple((part_id, lemma, whole) for part_id, _, _, _, lemma, whole in entries if lemma or whole))


def _automaton(layer: str, table: dict[str, list[tuple]]):
    """One layer's automaton. Each key carries its length and, for each of the four ways a hit
    can stand (starting on a word boundary or not, ending on one or not), the parts it may count
    for there: what does not depend on the message (boundaries a part needs, the shortest
    reading it accepts) is settled here, once, not at every hit."""
    import ahocorasick

    reading = layer in _READING_LAYERS
    automaton = ahocorasick.Automaton()
    for key, entries in table.items():
        if reading:
            entries = [e for e in entries if len(key) >= e[3]]
            if not entries:
                continue
        if len(entries) == 1:   # the usual case: one part
            part_id, needs_start, needs_end, _, lemma, whole = entries[0]
            bucket = ((), ((part_id, lemma, whole),)) if lemma or whole else ((part_id,), ())
            buckets = (None if needs_start or needs_end else bucket, None if needs_start else bucket,
                       None if needs_end else bucket, bucket)
        elif all(e[1] and e[2] for e in entries):   # whole words only
            buckets = (None, None, None, _bucket(entries))
        else:
            buckets = tuple(_bucket([e for e in entries if (at_start or not e[1]) and (at_end or not e[2])])
                            for at_start in (False, True) for at_end in (False, True))
        automaton.add_word(key, (len(key), buckets))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


# ---- intents -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IntentSpec:
    """An intent as the locale files give it, merged over every locale."""

    keywords: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    idioms: tuple[str, ...] = ()
    negation: bool = True
    quoted: bool = True   # False: words inside 「」 or "" (what someone else said) do not count
    unless: tuple[str, ...] = ()  # words that, in the same sentence, cancel the intent (来週, "lmao")
    # words in whose presence the understanding model alone may not raise this intent's
    # interrupt (風邪 for medicine taken: the keywords still can)
    model_unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntentMatcher:
    """One intent: its name and its example phrases. Keywords live in the shared ``KeywordIndex``."""

    name: str
    phrases: tuple[str, ...] = ()

    def matches(self, scan: Scan, spaced: str) -> bool:
        if self.name in scan.intents:
            return True
        if not self.phrases or len(spaced) > self._longest:
            return False  # a phrase is a whole short message: a longer one cannot be close to it
        # the first phrase at least PHRASE_THRESHOLD close, found by rapidfuzz in one call
        return process.extractOne(spaced, self.phrases, scorer=fuzz.ratio, score_cutoff=PHRASE_THRESHOLD) is not None

    @cached_property
    def _longest(self) -> int:
        # fuzz.ratio >= 88 needs lengths within about a quarter of each other.
        return max((len(p) for p in self.phrases), default=0) * 5 // 4 + 1


def compile_intent(name: str, phrases) -> IntentMatcher:
    from .normalise import normalise

    return IntentMatcher(name, tuple(normalise(p) for p in phrases if str(p).strip()))
