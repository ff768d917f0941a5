"""YAML reading that remembers where each value came from, so errors can name the line.

A file that is not valid YAML raises ``YamlSyntaxError`` with the line to fix and, for the slips
people make most (one space too many, a colon inside a text, a tab, a quote left open), what to
do in plain words (``yamlslips.explain``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .codes import M, Message
from .errors import FlowIssue
from .yamlslips import explain

Path_ = tuple[Any, ...]


@dataclass
class YamlDocument:
    """A parsed YAML file plus the line (1-based) of every mapping key and list item."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    """A file that cannot be read as data: where, and what to do (a ``Message`` and its values)."""

    def __init__(self, file: str, line: int | None, message: Message, **params: Any):
        self.file, self.line, self.message, self.params = file, line, message, params
        self.problem = message.en.format(**params)
        super().__init__(f"{file}:{line}: {self.problem}")

    def issue(self) -> FlowIssue:
        return FlowIssue.of(self.message, self.file, self.line, **self.params)


# Values one file may expand to: aliases repeat what they name, and an alias of an alias of ...
# grows exponentially (a "billion laughs" file). A real flow or locale file has a few thousand.
MAX_VALUES = 200_000


class _Shape(Exception):
    """A document that cannot become plain data: ``_construct`` says why and where."""

    def __init__(self, line: int, message: Message, **params: Any):
        self.line, self.message, self.params = line, message, params


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], inside: set[int], budget: list[int]) -> Any:
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    budget[0] -= 1
    if budget[0] < 0:
        raise _Shape(line, M.YAML_ALIAS_BOMB, limit=f"{MAX_VALUES:,}")
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in inside:  # an alias to a block that contains the alias itself
            raise _Shape(line, M.YAML_ALIAS_LOOP)
        inside.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                out: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                    if key in out:
                        # YAML keeps the second silently: a keyword list or a text would vanish unseen.
                        raise _Shape(key_node.start_mark.line + 1, M.YAML_DUPLICATE_KEY,
                                     key=key, other_line=lines[path + (key,)])
                    lines[path + (key,)] = key_node.start_mark.line + 1
                    out[key] = _construct(value_node, path + (key,), lines, inside, budget)
                return out
            return [_item(item, path + (i,), lines, inside, budget) for i, item in enumerate(node.value)]
        finally:
            inside.discard(id(node))
    return _scalar(node)


def _item(node: yaml.Node, path: Path_, lines: dict[Path_, int], inside: set[int], budget: list[int]) -> Any:
    """An item of a list. YAML 1.1 reads a bare yes, no, on, off as true or false; in a list
    (keywords, phrases: "- yes", "- no") staff mean the word, so the word is kept."""
    value = _construct(node, path, lines, inside, budget)
    if isinstance(value, bool) and isinstance(node, yaml.ScalarNode) and not node.style \
            and node.value.lower() not in ("true", "false"):
        return node.value
    return value


_LOADER = yaml.SafeLoader("")
# libyaml's composer is ~10x faster and still gives line marks; pure Python where it is missing.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.ScalarNode) -> Any:
    return _LOADER.construct_object(node, deep=True)


def read_yaml(path: Path, display_name: str | None = None) -> YamlDocument:
    """Parse ``path``; raise YamlSyntaxError naming file and line on bad YAML."""
    name = display_name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(name, None, M.YAML_NOT_UTF8, reason=exc.reason) from exc
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlDocument:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        line, message, params = explain(text, exc)
        raise YamlSyntaxError(name, line, message, **params) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(name, None, M.YAML_BROKEN, problem=str(exc)) from exc
    lines: dict[Path_, int] = {}
    try:
        data = _construct(node, (), lines, set(), [MAX_VALUES]) if node is not None else None
    except _Shape as exc:
        raise YamlSyntaxError(name, exc.line, exc.message, **exc.params) from None
    except yaml.MarkedYAMLError as exc:  # a tag (!!set, !!python/object, !!binary ...) on a value that cannot be it
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(name, mark.line + 1 if mark else None, M.YAML_BAD_TAG, problem=exc.problem or exc) from None
    except (ValueError, TypeError, yaml.YAMLError) as exc:  # !!int abc, !!float x, !!timestamp 99 ...
        raise YamlSyntaxError(name, None, M.YAML_BAD_VALUE, problem=type(exc).__name__) from None
    except RecursionError:
        raise YamlSyntaxError(name, None, M.YAML_TOO_DEEP) from None
    return YamlDocument(name, data, lines)
