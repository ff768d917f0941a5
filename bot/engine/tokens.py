"""Words, not characters: a message becomes tokens before any keyword is looked for.

Japanese runs go through SudachiPy (split mode C, so 目薬 and 薬局 stay one word and 薬 is not
found inside them); English words are split on letters, contractions are spelled out ("cant" and
"can't" both give "can not") and lemmatised (simplemma: "killed" -> "kill"); each emoji is a token
of its own; digits are tokens. Keywords are tokenised the same way when flows load.

Every token carries four spellings, each folded (width, case, katakana to hiragana):
- ``surface``: as written;
- ``lemma``: its dictionary form (死な, 死に, しに -> 死ぬ; "died" -> "die");
- ``reading``: how it is read (薬 -> くすり, so くすり meets 薬);
- ``lemma_reading``: how its dictionary form is read (飲んだ and のんだ both give のむ).

Both dictionaries load once per process, on first use.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from typing import NamedTuple
from functools import lru_cache


# ---- folding before tokenising ------------------------------------------------------------------

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ASCII_LETTER = re.compile("[a-z]")
# Three or more of the same character (but digits) are one: "しにたいいいい", "soooo", "!!!!".
_LONG_REPEATS = re.compile(r"([^\d])\1{2,}", re.DOTALL)
_WAVES = re.compile("[〜~～]+")
# A long-vowel mark at the end of hiragana is a drawn-out sound ("たすけてー"), not part of a
# word; inside a word it stays ("うーん" is not "うん").
_HIRAGANA_ELONGATION = re.compile("(?<=[\u3041-\u309f])ー+(?![\u3041-\u309f])")
_DASH_RUNS = re.compile("ー{2,}")

# Script classes. Japanese: kana, kanji, iteration marks, the long-vowel mark.
_JA = "\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ"
_EMOJI = ("\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\u2190-\u21FF"
          "\u3297\u3299\u00a9\u00ae\u203c\u2049\u2122\u2139")
_SEGMENT = re.compile(
    rf"(?P<ja>[{_JA}]+)"
    r"|(?P<en>[a-z]+(?:'[a-z]+)*)"
    r"|(?P<num>\d+(?:[.,]\d+)?)"
    rf"|(?P<emoji>[{_EMOJI}])"
    r"|(?P<stop>[.!?。！？\n]+)"
    r"|(?P<comma>[、,，;；:：]+)"
    r'|(?P<open>[「『“])|(?P<close>[」』”])|(?P<toggle>")'
    r"|(?P<other>[^\W\d_]+)"   # letters of other scripts (한국어, русский): one word each
)


def fold(text: str) -> str:
    """NFKC (full and half width), no invisible or control characters, lower case, long repeats
    squeezed, letters spaced out joined ("s u i c i d e"), digits used as letters read as letters
    ("su1c1d3", "d!e"). Katakana stays katakana: the tokeniser reads loanwords better that way."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")
    text = _LONG_REPEATS.sub(r"\1", text)
    if not text.isascii():
        text = _WAVES.sub("", text)
        text = _DASH_RUNS.sub("ー", text)
        text = _HIRAGANA_ELONGATION.sub("", text)
        text = _SMALL_VOWEL.sub(lambda m: _FULL_VOWEL[m.group()], text)
        if "氏" in text or "ﾀﾋ" in text or "タヒ" in text or "たひ" in text:
            text = _SHI_FOR_DEATH.sub("死", text)
        if "4" in text:
            text = _FOUR_FOR_SHI.sub("し", text)
    if len(text) <= 80:  # the same few characters again and again is a short cry, not a story
        text = _REPEATED_CHUNK.sub(lambda m: m.group(1) or m.group(2), text)
    if not _ASCII_LETTER.search(text):
        return text
    text = _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", "").replace(".", ""), text)
    text = _LEET_TABLE.sub(lambda m: _LEET_WORDS[m.group()], text)
    text = _ILL_BE.sub("i will be", text)
    text = _DIGIT_WORD.sub(lambda m: "to" if m.group(1) == "2" else "for", text)
    return _LEET_WORD.sub(_unleet, text)


# A small vowel in hiragana after a kana it does not combine with is a style of writing
# ("きえたぃ", "つらぃ"): read it full size. ふぁ, てぃ, でゅ, うぇ ... keep theirs.
_SMALL_VOWEL = re.compile("(?<=[\u3041-\u3096])(?<![ふてでうゔしちじつくぐすずとど])[ぁぃぅぇぉ]")
_FULL_VOWEL = {"ぁ": "あ", "ぃ": "い", "ぅ": "う", "ぇ": "え", "ぉ": "お"}

# The same two to six characters three times or more ("しぬしぬしぬ"), or a run of three to six
# twice ("しにたいしにたい"): the tokeniser cuts such runs in the wrong places.
_REPEATED_CHUNK = re.compile(r"([^\d\s]{2,6}?)\1{2,}|([^\x00-\x7f]{3,6}?)\2+")
# Net spellings of 死 (death): タヒ (the kanji split in two), 氏 (same reading), 4 (し).
_SHI_FOR_DEATH = re.compile(r"(?:タヒ|たひ|ﾀﾋ)(?![ちチ])|(?<![\u4e00-\u9fff])氏(?=[にぬねのなんう])")
_FOUR_FOR_SHI = re.compile(r"(?<![\d.,])4(?=[にぬねの])")
# "s u i c i d e", "k.m.s": four or more single letters with spaces or dots between them.
_SPACED_LETTERS = re.compile(r"(?<![a-z])(?:[a-z][ .]){3,}[a-z](?![a-z])")
# A word of letters with digits or !@$ standing for letters inside or at its end: "d1e", "su1c1d3".
_LEET_WORD = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9!@$]*[0-9!@$][a-z0-9!@$]*(?![a-z0-9])")
_LEET = str.maketrans({"1": "i", "!": "i", "3": "e", "0": "o", "4": "a", "@": "a", "$": "s", "5": "s", "7": "t"})
_LEET_WORDS = {"4ever": "forever", "b4": "before", "2day": "today", "2nite": "tonight", "gr8": "great",
               "l8r": "later", "2morrow": "tomorrow", "w8": "wait", "m8": "mate", "h8": "hate", "ne1": "anyone"}

_ILL_BE = re.compile(r"(?<![a-z])ill be(?![a-z])")
# "i want 2 die", "sorry 4 everything": a digit standing for a word between two words.
_DIGIT_WORD = re.compile(r"(?<=[a-z] )([24])(?= [a-z])")
_LEET_TABLE = re.compile(r"(?<![a-z0-9])(?:" + "|".join(_LEET_WORDS) + r")(?![a-z0-9])")


def _unleet(m: re.Match) -> str:
    word = m.group()
    letters = sum(c.isalpha() for c in word)
    if len(word) < 3 or (re.fullmatch(r"[a-z]+\d+", word) and letters < 3 and not word.endswith(("1", "3"))):
        return word  # "mp3", "a4": a name with a number, not a word spelled with digits
    return word.translate(_LEET)


# Katakana to hiragana (ァ..ヶ -> ぁ..ゖ), as jaconv.kata2hira does, by one table.
_KATA_TO_HIRA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}


def hira(text: str) -> str:
    return text.translate(_KATA_TO_HIRA)


# ---- tokens ----------------------------------------------------------------------------------------

JA, EN, NUM, EMOJI, PUNCT, OTHER = "ja", "en", "num", "emoji", "punct", "other"


class Token(NamedTuple):
    """One word of a message, in four spellings. A tuple: messages are read often and words are many."""

    surface: str
    lemma: str
    reading: str
    lemma_reading: str
    kind: str
    skeleton: str = ""   # English: letters, doubled ones once ("dissapear", "disappear" -> "disapear")
    pos: str = ""        # Japanese: the first two part-of-speech fields, e.g. "助動詞/*"
    form: str = ""       # Japanese: the conjugated form, e.g. "終止形-一般", "命令形"
    sentence: int = 0    # index of the sentence the token is in (split at . ! ? 。 and new lines)
    quoted: bool = False  # inside 「」『』 or "" said by someone else ("he said 'ur dead'", 「死ね」って言われた)

    @property
    def is_kana(self) -> bool:
        return self.kind == JA and all("\u3041" <= c <= "\u309f" or c == "ー" for c in self.surface)


@lru_cache(maxsize=8192)
def tokenize(text: str, romaji: bool = True) -> tuple[Token, ...]:
    """The tokens of ``text`` (at most the first 2,000 characters). Never raises. ``romaji``: a
    message in Latin letters that reads as Japanese is read as kana too (keywords are not: a
    keyword "senpai" is the English-typed word)."""
    folded = fold(text[:2000])
    out: list[Token] = []
    sentence = 0
    quoted = False
    spans: list[list[int]] = []   # [first token, end] of each quotation
    clauses = [0]                 # the token each clause (between commas and stops) starts at
    for m in _SEGMENT.finditer(folded):
        kind = m.lastgroup
        value = m.group()
        if kind == "comma":
            clauses.append(len(out))
        elif kind == "stop":
            # 「薬全部飲んだ？って母さんに聞かれた」: a question reported with って goes on in the same
            # sentence and clause, so the saying after it is seen as the end of that question.
            reported = "?" in value and folded.startswith(_REPORTING_AFTER_QUESTION, m.end())
            if not reported:
                clauses.append(len(out))
            if "?" in value:
                # A question mark is a word for the matcher ("消していい & ?"): the person asks.
                out.append(Token("?", "?", "?", "?", PUNCT, sentence=sentence))
            if not quoted and not reported:
                sentence += 1
        elif kind in ("open", "close", "toggle"):
            opening = kind == "open" or (kind == "toggle" and not quoted)
            if opening and not quoted:
                spans.append([len(out), len(out)])
            elif quoted and not opening and spans:
                spans[-1][1] = len(out)
            quoted = opening
        elif kind == "ja":
            out.extend(_japanese(value, sentence))
        elif kind == "en":
            out.extend(_english(value, sentence))
        elif kind == "num":
            out.append(Token(value, value, value, value, NUM, sentence=sentence))
        elif kind == "other":
            out.append(Token(value, value, value, value, OTHER, sentence=sentence))
        else:
            out.append(Token(value, value, value, value, EMOJI, sentence=sentence))
    if quoted and spans:
        spans[-1][1] = len(out)
    last_marked = -10
    for first, end in spans:
        # he keeps saying "youre dead" and "ur life is over": the second quote is his too
        if end > first and (_said_by_someone_else(out, first, end) or first - last_marked <= 2):
            out[first:end] = [t._replace(quoted=True) for t in out[first:end]]
            last_marked = end
    for first, end in _reported_without_quotes(out, clauses):
        out[first:end] = [t._replace(quoted=True) for t in out[first:end]]
    if romaji and out and all(t.kind != JA for t in out) and _looks_romaji(folded):
        # Japanese typed in Latin letters ("shinitai", "mou kietai"): read it as kana too.
        offset = sentence + 1
        out.extend(t._replace(sentence=t.sentence + offset) for t in tokenize(_romaji_to_kana(folded)))
    return tuple(out)


_REPORTING_AFTER_QUESTION = ("って", "と聞", "とき", "とか聞")
# Quotation of another person: 「…」って言われた / 来た / 脅された; he said / told me "…".
_SAID_TO_ME_JA = frozenset({"言う", "脅す", "来る", "送る", "書く", "言ってくる", "脅迫"})
_PASSIVE_JA = frozenset({"れる", "られる", "来る", "くる"})
_WORDS_OF_A_WORK_JA = frozenset({"役", "セリフ", "せりふ", "台詞", "歌詞", "曲", "歌", "タイトル", "題名", "ドラマ", "映画",
                                 "アニメ", "漫画", "マンガ", "小説", "ゲーム", "シーン", "場面", "ネタ", "ミーム"})
_SAID_EN = frozenset({"said", "says", "say", "told", "tell", "tells", "threatened", "threatens", "wrote", "texted",
                      "messaged", "saying", "keeps", "replied", "dmed", "joked", "jokes", "joking", "yelled"})
_OTHERS_EN = frozenset({"he", "she", "they", "him", "her", "them", "someone", "somebody", "guy", "man", "person",
                        "scammer", "account", "this", "it"})
# Who may be quoted in quotation marks (my friend joked "just kys lol"); unquoted reported speech
# keeps to _OTHERS_EN ("my friend said she wants to die" may be the friend's crisis, or theirs).
_QUOTED_OTHERS_EN = _OTHERS_EN | {"friend", "friends", "bf", "gf", "boyfriend", "girlfriend", "classmate", "mom",
                                  "dad", "everyone", "people", "senpai"}
_QUOTING_EN = _SAID_EN | {"sent", "commented", "posted", "asked", "asks", "called"}


# A title in 「」: 「夜に駆ける」って曲, 「死にたいほど…」みたいな歌詞, アニメの「…」, 「…」聴いてる.
_TITLE_LINKS_JA = frozenset({"って", "という", "っていう", "みたい", "みたいな", "の", "と", "て", "いう", "な", "は", "も",
                             "が", "を"})
_ENJOYING_A_WORK_JA = frozenset({"聴く", "観る", "読む", "歌う", "弾く", "踊る", "見る", "読み返す", "リピート"})
_MORE_WORKS_JA = frozenset({"アルバム", "あるばむ", "ボカロ", "ぼかろ", "作品", "番組", "主題歌", "挿入歌", "新曲", "名曲",
                            "ラノベ", "らのべ", "ホラゲー", "ほらげー", "mv", "本", "詩", "劇", "舞台", "絵本", "芝居"})


def _title_of_a_work_ja(tokens: list[Token], first: int, after: list[Token]) -> bool:
    """The quotation is the title of a song, a show, a book or a game, not anyone's words."""
    works = _WORDS_OF_A_WORK_JA | _MORE_WORKS_JA
    links = 0
    for k, t in enumerate(after[:4]):
        if t.lemma in works or t.surface in works:
            return True
        if t.lemma in _ENJOYING_A_WORK_JA:
            return True
        if t.surface not in _TITLE_LINKS_JA:
            # 「…」って推理小説, 「…」って少年漫画: one word describing the kind of work, then the work
            following = after[k + 1] if k + 1 < len(after) else None
            if links and t.kind == JA and following is not None and \
                    (following.lemma in works or following.surface in works):
                return True
            break
        links += 1
    before = [t for t in tokens[max(0, first - 2):first] if t.sentence == tokens[first].sentence]
    if before and before[-1].surface == "の":
        before = before[:-1]
    return bool(before) and (before[-1].lemma in works or before[-1].surface in works)
# The name of a work in quotation marks: the song "die with a smile", "kill bill" by sza.
_WORKS_EN = frozenset({"song", "songs", "track", "album", "film", "movie", "show", "anime", "manga", "game", "book",
                       "novel", "series", "drama", "episode", "play", "poem", "musical", "called", "titled", "named"})


# Seeing, hearing or playing a work: have u seen "dead poets society", listening to "kill bill".
_ENJOYING_A_WORK_EN = frozenset({"see", "watch", "rewatch", "binge", "stream", "listen", "hear", "read", "reread",
                                 "play", "replay", "sing", "hum", "finish"})
# Said of a work right after its title: "bury a friend" slaps, "jump" is a banger.
_PRAISE_OF_A_WORK_EN = frozenset({"slaps", "slap", "banger", "bop", "masterpiece"})


def _a_title_en(tokens: list[Token], first: int, end: int) -> bool:
    """Quoted words right after "song", "movie", "called" ..., right before "by <artist>", right
    after seeing, hearing, reading or playing ("have u seen", "listening to"), or praised as a
    work ("slaps", "a banger"): a title, not what the person says (a song that "goes" a line may
    still be theirs)."""
    if tokens[first].kind != EN:
        return False
    if (first > 0 and tokens[first - 1].surface in _WORKS_EN) or (end < len(tokens) and tokens[end].surface == "by"):
        return True
    before = [t for t in tokens[max(0, first - 2):first] if t.sentence == tokens[first].sentence]
    if before and before[-1].surface == "to":   # listening to "…"
        before = before[:-1]
    if before and before[-1].lemma in _ENJOYING_A_WORK_EN:
        return True
    after = [t.surface for t in tokens[end:end + 4]]
    return any(w in _PRAISE_OF_A_WORK_EN for w in after)


def _said_by_someone_else(tokens: list[Token], first: int, end: int) -> bool:
    after = tokens[end:end + 5]
    if tokens[first].kind == JA:
        lemmas = [t.lemma for t in after]
        if len(after) > 1 and after[0].surface in ("って", "という", "と") and after[1].lemma in _WORDS_OF_A_WORK_JA:
            return True   # 「殺してやる」って役, 「死にたい」って歌詞: lines of a play or a song
        if _title_of_a_work_ja(tokens, first, after):
            return True
        # って言われた, って来た, ってDM来た, と脅された (not って思った: that is the person's own)
        return any(l in _SAID_TO_ME_JA for l in lemmas) and (
            any(l in _PASSIVE_JA for l in lemmas) or "来る" in lemmas or "送る" in lemmas)
    if _a_title_en(tokens, first, end):
        return True
    before = [t.surface for t in tokens[max(0, first - 4):first]]
    for i, word in enumerate(before):
        if word in _QUOTING_EN and any(w in _QUOTED_OTHERS_EN for w in before[:i]):
            return True
    return False


# Reported speech without quotation marks: 拡散するって言われた, 人生終わりだってDM来た; "he says my
# life is over if i dont pay". The clause before って (Japanese) or after "he says" (English) is
# someone else's words. Only where the saying is clearly done to the person: 死にたいって言ったら
# (the person said it) stays theirs.
_PARTICLES_SAID_JA = frozenset({"って", "と", "とか"})
_SAYING_JA = frozenset({"言う", "脅す", "書く", "送る", "脅迫", "言い出す", "聞く", "訊く"})
_MESSAGE_JA = frozenset({"dm", "line", "ライン", "メッセ", "メッセージ", "連絡", "メール", "返信"})
_FIRST_PERSON_EN = frozenset({"i", "me", "my", "myself"})
# ... and where a saying of theirs ends ("they said ... and honestly id rather be dead"): "id"
# without the apostrophe, right after "and" or "but", is the person's own "I'd".
_FIRST_PERSON_AFTER_JOINER_EN = _FIRST_PERSON_EN | {"id"}
_CLAUSE_JOINERS_EN = frozenset({"and", "but", "so", "because", "cause", "cuz", "bc"})
# "if he tells everyone im gay i will kill myself": a saying in a condition ends at "i will ..."
_CONDITIONS_EN = frozenset({"if", "when", "once", "unless", "before"})
_MODALS_EN = frozenset({"will", "would", "shall", "might"})


def _said_to_me_ja(after: list[Token]) -> bool:
    """って/と followed by a saying done to the person: 言われた, 言ってくる, 来た, DM来た."""
    lemmas = [t.lemma for t in after]
    if lemmas[:1] == ["来る"] or (len(lemmas) > 1 and lemmas[1] == "来る" and after[0].surface in _MESSAGE_JA):
        return True
    if len(after) > 2 and after[1].surface == "に" and after[0].kind == JA and after[0].lemma not in _SAYING_JA:
        # って母さんに聞かれた, って先輩に言われた: who said it stands between
        after, lemmas = after[2:], lemmas[2:]
    for k, lemma in enumerate(lemmas[:2]):
        if lemma in _SAYING_JA:
            rest = lemmas[k + 1:k + 3]
            return bool(rest) and (rest[0] in ("れる", "られる") or (rest[0] == "て" and rest[1:] == ["来る"]))
    return False


def _said_by_them_en(tokens: list[Token], i: int) -> bool:
    """The saying at ``i`` is done by the other person: "he says", or said of them a few words
    further back with nothing the person does in between ("someone on snap is blackmailing me,
    says ..."). "they posted it and i keep saying ..." is the person's own saying."""
    if any(w.surface in _OTHERS_EN for w in tokens[max(0, i - 3):i]):
        return True
    before = [w for w in tokens[max(0, i - 6):i] if w.sentence == tokens[i].sentence]
    for k, w in enumerate(before):
        if w.surface in _OTHERS_EN and w.surface not in ("this", "it") and \
                not any(x.surface == "i" for x in before[k + 1:]):
            return True
    return False


def _reported_without_quotes(tokens: list[Token], clauses: list[int]) -> list[tuple[int, int]]:
    out = []
    for i, t in enumerate(tokens):
        if t.quoted:
            continue
        if t.kind == JA and t.surface in _PARTICLES_SAID_JA and i > 0 and _said_to_me_ja(tokens[i + 1:i + 7]):
            first = max(c for c in clauses if c <= i - 1)
            if first < i and all(x.sentence == t.sentence for x in tokens[first:i]):
                out.append((first, i))
        elif t.kind == EN and t.surface in _SAID_EN and i > 0 and _said_by_them_en(tokens, i):
            end = i + 1
            conditional = any(w.surface in _CONDITIONS_EN for w in tokens[max(0, i - 3):i])
            while end < len(tokens) and tokens[end].sentence == t.sentence and not tokens[end].quoted:
                if end > i + 1 and end in clauses:
                    break
                if conditional and end > i + 2 and _own_main_clause_en(tokens, end):
                    break
                if tokens[end].surface in _CLAUSE_JOINERS_EN and \
                        any(w.surface in _FIRST_PERSON_AFTER_JOINER_EN for w in tokens[end + 1:end + 3]):
                    break
                end += 1
            if end > i + 1:
                out.append((i + 1, end))
    return out


def _own_main_clause_en(tokens: list[Token], at: int) -> bool:
    """tokens[at:] start "i will", "i would", "i am going to", "i am gonna", or "ill" / "id" (I'll,
    I'd without the apostrophe: after "if ..." the main clause, not "ill" as in sick)."""
    words = [t.surface for t in tokens[at:at + 3]] + ["", ""]
    return (words[0] == "i" and (words[1] in _MODALS_EN or (words[1] == "am" and words[2] in ("going", "gon")))) \
        or (words[0] in ("ill", "id") and words[1] not in ("", "and", "or", "but"))


_ROMAJI_WORD = re.compile(r"[a-z]+")


# The u of su is often not written, as it is not heard: "riska" (リスカ), "des", "mas", "skoshi".
_SILENT_U = re.compile(r"(?<![a-z])s(?=[kgtdnmbprwfjcz])|(?<=[aiueo])s(?=[kgtdnmbprwfjcz])|(?<=[aiueo])s\b")


def _romaji_to_kana(text: str) -> str:
    import jaconv

    return jaconv.alphabet2kana(_SILENT_U.sub("su", text))


def _looks_romaji(text: str) -> bool:
    """Most words are not English and each reads as kana with nothing left over."""
    words = _ROMAJI_WORD.findall(text)
    if not words:
        return False
    japanese = sum(1 for word in words if _is_romaji_word(word))
    return japanese >= 1 and japanese * 2 >= len(words)


@lru_cache(maxsize=65536)
def _is_romaji_word(word: str) -> bool:
    if len(word) < 3 or not _SYLLABLES.fullmatch(_SILENT_U.sub("su", word)) or _is_english(word):
        return False  # "kms", "sewerslide": not syllables; "dare", "tai": English words
    return not re.search("[a-z]", _romaji_to_kana(word))


# Japanese syllables in Hepburn and common chat spellings: a quick check before the converter.
_SYLLABLES = re.compile(r"(?:(?:[kgsztdnhbpmyrwfjcv]|sh|ch|ts|ky|gy|ny|hy|by|py|my|ry|j)?[aiueo]|n|xtu|ltu|(?<=[kgsztdhbpmrwfjc])(?=[kgsztdhbpmrwfjc]))+")


@lru_cache(maxsize=65536)
def _is_english(word: str) -> bool:
    try:
        from simplemma import is_known

        return bool(is_known(word, lang="en"))
    except Exception:  # noqa: BLE001
        return True


# ---- Japanese ----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _dictionary():
    from sudachipy import Dictionary

    return Dictionary(dict="core")  # loaded once per process


_PER_THREAD = threading.local()


def _sudachi():
    """This thread's tokenizer. A SudachiPy tokenizer refuses to be used by two threads at once
    (and ``_japanese`` would then fall back to reading a run as one word): the console checks an
    editor's draft in a worker thread while the event loop answers people."""
    found = getattr(_PER_THREAD, "tokenizer", None)
    if found is None:
        from sudachipy import SplitMode

        found = _PER_THREAD.tokenizer = (_dictionary().tokenizer(), SplitMode.C)
    return found


_KEEP_FORM = frozenset({"たら", "だら"})
_KATAKANA_WORD = re.compile("[\u30a1-\u30faー]+")
_HAS_KANJI = re.compile("[\u3400-\u9fff]")


def _japanese(run: str, sentence: int, retry: bool = True) -> list[Token]:
    try:
        tokenizer, mode = _sudachi()
        morphemes = tokenizer.tokenize(run, mode)
    except Exception:  # noqa: BLE001 - a tokeniser failure must not stop a turn: one token then
        return [Token(hira(run), hira(run), hira(run), hira(run), JA, sentence=sentence)]
    out = []
    for m in morphemes:
        pos_id = m.part_of_speech_id()
        skip = _PUNCTUATION.get(pos_id)
        if skip is None:
            skip = _PUNCTUATION[pos_id] = m.part_of_speech()[0] in ("補助記号", "空白")
        if skip:
            continue
        surface = m.surface()
        if retry and m.is_oov() and _KATAKANA_WORD.fullmatch(surface):
            # Japanese words written in katakana for effect (シニタイ, コワイ) are unknown to the
            # dictionary as written: read them again in hiragana.
            out.extend(_japanese(hira(surface), sentence, retry=False))
            continue
        word_id = m.word_id()
        fields = _WORDS_SEEN.get((word_id, surface)) if word_id >= 0 else None
        if fields is None:
            fields = _fields_of(m, m.part_of_speech())
        out.append(_new_token(Token, (*fields, sentence, False)))
    return out


# Whether a part of speech (by its id in the dictionary) is punctuation or space: not a word.
_PUNCTUATION: dict[int, bool] = {}
_new_token = tuple.__new__   # Token(*fields, sentence=...) without the keyword handling: many per message

# A dictionary word always reads the same: its fields are kept after the first time.
_WORDS_SEEN: dict[tuple[int, str], tuple] = {}


def _fields_of(m, pos) -> tuple:
    surface = hira(m.surface())
    # The conditional たら keeps its form: 晒されたら (if it gets spread) is not 晒された.
    # A potential verb keeps its own dictionary form: 払えない (cannot pay) is not 払わない.
    dictionary, normalized = m.dictionary_form(), m.normalized_form()
    if surface in _KEEP_FORM:
        base = m.surface()
    elif dictionary != normalized and _HAS_KANJI.search(dictionary):
        base = dictionary
    else:
        base = normalized
    reading = hira(m.reading_form()) or surface
    fields = (surface, hira(base), reading, _reading_of(base) or reading, JA, "", f"{pos[0]}/{pos[1]}", pos[5])
    if m.word_id() >= 0 and len(_WORDS_SEEN) < 200_000:
        _WORDS_SEEN[(m.word_id(), m.surface())] = fields
    return fields


@lru_cache(maxsize=65536)
def _reading_of(word: str) -> str:
    """How a dictionary form is read: 飲む -> のむ. Cached: a vocabulary is small."""
    try:
        tokenizer, mode = _sudachi()
        return hira("".join(m.reading_form() for m in tokenizer.tokenize(word, mode)))
    except Exception:  # noqa: BLE001
        return ""


# ---- English -----------------------------------------------------------------------------------------

# Spelled-out forms of contractions, with and without the apostrophe, and chat spellings.
_EXPANSIONS = {
    "im": "i am", "i'm": "i am", "ive": "i have", "i've": "i have", "i'd": "i would", "i'll": "i will",
    "youre": "you are", "you're": "you are", "theyre": "they are", "they're": "they are",
    "cant": "can not", "can't": "can not", "cannot": "can not", "dont": "do not", "don't": "do not",
    "doesnt": "does not", "doesn't": "does not", "didnt": "did not", "didn't": "did not",
    "wont": "will not", "won't": "will not", "isnt": "is not", "isn't": "is not",
    "arent": "are not", "aren't": "are not", "wasnt": "was not", "wasn't": "was not",
    "werent": "were not", "weren't": "were not", "havent": "have not", "haven't": "have not",
    "hasnt": "has not", "hasn't": "has not", "wouldnt": "would not", "wouldn't": "would not",
    "shouldnt": "should not", "shouldn't": "should not", "couldnt": "could not", "couldn't": "could not",
    "aint": "am not", "ain't": "am not", "wanna": "want to", "gonna": "going to", "gotta": "got to",
    "tryna": "trying to", "hafta": "have to", "kinda": "kind of", "idk": "i do not know",
    "idc": "i do not care", "u": "you", "ur": "your", "r": "are", "ya": "you", "pls": "please",
    "plz": "please", "rn": "right now", "bc": "because", "cuz": "because", "coz": "because",
    "thx": "thanks", "ty": "thank you", "pic": "picture", "pics": "pictures", "vid": "video",
    "vids": "videos", "msg": "message", "msgs": "messages", "od'd": "overdosed", "odd'd": "overdosed",
    "wana": "want to", "wanan": "want to", "ima": "i am going to", "imma": "i am going to",
    "finna": "going to", "gunna": "going to", "abt": "about", "tbh": "to be honest", "ngl": "not going to lie",
    "fr": "for real", "tn": "tonight", "rly": "really", "rlly": "really", "prolly": "probably",
    "sum1": "someone", "some1": "someone", "ppl": "people", "yall": "you all", "cus": "because",
    "idw": "i do not want", "idwt": "i do not want to", "b": "be", "wit": "with", "tmrw": "tomorrow",
    "tmr": "tomorrow", "2moro": "tomorrow", "nvm": "never mind", "bc": "because",
    "hes": "he is", "shes": "she is",
}
# Where the lemmatiser's guess is not the verb people mean ("thinking" -> "thinke").
_LEMMA_FIXES = {"thinking": "think", "ending": "end", "oding": "od", "odding": "od", "killing": "kill",
                "cutting": "cut", "hanging": "hang", "jumping": "jump", "overdosing": "overdose"}
_SUFFIXES = {"'s": (), "'re": ("are",), "'ve": ("have",), "'ll": ("will",), "'d": ("would",), "n't": ("not",)}


@lru_cache(maxsize=65536)
def _english(word: str, sentence: int) -> tuple[Token, ...]:
    # cached: the same few thousand words come back in every message
    words = _EXPANSIONS.get(word)
    if words is not None:
        parts = words.split()
    else:
        parts = [word]
        for suffix, extra in _SUFFIXES.items():
            if word.endswith(suffix) and len(word) > len(suffix):
                parts = [word[: -len(suffix)], *extra]
                break
    return tuple(Token(p, _lemma_en(p), p, _lemma_en(p), EN, _skeleton(p), sentence=sentence) for p in parts)


_DOUBLED = re.compile(r"([a-z])\1+")


def _skeleton(word: str) -> str:
    word = word.replace("'", "")
    # Short words keep their doubled letters: "off" is not "of", "odd" is not "od"; so does a
    # word that would become another word ("meet" is not "met", "good" is not "god").
    if len(word) < 4:
        return word
    squeezed = _DOUBLED.sub(r"\1", word)
    if squeezed != word and _is_english(squeezed) and _is_english(word):
        return word
    return squeezed


@lru_cache(maxsize=65536)
def _lemma_en(word: str) -> str:
    if word in _LEMMA_FIXES:
        return _LEMMA_FIXES[word]
    try:
        from simplemma import lemmatize

        return lemmatize(word, lang="en").lower()
    except Exception:  # noqa: BLE001 - without a lemma the word still matches as written
        return word


def warm_up() -> None:
    """Load both dictionaries now (at flow load), not on the first message."""
    tokenize("死にたい i want to die")


@lru_cache(maxsize=4096)
def conjugation_type(word: str) -> str:
    """SudachiPy's conjugation type of the last word of ``word`` (五段-ラ行, 下一段-ア行, ...)."""
    try:
        tokenizer, mode = _sudachi()
        morphemes = tokenizer.tokenize(word, mode)
        return morphemes[-1].part_of_speech()[4] if len(morphemes) else ""
    except Exception:  # noqa: BLE001
        return ""
