"""What the engine works with at run time: compiled flows, sessions, inputs and turns.

Everything here is immutable; a turn never changes a session, it returns a new one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .flow import FlowTexts
from .classifier import Classifier
from .intents import IntentMatcher, KeywordIndex
from .machine import FlowMachine
from .resources import Resource

PATH_LIMIT = 40  # states remembered per session, for the counsellor's context packet
FRAGMENT_SECONDS = 300  # an unmatched message is read again with the next ones for this long
MAX_FRAGMENTS = 2       # ... joined with at most this many earlier messages
FRAGMENT_CHARS = 300    # ... each kept to this length


# ---- inputs -------------------------------------------------------------------------------------

InputKind = Literal["start", "text", "tap", "media", "sticker", "location"]


@dataclass(frozen=True)
class UserInput:
    """One thing the person did. ``choice`` for taps, ``text`` for typed messages."""

    kind: InputKind
    text: str = ""
    choice: str = ""
    from_state: str | None = None  # the state whose button was tapped, when the platform keeps it
    locale_hint: str | None = None

    @staticmethod
    def typed(text: str, locale_hint: str | None = None) -> "UserInput":
        return UserInput("text", text=text, locale_hint=locale_hint)

    @staticmethod
    def tapped(choice: str, from_state: str | None = None) -> "UserInput":
        return UserInput("tap", choice=choice, from_state=from_state)


# ---- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class Link:
    """A phone number (``tel:``) or web address to tap; ``open_now`` is None when unknown."""

    label: str
    url: str
    resource: str = ""
    open_now: bool | None = None
    hours: str = ""


@dataclass(frozen=True)
class Reply:
    """One speech bubble. ``key`` is the locale key it was rendered from."""

    text: str
    key: str = ""
    choices: tuple[Choice, ...] = ()
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Effect:
    """Something only the shell can do: ``handoff``, ``forget_me``, ``set_locale``, ``end``."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dict(self.params)}


@dataclass(frozen=True)
class Session:
    """The engine's memory of one conversation.

    It keeps the state, language, choices and states visited, and two things the person wrote:
    ``fragments``, their last one or two messages that matched nothing, for at most
    ``FRAGMENT_SECONDS`` (a story typed in pieces is read whole), and nothing else. The store
    encrypts it at rest.
    """

    state: str
    locale: str
    flow_version: str
    variables: Mapping[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    started_at: float = 0.0
    last_active_at: float = 0.0
    risk: tuple[str, ...] = ()
    misses: int = 0                               # fallbacks in a row
    resume: str = ""                              # where "@resume" leads after a detour
    fragments: tuple[tuple[float, str], ...] = ()  # (time, text) of recent unmatched messages
    # What led into a crisis or an emergency (set by the shell, ``bot.turns.plan``): each entry
    # ``(matched, state before, *keywords as staff wrote them)``; the last few, never typed text.
    triggers: tuple[tuple[str, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {
            "state": self.state,
            "locale": self.locale,
            "flow_version": self.flow_version,
            "variables": dict(self.variables),
            "path": list(self.path),
            "started_at": self.started_at,
            "last_active_at": self.last_active_at,
            "risk": list(self.risk),
        }
        if self.misses:
            data["misses"] = self.misses
        if self.resume:
            data["resume"] = self.resume
        if self.fragments:
            data["fragments"] = [list(f) for f in self.fragments]
        if self.triggers:
            data["triggers"] = [list(t) for t in self.triggers]
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Session":
        fragments = []
        for item in data.get("fragments") or ():
            try:
                fragments.append((float(item[0]), str(item[1])))
            except (TypeError, ValueError, IndexError):
                continue
        return Session(
            state=str(data.get("state", "")),
            locale=str(data.get("locale", "")),
            flow_version=str(data.get("flow_version", "")),
            variables=dict(data.get("variables") or {}),
            path=tuple(data.get("path") or ()),
            started_at=float(data.get("started_at") or 0.0),
            last_active_at=float(data.get("last_active_at") or 0.0),
            risk=tuple(data.get("risk") or ()),
            misses=int(data.get("misses") or 0),
            resume=str(data.get("resume") or ""),
            fragments=tuple(fragments),
            triggers=tuple(tuple(str(x) for x in t) for t in data.get("triggers") or () if isinstance(t, (list, tuple))),
        )


@dataclass(frozen=True)
class Turn:
    """What one input produced: the new session, the bubbles to send, the effects for the shell."""

    session: Session
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...]
    matched: str
    tags: tuple[str, ...]
    entered: tuple[str, ...] = ()  # states entered during this turn, in order
    # Every tag of every state entered this turn (for figures: "reached the evidence steps").
    entered_tags: frozenset[str] = frozenset()
    because: tuple[str, ...] = ()  # the keywords that made the chosen intent match, as staff wrote them


# ---- compiled flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A locale text with resource placeholders already filled; ``{variables}`` filled per turn."""

    template: str
    has_variables: bool

    def render(self, variables: Mapping[str, str]) -> str:
        if not self.has_variables:
            return self.template
        return self.template.format_map(_Blank(variables))


class _Blank(dict):
    def __init__(self, variables: Mapping[str, str]):
        super().__init__(variables)

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class CompiledChoice:
    id: str
    label_key: str
    target: str
    sets: tuple[tuple[str, str], ...]
    folded_labels: tuple[str, ...]  # normalised labels in every locale, for typed answers
    trigger: str = ""               # its move in ``Flow.machine``, which says where it leads


@dataclass(frozen=True)
class CompiledRoute:
    matcher: IntentMatcher
    target: str
    sets: tuple[tuple[str, str], ...]
    trigger: str = ""


@dataclass(frozen=True)
class CompiledInterrupt:
    name: str
    matcher: IntentMatcher
    target: str | None
    set_locale: str | None
    trigger: str = ""


@dataclass(frozen=True)
class CompiledState:
    name: str
    say: tuple[str, ...]
    tags: tuple[str, ...]
    links: tuple[str, ...]
    choices: tuple[CompiledChoice, ...]
    choice_by_id: Mapping[str, CompiledChoice]
    routes: tuple[CompiledRoute, ...]
    fallback: str | None
    next: str | None
    branch_var: str | None
    branch_cases: Mapping[str, str]
    branch_default: str | None
    effects: tuple[Effect, ...]
    end: bool
    offers_human: bool  # one of its choices already leads to a person
    say_again: tuple[str, ...] = ()  # said instead of ``say`` when the state was entered before
    ack: str | None = None           # the choice an acknowledgement ("うん", "ok") takes here
    asks: frozenset[str] = frozenset()  # variables its choices set (age_band: it asks the age)
    is_detour: bool = False          # a choice leads to "@resume": entering it remembers the way back
    moves_on: bool = False           # says its text, then moves on by itself (``next`` or ``branch``)


@dataclass(frozen=True)
class Flow:
    name: str
    version: str
    file: str
    start: str
    human_state: str
    handoff_return: str | None
    default_locale: str
    locales: tuple[str, ...]
    expiry_seconds: float
    max_auto_moves: int
    texts: FlowTexts
    states: Mapping[str, CompiledState]
    interrupts: tuple[CompiledInterrupt, ...]
    global_routes: tuple[CompiledRoute, ...]
    catalog: Mapping[str, Mapping[str, Text]]  # locale -> key -> text
    resources: Mapping[str, Resource]
    machine: FlowMachine
    keywords: KeywordIndex
    unique_choices: Mapping[str, str] = field(default_factory=dict)  # choice id -> its only state
    resume_default: str | None = None   # where "@resume" leads when there is nothing to resume
    other_language: str | None = None   # the state for a message in a language the bot does not speak
    ack_intent: str = "ack"
    routed_intents: frozenset[str] = frozenset()   # intents of the flow's interrupts and global routes
    classifier: "Classifier | None" = None   # the statistical net under the keywords (classifier.py)
    model_crisis: str | None = None          # where it sends a message that reads like a crisis
    model_emergency: str | None = None       # ... and one that reads like harm happening now
    aliases: Mapping[str, str] = field(default_factory=dict)  # a renamed state's old name -> its name now
    # What a turn works out the same way every time from this flow alone (a state's buttons in a
    # language): kept here, per flow version, by the engine's own functions.
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    # Texts the code asks for that this version lacks (a version published before an upgrade
    # added them): the repository's catalog, locale -> key -> text (``bot.reload``).
    fallback: Mapping[str, Mapping[str, Text]] = field(default_factory=dict, compare=False, repr=False)

    def state_named(self, name: str) -> str:
        """``name``, or the state it was renamed to (``aliases``); "" for neither."""
        if name in self.states:
            return name
        renamed = self.aliases.get(name, "")
        return renamed if renamed in self.states else ""

    def text(self, locale: str, key: str, variables: Mapping[str, str] = {}) -> str:
        """The text in ``locale``, else in the default locale; a key this version lacks altogether
        comes from ``fallback`` (in ``locale``, Japanese, then English); else the key itself."""
        entry = self.catalog.get(locale, {}).get(key) or self.catalog[self.default_locale].get(key)
        if entry is None and self.fallback:
            entry = next((found for lang in (locale, "ja", "en")
                          if (found := self.fallback.get(lang, {}).get(key)) is not None), None)
        return entry.render(variables) if entry is not None else key

    def matching_interrupts(self, text: str) -> tuple["CompiledInterrupt", ...]:
        """The interrupts whose intent ``text`` matches, in the flow's order (for the shell, e.g.
        to notice a crisis while a counsellor has the conversation)."""
        from .normalise import normalise
        from .tokens import tokenize

        scan = self.keywords.scan(tokenize(text))
        spaced = normalise(text[:2000])
        return tuple(it for it in self.interrupts if it.matcher.matches(scan, spaced))

    def pick_locale(self, hint: str | None) -> str:
        if hint:
            short = hint.replace("_", "-").split("-")[0].lower()
            if short in self.locales:
                return short
        return self.default_locale


def utc(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
