"""Ages as young people write them, read into the bands the law text depends on.

Bands: ``u16`` (under 16: Art. 182 covers demanding images), ``16_17``, ``adult`` (18 and over),
and ``minor``: under 18, but not known whether under 16 (高1 is 15 or 16; JK, DK, 未成年).

Read anywhere in a message: "14歳", "１４才", "十四歳", "14さい", "中2", "高1", "小6", "JK", "JC",
"未成年", "大学生", "im 15", "i'm fifteen", "15yo", "15 y/o", "age 15", "year 10", "grade 9",
"a minor", "middle school". A bare number ("15", "15です") counts only where the bot asked the age.
"""
from __future__ import annotations

import re
import unicodedata

U16, A1617, ADULT, MINOR = "u16", "16_17", "adult", "minor"

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_NUMBERS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "nine": 9, "eight": 8,
}
_NUMBER = r"(\d{1,2}|[一二三四五六七八九十]{1,3}|" + "|".join(_EN_NUMBERS) + r")"

_JA_AGE = re.compile(_NUMBER + r"\s*(?:歳|才|さい|ｻｲ|サイ)")
_HATACHI = re.compile(r"二十歳|はたち|ハタチ")
# 「15sai」: 歳 typed in romaji after digits (only digits: "tensai" is 天才, not ten years)
_ROMAJI_SAI = re.compile(r"(?<![0-9a-z])(\d{1,2})\s*sai(?![a-z])")
# 「19なんだけど大丈夫？」: a message that opens with a number and なんだけど is the person's age
_OPENING_AGE = re.compile(r"^\s*(\d{1,2})\s*(?:歳|才|さい)?\s*(?:なんだけど|なんですけど|なんやけど|なんじゃけど|なんだけれど|なんすけど)")
_BIRTHDAY_AHEAD = re.compile(r"(?:今年で|年内に|来月|来週|来年|誕生日で|もうすぐ)\s*$")
# 「16(高1)」「15歳/中3」: the age first, then the school year that agrees with it
_AGE_AND_SCHOOL = re.compile(r"(?<![0-9])(\d{1,2})\s*(?:歳|才|さい)?\s*[(/、,\s]\s*(小|中|高)(?:学校|学|校)?\s*([1-6一二三四五六])(?!\d)")
# 「俺19やけど」「私16です」: a number right after I/me is the person's age (no 歳 needed), when what
# follows is a copula or a pause, not a counter (俺10万払った, 私3回送った are not ages).
_JA_SELF_AGE = re.compile(r"(?:俺|おれ|オレ|僕|ぼく|ボク|私|わたし|あたし|うち|わい|自分)\s*(?:は|も)?\s*(\d{1,2})(?!\d)"
                          r"(?=\s*(?:です|だけど|だけれど|やけど|じゃけど|けど|けん|だよ|だ|やで|や|じゃ|で|[、,。.!！?？]|\s|$))")
# 中2, 高1, and written out: 高校3年, 中学2年, 小学校6年
_SCHOOL = re.compile(r"(小|中|高)(?:学校|学|校)?\s*([1-6一二三四五六])(?!\d)")
_SCHOOL_AND_AGE = re.compile(r"(小|中|高)(?:学校|学|校)?\s*([1-6一二三四五六])(?:年生?)?\s*(?:で|の|、|,|/|\s)\s*(\d{1,2})(?!\d)")
_SCHOOL_WORDS = [
    (re.compile(r"中学|中坊|(?<![a-z])(?:jc|dc)(?![a-z])|ちゅうがく|じぇ[ーい]し[ーい]|でぃ[ーい]し[ーい]"), U16),
    (re.compile(r"小学|しょうがく"), U16),
    # 女子高生・じょしこうせい, JK/DK spelt in kana (じぇーけー, でぃーけー)
    (re.compile(r"高校|(?<![a-z])(?:jk|dk)(?![a-z])|こうこう|[女男]子高|(?:じょし|だんし)こう(?:こう)?せい|じぇ[ーい]け[ーい]|でぃ[ーい]け[ーい]"), MINOR),
    (re.compile(r"未成年|みせいねん|18歳未満|18才未満|十八歳未満"), MINOR),
    (re.compile(r"16歳未満|16才未満|十六歳未満"), U16),
    # the other person described by an adult word is not the person's age: 大学生って言ってる人,
    # 社会人の男, 相手は大人です
    (re.compile(r"(?<!相手は)(?<!相手が)(?<!相手も)(?:大学生|大学[1-4一二三四]年|大[1-4一二三四](?![0-9])|社会人|成人してる|成人です|大人です|専門学生)"
                r"(?!\s*(?:って(?:言|い|名乗)|と名乗|を名乗|の(?:人|男|女|やつ|奴|彼氏|彼女|先輩|相手|おじさん|おっさん)))"), ADULT),
]
_NOT_A_UNIT = r"(?!\s*(?:min|minute|hour|hr|sec|km|mile|meter|metre|yen|dollar|bucks|%|percent|time|pic|photo))"
_EN_AGE = [
    re.compile(r"\b(?:i\s*am|i'?m|im|age|aged|turned|turning)\s+(?:only\s+|just\s+|like\s+|about\s+|around\s+)?" + _NUMBER + r"[mf]?\b" + _NOT_A_UNIT),
    # "16m here", "17f": an age and a letter for gender, as people introduce themselves online
    re.compile(r"^\s*(1[0-9]|2[0-9])\s?[mf](?![a-z0-9])|(?<![\d.,])(1[0-9]|2[0-9])\s?[mf]\s+here\b"),
    re.compile(r"\b" + _NUMBER + r"\s*(?:yo|y/o|y\.o\.?|yrs?\s*old|yrs?|years?\s*old|year-old)(?![a-z])"),
]
_EN_SCHOOL = [
    (re.compile(r"\b(?:year|yr)\s*(\d{1,2})\b"), "uk"),
    (re.compile(r"\b(?:grade)\s*(\d{1,2})\b|\b(\d{1,2})(?:st|nd|rd|th)\s+grade\b"), "us"),
    # "im in 8th", "in 9th rn": a grade without the word
    (re.compile(r"\b(?:i\s*am|i'?m|im)\s+in\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s*(?:floor|place|period|row))"), "us"),
]
_EN_WORDS = [
    (re.compile(r"\b(?:a\s+minor|(?:i\s*am|i'?m|im)\s+minor|^\s*minor\s*[.!]*\s*$|under\s*18|under\s*eighteen|underage|under\s+age)\b"), MINOR),
    (re.compile(r"\b(?:under\s*16|under\s*sixteen)\b"), U16),
    (re.compile(r"\b(?:middle\s+school|junior\s+high|jr\.?\s*high|jhs|primary\s+school|elementary\s+school)\b"), U16),
    (re.compile(r"\b(?:high\s+school|highschool)\b"), MINOR),
    # "an adult" is the person only when they say so ("im an adult", "as an adult"): "an adult from
    # my church took pictures" is someone else
    (re.compile(r"\b(?:(?:i\s*am|i'?m|im)\s+(?:\w+\s+)?an\s+adult|as\s+an\s+adult|over\s*18|in\s+college|at\s+uni"
                r"|(?:i\s*am|i'?m|im)\s+a\s+uni\s+student|university\s+student|college\s+student)\b"), ADULT),
]
# (やで, やけど, じゃ, っす: how a number is said in Kansai, Hiroshima, among friends)
_BARE = re.compile(r"^\s*" + _NUMBER + r"\s*(?:です|でs|だよ|だ|よ|です。|歳です|才です|歳|才|さい|やで|や|やねん|やよ|やけど|じゃ|じゃけ|じゃけど|っす|す|だけど|けど)?\s*[.!。！?？~〜]*\s*$")
# At the age question, a message that starts with a number: "14 but ill be 15 next week".
_LEADING_NUMBER = re.compile(r"^\s*" + _NUMBER + r"(?:\s*(?:歳|才|さい))?(?=[\s,、.!。！]|です|だけど|やけど|じゃけど|but|and)")


def band_of(age: int) -> str | None:
    if age < 6 or age > 99:
        return None
    if age < 16:
        return U16
    if age < 18:
        return A1617
    return ADULT


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text in _EN_NUMBERS:
        return _EN_NUMBERS[text]
    if all(c in _KANJI_DIGITS or c == "十" for c in text):
        if "十" not in text:
            return int("".join(str(_KANJI_DIGITS[c]) for c in text))
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0) if ones else 0)
    return None


def _school_year(kind: str, year: int) -> str | None:
    # The youngest and oldest a pupil of that year can be, in Japan's school years.
    ages = {"小": (6 + year - 1, 6 + year), "中": (12 + year - 1, 12 + year), "高": (15 + year - 1, 15 + year)}[kind]
    return _band_of_range(*ages)


def _band_of_range(youngest: int, oldest: int) -> str | None:
    a, b = band_of(youngest), band_of(oldest)
    if a == b:
        return a
    if {a, b} <= {U16, A1617}:
        return MINOR
    return A1617 if {a, b} == {A1617, ADULT} else None


# Numbers read in kana (じゅうご, ｼﾞｭｳﾛｸ) and school years in kana (ちゅうに, こう1).
_KANA_ONES = {"いち": 1, "に": 2, "さん": 3, "よん": 4, "し": 4, "ご": 5, "ろく": 6, "なな": 7, "しち": 7, "はち": 8,
              "きゅう": 9, "く": 9}
_KANA_NUMBER = re.compile("(?:(に|さん)?(じゅう))?(きゅう|いち|さん|よん|ろく|なな|しち|はち|に|し|ご|く)?"
                          "(?=さい|歳|才|です|$|[!！。.、 ])")
_KANA_SCHOOL = re.compile("(ちゅう|ちゅー|こう|こー|しょう|しょー)(いち|に|さん|よん|ご|ろく|[1-6])")
_UNDER = [
    (re.compile(r"(?:18|十八)(?:歳|才|さい)?未満|(?:18|十八)(?:歳|才)?(?:より下|以下じゃない)|not\s*18\s*yet|under\s*18|under\s*eighteen"), MINOR),
    (re.compile(r"(?:16|十六)(?:歳|才|さい)?未満|(?:16|十六)(?:歳|才)?より下|under\s*16|under\s*sixteen"), U16),
]
_TURNING = re.compile(r"\b(?:turning|turn|will\s+be|ll\s+be|going\s+to\s+be|almost|nearly)\s+" + _NUMBER + r"\b(?!\s*(?:min|hour))")
# "来月16になる" (15 now), "今年で15" (14 or 15 now), "16になったばっか", "16なりたて" (16 now)
_JA_TURNING = re.compile(r"(来月|来週|明日|あした|もうすぐ|今度|次の誕生日で|誕生日で|今年で|今年|年内に)\s*" + _NUMBER
                         + r"\s*(?:歳|才|さい)?\s*(?:に\s*)?(?:なる|なります|だ|です|$)")
_JA_TURNED = re.compile(r"(?<![0-9])" + _NUMBER + r"\s*(?:歳|才|さい)?\s*(?:に\s*)?(?:なった|なりたて|なったばっか|なりました)")
_JK_YEAR = re.compile(r"(?<![a-z])(jk|dk|jc|dc)\s*([1-3])(?![0-9])")
_FILLER = re.compile(r"^(?:えっと|えーと|あの|あのー|うーん|うん|えー|えっ|um+|uh+|well|so|like|hmm+)[、,.\s]*")
_HS_YEAR = [
    (re.compile(r"\bfreshman\b(?!.*(?:college|uni))"), U16),
    (re.compile(r"\bsophomore\b(?!.*(?:college|uni))"), MINOR),
    (re.compile(r"\bjunior\s+(?:in|at)\s+(?:hs|high\s*school)"), A1617),
    (re.compile(r"\bsenior\s+(?:in|at)\s+(?:hs|high\s*school)"), A1617),
    (re.compile(r"first\s+year\s+(?:of|in|at)\s+(?:high\s*school|hs)"), MINOR),
    (re.compile(r"(?:second|2nd|third|3rd)\s+year\s+(?:of|in|at)\s+(?:high\s*school|hs)"), A1617),
    (re.compile(r"(?:first|1st|second|2nd|third|3rd)\s+(?:year|yr)\s+(?:(?:of|in|at)\s+)?(?:junior\s+high|jr\.?\s*high|middle\s+school)"), U16),
]


def _kana_to_digits(t: str) -> str:
    """じゅうご -> 15, にじゅう -> 20, ちゅうに -> 中2: enough for ages, nothing more."""
    t = t.translate({c: c - 0x60 for c in range(0x30A1, 0x30F7)})  # katakana -> hiragana
    t = _KANA_SCHOOL.sub(lambda m: {"ちゅう": "中", "こう": "高", "しょう": "小"}[m.group(1).replace("ー", "う")] + _kana_digit(m.group(2)), t)

    def number(m: re.Match) -> str:
        tens_digit, ten, ones = m.groups()
        if not ten or not m.group():
            return m.group()  # a lone に or し is a particle, not a number
        value = ({"に": 2, "さん": 3}.get(tens_digit, 1)) * 10 + (_KANA_ONES[ones] if ones else 0)
        return str(value)
    return _KANA_NUMBER.sub(number, t)


def _kana_digit(kana: str) -> str:
    return {"いち": "1", "に": "2", "さん": "3", "よん": "4", "ご": "5", "ろく": "6"}.get(kana, kana)


# Something an age could be written with: a digit, a number word, a school word. Most messages
# have none, and the dozen patterns below are then not tried at all.
_MAYBE_AGE = re.compile(
    r"[0-9０-９一二三四五六七八九十]|じゅう|ジュウ|ｼﾞｭｳ|ちゅう|ちゅー|こう|こー|しょう|しょー|ｺｳ|はたち|ハタチ|未成年|みせいねん|大学|大人|社会人|成人|専門"
    r"|高校|中坊|子高|じぇ|でぃ"
    r"|[中高小]学|(?i:jk|jc|dk|dc|teen|minor|adult|under|over|college|uni|school|freshman|sophomore|junior|senior"
    r"|turning|year|grade|chu|kou|shou|jhs|\d|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)")


# "ninth grade": the grade in words
_ORDINALS = {"fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11,
             "twelfth": 12}
_ORDINAL_GRADE = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\s+grade\b")


# School years typed in romaji: "chuu 3", "chu3", "koukou 2nen", "kou1".
_ROMAJI_SCHOOL = re.compile(r"(?<![a-z])(chuu?|kou(?:kou)?|shou)\s*([1-6])(?![0-9])")
# "(16)" after a school word: "koukou 2nen (16)", "high school (17)".
_AGE_IN_BRACKETS = re.compile(r"\((\d{1,2})\)")


def _band_of_match(m: re.Match | None, shift: int = 0) -> str | None:
    """The band of the age a pattern caught in its first group (plus ``shift``: "turning 16" is 15)."""
    n = _number(m.group(1)) if m else None
    return band_of(n + shift) if n is not None else None


def find_age_band(text: str, asked: bool = False) -> str | None:
    """The age band ``text`` states, or None. ``asked``: the bot just asked the age, so a bare
    number ("15", "15です", "えっと、14です", "14 but ill be 15 next week") is an age too."""
    # keycap digits ("1️⃣7️⃣") are digits
    t = unicodedata.normalize("NFKC", text[:500].replace("\ufe0f", "").replace("\u20e3", "")).lower()
    if not _MAYBE_AGE.search(t):
        return None
    if any("\u3041" <= c <= "\u30ff" for c in t):
        t = _kana_to_digits(t)
    if "grade" in t:
        t = _ORDINAL_GRADE.sub(lambda m: f"{_ORDINALS[m.group(1)]}th grade", t)
    for pattern, band in _UNDER:
        if pattern.search(t):
            return band
    m = _AGE_IN_BRACKETS.search(t)
    if m and (asked or any(p.search(t) for p, _ in _SCHOOL_WORDS) or _ROMAJI_SCHOOL.search(t)):
        n = _number(m.group(1))
        if n is not None and band_of(n):
            return band_of(n)
    m = _ROMAJI_SCHOOL.search(t)
    if m:
        return _school_year({"chu": "中", "chuu": "中", "kou": "高", "koukou": "高", "shou": "小"}[m.group(1)],
                            int(m.group(2)))
    m = _JK_YEAR.search(t)
    if m:
        kind = "高" if m.group(1) in ("jk", "dk") else "中"
        return _school_year(kind, int(m.group(2)))
    m = _JA_TURNING.search(t)
    if m:
        n = _number(m.group(2))
        if n is not None and band_of(n - 1):
            # "今年で15": 14 before the birthday, 15 after; "来月16": 15 now
            if m.group(1) not in ("今年で", "今年", "年内に"):
                return band_of(n - 1)
            # 「今年で16になる中3」: a school year said too keeps the ages both allow (15)
            school = _SCHOOL.search(t)
            if school and _number(school.group(2)) is not None and school.group(1) in "中高":
                first = {"中": 12, "高": 15}[school.group(1)] + _number(school.group(2)) - 1
                both = [a for a in (n - 1, n) if first <= a <= first + 1]
                if both:
                    return _band_of_range(both[0], both[-1])
            return _band_of_range(n - 1, n)
    band = _band_of_match(_JA_TURNED.search(t)) or _band_of_match(_TURNING.search(t), -1)
    if band:
        return band
    if asked:
        stripped = _FILLER.sub("", t.strip())
        m = _BARE.match(stripped) or _LEADING_NUMBER.match(stripped)
        if m:
            n = _number(m.group(1))
            if n is not None:
                return band_of(n)
    m = _JA_AGE.search(t)
    if m:
        n = _number(m.group(1))
        if n is not None:
            return band_of(n)
    band = _band_of_match(_ROMAJI_SAI.search(t) or _OPENING_AGE.search(t))
    if band:
        return band
    if _HATACHI.search(t):
        return ADULT
    band = _band_of_match(_JA_SELF_AGE.search(t))
    if band:
        return band
    # (「今年で16、高1」: a birthday still to come leaves the school year to decide)
    m = _AGE_AND_SCHOOL.search(t)
    if m and not _BIRTHDAY_AHEAD.search(t[:m.start(1)]):
        n, year = _number(m.group(1)), _number(m.group(3))
        if year is not None and n is not None:
            first = {"小": 6, "中": 12, "高": 15}[m.group(2)] + year - 1
            if first <= n <= first + 1:
                return band_of(n)
    m = _SCHOOL_AND_AGE.search(t)
    if m:
        # 高3で18, 中3の15: the age said after the school year decides (高3 alone is 17 or 18)
        year, n = _number(m.group(2)), _number(m.group(3))
        if year is not None and n is not None:
            first = {"小": 6, "中": 12, "高": 15}[m.group(1)] + year - 1
            if first <= n <= first + 1:
                return band_of(n)
    m = _SCHOOL.search(t)
    if m:
        year = _number(m.group(2))
        if year is not None and (m.group(1) == "小" or year <= 3):
            return _school_year(m.group(1), year)
    for pattern, band in _SCHOOL_WORDS:
        if pattern.search(t):
            return band
    for pattern in _EN_AGE:
        m = pattern.search(t)
        if m:
            n = _number(next(g for g in m.groups() if g))
            if n is not None and band_of(n):
                return band_of(n)
    for pattern, system in _EN_SCHOOL:
        m = pattern.search(t)
        if m:
            year = int(next(g for g in m.groups() if g))
            # UK "year 10" pupils are 14-15; US "grade 9" pupils are 14-15.
            youngest = year + 4 if system == "uk" else year + 5
            if 1 <= year <= 13:
                return _band_of_range(youngest, youngest + 1)
    for pattern, band in _HS_YEAR + _EN_WORDS:
        if pattern.search(t):
            return band
    return None
