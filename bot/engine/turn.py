"""``step``: one input in, one turn out. Pure: no I/O, no clock, no randomness.

Free text is matched in this fixed order, and the first that matches wins:
1. the flow's interrupts (crisis, a person, forget me, restart, language), in the listed order;
2. the current state's choices: the choice's number (``1``, ``１``), its label, or text close to it;
3. the current state's own intents (``routes``), in the listed order;
4. the flow's global intents;
5. the fallback: "I did not understand", the state's choices again, and a way to a person.
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

from rapidfuzz import fuzz, process

from .flow import FALLBACK, HUMAN_CHOICE_ID, START
from .model import (
    PATH_LIMIT,
    Choice,
    CompiledState,
    Effect,
    Flow,
    Link,
    Reply,
    Session,
    Turn,
    UserInput,
    utc,
)
from .normalise import compact, normalise

LABEL_SIMILARITY = 85  # rapidfuzz score for "close to a choice's label"
MAX_INPUT_CHARS = 2000  # longer text is matched on its start; the whole text is never needed


def new_session(flow: Flow, locale: str, now: dt.datetime) -> Session:
    ts = utc(now).timestamp()
    return Session(flow.start, locale, flow.version, {}, (), ts, ts, ())


def step(flow: Flow, session: Session | None, user_input: UserInput, now: dt.datetime) -> Turn:
    """Run one turn. Never raises for any input or any stored session."""
    ts = utc(now).timestamp()
    kind = user_input.kind
    if session is None:
        hint = user_input.locale_hint or guess_locale(flow, user_input.text)
        session = new_session(flow, flow.pick_locale(hint), now)
        # A first message that already tells the story goes straight to its branch, with a
        # one-bubble introduction (this is a bot, anonymous) unless it is a crisis.
        return _restart(flow, session, user_input, ts, lead=(), intro=True)
    if session.locale not in flow.locales:
        session = _replace(session, locale=flow.pick_locale(user_input.locale_hint))
    state = flow.states.get(session.state)
    expired = ts - session.last_active_at > flow.expiry_seconds
    if state is None or expired or state.end:
        # A state removed by a flow edit, a stale session, or a finished one: start again,
        # keep the language, and still read what the person just wrote.
        lead = (flow.texts.welcome_back,) if expired else ()
        return _restart(flow, new_session(flow, session.locale, now), user_input, ts, lead, intro=False)
    return _respond(flow, session, user_input, ts)


def guess_locale(flow: Flow, text: str) -> str | None:
    """A first message in Latin letters only, with no platform hint, is answered in English."""
    if not text or "en" not in flow.locales:
        return None
    letters = sum(1 for c in text if c.isascii() and c.isalpha())
    if letters >= 3 and not any(ord(c) >= 0x3000 for c in text):
        return "en"
    return None


def enter(flow: Flow, session: Session, state: str, now: dt.datetime, matched: str = "resume") -> Turn:
    """Enter ``state`` as if a move led there: used by the shell when a counsellor hands back."""
    return _enter(flow, session, state if state in flow.states else flow.start, matched, utc(now).timestamp())


def _restart(flow: Flow, session: Session, user_input: UserInput, ts: float, lead: tuple[str, ...], intro: bool) -> Turn:
    if user_input.kind in ("text", "tap"):
        turn = _respond(flow, session, user_input, ts)
        if turn.matched != FALLBACK:
            if intro and not turn.matched.startswith("interrupt:"):
                bubble = Reply(flow.text(session.locale, flow.texts.intro), flow.texts.intro)
                return Turn(turn.session, (bubble,) + turn.replies, turn.effects, turn.matched, turn.tags,
                            turn.entered, turn.entered_tags)
            return turn
    elif user_input.kind in ("media", "sticker", "location"):
        return _side_answer(flow, session, user_input.kind, ts)
    return _enter(flow, session, flow.start, START, ts, lead_keys=lead)


def _respond(flow: Flow, session: Session, user_input: UserInput, ts: float, from_restart: bool = False) -> Turn:
    state = flow.states[session.state]
    kind = user_input.kind
    if kind in ("media", "sticker", "location"):
        return _side_answer(flow, session, kind, ts)
    if kind == "start":
        return _enter(flow, session, flow.start, START, ts)
    if kind == "tap":
        return _tap(flow, session, state, user_input, ts)

    text = user_input.text[:MAX_INPUT_CHARS]
    spaced = normalise(text)
    packed = compact(spaced)
    hits = flow.keywords.scan(spaced, packed)  # every intent's keywords, in one pass

    # 1. interrupts, from every state
    for it in flow.interrupts:
        if it.matcher.matches(hits, spaced):
            matched = f"interrupt:{it.name}"
            s = session
            if it.set_locale:
                s = _replace(s, locale=it.set_locale)
            if it.name == "crisis" and "crisis" not in s.risk:
                s = _replace(s, risk=s.risk + ("crisis",))
            if it.target is None:
                extra = (Effect("set_locale", {"locale": it.set_locale}),) if it.set_locale else ()
                return _repeat(flow, s, matched, ts, extra)
            target = flow.machine.resolve(state.name, f"interrupt:{it.name}") or it.target
            return _enter(flow, s, target, matched, ts)

    if not spaced:
        return _fallback(flow, session, state, ts)

    # 2. the state's choices: number, label, or close to a label
    choice = _choice_from_text(state, spaced)
    if choice is not None:
        return _take_choice(flow, session, state, choice.id, ts)

    # 3. the state's own intents
    for route in state.routes:
        if route.matcher.matches(hits, spaced):
            s = _with_vars(session, route.sets)
            return _enter(flow, s, route.target, f"intent:{route.matcher.name}", ts)

    # 4. the flow's global intents
    for route in flow.global_routes:
        if route.matcher.matches(hits, spaced):
            s = _with_vars(session, route.sets)
            return _enter(flow, s, route.target, f"intent:{route.matcher.name}", ts)

    # 5. nothing matched
    return _fallback(flow, session, state, ts)


def _choice_from_text(state: CompiledState, spaced: str):
    if not state.choices:
        return None
    stripped = spaced.strip(" .。)）:：")
    # isdecimal, not isdigit: "²" and "𐩀" are digits that int() refuses; and a choice number is short.
    if stripped.isdecimal() and len(stripped) <= 4:
        index = int(stripped) - 1
        return state.choices[index] if 0 <= index < len(state.choices) else None
    for c in state.choices:
        if spaced in c.folded_labels:
            return c
    if len(spaced) > 40:  # a long message is a story, not an answer to a button
        return None
    labels = [(c, label) for c in state.choices for label in c.folded_labels]
    best = process.extractOne(spaced, [label for _, label in labels], scorer=fuzz.ratio, score_cutoff=LABEL_SIMILARITY)
    if best is None:
        return None
    return labels[best[2]][0]


def _tap(flow: Flow, session: Session, state: CompiledState, user_input: UserInput, ts: float) -> Turn:
    cid = user_input.choice
    if cid == HUMAN_CHOICE_ID:
        return _enter(flow, session, flow.human_state, f"choice:{cid}", ts)
    if cid in state.choice_by_id:
        return _take_choice(flow, session, state, cid, ts)
    # A button from an earlier message: honour it if its state still has that choice.
    older = flow.states.get(user_input.from_state or "")
    if older is None and cid in flow.unique_choices:
        older = flow.states[flow.unique_choices[cid]]  # the platform lost the state; the id says it
    if older is not None and cid in older.choice_by_id:
        return _take_choice(flow, session, older, cid, ts)
    return _fallback(flow, session, state, ts)


def _take_choice(flow: Flow, session: Session, state: CompiledState, cid: str, ts: float) -> Turn:
    choice = state.choice_by_id[cid]
    target = flow.machine.resolve(state.name, f"choice:{cid}") or choice.target
    return _enter(flow, _with_vars(session, choice.sets), target, f"choice:{cid}", ts)


def _enter(flow: Flow, session: Session, target: str, matched: str, ts: float,
           lead_keys: tuple[str, ...] = ()) -> Turn:
    """Enter ``target``, say what it says, follow automatic moves (bounded), attach choices."""
    replies: list[Reply] = []
    effects: list[Effect] = []
    entered: list[str] = []
    locale = session.locale
    variables = session.variables
    for key in lead_keys:
        replies.append(Reply(flow.text(locale, key, variables), key))
    current = flow.states.get(target) or flow.states[flow.start]
    moves = 0
    while True:
        entered.append(current.name)
        for eff in current.effects:
            effects.append(eff)
            if eff.type == "set_locale" and eff.params.get("locale") in flow.locales:
                locale = eff.params["locale"]
        bubbles = [Reply(flow.text(locale, key, variables), key) for key in current.say]
        links = _links(flow, current, locale, ts)
        if links:
            if bubbles:
                bubbles[-1] = Reply(bubbles[-1].text, bubbles[-1].key, (), links)
            else:
                bubbles.append(Reply("", "", (), links))
        replies.extend(bubbles)
        nxt = _auto_target(current, variables)
        if nxt is None:
            break
        moves += 1
        if moves > flow.max_auto_moves or nxt not in flow.states:
            break  # a loop in the flow must never hang the bot (`check` reports it: F109)
        current = flow.states[nxt]

    path = (session.path + tuple(entered))[-PATH_LIMIT:]
    new_session = Session(current.name, locale, flow.version, variables, path,
                          session.started_at, ts, session.risk)
    choices = _choices(flow, current, locale)
    if replies:
        last = replies[-1]
        replies[-1] = Reply(last.text, last.key, choices, last.links)
    elif choices:
        replies.append(Reply("", "", choices))
    tags = current.tags
    entered_tags = frozenset(t for s in entered for t in flow.states[s].tags)
    return Turn(new_session, tuple(replies), tuple(effects), matched, tags, tuple(entered), entered_tags)


def _auto_target(state: CompiledState, variables: Mapping[str, str]) -> str | None:
    if state.next is not None:
        return state.next
    if state.branch_var is not None:
        return state.branch_cases.get(variables.get(state.branch_var, ""), state.branch_default)
    return None


def _choices(flow: Flow, state: CompiledState, locale: str, offer_human: bool = False) -> tuple[Choice, ...]:
    out = tuple(Choice(c.id, flow.text(locale, c.label_key)) for c in state.choices)
    if offer_human and not state.offers_human and state.name != flow.human_state:
        out += (Choice(HUMAN_CHOICE_ID, flow.text(locale, flow.texts.choice_human)),)
    return out


def _links(flow: Flow, state: CompiledState, locale: str, ts: float) -> tuple[Link, ...]:
    if not state.links:
        return ()
    now = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    out = []
    for rid in state.links:
        res = flow.resources.get(rid)
        if res is None or not res.href:
            continue
        name = res.field("name", locale, flow.default_locale) or rid
        label = f"{name} {res.tel}" if res.tel else name
        out.append(Link(label, res.href, rid, res.is_open(now), res.field("hours", locale, flow.default_locale) or ""))
    return tuple(out)


def _fallback(flow: Flow, session: Session, state: CompiledState, ts: float) -> Turn:
    key = state.fallback or flow.texts.fallback
    choices = _choices(flow, state, session.locale, offer_human=True)
    reply = Reply(flow.text(session.locale, key, session.variables), key, choices)
    return Turn(_replace(session, last_active_at=ts), (reply,), (), FALLBACK, state.tags, (), frozenset())


def _repeat(flow: Flow, session: Session, matched: str, ts: float, effects: tuple[Effect, ...]) -> Turn:
    """Say the current state again (after a language switch), without re-running its effects."""
    state = flow.states[session.state]
    locale = session.locale
    replies = [Reply(flow.text(locale, k, session.variables), k) for k in state.say] or [Reply("", "")]
    links = _links(flow, state, locale, ts)
    last = replies[-1]
    replies[-1] = Reply(last.text, last.key, _choices(flow, state, locale), links)
    return Turn(_replace(session, last_active_at=ts), tuple(replies), effects, matched, state.tags, (), frozenset())


def _side_answer(flow: Flow, session: Session, kind: str, ts: float) -> Turn:
    """Images, stickers, places: a fixed kind answer, then the conversation goes on where it was."""
    key = {"media": flow.texts.media, "sticker": flow.texts.sticker, "location": flow.texts.location}[kind]
    state = flow.states[session.state]
    reply = Reply(flow.text(session.locale, key, session.variables), key, _choices(flow, state, session.locale, offer_human=True))
    return Turn(_replace(session, last_active_at=ts), (reply,), (), kind, state.tags, (), frozenset())


def _with_vars(session: Session, sets: tuple[tuple[str, str], ...]) -> Session:
    if not sets:
        return session
    variables = dict(session.variables)
    variables.update(sets)
    return _replace(session, variables=variables)


def _replace(session: Session, **changes) -> Session:
    data = {
        "state": session.state, "locale": session.locale, "flow_version": session.flow_version,
        "variables": session.variables, "path": session.path, "started_at": session.started_at,
        "last_active_at": session.last_active_at, "risk": session.risk,
    }
    data.update(changes)
    return Session(**data)
