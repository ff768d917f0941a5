"""Phone numbers written in a text: what ``bot check`` refuses (F116) and the content tests read.

A number belongs in ``flows/resources.yaml``, with its source and the day it was verified; a
text names it as ``{yorisoi.tel}``. A number typed into a text is never updated when the service
changes it, and a wrong number given to a young person in crisis is worse than none.

Found: "#9110", "0120-0-78310", "0120078310", "0570-079714", and three-digit service numbers
("110", "189") standing alone, i.e. not part of a longer number, a time, a date or an amount.
"""
from __future__ import annotations

import re

_HASH = re.compile(r"#\d{3,5}(?!\d)")
_HYPHENATED = re.compile(r"(?<![\d.\-])0\d{1,4}[-‐－]\d{1,4}[-‐－]\d{1,5}(?![\d\-])")
# Navi dial and free dial numbers written with one hyphen: "0570-079714".
_ONE_HYPHEN = re.compile(r"(?<![\d.\-])0(?:120|570|800)[-‐－]\d{6}(?![\d\-])")
_PLAIN = re.compile(r"(?<![\d.\-])0(?:120|570|800|\d0)\d{6,7}(?![\d])")
_SHORT = re.compile(r"(?<![\d#:.,/\-¥$])1\d\d(?!\d|[:.,/\-]\d)")
PATTERNS = (_HASH, _HYPHENATED, _ONE_HYPHEN, _PLAIN)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def digits(number: str) -> str:
    """A number as digits (and #) only: "0120-279-338" -> "0120279338"."""
    return re.sub(r"[^\d#]", "", number)


def phone_numbers(text: str, short: bool = True) -> list[str]:
    """The phone numbers in ``text`` as written, in order (``short``: also 110, 189...).
    Placeholders (``{police110.tel}``) are references, not numbers written here."""
    text = _PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), text)
    found: dict[int, str] = {}
    for pattern in PATTERNS + ((_SHORT,) if short else ()):
        for m in pattern.finditer(text):
            if not any(start <= m.start() < start + len(seen) for start, seen in found.items()):
                found[m.start()] = m.group(0)
    return [found[k] for k in sorted(found)]
