"""Every process serves the newest published flow version, within seconds of its publication.

``FlowSync.run`` (one per process, started with the runtime): on an empty database it stores the
repository's files as the first version, then loads the published version into the process's
``BundleHolder``, and again whenever another is published: woken by the store's NOTIFY on
PostgreSQL (polling slowly as well, in case a notification is lost while reconnecting), by
polling every few seconds on SQLite, and by SIGHUP. A version that fails the checks is refused
by the holder like a broken edit (``last_rejection``, ``/readyz``): the last good one serves on.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.engine.flowfiles import FlowFiles, FlowFilesError
from bot.flowversions import FlowVersions
from bot.store.flowversions import CHANNEL

log = logging.getLogger(__name__)

POLL_SQLITE = 1.0     # seconds: a publication reaches every SQLite process within this
POLL_POSTGRES = 30.0  # seconds: NOTIFY is immediate; this only catches a notification lost in a reconnect


class FlowSync:
    def __init__(self, versions: FlowVersions, holder, poll: float | None = None, auto_upgrade: bool = False):
        self.versions, self.holder = versions, holder
        self.auto_upgrade = auto_upgrade  # BOT_FLOWS_AUTO_UPGRADE: see ``consider_repository``
        self.poll = poll if poll is not None else (POLL_POSTGRES if versions.store.is_postgres else POLL_SQLITE)
        self._seeded = False
        self._refused: int | None = None  # a published version that failed here: not retried until forced
        self.wake = asyncio.Event()

    async def sync_once(self, force: bool = False) -> bool:
        """Serve the newest published version if it is not the one serving; True if it changed."""
        if not self._seeded:
            # The files the holder loaded clean at start need no second check (a second or so).
            clean = not self.holder.changed_on_disk() and not self.holder.last_rejection
            unchanged = self._files_on_disk() if clean else None
            await self.versions.ensure_seeded(unchanged)
            await self.consider_repository(unchanged)
            self._seeded = True
        head = await self.versions.published_head()
        if head is None or head == self.holder.db_version or (head == self._refused and not force):
            return False
        found = await self.versions.files(head)
        if found is None:
            return False
        files = found[1]
        if self.holder.repository_news is not None and files == self._files_on_disk():
            self.holder.repository_news = None   # the repository's files were published since
        if self.holder.db_version is None and files == self._files_on_disk():
            self.holder.db_version = head  # the files serving already are this version: no reload
            return False
        before = self.holder.version
        if not self.holder.load_version(files, head):
            self._refused = head
            log.error("flows.version_refused", extra={"version": head})
            return False
        self._refused = None
        log.info("flows.version_serving", extra={"version": head, "reason": self.holder.version})
        return self.holder.version != before

    async def consider_repository(self, checked: FlowFiles | None = None) -> None:
        """At start: when the repository's files are no stored version (a code upgrade brought new
        texts), publish them if nobody ever edited a version and ``auto_upgrade`` is on
        (``FlowVersions.upgrade_from_repository``), else say once, in the log, in ``/readyz``
        details and on the editor's pages, that they are newer and how to publish them."""
        if self.auto_upgrade:
            news = await self.versions.upgrade_from_repository(checked)
        else:
            news = await self.versions.repository_news(checked)
        if news is not None and news.published is not None:
            log.warning("flows.repository_published", extra={"version": news.published, "serving": news.serving})
            news = None
        elif news is not None:
            log.warning("flows.repository_newer", extra={
                "serving": news.serving, "edited": news.edited,
                "hint": ("the repository's flows/locales are newer than the version serving (after an upgrade?); "
                         f"review with `python -m bot flows list`, then publish them: {self.versions.import_command()}")})
        self.holder.repository_news = news

    def _files_on_disk(self) -> FlowFiles | None:
        try:
            return FlowFiles.read(self.holder.flows_dir, self.holder.locales_dir)
        except (FlowFilesError, OSError):
            return None

    async def run(self) -> None:
        """Until cancelled. A database that is down (or not migrated yet) is tried again later."""
        store = self.versions.store
        unlisten = store.listen(CHANNEL, lambda _payload: self.wake.set())
        loop = asyncio.get_running_loop()
        forced = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: (forced.set(), self.wake.set()))
        try:
            await store.wait_for_schema()  # this process's migrations first (at most a minute)
            while True:
                try:
                    await self.sync_once(force=forced.is_set())
                    forced.clear()
                except Exception as exc:  # StoreUnavailable, a schema not there yet: the next round
                    log.warning("flows.sync_failed", extra={"code": type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):  # not wait_for (see live.Subscription.get)
                        await self.wake.wait()
                self.wake.clear()
        finally:
            unlisten()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
