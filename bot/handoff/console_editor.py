"""The flow editor in the console: ``/console/editor`` (the cards) and ``/console/editor/versions``.

Permission ``edit`` (editors and admins). Every state is a card, grouped by its part (its first
tag): what the bot says in Japanese and English side by side (resources filled in below the
text), its buttons and where each leads (by the first words of the target's text), the words
(intents) that lead there, and what leads to it. The browser sends edits as operations
(``bot.engine.flowedit``), never whole files, applied one at a time to the shared working draft
(``FlowVersions.edit_draft``); each answer carries the checker's issues, which the page shows on
the card they concern. A draft with errors cannot be published; warnings do not block.

The versions page lists every version (who, when, note, status), compares one with the version
the bot serves (plain words and YAML), publishes a draft (running the conversation tests and
showing their result), restores an earlier version, and downloads a version's files as a zip.
Publishing and restoring are in the audit log (``FlowVersions``). Nothing here reads or shows a
person's conversation.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import zipfile
from typing import Any

import yaml
from aiohttp import web

from bot.engine import flowedit
from bot.engine.compile import fill_placeholders
from bot.engine.errors import ERROR, FlowIssue
from bot.engine.flow import HUMAN_CHOICE_ID, RESUME
from bot.engine.flowfiles import FlowFiles
from bot.engine.loader import Bundle
from bot.flowversions import FlowVersions
from bot.http import request_locale

from .console_core import CONSOLE, COUNSELLOR_ID, COUNSELLOR_NAME, PREFIX, render, restrict

log = logging.getLogger(__name__)
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

EDITOR = f"{PREFIX}/editor"
VERSIONS = f"{EDITOR}/versions"
FLOW_VERSIONS = web.AppKey("editor_flow_versions", FlowVersions)
FIRST_WORDS = 28          # characters of a target's text shown beside a button
MAX_EDIT_BYTES = 64_000   # one edit (a text, a button): far more than any real one
# Edits that change the shape of the cards: the page draws them again.
REDRAW = {"add_state", "remove_state", "rename_state", "add_choice", "move_choice", "remove_choice",
          "set_choice_target"}


def versions_of(request: web.Request) -> FlowVersions:
    return request.app[FLOW_VERSIONS]


def _lang(request: web.Request) -> str:
    return "ja" if request_locale(request, request.app[CONSOLE].flow) == "ja" else "en"


class Verdicts:
    """The checker's last verdicts by the files' content: the page drawn again after an edit
    does not check the same files a second time (a second or more on the full flow)."""

    SIZE = 8

    def __init__(self):
        self._found: collections.OrderedDict[str, Bundle] = collections.OrderedDict()

    @staticmethod
    def key(files: FlowFiles) -> str:
        h = hashlib.sha256()
        for name, text in sorted(files.named().items()):
            h.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
        return h.hexdigest()

    def get(self, files: FlowFiles) -> Bundle | None:
        key = self.key(files)
        if key in self._found:
            self._found.move_to_end(key)
        return self._found.get(key)

    def put(self, files: FlowFiles, bundle: Bundle) -> None:
        self._found[self.key(files)] = bundle
        while len(self._found) > self.SIZE:
            self._found.popitem(last=False)


VERDICTS = web.AppKey("editor_verdicts", Verdicts)


async def _check(request: web.Request, files: FlowFiles) -> Bundle:
    """The checker off the event loop (chats keep answering), or its verdict on these very files."""
    known = request.app[VERDICTS]
    bundle = known.get(files)
    if bundle is None:
        bundle = await versions_of(request).check_async(files)
        known.put(files, bundle)
    return bundle


@functools.lru_cache(maxsize=64)
def _load(text: str) -> Any:
    """Plain data of a YAML file (libyaml: fast), None when it cannot be read (the checker says
    why). Kept for the files an edit did not change (the keyword files are large); never mutated."""
    try:
        return yaml.load(text, Loader=_FAST)
    except yaml.YAMLError:
        return None


def flat_texts(files: FlowFiles) -> dict[str, dict[str, str]]:
    """lang -> dotted key -> text as written, over every locale file of that language."""
    out: dict[str, dict[str, str]] = {}
    for name, text in sorted(files.locales.items(), key=lambda item: (item[0].count("."), item[0])):
        data = _load(text)
        if isinstance(data, dict) and isinstance(data.get("texts"), dict):
            _flatten(data["texts"], "", out.setdefault(name.split(".")[0], {}))
    return out


def _flatten(node: dict, prefix: str, out: dict[str, str]) -> None:
    for key, value in node.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out.setdefault(f"{prefix}{key}", str(value))


# ---- what the cards show ---------------------------------------------------------------------------

def _first_words(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= FIRST_WORDS else text[:FIRST_WORDS - 1] + "…"


def _intent_keywords(files: FlowFiles) -> dict[str, dict[str, list[str]]]:
    """intent -> lang -> its keywords (for "the words that lead here")."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, text in files.locales.items():
        if not name.endswith(".intents.yaml"):
            continue
        data = _load(text)
        for intent, spec in ((data or {}).get("intents") or {}).items() if isinstance(data, dict) else ():
            words = spec.get("keywords") if isinstance(spec, dict) else spec
            if isinstance(words, list):
                out.setdefault(str(intent), {})[name.split(".")[0]] = [str(w) for w in words]
    return out


def issue_view(issue: FlowIssue, lang: str) -> dict[str, Any]:
    where = issue.file if issue.line is None else f"{issue.file}:{issue.line}"
    return {"severity": str(issue.severity), "code": str(issue.code), "text": issue.text(lang), "where": where,
            "state": issue.state}


def verdict(bundle: Bundle, lang: str) -> dict[str, Any]:
    """The checker's issues by state (``""``: not about one state), and whether it may be published."""
    by_state: dict[str, list[dict]] = {}
    for issue in sorted(bundle.issues, key=lambda i: (i.severity != ERROR, i.file, i.line or 0)):
        by_state.setdefault(issue.state or "", []).append(issue_view(issue, lang))
    return {"issues": by_state, "errors": len(bundle.errors), "warnings": len(bundle.warnings),
            "publishable": not bundle.errors}


def cards(files: FlowFiles, bundle: Bundle, lang: str) -> dict[str, Any]:
    """The editor's page as data: parts (by first tag) of state cards, the state list for target
    pickers, and the tags in use. Empty when the flow file cannot be read (its issue says why)."""
    data = _load(files.flow)
    states = data.get("states") if isinstance(data, dict) else None
    if not isinstance(states, dict):
        return {"parts": [], "targets": [], "tags": []}
    default = str(data.get("default_locale") or "ja")
    texts = flat_texts(files)
    keywords = _intent_keywords(files)

    def filled(key: str, locale: str) -> str:
        raw = texts.get(locale, {}).get(key)
        if raw is None:
            return ""
        return fill_placeholders(raw, locale, default, bundle.resources)[0]

    def says(st: Any) -> list[str]:
        say = st.get("say") if isinstance(st, dict) else None
        return [str(k) for k in ([say] if isinstance(say, str) else say or [])]

    def first_words(target: str) -> str:
        if target == RESUME:
            return "↩"
        keys = says(states.get(target))
        return _first_words(filled(keys[0], lang) or filled(keys[0], default)) if keys else ""

    leads: dict[str, list[dict]] = {}
    for target, source, kind, what, _ in flowedit._moves(data):
        if source != target:
            leads.setdefault(target, []).append({"state": source or "", "kind": kind, "what": what})
    words: dict[str, list[dict]] = {}
    for target, source, kind, what, _ in flowedit._moves(data):
        if kind in ("intent", "route", "interrupt"):
            intent = what
            if kind == "interrupt":
                found = next((i for i in data.get("interrupts") or () if isinstance(i, dict) and str(i.get("name")) == what), {})
                intent = str(found.get("intent") or what)
            sample = keywords.get(intent, {}).get(lang) or keywords.get(intent, {}).get(default) or []
            entry = {"intent": intent, "from": source or "", "keywords": sample[:4], "more": max(0, len(sample) - 4)}
            if entry not in words.setdefault(target, []):
                words[target].append(entry)

    parts: dict[str, list[dict]] = {}
    for name, st in states.items():
        name = str(name)
        st = st if isinstance(st, dict) else {}
        tags = [str(t) for t in ([st["tags"]] if isinstance(st.get("tags"), str) else st.get("tags") or [])]
        bubbles = [{"index": i, "key": key,
                    "ja": texts.get("ja", {}).get(key, ""), "en": texts.get("en", {}).get(key, ""),
                    "ja_filled": filled(key, "ja"), "en_filled": filled(key, "en")} for i, key in enumerate(says(st))]
        buttons = []
        for ch in st.get("choices") or ():
            if not isinstance(ch, dict):
                continue
            label, target = str(ch.get("label", "")), str(ch.get("target", ""))
            buttons.append({"id": str(ch.get("id", "")), "label": label, "target": target,
                            "ja": texts.get("ja", {}).get(label, ""), "en": texts.get("en", {}).get(label, ""),
                            "target_words": first_words(target), "target_exists": target in states or target == RESUME,
                            "fixed": str(ch.get("id")) == HUMAN_CHOICE_ID})
        moves = []
        if st.get("next"):
            moves.append({"kind": "next", "target": str(st["next"]), "words": first_words(str(st["next"]))})
        branch = st.get("branch") if isinstance(st.get("branch"), dict) else None
        if branch:
            for value, target in list((branch.get("cases") or {}).items()) + [("default", branch.get("default"))]:
                if target:
                    moves.append({"kind": f"{branch.get('var')} = {value}", "target": str(target),
                                  "words": first_words(str(target))})
        parts.setdefault(tags[0] if tags else "", []).append({
            "id": name, "tags": tags, "bubbles": bubbles, "buttons": buttons, "moves": moves,
            "end": bool(st.get("end")), "leads": leads.get(name, []), "words": words.get(name, []),
        })
    return {"parts": [{"tag": tag, "states": members} for tag, members in parts.items()],
            "targets": [{"id": str(n), "words": first_words(str(n))} for n in states],
            "tags": sorted({t for members in parts.values() for s in members for t in s["tags"]})}


# ---- the cards page --------------------------------------------------------------------------------

async def editor_page(request: web.Request) -> web.Response:
    versions = versions_of(request)
    draft_id, files = await versions.working_draft(author=request[COUNSELLOR_NAME])
    bundle = await _check(request, files)
    lang = _lang(request)
    view = cards(files, bundle, lang)
    checked = verdict(bundle, lang)
    head = await versions.published_head()
    return render(request, "editor.html", page="editor", draft_id=draft_id, head=head, view=view, checked=checked,
                  client={"draft": draft_id, "verdict": checked}, client_json=client_json)


async def edit(request: web.Request) -> web.Response:
    """``POST /console/editor/edit``: one operation (JSON) on the working draft; the answer is the
    checker's verdict on the draft after it, or why the edit was refused (nothing changed)."""
    lang = _lang(request)
    if request.content_length is not None and request.content_length > MAX_EDIT_BYTES:
        return _refused(lang, ("the edit is too long", "編集が長すぎます"), 413)
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _refused(lang, ("the edit could not be read", "編集を読み取れませんでした"), 400)
    if not isinstance(body, dict) or not isinstance(body.get("draft"), int) or isinstance(body.get("draft"), bool):
        return _refused(lang, ("the edit names no draft", "編集に下書きの番号がありません"), 400)
    try:
        change = flowedit.operation(body)
    except ValueError as exc:
        return _refused(lang, (str(exc), getattr(exc, "ja", str(exc))), 400)
    versions = versions_of(request)
    outcome = await versions.edit_draft(body["draft"], change, author=request[COUNSELLOR_NAME])
    if outcome.refused is not None:
        status = 409 if "not a draft" in outcome.refused[0] else 400
        return _refused(lang, outcome.refused, status, stale=status == 409)
    found = await versions.files(body["draft"])
    if found is not None:
        request.app[VERDICTS].put(found[1], outcome.bundle)
    log.info("editor.edited", extra={"op": body.get("op"), "draft": body["draft"], "by": request[COUNSELLOR_ID]})
    return web.json_response({"ok": True, "redraw": body.get("op") in REDRAW, **verdict(outcome.bundle, lang)})


def _refused(lang: str, why: tuple[str, str], status: int, stale: bool = False) -> web.Response:
    return web.json_response({"ok": False, "refused": why[1] if lang == "ja" else why[0], "stale": stale},
                             status=status)


# ---- versions --------------------------------------------------------------------------------------

def _when(request: web.Request, at: float | None) -> str:
    if not at:
        return ""
    return dt.datetime.fromtimestamp(at, request.app[CONSOLE].tz).strftime("%Y-%m-%d %H:%M")


async def _versions_page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    versions = versions_of(request)
    head = await versions.published_head()
    rows = [{"id": v.id, "status": v.status, "author": v.author, "created": _when(request, v.created_at),
             "published": _when(request, v.published_at), "note": v.note, "parent": v.parent_id,
             "serving": v.id == head} for v in await versions.listing(100)]
    return render(request, "editor_versions.html", status=status, page="editor_versions", rows=rows, head=head,
                  **{"outcome": None, "diff": None, "compared": None, **context})


async def versions_page(request: web.Request) -> web.Response:
    return await _versions_page(request)


def _version_id(request: web.Request) -> int:
    try:
        return int(request.match_info["version"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def diff_page(request: web.Request) -> web.Response:
    """What changed from the version the bot serves to this one."""
    versions, version_id, lang = versions_of(request), _version_id(request), _lang(request)
    head = await versions.published_head()
    if head is None or await versions.files(version_id) is None:
        raise web.HTTPNotFound()
    diff = await versions.diff(head, version_id)
    return await _versions_page(request, compared=version_id,
                                diff={"words": diff.words(lang), "yaml": diff.yaml, "empty": diff.empty})


def _outcome_view(outcome, lang: str, action: str, version_id: int) -> dict[str, Any]:
    if outcome.refused is not None:
        return {"ok": False, "action": action, "version": version_id,
                "refused": outcome.refused[1] if lang == "ja" else outcome.refused[0], "issues": []}
    if not outcome.ok:
        return {"ok": False, "action": action, "version": version_id, "refused": "",
                "issues": [issue_view(i, lang) for i in outcome.bundle.errors]}
    report = outcome.tests
    failures = [{"conversation": f.conversation, "step": f.step, "locale": f.locale, "what": f.what,
                 "where": f"{f.file}:{f.line}" if f.line else f.file} for f in (report.failures if report else [])]
    return {"ok": True, "action": action, "version": version_id, "new": outcome.version_id,
            "tests": None if report is None else {"conversations": report.conversations, "steps": report.steps,
                                                 "failures": failures}}


async def publish(request: web.Request) -> web.Response:
    """``POST .../versions/{version}/publish`` (form: ``note``): the draft goes live everywhere."""
    versions, version_id, lang = versions_of(request), _version_id(request), _lang(request)
    form = await request.post()
    note = str(form.get("note") or "").strip()[:500]
    author = request[COUNSELLOR_NAME]
    if note:  # the note travels with the draft (refused, harmlessly, when it is not a draft)
        await versions.edit_draft(version_id, lambda files: files, author=author, note=note)
    outcome = await versions.publish(version_id, author=author, counsellor_id=request[COUNSELLOR_ID], lang=lang)
    view = _outcome_view(outcome, lang, "publish", version_id)
    log.info("editor.publish", extra={"version": version_id, "ok": view["ok"], "by": request[COUNSELLOR_ID]})
    return await _versions_page(request, status=200 if view["ok"] else 400, outcome=view)


async def restore(request: web.Request) -> web.Response:
    """``POST .../versions/{version}/restore``: an earlier version is served again (as a new one)."""
    versions, version_id, lang = versions_of(request), _version_id(request), _lang(request)
    outcome = await versions.restore(version_id, author=request[COUNSELLOR_NAME],
                                     counsellor_id=request[COUNSELLOR_ID], lang=lang)
    view = _outcome_view(outcome, lang, "restore", version_id)
    log.info("editor.restore", extra={"version": version_id, "ok": view["ok"], "by": request[COUNSELLOR_ID]})
    return await _versions_page(request, status=200 if view["ok"] else 400, outcome=view)


async def download(request: web.Request) -> web.Response:
    """``GET .../versions/{version}/download``: the version's files as a zip (flows/, locales/)."""
    version_id = _version_id(request)
    found = await versions_of(request).files(version_id)
    if found is None:
        raise web.HTTPNotFound()
    return _zip(found[1], f"flows-v{version_id}.zip")


async def download_draft(request: web.Request) -> web.Response:
    draft_id, files = await versions_of(request).working_draft(author=request[COUNSELLOR_NAME])
    return _zip(files, f"flows-v{draft_id}-draft.zip")


def _zip(files: FlowFiles, name: str) -> web.Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in files.named().items():
            z.writestr(path, text.encode("utf-8"))
    return web.Response(body=buffer.getvalue(), content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def client_json(value: Any) -> str:
    """Data for editor.js in a ``<script type="application/json">`` (never run): ``<`` escaped."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def setup(app: web.Application, store, settings) -> None:
    restrict(app, EDITOR, "edit", home=EDITOR)
    app[FLOW_VERSIONS] = FlowVersions.from_settings(store, settings)
    app[VERDICTS] = Verdicts()
    r = app.router
    r.add_get(EDITOR, editor_page)
    r.add_post(f"{EDITOR}/edit", edit)
    r.add_get(f"{EDITOR}/download", download_draft)
    r.add_get(VERSIONS, versions_page)
    r.add_get(f"{VERSIONS}/{{version}}/diff", diff_page)
    r.add_get(f"{VERSIONS}/{{version}}/download", download)
    r.add_post(f"{VERSIONS}/{{version}}/publish", publish)
    r.add_post(f"{VERSIONS}/{{version}}/restore", restore)
