"""The context packet in words, for a counsellor to read in five seconds, in the console's
language: the situation and age band as the person chose them (the label of the button that
set each), the language and channel by name, and what the bot has already told them (the tags
of the states they went through, each with a ``console.told.<tag>`` text), and for a crisis
what led into it (the keywords as staff wrote them, the model, the answer to the direct
question: ``bot.turns.plan.with_trigger``). Nothing typed and nothing identifying: only what the
flow and its locale texts say.
"""
from __future__ import annotations

from typing import Any

from bot.engine.model import Flow

WORDED_VARIABLES = ("situation", "age_band")


def choice_words(flow: Flow, locale: str, name: str, value: str) -> str:
    """The label of a button that sets ``name`` to ``value``, in ``locale``; else the value."""
    for state in flow.states.values():
        for choice in state.choices:
            if (name, value) in choice.sets:
                return flow.text(locale, choice.label_key)
    return value


def _text_or_none(flow: Flow, locale: str, key: str, variables: dict[str, str] | None = None) -> str | None:
    return flow.text(locale, key, variables or {}) if key in flow.catalog.get(locale, {}) else None


def in_words(flow: Flow, context: dict[str, Any], language: str, channel: str, locale: str) -> dict[str, Any]:
    """``context``: the handoff's sealed packet (``handoffs.context_packet``); ``locale``: the
    console's. Returns the lines the console shows first."""
    variables = context.get("variables") or context.get("choices") or {}
    if not isinstance(variables, dict):
        variables = {}
    out: dict[str, Any] = {}
    for name in WORDED_VARIABLES:
        value = variables.get(name)
        out[name] = choice_words(flow, locale, name, str(value)) if value else None
    out["language"] = _text_or_none(flow, locale, f"console.language_{language}") or language
    out["channel"] = _text_or_none(flow, locale, f"console.channel_{channel}") or channel
    # What the bot told them: in the order they first met it, once per tag, with how many
    # states of it they went through (evidence has several steps).
    counts: dict[str, int] = {}
    for state_name in context.get("path") or []:
        state = flow.states.get(str(state_name))
        for tag in state.tags if state is not None else ():
            if f"console.told.{tag}" in flow.catalog.get(locale, {}):
                counts[tag] = counts.get(tag, 0) + 1
    told = []
    for tag, n in counts.items():
        what = flow.text(locale, f"console.told.{tag}")
        told.append(flow.text(locale, "console.told_steps", {"what": what, "n": str(n)}) if n > 1 else what)
    out["told"] = told
    out["triggers"] = triggers_in_words(flow, context.get("triggers"), locale)
    return out


def triggers_in_words(flow: Flow, triggers: Any, locale: str) -> list[str]:
    """What led into a crisis, one line per way in, newest last: 「死にたい」 (the keywords the
    matcher found, as the keyword file writes them), the model's reading, an answer to the
    direct question (「はい」), a button."""
    out: list[str] = []
    for entry in triggers if isinstance(triggers, list) else []:
        if not isinstance(entry, list) or len(entry) < 2:
            continue
        matched, before, keywords = str(entry[0]), str(entry[1]), [str(k) for k in entry[2:]]
        kind, _, name = matched.partition(":")
        if keywords:
            quoted = flow.text(locale, "console.trigger_quote_sep").join(
                flow.text(locale, "console.trigger_quote", {"word": k}) for k in keywords)
            out.append(flow.text(locale, "console.trigger_keywords", {"words": quoted}))
        elif kind == "model":
            out.append(flow.text(locale, "console.trigger_model"))
        elif kind == "choice":
            state = flow.states.get(before)
            choice = state.choice_by_id.get(name) if state is not None else None
            label = flow.text(locale, choice.label_key) if choice is not None else name
            asked = state is not None and bool({"crisis", "emergency"} & set(state.tags))
            out.append(flow.text(locale, "console.trigger_answer" if asked else "console.trigger_choice",
                                 {"label": label}))
        else:  # a whole short message close to a listed phrase, or a way the console does not know
            out.append(flow.text(locale, "console.trigger_phrase"))
    return out
