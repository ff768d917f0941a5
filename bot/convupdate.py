"""``bot test --update``: rewrite the expectations the bot no longer meets, keeping the file as
staff wrote it (comments, order, flow style, quotes) with ruamel.yaml's round trip.

Only failing expectations change (and a step with none gets its ``state`` and ``matched``). A
value stays one value when every locale agrees, and becomes ``{ja: ..., en: ...}`` only when
they differ; a value already written per locale changes only in the failing locale. A text
piece that is gone becomes the closest piece of what the bot says now; a list keeps what still
holds and swaps what does not for the closest thing the bot did.
"""
from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.convtest import EXACT_KEYS, Report, Revision, per_locale, run_files, wanted
from bot.engine import Bundle
from bot.engine.errors import did_you_mean

# Where a text may be cut into pieces: after the end of a sentence or a line.
_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])|(?<=\. )")


def round_trip() -> YAML:
    """The YAML reader and writer that gives back an untouched file byte for byte."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def rewrite(path: Path, revisions: list[Revision]) -> None:
    yaml = round_trip()
    data = yaml.load(path.read_text(encoding="utf-8"))
    grouped: dict[tuple[int, int, str], dict[str, dict]] = {}
    for rev in revisions:
        grouped.setdefault((rev.conversation, rev.step, rev.key), {})[rev.locale] = rev.seen
    for (ci, si, key), by_locale in grouped.items():
        conv = data["conversations"][ci]
        step = conv["steps"][si]
        locales = list(conv.get("locales") or data.get("locales") or by_locale)
        if step.get("expect") is None:
            step["expect"] = _flow(CommentedMap())
        expect = step["expect"]
        raw = expect.get(key)
        new = {loc: revise(key, wanted(raw, loc), by_locale[loc]) if loc in by_locale else wanted(raw, loc)
               for loc in locales}
        merged = _merge(raw, new, list(by_locale))
        if merged is None:
            del expect[key]
        else:
            expect[key] = merged
    out = io.StringIO()
    yaml.dump(data, out)
    path.write_text(out.getvalue(), encoding="utf-8")


def revise(key: str, current: Any, seen: dict) -> Any:
    """The expectation ``key`` rewritten to hold for what the bot did (``seen``); None: drop it."""
    if key in EXACT_KEYS:
        return seen[key]
    if key == "choices":
        return list(seen["choices"])
    items = current if isinstance(current, list) else ([] if current is None else [current])
    if key == "not_said":
        kept = [k for k in items if k not in seen["said"]]
        return kept or None
    if key == "text":
        kept = [p for p in (str(i) if str(i) in "\n".join(seen["texts"]) else closest_piece(str(i), seen["texts"])
                            for i in items) if p]
    else:
        have = list(seen["choices" if key == "choices_include" else key])
        kept = []
        for item in items:
            swap = item if item in have else did_you_mean(str(item), [h for h in have if h not in items + kept])
            if swap is not None:
                kept.append(swap)
        kept = kept or have
    if not kept:
        return None
    return kept[0] if len(kept) == 1 and not isinstance(current, list) else kept


def closest_piece(piece: str, texts: list[str]) -> str | None:
    """The piece of ``texts`` most like ``piece``, about as long: a sentence, or part of one."""
    sentences = [s.strip() for t in texts for s in _SENTENCE_END.split(t) if s.strip()]
    if not sentences:
        return None
    best = max(sentences, key=lambda s: difflib.SequenceMatcher(None, piece, s).ratio())
    if len(best) <= 2 * len(piece) + 10:
        return best
    match = difflib.SequenceMatcher(None, best, piece).find_longest_match(0, len(best), 0, len(piece))
    start = max(0, match.a - match.b)
    return best[start:start + max(len(piece), match.size)].strip() or best


def _merge(raw: Any, new: dict[str, Any], changed: list[str]) -> Any:
    """One value for every locale when they agree, else one per locale; a value written per
    locale keeps its form and changes only where it failed."""
    if isinstance(raw, dict) and per_locale(raw, next(iter(new))) is not raw:
        for loc in changed:
            if new[loc] is None:
                raw.pop(loc, None)
            else:
                raw[loc] = _styled(new[loc], raw.get(loc))
        return raw or None
    values = [v for v in new.values() if v is not None]
    if not values:
        return None
    if all(v == values[0] for v in values) and len(values) == len(new):
        return _styled(values[0], raw)
    return _flow(CommentedMap((loc, _styled(v, raw)) for loc, v in new.items() if v is not None))


def _styled(value: Any, like: Any) -> Any:
    """``value`` written the way ``like`` was: a list on one line unless it was a block; a text
    in the same quotes."""
    if isinstance(value, list):
        seq = CommentedSeq(_styled(v, None) for v in value)
        if not (isinstance(like, CommentedSeq) and not like.fa.flow_style()):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and isinstance(like, str) and type(like) is not str:
        return type(like)(value)  # the same quotes as before
    return value


def _flow(mapping: CommentedMap) -> CommentedMap:
    mapping.fa.set_flow_style()
    return mapping


def update_files(bundle: Bundle, files: list[Path], lang: str = "en") -> Report:
    """Rewrite each file's failing expectations from what the bot does now (comments and layout
    kept), then run them again: the report is of the updated files, with what was revised."""
    first = run_files(bundle, files, update=True, lang=lang)
    for path in files:
        revisions = first.revisions.get(str(path))
        if revisions:
            rewrite(path, revisions)
    final = run_files(bundle, files, lang=lang)
    final.revisions = first.revisions
    return final
