"""What crosses the boundary between a platform adapter and the rest of the bot.

An adapter turns a platform event into an ``InboundEvent`` (stored in the durable inbox before
the platform is answered) and delivers an ``Outbound`` (one outbox row: the bubbles of one turn,
or a counsellor's message) back to the person.

Below the store (which keeps these in the inbox and the outbox) and every adapter: it imports
only the engine's reply types.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.engine.model import Choice, Link, Reply, UserInput

EventKind = Literal["start", "text", "tap", "media", "sticker", "location", "forget"]


@dataclass(frozen=True)
class InboundEvent:
    """One thing a person did on a platform.

    ``user_id`` is the raw platform id: it is used to compute the pseudonym and, encrypted,
    to push replies; it is never written in clear and never logged.
    """

    channel: str                 # "line", "discord", "web"
    event_id: str                # the platform's id for this event: the inbox dedupes on it
    user_id: str
    kind: EventKind
    text: str = ""
    choice: str = ""
    from_state: str | None = None
    locale_hint: str | None = None
    reply_token: str | None = None   # LINE: single use, valid about a minute
    received_at: float = 0.0         # epoch seconds
    origin: str | None = None        # web chat: a keyed hash of the sender's address (handoff limits)

    def to_input(self) -> UserInput:
        kind = "start" if self.kind == "forget" else self.kind
        return UserInput(kind, text=self.text, choice=self.choice, from_state=self.from_state,
                         locale_hint=self.locale_hint)

    def to_json(self) -> str:
        # The fields are plain values: vars() is asdict() without its deep copy (a hot path).
        return json.dumps(vars(self), ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_json(data: str) -> "InboundEvent":
        return InboundEvent(**json.loads(data))


@dataclass(frozen=True)
class Outbound:
    """What to send to one person in one delivery (one outbox row)."""

    replies: tuple[Reply, ...]
    reply_token: str | None = None
    received_at: float = 0.0          # when the inbound event arrived (reply tokens expire)
    retry_key: str = ""               # stable per outbox row: LINE's X-Line-Retry-Key
    kind: str = "turn"                # "turn", "counsellor", "notice", "waiting" (still queued)
    meta: dict[str, Any] = field(default_factory=dict)
    # Set by the outbox, not stored in the payload: an earlier attempt ended without a known
    # outcome (a timeout, a 5xx, a sender that died), so the platform may have it already.
    may_have_arrived: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "replies": [
                    {"text": r.text, "key": r.key,
                     "choices": [[c.id, c.label] for c in r.choices],
                     "links": [[l.label, l.url, l.resource, l.open_now, l.hours] for l in r.links]}
                    for r in self.replies
                ],
                "reply_token": self.reply_token, "received_at": self.received_at,
                "retry_key": self.retry_key, "kind": self.kind, "meta": self.meta,
            },
            ensure_ascii=False, separators=(",", ":"),
        )

    @staticmethod
    def from_json(data: str) -> "Outbound":
        d = json.loads(data)
        replies = tuple(
            Reply(r["text"], r.get("key", ""), tuple(Choice(*c) for c in r.get("choices", ())),
                  tuple(Link(*l) for l in r.get("links", ())))
            for r in d["replies"]
        )
        return Outbound(replies, d.get("reply_token"), d.get("received_at", 0.0), d.get("retry_key", ""),
                        d.get("kind", "turn"), d.get("meta") or {})


@dataclass(frozen=True)
class DeliveryResult:
    """``sent``; or ``retry`` after ``retry_after`` seconds (429, 5xx, network); or ``failed`` for good.
    ``may_have_arrived``: a retry whose request may have reached the platform (a timeout, a 5xx,
    a connection lost after sending), as opposed to one refused or never sent (429, no connection)."""

    status: Literal["sent", "retry", "failed"]
    retry_after: float | None = None
    reason: str = ""   # a code such as "http_429", never content
    may_have_arrived: bool = False


class Channel(Protocol):
    """A platform the bot can deliver to. Implemented by line.py, discord.py, web.py, memory.py."""

    name: str

    async def deliver(self, user_id: str, outbound: Outbound) -> DeliveryResult: ...
