"""The flow editor's tools in the console (issue 17 items 2, 3, 5, 8 and the translation list):
for the "edit" capability only, CSRF on every POST, every change into the shared working draft
with the checker's verdict on the page, and the preview and "try a sentence" running the engine."""
from __future__ import annotations

import json
import logging
import re

import pytest

from bot.flowtools import intent_words, resources_of, texts_of
from bot.flowversions import FlowVersions
from bot.handoff.accounts import create_counsellor

from .test_console import PASSWORD, login

TOOLS = ["/console/editor/keywords", "/console/editor/keywords/crisis", "/console/editor/resources",
         "/console/editor/preview", "/console/editor/diagram", "/console/editor/translations"]


async def editor(client, web_process, name="ed", role="editor"):
    """Log in as an editor, with the repository's files as the published version (as the running
    app seeds them: bot.flowsync)."""
    await versions(web_process).ensure_seeded()
    await create_counsellor(web_process.runtime.store, name, PASSWORD, role=role)
    resp = await login(client, name=name)
    assert resp.status == 303


async def csrf(client, path="/console/editor/keywords"):
    page = await client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)


def versions(web_process) -> FlowVersions:
    s = web_process.settings
    return FlowVersions(web_process.runtime.store, s.bot_flows_dir, s.bot_locales_dir, test_files=[])


async def draft_files(web_process):
    return (await versions(web_process).working_draft(author="test"))[1]


async def test_every_tool_page_opens_for_an_editor_with_the_nav_links(client, web_runtime, web_process):
    await editor(client, web_process)
    for path in TOOLS:
        resp = await client.get(path, headers={"Accept-Language": "ja"})
        assert resp.status == 200, path
        html = await resp.text()
        assert 'href="/console/editor/diagram"' in html and "翻訳の一覧" in html
    english = await (await client.get("/console/editor/keywords", headers={"Accept-Language": "en"})).text()
    assert "Try a sentence" in english


async def test_a_counsellor_may_not_use_the_tools(client, web_runtime, web_process):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client)
    queue = await client.get("/console/queue")
    token = re.search(r'name="csrf" value="([^"]+)"', await queue.text()).group(1)
    assert 'href="/console/editor/keywords"' not in await queue.text()
    for path in TOOLS:
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/console/queue", path
    resp = await client.post("/console/editor/keywords/crisis/add", allow_redirects=False,
                             data={"csrf": token, "lang": "ja", "part": "keywords", "word": "x"})
    assert resp.status == 403
    resp = await client.post("/console/editor/preview/turn", json={"kind": "start"}, headers={"X-CSRF-Token": token})
    assert resp.status == 403


async def test_a_post_without_its_csrf_token_is_refused(client, web_runtime, web_process):
    await editor(client, web_process)
    before = await draft_files(web_process)
    resp = await client.post("/console/editor/keywords/crisis/add", data={"lang": "ja", "part": "keywords", "word": "x"})
    assert resp.status == 403
    resp = await client.post("/console/editor/preview/turn", json={"kind": "start"})
    assert resp.status == 403
    assert await draft_files(web_process) == before


async def test_adding_and_removing_a_keyword_changes_the_draft_only(client, web_runtime, web_process):
    await editor(client, web_process)
    token = await csrf(client)
    resp = await client.post("/console/editor/keywords/crisis/add", allow_redirects=False,
                             data={"csrf": token, "lang": "ja", "part": "keywords", "word": "いなくなりたい"})
    assert resp.status == 303 and resp.headers["Location"] == "/console/editor/keywords/crisis?done=add"
    files = await draft_files(web_process)
    assert "いなくなりたい" in intent_words(files, "ja", "crisis")["keywords"]
    page = await (await client.get("/console/editor/keywords/crisis")).text()
    assert "いなくなりたい" in page
    # The published version (what the bot serves) is unchanged.
    _vid, published = await versions(web_process).files()
    assert "いなくなりたい" not in intent_words(published, "ja", "crisis")["keywords"]
    resp = await client.post("/console/editor/keywords/crisis/remove", allow_redirects=False,
                             data={"csrf": token, "lang": "ja", "part": "keywords", "word": "いなくなりたい"})
    assert resp.status == 303
    assert "いなくなりたい" not in intent_words(await draft_files(web_process), "ja", "crisis")["keywords"]


async def test_a_refused_keyword_says_why_and_keeps_what_was_typed(client, web_runtime, web_process):
    await editor(client, web_process)
    token = await csrf(client)
    before = await draft_files(web_process)
    resp = await client.post("/console/editor/keywords/crisis/add", headers={"Accept-Language": "ja"},
                             data={"csrf": token, "lang": "ja", "part": "keywords", "word": "死にたい"})
    assert resp.status == 400
    html = await resp.text()
    assert "「死にたい」はもうあります" in html and 'value="死にたい"' in html
    assert await draft_files(web_process) == before


async def test_try_a_sentence_shows_the_rule_and_the_keyword_that_decided(client, web_process, caplog):
    await editor(client, web_process)
    token = await csrf(client)
    caplog.set_level(logging.DEBUG)
    resp = await client.post("/console/editor/keywords/try", headers={"Accept-Language": "ja"},
                             data={"csrf": token, "text": "もう死にたい", "locale": "ja", "state": "welcome"})
    assert resp.status == 200
    html = await resp.text()
    assert 'data-matched="interrupt:crisis"' in html
    assert '<code class="keyword">死にたい</code>' in html and '<code class="reached">crisis</code>' in html
    assert "もう死にたい" not in caplog.text                   # the typed text is never logged
    empty = await client.post("/console/editor/keywords/try", data={"csrf": token, "text": " ", "locale": "ja"})
    assert empty.status == 400


async def test_resources_need_a_new_verified_date_and_source_when_a_number_changes(client, web_runtime, web_process):
    await editor(client, web_process)
    token = await csrf(client, "/console/editor/resources")
    base = await draft_files(web_process)
    other = resources_of(base)["yorisoi"]["tel"]             # a number the files already have
    entry = resources_of(base)["childline"]
    form = {"csrf": token, "tel": other, "url": "", "source": entry["source"], "verified": str(entry["verified"]),
            "name.ja": entry["name"]["ja"], "name.en": entry["name"]["en"],
            "hours.ja": entry["hours"]["ja"], "hours.en": entry["hours"]["en"]}
    resp = await client.post("/console/editor/resources/childline", data=form, allow_redirects=False)
    assert resp.status == 303
    assert resources_of(await draft_files(web_process))["childline"]["tel"] == other
    page = await (await client.get("/console/editor/resources", headers={"Accept-Language": "ja"})).text()
    assert 'data-code="F117"' in page and "verified, source も更新してください" in page
    resp = await client.post("/console/editor/resources/childline", allow_redirects=False,
                             data={**form, "verified": "2026-12-01", "source": entry["source"] + " (checked again)"})
    assert resp.status == 303
    page = await (await client.get("/console/editor/resources")).text()
    assert 'data-code="F117"' not in page
    bad = await client.post("/console/editor/resources/childline", headers={"Accept-Language": "ja"},
                            data={**form, "verified": "next tuesday"})
    assert bad.status == 400 and "YYYY-MM-DD" in await bad.text() and 'value="next tuesday"' in await bad.text()


async def test_a_number_typed_into_a_text_shows_on_the_resources_page(client, web_runtime, web_process):
    await editor(client, web_process)
    token = await csrf(client, "/console/editor/translations")
    tel = resources_of(await draft_files(web_process))["childline"]["tel"]
    resp = await client.post("/console/editor/translations", allow_redirects=False,
                             data={"csrf": token, "lang": "en", "key": "system.ack", "value": f"OK. Or call {tel}."})
    assert resp.status == 303
    page = await (await client.get("/console/editor/resources")).text()
    assert 'data-code="F116"' in page and "{childline.tel}" in page


async def test_the_preview_runs_the_draft_from_a_state_and_says_which_rule_matched(client, web_runtime, web_process):
    await editor(client, web_process)
    token = await csrf(client, "/console/editor/preview")
    headers = {"X-CSRF-Token": token}
    options = await (await client.get("/console/editor/preview/options?version=draft")).json()
    assert "welcome" in [s["id"] for s in options["states"]] and not options["broken"]
    start = await (await client.post("/console/editor/preview/turn", json={"kind": "start", "locale": "ja"},
                                     headers=headers)).json()
    assert start["state"] == "welcome" and start["replies"][-1]["choices"]
    tap = start["replies"][-1]["choices"][0]["id"]
    tapped = await (await client.post("/console/editor/preview/turn", headers=headers, json={
        "kind": "tap", "choice": tap, "from_state": "welcome", "session": start["session"], "locale": "ja"})).json()
    assert tapped["kind"] == "choice" and tapped["matched"] == f"choice:{tap}"
    entered = await (await client.post("/console/editor/preview/turn", headers=headers,
                                       json={"kind": "enter", "state": "evidence", "locale": "ja"})).json()
    assert entered["state"] == "evidence"
    crisis = await (await client.post("/console/editor/preview/turn", headers=headers, json={
        "kind": "text", "text": "死にたい", "session": entered["session"], "locale": "ja"})).json()
    assert (crisis["matched"], crisis["kind"], crisis["state"]) == ("interrupt:crisis", "interrupt", "crisis")
    assert crisis["because"] == ["死にたい"] and "crisis" in crisis["tags"]
    bad = await client.post("/console/editor/preview/turn", data="not json",
                            headers={**headers, "Content-Type": "application/json"})
    assert bad.status == 400
    assert (await client.post("/console/editor/preview/turn", headers=headers,
                              json={"kind": "text", "text": "x", "version": "9999"})).status == 404


async def test_the_diagram_is_an_svg_in_the_page_with_boxes_and_a_legend(client, web_runtime, web_process):
    await editor(client, web_process)
    html = await (await client.get("/console/editor/diagram?part=welcome", headers={"Accept-Language": "ja"})).text()
    assert "<svg" in html and 'class="legend"' in html and 'data-state="welcome"' in html
    assert "<script src=\"http" not in html
    assert 'data-to="person"' not in html                                 # hidden by default
    shown = await (await client.get("/console/editor/diagram?part=welcome&human=1")).text()
    assert 'data-to="person"' in shown


async def test_the_translation_list_shows_a_blanked_english_text_and_saves_a_new_one(client, web_runtime, web_process):
    await editor(client, web_process)
    page = await (await client.get("/console/editor/translations")).text()
    assert 'data-key="system.ack"' not in page
    token = await csrf(client, "/console/editor/translations")
    resp = await client.post("/console/editor/translations", allow_redirects=False,
                             data={"csrf": token, "lang": "en", "key": "system.ack", "value": ""})
    assert resp.status == 303
    page = await (await client.get("/console/editor/translations", headers={"Accept-Language": "ja"})).text()
    ja = texts_of(await draft_files(web_process), "ja")["system.ack"][0]
    assert 'data-key="system.ack" data-reason="missing"' in page and ja in page
    resp = await client.post("/console/editor/translations", allow_redirects=False,
                             data={"csrf": token, "lang": "en", "key": "system.ack", "value": "OK, got it."})
    assert resp.status == 303
    assert 'data-key="system.ack"' not in await (await client.get("/console/editor/translations")).text()
    assert texts_of(await draft_files(web_process), "en")["system.ack"][0] == "OK, got it."


@pytest.mark.parametrize("role", ["admin"])
async def test_an_admin_may_use_the_tools_too(client, web_process, role):
    await editor(client, web_process, name="root1", role=role)
    assert (await client.get("/console/editor/keywords")).status == 200
    assert json.loads(await (await client.get("/console/editor/preview/options")).text())["states"]
