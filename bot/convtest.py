"""Conversation tests written in YAML by NGO staff, run by ``python -m bot test`` and by pytest.

A file::

    flow: first_contact
    locales: [ja, en]
    conversations:
      - name: crisis from the welcome
        steps:
          - start: true
            expect: {state: welcome}
          - say: {ja: 死にたい, en: I want to die}
            expect: {matched: "interrupt:crisis", tags: [crisis]}
          - tap: talk_to_person
            expect: {effects: [handoff]}

Steps: ``start: true``, ``say: text`` (or one text per locale), ``tap: choice_id``,
``event: media|sticker|location``, ``handoff_closed: true`` (a counsellor hands back: the flow
resumes at its ``handoff_return``), optionally ``wait_hours: N`` or ``at: <ISO time>`` before the step.
Expectations: ``state``, ``matched``, ``tags`` (each among the tags of the states entered this turn),
``said`` (locale keys), ``not_said``, ``text`` (a substring of some bubble), ``effects`` (types),
``choices`` (the exact set of choice ids offered), ``links`` (resource ids shown), ``open_now`` and
``closed_now`` (resource ids shown as open or closed at the step's time), ``locale``. Any value can
be one per locale (``{ja: ..., en: ...}``), also inside a list.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.engine import Bundle, Session, Turn, UserInput, enter, step
from bot.engine.yamlsource import YamlSyntaxError, read_yaml

# Conversations happen at 2am in Tokyo unless a step says otherwise: that is when people write.
DEFAULT_START = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
STEP_SECONDS = 30
EXPECT_KEYS = {"state", "matched", "tags", "said", "not_said", "text", "effects", "choices", "links", "locale",
               "open_now", "closed_now"}


@dataclass
class Failure:
    file: str
    line: int | None
    conversation: str
    locale: str
    step: int
    what: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (f"FAIL {where} [{self.locale}] {self.conversation!r}, step {self.step}: {self.what}\n"
                f"    expected: {self.expected!r}\n    got:      {self.got!r}")


@dataclass
class Report:
    conversations: int = 0
    steps: int = 0
    failures: list[Failure] = field(default_factory=list)
    visited: dict[str, set[str]] = field(default_factory=dict)  # flow -> states entered

    def coverage(self, bundle: Bundle) -> dict[str, float]:
        out = {}
        for name, flow in bundle.flows.items():
            seen = self.visited.get(name, set())
            out[name] = 100.0 * len(seen & set(flow.states)) / max(1, len(flow.states))
        return out

    def unvisited(self, bundle: Bundle) -> dict[str, list[str]]:
        return {name: sorted(set(flow.states) - self.visited.get(name, set())) for name, flow in bundle.flows.items()}


def _per_locale(value: Any, locale: str) -> Any:
    if isinstance(value, dict) and value and all(isinstance(k, str) and len(k) <= 3 for k in value):
        return value.get(locale)
    return value


def _input_for(step_doc: dict, locale: str) -> UserInput:
    if step_doc.get("start"):
        return UserInput("start", locale_hint=locale)
    if "say" in step_doc:
        text = _per_locale(step_doc["say"], locale)
        return UserInput.typed(str(text) if text is not None else "", locale_hint=locale)
    if "tap" in step_doc:
        return UserInput.tapped(str(step_doc["tap"]), step_doc.get("from_state"))
    if step_doc.get("handoff_closed"):
        return UserInput("start", text="handoff_closed")
    if "event" in step_doc:
        return UserInput(str(step_doc["event"]), locale_hint=locale)
    raise ValueError("a step needs start, say, tap or event")


def _check(turn: Turn, expect: dict, locale: str) -> list[tuple[str, Any, Any]]:
    problems = []
    all_tags = set(turn.entered_tags) | set(turn.tags)
    said = [r.key for r in turn.replies]
    texts = "\n".join(r.text for r in turn.replies)
    offered = {c.id for r in turn.replies for c in r.choices}
    shown = [l.resource for r in turn.replies for l in r.links]
    open_now = [l.resource for r in turn.replies for l in r.links if l.open_now is True]
    closed_now = [l.resource for r in turn.replies for l in r.links if l.open_now is False]
    for key, raw in expect.items():
        want = _per_locale(raw, locale)
        if isinstance(want, list):
            want = [w for w in (_per_locale(item, locale) for item in want) if w is not None]
        if want is None:
            continue
        if key == "state" and turn.session.state != want:
            problems.append(("state", want, turn.session.state))
        elif key == "matched" and turn.matched != want:
            problems.append(("matched", want, turn.matched))
        elif key == "locale" and turn.session.locale != want:
            problems.append(("locale", want, turn.session.locale))
        elif key == "tags":
            missing = [t for t in _list(want) if t not in all_tags]
            if missing:
                problems.append(("tags", _list(want), sorted(all_tags)))
        elif key == "said":
            if [k for k in _list(want) if k not in said]:
                problems.append(("said", _list(want), said))
        elif key == "not_said":
            if [k for k in _list(want) if k in said]:
                problems.append(("not said", _list(want), said))
        elif key == "text":
            for piece in _list(want):
                if str(piece) not in texts:
                    problems.append(("text", piece, texts[:300]))
        elif key == "effects":
            types = [e.type for e in turn.effects]
            if [t for t in _list(want) if t not in types]:
                problems.append(("effects", _list(want), types))
        elif key == "choices":
            if set(_list(want)) != offered:
                problems.append(("choices", sorted(_list(want)), sorted(offered)))
        elif key == "links":
            if [r for r in _list(want) if r not in shown]:
                problems.append(("links", _list(want), shown))
        elif key == "open_now":
            if [r for r in _list(want) if r not in open_now]:
                problems.append(("open now", _list(want), open_now))
        elif key == "closed_now":
            if [r for r in _list(want) if r not in closed_now]:
                problems.append(("closed now", _list(want), closed_now))
    return problems


def _list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def run_file(bundle: Bundle, path: Path, report: Report, update: bool = False) -> None:
    name = str(path)
    try:
        doc = read_yaml(path, name)
    except YamlSyntaxError as exc:
        report.failures.append(Failure(name, exc.line, "-", "-", 0, "the test file is not valid YAML", "", exc.problem))
        return
    data = doc.data or {}
    flow_name = data.get("flow")
    if flow_name not in bundle.flows:
        report.failures.append(Failure(name, doc.line_of(("flow",)), "-", "-", 0, "unknown flow", sorted(bundle.flows), flow_name))
        return
    flow = bundle.flows[flow_name]
    visited = report.visited.setdefault(flow_name, set())
    file_locales = data.get("locales") or [flow.default_locale]
    for ci, conv in enumerate(data.get("conversations") or []):
        title = str(conv.get("name", f"conversation {ci + 1}"))
        report.conversations += 1
        for li, locale in enumerate(conv.get("locales") or file_locales):
            session: Session | None = None
            now = DEFAULT_START
            for si, step_doc in enumerate(conv.get("steps") or []):
                line = doc.line_of(("conversations", ci, "steps", si))
                if "at" in step_doc:
                    now = dt.datetime.fromisoformat(str(step_doc["at"]))
                now += dt.timedelta(hours=float(step_doc.get("wait_hours", 0)), seconds=STEP_SECONDS)
                try:
                    user_input = _input_for(step_doc, locale)
                except ValueError as exc:
                    report.failures.append(Failure(name, line, title, locale, si + 1, str(exc), "", step_doc))
                    break
                if step_doc.get("handoff_closed") and session is not None:
                    turn = enter(flow, session, flow.handoff_return or flow.start, now)
                else:
                    turn = step(flow, session, user_input, now)
                session = turn.session
                report.steps += 1
                visited.update(turn.entered)
                visited.add(turn.session.state)
                expect = step_doc.get("expect") or {}
                unknown = set(expect) - EXPECT_KEYS
                if unknown:
                    report.failures.append(Failure(name, line, title, locale, si + 1, "unknown expectation", sorted(EXPECT_KEYS), sorted(unknown)))
                if update and li == 0:
                    expect = dict(expect)
                    expect.update({"matched": turn.matched, "state": turn.session.state})
                    step_doc["expect"] = expect
                    continue
                for what, want, got in _check(turn, expect, locale):
                    report.failures.append(Failure(name, line, title, locale, si + 1, what, want, got))
    if update:
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")


def default_files(root: Path) -> list[Path]:
    return sorted((root / "tests" / "conversations").glob("*.yaml"))


def run_files(bundle: Bundle, files: list[Path], update: bool = False) -> Report:
    report = Report()
    for path in files:
        run_file(bundle, path, report, update)
    return report
