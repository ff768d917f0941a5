"""Keeps the flows a running process uses, and swaps in edited ones only when they check clean.

A broken edit never takes the live bot down: the last good version keeps serving and the
problems are logged (codes and places, never content typed by people).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import signal
from pathlib import Path

from bot.engine import Bundle, Flow, FlowError, issue_records, load_bundle
from bot.engine.classifier import MODEL_FILE
from bot.engine.flowfiles import FlowFiles, load_files

log = logging.getLogger(__name__)


def _fingerprint(*dirs: Path) -> tuple:
    items = []
    for d in dirs:
        for p in sorted(d.glob("*.yaml")):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            items.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(items)


def with_fallback(bundle: Bundle, repository: Bundle) -> Bundle:
    """``bundle`` whose flows take a text they lack from ``repository``'s catalog (its flow of the
    same name, else its main flow): console and channel texts a code upgrade added show in
    words, not as keys, until the repository's files are published."""
    if not repository.flows:
        return bundle
    main = repository.flow()
    for name, flow in list(bundle.flows.items()):
        source = repository.flows.get(name, main)
        bundle.flows[name] = dataclasses.replace(flow, fallback=source.catalog)
    return bundle


class BundleHolder:
    """The current good bundle of flows; ``reload()`` replaces it only with one that has no errors."""

    def __init__(self, flows_dir: Path | str, locales_dir: Path | str, flow_name: str | None = None):
        self.flows_dir, self.locales_dir = Path(flows_dir), Path(locales_dir)
        self.flow_name = flow_name
        self._fingerprint = _fingerprint(self.flows_dir, self.locales_dir)
        bundle = load_bundle(self.flows_dir, self.locales_dir, dt.date.today())
        if bundle.errors:
            raise FlowError(bundle.issues)
        self.bundle: Bundle = bundle
        # The repository's files as loaded at start: a version from the database lacking a text
        # the code asks for (published before an upgrade added it) takes it from here.
        self.repository: Bundle = bundle
        self.reloads = 0
        self.rejected = 0
        self._rejection: list[dict] = []
        self.db_version: int | None = None  # the flow version (database) serving, once one is loaded
        # Set at start when the repository's files are no stored version (``FlowSync.consider_repository``).
        self.repository_news = None

    @property
    def flow(self) -> Flow:
        return self.bundle.flow(self.flow_name)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def last_rejection(self) -> list[dict]:
        """Why the last edit was refused, for staff (``/readyz`` details, the console): one record
        per error (code, name, severity, file, line, state, message_ja, message_en). Empty when
        the files on disk are the ones serving."""
        return [dict(record) for record in self._rejection]

    def reload(self) -> bool:
        """Load the files again; True if the new version was taken."""
        self._fingerprint = _fingerprint(self.flows_dir, self.locales_dir)
        taken = self._consider(lambda: load_bundle(self.flows_dir, self.locales_dir, dt.date.today()))
        if taken:
            self.repository = self.bundle
        return taken

    def load_version(self, files: FlowFiles, version_id: int) -> bool:
        """Serve a version from the database if it checks clean (the same checker as the files);
        True if it was taken. A broken one is refused like a broken edit: the last good stays."""
        def load() -> Bundle:
            bundle = load_files(files, dt.date.today(), self.flows_dir / MODEL_FILE)
            return with_fallback(bundle, self.repository)

        taken = self._consider(load)
        if taken:
            self.db_version = version_id
        return taken

    def _consider(self, load) -> bool:
        try:
            candidate = load()
        except Exception:  # an unexpected loader failure must not stop the bot either
            log.exception("flows.reload_crashed")
            self.rejected += 1
            return False
        if candidate.errors or (self.flow_name and self.flow_name not in candidate.flows):
            self.rejected += 1
            self._rejection = issue_records(candidate.errors)
            for issue in candidate.errors[:20]:
                log.error("flows.reload_rejected", extra={"code": issue.code, "file": issue.file, "line": issue.line, "state": issue.state})
            log.error("flows.kept_last_good", extra={"version": self.bundle.version, "errors": len(candidate.errors)})
            return False
        self._rejection = []
        if candidate.version != self.bundle.version:
            self.bundle = candidate
            self.reloads += 1
            log.info("flows.reloaded", extra={"version": candidate.version})
        return True

    def changed_on_disk(self) -> bool:
        return _fingerprint(self.flows_dir, self.locales_dir) != self._fingerprint

    async def watch(self, interval: float = 2.0) -> None:
        """Reload when files change or on SIGHUP. Runs until cancelled."""
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, wake.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):  # not wait_for (see handoff.bus.Subscription.get)
                    await wake.wait()
            forced = wake.is_set()
            wake.clear()
            if forced or self.changed_on_disk():
                self.reload()
