"""Why the bot answered as it did: one turn of the engine, with what decided it, for the editor.

``try_message`` runs the engine's own ``step`` (the same matcher, in the same order as the bot)
on a flow, from a state or as a first message, and says which rule matched (a button, an
intent and its keyword, an interrupt, an age, an acknowledgement, the model, the fallback), the
keywords that decided, what else the message's words matched, what was negated or cancelled by
an idiom, and the state reached. ``preview_turn`` is the same for the preview chat, whose
session the browser keeps (nothing is stored). Pure: the caller passes ``now``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from .flow import FALLBACK
from .model import Flow, Session, Turn, UserInput
from .turn import enter, new_session, read_message, step

KINDS = ("choice", "intent", "interrupt", "age", "model", "ack", "fallback", "start", "other_language", "restart")


def rule_kind(matched: str) -> str:
    """``intent:pay_question`` -> ``intent``; ``fallback``, ``ack`` and the rest as they are."""
    head = matched.split(":", 1)[0]
    if matched == FALLBACK:
        return "fallback"
    return head if head in KINDS else matched


@dataclass(frozen=True)
class Explained:
    matched: str                 # the turn's rule: "interrupt:crisis", "intent:pay_question", "fallback"...
    kind: str                    # choice | intent | interrupt | age | model | ack | fallback | ...
    because: tuple[str, ...]     # the keywords that made the rule's intent match, as written
    state: str                   # where the conversation is after the turn
    entered: tuple[str, ...]
    replies: tuple[dict[str, Any], ...]
    found: dict[str, tuple[str, ...]]       # every intent the words matched, with its keywords
    negated: tuple[str, ...]                # intents whose keywords stood only negated
    cancelled: dict[str, tuple[str, ...]]   # intents cancelled by an idiom or "unless" word
    session: Session

    def as_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "kind": self.kind, "because": list(self.because), "state": self.state,
                "entered": list(self.entered), "replies": list(self.replies),
                "found": {k: list(v) for k, v in self.found.items()}, "negated": list(self.negated),
                "cancelled": {k: list(v) for k, v in self.cancelled.items()}}


def session_at(flow: Flow, state: str | None, locale: str, now: dt.datetime) -> Session | None:
    """A conversation standing in ``state`` (None: none yet, the message is the first)."""
    if not state:
        return None
    fresh = new_session(flow, flow.pick_locale(locale), now)
    if state not in flow.states:
        return fresh
    return dataclasses.replace(fresh, state=state, path=(state,))


def _replies(turn: Turn) -> tuple[dict[str, Any], ...]:
    return tuple({"text": r.text, "key": r.key,
                  "choices": [{"id": c.id, "label": c.label} for c in r.choices],
                  "links": [{"label": link.label, "url": link.url, "open": link.open_now} for link in r.links]}
                 for r in turn.replies)


def _explain(flow: Flow, turn: Turn, text: str) -> Explained:
    scan = read_message(flow, text).scan if text else None
    return Explained(turn.matched, rule_kind(turn.matched), tuple(turn.because), turn.session.state, tuple(turn.entered),
                     _replies(turn), dict(scan.found) if scan else {}, tuple(sorted(scan.negated)) if scan else (),
                     dict(scan.cancelled) if scan else {}, turn.session)


def try_message(flow: Flow, text: str, locale: str, state: str | None, now: dt.datetime) -> Explained:
    """What ``text`` typed in ``state`` (or as a first message) does, and why."""
    session = session_at(flow, state, locale, now)
    turn = step(flow, session, UserInput.typed(text, locale), now)
    return _explain(flow, turn, text)


def preview_turn(flow: Flow, session: Session | None, user_input: UserInput, now: dt.datetime) -> Explained:
    """One turn of the preview chat: the engine's step on the session the browser sent back."""
    turn = step(flow, session, user_input, now)
    return _explain(flow, turn, user_input.text if user_input.kind == "text" else "")


def enter_state(flow: Flow, state: str, locale: str, now: dt.datetime) -> Explained:
    """The preview started from ``state``: what the bot says on entering it (matched "resume")."""
    session = session_at(flow, state, locale, now) or new_session(flow, flow.pick_locale(locale), now)
    return _explain(flow, enter(flow, session, state, now), "")
