"""Which language a message is in, offline, from its characters and its most common words.

Used for two things: a first message in English gets the English conversation, and a message in
a language the bot does not speak (Chinese, Korean, Vietnamese, Portuguese, Tagalog, Russian, ...)
gets one short answer in Japanese and English instead of "I did not understand".
"""
from __future__ import annotations

import re
import unicodedata

# Scripts that say the language by themselves.
_SCRIPTS = [
    ("ko", re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("ru", re.compile("[\u0400-\u04ff]")),
    ("th", re.compile("[\u0e00-\u0e7f]")),
    ("ar", re.compile("[\u0600-\u06ff]")),
    ("hi", re.compile("[\u0900-\u097f]")),
    ("he", re.compile("[\u0590-\u05ff]")),
    ("el", re.compile("[\u0370-\u03ff]")),
    ("my", re.compile("[\u1000-\u109f]")),
    ("km", re.compile("[\u1780-\u17ff]")),
]
# Any of those scripts at all: most messages have none, and then the patterns are not tried one by one.
_ANY_SCRIPT = re.compile("[" + "".join(pattern.pattern.strip("[]") for _, pattern in _SCRIPTS) + "]")
_KANA = re.compile("[\u3041-\u30ff\uff66-\uff9f]")
_HAN = re.compile("[\u4e00-\u9fff]")
# Characters of simplified or traditional Chinese that Japanese does not use, and Chinese
# function words that Japanese text (which has kana) would not run together.
_CHINESE_ONLY = re.compile("[们这么吗呢吧说话谁对时会让给还没发张过钱请帮问题们們這麼嗎說話誰對時會讓給還沒發張過錢請幫問題]")
_CHINESE_WORDS = re.compile("我|你|他|她|的|了|是|不|在|有|要|照片|威胁|威脅|怎么|怎麼")
# Vietnamese letters with the horn, breve or stroke, and its tone marks on vowels.
_VIETNAMESE = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")

# The commonest short words of Latin-script languages (none of them English words).
_WORDS = {
    "pt": {"eu", "você", "voce", "não", "nao", "estou", "está", "esta", "meu", "minha", "uma", "com", "para",
           "por", "favor", "ajuda", "fotos", "foto", "ele", "ela", "mim", "isso", "também", "tenho", "quer",
           "ameaçando", "dinheiro", "socorro", "obrigado", "obrigada", "vai", "muito"},
    "es": {"yo", "estoy", "está", "mi", "mis", "una", "por", "favor", "ayuda", "ayúdame", "fotos", "foto",
           "él", "ella", "quiero", "tengo", "dinero", "amenaza", "amenazando", "gracias", "muy", "pero", "qué",
           "porque", "también", "hola", "necesito", "ahora"},
    "tl": {"ako", "ang", "ng", "mga", "po", "ko", "hindi", "naman", "sa", "siya", "niya", "akin", "ikaw",
           "ka", "ba", "na", "kasi", "litrato", "pera", "tulong", "salamat", "kung", "lang", "yung", "ano"},
    "id": {"saya", "aku", "tidak", "yang", "dan", "tolong", "foto", "dia", "uang", "mau", "akan", "ini",
           "itu", "sudah", "belum", "bisa", "karena", "terima", "kasih", "ancam", "diancam", "gak", "nggak"},
    "vi": {"tôi", "toi", "không", "khong", "bị", "và", "của", "anh", "em", "ảnh", "tiền", "giúp", "với"},
    "fr": {"je", "suis", "mon", "ma", "mes", "une", "avec", "pour", "aide", "photos", "il", "elle", "moi",
           "veux", "argent", "merci", "très", "mais", "menace", "parce"},
    "de": {"ich", "bin", "mein", "meine", "nicht", "und", "eine", "mit", "hilfe", "bilder", "er", "sie",
           "mich", "geld", "danke", "bitte", "aber", "weil", "droht"},
}
_ENGLISH = {"i", "im", "me", "my", "you", "he", "she", "it", "is", "am", "are", "the", "a", "and", "to", "of",
            "in", "not", "dont", "want", "pics", "help", "please", "him", "her", "what", "do", "send", "ok",
            "scared", "sent", "photo", "photos", "money", "threat", "threatening", "with", "for", "this", "that"}
_THREE_ASCII_LETTERS = re.compile("[a-zA-Z][^a-zA-Z]*[a-zA-Z][^a-zA-Z]*[a-zA-Z]")
_LATIN_WORD = re.compile(r"[a-zà-ÿăâđêôơư\u1ea0-\u1ef9']+")


def detect_language(text: str) -> str | None:
    """ISO code of the language ``text`` is written in when it is one the bot must recognise:
    "ja" or "en", another code (zh, ko, vi, pt, tl, ru, ...), or None when it cannot tell."""
    t = unicodedata.normalize("NFC", text[:1000]).lower()
    if _ANY_SCRIPT.search(t):
        for code, pattern in _SCRIPTS:
            if len(pattern.findall(t)) >= 2:
                return code
    if _KANA.search(t):
        return "ja"
    han = len(_HAN.findall(t))
    if han >= 2 and (_CHINESE_ONLY.search(t) or len(_CHINESE_WORDS.findall(t)) >= 2):
        return "zh"
    if han:
        return "ja"
    if _VIETNAMESE.search(t):
        return "vi"
    words = _LATIN_WORD.findall(t)
    if not words:
        return None
    english = sum(map(_ENGLISH.__contains__, words))
    best, score = None, 0
    for code, vocabulary in _WORDS.items():
        hits = sum(map(vocabulary.__contains__, words))
        if hits > score:
            best, score = code, hits
    if best and score >= 2 and score > english:
        return best
    return "en" if _THREE_ASCII_LETTERS.search(t) else None


def is_unsupported(text: str, locales: tuple[str, ...]) -> str | None:
    """The language's code when ``text`` is clearly in a language not among ``locales``."""
    code = detect_language(text)
    return code if code and code not in locales else None
