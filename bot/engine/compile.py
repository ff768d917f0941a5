"""Compiling checked documents into the pure ``Flow`` the turns run on.

Nothing here reports a problem: ``checks`` has done that, and ``loader`` compiles only what
passed. Every move (a choice, a route, an interrupt, an automatic move, a branch) becomes an edge
of the flow's ``FlowMachine``, the one place that says where a move leads.
"""
from __future__ import annotations

import re
import string
from typing import Iterable

from .codes import M, Message
from .flow import HUMAN_CHOICE_ID, RESUME, FlowDoc
from .intents import IntentMatcher, IntentSpec, KeywordIndex, compile_intent
from .locales import Locale
from .machine import FlowMachine, Triggers
from .model import CompiledChoice, CompiledInterrupt, CompiledRoute, CompiledState, Effect, Flow, Text
from .normalise import normalise
from .resources import Resource

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
WORD_REF = re.compile(r"\{([A-Za-z0-9_]+)\}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Problem = tuple[Message, dict]


def utf16_len(text: str) -> int:
    """LINE counts text length in UTF-16 code units (an emoji can count 2)."""
    return len(text.encode("utf-16-le")) // 2


def fill_placeholders(text: str, locale: str, default_locale: str,
                      resources: dict[str, Resource]) -> tuple[str, bool, list[Problem]]:
    """Resolve ``{resource.field}``; keep ``{variable}``. Returns (template, has_variables, problems)."""
    problems: list[Problem] = []
    has_variables = False

    def replace(match: re.Match) -> str:
        nonlocal has_variables
        name = match.group(1)
        if "." in name:
            rid, _, fld = name.partition(".")
            res = resources.get(rid)
            if res is None:
                problems.append((M.PLACEHOLDER_UNKNOWN_RESOURCE, {"placeholder": name, "resource": rid}))
                return match.group(0)
            value = res.field(fld, locale, default_locale)
            if value is None:
                problems.append((M.PLACEHOLDER_UNKNOWN_FIELD, {"placeholder": name, "resource": rid, "field": fld}))
                return match.group(0)
            return value.replace("{", "{{").replace("}", "}}")
        if not _VARIABLE.fullmatch(name):
            problems.append((M.PLACEHOLDER_NOT_A_NAME, {"placeholder": name}))
            return match.group(0)
        has_variables = True
        return match.group(0)

    template = PLACEHOLDER.sub(replace, text)
    if not problems:
        try:  # stray braces would break formatting at run time
            list(string.Formatter().parse(template))
        except ValueError:
            problems.append((M.PLACEHOLDER_LONE_BRACE, {}))
    if not has_variables:
        template = template.replace("{{", "{").replace("}}", "}")
    return template, has_variables, problems


def compile_catalog(locales: Iterable[Locale], default_locale: str,
                    resources: dict[str, Resource]) -> dict[str, dict[str, Text]]:
    """locale -> key -> text with the services' numbers and hours filled in."""
    catalog: dict[str, dict[str, Text]] = {}
    for loc in locales:
        cat: dict[str, Text] = {}
        for key, raw in loc.texts.items():
            template, has_vars, _ = fill_placeholders(raw, loc.code, default_locale, resources)
            cat[key] = Text(template, has_vars)
        catalog[loc.code] = cat
    return catalog


def qualify_word_lists(pattern: str, loc: Locale, locales: dict[str, Locale]) -> str | None:
    """``{near}`` -> ``{ja.near}``: the locale's own list, else another locale's; None when no
    locale has it (``checks.check_word_lists`` reports that)."""
    missing = False

    def qualify(match: re.Match) -> str:
        nonlocal missing
        name = match.group(1)
        owner = loc if name in loc.words else next((o for o in locales.values() if name in o.words), None)
        if owner is None:
            missing = True
            return match.group(0)
        return "{" + f"{owner.code}.{name}" + "}"

    out = WORD_REF.sub(qualify, pattern)
    return None if missing else out


def compile_intents(locales: dict[str, Locale]) -> tuple[dict[str, IntentMatcher], KeywordIndex]:
    """Every intent compiled once, over all locales: keywords into one shared index."""
    matchers: dict[str, IntentMatcher] = {}
    specs: dict[str, IntentSpec] = {}
    # Word lists by locale: {near} is not the same words in Japanese and English.
    words = {f"{loc.code}.{wname}": values for loc in locales.values() for wname, values in loc.words.items()}

    def qualified(patterns: list[str], loc: Locale) -> list[str]:
        return [q for q in (qualify_word_lists(p, loc, locales) for p in patterns) if q is not None]

    for name in sorted({n for loc in locales.values() for n in loc.intents}):
        keywords, phrases, idioms, unless, model_unless, negation, quoted = [], [], [], [], [], True, True
        for loc in locales.values():
            spec = loc.intents.get(name, {})
            keywords += qualified(spec.get("keywords", []), loc)
            phrases += spec.get("phrases", [])
            idioms += qualified(spec.get("idioms", []), loc)
            unless += qualified(spec.get("unless", []), loc)
            model_unless += qualified(spec.get("model_unless", []), loc)
            negation = negation and spec.get("negation", True)
            quoted = quoted and spec.get("quoted", True)
        matchers[name] = compile_intent(name, phrases)
        specs[name] = IntentSpec(tuple(keywords), tuple(phrases), tuple(idioms), negation, quoted, tuple(unless),
                                 tuple(model_unless))
    return matchers, KeywordIndex(specs, words)


def machine_edges(fd: FlowDoc) -> list[tuple[str, str, str]]:
    """(trigger, source, dest) for every move of the flow; source "*" is every state.

    A choice to ``@resume`` leads to the machine's ``@resume`` state: the turn reads where
    "back" is from the session. A state's own route for an intent wins over the flow's."""
    edges: list[tuple[str, str, str]] = []
    for sname, st in fd.states.items():
        for c in st.choices:
            edges.append((Triggers.choice(c.id), sname, c.target))
        for r in st.routes:
            edges.append((Triggers.intent(r.intent), sname, r.target))
        if st.next:
            edges.append((Triggers.AUTO, sname, st.next))
        if st.branch:
            for value, target in st.branch.cases.items():
                edges.append((Triggers.branch(value), sname, target))
            edges.append((Triggers.BRANCH_DEFAULT, sname, st.branch.default))
        edges.append((Triggers.choice(HUMAN_CHOICE_ID), sname, fd.human_state))
        if st.end:
            edges.append((Triggers.RESTART, sname, fd.start))
        for r in fd.intents:
            if not any(x.intent == r.intent for x in st.routes):
                edges.append((Triggers.intent(r.intent), sname, r.target))
    for it in fd.interrupts:
        if it.target:
            edges.append((Triggers.interrupt(it.name), "*", it.target))
    for trigger, target in ((Triggers.MODEL_CRISIS, fd.model.crisis), (Triggers.MODEL_EMERGENCY, fd.model.emergency),
                            (Triggers.OTHER_LANGUAGE, fd.other_language)):
        if target:
            edges.append((trigger, "*", target))
    return edges


def compile_flow(fd: FlowDoc, file: str, version: str, locales: dict[str, Locale], resources: dict[str, Resource],
                 matchers: dict[str, IntentMatcher], keywords: KeywordIndex, classifier) -> Flow:
    """The pure ``Flow`` of one checked document."""
    default_locale = fd.default_locale
    folded_cache: dict[str, tuple[str, ...]] = {}
    # An intent no locale has (reported as F111) still compiles: it matches nothing.
    matcher = lambda intent: matchers.get(intent) or compile_intent(intent, ())  # noqa: E731

    def folded(label_key: str) -> tuple[str, ...]:
        if label_key not in folded_cache:
            folded_cache[label_key] = tuple(sorted({normalise(loc.texts[label_key]) for loc in locales.values()
                                                    if label_key in loc.texts}))
        return folded_cache[label_key]

    def route(intent: str, sets: dict[str, str], target: str) -> CompiledRoute:
        return CompiledRoute(matcher(intent), target, tuple(sets.items()), Triggers.intent(intent))

    compiled: dict[str, CompiledState] = {}
    for sname, st in fd.states.items():
        choices = tuple(CompiledChoice(c.id, c.label, c.target, tuple(c.set.items()), folded(c.label),
                                       Triggers.choice(c.id)) for c in st.choices)
        compiled[sname] = CompiledState(
            name=sname, say=tuple(st.say), tags=tuple(st.tags), links=tuple(st.links), choices=choices,
            choice_by_id={c.id: c for c in choices}, routes=tuple(route(r.intent, r.set, r.target) for r in st.routes),
            fallback=st.fallback, next=st.next, branch_var=st.branch.var if st.branch else None,
            branch_cases=dict(st.branch.cases) if st.branch else {},
            branch_default=st.branch.default if st.branch else None,
            effects=tuple(Effect(e.type, {"locale": e.locale} if e.locale else {}) for e in st.effects),
            end=st.end, offers_human=any(c.target == fd.human_state for c in st.choices),
            say_again=tuple(st.say_again), ack=st.ack, asks=frozenset(k for c in st.choices for k in c.set),
            is_detour=any(c.target == RESUME for c in st.choices), moves_on=bool(st.next or st.branch),
        )
    owners: dict[str, list[str]] = {}
    for sname, st in fd.states.items():
        for c in st.choices:
            owners.setdefault(c.id, []).append(sname)
    return Flow(
        name=fd.flow, version=version, file=file, start=fd.start, human_state=fd.human_state,
        handoff_return=fd.handoff_return, default_locale=default_locale,
        locales=tuple(sorted(locales, key=lambda c: (c != default_locale, c))),
        expiry_seconds=fd.expiry_hours * 3600, max_auto_moves=fd.max_auto_moves, texts=fd.texts,
        states=compiled,
        interrupts=tuple(CompiledInterrupt(it.name, matcher(it.intent), it.target, it.set_locale,
                                           Triggers.interrupt(it.name)) for it in fd.interrupts),
        global_routes=tuple(route(r.intent, r.set, r.target) for r in fd.intents),
        catalog=compile_catalog(locales.values(), default_locale, resources), resources=resources,
        machine=FlowMachine(list(fd.states), machine_edges(fd)), keywords=keywords,
        unique_choices={cid: names[0] for cid, names in owners.items() if len(names) == 1},
        resume_default=fd.resume_default, other_language=fd.other_language, ack_intent=fd.ack_intent,
        classifier=classifier, model_crisis=fd.model.crisis, model_emergency=fd.model.emergency,
        routed_intents=frozenset(it.intent for it in fd.interrupts) | frozenset(r.intent for r in fd.intents),
        aliases={old: new for old, new in fd.aliases.items() if old not in fd.states},
    )
