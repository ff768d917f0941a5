"""After a code upgrade the database still serves the version published before it: texts the new
code asks for (the console's, the channels') come from the repository's files rather than showing
as keys; at start the bot says that the repository is newer and how to publish it, and publishes
it by itself only when every version so far is the repository's own and nobody edited one."""
from __future__ import annotations

import logging

from bot.engine.flowfiles import FlowFiles
from bot.flowsync import FlowSync
from bot.flowversions import SEED_AUTHOR, UPGRADE_NOTE, FlowVersions
from bot.reload import BundleHolder
from bot.store import audit

from tests.engine.helpers import copy_mini
from tests.handoff.test_audit import rows

NEW_JA, NEW_EN = "新しい画面の文です。", "A new screen text."


def _upgrade(locales) -> None:
    """What a code upgrade brings: a console text the version in the database does not have."""
    (locales / "ja.console.yaml").write_text(f"locale: ja\ntexts:\n  console:\n    upgraded: {NEW_JA}\n", "utf-8")
    (locales / "en.console.yaml").write_text(f"locale: en\ntexts:\n  console:\n    upgraded: {NEW_EN}\n", "utf-8")


async def _before_upgrade(tmp_path, store):
    """A database seeded (and served) with the repository's files before the upgrade."""
    flows, locales = copy_mini(tmp_path)
    versions = FlowVersions(store, flows, locales, test_files=[])
    assert await FlowSync(versions, BundleHolder(flows, locales, "mini")).sync_once() is False
    return versions, flows, locales


async def test_texts_the_served_version_lacks_come_from_the_repository_files(store, tmp_path, caplog):
    versions, flows, locales = await _before_upgrade(tmp_path, store)
    _upgrade(locales)
    holder = BundleHolder(flows, locales, "mini")          # the process starts on the new code
    sync = FlowSync(versions, holder, auto_upgrade=False)
    with caplog.at_level(logging.WARNING, logger="bot.flowsync"):
        assert await sync.sync_once() is True
    assert holder.db_version == 1                           # the old version serves...
    assert "console.upgraded" not in holder.flow.catalog["ja"]
    assert holder.flow.text("ja", "console.upgraded") == NEW_JA   # ...in words, not keys
    assert holder.flow.text("en", "console.upgraded") == NEW_EN
    assert holder.flow.text("en", "console.nowhere") == "console.nowhere"
    # The version's own texts still win over the repository's.
    assert holder.flow.text("ja", "system.ack") == "わかりました。"
    # One line says so and how to publish; nothing was published by itself.
    [line] = [r for r in caplog.records if r.msg == "flows.repository_newer"]
    assert "python -m bot flows import" in line.hint and "--publish" in line.hint
    assert line.serving == 1 and line.edited is False
    assert [v.id for v in await versions.listing()] == [1]
    assert holder.repository_news.serving == 1 and "--publish" in holder.repository_news.command

    # Once the repository's files are published, the notice ends.
    added = await versions.add(FlowFiles.read(flows, locales), note="upgrade", author="cli:test")
    assert (await versions.publish(added.version_id, author="cli:test")).ok
    await sync.sync_once()
    assert holder.repository_news is None and holder.flow.catalog["ja"]["console.upgraded"]


async def test_an_unedited_database_gets_the_upgrade_published_once_and_audited(store, tmp_path, caplog):
    versions, flows, locales = await _before_upgrade(tmp_path, store)
    await versions.working_draft(author="eri")              # an editor looked, and changed nothing
    _upgrade(locales)
    holder = BundleHolder(flows, locales, "mini")
    with caplog.at_level(logging.WARNING, logger="bot.flowsync"):
        await FlowSync(versions, holder, auto_upgrade=True).sync_once()
    head = await versions.published_head()
    newest = (await versions.listing())[0]
    assert (newest.id, newest.author, newest.note, newest.status) == (head, SEED_AUTHOR, UPGRADE_NOTE, "published")
    assert (await versions.files(head))[1] == FlowFiles.read(flows, locales)
    assert holder.db_version == head and holder.repository_news is None
    assert holder.flow.catalog["ja"]["console.upgraded"]
    published = await rows(store, audit.FLOWS_PUBLISHED)
    assert [r.detail for r in published] == [f"v{head} by repository (upgrade)"]
    assert [r.version for r in caplog.records if r.msg == "flows.repository_published"] == [head]
    # Another process starting on the same code publishes nothing more.
    count = len(await versions.listing())
    await FlowSync(versions, BundleHolder(flows, locales, "mini"), auto_upgrade=True).sync_once()
    assert len(await versions.listing()) == count and len(await rows(store, audit.FLOWS_PUBLISHED)) == 1


async def test_an_edited_conversation_is_never_replaced_by_the_repository(store, tmp_path, caplog):
    versions, flows, locales = await _before_upgrade(tmp_path, store)
    files = FlowFiles.read(flows, locales)
    edited = FlowFiles(files.flow_file, files.flow, files.resources,
                       {**files.locales, "ja.yaml": files.locales["ja.yaml"].replace("わかりました。", "うん、わかった。")})
    added = await versions.add(edited, note="softer", author="eri")
    assert (await versions.publish(added.version_id, author="eri")).ok
    _upgrade(locales)
    holder = BundleHolder(flows, locales, "mini")
    with caplog.at_level(logging.WARNING, logger="bot.flowsync"):
        await FlowSync(versions, holder, auto_upgrade=True).sync_once()
    assert await versions.published_head() == added.version_id        # the editor's version serves
    assert holder.flow.text("ja", "system.ack") == "うん、わかった。"
    assert holder.flow.text("ja", "console.upgraded") == NEW_JA      # new texts in words meanwhile
    [line] = [r for r in caplog.records if r.msg == "flows.repository_newer"]
    assert line.edited is True and holder.repository_news.edited is True
    assert await rows(store, audit.FLOWS_PUBLISHED) and all(
        "upgrade" not in r.detail for r in await rows(store, audit.FLOWS_PUBLISHED))


async def test_readyz_details_say_the_repository_is_newer(runtime):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.flowversions import RepositoryNews
    from tests.test_health import TOKEN, public_app

    good = {"Authorization": f"Bearer {TOKEN}"}
    async with TestClient(TestServer(public_app(runtime, TOKEN))) as client:
        assert "flows_repository_newer" not in await (await client.get("/readyz", headers=good)).json()
        runtime.bundles.repository_news = RepositoryNews(3, edited=True, command="python -m bot flows import . --publish")
        try:   # the holder is the session's
            body = await (await client.get("/readyz", headers=good)).json()
            public = await (await client.get("/readyz")).json()
        finally:
            runtime.bundles.repository_news = None
    assert body["flows_repository_newer"] == {"serving": 3, "edited": True,
                                              "publish": "python -m bot flows import . --publish"}
    assert public == {"status": "ready"}
