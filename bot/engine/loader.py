"""Loading flows, locales and resources from YAML, compiling them, and checking them.

``load_bundle`` reads everything in one pass and returns every problem found, each with its
file and line, so NGO staff see all their mistakes at once. Errors stop the bundle from being
used; warnings do not.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ERROR, WARNING, FlowError, FlowIssue
from .flow import HUMAN_CHOICE_ID, RESUME, FlowDoc, StateDoc
from .intents import IntentMatcher, IntentSpec, KeywordIndex, compile_intent
from .machine import FlowMachine
from .model import (
    CompiledChoice,
    CompiledInterrupt,
    CompiledRoute,
    CompiledState,
    Effect,
    Flow,
    Text,
)
from .normalise import normalise
from .resources import Resource, ResourcesDoc, build_resources
from .classifier import MODEL_FILE, Classifier, load_classifier
from .tokens import warm_up
from .yamlsource import YamlDocument, YamlSyntaxError, read_yaml

RESOURCES_FILE = "resources.yaml"
VERIFIED_MAX_AGE_DAYS = 180
LONG_BUBBLE_CHARS = 250

# The strictest platform limits (LINE and Discord), checked on every text and label.
MAX_TEXT = 2000          # Discord message (LINE allows 5,000)
MAX_CHOICE_LABEL = 20    # LINE quick-reply label (Discord allows 80)
MAX_CHOICES = 13         # LINE quick-reply items (Discord allows 25 buttons)
MAX_LINK_LABEL = 40      # a link's label is shown in a bubble on LINE, as a button on Discord (80)

# Keys the console and shells use directly, never from a flow, so never "unused".
SHELL_KEY_PREFIXES = ("console.", "canned.", "shell.")
INTENT_FIELDS = {"keywords", "phrases", "idioms", "exclude", "negation", "quoted", "unless"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def utf16_len(text: str) -> int:
    """LINE counts text length in UTF-16 code units (an emoji can count 2)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Locale:
    code: str
    file: str
    doc: YamlDocument
    texts: dict[str, str] = field(default_factory=dict)
    text_lines: dict[str, int] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    intent_lines: dict[str, int] = field(default_factory=dict)
    words: dict[str, list[str]] = field(default_factory=dict)
    word_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Bundle:
    """Everything loaded from one flows directory and one locales directory."""

    flows: dict[str, Flow]
    issues: list[FlowIssue]
    version: str
    resources: dict[str, Resource] = field(default_factory=dict)
    locales: tuple[str, ...] = ()

    @property
    def errors(self) -> list[FlowIssue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[FlowIssue]:
        return [i for i in self.issues if i.severity == WARNING]

    def flow(self, name: str | None = None) -> Flow:
        if name:
            return self.flows[name]
        return self.flows[sorted(self.flows)[0]] if "first_contact" not in self.flows else self.flows["first_contact"]


class _Issues(list):
    def error(self, code: str, file: str, line: int | None, message: str, state: str | None = None) -> None:
        self.append(FlowIssue(code, ERROR, file, line, message, state))

    def warn(self, code: str, file: str, line: int | None, message: str, state: str | None = None) -> None:
        self.append(FlowIssue(code, WARNING, file, line, message, state))


def _schema_issues(issues: _Issues, doc: YamlDocument, exc: ValidationError, prefix: tuple = ()) -> None:
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        line = doc.line_of(loc)
        where = " → ".join(str(p) for p in loc) or "the top of the file"
        kind = err["type"]
        state = str(loc[1]) if len(loc) > 1 and loc[0] == "states" else None
        if kind == "missing":
            msg = f'"{loc[-1]}" is missing under {" → ".join(str(p) for p in loc[:-1]) or "the top of the file"}. Add it.'
        elif kind == "extra_forbidden":
            msg = f'"{loc[-1]}" is not a field the bot knows (at {where}). Check the spelling or remove it.'
        elif kind in ("list_type", "dict_type", "string_type", "int_type", "float_type", "bool_type", "model_type"):
            wanted = {"list_type": "a list", "dict_type": "a mapping (key: value)", "string_type": "text",
                      "int_type": "a whole number", "float_type": "a number", "bool_type": "true or false",
                      "model_type": "a mapping (key: value)"}[kind]
            msg = f"{where} should be {wanted}."
        elif kind == "string_pattern_mismatch":
            msg = f'{where}: "{err.get("input")}" may use only letters, digits, "_", "-" (and "." in keys).'
        elif kind == "literal_error":
            msg = f'{where}: "{err.get("input")}" is not allowed; {err["msg"].replace("Input should be", "use")}.'
        else:
            msg = f"{where}: {err['msg']}."
        issues.error("F101", doc.file, line, msg, state)


def _flatten(prefix: str, value: Any, path: tuple, doc: YamlDocument, out: dict, lines: dict, issues: _Issues) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, path + (k,), doc, out, lines, issues)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        out[prefix] = str(value)
        lines[prefix] = doc.line_of(path) or 1
    else:
        issues.error("F101", doc.file, doc.line_of(path), f'text "{prefix}" should be text, not {type(value).__name__}.')


def _read_locale(path: Path, issues: _Issues) -> Locale | None:
    try:
        doc = read_yaml(path, f"locales/{path.name}")
    except YamlSyntaxError as exc:
        issues.error("F100", exc.file, exc.line, exc.problem)
        return None
    data = doc.data if isinstance(doc.data, dict) else {}
    if not isinstance(doc.data, dict):
        issues.error("F101", doc.file, 1, "a locale file must be a mapping with `texts:` and `intents:`.")
        return None
    unknown = set(data) - {"locale", "name", "texts", "intents", "words"}
    for key in sorted(unknown, key=str):
        issues.error("F101", doc.file, doc.line_of((key,)), f'"{key}" is not a section of a locale file; use texts, intents or words.')
    loc = Locale(code=str(data.get("locale") or path.stem), file=doc.file, doc=doc)
    _flatten("", data.get("texts") or {}, ("texts",), doc, loc.texts, loc.text_lines, issues)
    words = data.get("words") or {}
    if not isinstance(words, dict):
        issues.error("F101", doc.file, doc.line_of(("words",)), "words should be a mapping: name → list of words.")
        words = {}
    for name, values in words.items():
        if not isinstance(values, list) or not all(isinstance(v, (str, int)) for v in values):
            issues.error("F101", doc.file, doc.line_of(("words", name)), f'word list "{name}" should be a list of words.')
            continue
        loc.words[str(name)] = [str(v) for v in values]
        loc.word_lines[str(name)] = doc.line_of(("words", name)) or 1
    intents = data.get("intents") or {}
    if not isinstance(intents, dict):
        issues.error("F101", doc.file, doc.line_of(("intents",)), "intents should be a mapping: name → keywords.")
        intents = {}
    for name, spec in intents.items():
        line = doc.line_of(("intents", name))
        loc.intent_lines[str(name)] = line or 1
        if isinstance(spec, list):
            spec = {"keywords": spec}
        if not isinstance(spec, dict) or set(spec) - INTENT_FIELDS:
            issues.error("F101", doc.file, line, f'intent "{name}" should be a list of keywords, or have keywords:, phrases:, idioms: (or exclude:) and negation:.')
            continue
        flags = [k for k in ("negation", "quoted") if not isinstance(spec.get(k, True), bool)]
        if flags:
            issues.error("F101", doc.file, doc.line_of(("intents", name, flags[0])), f'intent "{name}": {flags[0]}: should be true or false.')
            continue
        lists: dict[str, list[str]] = {}
        for part in ("keywords", "phrases", "idioms", "exclude", "unless"):
            value = spec.get(part) or []
            if isinstance(value, str):  # one word, not a list of its characters
                value = [value]
            if not isinstance(value, list):
                issues.error("F101", doc.file, doc.line_of(("intents", name, part)),
                             f'{part} of intent "{name}" should be a list of words, like [word, other word].')
                value = []
            lists[part] = [str(x) for x in value]
        entry: dict[str, Any] = {"keywords": lists["keywords"], "phrases": lists["phrases"],
                                 "idioms": lists["idioms"] + lists["exclude"], "unless": lists["unless"],
                                 "negation": spec.get("negation", True), "quoted": spec.get("quoted", True)}
        loc.intents[str(name)] = entry
    return loc


def _read_resources(flows_dir: Path, issues: _Issues, today: dt.date) -> tuple[dict[str, Resource], YamlDocument | None]:
    path = flows_dir / RESOURCES_FILE
    if not path.exists():
        return {}, None
    try:
        doc = read_yaml(path, f"flows/{RESOURCES_FILE}")
        parsed = ResourcesDoc.model_validate(doc.data)
    except YamlSyntaxError as exc:
        issues.error("F100", exc.file, exc.line, exc.problem)
        return {}, None
    except ValidationError as exc:
        _schema_issues(issues, doc, exc)
        return {}, doc
    resources = build_resources(parsed)
    for rid, res in resources.items():
        age = (today - res.verified).days
        if age > VERIFIED_MAX_AGE_DAYS:
            issues.warn("W203", doc.file, doc.line_of(("resources", rid, "verified")),
                        f'"{rid}" was last verified {age} days ago ({res.verified}). Check the number and hours on its official site, then update `verified`.')
        if not res.tel and not res.url:
            issues.error("F101", doc.file, doc.line_of(("resources", rid)), f'"{rid}" needs a tel: or a url:.')
    return resources, doc


def _fill_placeholders(text: str, locale: str, default_locale: str, resources: dict[str, Resource]) -> tuple[str, bool, list[str]]:
    """Resolve {resource.field}; keep {variable}. Returns (template, has_variables, problems)."""
    problems: list[str] = []
    has_variables = False

    def replace(match: re.Match) -> str:
        nonlocal has_variables
        name = match.group(1)
        if "." in name:
            rid, _, fld = name.partition(".")
            res = resources.get(rid)
            if res is None:
                problems.append(f'{{{name}}} names "{rid}", which is not in flows/resources.yaml')
                return match.group(0)
            value = res.field(fld, locale, default_locale)
            if value is None:
                problems.append(f'{{{name}}}: "{fld}" is not a field of "{rid}" (use name, tel, url, hours or note)')
                return match.group(0)
            return value.replace("{", "{{").replace("}", "}}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.append(f'"{{{name}}}" is not a placeholder; write {{name}} or {{service.field}}')
            return match.group(0)
        has_variables = True
        return match.group(0)

    template = _PLACEHOLDER.sub(replace, text)
    if not problems:
        try:  # stray braces would break formatting at run time
            list(string.Formatter().parse(template))
        except ValueError as exc:
            problems.append(f"a lone {{ or }} ({exc}); write {{{{ or }}}} for a brace")
    if not has_variables:
        template = template.replace("{{", "{").replace("}}", "}")
    return template, has_variables, problems


_WORD_REF = re.compile(r"\{([A-Za-z0-9_]+)\}")


def _qualified(patterns: list[str], locales: dict[str, Locale], loc: Locale, intent: str, issues: _Issues) -> list[str]:
    """Keywords whose {word lists} name the locale's own list ({near} -> {ja.near}), else the list
    of another locale that has one; an unknown list is an error (F115)."""
    out: list[str] = []
    for pattern in patterns:
        def qualify(match: re.Match) -> str:
            name = match.group(1)
            owner = loc if name in loc.words else next((l for l in locales.values() if name in l.words), None)
            if owner is None:
                raise KeyError(name)
            return "{" + f"{owner.code}.{name}" + "}"
        try:
            out.append(_WORD_REF.sub(qualify, pattern))
        except KeyError as exc:
            issues.error("F115", loc.file, loc.intent_lines.get(intent),
                         f'intent "{intent}": "{pattern}" uses the word list {{{exc.args[0]}}}, which is not under `words:`. '
                         f'Add it there, or check the spelling.')
    return out


def load_bundle(flows_dir: Path | str, locales_dir: Path | str, today: dt.date | None = None) -> Bundle:
    """Read, compile and check every flow. Never raises for bad content: see ``Bundle.errors``."""
    flows_dir, locales_dir = Path(flows_dir), Path(locales_dir)
    today = today or dt.date.today()
    issues = _Issues()
    hasher = hashlib.sha256()

    if not flows_dir.is_dir():
        issues.error("F114", str(flows_dir), None, "the flows folder does not exist.")
        return Bundle({}, list(issues), "none")
    if not locales_dir.is_dir():
        issues.error("F114", str(locales_dir), None, "the locales folder does not exist.")
        return Bundle({}, list(issues), "none")

    for path in sorted(locales_dir.glob("*.yaml")) + sorted(flows_dir.glob("*.yaml")) + sorted(flows_dir.glob("*.json")):
        hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    version = hasher.hexdigest()[:12]

    resources, _ = _read_resources(flows_dir, issues, today)
    classifier = _read_classifier(flows_dir, issues)
    # A locale is `ja.yaml`, plus any `ja.<part>.yaml` (e.g. ja.console.yaml) merged into it.
    locales: dict[str, Locale] = {}
    for path in sorted(locales_dir.glob("*.yaml"), key=lambda p: (p.name.count("."), p.name)):
        loc = _read_locale(path, issues)
        if loc is None:
            continue
        code = path.name.split(".")[0]
        if code not in locales:
            loc.code = code
            locales[code] = loc
            continue
        main = locales[code]
        for key, text in loc.texts.items():
            if key in main.texts:
                issues.error("F101", loc.file, loc.text_lines.get(key), f'text "{key}" is also in {main.file}. Keep it in one file.')
            main.texts[key] = text
            main.text_lines[key] = loc.text_lines[key]
        main.intents.update(loc.intents)
        main.intent_lines.update(loc.intent_lines)
        for name, values in loc.words.items():
            main.words.setdefault(name, []).extend(values)
            main.word_lines.setdefault(name, loc.word_lines[name])
    if not locales:
        issues.error("F114", str(locales_dir), None, "no locale files (ja.yaml, en.yaml) were found.")

    # Every intent compiled once, over all locales: keywords into one shared index.
    warm_up()
    matchers: dict[str, IntentMatcher] = {}
    specs: dict[str, IntentSpec] = {}
    # Word lists by locale: {near} is not the same words in Japanese and English.
    words = {f"{loc.code}.{wname}": values for loc in locales.values() for wname, values in loc.words.items()}
    for name in sorted({n for loc in locales.values() for n in loc.intents}):
        keywords, phrases, idioms, unless, negation, quoted = [], [], [], [], True, True
        for loc in locales.values():
            spec = loc.intents.get(name, {})
            keywords += _qualified(spec.get("keywords", []), locales, loc, name, issues)
            phrases += spec.get("phrases", [])
            idioms += _qualified(spec.get("idioms", []), locales, loc, name, issues)
            unless += _qualified(spec.get("unless", []), locales, loc, name, issues)
            negation = negation and spec.get("negation", True)
            quoted = quoted and spec.get("quoted", True)
        matchers[name] = compile_intent(name, phrases)
        specs[name] = IntentSpec(tuple(keywords), tuple(phrases), tuple(idioms), negation, quoted, tuple(unless))
    keyword_index = KeywordIndex(specs, words)

    flows: dict[str, Flow] = {}
    used_keys: set[str] = set()
    flow_paths = [p for p in sorted(flows_dir.glob("*.yaml")) if p.name != RESOURCES_FILE]
    if not flow_paths:
        issues.error("F114", str(flows_dir), None, "no flow files were found.")
    for path in flow_paths:
        flow = _load_flow(path, locales, resources, matchers, keyword_index, issues, used_keys, version, classifier)
        if flow is not None:
            flows[flow.name] = flow

    for loc in locales.values():
        for key in sorted(set(loc.texts) - used_keys):
            if not key.startswith(SHELL_KEY_PREFIXES):
                issues.warn("W201", loc.file, loc.text_lines.get(key), f'text "{key}" is not used by any flow. Remove it, or use it in a state.')
    ok_flows = flows if not any(i.severity == ERROR for i in issues) else {}
    return Bundle(ok_flows, list(issues), version, resources, tuple(locales))


def _read_classifier(flows_dir: Path, issues: _Issues) -> Classifier | None:
    """The understanding model, if there is one. A broken or outdated model is reported and left
    out: the keywords keep working alone."""
    path = flows_dir / MODEL_FILE
    try:
        return load_classifier(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        issues.warn("W204", f"flows/{MODEL_FILE}", None,
                    f"the understanding model cannot be used ({exc}); the keywords work without it. "
                    f"Run python -m bot train.")
        return None


def _load_flow(path: Path, locales: dict[str, Locale], resources: dict[str, Resource],
               matchers: dict[str, IntentMatcher], keyword_index: KeywordIndex, issues: _Issues,
               used_keys: set[str], version: str, classifier: Classifier | None = None) -> Flow | None:
    name = f"flows/{path.name}"
    try:
        doc = read_yaml(path, name)
    except YamlSyntaxError as exc:
        issues.error("F100", exc.file, exc.line, exc.problem)
        return None
    try:
        fd = FlowDoc.model_validate(doc.data)
    except ValidationError as exc:
        _schema_issues(issues, doc, exc)
        return None
    before = len(issues)
    states = fd.states
    default_locale = fd.default_locale
    if locales and default_locale not in locales:
        issues.error("F101", name, doc.line_of(("default_locale",)), f'default_locale "{default_locale}" has no file locales/{default_locale}.yaml.')

    def target_ok(target: str | None, path_: tuple, state: str | None = None) -> None:
        if target is not None and target != RESUME and target not in states:
            issues.error("F102", name, doc.line_of(path_), f'goes to "{target}", which does not exist. Check the spelling or add that state.', state)

    target_ok(fd.start, ("start",))
    target_ok(fd.human_state, ("human_state",))
    target_ok(fd.handoff_return, ("handoff_return",))
    target_ok(fd.model.crisis, ("model", "crisis"))
    target_ok(fd.model.emergency, ("model", "emergency"))
    for field_name in ("resume_default", "other_language"):
        value = getattr(fd, field_name)
        if value == RESUME:
            issues.error("F102", name, doc.line_of((field_name,)), f'{field_name} must name a state, not "{RESUME}".')
        target_ok(value, (field_name,))

    # -- keys, intents, resources used --------------------------------------------------------------
    key_uses: list[tuple[str, tuple, str | None, str]] = []  # (key, yaml path, state, kind)
    for field_name, key in fd.texts.model_dump().items():
        key_uses.append((key, ("texts", field_name), None, "text"))
    intent_uses: list[tuple[str, tuple, str | None]] = []
    for i, it in enumerate(fd.interrupts):
        intent_uses.append((it.intent, ("interrupts", i, "intent"), None))
        target_ok(it.target, ("interrupts", i, "target"))
        if it.set_locale and locales and it.set_locale not in locales:
            issues.error("F101", name, doc.line_of(("interrupts", i, "set_locale")), f'set_locale "{it.set_locale}" has no locale file.')
    for i, r in enumerate(fd.intents):
        intent_uses.append((r.intent, ("intents", i, "intent"), None))
        target_ok(r.target, ("intents", i, "target"))
        if r.target == RESUME:
            issues.error("F102", name, doc.line_of(("intents", i, "target")), f'only a choice can lead to "{RESUME}".')

    for sname, st in states.items():
        base = ("states", sname)
        for j, key in enumerate(st.say):
            key_uses.append((key, base + ("say", j), sname, "text"))
        for j, key in enumerate(st.say_again):
            key_uses.append((key, base + ("say_again", j), sname, "text"))
        if st.ack and st.ack not in {c.id for c in st.choices}:
            issues.error("F102", name, doc.line_of(base + ("ack",)), f'ack: "{st.ack}" is not one of this state\'s choices. Use a choice id of this state.', sname)
        if st.fallback:
            key_uses.append((st.fallback, base + ("fallback",), sname, "text"))
        seen_ids: set[str] = set()
        for j, ch in enumerate(st.choices):
            key_uses.append((ch.label, base + ("choices", j, "label"), sname, "label"))
            target_ok(ch.target, base + ("choices", j, "target"), sname)
            if ch.id in seen_ids:
                issues.error("F112", name, doc.line_of(base + ("choices", j, "id")), f'two choices are called "{ch.id}". Give each choice its own id.', sname)
            seen_ids.add(ch.id)
        if len(st.choices) + 1 > MAX_CHOICES:
            issues.error("F108", name, doc.line_of(base + ("choices",)), f"{len(st.choices)} choices, and the fallback adds one for a person: LINE shows at most {MAX_CHOICES}. Split the question.", sname)
        for j, r in enumerate(st.routes):
            intent_uses.append((r.intent, base + ("routes", j, "intent"), sname))
            target_ok(r.target, base + ("routes", j, "target"), sname)
            if r.target == RESUME:
                issues.error("F102", name, doc.line_of(base + ("routes", j, "target")), f'only a choice can lead to "{RESUME}".', sname)
        target_ok(st.next, base + ("next",), sname)
        if st.branch:
            for value, tgt in st.branch.cases.items():
                target_ok(tgt, base + ("branch", "cases", value), sname)
            target_ok(st.branch.default, base + ("branch", "default"), sname)
        for j, rid in enumerate(st.links):
            if rid not in resources:
                issues.error("F110", name, doc.line_of(base + ("links", j)), f'"{rid}" is not in flows/resources.yaml. Check the spelling or add the service there.', sname)
        for j, eff in enumerate(st.effects):
            if eff.type == "set_locale" and (not eff.locale or (locales and eff.locale not in locales)):
                issues.error("F101", name, doc.line_of(base + ("effects", j)), "set_locale needs `locale:` naming a locale file.", sname)
        if not st.say and not (st.next or st.branch):
            issues.error("F104", name, doc.line_of(base), "this state says nothing and does not move on: the person would see nothing. Add `say:` or `next:`.", sname)
        resting = not (st.next or st.branch)
        if resting and not st.end and not st.choices:
            issues.error("F104", name, doc.line_of(base), "a dead end: the person can only leave it by typing a special word. Add choices (at least a way on and a way to a person), or mark it `end: true`.", sname)

    # Locale keys and intents present in every locale.
    for key, ypath, sname, kind in key_uses:
        used_keys.add(key)
        for loc in locales.values():
            if key not in loc.texts:
                issues.error("F105", name, doc.line_of(ypath), f'text "{key}" is missing in {loc.file}. Add it there.', sname)
    for intent, ypath, sname in intent_uses:
        for loc in locales.values():
            spec = loc.intents.get(intent)
            if not spec or not (spec["keywords"] or spec["phrases"]):
                issues.error("F106", name, doc.line_of(ypath), f'intent "{intent}" has no keywords in {loc.file}. Add `{intent}:` with keywords under `intents:` there.', sname)

    # Crisis must be recognised from every state.
    crisis = [it for it in fd.interrupts if it.name == "crisis"]
    if not crisis:
        issues.error("F107", name, doc.line_of(("interrupts",)), 'there is no interrupt named "crisis". Add one as the first interrupt, going to a state tagged crisis.')
    elif crisis[0].target in states and "crisis" not in states[crisis[0].target].tags:
        issues.error("F107", name, doc.line_of(("interrupts",)), f'the crisis interrupt goes to "{crisis[0].target}", which is not tagged crisis.')

    # Texts: placeholders, platform limits, long bubbles.
    catalog: dict[str, dict[str, Text]] = {}
    label_keys = {k for k, _, _, kind in key_uses if kind == "label"}
    for loc in locales.values():
        cat: dict[str, Text] = {}
        for key, raw in loc.texts.items():
            template, has_vars, problems = _fill_placeholders(raw, loc.code, default_locale, resources)
            line = loc.text_lines.get(key)
            for p in problems:
                issues.error("F113", loc.file, line, f'text "{key}": {p}.')
            size = utf16_len(template)
            if key in label_keys and size > MAX_CHOICE_LABEL:
                issues.error("F108", loc.file, line, f'choice label "{key}" is {size} characters; LINE shows at most {MAX_CHOICE_LABEL}. Shorten it.')
            elif size > MAX_TEXT:
                issues.error("F108", loc.file, line, f'text "{key}" is {size} characters; Discord allows {MAX_TEXT} per message. Split it into two texts.')
            elif size > LONG_BUBBLE_CHARS and key not in label_keys:
                issues.warn("W202", loc.file, line, f'text "{key}" is {size} characters: long for a phone screen. Consider splitting it.')
            cat[key] = Text(template, has_vars)
        catalog[loc.code] = cat
    for rid, res in resources.items():
        for lang, label in res.names.items():
            if utf16_len(label) > MAX_LINK_LABEL:
                issues.error("F108", f"flows/{RESOURCES_FILE}", None, f'the name of "{rid}" in {lang} is longer than {MAX_LINK_LABEL} characters.')

    if len(issues) > before and any(i.severity == ERROR for i in issues[before:]):
        return None

    # -- compile ------------------------------------------------------------------------------------
    folded_cache: dict[str, tuple[str, ...]] = {}

    def folded(label_key: str) -> tuple[str, ...]:
        if label_key not in folded_cache:
            folded_cache[label_key] = tuple(sorted({normalise(loc.texts[label_key]) for loc in locales.values() if label_key in loc.texts}))
        return folded_cache[label_key]

    compiled: dict[str, CompiledState] = {}
    edges: list[tuple[str, str, str]] = []
    # The machine needs a real state for "@resume": where it leads when nothing is remembered.
    resume_dest = fd.resume_default or fd.start

    def dest(target: str) -> str:
        return resume_dest if target == RESUME else target

    for sname, st in states.items():
        choices = tuple(CompiledChoice(c.id, c.label, c.target, tuple(c.set.items()), folded(c.label)) for c in st.choices)
        routes = tuple(CompiledRoute(matchers[r.intent], r.target, tuple(r.set.items())) for r in st.routes)
        compiled[sname] = CompiledState(
            name=sname, say=tuple(st.say), tags=tuple(st.tags), links=tuple(st.links), choices=choices,
            choice_by_id={c.id: c for c in choices}, routes=routes, fallback=st.fallback, next=st.next,
            branch_var=st.branch.var if st.branch else None,
            branch_cases=dict(st.branch.cases) if st.branch else {},
            branch_default=st.branch.default if st.branch else None,
            effects=tuple(Effect(e.type, {"locale": e.locale} if e.locale else {}) for e in st.effects),
            end=st.end, offers_human=any(c.target == fd.human_state for c in st.choices),
            say_again=tuple(st.say_again), ack=st.ack,
            asks=frozenset(k for c in st.choices for k in c.set),
            is_detour=any(c.target == RESUME for c in st.choices),
        )
        for c in st.choices:
            edges.append((f"choice:{c.id}", sname, dest(c.target)))
        for r in st.routes:
            edges.append((f"intent:{r.intent}", sname, r.target))
        if st.next:
            edges.append(("auto", sname, st.next))
        if st.branch:
            for value, tgt in st.branch.cases.items():
                edges.append((f"branch:{value}", sname, tgt))
            edges.append(("branch:*", sname, st.branch.default))
        edges.append((f"choice:{HUMAN_CHOICE_ID}", sname, fd.human_state))
        if st.end:
            edges.append(("restart", sname, fd.start))
    for it in fd.interrupts:
        if it.target:
            edges.append((f"interrupt:{it.name}", "*", it.target))
    for r in fd.intents:
        for sname in states:
            if not any(x.intent == r.intent for x in states[sname].routes):
                edges.append((f"intent:{r.intent}", sname, r.target))
    machine = FlowMachine(list(states), edges)
    owners: dict[str, list[str]] = {}
    for sname, st in states.items():
        for c in st.choices:
            owners.setdefault(c.id, []).append(sname)

    flow = Flow(
        name=fd.flow, version=version, file=name, start=fd.start, human_state=fd.human_state,
        handoff_return=fd.handoff_return, default_locale=default_locale,
        locales=tuple(sorted(locales, key=lambda c: (c != default_locale, c))),
        expiry_seconds=fd.expiry_hours * 3600, max_auto_moves=fd.max_auto_moves, texts=fd.texts,
        states=compiled,
        interrupts=tuple(CompiledInterrupt(it.name, matchers[it.intent], it.target, it.set_locale) for it in fd.interrupts),
        global_routes=tuple(CompiledRoute(matchers[r.intent], r.target, tuple(r.set.items())) for r in fd.intents),
        catalog=catalog, resources=resources, machine=machine, keywords=keyword_index,
        unique_choices={cid: names[0] for cid, names in owners.items() if len(names) == 1},
        resume_default=fd.resume_default, other_language=fd.other_language, ack_intent=fd.ack_intent,
        classifier=classifier, model_crisis=fd.model.crisis, model_emergency=fd.model.emergency,
        routed_intents=frozenset(it.intent for it in fd.interrupts) | frozenset(r.intent for r in fd.intents),
    )
    _check_graph(flow, doc, issues)
    return flow


def _check_graph(flow: Flow, doc: YamlDocument, issues: _Issues) -> None:
    """Unreachable states and loops of automatic moves."""
    roots = {flow.start, flow.human_state} | {i.target for i in flow.interrupts if i.target}
    roots |= {s for s in (flow.resume_default, flow.other_language, flow.model_crisis, flow.model_emergency) if s}
    if flow.handoff_return:
        roots.add(flow.handoff_return)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        s = todo.pop()
        if s in seen or s not in flow.states:
            continue
        seen.add(s)
        todo.extend(flow.machine.successors(s))
    for sname in flow.states:
        if sname not in seen:
            issues.error("F103", flow.file, doc.line_of(("states", sname)), "no choice, route or move leads here, so nobody can reach it. Link to it or remove it.", sname)

    def auto_targets(s: str) -> list[str]:
        st = flow.states[s]
        if st.next:
            return [st.next]
        if st.branch_var:
            return list(st.branch_cases.values()) + [st.branch_default]
        return []

    reported: set[str] = set()
    for start in flow.states:
        stack, on_path = [(start, iter(auto_targets(start)))], {start}
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                continue
            if nxt in on_path:
                if nxt not in reported:
                    reported.add(nxt)
                    issues.error("F109", flow.file, doc.line_of(("states", nxt)), "these states move on by themselves in a circle: the bot would talk forever. Give one of them choices instead of `next:`.", nxt)
                continue
            if nxt in flow.states:
                stack.append((nxt, iter(auto_targets(nxt))))
                on_path.add(nxt)


def load_or_raise(flows_dir: Path | str, locales_dir: Path | str, today: dt.date | None = None) -> Bundle:
    bundle = load_bundle(flows_dir, locales_dir, today)
    if bundle.errors:
        raise FlowError(bundle.issues)
    return bundle
