"""Plan a turn: from the flow, the conversation as loaded, its open handoff, the event and the
clock, what the one transaction of the batch must write. No I/O here (the ids and retry keys are
random, nothing else varies), so every rule of a turn is tested without a database.

A plan holds: the session to write (or none), the replies for the outbox, the daily figures,
the text the person typed (kept sealed and bounded for the counsellor who may take a handoff:
``bot.store.said``), and at most one of the handoff's changes (open a handoff, relay the message
to the transcript, leave the queue) and forgetting. ``bot.store.turnwrites`` writes the plans of a batch with one
statement per table; the runtime runs the hooks and logs after the commit.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from bot.engine import HUMAN_CHOICE_ID, Flow, Reply, Session, enter, step
from bot.engine.normalise import normalise
from bot.engine.turn import RISK_TAGS, read_message
from bot.envelope import InboundEvent, Outbound

QUEUED = "queued"            # a handoff's status while nobody has taken it (bot.store.models)
BACK_TO_BOT = "handoff_back"  # choice id of the notices' button: leave the queue, back to the bot
BACK_TO_BOT_KEY = "console.person.back_to_bot"
SAFETY_KEY = "shell.safety_message"
RELAY, ENGINE, LEAVE = "relay", "engine", "leave"   # what a message during a handoff does
RELAY_CRISIS = "relay:crisis"   # a trigger: crisis words written during a handoff
MEDIA_KEYS = ("media", "sticker", "location")


def new_id() -> str:
    """A random id: what logs, the console and the outbox use to refer to a conversation."""
    return uuid.uuid4().hex


def new_retry_key() -> str:
    """128 random bits as 32 hex digits (as ``uuid4().hex``, without building a UUID each turn)."""
    return secrets.token_hex(16)


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def local_day(ts: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz)).date().isoformat()


@dataclass(frozen=True)
class Limits:
    """What the planner is told about the world beyond the conversation."""

    timezone: str
    may_open_handoff: bool = True   # the event's address may open one more handoff
    refused_replies: Callable[[Flow, str, float], tuple[Reply, ...]] = lambda flow, locale, now: ()
    safety_text: Callable[[str], str] = lambda locale: ""


@dataclass(frozen=True)
class OpenHandoff:
    id: str
    locale: str
    context: dict[str, Any]
    is_crisis: bool
    origin: str | None


@dataclass(frozen=True)
class Relay:
    """The person wrote during an open handoff: a transcript line, maybe the bot's fixed answer."""

    handoff_id: str
    text: str                  # what the transcript keeps: the text, "[choice]" or "[kind]"
    is_crisis: bool
    bot_text: str | None = None
    trigger: tuple[str, ...] | None = None   # crisis words: added to the handoff's packet


@dataclass
class Plan:
    inbox_id: int
    pseudonym: str
    event: InboundEvent
    conversation_id: str | None = None   # the conversation the turn ran in (for logs)
    new_conversation: bool = False
    session: Session | None = None       # written to conversation_id when set
    in_handoff: bool | None = None       # True: a handoff opened (keep the platform id); False: ended
    replies: list[tuple[str, Outbound]] = field(default_factory=list)   # (conversation id, outbound)
    figures: dict[tuple[str, str], float] = field(default_factory=dict)
    open_handoff: OpenHandoff | None = None
    relay: Relay | None = None
    leave: str | None = None             # the handoff the person left while queued
    forget: str | None = None            # "unfollow" or "flow": everything of the person goes
    closed: tuple[str, ...] = ()         # open handoffs ended by forgetting
    matched: str | None = None           # the engine ran: what matched, which states it entered
    entered: tuple[str, ...] = ()
    refused: bool = False                # a handoff was asked for but this address may open no more
    said: str | None = None              # a text the bot read: kept (sealed, bounded) for a counsellor
    said_count: int = 0                  # the conversation's count of such texts after this turn
    said_reset: bool = False             # the session started afresh: the texts kept before go

    def hooks(self) -> list[tuple]:
        """The handoff hooks to call after the commit: (name, *arguments)."""
        out: list[tuple] = [("on_closed", hid, "forgotten") for hid in self.closed]
        if self.leave:
            out.append(("on_closed", self.leave, "person_left"))
        if self.relay:
            r, ev = self.relay, self.event
            out.append(("on_person_message", r.handoff_id, "", False, ev.choice) if ev.kind == "tap"
                       else ("on_person_message", r.handoff_id, r.text, r.is_crisis, None))
        if self.open_handoff:
            out.append(("on_queued", self.open_handoff.id))
        return out


# ---- the rules --------------------------------------------------------------------------------

def leaves_queue(flow: Flow, status: str, state: str | None, locale: str, text: str, choice: str | None) -> bool:
    """The one rule for leaving the queue: while a handoff is still queued, a tap on one of the
    human state's own choices ("back to the bot", "bye"; not "talk to a person"), on the notices'
    back-to-the-bot button, or that button's words typed."""
    if status != QUEUED:
        return False
    if choice:
        if choice == BACK_TO_BOT:
            return True
        human = flow.states.get(flow.human_state)
        return state == flow.human_state and human is not None and choice in human.choice_by_id \
            and choice != HUMAN_CHOICE_ID
    if not text:
        return False
    return normalise(text) in {normalise(flow.text(locale, BACK_TO_BOT_KEY)), normalise(BACK_TO_BOT)}


_FORGET_PATHS: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def forget_paths(flow: Flow) -> tuple[frozenset[str], frozenset[str]]:
    """The names of the interrupts that lead to forgetting (directly or through one
    confirmation state), and those confirmation states; computed once per flow version."""
    cached = _FORGET_PATHS.get(flow.version)
    if cached is None:
        def forgets(name: str | None) -> bool:
            st = flow.states.get(name or "")
            return st is not None and any(e.type == "forget_me" for e in st.effects)

        names, confirms = set(), set()
        for it in flow.interrupts:
            st = flow.states.get(it.target or "")
            if st is None:
                continue
            if forgets(st.name):
                names.add(it.name)
            elif any(forgets(c.target) for c in st.choices):
                names.add(it.name)
                confirms.add(st.name)
        cached = _FORGET_PATHS[flow.version] = (frozenset(names), frozenset(confirms))
    return cached


def is_crisis_text(flow: Flow, text: str) -> bool:
    return crisis_words(flow, text) is not None


def crisis_words(flow: Flow, text: str) -> tuple[str, ...] | None:
    """None when ``text`` does not match the flow's ``crisis`` interrupt; else the keywords that
    made it match, as staff wrote them (empty for a whole short phrase)."""
    for it in flow.matching_interrupts(text):
        if it.name == "crisis":
            return tuple(read_message(flow, text).scan.found.get(it.matcher.name, ()))[:5]
    return None


def handoff_route(flow: Flow, session: Session | None, status: str | None, event: InboundEvent) -> str:
    """While a handoff is open, the engine is skipped (RELAY), except:

    * "forget me" (the flow's interrupt leading to a ``forget_me`` effect) and the answer to
      its confirmation question: the bot handles those (ENGINE), the handoff stays open;
    * leaving the queue (``leaves_queue``): the handoff closes and the bot answers (LEAVE).
    No open handoff at all (closed meanwhile): LEAVE.
    """
    if status is None:
        return LEAVE
    forget_names, confirm_states = forget_paths(flow)
    if event.kind == "text" and event.text:
        if any(it.name in forget_names for it in flow.matching_interrupts(event.text)):
            return ENGINE
    if event.kind == "tap" and session is not None and session.state in confirm_states:
        state = flow.states.get(session.state)
        if state is not None and event.choice in state.choice_by_id:
            return ENGINE
    locale = session.locale if session else flow.default_locale
    text = event.text if event.kind == "text" else ""
    choice = event.choice if event.kind == "tap" else None
    if leaves_queue(flow, status, session.state if session else None, locale, text, choice):
        return LEAVE
    return RELAY


def figures_for(flow: Flow, before: Session | None, turn, new_day: bool, day: str) -> dict:
    """The daily figures a turn adds, ``{(day, name): amount}``. Only what the figures page
    shows (turns are counted by Prometheus): most turns add none."""
    counts = {}
    if new_day:
        counts[(day, "conversations")] = 1.0
    seen = {t for st in (before.path if before else ()) if st in flow.states for t in flow.states[st].tags}
    for tag in set(turn.entered_tags) - seen:
        counts[(day, f"reached:{tag}")] = 1.0
    if any(e.type == "handoff" for e in turn.effects):
        counts[(day, "asked_person")] = 1.0
    return counts


MAX_TRIGGERS = 3   # the last few ways into a crisis a session remembers
_RISK = frozenset(RISK_TAGS)   # entering a state with one of these tags marks the session (the engine's)
_DOORS: dict[str, frozenset[str]] = {}


def _risk_doors(flow: Flow) -> frozenset[str]:
    """The states a crisis or an emergency is entered by: the targets of the interrupts and of
    the understanding model that carry a risk tag (``crisis``, ``crisis_check``, ``emergency``);
    computed once per flow version."""
    doors = _DOORS.get(flow.version)
    if doors is None:
        named = {it.target for it in flow.interrupts if it.target} | {flow.model_crisis, flow.model_emergency}
        doors = _DOORS[flow.version] = frozenset(
            d for d in named if d in flow.states and _RISK & set(flow.states[d].tags))
    return doors


def with_trigger(flow: Flow, before: Session | None, turn) -> Session:
    """The turn's session, remembering what led into a crisis when this turn did: an entry
    ``(matched, state before, *keywords)`` (``interrupt:crisis`` and the keywords as staff wrote
    them, ``model:crisis``, ``choice:check_yes`` from the direct question...). The context
    packet shows it in words (``bot.handoff.packet``); nothing typed is kept in it."""
    session = turn.session
    if not turn.entered or turn.entered[0] not in _risk_doors(flow):
        return session
    entry = (str(turn.matched), before.state if before is not None else "", *(str(k) for k in turn.because[:5]))
    kept = tuple(t for t in session.triggers if t != entry)
    return dataclasses.replace(session, triggers=(kept + (entry,))[-MAX_TRIGGERS:])


def context_packet(flow: Flow, session: Session) -> dict[str, Any]:
    """What the counsellor sees first: the way through the flow, its tags, the choices made,
    the language, the risk and what led into it (``with_trigger``). Never a name, an id or
    anything typed."""
    tags = sorted({t for s in session.path if s in flow.states for t in flow.states[s].tags})
    return {"state": session.state, "path": list(session.path), "tags": tags, "choices": dict(session.variables),
            "locale": session.locale, "risk": list(session.risk), "flow_version": session.flow_version,
            "triggers": [list(t) for t in session.triggers]}


def outbound(event: InboundEvent, replies, session: Session, now: float, inbox_id: int | None) -> Outbound:
    return Outbound(tuple(replies), reply_token=event.reply_token, received_at=event.received_at or now,
                    retry_key=new_retry_key(), kind="turn",
                    meta={"state": session.state, "locale": session.locale, "inbox_id": inbox_id})


def handoff_refused(flow: Flow, turn, now: float, limits: Limits):
    """Too many handoffs from one address: none opens. The person is told so (with the 24-hour
    lines), and the bot goes on from ``flow.handoff_return``."""
    locale = turn.session.locale
    told = tuple(limits.refused_replies(flow, locale, now)) or (Reply(limits.safety_text(locale), SAFETY_KEY),)
    after = enter(flow, turn.session, flow.handoff_return, utc(now)) if flow.handoff_return else turn
    return dataclasses.replace(after, replies=(*told, *(after.replies if after is not turn else ())),
                               effects=tuple(e for e in after.effects if e.type != "handoff"))


# ---- the planner ------------------------------------------------------------------------------

def plan_turn(flow: Flow, inbox_id: int, pseudonym: str, event: InboundEvent, conv, session: Session | None,
              handoff, now: float, limits: Limits) -> Plan:
    """What one event does. ``conv``: the conversation row as loaded (``id``, ``in_handoff``,
    ``last_active_at``) or None; ``session``: its session, opened; ``handoff``: its open handoff
    (``id``, ``status``) or None."""
    plan = Plan(inbox_id, pseudonym, event, conversation_id=conv.id if conv is not None else None,
                said_count=(getattr(conv, "said_count", 0) or 0) if conv is not None else 0)
    if event.kind == "forget":  # LINE unfollow: forget at once; nothing can be sent to them any more
        return _forgotten(plan, handoff, "unfollow")
    in_handoff = conv is not None and conv.in_handoff
    back_to_bot = False
    if in_handoff:
        route = handoff_route(flow, session, handoff.status if handoff is not None else None, event)
        if route == RELAY:
            return _relay(plan, flow, session, handoff, event, now)
        if route == LEAVE:
            plan.leave = handoff.id if handoff is not None else None
            plan.in_handoff = in_handoff = False
            # The button or its words are not the flow's: the bot picks up as after a counsellor.
            back_to_bot = handoff is not None and (event.choice == BACK_TO_BOT if event.kind == "tap"
                                                   else event.kind == "text")
        # ENGINE: the "forget me" question is answered by the bot; the handoff stays open.
    if back_to_bot and session is not None and flow.handoff_return:
        turn = enter(flow, session, flow.handoff_return, utc(now))
    else:
        turn = step(flow, session, event.to_input(), utc(now))
    plan.matched, plan.entered = turn.matched, tuple(turn.entered)
    if turn.entered_tags & _RISK:
        turn = dataclasses.replace(turn, session=with_trigger(flow, session, turn))
    effects = {e.type for e in turn.effects}
    if "forget_me" in effects:
        _forgotten(plan, handoff, "flow")
        # The confirmation goes out under a fresh id that links to nothing.
        plan.replies.append((new_id(), outbound(event, turn.replies, turn.session, now, inbox_id)))
        return plan
    if "handoff" in effects and not in_handoff and event.origin and not limits.may_open_handoff:
        turn = handoff_refused(flow, turn, now, limits)
        effects = {e.type for e in turn.effects}
        plan.refused = True
    day = local_day(now, limits.timezone)
    new_day = conv is None or local_day(conv.last_active_at, limits.timezone) != day
    if conv is None:
        plan.conversation_id, plan.new_conversation = new_id(), True
    plan.session = turn.session
    plan.figures = figures_for(flow, session, turn, new_day, day)
    # What they typed, for the counsellor who may take a handoff (bot.store.said); a session
    # that started afresh (expired, or ended) takes nothing of the one before with it.
    plan.said_reset = session is not None and turn.session.started_at != session.started_at
    if event.kind == "text" and event.text and event.text.strip():
        plan.said, plan.said_count = event.text, plan.said_count + 1
    if "handoff" in effects and not in_handoff:
        s = turn.session
        plan.open_handoff = OpenHandoff(uuid.uuid4().hex, s.locale, context_packet(flow, s), "crisis" in s.risk,
                                        event.origin)
        plan.in_handoff = True  # the platform id is kept: a counsellor may push
    if turn.replies:
        plan.replies.append((plan.conversation_id, outbound(event, turn.replies, turn.session, now, inbox_id)))
    return plan


def _forgotten(plan: Plan, handoff, reason: str) -> Plan:
    """Everything of the person goes, their open handoff with it (closed as ``forgotten``)."""
    plan.forget = reason
    plan.closed = (handoff.id,) if handoff is not None else ()
    plan.leave, plan.in_handoff = None, None  # nothing is left to close or mark
    return plan


def _relay(plan: Plan, flow: Flow, session: Session, handoff, event: InboundEvent, now: float) -> Plan:
    """The engine does not run: the message goes to the transcript and the console."""
    if event.kind == "text":
        text = event.text
    elif event.kind == "tap":
        text = f"[{event.choice}]"
    else:
        text = f"[{event.kind}]"   # media is never downloaded; the counsellor sees only the kind
    words = crisis_words(flow, text) if event.kind == "text" else None
    is_crisis, trigger = words is not None, None
    if is_crisis:
        # What raised it goes to the session and (turnwrites) to the handoff's sealed packet.
        trigger = (RELAY_CRISIS, session.state, *words)
        kept = tuple(t for t in session.triggers if t != trigger)
        session = dataclasses.replace(session, triggers=(kept + (trigger,))[-MAX_TRIGGERS:])
    if is_crisis and "crisis" not in session.risk:
        session = dataclasses.replace(session, risk=session.risk + ("crisis",))
    plan.session = session  # last active now (and marked, on crisis words)
    bot_text = None
    if event.kind in MEDIA_KEYS:
        # The same fixed answer as outside a handoff: no images needed, keep them as evidence.
        key = {"media": flow.texts.media, "sticker": flow.texts.sticker, "location": flow.texts.location}[event.kind]
        reply = Reply(flow.text(session.locale, key, session.variables), key)
        bot_text = reply.text
        plan.replies.append((plan.conversation_id, outbound(event, (reply,), session, now, plan.inbox_id)))
    plan.relay = Relay(handoff.id, text, is_crisis, bot_text, trigger)
    return plan
