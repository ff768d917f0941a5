"""Reading the locale files: ``<lang>.yaml`` (texts), ``<lang>.intents.yaml`` (keywords) and any
other ``<lang>.<part>.yaml`` (``ja.console.yaml``), merged into one ``Locale`` per language.

A file that cannot be read is reported once and its language marked ``broken``: the checks that
depend on that language's texts or keywords skip it, so one slip is one error, not hundreds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codes import M
from .errors import Issues, did_you_mean
from .yamlsource import YamlDocument, YamlSyntaxError, read_yaml

SECTIONS = ("locale", "name", "texts", "intents", "words")
INTENT_FIELDS = ("keywords", "phrases", "idioms", "exclude", "negation", "quoted", "unless", "model_unless")
INTENT_LISTS = ("keywords", "phrases", "idioms", "exclude", "unless", "model_unless")


@dataclass
class Locale:
    """One language: its texts, intents and word lists, each with the file line it came from."""

    code: str
    file: str
    texts: dict[str, str] = field(default_factory=dict)
    text_lines: dict[str, int] = field(default_factory=dict)
    text_files: dict[str, str] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    intent_lines: dict[str, int] = field(default_factory=dict)
    intent_files: dict[str, str] = field(default_factory=dict)
    words: dict[str, list[str]] = field(default_factory=dict)
    word_lines: dict[str, int] = field(default_factory=dict)
    unreadable_texts: set[str] = field(default_factory=set)    # present but not text (reported)
    unreadable_intents: set[str] = field(default_factory=set)  # present but not keywords (reported)
    intents_file: str = ""  # the first of its files with an `intents:` section

    def merge(self, other: "Locale", issues: Issues) -> None:
        for key, text in other.texts.items():
            if key in self.texts:
                issues.add(M.TEXT_IN_TWO_FILES, other.file, other.text_lines.get(key), key=key,
                           other_file=self.text_files.get(key, self.file))
            self.texts[key] = text
            self.text_lines[key] = other.text_lines[key]
            self.text_files[key] = other.file
        self.intents.update(other.intents)
        self.intent_lines.update(other.intent_lines)
        self.intent_files.update(other.intent_files)
        for name, values in other.words.items():
            self.words.setdefault(name, []).extend(values)
            self.word_lines.setdefault(name, other.word_lines[name])
        self.unreadable_texts |= other.unreadable_texts
        self.unreadable_intents |= other.unreadable_intents
        self.intents_file = self.intents_file or other.intents_file

    def file_of_text(self, key: str) -> str:
        return self.text_files.get(key, self.file)

    def file_of_intent(self, name: str) -> str:
        return self.intent_files.get(name) or self.intents_file or f"locales/{self.code}.intents.yaml"


@dataclass
class Locales:
    """Every language found, and which of them lost a file to a mistake in it."""

    by_code: dict[str, Locale]
    broken: set[str]            # languages with a file that could not be read
    seen: set[str]              # languages with any file, readable or not

    def intact(self) -> list[Locale]:
        return [loc for code, loc in self.by_code.items() if code not in self.broken]


def read_locales(locales_dir: Path, issues: Issues) -> Locales:
    """``ja.yaml`` first, then ``ja.<part>.yaml`` merged into it, for every language."""
    by_code: dict[str, Locale] = {}
    broken: set[str] = set()
    seen: set[str] = set()
    for path in sorted(locales_dir.glob("*.yaml"), key=lambda p: (p.name.count("."), p.name)):
        code = path.name.split(".")[0]
        seen.add(code)
        loc = read_locale_file(path, code, issues)
        if loc is None:
            broken.add(code)
            continue
        if code in by_code:
            by_code[code].merge(loc, issues)
        else:
            by_code[code] = loc
    if not seen:
        issues.add(M.NO_LOCALE_FILES, str(locales_dir), None)
    return Locales(by_code, broken, seen)


def read_locale_file(path: Path, code: str, issues: Issues) -> Locale | None:
    """One file; None (reported) when it is not YAML or not a mapping."""
    try:
        doc = read_yaml(path, f"locales/{path.name}")
    except YamlSyntaxError as exc:
        issues.append(exc.issue())
        return None
    if not isinstance(doc.data, dict):
        issues.add(M.LOCALE_NOT_MAPPING, doc.file, 1)
        return None
    data = doc.data
    for key in sorted(set(data) - set(SECTIONS), key=str):
        issues.add(M.LOCALE_UNKNOWN_SECTION, doc.file, doc.line_of((key,)), section=key,
                   suggestion=did_you_mean(str(key), SECTIONS))
    loc = Locale(code=code, file=doc.file, intents_file=doc.file if "intents" in data else "")
    _read_texts(loc, doc, "", data.get("texts") or {}, ("texts",), issues)
    _read_words(loc, doc, data.get("words") or {}, issues)
    _read_intents(loc, doc, data.get("intents") or {}, issues)
    return loc


def _read_texts(loc: Locale, doc: YamlDocument, prefix: str, value: Any, path: tuple, issues: Issues) -> None:
    """Nested keys flattened: ``texts: {system: {fallback: ...}}`` is ``system.fallback``."""
    if isinstance(value, dict):
        for k, v in value.items():
            _read_texts(loc, doc, f"{prefix}.{k}" if prefix else str(k), v, path + (k,), issues)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        loc.texts[prefix] = str(value)
        loc.text_lines[prefix] = doc.line_of(path) or 1
        loc.text_files[prefix] = doc.file
    else:
        issues.add(M.TEXT_NOT_TEXT, doc.file, doc.line_of(path), key=prefix, kind=type(value).__name__)
        loc.unreadable_texts.add(prefix)


def _read_words(loc: Locale, doc: YamlDocument, words: Any, issues: Issues) -> None:
    if not isinstance(words, dict):
        issues.add(M.WORDS_NOT_MAPPING, doc.file, doc.line_of(("words",)))
        return
    for name, values in words.items():
        if not isinstance(values, list) or not all(isinstance(v, (str, int)) for v in values):
            issues.add(M.WORD_LIST_NOT_LIST, doc.file, doc.line_of(("words", name)), name=name)
            continue
        loc.words[str(name)] = [str(v) for v in values]
        loc.word_lines[str(name)] = doc.line_of(("words", name)) or 1


def _read_intents(loc: Locale, doc: YamlDocument, intents: Any, issues: Issues) -> None:
    if not isinstance(intents, dict):
        issues.add(M.INTENTS_NOT_MAPPING, doc.file, doc.line_of(("intents",)))
        return
    for name, spec in intents.items():
        line = doc.line_of(("intents", name))
        loc.intent_lines[str(name)] = line or 1
        loc.intent_files[str(name)] = doc.file
        if isinstance(spec, list):
            spec = {"keywords": spec}
        if not isinstance(spec, dict) or set(spec) - set(INTENT_FIELDS):
            issues.add(M.INTENT_SHAPE, doc.file, line, intent=name)
            loc.unreadable_intents.add(str(name))
            continue
        flags = [k for k in ("negation", "quoted") if not isinstance(spec.get(k, True), bool)]
        if flags:
            issues.add(M.INTENT_FLAG_NOT_BOOL, doc.file, doc.line_of(("intents", name, flags[0])), intent=name, flag=flags[0])
            loc.unreadable_intents.add(str(name))
            continue
        lists: dict[str, list[str]] = {}
        for part in INTENT_LISTS:
            value = spec.get(part) or []
            if isinstance(value, str):  # one word, not a list of its characters
                value = [value]
            if not isinstance(value, list):
                issues.add(M.INTENT_PART_NOT_LIST, doc.file, doc.line_of(("intents", name, part)), part=part, intent=name)
                value = []
            lists[part] = [str(x) for x in value]
        loc.intents[str(name)] = {"keywords": lists["keywords"], "phrases": lists["phrases"],
                                  "idioms": lists["idioms"] + lists["exclude"], "unless": lists["unless"],
                                  "model_unless": lists["model_unless"],
                                  "negation": spec.get("negation", True), "quoted": spec.get("quoted", True)}
