"""The flow editor's routes (/console/editor, /console/editor/versions): who may use them, CSRF,
edits as operations with the checker's verdict, refused edits, publish, diff, restore, download."""
from __future__ import annotations

import io
import re
import zipfile

import pytest

from bot.engine.flowfiles import FlowFiles
from bot.handoff.accounts import create_counsellor
from bot.handoff.console_editor import FLOW_VERSIONS, cards
from sqlalchemy import select

from bot.store import audit
from bot.store.models import AuditEntry

from .test_console import PASSWORD, login


async def actions(store) -> list[str]:
    async with store.transaction() as s:
        return [a.action for a in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]


@pytest.fixture
async def editor(client, web_runtime):
    """``client`` logged in as an editor; the versions seeded from the mini flow; no conversation
    tests on publish (they are written for the real flow)."""
    store = web_runtime.store
    await create_counsellor(store, "ed", PASSWORD, role="editor")
    await create_counsellor(store, "aiko", PASSWORD)
    versions = client.server.app[FLOW_VERSIONS]
    versions.test_files = []
    await versions.ensure_seeded()
    assert (await login(client, name="ed")).headers["Location"] == "/console/editor"
    return client


async def page_data(client) -> tuple[str, str, int]:
    page = await client.get("/console/editor")
    assert page.status == 200
    html = await page.text()
    csrf = re.search(r'data-csrf="([^"]+)"', html).group(1)
    draft = int(re.search(r'"draft": (\d+)', html).group(1))
    return html, csrf, draft


async def edit(client, csrf, draft, **op):
    return await client.post("/console/editor/edit", json={"draft": draft, **op}, headers={"X-CSRF-Token": csrf})


async def test_only_editors_and_admins_reach_the_editor(client, web_runtime):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client, name="aiko")
    for path in ("/console/editor", "/console/editor/versions", "/console/editor/download"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/console/queue", path
    csrf = re.search(r'data-csrf="([^"]+)"', await (await client.get("/console/queue")).text()).group(1)
    resp = await client.post("/console/editor/edit", json={"draft": 1, "op": "set_text"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 403
    assert audit.REFUSED in await actions(web_runtime.store)


async def test_an_admin_may_edit_too(client, web_runtime):
    await create_counsellor(web_runtime.store, "ada", PASSWORD, role="admin")
    await login(client, name="ada")
    assert (await client.get("/console/editor", allow_redirects=False)).status == 200


async def test_the_page_shows_every_state_as_a_card_by_part_with_both_languages(editor):
    html, _, _ = await page_data(editor)
    for state in ("welcome", "reassure", "law_u16", "evidence", "person"):
        assert f'id="card-{state}"' in html
    assert 'id="part-welcome"' in html and 'id="part-law"' in html
    assert 'data-lang="ja"' in html and 'data-lang="en"' in html
    assert "会話の編集" in html                                # the console's texts, in Japanese by default
    assert html.count('<article class="card"') == html.count("data-issues-for=") - 1


async def test_an_edit_without_its_csrf_token_is_refused(editor):
    _, _, draft = await page_data(editor)
    resp = await editor.post("/console/editor/edit", json={"draft": draft, "op": "set_text", "key": "welcome.hello",
                                                           "lang": "ja", "text": "x"})
    assert resp.status == 403


async def test_a_text_edit_is_saved_to_the_draft_and_answered_with_the_checkers_verdict(editor):
    _, csrf, draft = await page_data(editor)
    resp = await edit(editor, csrf, draft, op="set_state_text", state="welcome", index=0, lang="ja", text="新しいあいさつ")
    answer = await resp.json()
    assert resp.status == 200 and answer["ok"] and answer["publishable"] and not answer["redraw"]
    versions = editor.server.app[FLOW_VERSIONS]
    _, files = await versions.files(draft)
    assert "hello: 新しいあいさつ" in files.locales["ja.yaml"]
    published = (await versions.files())[1]
    assert "新しいあいさつ" not in published.locales["ja.yaml"]     # the bot still serves the published one


async def test_a_button_to_a_state_that_does_not_exist_shows_on_its_card_and_blocks_publishing(editor):
    _, csrf, draft = await page_data(editor)
    resp = await edit(editor, csrf, draft, op="add_choice", state="evidence", choice="more",
                      labels={"ja": "もっと", "en": "More"}, target="nowhere_yet")
    answer = await resp.json()
    assert answer["ok"] and answer["redraw"] and not answer["publishable"] and answer["errors"] == 1
    [issue] = answer["issues"]["evidence"]
    assert issue["code"] == "F102" and "nowhere_yet" in issue["text"] and issue["severity"] == "error"
    html, _, _ = await page_data(editor)
    assert re.search(r'<button type="submit" id="publish"\s+disabled', html)
    resp = await editor.post(f"/console/editor/versions/{draft}/publish", data={"csrf": csrf, "note": "x"})
    assert resp.status == 400 and "F102" in await resp.text()
    # Adding that state fixes it.
    resp = await edit(editor, csrf, draft, op="add_state", state="nowhere_yet", tag="evidence",
                      texts={"ja": "ここに来ました", "en": "You are here"})
    answer = await resp.json()
    assert answer["ok"] and answer["publishable"], answer


async def test_missing_english_is_a_warning_on_the_card_not_an_error(editor):
    _, csrf, draft = await page_data(editor)
    await edit(editor, csrf, draft, op="add_state", state="only_ja", tag="evidence", texts={"ja": "日本語だけ", "en": ""})
    answer = await (await edit(editor, csrf, draft, op="add_choice", state="evidence", choice="ja_only",
                               labels={"ja": "日本語だけへ", "en": "Japanese only"}, target="only_ja")).json()
    assert answer["publishable"]
    [warning] = [i for i in answer["issues"]["only_ja"] if i["code"] == "W205"]
    assert warning["severity"] == "warning" and "日本語だけ" in warning["text"]


@pytest.mark.parametrize("op, status, words", [
    ({"op": "remove_state", "state": "evidence"}, 400, "ほかの場所からここへ来ます"),
    ({"op": "add_state", "state": "welcome", "tag": "x", "texts": {"ja": "a", "en": "b"}}, 400, "もうあります"),
    ({"op": "drop_everything"}, 400, "という編集はありません"),
    ({"op": "set_text", "key": "welcome.hello", "lang": "ja", "text": "   "}, 400, "空です"),
])
async def test_a_refused_edit_says_why_and_changes_nothing(editor, op, status, words):
    _, csrf, draft = await page_data(editor)
    versions = editor.server.app[FLOW_VERSIONS]
    before = (await versions.files(draft))[1]
    resp = await edit(editor, csrf, draft, **op)
    answer = await resp.json()
    assert resp.status == status and not answer["ok"] and words in answer["refused"]
    assert (await versions.files(draft))[1] == before


async def test_an_edit_to_a_version_that_is_no_longer_a_draft_asks_to_reload(editor):
    _, csrf, draft = await page_data(editor)
    head = await editor.server.app[FLOW_VERSIONS].published_head()
    resp = await edit(editor, csrf, head, op="set_text", key="welcome.hello", lang="ja", text="x")
    assert resp.status == 409 and (await resp.json())["stale"]
    resp = await editor.post("/console/editor/edit", data=b"not json", headers={"X-CSRF-Token": csrf,
                                                                               "Content-Type": "application/json"})
    assert resp.status == 400


async def test_publish_diff_restore_and_download(editor, web_runtime):
    _, csrf, draft = await page_data(editor)
    versions = editor.server.app[FLOW_VERSIONS]
    first = await versions.published_head()
    await edit(editor, csrf, draft, op="set_state_text", state="welcome", index=0, lang="en", text="Hello, rewritten.")
    diff = await (await editor.get(f"/console/editor/versions/{draft}/diff")).text()
    assert "welcome.hello" in diff and "+    hello: Hello, rewritten." in diff
    resp = await editor.post(f"/console/editor/versions/{draft}/publish", data={"csrf": csrf, "note": "a new hello"})
    page = await resp.text()
    assert resp.status == 200 and 'id="outcome"' in page and f"版 {draft} を公開しました" in page
    assert await versions.published_head() == draft
    listing = {v.id: v for v in await versions.listing()}
    assert listing[draft].note == "a new hello" and listing[draft].author == "ed"
    # Back to the first version: a copy of it is published.
    resp = await editor.post(f"/console/editor/versions/{first}/restore", data={"csrf": csrf})
    assert resp.status == 200 and f"版 {first} の写し" in await resp.text()
    head = await versions.published_head()
    assert head not in (first, draft) and (await versions.files(head))[1] == (await versions.files(first))[1]
    done = await actions(web_runtime.store)
    assert done.count(audit.FLOWS_PUBLISHED) == 1 and done.count(audit.FLOWS_RESTORED) == 1
    # The files of a version, and of the draft, as a zip of flows/ and locales/.
    resp = await editor.get(f"/console/editor/versions/{draft}/download")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await resp.read())) as z:
        assert "hello: Hello, rewritten." in z.read("locales/en.yaml").decode()
        assert {"flows/mini.yaml", "locales/ja.yaml", "locales/en.yaml"} <= set(z.namelist())
    resp = await editor.get("/console/editor/download")
    assert resp.status == 200 and "draft" in resp.headers["Content-Disposition"]
    assert (await editor.get("/console/editor/versions/999/download")).status == 404


def test_cards_show_where_a_button_leads_by_the_first_words_of_its_target():
    from tests.handoff.support import ROOT
    from bot.engine.flowfiles import load_files
    import datetime as dt

    files = FlowFiles.read(ROOT / "flows", ROOT / "locales")
    bundle = load_files(files, dt.date(2026, 11, 25))
    view = cards(files, bundle, "ja")
    states = {s["id"]: s for part in view["parts"] for s in part["states"]}
    welcome = states["welcome"]
    threat = next(b for b in welcome["buttons"] if b["id"] == "threat")
    assert threat["target"] == "sit_threat" and threat["target_words"].startswith("話してくれてありがとう")
    assert threat["ja"] == "晒すと脅されてる"
    # resources filled in: no placeholder left in what the person sees
    human = states["human"]
    assert any("{" in b["ja"] for s in states.values() for b in s["bubbles"])
    assert not any("{yorisoi" in b["ja_filled"] for s in states.values() for b in s["bubbles"])
    # the words that lead there, and who points to it
    assert any(w["intent"] == "human" and w["keywords"] for w in human["words"])
    assert {"state": "welcome", "kind": "choice", "what": "talk_to_person"} in human["leads"]
    assert [p["tag"] for p in view["parts"]][0] == "welcome"


async def test_a_failing_conversation_test_warns_with_its_step_and_the_version_is_published(editor, tmp_path):
    convs = tmp_path / "mini_tests.yaml"
    convs.write_text("flow: mini\nlocales: [ja]\nconversations:\n"
                     "  - name: the greeting\n    steps:\n"
                     "      - start: true\n        expect: {state: welcome}\n"
                     "      - tap: threatened\n        expect: {state: no_such_place}\n", encoding="utf-8")
    versions = editor.server.app[FLOW_VERSIONS]
    versions.test_files = [convs]
    _, csrf, draft = await page_data(editor)
    await edit(editor, csrf, draft, op="set_text", key="welcome.hello", lang="ja", text="こんにちは")
    resp = await editor.post(f"/console/editor/versions/{draft}/publish", data={"csrf": csrf})
    page = await resp.text()
    assert resp.status == 200 and await versions.published_head() == draft
    assert "会話テスト：会話 1 件、手順 2 件、失敗 1 件" in page
    assert "「the greeting」（ja）の手順 2" in page and "mini_tests.yaml" in page


async def test_a_rename_from_the_browser_keeps_the_old_name_as_an_alias(editor):
    _, csrf, draft = await page_data(editor)
    answer = await (await edit(editor, csrf, draft, op="rename_state", state="evidence", new="keep_evidence")).json()
    assert answer["ok"] and answer["redraw"] and answer["publishable"], answer
    _, files = await editor.server.app[FLOW_VERSIONS].files(draft)
    assert "aliases:\n  evidence: keep_evidence\n" in files.flow and "target: evidence}" not in files.flow
    html, _, _ = await page_data(editor)
    assert 'id="card-keep_evidence"' in html and 'id="card-evidence"' not in html


async def test_a_draft_whose_flow_file_cannot_be_read_still_shows_why_and_cannot_be_published(editor):
    import dataclasses

    _, csrf, draft = await page_data(editor)
    versions = editor.server.app[FLOW_VERSIONS]
    await versions.edit_draft(draft, lambda f: dataclasses.replace(f, flow=f.flow + "  broken: [\n"), author="ed")
    html, _, _ = await page_data(editor)
    assert "F100" in html and re.search(r'<button type="submit" id="publish"\s+disabled', html)
    answer = await (await edit(editor, csrf, draft, op="add_choice", state="welcome", choice="x",
                               labels={"ja": "x", "en": "x"}, target="law")).json()
    assert not answer["ok"] and "YAML" in answer["refused"]


async def test_the_checker_runs_off_the_event_loop_and_once_per_content(editor):
    import threading

    _, csrf, draft = await page_data(editor)
    versions = editor.server.app[FLOW_VERSIONS]
    threads = []
    check = versions.check

    def watched(files, base=None):
        threads.append(threading.current_thread())
        return check(files, base)

    versions.check = watched
    answer = await (await edit(editor, csrf, draft, op="set_text", key="welcome.hello", lang="en", text="Hi!")).json()
    assert answer["ok"] and len(threads) == 1
    assert threads[0] is not threading.main_thread()     # chats keep being answered meanwhile
    await page_data(editor)                               # the page drawn again: the same files, not checked again
    assert len(threads) == 1
