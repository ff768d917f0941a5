"""``step``: one input in, one turn out. Pure: no I/O, no clock, no randomness.

A typed message is read once (tokens, keywords, age) and matched in this fixed order; the first
that matches wins:
1. the flow's interrupts (emergency, crisis, a person, forget me, restart, language), in order;
2. a language the bot does not speak: one short answer in the languages it does speak;
3. the current state's choices: the choice's number (``1``, ``１``), its label, or text close to it;
4. an age ("14才", "高1", "im 15") where the state asks for it;
5. the current state's own intents (``routes``), in the listed order;
6. an acknowledgement ("うん", "ok"): the state's ``ack`` choice, or its buttons again;
7. the flow's global intents;
8. the message joined with the person's previous one or two unmatched messages (a story typed
   in pieces), through steps 1, 5 and 7;
9. the fallback: warm, the state's choices again and a way to a person (first, after two misses).

A detour (a state with a choice to ``@resume``: crisis, a feeling) remembers the way back: the
other intents the same message matched, else the state the person was in.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
import re
from typing import Mapping

from rapidfuzz import fuzz, process

from .ages import find_age_band
from .flow import ACK, FALLBACK, HUMAN_CHOICE_ID, OTHER_LANGUAGE, RESUME, START
from .intents import Scan
from .language import detect_language, is_unsupported
from .machine import Triggers
from .model import (FRAGMENT_CHARS, FRAGMENT_SECONDS, MAX_FRAGMENTS, PATH_LIMIT, Choice, CompiledRoute, CompiledState,
                    Effect, Flow, Link, Reply, Session, Turn, UserInput, utc)
from .normalise import normalise
from .tokens import Token, tokenize

LABEL_SIMILARITY = 85  # rapidfuzz score for "close to a choice's label"
MAX_INPUT_CHARS = 2000  # longer text is matched on its start; the whole text is never needed
MAX_ACK_TOKENS = 6      # "うん", "ok thanks", "はい、わかりました": short, or it is more than a yes
MAX_LONG_ACK_TOKENS = 16  # ... unless it opens with the yes and routes nowhere ("ok got it, i was so scared")
AGE_VARIABLE = "age_band"
THANKS_INTENT = "thanks"   # "ok ty" where a step goes on is a yes (see _is_acknowledgement)
ADULT_INTENT = "adult_age"  # a message that says the person is 18 or over matches this intent too
# ... unless the story is someone else's: a friend's, or what an adult they know did (大学生の兄)
OTHERS_STORY = frozenset({"friend_worry", "abuse_known_adult"})
# The general story ("he threatens to spread it", "he wants more pics", "what do I do"): when
# only these matched, the model may name the more particular situation the message reads like
# (a classmate holding it, a meeting demanded, an outing threat), whose advice fits better.
GENERAL_INTENTS = frozenset({"threat_spread", "asked_images", "what_now", "pay_question"})
PARTICULAR_SURE = 0.8  # ... only where it is this sure: the model does not see roles ("send it to people at my school" is a threat, not a classmate)
PARTICULAR_INTENTS = frozenset({"school_offender", "friend_worry", "abuse_known_adult", "meeting_demand",
                                "deepfake", "hacked", "outing", "already_paid", "already_spread",
                                "contact_again"})
RISK_TAGS = ("crisis", "emergency")  # entering a state with one of these tags marks the session
RESUMED = "resume"  # `matched` of a turn the shell enters (a counsellor handed back)


@dataclass(frozen=True)
class Reading:
    """One message, read once: its tokens, the keywords found, and its folded text."""

    text: str
    tokens: tuple[Token, ...]
    scan: Scan
    spaced: str


def read_message(flow: Flow, text: str) -> Reading:
    """Read ``text`` once. The same short replies come back all the time ("1", "うん", "ok"):
    readings are kept per keyword index (one per flow version), most recent first."""
    text = text[:MAX_INPUT_CHARS]
    return _read(flow.keywords, text)


@lru_cache(maxsize=4096)
def _read(keywords, text: str) -> Reading:
    tokens = tokenize(text)
    return Reading(text, tokens, keywords.scan(tokens), normalise(text))


def new_session(flow: Flow, locale: str, now: dt.datetime) -> Session:
    ts = utc(now).timestamp()
    return Session(flow.start, locale, flow.version, {}, (), ts, ts, ())


def step(flow: Flow, session: Session | None, user_input: UserInput, now: dt.datetime) -> Turn:
    """Run one turn. Never raises for any input or any stored session."""
    ts = utc(now).timestamp()
    if session is None:
        hint = user_input.locale_hint or guess_locale(flow, user_input.text)
        session = new_session(flow, flow.pick_locale(hint), now)
        # A first message that already tells the story goes straight to its branch, with a
        # one-bubble introduction (this is a bot, anonymous) unless it is a crisis.
        return _restart(flow, session, user_input, ts, lead=(), intro=True)
    if session.locale not in flow.locales:
        session = _replace(session, locale=flow.pick_locale(user_input.locale_hint))
    if session.state not in flow.states and flow.state_named(session.state):
        # Inside a state that has been renamed since: continue there, under its new name.
        session = _replace(session, state=flow.state_named(session.state))
    if session.resume and session.resume not in flow.states and flow.state_named(session.resume):
        session = _replace(session, resume=flow.state_named(session.resume))
    state = flow.states.get(session.state)
    expired = ts - session.last_active_at > flow.expiry_seconds
    if state is None or expired or state.end:
        # A state removed by a flow edit, a stale session, or a finished one: start again,
        # keep the language (and the age, if it was said), and still read what was just written.
        lead = (flow.texts.welcome_back,) if expired else ()
        fresh = new_session(flow, session.locale, now)
        if not expired and AGE_VARIABLE in session.variables:
            fresh = _with_vars(fresh, ((AGE_VARIABLE, session.variables[AGE_VARIABLE]),))
        return _restart(flow, fresh, user_input, ts, lead, intro=False)
    return _respond(flow, session, user_input, ts)


def guess_locale(flow: Flow, text: str) -> str | None:
    """A first message in English, with no platform hint, is answered in English."""
    if not text or "en" not in flow.locales:
        return None
    return "en" if detect_language(text) == "en" else None


def enter(flow: Flow, session: Session, state: str, now: dt.datetime) -> Turn:
    """Enter ``state`` as if a move led there: used by the shell when a counsellor hands back."""
    return _enter(flow, session, state if state in flow.states else flow.start, RESUMED, utc(now).timestamp())


def _restart(flow: Flow, session: Session, user_input: UserInput, ts: float, lead: tuple[str, ...], intro: bool) -> Turn:
    if user_input.kind in ("text", "tap"):
        turn = _respond(flow, session, user_input, ts)
        if turn.matched != FALLBACK:
            if intro and not turn.matched.startswith("interrupt:") and turn.matched != OTHER_LANGUAGE:
                bubble = Reply(flow.text(session.locale, flow.texts.intro), flow.texts.intro)
                return dataclasses.replace(turn, replies=(bubble,) + turn.replies)
            return turn
        session = turn.session  # keep what the fallback learnt (the fragment, an age)
    elif user_input.kind in ("media", "sticker", "location"):
        return _side_answer(flow, session, user_input.kind, ts)
    return _enter(flow, _replace(session, misses=0), flow.start, START, ts, lead_keys=lead)


def _respond(flow: Flow, session: Session, user_input: UserInput, ts: float) -> Turn:
    state = flow.states[session.state]
    kind = user_input.kind
    if kind in ("media", "sticker", "location"):
        return _side_answer(flow, session, kind, ts)
    if kind == "start":
        return _enter(flow, session, flow.start, START, ts)
    if kind == "tap":
        return _tap(flow, session, state, user_input, ts)

    reading = read_message(flow, user_input.text)
    band = find_age_band(reading.text, asked=AGE_VARIABLE in state.asks)
    says_adult = band == "adult" and session.variables.get(AGE_VARIABLE) != "adult"  # news, not known
    if band and session.variables.get(AGE_VARIABLE) != band:
        session = _with_vars(session, ((AGE_VARIABLE, band),))
    turn = _understand(flow, session, state, reading, ts, band, whole=True, says_adult=says_adult)
    if turn is not None:
        return turn
    # A story typed in pieces: read this message again after the last one or two.
    recent = _recent_fragments(session, ts)
    for k in range(1, len(recent) + 1):
        joined = " ".join([text for _, text in recent[-k:]] + [reading.text])
        turn = _understand(flow, session, state, read_message(flow, joined), ts, None, whole=False)
        if turn is not None:
            return turn
    # Still nothing: the branch the message reads like, when the model is sure enough.
    turn = _route_by_model(flow, session, state, reading, ts)
    return turn if turn is not None else _fallback(flow, session, state, ts, reading.text)


def _route_by_model(flow: Flow, session: Session, state: CompiledState, r: Reading, ts: float) -> Turn | None:
    if flow.classifier is None or not r.tokens:
        return None
    best = flow.classifier.read(r.text).route()
    if best is None:
        return None
    intent = best[0]
    for route in state.routes + flow.global_routes:
        if route.matcher.name == intent:
            target = flow.machine.resolve(state.name, route.trigger)
            s = _remember_way_back(flow, _with_vars(session, route.sets), state, target, r, taken=route)
            return _enter(flow, s, target, f"model:{intent}", ts)
    for it in flow.interrupts:
        target = flow.machine.resolve(state.name, it.trigger) if it.matcher.name == intent else None
        if target:
            return _enter(flow, session, target, f"model:{intent}", ts)
    return None


def _understand(flow: Flow, session: Session, state: CompiledState, r: Reading, ts: float,
                band: str | None, whole: bool, says_adult: bool = False) -> Turn | None:
    """Steps 1-7 of the module docstring; None when nothing matched. ``whole``: the message as
    sent (not joined with earlier ones): only then can it be a choice or an acknowledgement."""
    # 1. interrupts, from every state
    for it in flow.interrupts:
        if it.matcher.matches(r.scan, r.spaced):
            if it.set_locale == session.locale and r.scan.intents - {flow.ack_intent, it.matcher.name}:
                continue  # "any helpline in english?" in English: the rest of it is the request
            target = flow.machine.resolve(state.name, it.trigger)
            if target and target == flow.machine.resolve(state.name, Triggers.MODEL_CRISIS) and _model_says_ordinary(flow, r):
                continue  # an unclear word ("dead", 死ぬ) in a message the model reads as ordinary
            matched = it.trigger
            s = session
            if it.set_locale:
                s = _replace(s, locale=it.set_locale)
            if target is None:
                extra = (Effect("set_locale", {"locale": it.set_locale}),) if it.set_locale else ()
                return _repeat(flow, s, matched, ts, extra)
            s = _remember_way_back(flow, s, state, target, r, taken=None)
            return _enter(flow, s, target, matched, ts, because=r.scan.found.get(it.matcher.name, ()))
    if not r.spaced:
        return None

    # 1b. the model's net under the keywords: a message that reads like harm now or a crisis
    if whole and flow.classifier is not None and "crisis" not in state.tags and not _denies_crisis(flow, state, r):
        verdict = flow.classifier.read(r.text)
        for trigger, says in ((Triggers.MODEL_EMERGENCY, verdict.reads_like_emergency),
                              (Triggers.MODEL_CRISIS, verdict.reads_like_crisis)):
            target = flow.machine.resolve(state.name, trigger) if says else None
            if target and (_model_vetoed(flow, state, r, "emergency" in flow.states[target].tags)
                           or _staff_said_not(flow, state, r, target)):
                continue
            if target:
                s = _remember_way_back(flow, session, state, target, r, taken=None)
                return _enter(flow, s, target, trigger, ts)

    # 2. a language the bot does not speak
    target = flow.machine.resolve(state.name, Triggers.OTHER_LANGUAGE) if whole else None
    if target and is_unsupported(r.text, flow.locales):
        s = _remember_way_back(flow, session, state, target, r, taken=None)
        return _enter(flow, s, target, OTHER_LANGUAGE, ts)

    # 3. the state's choices: number, label, or close to a label
    if whole:
        choice = _choice_from_text(state, r.spaced)
        if choice is not None:
            return _take_choice(flow, session, state, choice.id, ts)

    # 4. an age, where the state asks for it
    if band and AGE_VARIABLE in state.asks:
        asking = [c for c in state.choices if dict(c.sets).get(AGE_VARIABLE)]
        exact = [c for c in asking if dict(c.sets)[AGE_VARIABLE] == band]
        chosen = (exact or asking)[0]
        s = _with_vars(session, tuple(chosen.sets) + ((AGE_VARIABLE, band),))
        target, s = _target_of(flow, s, state, chosen)
        return _enter(flow, s, target, f"age:{band}", ts)

    # 5. the state's own intents
    for route in state.routes:
        if route.matcher.matches(r.scan, r.spaced):
            s = _with_vars(session, route.sets)
            return _enter(flow, s, flow.machine.resolve(state.name, route.trigger), route.trigger, ts,
                          because=r.scan.found.get(route.matcher.name, ()))

    # 6. an acknowledgement
    if whole and _is_acknowledgement(flow, r, state):
        if state.ack and state.ack in state.choice_by_id:
            return _take_choice(flow, session, state, state.ack, ts)
        return _ack_reply(flow, session, state, ts)

    # 7. the flow's global intents; an age of 18 or more said in the message counts as the
    # intent ``adult_age`` ("im 23, can you still help me")
    for route in _adult_first(flow.global_routes, r, says_adult and "law" not in state.tags):
        if route.matcher.matches(r.scan, r.spaced) or (band == "adult" and route.matcher.name == ADULT_INTENT):
            route = _particular(flow, r, route)
            target = flow.machine.resolve(state.name, route.trigger)
            s = _remember_way_back(flow, _with_vars(session, route.sets), state, target, r, taken=route)
            return _enter(flow, s, target, route.trigger, ts, because=r.scan.found.get(route.matcher.name, ()))
    return None


def _particular(flow: Flow, r: Reading, route: CompiledRoute) -> CompiledRoute:
    """The route of a particular situation instead of the general story, when the keywords
    found only the general story and the model is sure the message is that situation."""
    if route.matcher.name not in GENERAL_INTENTS or flow.classifier is None or r.scan.intents & PARTICULAR_INTENTS:
        return route
    verdict = flow.classifier.read(r.text)
    best = verdict.model.router.best(verdict.feats)
    if best[1] < PARTICULAR_SURE or best[0] not in PARTICULAR_INTENTS or best[0] in r.scan.negated:
        return route
    return next((other for other in flow.global_routes if other.matcher.name == best[0]), route)


def _adult_first(routes: tuple[CompiledRoute, ...], r: Reading, says_adult: bool) -> tuple[CompiledRoute, ...]:
    """A message in which the person says they are 18 or over (an adult age read in it, and the
    intent ``adult_age``: "someone has my pics. im 19 btw") is about an adult first, whatever
    story comes before the age: the adult route goes ahead of the others (the story's branch is
    one tap away there). Not when the story is someone else's, nor when the conversation already
    knew the age, nor in the law's own states (tagged ``law``: "so even tho im 18 its still
    extortion?" asks about the law; the caller checks both)."""
    if not says_adult or ADULT_INTENT not in r.scan.intents or r.scan.intents & OTHERS_STORY:
        return routes
    first = [route for route in routes if route.matcher.name == ADULT_INTENT]
    return tuple(first) + tuple(route for route in routes if route.matcher.name != ADULT_INTENT)


def _staff_said_not(flow: Flow, state: CompiledState, r: Reading, target: str) -> bool:
    """Nothing in the message matched a keyword, and every sentence of it holds an ``unless``
    word of an interrupt that leads where the model would send it ("every morning" for harm now,
    "streak" or "bangs" for an unclear crisis word): staff said such a message is not that, and
    the model, which weighs words without their role, does not overrule them. A message with
    anything else recognised in it (a story, a step) keeps the model's net whole."""
    if not r.scan.unless or r.scan.intents:
        return False
    return any(it.matcher.name in r.scan.unless and flow.machine.resolve(state.name, it.trigger) == target
               for it in flow.interrupts)


def _denies_crisis(flow: Flow, state: CompiledState, r: Reading) -> bool:
    """The person said it is not that ("死にたいとかじゃない", "not suicidal, just scared"): a
    crisis keyword stood only negated. The model, which reads words without their negation,
    does not overrule what they said."""
    for it in flow.interrupts:
        if it.matcher.name in r.scan.negated:  # rare: only then ask where the interrupt leads
            target = flow.machine.resolve(state.name, it.trigger)
            if target and "crisis" in flow.states[target].tags:
                return True
    return False


def _model_vetoed(flow: Flow, state: CompiledState, r: Reading, emergency: bool) -> bool:
    """A ``model_unless`` word of the interrupt the model would raise stands in the message
    (風邪 or 熱 for medicine taken, 猫 or 荷物 at the door): the model, less sure than a keyword,
    does not raise it there. Keywords still do."""
    if not r.scan.vetoed:
        return False
    for it in flow.interrupts:
        if it.matcher.name in r.scan.vetoed:
            target = flow.machine.resolve(state.name, it.trigger)
            tags = flow.states[target].tags if target else ()
            if "crisis" in tags and ("emergency" in tags) == emergency:
                return True
    return False


def _model_says_ordinary(flow: Flow, r: Reading) -> bool:
    return flow.classifier is not None and flow.classifier.read(r.text).reads_ordinary


def _is_acknowledgement(flow: Flow, r: Reading, state: CompiledState | None = None) -> bool:
    """A short yes ("うん", "ok", "わかった") that says nothing the flow routes on: words of a
    step ("ok" is also "done") do not count against it. Where the state has a natural next step
    (its ``ack``), a thanks with the yes ("ok ty", "ok thx", "うんありがと") is still a yes: it
    goes on, it does not end the conversation."""
    if flow.ack_intent not in r.scan.intents or len(r.tokens) > MAX_LONG_ACK_TOKENS:
        return False
    if len(r.tokens) > MAX_ACK_TOKENS and not _starts_with_ack(flow, r.tokens):
        return False
    routed = r.scan.intents & flow.routed_intents
    if state is not None and state.ack:
        routed -= {THANKS_INTENT}
    return not routed


def _starts_with_ack(flow: Flow, tokens: tuple[Token, ...]) -> bool:
    """A longer message that opens with a yes ("ok good to know, i was dying to know that",
    "ok i see. that kills my worry a bit"): its first one to three words alone are an
    acknowledgement. The rest may be a feeling said in passing; anything the flow routes on
    in it still counts against the yes."""
    for k in range(1, 4):
        head = flow.keywords.scan(tokens[:k])
        if flow.ack_intent in head.intents and not (head.intents & flow.routed_intents):
            return True
    return False


def _remember_way_back(flow: Flow, session: Session, state: CompiledState, target: str, r: Reading,
                       taken: CompiledRoute | None) -> Session:
    """Entering a detour (a state with a choice to @resume) remembers where "back" leads: the
    first other route the same message matched, else the branch the person is leaving (not the
    start: "back" from there goes to the flow's ``resume_default``)."""
    detour = flow.states.get(target)
    if detour is None or not detour.is_detour:
        return session
    for route in state.routes + flow.global_routes:
        if route is taken or not route.matcher.matches(r.scan, r.spaced):
            continue
        way = flow.machine.resolve(state.name, route.trigger)
        dest = flow.states.get(way or "")
        if dest is not None and way != target and not dest.is_detour:
            return _replace(_with_vars(session, route.sets), resume=way)
    if not state.is_detour and not state.end and state.name != flow.start:
        return _replace(session, resume=state.name)
    return session


_NUMBERS = re.compile(r"\d+")


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
    # "under 18" is close to the label "under 16" by letters, not by meaning: a number typed
    # must be the label's number.
    numbers = _NUMBERS.findall(spaced)
    labels = [(c, label) for c in state.choices for label in c.folded_labels
              if not numbers or _NUMBERS.findall(label) in ([], numbers)]
    if not labels:
        return None
    best = process.extractOne(spaced, [label for _, label in labels], scorer=fuzz.ratio, score_cutoff=LABEL_SIMILARITY)
    if best is None:
        return None
    return labels[best[2]][0]


def _tap(flow: Flow, session: Session, state: CompiledState, user_input: UserInput, ts: float) -> Turn:
    cid = user_input.choice
    if cid == HUMAN_CHOICE_ID:
        trigger = Triggers.choice(cid)
        return _enter(flow, session, flow.machine.resolve(state.name, trigger), trigger, ts)
    if cid in state.choice_by_id:
        return _take_choice(flow, session, state, cid, ts)
    # A button from an earlier message: honour it if its state still has that choice.
    older = flow.states.get(flow.state_named(user_input.from_state or ""))
    if older is None and cid in flow.unique_choices:
        older = flow.states[flow.unique_choices[cid]]  # the platform lost the state; the id says it
    if older is not None and cid in older.choice_by_id:
        return _take_choice(flow, session, older, cid, ts)
    # A button the flow no longer has is not the person's miss: it does not count towards the
    # "two misses in a row" that bring a person first.
    return _fallback(flow, session, state, ts, None, counts=False)


def _take_choice(flow: Flow, session: Session, state: CompiledState, cid: str, ts: float) -> Turn:
    choice = state.choice_by_id[cid]
    session = _with_vars(session, choice.sets)
    target, session = _target_of(flow, session, state, choice)
    detour = flow.states.get(target)
    if detour is not None and detour.is_detour and not state.is_detour and state.name != flow.start:
        session = _replace(session, resume=state.name)  # a button into a detour: back comes here
    return _enter(flow, session, target, choice.trigger, ts)


def _target_of(flow: Flow, session: Session, state: CompiledState, choice) -> tuple[str, Session]:
    target = flow.machine.resolve(state.name, choice.trigger)
    if target == RESUME:
        back = session.resume if session.resume in flow.states else (flow.resume_default or flow.start)
        return back, _replace(session, resume="")
    return target, session


def _enter(flow: Flow, session: Session, target: str | None, matched: str, ts: float,
           lead_keys: tuple[str, ...] = (), because: tuple[str, ...] = ()) -> Turn:
    """Enter ``target``, say what it says, follow automatic moves (bounded), attach choices."""
    replies: list[Reply] = []
    effects: list[Effect] = []
    entered: list[str] = []
    locale = session.locale
    variables = session.variables
    seen = set(session.path)
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
        say = current.say_again if current.say_again and current.name in seen else current.say
        seen.add(current.name)
        bubbles = [Reply(flow.text(locale, key, variables), key) for key in say]
        links = _links(flow, current, locale, ts)
        if links:
            if bubbles:
                bubbles[-1] = Reply(bubbles[-1].text, bubbles[-1].key, (), links)
            else:
                bubbles.append(Reply("", "", (), links))
        replies.extend(bubbles)
        nxt = _auto_target(flow, current, variables)
        if nxt is None:
            break
        moves += 1
        if moves > flow.max_auto_moves or nxt not in flow.states:
            break  # a loop in the flow must never hang the bot (`check` reports it: F109)
        current = flow.states[nxt]

    path = (session.path + tuple(entered))[-PATH_LIMIT:]
    entered_tags = frozenset(t for s in entered for t in flow.states[s].tags)
    risk = session.risk + tuple(t for t in RISK_TAGS if t in entered_tags and t not in session.risk)
    new_session = Session(current.name, locale, flow.version, variables, path,
                          session.started_at, ts, risk, 0, session.resume, (), session.triggers)
    choices = _choices(flow, current, locale)
    if replies:
        last = replies[-1]
        replies[-1] = Reply(last.text, last.key, choices, last.links)
    elif choices:
        replies.append(Reply("", "", choices))
    return Turn(new_session, tuple(replies), tuple(effects), matched, current.tags, tuple(entered), entered_tags,
                because)


def _auto_target(flow: Flow, state: CompiledState, variables: Mapping[str, str]) -> str | None:
    if not state.moves_on:
        return None
    if state.branch_var is None:
        return flow.machine.resolve(state.name, Triggers.AUTO)
    value = variables.get(state.branch_var, "")
    return flow.machine.resolve(state.name, Triggers.branch(value)) or flow.machine.resolve(state.name, Triggers.BRANCH_DEFAULT)


def _choices(flow: Flow, state: CompiledState, locale: str, offer_human: bool = False,
             human_first: bool = False) -> tuple[Choice, ...]:
    key = ("choices", state.name, locale, offer_human, human_first)
    choices = flow.memo.get(key)
    if choices is None:
        choices = flow.memo[key] = _choices_of(flow, state, locale, offer_human, human_first)
    return choices


def _choices_of(flow: Flow, state: CompiledState, locale: str, offer_human: bool,
                human_first: bool) -> tuple[Choice, ...]:
    out = tuple(Choice(c.id, flow.text(locale, c.label_key)) for c in state.choices)
    human = Choice(HUMAN_CHOICE_ID, flow.text(locale, flow.texts.choice_human))
    if human_first and state.name != flow.human_state:
        return (human,) + tuple(c for c in out if c.id != HUMAN_CHOICE_ID)
    if offer_human and not state.offers_human and state.name != flow.human_state:
        out += (human,)
    return out


def _links(flow: Flow, state: CompiledState, locale: str, ts: float) -> tuple[Link, ...]:
    if not state.links:
        return ()
    key = ("links", state.name, locale)
    shown = flow.memo.get(key)
    if shown is None:
        shown = flow.memo[key] = _links_of(flow, state, locale)
    now = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return tuple(Link(label, href, rid, res.is_open(now), hours) for res, label, href, rid, hours in shown)


def _links_of(flow: Flow, state: CompiledState, locale: str) -> tuple[tuple, ...]:
    """What a state's links show in a language; only whether each is open now changes per turn."""
    out = []
    for rid in state.links:
        res = flow.resources.get(rid)
        if res is None or not res.href:
            continue
        name = res.field("name", locale, flow.default_locale) or rid
        label = f"{name} {res.tel}" if res.tel else name
        out.append((res, label, res.href, rid, res.field("hours", locale, flow.default_locale) or ""))
    return tuple(out)


def _recent_fragments(session: Session, ts: float) -> tuple[tuple[float, str], ...]:
    return tuple(f for f in session.fragments if 0 <= ts - f[0] <= FRAGMENT_SECONDS)[-MAX_FRAGMENTS:]


def _fallback(flow: Flow, session: Session, state: CompiledState, ts: float, text: str | None,
              counts: bool = True) -> Turn:
    """Nothing understood. After two misses in a row, a person is offered first."""
    misses = session.misses + 1 if counts else session.misses
    fragments = _recent_fragments(session, ts)
    if text and text.strip():
        fragments = (fragments + ((ts, text[:FRAGMENT_CHARS]),))[-MAX_FRAGMENTS:]
    new = _replace(session, last_active_at=ts, misses=misses, fragments=fragments)
    if misses >= 2:
        return _stay(flow, new, state, flow.texts.fallback_again, FALLBACK, human_first=True)
    return _stay(flow, new, state, state.fallback or flow.texts.fallback, FALLBACK)


def _stay(flow: Flow, session: Session, state: CompiledState, key: str, matched: str, human_first: bool = False) -> Turn:
    """One bubble (``key``) and the state's buttons again, with a way to a person."""
    choices = _choices(flow, state, session.locale, offer_human=True, human_first=human_first)
    reply = Reply(flow.text(session.locale, key, session.variables), key, choices)
    return Turn(session, (reply,), (), matched, state.tags, (), frozenset())


def _ack_reply(flow: Flow, session: Session, state: CompiledState, ts: float) -> Turn:
    """"うん" where no choice is the obvious next step: a short OK and the buttons again."""
    return _stay(flow, _replace(session, last_active_at=ts, misses=0, fragments=()), state, flow.texts.ack, ACK)


def _repeat(flow: Flow, session: Session, matched: str, ts: float, effects: tuple[Effect, ...]) -> Turn:
    """Say the current state again (after a language switch), without re-running its effects."""
    state = flow.states[session.state]
    locale = session.locale
    replies = [Reply(flow.text(locale, k, session.variables), k) for k in state.say] or [Reply("", "")]
    links = _links(flow, state, locale, ts)
    last = replies[-1]
    replies[-1] = Reply(last.text, last.key, _choices(flow, state, locale), links)
    new = _replace(session, last_active_at=ts, misses=0, fragments=())
    return Turn(new, tuple(replies), effects, matched, state.tags, (), frozenset())


def _side_answer(flow: Flow, session: Session, kind: str, ts: float) -> Turn:
    """Images, stickers, places: a fixed kind answer, then the conversation goes on where it was."""
    key = {"media": flow.texts.media, "sticker": flow.texts.sticker, "location": flow.texts.location}[kind]
    return _stay(flow, _replace(session, last_active_at=ts), flow.states[session.state], key, kind)


def _with_vars(session: Session, sets) -> Session:
    if not sets:
        return session
    variables = dict(session.variables)
    variables.update(sets)
    return _replace(session, variables=variables)


def _replace(session: Session, **changes) -> Session:
    # dataclasses.replace, without looking the fields up again on every call
    fields = session.__dict__.copy()
    fields.update(changes)
    return Session(**fields)
