"""The checks ``bot check`` runs: one function per check, each reporting its own codes.

As in goflow, errors (the edit is refused) and warnings (it loads) are kept apart by their code
(``codes.Code.severity``). A check never reports what follows from a problem already reported:
when a file could not be read, the checks that depend on it skip (``Context``), so one slip is one
message. Flow checks read the document as written (``FlowSource``); the graph checks read the
compiled flow's machine.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterator

from .codes import M
from .compile import WORD_REF, fill_placeholders, utf16_len
from .errors import Issues, did_you_mean
from .flow import RESUME, FlowDoc
from .locales import Locales
from .machine import Triggers
from .phones import digits, phone_numbers
from .model import Flow
from .resources import Resource
from .yamlsource import YamlDocument

VERIFIED_MAX_AGE_DAYS = 180
LONG_BUBBLE_CHARS = 250
# The strictest platform limits (LINE and Discord), checked on every text and label.
MAX_TEXT = 2000          # Discord message (LINE allows 5,000)
MAX_CHOICE_LABEL = 20    # LINE quick-reply label (Discord allows 80)
MAX_CHOICES = 13         # LINE quick-reply items (Discord allows 25 buttons)
MAX_LINK_LABEL = 40      # a link's label is shown in a bubble on LINE, as a button on Discord (80)
# Keys the console and shells use directly, never from a flow, so never "unused".
SHELL_KEY_PREFIXES = ("console.", "canned.", "shell.")
RESOURCES_FILE = "flows/resources.yaml"


@dataclass
class FlowSource:
    """One flow file as read: where it is, its lines, its validated document."""

    file: str
    doc: YamlDocument
    fd: FlowDoc

    def line(self, *path) -> int | None:
        return self.doc.line_of(path)


@dataclass
class Context:
    """What the flow checks look things up in, and which of it could not be read."""

    locales: Locales
    resources: dict[str, Resource]
    resources_ok: bool = True     # False: resources.yaml is broken (reported once)
    flows_ok: bool = True         # False: a flow file is broken, so "unused text" cannot be known
    used_keys: set[str] = field(default_factory=set)
    label_keys: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Use:
    """A locale key or intent a flow refers to: the name, where, in which state, and how."""

    name: str
    path: tuple
    state: str | None
    kind: str = "text"   # text | label


def text_uses(fd: FlowDoc) -> Iterator[Use]:
    for field_name, key in fd.texts.model_dump().items():
        yield Use(key, ("texts", field_name), None)
    for sname, st in fd.states.items():
        base = ("states", sname)
        for j, key in enumerate(st.say):
            yield Use(key, base + ("say", j), sname)
        for j, key in enumerate(st.say_again):
            yield Use(key, base + ("say_again", j), sname)
        if st.fallback:
            yield Use(st.fallback, base + ("fallback",), sname)
        for j, ch in enumerate(st.choices):
            yield Use(ch.label, base + ("choices", j, "label"), sname, "label")


def intent_uses(fd: FlowDoc) -> Iterator[Use]:
    for i, it in enumerate(fd.interrupts):
        yield Use(it.intent, ("interrupts", i, "intent"), None)
    for i, r in enumerate(fd.intents):
        yield Use(r.intent, ("intents", i, "intent"), None)
    for sname, st in fd.states.items():
        for j, r in enumerate(st.routes):
            yield Use(r.intent, ("states", sname, "routes", j, "intent"), sname)


def targets(fd: FlowDoc) -> Iterator[tuple[str, tuple, str | None, str]]:
    """(target, yaml path, state, kind) of every move; kind "choice" may lead to @resume."""
    for name in ("start", "human_state", "handoff_return", "resume_default", "other_language"):
        if getattr(fd, name):
            yield getattr(fd, name), (name,), None, "field"
    for name in ("crisis", "emergency"):
        if getattr(fd.model, name):
            yield getattr(fd.model, name), ("model", name), None, "field"
    for old, new in fd.aliases.items():
        yield new, ("aliases", old), None, "field"
    for i, it in enumerate(fd.interrupts):
        if it.target:
            yield it.target, ("interrupts", i, "target"), None, "route"
    for i, r in enumerate(fd.intents):
        yield r.target, ("intents", i, "target"), None, "route"
    for sname, st in fd.states.items():
        base = ("states", sname)
        for j, ch in enumerate(st.choices):
            yield ch.target, base + ("choices", j, "target"), sname, "choice"
        for j, r in enumerate(st.routes):
            yield r.target, base + ("routes", j, "target"), sname, "route"
        if st.next:
            yield st.next, base + ("next",), sname, "route"
        if st.branch:
            for value, target in st.branch.cases.items():
                yield target, base + ("branch", "cases", value), sname, "route"
            yield st.branch.default, base + ("branch", "default"), sname, "route"


# -- checks of one flow document -------------------------------------------------------------------

def check_targets(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F102: every move leads to a state that exists; only a choice leads to "@resume". A state
    renamed while the moves to it kept the old name is one error, at the state."""
    states = src.fd.states
    moves = list(targets(src.fd))
    missing: dict[str, list[tuple[tuple, str | None]]] = {}
    for target, path, state, kind in moves:
        if target == RESUME:
            if kind == "field":
                issues.add(M.RESUME_NOT_A_STATE, src.file, src.line(*path), state, field=path[0])
            elif kind == "route":
                issues.add(M.RESUME_ONLY_FROM_CHOICE, src.file, src.line(*path), state)
        elif target not in states:
            missing.setdefault(target, []).append((path, state))
    reached = {target for target, _, _, _ in moves}
    for old in src.fd.aliases:
        if old in states:
            issues.add(M.ALIAS_IS_STATE, src.file, src.line("aliases", old), None, alias=old)
    for target, refs in missing.items():
        renamed = did_you_mean(target, states)
        if renamed and renamed not in reached and len(refs) > 1:
            lines = ", ".join(str(src.line(*path)) for path, _ in refs)
            issues.add(M.STATE_RENAMED, src.file, src.line("states", renamed), renamed, count=len(refs),
                       target=target, renamed=renamed, lines=lines)
            continue
        for path, state in refs:
            issues.add(M.MISSING_TARGET, src.file, src.line(*path), state, suggestion=renamed, target=target)


def check_choices(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F112 two choices with one id, F102 an ``ack`` that is no choice, F108 too many for LINE."""
    for sname, st in src.fd.states.items():
        base = ("states", sname)
        ids = [c.id for c in st.choices]
        for j, cid in enumerate(ids):
            if cid in ids[:j]:
                issues.add(M.DUPLICATE_CHOICE, src.file, src.line(*base, "choices", j, "id"), sname, choice=cid)
        if st.ack and st.ack not in ids:
            issues.add(M.ACK_NOT_A_CHOICE, src.file, src.line(*base, "ack"), sname,
                       suggestion=did_you_mean(st.ack, ids), choice=st.ack)
        if len(st.choices) + 1 > MAX_CHOICES:
            issues.add(M.TOO_MANY_CHOICES, src.file, src.line(*base, "choices"), sname, count=len(st.choices),
                       limit=MAX_CHOICES)


def check_dead_ends(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F104: a state that says nothing and stays, or that nobody can leave but by a special word."""
    for sname, st in src.fd.states.items():
        moves_on = bool(st.next or st.branch)
        if not st.say and not moves_on:
            issues.add(M.SAYS_NOTHING, src.file, src.line("states", sname), sname)
        if not moves_on and not st.end and not st.choices:
            issues.add(M.DEAD_END, src.file, src.line("states", sname), sname)


def check_links(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F110: a link to a service resources.yaml does not have (skipped when that file is broken)."""
    if not ctx.resources_ok:
        return
    for sname, st in src.fd.states.items():
        for j, rid in enumerate(st.links):
            if rid not in ctx.resources:
                issues.add(M.UNKNOWN_RESOURCE, src.file, src.line("states", sname, "links", j), sname,
                           suggestion=did_you_mean(rid, ctx.resources), resource=rid)


def check_locale_names(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F101: ``default_locale`` and every ``set_locale`` name a language that has a file."""
    known = ctx.locales.seen
    fd = src.fd
    if known and fd.default_locale not in known:
        issues.add(M.DEFAULT_LOCALE_MISSING, src.file, src.line("default_locale"), locale=fd.default_locale)
    for i, it in enumerate(fd.interrupts):
        if it.set_locale and known and it.set_locale not in known:
            issues.add(M.SET_LOCALE_UNKNOWN, src.file, src.line("interrupts", i, "set_locale"), locale=it.set_locale)
    for sname, st in fd.states.items():
        for j, eff in enumerate(st.effects):
            if eff.type == "set_locale" and (not eff.locale or (known and eff.locale not in known)):
                issues.add(M.EFFECT_NEEDS_LOCALE, src.file, src.line("states", sname, "effects", j), sname)


def check_texts_exist(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F105: every text the flow says is in every language. A key in no language at all is one
    error (a misspelt key), not one per language; a language whose file is broken is skipped."""
    intact = ctx.locales.intact()
    for use in text_uses(src.fd):
        ctx.used_keys.add(use.name)
        if use.kind == "label":
            ctx.label_keys.add(use.name)
        missing = [loc for loc in intact if use.name not in loc.texts and use.name not in loc.unreadable_texts]
        if not missing:
            continue
        line = src.line(*use.path)
        if len(intact) > 1 and len(missing) == len(intact) and not ctx.locales.broken:
            every_key = {k for loc in intact for k in loc.texts}
            issues.add(M.MISSING_TEXT_EVERYWHERE, src.file, line, use.state,
                       suggestion=did_you_mean(use.name, every_key), key=use.name)
            continue
        default = ctx.locales.by_code.get(src.fd.default_locale)
        for loc in missing:
            if default is not None and loc is not default and use.name in default.texts:
                # Not translated yet: the bot shows the default language's text (a warning, as RapidPro).
                fallback = default.texts[use.name]
                fallback = fallback if len(fallback) <= 60 else fallback[:59] + "…"
                issues.add(M.MISSING_TRANSLATION, src.file, line, use.state, key=use.name,
                           locale_file=loc.file, default=default.code, fallback=fallback)
            else:
                issues.add(M.MISSING_TEXT, src.file, line, use.state, key=use.name, locale_file=loc.file)


def check_intents_exist(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F111 an intent no keyword file has (one error, with "did you mean"); F106 an intent that
    has no keywords in one language. Languages whose file is broken are skipped."""
    intact = ctx.locales.intact()
    known = {name for loc in ctx.locales.by_code.values() for name in loc.intents}
    for use in intent_uses(src.fd):
        line = src.line(*use.path)
        if use.name not in known and not ctx.locales.broken:
            issues.add(M.UNKNOWN_INTENT, src.file, line, use.state, suggestion=did_you_mean(use.name, known),
                       intent=use.name)
            continue
        for loc in intact:
            spec = loc.intents.get(use.name)
            if (not spec or not (spec["keywords"] or spec["phrases"])) and use.name not in loc.unreadable_intents:
                issues.add(M.INTENT_NO_KEYWORDS, src.file, line, use.state, intent=use.name,
                           locale_file=loc.file_of_intent(use.name))


def check_crisis_interrupt(src: FlowSource, ctx: Context, issues: Issues) -> None:
    """F107: a crisis is recognised from every state, and leads to a state tagged crisis."""
    crisis = [it for it in src.fd.interrupts if it.name == "crisis"]
    if not crisis:
        issues.add(M.NO_CRISIS_INTERRUPT, src.file, src.line("interrupts"))
    elif crisis[0].target in src.fd.states and "crisis" not in src.fd.states[crisis[0].target].tags:
        issues.add(M.CRISIS_NOT_TAGGED, src.file, src.line("interrupts"), target=crisis[0].target)


FLOW_CHECKS = (check_locale_names, check_targets, check_choices, check_links, check_dead_ends,
               check_texts_exist, check_intents_exist, check_crisis_interrupt)


# -- checks of the locales and resources, after every flow ------------------------------------------

def check_text_content(ctx: Context, default_locale: str, issues: Issues) -> None:
    """F113 placeholders, F108 texts and labels too long for LINE or Discord, W202 long bubbles.
    Placeholders naming a service are not checked while resources.yaml is broken."""
    for loc in ctx.locales.intact():
        for key, raw in loc.texts.items():
            template, _, problems = fill_placeholders(raw, loc.code, default_locale, ctx.resources)
            file, line = loc.file_of_text(key), loc.text_lines.get(key)
            for message, params in problems:
                if ctx.resources_ok or message not in (M.PLACEHOLDER_UNKNOWN_RESOURCE, M.PLACEHOLDER_UNKNOWN_FIELD):
                    issues.add(message, file, line, key=key, **params)
            size = utf16_len(template)
            if key in ctx.label_keys and size > MAX_CHOICE_LABEL:
                issues.add(M.LABEL_TOO_LONG, file, line, key=key, size=size, limit=MAX_CHOICE_LABEL)
            elif size > MAX_TEXT:
                issues.add(M.TEXT_TOO_LONG, file, line, key=key, size=size, limit=MAX_TEXT)
            elif size > LONG_BUBBLE_CHARS and key not in ctx.label_keys:
                issues.add(M.LONG_BUBBLE, file, line, key=key, size=size)
            if ctx.resources_ok:
                check_phone_numbers(ctx, key, raw, file, line, issues)


def check_phone_numbers(ctx: Context, key: str, raw: str, file: str, line: int | None, issues: Issues) -> None:
    """F116: a phone number typed straight into a text, not taken from flows/resources.yaml. A
    three-digit number (110, 189) counts only when it is a service's number: "100人" is not one."""
    by_number = {digits(res.tel): rid for rid, res in ctx.resources.items() if res.tel}
    for number in phone_numbers(raw):
        rid = by_number.get(digits(number))
        if len(digits(number)) <= 3 and rid is None:
            continue
        if rid is not None:
            issues.add(M.PHONE_IN_TEXT, file, line, key=key, number=number, resource=rid)
        else:
            issues.add(M.PHONE_IN_TEXT_NO_RESOURCE, file, line, key=key, number=number)


def check_word_lists(ctx: Context, issues: Issues) -> None:
    """F115: a keyword uses a ``{word list}`` no language has (skipped while a locale is broken:
    the list may be in the file that could not be read)."""
    if ctx.locales.broken:
        return
    every = {name for loc in ctx.locales.by_code.values() for name in loc.words}
    for loc in ctx.locales.by_code.values():
        for intent, spec in loc.intents.items():
            for part in ("keywords", "idioms", "unless", "model_unless"):
                for pattern in spec.get(part, []):
                    for name in WORD_REF.findall(pattern):
                        if name not in every:
                            issues.add(M.UNKNOWN_WORD_LIST, loc.file_of_intent(intent), loc.intent_lines.get(intent),
                                       suggestion=did_you_mean(name, every), intent=intent, pattern=pattern, name=name)


def check_unused_texts(ctx: Context, issues: Issues) -> None:
    """W201: a text no flow uses (not known while a flow file is broken)."""
    if not ctx.flows_ok:
        return
    for loc in ctx.locales.intact():
        for key in sorted(set(loc.texts) - ctx.used_keys):
            if not key.startswith(SHELL_KEY_PREFIXES):
                issues.add(M.UNUSED_TEXT, loc.file_of_text(key), loc.text_lines.get(key), key=key)


def check_resources(resources: dict[str, Resource], doc: YamlDocument, today: dt.date, issues: Issues) -> None:
    """F101 a service with no number or address, F108 a name too long for a link, W203 a service
    not verified for more than 180 days."""
    for rid, res in resources.items():
        if not res.tel and not res.url:
            issues.add(M.RESOURCE_NO_CONTACT, doc.file, doc.line_of(("resources", rid)), resource=rid)
        for lang, label in res.names.items():
            if utf16_len(label) > MAX_LINK_LABEL:
                issues.add(M.RESOURCE_NAME_TOO_LONG, doc.file, doc.line_of(("resources", rid, "name")),
                           resource=rid, locale=lang, limit=MAX_LINK_LABEL)
        age = (today - res.verified).days
        if age > VERIFIED_MAX_AGE_DAYS:
            issues.add(M.VERIFIED_LONG_AGO, doc.file, doc.line_of(("resources", rid, "verified")), resource=rid,
                       days=age, verified=res.verified)


# -- checks of a compiled flow: its machine --------------------------------------------------------

def check_reachable(flow: Flow, src: FlowSource, issues: Issues) -> None:
    """F103: a state no move leads to from the start, a person, an interrupt or a detour's end."""
    successors: dict[str, set[str]] = {}
    for source, _, dest in flow.machine.edges():
        successors.setdefault(source, set()).add(dest)
    roots = {flow.start, flow.human_state} | {i.target for i in flow.interrupts if i.target}
    roots |= {s for s in (flow.resume_default, flow.other_language, flow.model_crisis, flow.model_emergency,
                          flow.handoff_return) if s}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        s = todo.pop()
        if s in seen or s not in flow.states:
            continue
        seen.add(s)
        todo.extend(successors.get(s, ()))
    for sname in flow.states:
        if sname not in seen:
            issues.add(M.UNREACHABLE, src.file, src.line("states", sname), sname)


def check_auto_loops(flow: Flow, src: FlowSource, issues: Issues) -> None:
    """F109: states that move on by themselves in a circle."""
    moves: dict[str, list[str]] = {}
    for source, trigger, dest in flow.machine.edges():
        if trigger == Triggers.AUTO or trigger.startswith(Triggers.branch("")):
            moves.setdefault(source, []).append(dest)

    def auto_targets(s: str) -> list[str]:
        return moves.get(s, [])

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
                path = [n for n, _ in stack]
                circle = set(path[path.index(nxt):])
                if not circle & reported:  # one circle, one error, whichever state it was found from
                    reported |= circle
                    issues.add(M.AUTO_LOOP, src.file, src.line("states", nxt), nxt)
                continue
            if nxt in flow.states:
                stack.append((nxt, iter(auto_targets(nxt))))
                on_path.add(nxt)
