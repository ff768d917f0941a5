"""Flow versions in the database (issue 17): the repository's files are the first version, only a
version that checks clean is stored or published, the bot follows the newest published one and
keeps the last good one when a stored version fails, restore publishes a copy, both are audited."""
from __future__ import annotations

from sqlalchemy import select

from bot.engine.flowfiles import FlowFiles
from bot.flowsync import FlowSync
from bot.flowversions import FlowVersions
from bot.reload import BundleHolder
from bot.store import flowversions as rows
from bot.store.models import AuditEntry

from tests.engine.helpers import copy_mini

OLD, NEW = "あなたは悪くありません。", "あなたは何も悪くありません。"


def _setup(tmp_path, store):
    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    return holder, FlowVersions(store, flows, locales, test_files=[]), flows, locales


def _edited(files: FlowFiles, old: str = OLD, new: str = NEW) -> FlowFiles:
    locales = dict(files.locales)
    assert old in locales["ja.yaml"]
    locales["ja.yaml"] = locales["ja.yaml"].replace(old, new)
    return FlowFiles(files.flow_file, files.flow, files.resources, locales)


async def test_an_empty_database_gets_the_repository_files_as_the_first_published_version(store, tmp_path):
    _holder, versions, flows, locales = _setup(tmp_path, store)
    first = await versions.ensure_seeded()
    assert first is not None and await versions.ensure_seeded() is None  # once
    assert await versions.published_head() == first
    vid, files = await versions.files()
    assert vid == first and files == FlowFiles.read(flows, locales)
    [info] = await versions.listing()
    assert info.status == "published" and info.author == "repository" and info.parent_id is None


async def test_broken_repository_files_are_not_stored_as_a_version(store, tmp_path):
    _holder, versions, flows, _ = _setup(tmp_path, store)
    (flows / "mini.yaml").write_text((flows / "mini.yaml").read_text().replace("target: evidence}", "target: evidense}"))
    assert await versions.ensure_seeded() is None
    assert await versions.published_head() is None


async def test_a_version_with_errors_is_refused_with_the_checkers_messages(store, tmp_path):
    _holder, versions, flows, locales = _setup(tmp_path, store)
    await versions.ensure_seeded()
    files = FlowFiles.read(flows, locales)
    bad = FlowFiles(files.flow_file, files.flow.replace("target: evidence}", "target: evidense}"),
                    files.resources, files.locales)
    outcome = await versions.add(bad, note="typo", author="cli:test")
    assert not outcome.ok and [i.code for i in outcome.bundle.errors] == ["F102"]
    assert "evidense" in outcome.bundle.errors[0].text("ja")
    assert len(await versions.listing()) == 1
    # A broken draft written around the checker still cannot be published.
    async with store.transaction() as s:
        sneaked = await rows.add(s, bad, author="x", note="", at=1.0)
    refused = await versions.publish(sneaked, author="cli:test")
    assert not refused.ok and refused.bundle.errors and await versions.published_head() == 1


async def test_the_bot_follows_the_published_version_and_keeps_the_last_good_one(store, tmp_path):
    holder, versions, flows, locales = _setup(tmp_path, store)
    sync = FlowSync(versions, holder, poll=0.05)
    start = holder.version
    assert await sync.sync_once() is False  # seeded with the files it serves: nothing to reload
    assert holder.db_version == 1 and holder.version == start
    draft = await versions.add(_edited(FlowFiles.read(flows, locales)), note="kinder words", author="cli:test")
    assert draft.ok and await sync.sync_once() is False  # a draft is not served
    published = await versions.publish(draft.version_id, author="cli:test")
    assert published.ok
    assert await sync.sync_once() is True
    assert holder.db_version == draft.version_id and holder.flow.text("ja", "reassure.not_your_fault") == NEW
    # A published version that fails the checks here (written around them) never takes the bot down.
    good = holder.version
    current = FlowFiles.read(flows, locales)
    broken = FlowFiles("mini.yaml", "states: [broken", current.resources, current.locales)
    async with store.transaction() as s:
        await rows.add(s, broken, author="x", note="", at=2e9, published=True)
    assert await sync.sync_once() is False
    assert holder.version == good and holder.flow.text("ja", "reassure.not_your_fault") == NEW
    assert [r["code"] for r in holder.last_rejection] == ["F100"]


async def test_restore_publishes_a_copy_of_an_earlier_version_and_both_are_audited(store, tmp_path):
    holder, versions, flows, locales = _setup(tmp_path, store)
    sync = FlowSync(versions, holder)
    await sync.sync_once()
    draft = await versions.add(_edited(FlowFiles.read(flows, locales)), note="kinder words", author="cli:test")
    await versions.publish(draft.version_id, author="cli:test")
    again = await versions.publish(draft.version_id, author="cli:test")
    assert not again.ok and "restore" in again.refused[0]
    restored = await versions.restore(1, author="cli:test")
    assert restored.ok and restored.version_id == 3
    [newest, *_] = await versions.listing()
    assert (newest.id, newest.status, newest.parent_id) == (3, "published", 1)
    assert await versions.published_head() == 3
    await sync.sync_once()
    assert holder.flow.text("ja", "reassure.not_your_fault") == OLD
    async with store.transaction() as s:
        actions = [(a.action, a.detail) for a in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]
    assert actions == [("flows_published", "v2 by cli:test"), ("flows_restored", "v1 as v3 by cli:test")]
    assert not (await versions.restore(99, author="cli:test")).ok


async def test_files_the_holder_refused_are_not_seeded_unchecked(store, tmp_path):
    holder, versions, flows, _ = _setup(tmp_path, store)
    (flows / "mini.yaml").write_text((flows / "mini.yaml").read_text().replace("target: evidence}", "target: evidense}"))
    assert holder.reload() is False  # the holder saw these files and refused them
    assert await FlowSync(versions, holder).sync_once() is False
    assert await versions.published_head() is None and holder.db_version is None


async def test_the_editors_working_draft_is_shared_edited_in_turn_and_kept_even_with_errors(store, tmp_path):
    _holder, versions, _flows, _locales = _setup(tmp_path, store)
    head = await versions.ensure_seeded()
    draft, files = await versions.working_draft(author="editor1")
    assert draft != head and files == (await versions.files(head))[1]
    assert (await versions.working_draft(author="editor2"))[0] == draft  # one draft, shared

    # Two editors' changes both land (each applies to what the other stored).
    out = await versions.edit_draft(draft, lambda f: _edited(f), author="editor1")
    assert out.ok and not out.bundle.errors
    out = await versions.edit_draft(draft, lambda f: _edited(f, "何も悪く", "ぜんぜん悪く"), author="editor2")
    assert out.ok
    stored = (await versions.files(draft))[1]
    assert "あなたはぜんぜん悪くありません。" in stored.locales["ja.yaml"]
    assert await versions.published_head() == head  # nothing goes live by editing

    # An unfinished draft is kept with the checker's errors, and cannot be published.
    broken = lambda f: FlowFiles(f.flow_file, f.flow + "\n  oops: [", f.resources, f.locales)  # noqa: E731
    out = await versions.edit_draft(draft, broken, author="editor1")
    assert out.ok and out.bundle.errors
    assert (await versions.files(draft))[1].flow.endswith("oops: [")
    assert not (await versions.publish(draft, author="editor1")).ok

    # A change may refuse itself; nothing is stored then.
    def refuse(f):
        raise ValueError("no such state")
    out = await versions.edit_draft(draft, refuse, author="editor1")
    assert not out.ok and out.refused[0] == "no such state"
    assert (await versions.files(draft))[1].flow.endswith("oops: [")


async def test_a_published_version_is_never_edited_and_publishing_starts_a_new_draft(store, tmp_path):
    _holder, versions, _flows, _locales = _setup(tmp_path, store)
    head = await versions.ensure_seeded()
    out = await versions.edit_draft(head, lambda f: _edited(f), author="editor1")
    assert not out.ok and "not a draft" in out.refused[0]
    draft, _ = await versions.working_draft(author="editor1")
    assert (await versions.edit_draft(draft, lambda f: _edited(f), author="editor1")).ok
    assert (await versions.publish(draft, author="editor1")).ok
    assert await versions.published_head() == draft
    after, files = await versions.working_draft(author="editor1")
    assert after not in (head, draft) and NEW in files.locales["ja.yaml"]
