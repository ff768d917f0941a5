"""Negation on tokens: is a keyword the person wrote negated (死にたく-ない, "not" suicidal)?

Japanese negates after the word, English before it; a few words may stand between (て, は, とか,
つもり; "really", "going to"). "Must" is not "not": 切らないと落ち着かない.
"""
from __future__ import annotations

from .tokens import EN, JA, Token

# Negation: Japanese negates after the word (死な-ない, 死ぬつもりは-ありません), English before it.
_NEGATORS_JA = frozenset({"ない", "無い", "ず", "へん", "ひん"})
# What may stand between a word and the negation that still negates it (て, は, たい, わけ, じゃ,
# つもり ...). しか (死ぬしかない: "nothing but to die") and だけ are not among them.
_BRIDGE_JA = frozenset({
    "て", "で", "は", "も", "たい", "だ", "です", "ます", "訳", "積もり", "気", "事", "こと", "はず", "筈",
    "なんか", "なんて", "とか", "と", "思う", "考える", "為る", "する", "居る", "いる", "てる", "有る",
    "ある", "たり", "ちゃう", "れる", "られる", "せる", "させる", "そう", "よう", "か", "の", "ん",
    "まで", "ほど",   # 死にたいとまでは思ってない, 死にたいってほどではない
})
_NEGATORS_EN = frozenset({"not", "never", "no", "nobody", "nothing", "neither", "nor"})
_BRIDGE_EN = frozenset({
    "i", "am", "is", "are", "be", "was", "were", "been", "being", "really", "even", "ever", "going", "to",
    "want", "feel", "feeling", "that", "so", "too", "do", "does", "did", "will", "would", "could", "can",
    "should", "have", "has", "had", "planning", "plan", "trying", "try", "thinking", "think", "about",
    "of", "all", "actually", "totally", "honestly", "just", "seriously", "at", "like", "gon", "na",
    "in", "a", "an", "any",   # "not in a suicidal way"
    "for",                    # "not for suicide, just for this photo problem"
    "mean", "meant",          # "i dont mean like hurting myself"
    # the wish or thought told in the past: "i never wanted to die", "never felt like dying"
    "wanted", "wants", "felt", "thought",
    "saying", "say", "said",  # "im not saying i want to die", "i never said i wanted to die"
})
MAX_BRIDGE = 5
# Negators that can close a clause ("no", "nothing", "nobody cares"): before "i" they are not a "not".
_ENDING_NEGATORS_EN = frozenset({"no", "nothing", "nobody"})


def is_negated(tokens: tuple[Token, ...], first: int, last: int) -> bool:
    """Is the word run tokens[first..last] negated (死にたく-ない, "not" suicidal)?"""
    if tokens[last].kind == JA:
        bridged = 0
        for i in range(last + 1, len(tokens)):
            t = tokens[i]
            if t.sentence != tokens[last].sentence:
                break
            if t.lemma in _NEGATORS_JA or t.surface in _NEGATORS_JA:
                return not (_obligation_ja(tokens, i) or _rhetorical_ja(tokens, i))
            if (t.surface == "か" and tokens[i - 1].surface == "と") or t.lemma == "たい":
                continue   # とか is one word; たい is part of the verb (死に-たい-とかは思ってない)
            if (t.lemma in _BRIDGE_JA or t.surface in _BRIDGE_JA) and bridged < MAX_BRIDGE:
                bridged += 1
                continue
            break
    if tokens[first].kind == EN:
        bridged = 0
        for k in range(first - 1, -1, -1):
            t = tokens[k]
            if t.sentence != tokens[first].sentence:
                break
            if t.surface in _NEGATORS_EN:
                # "no i want to die", "he says nothing, i want to die": a no before the person's
                # own "i" ends what came before; it does not negate their sentence.
                return not (t.surface in _ENDING_NEGATORS_EN and tokens[k + 1].surface == "i")
            if t.surface in _BRIDGE_EN and bridged < MAX_BRIDGE:
                bridged += 1
                continue
            break
    return False


# 切らないと落ち着かない, 死なないといけない: "must", not "not" (but 死なないと決めた is a promise).
_CONDITIONAL_JA = frozenset({"と", "ば", "きゃ", "ちゃ", "くちゃ", "ければ", "けりゃ"})
_PROMISE_JA = frozenset({"決める", "約束", "誓う", "思う", "言う", "考える"})


def _obligation_ja(tokens: tuple[Token, ...], negator: int) -> bool:
    after = tokens[negator + 1:negator + 3]
    if not after or after[0].surface not in _CONDITIONAL_JA:
        return False
    return not (len(after) > 1 and after[1].lemma in _PROMISE_JA)


# 死ぬしかないんじゃないかな, 死にたいんじゃない？: "isn't it (so)?", a guess that it is, not a "not".
# (死にたいんじゃないよ, with no question after it, stays a negation.)
_NOMINAL_JA = frozenset({"ん", "の"})
_COPULA_NEG_JA = frozenset({"じゃ", "では", "じゃあ"})


def _rhetorical_ja(tokens: tuple[Token, ...], negator: int) -> bool:
    if negator < 2 or tokens[negator - 1].surface not in _COPULA_NEG_JA or tokens[negator - 2].surface not in _NOMINAL_JA:
        return False
    after = tokens[negator + 1] if negator + 1 < len(tokens) else None
    return after is not None and (after.surface.startswith("か") or after.surface in ("?", "？"))
