"""Roles (issue 15, item 7): counsellor, supervisor, editor, admin; what each may see in the
console, the command that changes them, and a role change ending the account's logins."""
from __future__ import annotations

import pytest

from bot.handoff.accounts import (AccountError, CAPABILITIES, ROLES, change_role, create_counsellor, list_accounts,
                                  may, run_counsellor)
from bot.handoff.console import restrict

from .test_console import PASSWORD, login


def test_what_each_role_may_do():
    assert set(ROLES) == {"counsellor", "supervisor", "editor", "admin"}
    assert may("counsellor", "converse") and not may("counsellor", "supervise") and not may("counsellor", "edit")
    assert may("supervisor", "supervise") and may("supervisor", "converse") and not may("supervisor", "accounts")
    assert may("editor", "edit") and not may("editor", "converse")
    assert all(may("admin", capability) for capability in CAPABILITIES)
    assert not may(None, "converse") and not may("root", "converse")


async def test_accounts_have_a_role_and_a_change_ends_their_logins(client, web_runtime):
    store = web_runtime.store
    await create_counsellor(store, "ed", PASSWORD, role="editor")
    await create_counsellor(store, "aiko", PASSWORD)
    assert await list_accounts(store) == [("aiko", "counsellor", True), ("ed", "editor", True)]
    with pytest.raises(AccountError):
        await create_counsellor(store, "root", PASSWORD, role="root")
    assert (await login(client)).status == 303
    assert (await client.get("/console/queue", allow_redirects=False)).status == 200
    await change_role(store, "aiko", "supervisor")
    assert (await client.get("/console/queue", allow_redirects=False)).status == 303   # logged out
    await create_counsellor(store, "aiko", "another long password", replace=True)       # a new password
    assert ("aiko", "supervisor", True) in await list_accounts(store)                   # keeps the role


async def test_an_editor_cannot_reach_the_conversations(client, web_runtime):
    await create_counsellor(web_runtime.store, "ed", PASSWORD, role="editor")
    resp = await login(client, name="ed")
    assert resp.headers["Location"] == "/console/editor"         # the flow editor is an editor's home
    page = await client.get("/console/me")
    assert page.status == 200 and "editor" in await page.text()
    resp = await client.get("/console/queue", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/editor"
    csrf = __import__("re").search(r'name="csrf" value="([^"]+)"', await page.text())
    token = csrf.group(1) if csrf else ""
    resp = await client.post("/console/handoff/0123abcd/take", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 403


async def test_a_part_of_the_console_can_be_kept_for_a_role(web_process, web_runtime):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    async def editor_page(request):
        return web.Response(text="the editor")

    def app_with_an_editor_area():
        app = build_app(web_process)
        app.router.add_get("/console/edit", editor_page)
        restrict(app, "/console/edit", "edit", home="/console/edit")
        return app

    await create_counsellor(web_runtime.store, "ed", PASSWORD, role="editor")
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    async with TestClient(TestServer(app_with_an_editor_area())) as c:
        assert (await login(c, name="ed")).headers["Location"] == "/console/edit"
        assert await (await c.get("/console/edit")).text() == "the editor"
    async with TestClient(TestServer(app_with_an_editor_area())) as c:
        assert (await login(c, name="aiko")).headers["Location"] == "/console/queue"
        resp = await c.get("/console/edit", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/console/queue"


def test_the_command_adds_lists_and_changes_roles(web_settings, capsys):
    assert run_counsellor(web_settings, "add", "sue", PASSWORD, "supervisor") == 0
    assert run_counsellor(web_settings, "role", "sue", None, "editor") == 0
    assert run_counsellor(web_settings, "list", None, None) == 0
    assert "sue\teditor\tactive" in capsys.readouterr().out
    assert run_counsellor(web_settings, "role", "sue", None, None) == 1
    assert "--role is needed" in capsys.readouterr().err
