"""What changed between two versions of the content, in plain words and as a YAML diff.

For staff deciding whether to publish: states added and removed, texts changed per locale, and
buttons added and removed per state; then the unified diff of each file that changed.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from .flowfiles import FlowFiles
from .yamlsource import YamlSyntaxError, parse_yaml

WORDS = {
    "en": {"same": "no change", "states_added": "states added", "states_removed": "states removed",
           "texts_changed": "texts changed ({locale})", "texts_added": "texts added ({locale})",
           "texts_removed": "texts removed ({locale})", "buttons_added": "buttons added",
           "buttons_removed": "buttons removed", "files": "files changed", "button": "{state}: {id} → {target}"},
    "ja": {"same": "変更はありません", "states_added": "増えた状態", "states_removed": "なくなった状態",
           "texts_changed": "変わった文（{locale}）", "texts_added": "増えた文（{locale}）",
           "texts_removed": "なくなった文（{locale}）", "buttons_added": "増えたボタン",
           "buttons_removed": "なくなったボタン", "files": "変わったファイル", "button": "{state}：{id} → {target}"},
}


@dataclass
class Diff:
    states_added: list[str] = field(default_factory=list)
    states_removed: list[str] = field(default_factory=list)
    # locale -> {"changed": [keys], "added": [keys], "removed": [keys]}
    texts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    buttons_added: list[tuple[str, str, str]] = field(default_factory=list)    # (state, id, target)
    buttons_removed: list[tuple[str, str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    yaml: str = ""

    @property
    def empty(self) -> bool:
        return not self.files

    def words(self, lang: str = "en") -> list[str]:
        """The plain-words summary, one line per kind of change."""
        w = WORDS["ja" if lang == "ja" else "en"]
        if self.empty:
            return [w["same"]]
        out = []
        for key, names in (("states_added", self.states_added), ("states_removed", self.states_removed)):
            if names:
                out.append(f"{w[key]}: {', '.join(names)}")
        for locale, kinds in sorted(self.texts.items()):
            for kind in ("changed", "added", "removed"):
                if kinds.get(kind):
                    out.append(f"{w['texts_' + kind].format(locale=locale)}: {', '.join(kinds[kind])}")
        for key, buttons in (("buttons_added", self.buttons_added), ("buttons_removed", self.buttons_removed)):
            if buttons:
                shown = ", ".join(w["button"].format(state=s, id=i, target=t) for s, i, t in buttons)
                out.append(f"{w[key]}: {shown}")
        out.append(f"{w['files']}: {', '.join(self.files)}")
        return out


def compare(old: FlowFiles, new: FlowFiles) -> Diff:
    diff = Diff()
    old_states, new_states = _states(old), _states(new)
    diff.states_added = [s for s in new_states if s not in old_states]
    diff.states_removed = [s for s in old_states if s not in new_states]
    for state, buttons in new_states.items():
        before = old_states.get(state, {})
        diff.buttons_added += [(state, b, t) for b, t in buttons.items() if b not in before]
    for state, buttons in old_states.items():
        after = new_states.get(state, {})
        diff.buttons_removed += [(state, b, t) for b, t in buttons.items() if b not in after]
    old_texts, new_texts = _texts(old), _texts(new)
    for locale in sorted(set(old_texts) | set(new_texts)):
        a, b = old_texts.get(locale, {}), new_texts.get(locale, {})
        kinds = {"changed": [k for k in b if k in a and a[k] != b[k]],
                 "added": [k for k in b if k not in a], "removed": [k for k in a if k not in b]}
        if any(kinds.values()):
            diff.texts[locale] = kinds
    old_named, new_named = old.named(), new.named()
    chunks = []
    for name in sorted(set(old_named) | set(new_named)):
        a, b = old_named.get(name, ""), new_named.get(name, "")
        if a == b:
            continue
        diff.files.append(name)
        chunks.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                           fromfile=f"a/{name}", tofile=f"b/{name}"))
    diff.yaml = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return diff


def _data(text: str, name: str) -> Any:
    try:
        return parse_yaml(text, name).data
    except YamlSyntaxError:  # a stored version was checked; an unreadable one shows in the YAML diff only
        return None


def _states(files: FlowFiles) -> dict[str, dict[str, str]]:
    """state -> {button id: target}, in the file's order."""
    data = _data(files.flow, f"flows/{files.flow_file}")
    states = data.get("states") if isinstance(data, dict) else None
    out: dict[str, dict[str, str]] = {}
    for name, state in (states or {}).items():
        choices = state.get("choices") if isinstance(state, dict) else None
        out[str(name)] = {str(c.get("id")): str(c.get("target", "")) for c in choices or [] if isinstance(c, dict)}
    return out


def _texts(files: FlowFiles) -> dict[str, dict[str, str]]:
    """locale -> {dotted key: text}, over every file of that locale (ja.yaml, ja.console.yaml...)."""
    out: dict[str, dict[str, str]] = {}
    for name, text in sorted(files.locales.items()):
        data = _data(text, f"locales/{name}")
        if isinstance(data, dict) and isinstance(data.get("texts"), dict):
            _flatten(data["texts"], "", out.setdefault(name.split(".")[0], {}))
    return out


def _flatten(node: dict, prefix: str, out: dict[str, str]) -> None:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, dotted + ".", out)
        else:
            out[dotted] = str(value)
