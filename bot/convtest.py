"""Conversation tests written in YAML by NGO staff, run by ``python -m bot test`` and by pytest.

A file::

    flow: first_contact
    locales: [ja, en]
    conversations:
      - name: crisis from the welcome
        steps:
          - start: true
            expect: {state: welcome, choices_include: [talk_to_person]}
          - say: {ja: 死にたい, en: I want to die}
            expect: {matched: "interrupt:crisis", tags: [crisis]}
          - tap: talk_to_person
            expect: {effects: [handoff]}

Steps: ``start: true``, ``say: text`` (or one text per locale), ``tap: choice_id`` (a button the
bot just offered; ``from_state: <state>`` for a button of an earlier message), ``event:
media|sticker|location``, ``handoff_closed: true`` (a counsellor hands back: the flow resumes at
its ``handoff_return``), optionally ``wait_hours: N`` or ``at: <ISO time>`` before the step.

Expectations: ``state``, ``matched``, ``locale``; ``tags`` (each among the tags of the states
entered this turn), ``said`` (locale keys), ``not_said``, ``text`` (pieces of the bubbles),
``effects`` (types), ``links`` (resource ids shown), ``open_now`` and ``closed_now`` (resource ids
shown as open or closed at the step's time); ``choices`` (exactly these buttons, no others) and
``choices_include`` (at least these buttons: adding a button to the flow does not break it). Any
value can be one per locale (``{ja: ..., en: ...}``), also inside a list.

A ``tap:`` of a button the bot did not offer fails with that alone, and the conversation stops
there. ``--update`` rewrites the failing expectations from what the bot does now
(``convupdate.update_files``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.engine import Bundle, Flow, Session, Turn, UserInput, enter, step
from bot.engine.errors import did_you_mean
from bot.engine.flow import HUMAN_CHOICE_ID
from bot.engine.yamlsource import YamlSyntaxError, read_yaml

# Conversations happen at 2am in Tokyo unless a step says otherwise: that is when people write.
DEFAULT_START = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
STEP_SECONDS = 30
EXACT_KEYS = ("state", "matched", "locale")
SUBSET_KEYS = ("tags", "said", "effects", "links", "open_now", "closed_now", "choices_include")
EXPECT_KEYS = set(EXACT_KEYS) | set(SUBSET_KEYS) | {"not_said", "text", "choices"}

WORDS = {
    "en": {"tap_missing": 'tap: "{choice}" is not a button here; the bot offers {offered}.',
           "tap_first": 'tap: "{choice}" comes before the bot has offered any button. Start with start: true or say:.',
           "suggest": ' Did you mean "{suggestion}"?',
           "no_input": "a step needs start, say, tap, event or handoff_closed",
           "unknown_expectation": "unknown expectation", "unknown_flow": "unknown flow",
           "not_yaml": "the test file is not valid YAML", "nothing": "nothing"},
    "ja": {"tap_missing": "tap: 「{choice}」はここにはないボタンです。ボットが出しているのは {offered} です。",
           "tap_first": "tap: 「{choice}」の前に、ボットはまだボタンを出していません。start: true か say: から始めてください。",
           "suggest": "「{suggestion}」のまちがいではありませんか？",
           "no_input": "手順には start、say、tap、event、handoff_closed のどれかが必要です",
           "unknown_expectation": "知らない確認項目", "unknown_flow": "知らないフロー",
           "not_yaml": "テストのファイルが正しい YAML ではありません", "nothing": "なし"},
}


@dataclass
class Failure:
    file: str
    line: int | None
    conversation: str
    locale: str
    step: int
    what: str
    expected: Any = None
    got: Any = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        head = f"FAIL {where} [{self.locale}] {self.conversation!r}, step {self.step}: {self.what}"
        if self.expected is None and self.got is None:
            return head
        return f"{head}\n    expected: {self.expected!r}\n    got:      {self.got!r}"


@dataclass(frozen=True)
class Revision:
    """One expectation the bot no longer meets (or a step with none), and what the bot did
    (``observe``): what ``--update`` rewrites."""

    conversation: int
    step: int
    locale: str
    key: str
    seen: dict


@dataclass
class Report:
    conversations: int = 0
    steps: int = 0
    failures: list[Failure] = field(default_factory=list)
    visited: dict[str, set[str]] = field(default_factory=dict)  # flow -> states entered
    revisions: dict[str, list[Revision]] = field(default_factory=dict)  # file -> what --update changes

    def coverage(self, bundle: Bundle) -> dict[str, float]:
        out = {}
        for name, flow in bundle.flows.items():
            seen = self.visited.get(name, set())
            out[name] = 100.0 * len(seen & set(flow.states)) / max(1, len(flow.states))
        return out

    def unvisited(self, bundle: Bundle) -> dict[str, list[str]]:
        return {name: sorted(set(flow.states) - self.visited.get(name, set())) for name, flow in bundle.flows.items()}


def per_locale(value: Any, locale: str) -> Any:
    """``{ja: a, en: b}`` -> the locale's value; any other value as it is."""
    if isinstance(value, dict) and value and all(isinstance(k, str) and len(k) <= 3 for k in value):
        return value.get(locale)
    return value


def wanted(raw: Any, locale: str) -> Any:
    """An expectation's value for ``locale``, per-locale items of a list resolved too."""
    want = per_locale(raw, locale)
    if isinstance(want, list):
        want = [w for w in (per_locale(item, locale) for item in want) if w is not None]
    return want


def observe(turn: Turn) -> dict[str, Any]:
    """What one turn did, in the terms of the expectations."""
    links = [link for r in turn.replies for link in r.links]
    return {
        "state": turn.session.state, "matched": turn.matched, "locale": turn.session.locale,
        "tags": sorted(set(turn.entered_tags) | set(turn.tags)),
        "said": [r.key for r in turn.replies], "texts": [r.text for r in turn.replies if r.text],
        "effects": [e.type for e in turn.effects], "choices": [c.id for r in turn.replies for c in r.choices],
        "links": [link.resource for link in links],
        "open_now": [link.resource for link in links if link.open_now is True],
        "closed_now": [link.resource for link in links if link.open_now is False],
    }


def check(expect: dict, seen: dict[str, Any], locale: str) -> list[tuple[str, Any, Any]]:
    """(key, expected, got) for each expectation ``seen`` does not meet."""
    problems = []
    texts = "\n".join(seen["texts"])
    for key, raw in expect.items():
        want = wanted(raw, locale)
        if want is None or key not in EXPECT_KEYS:
            continue
        if key in EXACT_KEYS:
            if seen[key] != want:
                problems.append((key, want, seen[key]))
        elif key == "choices":
            if set(_list(want)) != set(seen["choices"]):
                problems.append((key, sorted(_list(want)), sorted(seen["choices"])))
        elif key == "not_said":
            if [k for k in _list(want) if k in seen["said"]]:
                problems.append((key, _list(want), seen["said"]))
        elif key == "text":
            missing = [str(piece) for piece in _list(want) if str(piece) not in texts]
            if missing:
                problems.append((key, missing, texts[:300]))
        else:
            have = seen["choices" if key == "choices_include" else key]
            if [w for w in _list(want) if w not in have]:
                problems.append((key, _list(want), have))
    return problems


def _list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _input_for(step_doc: dict, locale: str) -> UserInput:
    if step_doc.get("start"):
        return UserInput("start", locale_hint=locale)
    if "say" in step_doc:
        text = per_locale(step_doc["say"], locale)
        return UserInput.typed(str(text) if text is not None else "", locale_hint=locale)
    if "tap" in step_doc:
        return UserInput.tapped(str(step_doc["tap"]), step_doc.get("from_state"))
    if step_doc.get("handoff_closed"):
        return UserInput("start", text="handoff_closed")
    if "event" in step_doc:
        return UserInput(str(step_doc["event"]), locale_hint=locale)
    raise ValueError("no_input")


def missing_button(flow: Flow, user_input: UserInput, offered: list[str] | None, lang: str) -> str | None:
    """Why a tap cannot happen (the button is not on screen), or None. "Talk to a person" works
    from anywhere; ``from_state`` names an earlier message whose buttons are still tappable."""
    choice = user_input.choice
    if choice == HUMAN_CHOICE_ID:
        return None
    if user_input.from_state:
        older = flow.states.get(user_input.from_state)
        if older is not None and choice in older.choice_by_id:
            return None
        offered = [c.id for c in older.choices] if older else []
    elif offered is None:
        return WORDS[lang]["tap_first"].format(choice=choice)
    elif choice in offered:
        return None
    text = WORDS[lang]["tap_missing"].format(choice=choice, offered=", ".join(offered) or WORDS[lang]["nothing"])
    suggestion = did_you_mean(choice, offered)
    return text + (WORDS[lang]["suggest"].format(suggestion=suggestion) if suggestion else "")


def run_file(bundle: Bundle, path: Path, report: Report, update: bool = False, lang: str = "en") -> None:
    """Run one file in each of its locales; with ``update``, note what ``--update`` would change."""
    name, words = str(path), WORDS[lang]
    try:
        doc = read_yaml(path, name)
    except YamlSyntaxError as exc:
        issue = exc.issue()
        report.failures.append(Failure(name, exc.line, "-", "-", 0, f"{words['not_yaml']}: {issue.text(lang)}"))
        return
    data = doc.data if isinstance(doc.data, dict) else {}
    flow_name = data.get("flow")
    if flow_name not in bundle.flows:
        report.failures.append(Failure(name, doc.line_of(("flow",)), "-", "-", 0, words["unknown_flow"],
                                       sorted(bundle.flows), flow_name))
        return
    flow = bundle.flows[flow_name]
    visited = report.visited.setdefault(flow_name, set())
    revisions = report.revisions.setdefault(name, [])
    file_locales = data.get("locales") or [flow.default_locale]
    for ci, conv in enumerate(data.get("conversations") or []):
        title = str(conv.get("name", f"conversation {ci + 1}"))
        report.conversations += 1
        for locale in conv.get("locales") or file_locales:
            session: Session | None = None
            offered: list[str] | None = None
            last: tuple[int, dict] | None = None  # (step, what the bot did) of the last step run
            checked = False
            now = DEFAULT_START
            for si, step_doc in enumerate(conv.get("steps") or []):
                line = doc.line_of(("conversations", ci, "steps", si))
                if "at" in step_doc:
                    now = dt.datetime.fromisoformat(str(step_doc["at"]))
                now += dt.timedelta(hours=float(step_doc.get("wait_hours", 0)), seconds=STEP_SECONDS)
                try:
                    user_input = _input_for(step_doc, locale)
                except ValueError:
                    report.failures.append(Failure(name, line, title, locale, si + 1, words["no_input"], None, step_doc))
                    break
                if user_input.kind == "tap":
                    why = missing_button(flow, user_input, offered, lang)
                    if why:
                        report.failures.append(Failure(name, line, title, locale, si + 1, why))
                        break
                if step_doc.get("handoff_closed") and session is not None:
                    turn = enter(flow, session, flow.handoff_return or flow.start, now)
                else:
                    turn = step(flow, session, user_input, now)
                session = turn.session
                report.steps += 1
                visited.update(turn.entered)
                visited.add(turn.session.state)
                seen = observe(turn)
                offered = seen["choices"]
                expect = step_doc.get("expect") or {}
                last, checked = (si, seen), checked or bool(expect)
                unknown = set(expect) - EXPECT_KEYS
                if unknown:
                    report.failures.append(Failure(name, line, title, locale, si + 1, words["unknown_expectation"],
                                                   sorted(EXPECT_KEYS), sorted(unknown)))
                for what, want, got in check(expect, seen, locale):
                    if update:
                        revisions.append(Revision(ci, si, locale, what, seen))
                    else:
                        report.failures.append(Failure(name, line, title, locale, si + 1, what, want, got))
            if update and not checked and last is not None:
                # A conversation that checks nothing gets where it ends; its other steps stay bare.
                revisions += [Revision(ci, last[0], locale, key, last[1]) for key in ("state", "matched")]


def default_files(root: Path) -> list[Path]:
    return sorted((root / "tests" / "conversations").glob("*.yaml"))


def run_files(bundle: Bundle, files: list[Path], update: bool = False, lang: str = "en") -> Report:
    """Run ``files``, collecting with ``update`` what ``convupdate.update_files`` rewrites."""
    report = Report()
    for path in files:
        run_file(bundle, path, report, update, lang)
    return report
