"""The flow as a Mermaid diagram NGO staff can read, states coloured by their first tag."""
from __future__ import annotations

from .flow import HUMAN_CHOICE_ID
from .model import Flow

TAG_COLOURS = {
    "welcome": "#e3f2fd", "triage": "#ede7f6", "reassure": "#e8f5e9", "law": "#fff8e1",
    "evidence": "#e0f7fa", "dont": "#fbe9e7", "removal": "#f3e5f5", "resources": "#f1f8e9",
    "handoff": "#fff3e0", "crisis": "#ffcdd2", "friend": "#fce4ec", "goodbye": "#eceff1",
}


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")[:40]


def to_mermaid(flow: Flow, locale: str | None = None) -> str:
    locale = locale or flow.default_locale
    lines = ["flowchart TD"]
    for name, st in flow.states.items():
        title = name + (f"<br/><small>{', '.join(st.tags)}</small>" if st.tags else "")
        shape = f'(["{title}"])' if st.end else f'["{title}"]'
        lines.append(f"    {name}{shape}")
    for name, st in flow.states.items():
        for c in st.choices:
            lines.append(f'    {name} -->|"{_label(flow.text(locale, c.label_key))}"| {c.target}')
        for r in st.routes:
            lines.append(f'    {name} -.->|"~{r.matcher.name}"| {r.target}')
        if st.next:
            lines.append(f"    {name} ==> {st.next}")
        if st.branch_var:
            for value, target in st.branch_cases.items():
                lines.append(f'    {name} ==>|"{st.branch_var}={value}"| {target}')
            lines.append(f'    {name} ==>|"otherwise"| {st.branch_default}')
    lines.append('    ANY(("from any state"))')
    for it in flow.interrupts:
        if it.target:
            lines.append(f'    ANY -.->|"{it.name}"| {it.target}')
    for r in flow.global_routes:
        lines.append(f'    ANY -.->|"~{r.matcher.name}"| {r.target}')
    lines.append(f'    ANY -.->|"{HUMAN_CHOICE_ID}"| {flow.human_state}')
    for tag, colour in TAG_COLOURS.items():
        lines.append(f"    classDef {tag} fill:{colour},stroke:#555")
    for name, st in flow.states.items():
        tag = next((t for t in st.tags if t in TAG_COLOURS), None)
        if tag:
            lines.append(f"    class {name} {tag}")
    return "\n".join(lines) + "\n"
