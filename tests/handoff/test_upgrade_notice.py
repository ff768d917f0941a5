"""After an upgrade (``FlowSync.consider_repository``), editors and admins read on the editor's
pages that the repository's files are newer than every version, and the command that publishes
them; counsellors do not."""
from __future__ import annotations

import html

from bot.flowversions import RepositoryNews
from bot.handoff.accounts import create_counsellor

from .test_console import PASSWORD, login
from .test_console_editor import editor  # noqa: F401  (fixture)

COMMAND = 'python -m bot flows import . --note "upgrade" --publish'



async def test_the_editor_pages_say_the_repository_is_newer_and_how_to_publish(editor, web_runtime, client):  # noqa: F811
    for path in ("/console/editor", "/console/editor/versions"):
        assert 'id="repository-newer"' not in await (await editor.get(path)).text()
    web_runtime.bundles.repository_news = RepositoryNews(1, edited=True, command=COMMAND)
    for path in ("/console/editor", "/console/editor/versions"):
        page = html.unescape(await (await editor.get(path)).text())
        notice = page.split('id="repository-newer"')[1].split("</div>")[0]
        assert COMMAND in notice and "いま話しているのは版 1 です" in notice
        assert "自動では公開していません" in notice           # edited: not published by itself
    web_runtime.bundles.repository_news = RepositoryNews(1, edited=False, command=COMMAND)
    page = html.unescape(await (await editor.get("/console/editor/versions")).text())
    assert COMMAND in page and "自動では公開していません" not in page


async def test_counsellors_are_not_told(web_runtime, client):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    web_runtime.bundles.repository_news = RepositoryNews(1, command=COMMAND)
    await login(client, "aiko")
    for path in ("/console/queue", "/console/history"):
        page = html.unescape(await (await client.get(path)).text())
        assert COMMAND not in page
