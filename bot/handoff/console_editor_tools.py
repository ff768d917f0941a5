"""The flow editor's tools in the console (capability ``edit``): keywords and "try a sentence",
resources, the preview chat, the diagram and the translation list.

Every page works on the editors' shared working draft (``FlowVersions.working_draft``); every
change is one pure function of the draft's files (``bot.flowtools``) applied by
``FlowVersions.edit_draft`` under the draft's row lock, and the page shows the checker's verdict
on what it concerns. "Try a sentence" and the preview run the engine's own ``step`` on the
draft's compiled flow (``bot.engine.explain``), in this process: no session is stored (the
browser keeps the preview's), and the typed text is never logged (it is posted, never in a URL).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any

from aiohttp import web

from bot.engine import Bundle
from bot.engine.explain import enter_state, preview_turn, session_at, try_message
from bot.engine.flowfiles import FlowFiles
from bot.engine.graph import diagram, first_words
from bot.engine.model import Flow, Session, UserInput
from bot.engine.svgdiagram import to_svg
from bot.flowtools import (INTENT_PARTS, TEXT_FIELDS, EditRefused, add_intent_word, intent_names, intents_file,
                           intent_words, languages, remove_intent_word, resource_rule, resources_of, set_resource_field,
                           set_text, texts_of, translation_list)
from bot.flowversions import FlowVersions
from bot.http import request_locale

from .console_core import CONSOLE, COUNSELLOR_NAME, HOMES, PREFIX, render, restrict, texts

log = logging.getLogger(__name__)

EDITOR = f"{PREFIX}/editor"
KEYWORDS = f"{EDITOR}/keywords"
RESOURCES = f"{EDITOR}/resources"
PREVIEW = f"{EDITOR}/preview"
DIAGRAM = f"{EDITOR}/diagram"
TRANSLATIONS = f"{EDITOR}/translations"
TOOLS = (KEYWORDS, RESOURCES, PREVIEW, DIAGRAM, TRANSLATIONS)
VERSIONS = web.AppKey("editor_tools_versions", FlowVersions)
BUNDLES = web.AppKey("editor_tools_bundles", OrderedDict)
KEEP_BUNDLES = 4            # compiled versions kept (the draft changes, people preview others)
MAX_TRY_CHARS = 2000


# ---- the draft and its compiled flow ------------------------------------------------------------

def _versions(request: web.Request) -> FlowVersions:
    return request.app[VERSIONS]


def _author(request: web.Request) -> str:
    return str(request.get(COUNSELLOR_NAME) or "editor")


def _key(files: FlowFiles) -> str:
    return hashlib.sha256(json.dumps(files.named(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def compiled(app: web.Application, files: FlowFiles, bundle: Bundle | None = None) -> Bundle:
    """The checker's verdict and compiled flow for ``files``, kept for the few versions in use
    (compiling takes a second or more, in a worker thread so that chats keep being answered; a
    preview turn takes milliseconds)."""
    cache: OrderedDict = app[BUNDLES]
    key = _key(files)
    if bundle is not None:
        cache[key] = bundle
    elif key in cache:
        cache.move_to_end(key)
        return cache[key]
    else:
        cache[key] = bundle = await app[VERSIONS].check_async(files)
    while len(cache) > KEEP_BUNDLES:
        cache.popitem(last=False)
    return bundle


async def _draft(request: web.Request) -> tuple[int, FlowFiles, Bundle]:
    """The working draft, its files and the checker's verdict (with the resource rule against the
    version it started from)."""
    versions = _versions(request)
    vid, files = await versions.working_draft(author=_author(request))
    bundle = await compiled(request.app, files)
    extra = [i for i in resource_rule(await versions.parent_files(vid), files) if i not in bundle.issues]
    if extra:
        bundle = Bundle(bundle.flows, bundle.issues + extra, bundle.version, bundle.resources, bundle.locales)
    return vid, files, bundle


def _flow(bundle: Bundle) -> Flow | None:
    return bundle.flow() if bundle.flows else None


async def _edit(request: web.Request, change, note: str) -> tuple[Bundle | None, tuple[str, str] | None]:
    """Apply ``change`` to the draft: (the checker's verdict, None) or (None, why it was refused)."""
    versions = _versions(request)
    vid, _files = await versions.working_draft(author=_author(request))
    outcome = await versions.edit_draft(vid, change, author=_author(request), note=note)
    if not outcome.ok:
        return None, outcome.refused
    found = await versions.files(vid)
    if found is not None and outcome.bundle is not None:
        await compiled(request.app, found[1], outcome.bundle)
    return outcome.bundle, None


def _refusal(request: web.Request, refused: tuple[str, str] | None) -> str:
    if refused is None:
        return ""
    c = request.app[CONSOLE]
    return refused[1] if request_locale(request, c.flow) == "ja" else refused[0]


def _issues(bundle: Bundle | None, lang: str, *, files: tuple[str, ...] = (), codes: tuple[str, ...] = ()) -> list[dict]:
    if bundle is None:
        return []
    return [{"severity": str(i.severity), "code": str(i.code), "where": f"{i.file}:{i.line}" if i.line else i.file,
             "text": i.text(lang)} for i in bundle.issues
            if (not files or i.file in files) and (not codes or str(i.code) in codes)]


def _states(flow: Flow | None, lang: str) -> list[dict]:
    if flow is None:
        return []
    out = []
    for name, st in flow.states.items():
        title = first_words(flow.text(lang, st.say[0]), lang) if st.say else ""
        out.append({"id": name, "title": title, "tags": list(st.tags)})
    return out


def _page(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    defaults = {"draft": None, "error": "", "done": None, "issues": [], "kept": {}}
    return render(request, template, status=status, tools=TOOLS, **{**defaults, **context})


# ---- keywords ----------------------------------------------------------------------------------------

async def keywords_page(request: web.Request, *, status: int = 200, tried: dict | None = None,
                        error: str = "", kept: dict | None = None, intent: str | None = None) -> web.Response:
    lang = request_locale(request, request.app[CONSOLE].flow)
    vid, files, bundle = await _draft(request)
    intent = intent or request.match_info.get("intent")
    names = intent_names(files)
    langs = languages(files)
    if intent is not None and intent not in names:
        raise web.HTTPNotFound()
    rows = [{"name": n, "counts": {code: len(intent_words(files, code, n)["keywords"]) for code in langs}} for n in names]
    words = {code: intent_words(files, code, intent) for code in langs} if intent else {}
    kfiles = {code: intents_file(files, code) for code in langs}
    issues = _issues(bundle, lang, files=tuple(f"locales/{name}" for name in kfiles.values()))
    if intent:
        issues = [i for i in issues if f"「{intent}」" in i["text"] or f'"{intent}"' in i["text"]]
    return _page(request, "editor_keywords.html", status=status, page="editor_keywords", draft=vid, intents=rows,
                 intent=intent, words=words, langs=langs, kfiles=kfiles, parts=INTENT_PARTS, issues=issues, tried=tried,
                 error=error, kept=kept or {}, states=_states(_flow(bundle), lang), draft_broken=not bundle.flows,
                 done=request.query.get("done"))


async def keyword_change(request: web.Request) -> web.Response:
    intent = request.match_info["intent"]
    form = await request.post()
    action = request.match_info["action"]
    lang, part, word = str(form.get("lang", "")), str(form.get("part", "")), str(form.get("word", ""))
    edit = add_intent_word if action == "add" else remove_intent_word
    bundle, refused = await _edit(request, lambda f: edit(f, lang, intent, part, word), f"{action} {part} ({lang}) {intent}")
    if refused is not None:
        return await keywords_page(request, status=400, error=_refusal(request, refused),
                                   kept={"lang": lang, "part": part, "word": word})
    raise web.HTTPSeeOther(f"{KEYWORDS}/{intent}?done={action}")


async def try_sentence(request: web.Request) -> web.Response:
    """Run a sentence through the draft's flow as the bot would; the page shows what decided."""
    form = await request.post()
    text = str(form.get("text", ""))[:MAX_TRY_CHARS]
    locale = str(form.get("locale", "ja"))
    state = str(form.get("state", "")) or None
    intent = str(form.get("intent", "")) or None
    lang = request_locale(request, request.app[CONSOLE].flow)
    _vid, _files, bundle = await _draft(request)
    flow = _flow(bundle)
    kept = {"text": text, "locale": locale, "state": state or ""}
    if not text.strip():
        return await keywords_page(request, status=400, error=texts(request.app[CONSOLE].flow, lang)("tools.try_empty"),
                                   tried={"kept": kept}, intent=intent)
    if flow is None:
        return await keywords_page(request, status=409, error=texts(request.app[CONSOLE].flow, lang)("tools.draft_broken"),
                                   tried={"kept": kept}, intent=intent)
    explained = try_message(flow, text, locale, state if state in flow.states else None, dt.datetime.now(dt.timezone.utc))
    return await keywords_page(request, tried={"kept": kept, **explained.as_dict()}, intent=intent)


# ---- resources --------------------------------------------------------------------------------------------

async def resources_page(request: web.Request, *, status: int = 200, error: str = "", kept: dict | None = None) -> web.Response:
    lang = request_locale(request, request.app[CONSOLE].flow)
    vid, files, bundle = await _draft(request)
    langs = languages(files) or ["ja", "en"]
    services = []
    for rid, entry in resources_of(files).items():
        def per_lang(field: str) -> dict:
            value = entry.get(field)
            return {code: (value.get(code, "") if isinstance(value, dict) else "") for code in langs}
        services.append({"id": rid, "tel": str(entry.get("tel") or ""), "url": str(entry.get("url") or ""),
                         "name": per_lang("name"), "hours": per_lang("hours"), "note": per_lang("note"),
                         "source": str(entry.get("source") or ""), "verified": str(entry.get("verified") or ""),
                         "has_open": "open" in entry})
    issues = _issues(bundle, lang, codes=("F110", "F113", "F116", "F117", "W203")) + \
        [i for i in _issues(bundle, lang, files=("flows/resources.yaml",)) if i["code"] not in ("F117", "W203")]
    def about_a_service(issue: dict) -> bool:
        return any(f"「{r['id']}」" in issue["text"] or f'"{r["id"]}"' in issue["text"] for r in services)

    return _page(request, "editor_resources.html", status=status, page="editor_resources", draft=vid,
                 services=services, langs=langs, text_fields=TEXT_FIELDS, error=error,
                 issues=[i for i in issues if not about_a_service(i)], service_issues=issues,
                 kept=kept or {}, done=request.query.get("done"))


def _resource_edits(files: FlowFiles, rid: str, form) -> list[tuple[str, str, str | None]]:
    """(field, value, language) of each field the form changes."""
    entry = resources_of(files).get(rid)
    if entry is None:
        return []
    edits = []
    for field in ("tel", "url", "source", "verified"):
        if field in form and str(form[field]).strip() != str(entry.get(field) or ""):
            edits.append((field, str(form[field]), None))
    for field in TEXT_FIELDS:
        current = entry.get(field) if isinstance(entry.get(field), dict) else {}
        for name in form:
            if name.startswith(field + ".") and str(form[name]).strip() != str(current.get(name.split(".", 1)[1], "")):
                edits.append((field, str(form[name]), name.split(".", 1)[1]))
    return edits


async def resource_change(request: web.Request) -> web.Response:
    """Save a service's form: each changed field is one ``set_resource_field``, applied together."""
    rid = request.match_info["rid"]
    form = await request.post()

    def change(files: FlowFiles) -> FlowFiles:
        if rid not in resources_of(files):
            raise EditRefused(f'there is no service "{rid}"', f"「{rid}」という窓口はありません")
        for field, value, lang in _resource_edits(files, rid, form):
            files = set_resource_field(files, rid, field, value, lang)
        return files

    _bundle, refused = await _edit(request, change, f"resource {rid}")
    if refused is not None:
        kept = {"rid": rid, **{k: str(v) for k, v in form.items() if k != "csrf"}}
        return await resources_page(request, status=400, error=_refusal(request, refused), kept=kept)
    raise web.HTTPSeeOther(f"{RESOURCES}?done={rid}#r-{rid}")


# ---- the preview ------------------------------------------------------------------------------------------

async def _version_files(request: web.Request, wanted: str) -> tuple[int | None, FlowFiles | None]:
    versions = _versions(request)
    if wanted in ("", "draft"):
        vid, files = await versions.working_draft(author=_author(request))
        return vid, files
    try:
        found = await versions.files(int(wanted))
    except ValueError:
        return None, None
    return found if found is not None else (None, None)


async def preview_page(request: web.Request) -> web.Response:
    return _page(request, "editor_preview.html", page="editor_preview", start_state=request.query.get("state", ""))


async def preview_options(request: web.Request) -> web.Response:
    """The versions one may preview and the states of the chosen one (for the state picker)."""
    lang = request_locale(request, request.app[CONSOLE].flow)
    vid, files = await _version_files(request, request.query.get("version", "draft"))
    if files is None:
        return web.json_response({"error": "no such version"}, status=404)
    bundle = await compiled(request.app, files)
    listing = await _versions(request).listing(30)
    return web.json_response({
        "version": vid, "broken": not bundle.flows,
        "errors": _issues(bundle, lang, codes=tuple(str(i.code) for i in bundle.errors))[:20],
        "states": _states(_flow(bundle), lang), "locales": list(bundle.locales),
        "versions": [{"id": v.id, "status": v.status, "note": v.note, "author": v.author} for v in listing]})


async def preview_turn_api(request: web.Request) -> web.Response:
    """One turn of the preview chat. In: version, locale, the session the last turn gave (or a
    state to start from), and a text, a tap or "start". Out: the bubbles, the rule that matched
    and what decided it, the state reached, and the session to send back next time."""
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError
    except (ValueError, json.JSONDecodeError):
        return web.json_response({"error": "bad request"}, status=400)
    _vid, files = await _version_files(request, str(body.get("version") or "draft"))
    if files is None:
        return web.json_response({"error": "no such version"}, status=404)
    flow = _flow(await compiled(request.app, files))
    if flow is None:
        return web.json_response({"error": "the version has errors"}, status=409)
    now = dt.datetime.now(dt.timezone.utc)
    locale = flow.pick_locale(str(body.get("locale") or ""))
    session = None
    if isinstance(body.get("session"), dict):
        session = Session.from_dict(body["session"])
    elif body.get("state") in flow.states:
        session = session_at(flow, str(body["state"]), locale, now)
    if session is not None:
        session = Session.from_dict({**session.to_dict(), "flow_version": flow.version, "last_active_at": now.timestamp() - 1})
    kind = str(body.get("kind") or "text")
    if kind == "enter":
        state = str(body.get("state") or "")
        if state not in flow.states:
            return web.json_response({"error": "no such state"}, status=404)
        explained = enter_state(flow, state, locale, now)
        return web.json_response({**explained.as_dict(), "session": explained.session.to_dict(),
                                  "tags": list(flow.states[explained.state].tags)})
    if kind == "tap":
        user_input = UserInput.tapped(str(body.get("choice") or "")[:80], str(body.get("from_state") or "") or None)
    elif kind == "start":
        user_input = UserInput("start", locale_hint=locale)
    else:
        text = str(body.get("text") or "")[:MAX_TRY_CHARS]
        if not text.strip():
            return web.json_response({"error": "empty"}, status=400)
        user_input = UserInput.typed(text, locale)
    explained = preview_turn(flow, session, user_input, now)
    return web.json_response({**explained.as_dict(), "session": explained.session.to_dict(),
                              "tags": list(flow.states[explained.state].tags) if explained.state in flow.states else []})


# ---- the diagram --------------------------------------------------------------------------------------------

async def diagram_page(request: web.Request) -> web.Response:
    lang = request_locale(request, request.app[CONSOLE].flow)
    vid, files = await _version_files(request, request.query.get("version", "draft"))
    if files is None:
        raise web.HTTPNotFound()
    bundle = await compiled(request.app, files)
    flow = _flow(bundle)
    svg, tags = "", []
    part = request.query.get("part") or None
    show_human = request.query.get("human") == "1"
    if flow is not None:
        tags = diagram(flow, lang).tags()
        if part not in tags:
            part = tags[0] if tags else None
        svg = to_svg(diagram(flow, lang, part, hide_human=not show_human), link=f"{PREVIEW}?state={{state}}")
    return _page(request, "editor_diagram.html", page="editor_diagram", svg=svg, tags=tags, part=part,
                 show_human=show_human, draft_broken=flow is None, version=vid)


# ---- the translation list -------------------------------------------------------------------------------------

async def translations_page(request: web.Request, *, status: int = 200, error: str = "",
                            kept: dict | None = None) -> web.Response:
    vid, files = await _versions(request).working_draft(author=_author(request))
    history = await _versions(request).history(vid)
    rows = translation_list(history)
    keys = sorted(k for k in texts_of(files, "ja") if not k.startswith("console."))
    return _page(request, "editor_translations.html", status=status, page="editor_translations", rows=rows,
                 keys=keys, langs=["en", "ja"], draft=vid, error=error, kept=kept or {}, done=request.query.get("done"))


async def translation_change(request: web.Request) -> web.Response:
    form = await request.post()
    key, value = str(form.get("key", "")), str(form.get("value", ""))
    lang = str(form.get("lang", "en"))
    _bundle, refused = await _edit(request, lambda f: set_text(f, lang, key, value), f"text {key} ({lang})")
    if refused is not None:
        return await translations_page(request, status=400, error=_refusal(request, refused),
                                       kept={"key": key, "value": value, "form": str(form.get("form", ""))})
    raise web.HTTPSeeOther(f"{TRANSLATIONS}?done={key}")


# ---- wiring -------------------------------------------------------------------------------------------------

def setup(app: web.Application, settings) -> None:
    """The tools' routes, for the ``edit`` capability (``console.setup_routes`` calls this)."""
    c = app[CONSOLE]
    app[VERSIONS] = FlowVersions(c.store, settings.bot_flows_dir, settings.bot_locales_dir)
    app[BUNDLES] = OrderedDict()
    for prefix in TOOLS:
        restrict(app, prefix, "edit")
    app[HOMES].setdefault("edit", KEYWORDS)   # the cards page (/console/editor), when there, is the home
    r = app.router
    r.add_get(KEYWORDS, keywords_page)
    r.add_post(f"{KEYWORDS}/try", try_sentence)
    r.add_get(f"{KEYWORDS}/{{intent}}", keywords_page)
    r.add_post(f"{KEYWORDS}/{{intent}}/{{action:add|remove}}", keyword_change)
    r.add_get(RESOURCES, resources_page)
    r.add_post(f"{RESOURCES}/{{rid}}", resource_change)
    r.add_get(PREVIEW, preview_page)
    r.add_get(f"{PREVIEW}/options", preview_options)
    r.add_post(f"{PREVIEW}/turn", preview_turn_api)
    r.add_get(DIAGRAM, diagram_page)
    r.add_get(TRANSLATIONS, translations_page)
    r.add_post(TRANSLATIONS, translation_change)
