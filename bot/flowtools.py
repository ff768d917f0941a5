"""The flow editor's tools on a version's files: keywords, resources, texts, the translation list.

Every edit is a small pure function ``FlowFiles -> FlowFiles`` (what ``FlowVersions.edit_draft``
applies under the draft's row lock). Files are edited with ruamel.yaml's round trip, so what staff
wrote stays as written: comments, order, quotes and layout (an unchanged file is byte for byte the
same). An edit that cannot be made raises ``EditRefused`` (a ``ValueError``, in English and
Japanese); nothing is changed.

``resource_rule`` is the check that needs two versions: a number, address or opening hours
changed since the version the draft started from needs a new ``verified`` date and ``source``.
``translation_list`` reads the versions' history: every text missing in English, or whose
Japanese changed in a later version than its English.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import yaml as pyyaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from bot.engine.codes import M
from bot.engine.errors import FlowIssue, Issues
from bot.engine.flowedit import EditRefused, round_trip_yaml
from bot.engine.flowfiles import FlowFiles

RESOURCES = "flows/resources.yaml"
INTENT_PARTS = ("keywords", "idioms", "unless")   # what the keywords page edits ("exclude" is idioms)
CONTACT_FIELDS = ("tel", "url")
TEXT_FIELDS = ("name", "hours", "note")            # one text per language
RESOURCE_FIELDS = CONTACT_FIELDS + TEXT_FIELDS + ("source", "verified")
MAX_WORD = 200
MAX_TEXT = 4000


# ---- YAML round trip ------------------------------------------------------------------------------

def _load(text: str) -> Any:
    try:
        return round_trip_yaml().load(text)
    except Exception as exc:  # a draft may hold a YAML slip: say so, never lose the text
        raise EditRefused(f"the file cannot be read as YAML ({type(exc).__name__}); fix it first",
                          f"ファイルを YAML として読めません（{type(exc).__name__}）。先にそれを直してください") from None


def _dump(data: Any) -> str:
    out = io.StringIO()
    round_trip_yaml().dump(data, out)
    return out.getvalue()


_LOADER = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)


@lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    """A file's data (read only: callers must not change it); None when it is not YAML. Kept for
    the few versions in use: a page lists every intent of a 3,000-line file."""
    try:
        return pyyaml.load(text, Loader=_LOADER)
    except pyyaml.YAMLError:
        return None


def _with_locale(files: FlowFiles, name: str, text: str) -> FlowFiles:
    return dataclasses.replace(files, locales={**files.locales, name: text})


def _clean(value: str, limit: int, what_en: str, what_ja: str) -> str:
    value = str(value).replace("\r\n", "\n").strip()
    if not value:
        raise EditRefused(f"the {what_en} is empty", f"{what_ja}が空です")
    if len(value) > limit:
        raise EditRefused(f"the {what_en} is longer than {limit} characters", f"{what_ja}が {limit} 文字を超えています")
    return value


# ---- keywords -------------------------------------------------------------------------------------

def intents_file(files: FlowFiles, lang: str) -> str:
    """The file holding ``lang``'s keywords: locales/<lang>.intents.yaml, else the first of the
    language's files with an ``intents:`` section (as the loader reads them)."""
    own = f"{lang}.intents.yaml"
    if own in files.locales:
        return own
    for name in sorted(files.locales, key=lambda n: (n.count("."), n)):
        if name.split(".")[0] == lang and re.search(r"(?m)^intents:", files.locales[name]):
            return name
    return own


def languages(files: FlowFiles) -> list[str]:
    """The languages with keywords, Japanese first."""
    codes = {name.split(".")[0] for name, text in files.locales.items()
             if name.endswith(".intents.yaml") or re.search(r"(?m)^intents:", text)}
    return sorted(codes, key=lambda c: (c != "ja", c != "en", c))


def _intents_of(files: FlowFiles, lang: str) -> dict:
    text = files.locales.get(intents_file(files, lang))
    if text is None:
        return {}
    data = _parsed(text)
    intents = data.get("intents") if isinstance(data, dict) else None
    return intents if isinstance(intents, dict) else {}


def intent_names(files: FlowFiles) -> list[str]:
    """Every intent of every keyword file, in the order of the Japanese file."""
    names: list[str] = []
    for lang in languages(files):
        names += [str(n) for n in _intents_of(files, lang) if str(n) not in names]
    return names


def intent_words(files: FlowFiles, lang: str, intent: str) -> dict[str, list[str]]:
    """An intent's keywords, idioms (and ``exclude:``), ``unless:`` words and phrases in ``lang``."""
    spec = _intents_of(files, lang).get(intent)
    if isinstance(spec, list):
        spec = {"keywords": spec}
    if not isinstance(spec, dict):
        spec = {}

    def items(*keys: str) -> list[str]:
        out: list[str] = []
        for key in keys:
            value = spec.get(key) or []
            out += [str(v) for v in (value if isinstance(value, list) else [value])]
        return out

    return {"keywords": items("keywords"), "idioms": items("idioms", "exclude"), "unless": items("unless"),
            "phrases": items("phrases")}


def _intent_list(doc: Any, intent: str, part: str, create: bool) -> CommentedSeq | None:
    intents = doc.get("intents") if isinstance(doc, dict) else None
    if not isinstance(intents, dict):
        raise EditRefused("the keyword file has no `intents:` section", "キーワードのファイルに `intents:` がありません")
    spec = intents.get(intent)
    if spec is None:
        if not create:
            return None
        spec = intents[intent] = CommentedMap()
    if isinstance(spec, list):
        if part == "keywords":
            return spec
        if not create:
            return None
        spec = intents[intent] = CommentedMap([("keywords", spec)])
    if not isinstance(spec, dict):
        raise EditRefused(f'intent "{intent}" is not written as keywords', f"意図「{intent}」がキーワードの形で書かれていません")
    key = "exclude" if part == "idioms" and "exclude" in spec and "idioms" not in spec else part
    found = spec.get(key)
    if isinstance(found, str):
        found = spec[key] = CommentedSeq([found])
    if found is None:
        if not create:
            return None
        found = spec[key] = CommentedSeq()
    if not isinstance(found, list):
        raise EditRefused(f'{key} of intent "{intent}" is not a list', f"意図「{intent}」の {key} が一覧ではありません")
    return found


def _check_part(part: str) -> None:
    if part not in INTENT_PARTS:
        raise EditRefused(f"{part}: not one of {', '.join(INTENT_PARTS)}", f"{part} は {', '.join(INTENT_PARTS)} のどれかです")


def add_intent_word(files: FlowFiles, lang: str, intent: str, part: str, word: str) -> FlowFiles:
    """Add a keyword (``part`` keywords), an idiom or an ``unless`` word to ``intent`` in the
    language's keyword file (``intents_file``), at the end of its list."""
    _check_part(part)
    word = _clean(word, MAX_WORD, "word", "言葉")
    if "\n" in word:
        raise EditRefused("one word or phrase per line", "一行に一つの言葉にしてください")
    name = intents_file(files, lang)
    if name not in files.locales:
        raise EditRefused(f"there is no locales/{name}", f"locales/{name} がありません")
    doc = _load(files.locales[name])
    seq = _intent_list(doc, intent, part, create=True)
    if word in [str(w) for w in seq]:
        raise EditRefused(f'"{word}" is already there', f"「{word}」はもうあります")
    seq.append(word)
    return _with_locale(files, name, _dump(doc))


def remove_intent_word(files: FlowFiles, lang: str, intent: str, part: str, word: str) -> FlowFiles:
    """Remove one keyword, idiom or ``unless`` word (the comments of the others stay)."""
    _check_part(part)
    name = intents_file(files, lang)
    doc = _load(files.locales.get(name, ""))
    seq = _intent_list(doc, intent, part, create=False)
    words = [str(w) for w in seq] if seq is not None else []
    if word not in words:
        raise EditRefused(f'"{word}" is not in {part} of "{intent}"', f"「{word}」は意図「{intent}」の {part} にありません")
    del seq[words.index(word)]
    return _with_locale(files, name, _dump(doc))


# ---- texts ------------------------------------------------------------------------------------------

def _flat(value: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield prefix, str(value)


def text_files(files: FlowFiles, lang: str) -> list[str]:
    """locales/<lang>.yaml and locales/<lang>.<part>.yaml, keyword files left out."""
    return sorted(n for n in files.locales if n.split(".")[0] == lang and not n.endswith(".intents.yaml"))


def texts_of(files: FlowFiles, lang: str) -> dict[str, tuple[str, str]]:
    """Every text of ``lang``: key -> (text, file name). A file with a YAML slip gives none."""
    out: dict[str, tuple[str, str]] = {}
    for name in text_files(files, lang):
        data = _parsed(files.locales[name])
        if isinstance(data, dict):
            out.update({key: (text, name) for key, text in _flat(data.get("texts") or {})})
    return out


def set_text(files: FlowFiles, lang: str, key: str, value: str) -> FlowFiles:
    """Write the text ``key`` in ``lang`` (blank: an empty text). A key the language does not have
    yet goes into the file matching the one the other languages keep it in (ja.console.yaml ->
    en.console.yaml), else the file with its group (``console.*``), else locales/<lang>.yaml."""
    value = str(value).replace("\r\n", "\n")
    if len(value) > MAX_TEXT:
        raise EditRefused(f"the text is longer than {MAX_TEXT} characters", f"テキストが {MAX_TEXT} 文字を超えています")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", key or ""):
        raise EditRefused(f'"{key}" is not a text key', f"「{key}」はテキストの名前ではありません")
    mine = texts_of(files, lang)
    if key in mine:
        name = mine[key][1]
    else:
        others = [found[1] for code in {n.split(".")[0] for n in files.locales} if code != lang
                  for found in [texts_of(files, code).get(key)] if found]
        if others:
            name = f"{lang}.{others[0].split('.', 1)[1]}"
        else:  # a new key: the file holding this language's keys of the same group (console.*)
            head = key.split(".")[0]
            near = [file for k, (_, file) in mine.items() if k.split(".")[0] == head]
            name = max(set(near), key=near.count) if near else f"{lang}.yaml"
    doc = _load(files.locales.get(name) or f"locale: {lang}\ntexts: {{}}\n")
    node = doc.setdefault("texts", CommentedMap())
    parts = key.split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            if nxt is not None:
                raise EditRefused(f'"{key}": "{part}" is a text, not a group', f"「{key}」：「{part}」はテキストでグループではありません")
            nxt = node[part] = CommentedMap()
        node = nxt
    node[parts[-1]] = LiteralScalarString(value) if "\n" in value else value
    return _with_locale(files, name, _dump(doc))


@dataclass(frozen=True)
class Untranslated:
    key: str
    source: str           # the Japanese
    target: str           # the English ("" when missing)
    reason: str           # "missing" | "older"
    file: str             # the Japanese text's file
    source_version: int | None = None   # the version where the Japanese last changed
    target_version: int | None = None   # ... and the English


def translation_list(history: list[tuple[int, FlowFiles]], source: str = "ja", target: str = "en") -> list[Untranslated]:
    """Every text of the newest version missing (or blank) in ``target``, or whose ``source``
    text changed in a later version than its ``target`` text. ``history``: (version id, files),
    oldest first, the newest (the draft) last."""
    if not history:
        return []
    changed: dict[str, dict[str, int]] = {source: {}, target: {}}
    before: dict[str, dict[str, str]] = {source: {}, target: {}}
    for vid, files in history:
        for lang in (source, target):
            now = {k: v for k, (v, _) in texts_of(files, lang).items()}
            for key, text in now.items():
                if before[lang].get(key) != text:
                    changed[lang][key] = vid
            before[lang] = now
    newest = history[-1][1]
    src, tgt = texts_of(newest, source), texts_of(newest, target)
    out = []
    for key, (text, file) in src.items():
        other = tgt.get(key, ("", ""))[0]
        if not text.strip():
            continue
        if not other.strip():
            out.append(Untranslated(key, text, other, "missing", file, changed[source].get(key), None))
        elif changed[source].get(key, 0) > changed[target].get(key, 0):
            out.append(Untranslated(key, text, other, "older", file, changed[source][key], changed[target].get(key)))
    return out


# ---- resources ----------------------------------------------------------------------------------------

def resources_of(files: FlowFiles) -> dict[str, dict]:
    """flows/resources.yaml's services as plain data (empty when it cannot be read)."""
    data = _parsed(files.resources or "")
    found = data.get("resources") if isinstance(data, dict) else None
    return {str(k): v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def set_resource_field(files: FlowFiles, rid: str, field: str, value: str, lang: str | None = None) -> FlowFiles:
    """Change one field of a service: ``tel``, ``url``, ``source``, ``verified`` (YYYY-MM-DD), or
    ``name``/``hours``/``note`` in ``lang``. A blank tel, url, hours or note is removed."""
    if field not in RESOURCE_FIELDS:
        raise EditRefused(f"{field}: not one of {', '.join(RESOURCE_FIELDS)}", f"{field} は {', '.join(RESOURCE_FIELDS)} のどれかです")
    value = str(value).strip()
    doc = _load(files.resources or "")
    services = doc.get("resources") if isinstance(doc, dict) else None
    entry = services.get(rid) if isinstance(services, dict) else None
    if not isinstance(entry, dict):
        raise EditRefused(f'there is no service "{rid}"', f"「{rid}」という窓口はありません")
    if field == "verified":
        try:
            entry[field] = dt.date.fromisoformat(value)
        except ValueError:
            raise EditRefused("write the date as YYYY-MM-DD, e.g. 2026-12-01",
                              "日付は 2026-12-01 のように YYYY-MM-DD で書いてください") from None
    elif field == "source":
        entry[field] = _clean(value, 300, "source", "出典")
    elif field in CONTACT_FIELDS:
        if not value:
            entry.pop(field, None)
        elif field == "tel":
            if not re.fullmatch(r"[#+]?[0-9][0-9\-]{1,18}", value):
                raise EditRefused("a phone number has digits and hyphens only (and # or + first), e.g. 0120-99-7777",
                                  "電話番号は数字とハイフンだけで書いてください（先頭に # か + も可）。例：0120-99-7777")
            entry[field] = DoubleQuotedScalarString(value)
        else:
            if not re.fullmatch(r"https://\S{3,300}", value):
                raise EditRefused("an address starts with https://", "アドレスは https:// で始めてください")
            entry[field] = value
    else:
        if not lang or not re.fullmatch(r"[a-z]{2,3}", lang):
            raise EditRefused("say which language", "どの言語か選んでください")
        texts = entry.get(field)
        if not value:
            if isinstance(texts, dict):
                texts.pop(lang, None)
        else:
            if not isinstance(texts, dict):
                texts = entry[field] = CommentedMap()
            texts[lang] = _clean(value, 300, field, field)
    return dataclasses.replace(files, resources=_dump(doc))


_WATCHED = ("tel", "url", "hours", "open")


def resource_rule(base: FlowFiles | None, draft: FlowFiles) -> list[FlowIssue]:
    """An error for each service whose number, address or opening hours changed since ``base``
    while its ``verified`` date or its ``source`` did not."""
    if base is None:
        return []
    old, new = resources_of(base), resources_of(draft)
    issues = Issues()
    lines = _resource_lines(draft.resources)
    for rid, entry in new.items():
        before = old.get(rid)
        if before is None:
            continue
        changed = [f for f in _WATCHED if entry.get(f) != before.get(f)]
        if not changed:
            continue
        missing = [f for f in ("verified", "source") if entry.get(f) == before.get(f)]
        if missing:
            issues.add(M.RESOURCE_NOT_REVERIFIED, RESOURCES, lines.get(rid), resource=rid,
                       changed=", ".join(changed), missing=", ".join(missing))
    return list(issues)


def _resource_lines(text: str) -> dict[str, int]:
    try:
        doc = round_trip_yaml().load(text or "")
        return {str(k): doc["resources"].lc.key(k)[0] + 1 for k in doc["resources"]}
    except Exception:
        return {}
