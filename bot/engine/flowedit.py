"""Edits of a version's files as pure operations: ``FlowFiles`` in, ``FlowFiles`` out.

What the console's editor sends is one of these operations, never a whole file, so two editors
working on the same draft never overwrite each other (``FlowVersions.edit_draft`` applies them
one at a time under a row lock). Each keeps the files as staff wrote them: comments, order,
quotes and layout survive (ruamel.yaml's round trip, as ``bot test --update``); only the
changed value is new. An edit that cannot be made raises ``EditRefused`` (a ``ValueError``
with ``.ja``), saying why in both languages; nothing is changed then.

An edit may leave the files with checker errors (a button to a state not written yet): the
draft keeps them and the checker's issues show on the card; publishing refuses errors.

    files = set_text(files, "welcome.hello", "ja", "こんにちは")
    files = add_state(files, "new_step", tag="evidence", texts={"ja": "…", "en": "…"})
    files = add_choice(files, "welcome", "go_new", labels={"ja": "次へ", "en": "Next"}, target="new_step")
"""
from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from .flow import HUMAN_CHOICE_ID, NAME_PATTERN, RESUME
from .flowfiles import FlowFiles

LANGUAGES = ("ja", "en")
MAX_ID = 40
_NAME = re.compile(NAME_PATTERN)


class EditRefused(ValueError):
    """An edit that cannot be made: the message in English (``str(e)``) and Japanese (``.ja``)."""

    def __init__(self, en: str, ja: str):
        super().__init__(en)
        self.en, self.ja = en, ja


# ---- the YAML round trip --------------------------------------------------------------------------

def round_trip_yaml() -> YAML:
    """ruamel.yaml set to write files back as staff wrote them (the editor's two modules share it)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(text: str, name: str) -> Any:
    try:
        return round_trip_yaml().load(text)
    except Exception as exc:  # noqa: BLE001 - ruamel raises many kinds; all mean "cannot be read"
        raise EditRefused(f"{name} cannot be read ({type(exc).__name__}); fix it in the YAML first",
                          f"{name} が読めません（{type(exc).__name__}）。先に YAML を直してください") from None


def _dump(data: Any) -> str:
    out = io.StringIO()
    round_trip_yaml().dump(data, out)
    return out.getvalue()


def _flow_doc(files: FlowFiles) -> CommentedMap:
    data = _load(files.flow, f"flows/{files.flow_file}")
    if not isinstance(data, dict) or not isinstance(data.get("states"), dict):
        raise EditRefused(f"flows/{files.flow_file} has no `states:`", f"flows/{files.flow_file} に `states:` がありません")
    return data


def _with_flow(files: FlowFiles, data: CommentedMap) -> FlowFiles:
    return dataclasses.replace(files, flow=_dump(data))


def _inline(mapping: dict) -> CommentedMap:
    out = CommentedMap(mapping)
    out.fa.set_flow_style()
    return out


# ---- reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pointer:
    """Something that leads to a state: ``state`` (None: the flow itself), ``kind`` (choice,
    next, branch, route, interrupt, intent, field, alias) and ``what`` (the choice id, intent,
    field name...)."""

    state: str | None
    kind: str
    what: str

    def describe(self, lang: str = "en") -> str:
        if lang == "ja":
            where = f"「{self.state}」" if self.state else "フロー全体"
            return f"{where}（{KINDS_JA.get(self.kind, self.kind)} {self.what}）".replace(" ）", "）")
        where = f'"{self.state}"' if self.state else "the flow"
        return f"{where} ({self.kind} {self.what})".replace(" )", ")")


KINDS_JA = {"choice": "ボタン", "next": "次へ", "branch": "分かれ道", "route": "言葉", "interrupt": "割り込み",
            "intent": "言葉（どこからでも）", "field": "設定", "alias": "別名"}


def pointers_to(files: FlowFiles, state: str) -> list[Pointer]:
    """Every place in the flow that leads to ``state`` (its own buttons back to itself excluded)."""
    return _pointing(_flow_doc(files), state)


def _pointing(data: dict, state: str) -> list[Pointer]:
    return [Pointer(s, kind, what) for target, s, kind, what, _ in _moves(data) if target == state and s != state]


def _moves(data: dict) -> Iterator[tuple[str, str | None, str, str, tuple]]:
    """(target, state, kind, what, path) of every move in the flow document."""
    for name in ("start", "human_state", "handoff_return", "resume_default", "other_language"):
        if data.get(name):
            yield str(data[name]), None, "field", name, (name,)
    for name, target in (data.get("model") or {}).items():
        if target:
            yield str(target), None, "field", f"model.{name}", ("model", name)
    for old, new in (data.get("aliases") or {}).items():
        yield str(new), None, "alias", str(old), ("aliases", old)
    for i, it in enumerate(data.get("interrupts") or ()):
        if isinstance(it, dict) and it.get("target"):
            yield str(it["target"]), None, "interrupt", str(it.get("name", i)), ("interrupts", i, "target")
    for i, r in enumerate(data.get("intents") or ()):
        if isinstance(r, dict) and r.get("target"):
            yield str(r["target"]), None, "intent", str(r.get("intent", i)), ("intents", i, "target")
    for sname, st in (data.get("states") or {}).items():
        if not isinstance(st, dict):
            continue
        for j, ch in enumerate(st.get("choices") or ()):
            if isinstance(ch, dict) and ch.get("target"):
                yield str(ch["target"]), sname, "choice", str(ch.get("id", j)), ("states", sname, "choices", j, "target")
        for j, r in enumerate(st.get("routes") or ()):
            if isinstance(r, dict) and r.get("target"):
                yield str(r["target"]), sname, "route", str(r.get("intent", j)), ("states", sname, "routes", j, "target")
        if st.get("next"):
            yield str(st["next"]), sname, "next", "", ("states", sname, "next")
        branch = st.get("branch")
        if isinstance(branch, dict):
            for value, target in (branch.get("cases") or {}).items():
                yield str(target), sname, "branch", str(value), ("states", sname, "branch", "cases", value)
            if branch.get("default"):
                yield str(branch["default"]), sname, "branch", "default", ("states", sname, "branch", "default")


def _set_path(data: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _lang_of(file_name: str) -> str:
    return file_name.split(".", 1)[0]


def _texts_files(files: FlowFiles, lang: str) -> list[str]:
    """The locale files of ``lang`` that hold texts, the main one (``ja.yaml``) first."""
    names = [n for n in files.locales if _lang_of(n) == lang and not n.endswith(".intents.yaml")]
    return sorted(names, key=lambda n: (n != f"{lang}.yaml", n))


def _get_key(texts: Any, key: str) -> Any:
    node = texts
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def text_of(files: FlowFiles, key: str, lang: str) -> str | None:
    """The text ``key`` in ``lang`` as written (placeholders not filled), or None."""
    for name in _texts_files(files, lang):
        data = _load(files.locales[name], f"locales/{name}")
        found = _get_key((data or {}).get("texts"), key) if isinstance(data, dict) else None
        if isinstance(found, str):
            return str(found)
    return None


# ---- texts -----------------------------------------------------------------------------------------

def _styled_text(text: str, old: Any) -> Any:
    if "\n" in text:
        return LiteralScalarString(text)
    if isinstance(old, str) and type(old) is not str and not isinstance(old, LiteralScalarString):
        try:
            return type(old)(text)  # the same quotes as before
        except TypeError:
            return text
    return text


def _clean_text(text: Any, lang: str) -> str:
    if not isinstance(text, str):
        raise EditRefused(f"the {lang} text must be text", f"{lang} のテキストは文字で書いてください")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise EditRefused(f"the {lang} text is empty: write something, or remove the text",
                          f"{lang} のテキストが空です。何か書くか、テキストを消してください")
    return text


def set_text(files: FlowFiles, key: str, lang: str, text: str) -> FlowFiles:
    """The text ``key`` in ``lang`` becomes ``text``; a key the language does not have yet is
    added to its main file (``<lang>.yaml``) under ``texts:``."""
    if lang not in LANGUAGES:
        raise EditRefused(f'unknown language "{lang}" (ja or en)', f"言語「{lang}」はありません（ja か en）")
    if not key or not all(re.match(r"^[A-Za-z0-9_\-]+$", p) for p in key.split(".")):
        raise EditRefused(f'"{key}" is not a text key (letters, digits, "_", "-", parts joined by ".")',
                          f"「{key}」はテキストのキーになりません（英数字・_・-、区切りは .）")
    text = _clean_text(text, lang)
    names = _texts_files(files, lang)
    if not names:
        raise EditRefused(f"there is no locales/{lang}.yaml", f"locales/{lang}.yaml がありません")
    target_name, target_data = None, None
    for name in names:
        data = _load(files.locales[name], f"locales/{name}")
        if isinstance(data, dict) and _get_key(data.get("texts"), key) is not None:
            target_name, target_data = name, data
            break
    if target_name is None:
        target_name = names[0]
        target_data = _load(files.locales[target_name], f"locales/{target_name}")
        if not isinstance(target_data, dict):
            raise EditRefused(f"locales/{target_name} is not a mapping", f"locales/{target_name} の形が正しくありません")
        if target_data.get("texts") is None:
            target_data["texts"] = CommentedMap()
    node = target_data["texts"]
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = CommentedMap()
        elif not isinstance(child, dict):
            raise EditRefused(f'"{key}": "{part}" is a text, not a group', f"「{key}」：「{part}」はテキストで、グループではありません")
        node = child
    if isinstance(node.get(parts[-1]), dict):
        raise EditRefused(f'"{key}" is a group of texts, not one text', f"「{key}」はテキストのグループで、一つのテキストではありません")
    node[parts[-1]] = _styled_text(text, node.get(parts[-1]))
    locales = dict(files.locales)
    locales[target_name] = _dump(target_data)
    return dataclasses.replace(files, locales=locales)


def _state(data: dict, state: str) -> CommentedMap:
    st = data["states"].get(state)
    if st is None:
        raise EditRefused(f'there is no state "{state}"', f"状態「{state}」はありません")
    if not isinstance(st, dict):
        raise EditRefused(f'state "{state}" is not a mapping', f"状態「{state}」の形が正しくありません")
    return st


def set_state_text(files: FlowFiles, state: str, lang: str, text: str, index: int = 0) -> FlowFiles:
    """What ``state`` says in its ``index``-th bubble (its ``say:`` key), in ``lang``."""
    says = list(_state(_flow_doc(files), state).get("say") or [])
    if isinstance(says, str):
        says = [says]
    if not 0 <= index < len(says):
        raise EditRefused(f'state "{state}" has no bubble {index + 1}', f"状態「{state}」に {index + 1} 番目の吹き出しはありません")
    return set_text(files, str(says[index]), lang, text)


def _check_id(value: str, what_en: str, what_ja: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_ID or not _NAME.match(value):
        raise EditRefused(f'{what_en} "{value}" may use only letters, digits, "_" and "-" (at most {MAX_ID})',
                          f"{what_ja}「{value}」に使えるのは英数字・_・- だけです（{MAX_ID} 文字まで）")
    return value


def _free_key(files: FlowFiles, wanted: list[str]) -> str:
    """The first of ``wanted`` no language has yet (else the last with a number)."""
    for key in wanted:
        if all(text_of(files, key, lang) is None for lang in LANGUAGES):
            return key
    n = 2
    while any(text_of(files, f"{wanted[-1]}_{n}", lang) is not None for lang in LANGUAGES):
        n += 1
    return f"{wanted[-1]}_{n}"


def _set_texts(files: FlowFiles, key: str, texts: dict[str, str]) -> FlowFiles:
    if not (texts.get("ja") or "").strip():
        raise EditRefused("the Japanese text is needed (English may follow later)",
                          "日本語のテキストが必要です（英語はあとからでも大丈夫です）")
    for lang in LANGUAGES:
        if (texts.get(lang) or "").strip():
            files = set_text(files, key, lang, texts[lang])
    return files


# ---- states ----------------------------------------------------------------------------------------

def add_state(files: FlowFiles, state: str, *, tag: str, texts: dict[str, str], after: str | None = None) -> FlowFiles:
    """A new state ``state`` in part ``tag``, saying ``texts`` (ja needed, en may follow), with a
    button to a person (as every resting state has). Its text key is ``<tag>.<state>``. It is
    written after ``after`` (default: at the end); nothing leads to it until a button does."""
    state = _check_id(state, "state", "状態")
    tag = _check_id(tag, "part", "部分（タグ）")
    data = _flow_doc(files)
    if state in data["states"] or state in (data.get("aliases") or {}):
        raise EditRefused(f'there is a state "{state}" already: choose another name',
                          f"状態「{state}」はもうあります。別の名前にしてください")
    key = _free_key(files, [f"{tag}.{state}"])
    human = str(data.get("human_state") or "")
    new = CommentedMap()
    new["tags"] = CommentedSeq([tag])
    new["tags"].fa.set_flow_style()
    new["say"] = CommentedSeq([key])
    new["say"].fa.set_flow_style()
    new["choices"] = CommentedSeq([_inline({"id": HUMAN_CHOICE_ID, "label": "system.choice_human", "target": human})])
    states = data["states"]
    names = list(states)
    position = names.index(after) + 1 if after in states else len(names)
    states.insert(position, state, new)
    return _set_texts(_with_flow(files, data), key, texts)


def remove_state(files: FlowFiles, state: str) -> FlowFiles:
    """Remove ``state`` (its texts stay, unused, until removed). Refused while anything leads to
    it, naming what does."""
    data = _flow_doc(files)
    _state(data, state)
    pointing = _pointing(data, state)
    if pointing:
        raise EditRefused("other parts lead to it: " + ", ".join(p.describe("en") for p in pointing),
                          "ほかの場所からここへ来ます：" + "、".join(p.describe("ja") for p in pointing))
    del data["states"][state]
    return _with_flow(files, data)


def rename_state(files: FlowFiles, old: str, new: str) -> FlowFiles:
    """``old`` becomes ``new`` everywhere in the flow, and ``aliases: {old: new}`` keeps the old
    name working: people inside it when it changed continue there, and buttons sent before (which
    name the old state) still work."""
    new = _check_id(new, "state", "状態")
    data = _flow_doc(files)
    _state(data, old)
    if new == old:
        return files
    if new in data["states"]:
        raise EditRefused(f'there is a state "{new}" already: choose another name',
                          f"状態「{new}」はもうあります。別の名前にしてください")
    for target, _, _, _, path in list(_moves(data)):
        if target == old:
            _set_path(data, path, new)
    states = data["states"]
    states.insert(list(states).index(old), new, states.pop(old))
    aliases = data.get("aliases")
    if aliases is None:
        aliases = CommentedMap()
        data.insert(list(data).index("states"), "aliases", aliases)
        data.yaml_set_comment_before_after_key(
            "aliases", before="Old state names still in use: people inside a renamed state, and its old buttons,\n"
                              "continue at the new name. 名前を変えた状態の古い名前（中にいる人と古いボタンのため）。")
    aliases.pop(new, None)
    aliases[old] = new
    return _with_flow(files, data)


# ---- buttons ---------------------------------------------------------------------------------------

def _choices(st: CommentedMap) -> CommentedSeq:
    if st.get("choices") is None:
        st["choices"] = CommentedSeq()
    return st["choices"]


def _choice_index(st: CommentedMap, state: str, choice: str) -> int:
    for i, ch in enumerate(st.get("choices") or ()):
        if isinstance(ch, dict) and str(ch.get("id")) == choice:
            return i
    raise EditRefused(f'state "{state}" has no button "{choice}"', f"状態「{state}」にボタン「{choice}」はありません")


def _check_target(target: str) -> str:
    target = (target or "").strip()
    if target != RESUME:
        target = _check_id(target, "target", "行き先")
    return target


def add_choice(files: FlowFiles, state: str, choice: str, *, labels: dict[str, str], target: str,
               position: int | None = None) -> FlowFiles:
    """A button ``choice`` on ``state`` labelled ``labels`` (ja needed), leading to ``target``
    (a state not written yet is allowed: the checker shows it on the card until it exists)."""
    choice = _check_id(choice, "button", "ボタン")
    target = _check_target(target)
    data = _flow_doc(files)
    st = _state(data, state)
    if any(isinstance(ch, dict) and str(ch.get("id")) == choice for ch in st.get("choices") or ()):
        raise EditRefused(f'state "{state}" has a button "{choice}" already', f"状態「{state}」にはボタン「{choice}」がもうあります")
    key = _free_key(files, [f"choice.{choice}", f"choice.{state}_{choice}"])
    choices = _choices(st)
    item = _inline({"id": choice, "label": key, "target": target})
    human = [i for i, ch in enumerate(choices) if isinstance(ch, dict) and ch.get("id") == HUMAN_CHOICE_ID]
    if position is None:  # before "talk to a person", which stays last
        position = human[0] if human else len(choices)
    choices.insert(max(0, min(position, len(choices))), item)
    return _set_texts(_with_flow(files, data), key, labels)


def move_choice(files: FlowFiles, state: str, choice: str, to: int) -> FlowFiles:
    """Button ``choice`` of ``state`` moves to position ``to`` (0 first)."""
    data = _flow_doc(files)
    st = _state(data, state)
    i = _choice_index(st, state, choice)
    choices = st["choices"]
    if not 0 <= to < len(choices):
        raise EditRefused(f"there is no position {to + 1} (1 to {len(choices)})", f"{to + 1} 番目はありません（1〜{len(choices)}）")
    item = choices.pop(i)
    choices.insert(to, item)
    return _with_flow(files, data)


def remove_choice(files: FlowFiles, state: str, choice: str) -> FlowFiles:
    """Button ``choice`` leaves ``state`` (its label text stays until removed); refused when it
    is the state's ``ack`` (what "ok" means there) or the state's last way on."""
    data = _flow_doc(files)
    st = _state(data, state)
    i = _choice_index(st, state, choice)
    if str(st.get("ack") or "") == choice:
        raise EditRefused(f'"{choice}" is what "ok" means in "{state}" (ack): change `ack` first',
                          f"「{choice}」は「{state}」で「うん」が選ぶボタン（ack）です。先に ack を変えてください")
    del st["choices"][i]
    if not st["choices"]:
        del st["choices"]
    return _with_flow(files, data)


def set_choice_target(files: FlowFiles, state: str, choice: str, target: str) -> FlowFiles:
    """Button ``choice`` of ``state`` leads to ``target`` from now on."""
    target = _check_target(target)
    data = _flow_doc(files)
    st = _state(data, state)
    st["choices"][_choice_index(st, state, choice)]["target"] = target
    return _with_flow(files, data)


def set_choice_label(files: FlowFiles, state: str, choice: str, lang: str, text: str) -> FlowFiles:
    """The label of button ``choice`` of ``state`` in ``lang``."""
    data = _flow_doc(files)
    st = _state(data, state)
    key = str(st["choices"][_choice_index(st, state, choice)].get("label"))
    return set_text(files, key, lang, text)


# ---- the operations the browser sends ----------------------------------------------------------------

def _s(op: dict, name: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise EditRefused(f"the edit needs `{name}`", f"編集に `{name}` がありません")
    return value


def _i(op: dict, name: str) -> int:
    value = op.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError:
            raise EditRefused(f"the edit needs a number `{name}`", f"編集に数 `{name}` がありません") from None
    return value


def _texts(op: dict, name: str) -> dict[str, str]:
    value = op.get(name)
    if not isinstance(value, dict):
        raise EditRefused(f"the edit needs `{name}` (ja, en)", f"編集に `{name}`（ja, en）がありません")
    return {lang: str(value.get(lang) or "") for lang in LANGUAGES}


OPERATIONS = {
    "set_text": lambda f, op: set_text(f, _s(op, "key"), _s(op, "lang"), _s(op, "text")),
    "set_state_text": lambda f, op: set_state_text(f, _s(op, "state"), _s(op, "lang"), _s(op, "text"), _i(op, "index")),
    "add_state": lambda f, op: add_state(f, _s(op, "state"), tag=_s(op, "tag"), texts=_texts(op, "texts"),
                                         after=op.get("after") if isinstance(op.get("after"), str) else None),
    "remove_state": lambda f, op: remove_state(f, _s(op, "state")),
    "rename_state": lambda f, op: rename_state(f, _s(op, "state"), _s(op, "new")),
    "add_choice": lambda f, op: add_choice(f, _s(op, "state"), _s(op, "choice"), labels=_texts(op, "labels"),
                                           target=_s(op, "target")),
    "move_choice": lambda f, op: move_choice(f, _s(op, "state"), _s(op, "choice"), _i(op, "to")),
    "remove_choice": lambda f, op: remove_choice(f, _s(op, "state"), _s(op, "choice")),
    "set_choice_target": lambda f, op: set_choice_target(f, _s(op, "state"), _s(op, "choice"), _s(op, "target")),
    "set_choice_label": lambda f, op: set_choice_label(f, _s(op, "state"), _s(op, "choice"), _s(op, "lang"),
                                                       _s(op, "text")),
}


def operation(op: Any):
    """The pure change ``FlowFiles -> FlowFiles`` an operation from the browser stands for
    (``{"op": "set_text", "key": ..., "lang": ..., "text": ...}``); refused when unknown."""
    if not isinstance(op, dict) or op.get("op") not in OPERATIONS:
        name = op.get("op") if isinstance(op, dict) else None
        raise EditRefused(f'unknown edit "{name}"', f"「{name}」という編集はありません")
    action = OPERATIONS[op["op"]]
    return lambda files: action(files, op)
