"""Flow versions: import, check, publish, restore, export and compare what the bot says.

One API for the command line (``python -m bot flows ...``, ``bot.flowcommands``) and, later, the
console's editor. A version is the content's files (``FlowFiles``) kept in the database
(``bot.store.flowversions``). Every version is checked by the one checker (``load_files``, the
same as ``bot check``): one with errors is refused, never stored as publishable nor published.
Publishing and restoring also run the conversation tests against the version and report the
result (failures warn, they do not block), and write a row to the audit log. The running bot
follows the newest published version (``bot.flowsync``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bot.convtest import Report, default_files, run_files
from bot.engine import Bundle
from bot.engine.classifier import MODEL_FILE
from bot.engine.flowdiff import Diff, compare
from bot.engine.flowfiles import FlowFiles, FlowFilesError, load_files
from bot.flowtools import resource_rule
from bot.store import audit
from bot.store import flowversions as rows
from bot.store.models import PUBLISHED

ROOT = Path(__file__).resolve().parent.parent
SEED_AUTHOR = "repository"
SEED_NOTE = "the repository's files (first version)"
UPGRADE_NOTE = "the repository's files (after an upgrade)"


@dataclass(frozen=True)
class RepositoryNews:
    """The repository's files (``flows_dir``, ``locales_dir``) are no stored version: the code was
    upgraded (or the files edited) and the bot still serves ``serving``. ``published``: the
    version they were published as by ``upgrade_from_repository``; ``edited``: someone other than
    the repository published or changed a version, so they were not published by themselves."""

    serving: int | None
    published: int | None = None
    edited: bool = False
    command: str = ""   # what imports and publishes them

    def details(self) -> dict:
        """For ``/readyz`` details."""
        return {"serving": self.serving, "edited": self.edited, "publish": self.command}


@dataclass
class Outcome:
    """What an import, publish or restore did. ``version_id`` is None when it was refused:
    ``bundle.errors`` (the checker's) or ``refused`` (in English and Japanese) say why."""

    version_id: int | None
    bundle: Bundle | None = None
    tests: Report | None = None
    refused: tuple[str, str] | None = None   # (en, ja)
    test_files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.version_id is not None


class FlowVersions:
    """The versions in ``store``. ``flows_dir``: the deployment's flows folder (where the
    repository's files and the understanding model are); ``test_files``: the conversation tests
    run on publish (default tests/conversations/*.yaml)."""

    def __init__(self, store, flows_dir: Path | str, locales_dir: Path | str, *,
                 test_files: list[Path] | None = None, clock: Callable[[], float] = time.time):
        self.store = store
        self.flows_dir, self.locales_dir = Path(flows_dir), Path(locales_dir)
        self.test_files = default_files(ROOT) if test_files is None else list(test_files)
        self.clock = clock

    @classmethod
    def from_settings(cls, store, settings, **kwargs) -> "FlowVersions":
        return cls(store, settings.bot_flows_dir, settings.bot_locales_dir, **kwargs)

    # ---- checking ---------------------------------------------------------------------------------

    def check(self, files: FlowFiles, base: FlowFiles | None = None) -> Bundle:
        """The checker's verdict on ``files`` (``bundle.errors`` block publishing). ``base``: the
        version a draft started from; a service whose number or hours changed since then without
        a new ``verified`` and ``source`` is an error (``flowtools.resource_rule``)."""
        bundle = load_files(files, dt.date.today(), self.flows_dir / MODEL_FILE)
        bundle.issues.extend(resource_rule(base, files))
        return bundle

    async def parent_files(self, version_id: int) -> FlowFiles | None:
        """The files of the version ``version_id`` started from (None for the first)."""
        async with self.store.transaction() as s:
            row = await rows.get(s, version_id)
            parent = await rows.get(s, row.parent_id) if row is not None and row.parent_id is not None else None
            return rows.files_of(parent) if parent is not None else None

    async def history(self, version_id: int, limit: int = 100) -> list[tuple[int, FlowFiles]]:
        """``version_id`` and the versions it came from (by ``parent_id``), oldest first."""
        out: list[tuple[int, FlowFiles]] = []
        async with self.store.transaction() as s:
            current = version_id
            while current is not None and len(out) < limit and all(v != current for v, _ in out):
                row = await rows.get(s, current)
                if row is None:
                    break
                out.append((row.id, rows.files_of(row)))
                current = row.parent_id
        return out[::-1]

    async def check_async(self, files: FlowFiles, base: FlowFiles | None = None) -> Bundle:
        """``check`` off the event loop (about a second on the full flow): a process that checks an
        editor's change keeps answering chats meanwhile."""
        return await asyncio.to_thread(self.check, files, base)

    def run_tests(self, bundle: Bundle, lang: str = "en") -> Report | None:
        if not self.test_files or not bundle.flows:
            return None
        return run_files(bundle, self.test_files, lang=lang)

    # ---- the versions -----------------------------------------------------------------------------

    async def ensure_seeded(self, checked: FlowFiles | None = None) -> int | None:
        """On an empty table, the repository's files become the first published version (if they
        check clean); its id, or None when there were versions already (or the files have errors).
        ``checked``: those files, already loaded clean by the caller (not checked again)."""
        async with self.store.transaction() as s:
            if await rows.count(s):
                return None
        files = checked or FlowFiles.read(self.flows_dir, self.locales_dir)
        if checked is None and self.check(files).errors:
            return None
        async with self.store.transaction() as s:
            return await rows.seed(s, files, author=SEED_AUTHOR, note=SEED_NOTE, at=self.clock())

    def import_command(self) -> str:
        """The command that imports and publishes the repository's files."""
        folder = self.flows_dir.parent if self.flows_dir.parent == self.locales_dir.parent else None
        where = "." if folder is not None and folder.resolve() == Path.cwd().resolve() else str(folder or "DIR")
        return f'python -m bot flows import {where} --note "upgrade" --publish'

    def repository_files(self) -> FlowFiles | None:
        try:
            return FlowFiles.read(self.flows_dir, self.locales_dir)
        except (FlowFilesError, OSError):
            return None

    async def _news(self, s, files: FlowFiles) -> RepositoryNews | None:
        head = await rows.published_head(s)
        if head is None:
            return None
        stored = await rows.every(s)
        by_id = {row.id: rows.files_of(row) for row in stored}
        if any(found == files for found in by_id.values()):
            return None
        edited = any(row.author != SEED_AUTHOR and (row.status == PUBLISHED or row.parent_id is None
                                                     or by_id.get(row.parent_id) != by_id[row.id])
                     for row in stored)  # an editor's draft opened and left unchanged is no edit
        return RepositoryNews(head, edited=edited, command=self.import_command())

    async def repository_news(self, files: FlowFiles | None = None) -> RepositoryNews | None:
        """What ``RepositoryNews`` says, or None when the repository's files are a stored version
        already (or there is none yet, or they cannot be read)."""
        files = files or self.repository_files()
        if files is None:
            return None
        async with self.store.transaction() as s:
            return await self._news(s, files)

    async def upgrade_from_repository(self, checked: FlowFiles | None = None) -> RepositoryNews | None:
        """After a code upgrade: publish the repository's files as a new version when every
        version so far is the repository's own and nobody edited one (an NGO that never used the
        editor gets the new texts by restarting). Audited. Otherwise, or when they have errors,
        nothing is published: the answer says why (``edited``), None when there is no news.
        ``checked``: the repository's files, already loaded clean by the caller."""
        files = checked or self.repository_files()
        news = await self.repository_news(files) if files is not None else None
        if news is None or news.edited:
            return news
        if checked is None and (await self.check_async(files)).errors:
            return news
        async with self.store.transaction() as s:
            await rows.lock_seeding(s)   # processes starting together publish it once
            news = await self._news(s, files)
            if news is None or news.edited:
                return news
            new_id = await rows.add(s, files, author=SEED_AUTHOR, note=UPGRADE_NOTE, at=self.clock(),
                                    parent_id=news.serving, published=True)
            await audit.append(s, audit.FLOWS_PUBLISHED, self.clock(), None,
                               detail=f"v{new_id} by {SEED_AUTHOR} (upgrade)"[:60])
        return RepositoryNews(news.serving, published=new_id, command=news.command)

    async def files(self, version_id: int | None = None) -> tuple[int, FlowFiles] | None:
        """A version's files (default: the published one the bot serves), with its id."""
        async with self.store.transaction() as s:
            version_id = version_id if version_id is not None else await rows.published_head(s)
            row = await rows.get(s, version_id) if version_id is not None else None
            return (row.id, rows.files_of(row)) if row is not None else None

    async def published_head(self) -> int | None:
        async with self.store.transaction() as s:
            return await rows.published_head(s)

    async def listing(self, limit: int = 50) -> list[rows.VersionInfo]:
        async with self.store.transaction() as s:
            return await rows.listing(s, limit)

    async def add(self, files: FlowFiles, *, note: str, author: str, parent_id: int | None = None) -> Outcome:
        """A new draft from ``files``, refused when the checker finds errors."""
        bundle = self.check(files)
        if bundle.errors:
            return Outcome(None, bundle)
        if parent_id is None:
            parent_id = await self.published_head()
        async with self.store.transaction() as s:
            new_id = await rows.add(s, files, author=author, note=note, at=self.clock(), parent_id=parent_id)
        return Outcome(new_id, bundle)

    # ---- the editor's working draft ---------------------------------------------------------------

    async def working_draft(self, *, author: str) -> tuple[int, FlowFiles]:
        """The draft the console's editor works on: the newest draft started from the published
        version, or a new one copied from it. Shared by every editor (as RapidPro's flow editor
        does): changes apply to it one at a time (``edit_draft``)."""
        async with self.store.transaction() as s:
            head = await rows.published_head(s)
            found = await rows.newest_draft(s, head)
            if found is None:
                base = await rows.get(s, head) if head is not None else None
                files = rows.files_of(base) if base is not None else FlowFiles.read(self.flows_dir, self.locales_dir)
                found = await rows.add(s, files, author=author, note="", at=self.clock(), parent_id=head)
            return found, rows.files_of(await rows.get(s, found))

    async def edit_draft(self, version_id: int, change: Callable[[FlowFiles], FlowFiles], *,
                         author: str, note: str | None = None) -> Outcome:
        """Apply ``change`` (a pure function of the draft's files) to the draft ``version_id`` and
        store the result, errors or not: a draft may be unfinished; the checker's verdict comes
        back in ``bundle`` and publishing refuses a draft with errors. Refused when
        ``version_id`` is not a draft. ``change`` may raise ``ValueError`` to refuse an edit
        (nothing is stored; the message comes back in ``refused``)."""
        async with self.store.transaction() as s:
            row = await rows.lock_draft(s, version_id)
            if row is None:
                return Outcome(None, refused=(f"version {version_id} is not a draft",
                                              f"版 {version_id} は下書きではありません"))
            try:
                files = change(rows.files_of(row))
            except ValueError as e:
                return Outcome(None, refused=(str(e), getattr(e, "ja", str(e))))
            await rows.update_draft(s, row, files, author=author, note=note)
            parent = await rows.get(s, row.parent_id) if row.parent_id is not None else None
            base = rows.files_of(parent) if parent is not None else None
        return Outcome(version_id, await self.check_async(files, base))

    async def publish(self, version_id: int, *, author: str, counsellor_id: int | None = None,
                      lang: str = "en") -> Outcome:
        """Make a draft the version the bot serves, in every process. Refused when it does not
        exist, is already published (restore it instead) or has errors."""
        found = await self.files(version_id)
        if found is None:
            return Outcome(None, refused=_no_such(version_id))
        async with self.store.transaction() as s:
            status = (await rows.get(s, version_id)).status
        if status == PUBLISHED:
            return Outcome(None, refused=(f"version {version_id} is already published; "
                                          f"to serve it again: flows restore {version_id}",
                                          f"版 {version_id} は公開済みです。もう一度使うには flows restore {version_id}"))
        bundle = await self.check_async(found[1], await self.parent_files(version_id))
        if bundle.errors:
            return Outcome(None, bundle)
        report = await asyncio.to_thread(self.run_tests, bundle, lang)
        async with self.store.transaction() as s:
            await rows.mark_published(s, version_id, self.clock())
            await audit.append(s, audit.FLOWS_PUBLISHED, self.clock(), counsellor_id,
                               detail=f"v{version_id} by {author}"[:60])
        return Outcome(version_id, bundle, report, test_files=self.test_files)

    async def restore(self, version_id: int, *, author: str, counsellor_id: int | None = None,
                      lang: str = "en") -> Outcome:
        """Serve an earlier version again: publishes a copy of it (the history only grows)."""
        found = await self.files(version_id)
        if found is None:
            return Outcome(None, refused=_no_such(version_id))
        bundle = await self.check_async(found[1])
        if bundle.errors:
            return Outcome(None, bundle)
        report = await asyncio.to_thread(self.run_tests, bundle, lang)
        async with self.store.transaction() as s:
            new_id = await rows.add(s, found[1], author=author, note=f"restored version {version_id}",
                                    at=self.clock(), parent_id=version_id, published=True)
            await audit.append(s, audit.FLOWS_RESTORED, self.clock(), counsellor_id,
                               detail=f"v{version_id} as v{new_id} by {author}"[:60])
        return Outcome(new_id, bundle, report, test_files=self.test_files)

    async def diff(self, a: int, b: int) -> Diff | tuple[str, str]:
        """What changed from version ``a`` to ``b``, or why it cannot be said (en, ja)."""
        old, new = await self.files(a), await self.files(b)
        for wanted, found in ((a, old), (b, new)):
            if found is None:
                return _no_such(wanted)
        return compare(old[1], new[1])


def _no_such(version_id: int) -> tuple[str, str]:
    return f"there is no version {version_id}", f"版 {version_id} はありません"
