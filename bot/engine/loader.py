"""Loading a bundle: read the files, check them, compile what passed.

``load_bundle`` reads every flow, locale and resource file in one pass and returns every problem
found, each with its file and line, so NGO staff see all their mistakes at once, and each only
once (``checks``). Errors stop the bundle from being used; warnings do not. The parts:
``locales`` reads the language files, ``checks`` holds one function per check, ``compile``
builds the pure ``Flow``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import checks
from .checks import Context, FlowSource
from .classifier import MODEL_FILE, Classifier, load_classifier
from .codes import M
from .compile import compile_flow, compile_intents
from .errors import ERROR, WARNING, FlowError, FlowIssue, Issues, did_you_mean
from .flow import FlowDoc
from .locales import read_locales
from .model import Flow
from .resources import Resource, ResourcesDoc, build_resources
from .tokens import warm_up
from .yamlsource import YamlDocument, YamlSyntaxError, read_yaml

RESOURCES_FILE = "resources.yaml"


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


def load_bundle(flows_dir: Path | str, locales_dir: Path | str, today: dt.date | None = None) -> Bundle:
    """Read, check and compile every flow. Never raises for bad content: see ``Bundle.errors``."""
    flows_dir, locales_dir = Path(flows_dir), Path(locales_dir)
    today = today or dt.date.today()
    issues = Issues()
    for folder, kind in ((flows_dir, "flows"), (locales_dir, "locales")):
        if not folder.is_dir():
            issues.add(M.FOLDER_MISSING, str(folder), None, kind=kind)
            return Bundle({}, list(issues), "none")
    version = _version(flows_dir, locales_dir)

    resources, resources_ok = _read_resources(flows_dir, issues, today)
    classifier = _read_classifier(flows_dir, issues)
    locales = read_locales(locales_dir, issues)
    ctx = Context(locales, resources, resources_ok)
    warm_up()
    matchers, keyword_index = compile_intents(locales.by_code)

    flow_paths = [p for p in sorted(flows_dir.glob("*.yaml")) if p.name != RESOURCES_FILE]
    if not flow_paths:
        issues.add(M.NO_FLOW_FILES, str(flows_dir), None)
    sources: list[FlowSource] = []
    for path in flow_paths:
        src = _read_flow(path, issues)
        if src is None:
            ctx.flows_ok = False
        else:
            sources.append(src)

    flows: dict[str, Flow] = {}
    for src in sources:
        before = len(issues.errors)
        for check in checks.FLOW_CHECKS:
            check(src, ctx, issues)
        if len(issues.errors) > before:
            continue  # what follows from these errors (unreachable states, ...) is not reported
        flow = compile_flow(src.fd, src.file, version, locales.by_code, resources, matchers, keyword_index, classifier)
        checks.check_reachable(flow, src, issues)
        checks.check_auto_loops(flow, src, issues)
        flows[flow.name] = flow

    default_locale = sources[0].fd.default_locale if sources else "ja"
    checks.check_text_content(ctx, default_locale, issues)
    checks.check_word_lists(ctx, issues)
    checks.check_unused_texts(ctx, issues)
    ok_flows = flows if not issues.errors else {}
    return Bundle(ok_flows, list(issues), version, resources, tuple(locales.by_code))


def load_or_raise(flows_dir: Path | str, locales_dir: Path | str, today: dt.date | None = None) -> Bundle:
    bundle = load_bundle(flows_dir, locales_dir, today)
    if bundle.errors:
        raise FlowError(bundle.issues)
    return bundle


def _version(flows_dir: Path, locales_dir: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(locales_dir.glob("*.yaml")) + sorted(flows_dir.glob("*.yaml")) + sorted(flows_dir.glob("*.json")):
        hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:12]


def _read_flow(path: Path, issues: Issues) -> FlowSource | None:
    name = f"flows/{path.name}"
    try:
        doc = read_yaml(path, name)
    except YamlSyntaxError as exc:
        issues.append(exc.issue())
        return None
    try:
        fd = FlowDoc.model_validate(doc.data)
    except ValidationError as exc:
        report_schema_errors(issues, doc, exc, FlowDoc)
        return None
    return FlowSource(name, doc, fd)


def _read_resources(flows_dir: Path, issues: Issues, today: dt.date) -> tuple[dict[str, Resource], bool]:
    """The services, and whether resources.yaml could be read (when not, it is reported once and
    the checks naming services skip)."""
    path = flows_dir / RESOURCES_FILE
    if not path.exists():
        return {}, True
    try:
        doc = read_yaml(path, f"flows/{RESOURCES_FILE}")
    except YamlSyntaxError as exc:
        issues.append(exc.issue())
        return {}, False
    try:
        parsed = ResourcesDoc.model_validate(doc.data)
    except ValidationError as exc:
        report_schema_errors(issues, doc, exc, ResourcesDoc)
        return {}, False
    resources = build_resources(parsed)
    checks.check_resources(resources, doc, today, issues)
    return resources, True


def _read_classifier(flows_dir: Path, issues: Issues) -> Classifier | None:
    """The understanding model, if there is one. A broken or outdated model is reported and left
    out: the keywords keep working alone."""
    try:
        return load_classifier(flows_dir / MODEL_FILE)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        issues.add(M.UNUSABLE_MODEL, f"flows/{MODEL_FILE}", None, reason=exc)
        return None


# -- pydantic's complaints, as staff read them ------------------------------------------------------

_TYPE_MESSAGES = {"list_type": M.SCHEMA_NOT_LIST, "dict_type": M.SCHEMA_NOT_MAPPING, "model_type": M.SCHEMA_NOT_MAPPING,
                  "model_attributes_type": M.SCHEMA_NOT_MAPPING, "string_type": M.SCHEMA_NOT_TEXT,
                  "int_type": M.SCHEMA_NOT_WHOLE_NUMBER, "int_parsing": M.SCHEMA_NOT_WHOLE_NUMBER,
                  "int_from_float": M.SCHEMA_NOT_WHOLE_NUMBER, "float_type": M.SCHEMA_NOT_NUMBER,
                  "float_parsing": M.SCHEMA_NOT_NUMBER, "bool_type": M.SCHEMA_NOT_TRUE_FALSE,
                  "bool_parsing": M.SCHEMA_NOT_TRUE_FALSE}
_LIMITS = {"greater_than": ("gt", M.SCHEMA_TOO_SMALL, "more than {}"),
           "greater_than_equal": ("ge", M.SCHEMA_TOO_SMALL, "{} or more"),
           "less_than": ("lt", M.SCHEMA_TOO_LARGE, "less than {}"),
           "less_than_equal": ("le", M.SCHEMA_TOO_LARGE, "{} or less")}
_CUSTOM = {"next_and_branch": M.NEXT_AND_BRANCH, "state_name": M.BAD_STATE_NAME}


def report_schema_errors(issues: Issues, doc: YamlDocument, exc: ValidationError, model: type[BaseModel]) -> None:
    """F101 for each field pydantic refused, at its line, in plain words, in both languages."""
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = doc.line_of(loc)
        where = " → ".join(str(p) for p in loc) or "-"
        kind = err["type"]
        state = str(loc[1]) if len(loc) > 1 and loc[0] == "states" else None
        ctx = err.get("ctx") or {}
        value = err.get("input")
        if kind == "missing":
            parent = " → ".join(str(p) for p in loc[:-1])
            if parent:
                issues.add(M.SCHEMA_MISSING, doc.file, line, state, field=loc[-1], where=parent)
            else:
                issues.add(M.SCHEMA_MISSING_TOP, doc.file, line, state, field=loc[-1])
        elif kind == "extra_forbidden":
            known = _fields_at(model, loc[:-1])
            issues.add(M.SCHEMA_UNKNOWN_FIELD, doc.file, line, state, suggestion=did_you_mean(str(loc[-1]), known),
                       field=loc[-1], where=where)
        elif kind in _TYPE_MESSAGES:
            issues.add(_TYPE_MESSAGES[kind], doc.file, line, state, where=where)
        elif kind == "string_pattern_mismatch":
            issues.add(M.SCHEMA_BAD_NAME, doc.file, line, state, where=where, value=value)
        elif kind == "literal_error":
            allowed = str(ctx.get("expected", ""))
            options = [o.strip(" '\"") for o in allowed.replace(" or ", ",").split(",")]
            issues.add(M.SCHEMA_NOT_ALLOWED, doc.file, line, state, suggestion=did_you_mean(str(value), options),
                       where=where, value=value, allowed=allowed)
        elif kind in _LIMITS:
            key, message, phrase = _LIMITS[kind]
            issues.add(message, doc.file, line, state, where=where, value=value, limit=phrase.format(ctx.get(key)))
        elif kind in _CUSTOM:
            issues.add(_CUSTOM[kind], doc.file, line, state, **{k: v for k, v in ctx.items() if isinstance(v, str)})
        else:
            issues.add(M.SCHEMA_OTHER, doc.file, line, state, where=where, detail=err["msg"])


def _fields_at(model: Any, path: tuple) -> list[str]:
    """The field names pydantic accepts at ``path`` inside ``model`` (for "did you mean")."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[-1] if args else None
        while typing.get_origin(current) in (typing.Union, types.UnionType):
            current = next((a for a in typing.get_args(current) if a is not type(None)), None)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []
