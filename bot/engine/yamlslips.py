"""What a YAML parse error means in plain words, for the slips people make most.

libyaml says "mapping values are not allowed in this context" for a line indented one space too
many, and the same for a colon inside a text; staff need to hear which, and where to fix it.
``explain`` reads the lines around the error and picks the message; anything it does not
recognise keeps libyaml's own words (``YAML_BROKEN``).
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from .codes import M, Message

_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([^\s:#\"'][^:#]*?):(?:\s|$)")
_BRACKETS = {"[": "]", "{": "}"}
# Characters YAML gives a meaning at the start of a value; a text starting with one needs quotes.
_SPECIAL_START = set("@`%&*!|>")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous(lines: list[str], index: int) -> int | None:
    """The index of the nearest line above ``index`` that is not blank or a comment."""
    for i in range(index - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


def explain(text: str, exc: yaml.MarkedYAMLError) -> tuple[int | None, Message, dict[str, Any]]:
    """(line to fix, message, its values) for a parse error of ``text``."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None, M.YAML_BROKEN, {"problem": exc.problem or str(exc)}
    lines = text.splitlines() or [""]
    row = min(mark.line, len(lines) - 1)
    problem = exc.problem or ""
    found = (_unclosed(lines, exc) or _special_start(lines, row, mark.column)
             or _colon_problem(lines, row, mark.column, problem) or _after_quote(lines, row)
             or _indentation(lines, row, problem))
    if found:
        return found
    return row + 1, M.YAML_BROKEN, {"problem": problem or str(exc)}


def _unclosed(lines: list[str], exc: yaml.MarkedYAMLError):
    context, opened = exc.context or "", exc.context_mark
    if opened is None:
        return None
    row = min(opened.line, len(lines) - 1)
    if "quoted scalar" in context:
        quote = lines[row][opened.column:opened.column + 1] or '"'
        return row + 1, M.YAML_UNCLOSED_QUOTE, {"quote": quote}
    if "flow sequence" in context or "flow mapping" in context:
        bracket = lines[row][opened.column:opened.column + 1]
        bracket = bracket if bracket in _BRACKETS else ("[" if "sequence" in context else "{")
        return row + 1, M.YAML_UNCLOSED_BRACKET, {"bracket": bracket, "closer": _BRACKETS[bracket]}
    return None


def _special_start(lines: list[str], row: int, column: int):
    line = lines[row]
    char = line[column:column + 1]
    if char == "\t" or ("\t" in line[:column + 1] and not line[:column].strip()):
        return row + 1, M.YAML_TAB, {}
    before = line[:column].rstrip()
    if char in _SPECIAL_START and (before.endswith((":", "-")) or not before):
        return row + 1, M.YAML_SPECIAL_START, {"char": char}
    # "*bold*": libyaml reports the end of the would-be alias, not its start
    value = re.match(r"^\s*(?:-\s+)?[^:]*:\s+(\S)", line)
    if value and value.group(1) in _SPECIAL_START:
        return row + 1, M.YAML_SPECIAL_START, {"char": value.group(1)}
    return None


def _colon_problem(lines: list[str], row: int, column: int, problem: str):
    """"mapping values are not allowed": a colon inside a text, a key with no space after its
    colon on the line above, or (left to ``_indentation``) a line indented too far."""
    if "mapping values are not allowed" not in problem:
        return None
    line = lines[row]
    key = _KEY_LINE.match(line)
    if key and len(key.group(1)) + len(key.group(0).strip()) <= column and line.find(":", column) == column \
            and line.index(":") < column:
        return row + 1, M.YAML_COLON_IN_TEXT, {"key": key.group(2).strip()}
    above = _previous(lines, row)
    if above is not None and _indent(lines[above]) == _indent(line):
        squeezed = re.match(r"^\s*(?:-\s+)?([^\s:#\"']+):\S", lines[above])
        if squeezed and not _KEY_LINE.match(lines[above]):
            return above + 1, M.YAML_NO_SPACE_AFTER_COLON, {"key": squeezed.group(1)}
    return None


def _indentation(lines: list[str], row: int, problem: str):
    """A line that starts in a column no line of its block starts in."""
    if not any(p in problem for p in ("mapping values are not allowed", "did not find expected key",
                                      "did not find expected '-'")):
        return None
    line = lines[row]
    got = _indent(line)
    above = _previous(lines, row)
    if above is None:
        return None
    # The columns the lines above start in, up to the first line that starts left of this one.
    levels: list[int] = []
    for i in range(above, -1, -1):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        level = _indent(lines[i])
        if level not in levels:
            levels.append(level)
        if level < got and level == 0:
            break
    if got in levels and _indent(lines[above]) <= got:
        return _after_quote(lines, above)
    want = _indent(lines[above])
    if want != got and abs(want - got) <= 2 and _KEY_LINE.match(lines[above]):
        return row + 1, M.YAML_INDENT, {"got": got, "want": want}
    shown = ", ".join(str(level) for level in sorted(levels))
    return row + 1, M.YAML_INDENT_NOWHERE, {"got": got, "levels": shown}


def _after_quote(lines: list[str], row: int):
    """``key: "a" b``: text after the closing quote."""
    if re.search(r":\s+([\"'])[^\"']*\1[ \t]*[^\s#,\]}]", lines[row]):
        return row + 1, M.YAML_TEXT_AFTER_QUOTE, {}
    return None
