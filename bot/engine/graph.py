"""The flow as a diagram NGO staff can read: boxes labelled with what the bot says, per part.

``diagram`` reads where each move leads from the flow's machine and keeps what a reader needs:
a state's buttons, the words that lead on from it, its automatic moves; the moves possible from
every state (a crisis, "talk to a person", the flow's intents) drawn once, from one "any state"
node. ``part`` keeps the states with that tag (and the states they lead to, in grey); ``hide_human`` leaves out every arrow to the counsellor. ``to_dot`` writes Graphviz DOT
(render it with ``dot -Tsvg``), ``to_mermaid`` Mermaid; both with a legend. Text only: no I/O.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .flow import HUMAN_CHOICE_ID, RESUME
from .machine import Triggers
from .model import Flow

TAG_COLOURS = {
    "welcome": "#e3f2fd", "triage": "#ede7f6", "reassure": "#e8f5e9", "law": "#fff8e1",
    "evidence": "#e0f7fa", "dont": "#fbe9e7", "removal": "#f3e5f5", "resources": "#f1f8e9",
    "handoff": "#fff3e0", "crisis": "#ffcdd2", "friend": "#fce4ec", "goodbye": "#eceff1",
}
OUTSIDE_COLOUR = "#f5f5f5"
ANY = "*"  # the node for moves possible from every state
LABEL_CHARS = {"ja": 18, "en": 34}  # the first words of a state's text, in characters
WORDS = {
    "en": {"any": "from any state", "back": "back to where they were", "otherwise": "otherwise",
           "decides": "decides by {var}", "legend": "Legend", "button": "a button", "typed": "words typed (~intent)",
           "auto": "moves on by itself", "anywhere": "from any state (interrupts, the flow's intents)",
           "end": "ends the conversation", "outside": "another part"},
    "ja": {"any": "どの状態からでも", "back": "元の場所へもどる", "otherwise": "それ以外",
           "decides": "{var} で分かれる", "legend": "凡例", "button": "ボタン", "typed": "入力された言葉（~意図）",
           "auto": "自動で次へ", "anywhere": "どの状態からでも（割り込み、フロー全体の意図）",
           "end": "会話のおわり", "outside": "ほかの部分"},
}


@dataclass(frozen=True)
class Box:
    id: str
    title: str          # the first words the bot says there
    tags: tuple[str, ...] = ()
    end: bool = False
    outside: bool = False  # beyond the part drawn: shown in grey for where arrows lead

    @property
    def colour(self) -> str:
        if self.outside:
            return OUTSIDE_COLOUR
        return next((TAG_COLOURS[t] for t in self.tags if t in TAG_COLOURS), "#ffffff")


@dataclass(frozen=True)
class Arrow:
    source: str
    dest: str
    kind: str       # button | typed | auto | anywhere
    label: str = ""


@dataclass
class Diagram:
    boxes: dict[str, Box] = field(default_factory=dict)
    arrows: list[Arrow] = field(default_factory=list)
    lang: str = "ja"

    def tags(self) -> list[str]:
        return [t for t in TAG_COLOURS if any(t in b.tags for b in self.boxes.values() if not b.outside)]


def first_words(text: str, lang: str) -> str:
    """The start of ``text``: a few words, cut at a word in English, at a length in Japanese."""
    flat = re.sub(r"\s+", " ", text).strip()
    limit = LABEL_CHARS.get(lang, LABEL_CHARS["en"])
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    if " " in cut and lang != "ja":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" 、。,.") + "…"


def diagram(flow: Flow, lang: str | None = None, part: str | None = None, hide_human: bool = False) -> Diagram:
    lang = lang if lang in flow.locales else flow.default_locale
    words = WORDS["ja" if lang == "ja" else "en"]
    machine = flow.machine
    out = Diagram(lang=lang)
    global_intents = {r.trigger for r in flow.global_routes}

    def title(name: str) -> str:
        st = flow.states[name]
        if st.say:
            return first_words(flow.text(lang, st.say[0]), lang)
        return words["decides"].format(var=st.branch_var) if st.branch_var else name

    def keep(arrow: Arrow) -> None:
        if hide_human and arrow.dest == flow.human_state:
            return
        out.arrows.append(arrow)

    for name, st in flow.states.items():
        for choice in st.choices:
            keep(Arrow(name, machine.resolve(name, choice.trigger), "button", flow.text(lang, choice.label_key)))
        for route in st.routes:
            keep(Arrow(name, machine.resolve(name, route.trigger), "typed", f"~{route.matcher.name}"))
        if st.moves_on and st.branch_var is None:
            keep(Arrow(name, machine.resolve(name, Triggers.AUTO), "auto"))
        elif st.branch_var:
            for value in st.branch_cases:
                keep(Arrow(name, machine.resolve(name, Triggers.branch(value)), "auto", f"{st.branch_var}={value}"))
            keep(Arrow(name, machine.resolve(name, Triggers.BRANCH_DEFAULT), "auto", words["otherwise"]))
    # Moves from every state, once: read from the start state's row of the machine.
    anywhere = [(it.trigger, it.name) for it in flow.interrupts]
    anywhere += [(trigger, f"~{trigger.split(':', 1)[1]}") for trigger in sorted(global_intents)]
    anywhere += [(Triggers.choice(HUMAN_CHOICE_ID), flow.text(lang, flow.texts.choice_human))]
    anywhere += [(Triggers.MODEL_CRISIS, Triggers.MODEL_CRISIS), (Triggers.MODEL_EMERGENCY, Triggers.MODEL_EMERGENCY),
                 (Triggers.OTHER_LANGUAGE, Triggers.OTHER_LANGUAGE)]
    for trigger, label in anywhere:
        # Read from a state with no route of its own for the trigger (a state's own route wins there).
        source = next((n for n, st in flow.states.items() if all(r.trigger != trigger for r in st.routes)), flow.start)
        dest = machine.resolve(source, trigger)
        if dest:
            keep(Arrow(ANY, dest, "anywhere", label))

    inside = {n for n, st in flow.states.items() if part is None or part in st.tags}
    if part is not None:  # the part's own moves, where they lead, and what leads in from anywhere
        out.arrows = [a for a in out.arrows if a.source in inside or (a.source == ANY and a.dest in inside)]
    out.arrows = _merged(out.arrows)
    drawn = inside | {a.source for a in out.arrows} | {a.dest for a in out.arrows}
    for name in flow.states:
        if name in drawn:
            st = flow.states[name]
            out.boxes[name] = Box(name, title(name), st.tags, st.end, name not in inside)
    if ANY in drawn:
        out.boxes[ANY] = Box(ANY, words["any"])
    if RESUME in drawn:
        out.boxes[RESUME] = Box(RESUME, words["back"])
    return out


def _merged(arrows: list[Arrow]) -> list[Arrow]:
    """Arrows of one kind between the same two boxes drawn as one, their labels joined."""
    by_ends: dict[tuple[str, str, str], list[str]] = {}
    for a in arrows:
        labels = by_ends.setdefault((a.source, a.dest, a.kind), [])
        if a.label and a.label not in labels:
            labels.append(a.label)
    return [Arrow(source, dest, kind, " / ".join(labels)) for (source, dest, kind), labels in by_ends.items()]


# -- DOT -----------------------------------------------------------------------------------------------

_DOT_STYLE = {"button": 'style=solid', "typed": 'style=dashed', "auto": 'style=bold, color="#555555"',
              "anywhere": 'style=dotted, color="#c62828"'}


def _id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(flow: Flow, lang: str | None = None, part: str | None = None, hide_human: bool = False) -> str:
    d = diagram(flow, lang, part, hide_human)
    words = WORDS["ja" if d.lang == "ja" else "en"]
    font = "Noto Sans CJK JP"
    lines = [f"digraph {_id(flow.name + (':' + part if part else ''))} {{",
             f'  graph [rankdir=TB, fontname="{font}", fontsize=11, nodesep=0.3, ranksep=0.6];',
             f'  node [shape=box, style="rounded,filled", fontname="{font}", fontsize=11, margin="0.15,0.06"];',
             f'  edge [fontname="{font}", fontsize=9, color="#37474f"];']
    for box in d.boxes.values():
        small = box.id if box.id not in (ANY, RESUME) else ""
        if box.tags and box.id not in (ANY, RESUME):
            small += " · " + ", ".join(box.tags)
        label = f"<b>{html.escape(box.title)}</b>" + (f'<br/><font point-size="8" color="#555555">{html.escape(small)}</font>'
                                                       if small else "")
        extra = ", peripheries=2" if box.end else ""
        if box.id == ANY:
            extra += ', shape=ellipse, style=filled, fillcolor="#ffebee"'
        elif box.outside:
            extra += ', fontcolor="#616161", color="#9e9e9e"'
        lines.append(f'  {_id(box.id)} [label=<{label}>, fillcolor="{box.colour}"{extra}];')
    for a in d.arrows:
        label = f", label={_id(a.label)}" if a.label else ""
        lines.append(f"  {_id(a.source)} -> {_id(a.dest)} [{_DOT_STYLE[a.kind]}{label}];")
    lines += _dot_legend(d, words)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_legend(d: Diagram, words: dict[str, str]) -> list[str]:
    rows = "".join(f'<tr><td bgcolor="{TAG_COLOURS[t]}">{html.escape(t)}</td></tr>' for t in d.tags())
    rows += f'<tr><td bgcolor="{OUTSIDE_COLOUR}">{html.escape(words["outside"])}</td></tr>'
    out = ["  subgraph cluster_legend {", f"    label={_id(words['legend'])}; style=dashed; color=\"#9e9e9e\";",
           f'    legend_tags [shape=plaintext, style="", label=<<table border="0" cellborder="1" cellspacing="0">{rows}</table>>];',
           f'    legend_end [label={_id(words["end"])}, peripheries=2, fillcolor="#ffffff"];']
    for i, kind in enumerate(("button", "typed", "auto", "anywhere")):
        out.append(f'    legend_{i}a [shape=point, width=0.05]; legend_{i}b [shape=point, width=0.05];')
        out.append(f'    legend_{i}a -> legend_{i}b [{_DOT_STYLE[kind]}, label={_id(words[kind])}];')
    out.append("  }")
    return out


# -- Mermaid ---------------------------------------------------------------------------------------------

_MERMAID_ARROW = {"button": "-->", "typed": "-.->", "auto": "==>", "anywhere": "-.->"}


def _mermaid_id(name: str) -> str:
    return {ANY: "ANY", RESUME: "RESUME"}.get(name, re.sub(r"[^A-Za-z0-9_]", "_", name))


def _mermaid_text(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def to_mermaid(flow: Flow, locale: str | None = None, part: str | None = None, hide_human: bool = False) -> str:
    d = diagram(flow, locale, part, hide_human)
    words = WORDS["ja" if d.lang == "ja" else "en"]
    lines = ["flowchart TD"]
    for box in d.boxes.values():
        text = _mermaid_text(box.title) + (f"<br/><small>{box.id}</small>" if box.id not in (ANY, RESUME) else "")
        shape = f'(["{text}"])' if box.end else (f'(("{text}"))' if box.id == ANY else f'["{text}"]')
        lines.append(f"    {_mermaid_id(box.id)}{shape}")
    for a in d.arrows:
        label = f'|"{_mermaid_text(a.label)}"|' if a.label else ""
        lines.append(f"    {_mermaid_id(a.source)} {_MERMAID_ARROW[a.kind]}{label} {_mermaid_id(a.dest)}")
    lines.append(f'    subgraph legend["{words["legend"]}"]')
    for i, kind in enumerate(("button", "typed", "auto")):
        lines.append(f'        L{i}a[" "] {_MERMAID_ARROW[kind]}|"{words[kind]}"| L{i}b[" "]')
    lines.append("    end")
    for tag, colour in TAG_COLOURS.items():
        lines.append(f"    classDef {tag} fill:{colour},stroke:#555")
    lines.append(f"    classDef outside fill:{OUTSIDE_COLOUR},stroke:#9e9e9e,color:#616161")
    for box in d.boxes.values():
        tag = "outside" if box.outside else next((t for t in box.tags if t in TAG_COLOURS), None)
        if tag:
            lines.append(f"    class {_mermaid_id(box.id)} {tag}")
    return "\n".join(lines) + "\n"
