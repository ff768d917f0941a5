"""Text measured and cut as the platforms count it, for every adapter.

LINE counts text in UTF-16 code units (an emoji outside the BMP is two); Discord's 2,000
characters are counted the same way here, the safer count. Nothing is ever cut inside a
surrogate pair: the helpers walk code points.
"""
from __future__ import annotations

ELLIPSIS = "…"
# Where a long text is split, best first: a line break, the end of a Japanese sentence (kept
# with the piece before it), a space.
_BREAKS = (("\n",), ("。",), (" ", "　"))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units."""
    if text.isascii():
        return len(text)
    # surrogatepass: a lone surrogate counts as the one unit it is, instead of raising
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def clip(text: str, units: int) -> str:
    """``text`` shortened to at most ``units`` UTF-16 units, ending with "…" when cut."""
    if utf16_len(text) <= units:
        return text
    out, used = [], 0
    for ch in text:
        if used + _units(ch) > units - 1:
            break
        out.append(ch)
        used += _units(ch)
    return "".join(out).rstrip() + ELLIPSIS


def split_text(text: str, units: int) -> list[str]:
    """``text`` in pieces of at most ``units`` UTF-16 units, cut at a line break, else after a
    "。", else at a space, when one stands in the second half of a piece; else at the limit.
    A line break or space cut at is dropped, with those around the cut; blank text gives no
    piece."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > units:
        end, used = 0, 0  # the longest prefix within the limit
        for i, ch in enumerate(rest):
            used += _units(ch)
            if used > units:
                break
            end = i + 1
        head = rest[:end]
        cut = end
        for marks in _BREAKS:
            at = max(head.rfind(m) for m in marks)
            if at > end // 2:
                cut = at + 1 if marks == ("。",) else at
                break
        piece, rest = rest[:cut].rstrip("\n "), rest[cut:].lstrip("\n 　")
        if piece:
            pieces.append(piece)
    if rest.strip():
        pieces.append(rest)
    return pieces
