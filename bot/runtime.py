"""The shell around the pure engine: accept events, run turns, deliver replies, apply effects.

::

    adapter --accept()--> inbox --worker: step()--> conversation + outbox --sender--> channel.deliver()
                                  \\-- in handoff: transcript + handoff_hooks.on_person_message

* ``accept`` commits events to the inbox before the adapter answers the platform.
* The worker takes events in order per conversation, one turn at a time per conversation (see
  ``bot.store.inbox.claim_rows``), plans each turn without I/O (``bot.turns.plan``) and writes
  the plans of a batch in one transaction (``bot.store.turnwrites``): the new sessions, the
  outbox rows, the handoffs' changes and the erased event payloads. A crash anywhere before that
  commit leaves the events pending; after it, the replies are in the outbox.
* The sender leases due outbox rows, delivers outside any transaction, then marks them sent,
  retries with backoff, or gives up after ``outbox_max_attempts`` (a log line, no content).

Logs name conversations by their random id only; never text, never platform ids.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Awaitable, Callable, Sequence

from bot import observability as metrics
from bot.envelope import Channel, InboundEvent
from bot.engine import Flow, Reply, new_session
from bot.errors import raised_at as _where
from bot.person import ConversationGone, NotReachable, PersonSide  # noqa: F401  (re-exported)
from bot.sender import DRAIN_SECONDS, Sender
from bot.store import StoreUnavailable, conversations, handoffs, inbox, keys, outbox
from bot.store.db import Store, is_unavailable
from bot.store.notify import INBOX_CHANNEL, OUTBOX_CHANNEL, notify
from bot.store.models import FAILED
from bot.store import turnwrites
from bot.turns.hooks import FALLBACK_SAFETY, HandoffHooks
from bot.turns.plan import SAFETY_KEY, Limits, Plan, new_id, outbound, utc as _utc

log = logging.getLogger(__name__)

TURN_BATCH = 32             # turns per transaction (one commit): see process_batch
# Platform deliveries first, in a burst. LINE counts a webhook as failed after 2 s; a reply token
# lasts about a minute. While a burst is being stored (DELIVERIES_BURST events or more waiting for
# their commit, or that was so less than DELIVERIES_QUIET ago), the worker and the sender wait
# before their next batch, at most DELIVERIES_MAX_DEFER at a time, and not at all once the people
# in their last batch had waited DELIVERIES_PATIENCE. Steady traffic is never held back; a
# burst is acknowledged first; a long one cannot starve the turns (the wait stops as a backlog ages).
DELIVERIES_BURST = 8
DELIVERIES_QUIET = 0.02
DELIVERIES_MAX_DEFER = 1.0
DELIVERIES_PATIENCE = 5.0
DB_RETRY_MAX = 2.0          # seconds between tries at most while the database is away (issue 19)
MAX_TURN_ATTEMPTS = 3       # a turn that fails this often is answered with the flow's error text


_COMMITS = metrics.INBOX_COMMITS
_NEW_EVENTS, _REDELIVERED = metrics.INBOX_EVENTS.labels("true"), metrics.INBOX_EVENTS.labels("false")


def _retrieve(future: asyncio.Future) -> None:
    """Mark a commit's outcome as seen once nobody waits for it (its caller gave up)."""
    if not future.cancelled():
        future.exception()


class Runtime(PersonSide):
    """One per process. ``start()`` runs the migrations, then the worker and sender loops."""

    def __init__(self, settings, bundle_holder, *, store: Store | None = None,
                 clock: Callable[[], float] = time.time, workers: int | None = None,
                 accept_timeout: float = 5.0, poll_interval: float = 0.5):
        self.settings = settings
        self.bundles = bundle_holder
        self._store = store or Store.from_settings(settings)
        self.crypto = self.store.crypto
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.handoff_hooks: HandoffHooks = HandoffHooks()
        self.workers = workers or (4 if self.store.is_postgres else 1)
        self.accept_timeout = accept_timeout
        self.poll_interval = poll_interval
        self.send_batch = 32
        self.turn_batch = TURN_BATCH
        # A sender that dies mid-delivery leaves its rows leased this long; then another retries.
        self.lease_seconds = outbox.LEASE_SECONDS
        self._inbox_wake = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._unlisten: list[Callable[[], None]] = []
        self._running = False
        self._forget_cache: dict[str, tuple] = {}
        self._local_sender = False
        self._accepting = 0             # events in the accept() calls running now
        self._last_burst = 0.0          # time.monotonic() when the last accept() of a burst ended
        self._inbox_lag = 0.0           # how long the events of the last turn batch had waited
        self._outbox_lag = 0.0          # how long the people of the last delivery round had waited
        self.sender = Sender(self)
        self.inbox_commits = inbox.GroupCommit(self.store, self.crypto, notify_channel=INBOX_CHANNEL,
                                               on_commit=self._committed)

    # ---- life cycle ---------------------------------------------------------------------------

    def register_channel(self, channel: Channel) -> None:
        """Deliver this channel's outbox rows from this process."""
        self.channels[channel.name] = channel
        self._outbox_wake.set()

    @property
    def store(self) -> Store:
        return self._store

    @store.setter
    def store(self, store: Store) -> None:  # another database (tests: "the database is back")
        self._store = self.inbox_commits.store = store

    async def start(self, run_worker: bool = True, run_sender: bool | None = None, migrate: bool = True,
                    check: Callable[[Store], Awaitable[None]] | None = None) -> None:
        """Migrate (and seal what an earlier version left in clear), then ``check(store)`` if
        given (it may raise to refuse the start), then run the loops."""
        if migrate:
            await self.store.upgrade()
            await self._seal_legacy()
        if check is not None:
            await check(self.store)
        self._running = True
        if run_worker:
            for n in range(self.workers):
                self._tasks.append(asyncio.create_task(self._worker_loop(), name=f"worker-{n}"))
        sender = run_worker if run_sender is None else run_sender
        self._local_sender = sender
        if sender:
            self._tasks.append(asyncio.create_task(self._sender_loop(), name="sender"))
        if run_worker:  # PostgreSQL: woken by other processes' commits (they poll as well)
            self._unlisten.append(self.store.listen(INBOX_CHANNEL, lambda _payload: self._inbox_wake.set()))
        if sender:
            self._unlisten.append(self.store.listen(OUTBOX_CHANNEL, lambda _payload: self._outbox_wake.set()))
        log.info("runtime.started", extra={"worker": self.workers if run_worker else 0,
                                           "mode": self.store.dialect, "version": self.bundles.version})

    async def _seal_legacy(self) -> None:
        """Seal the sessions and contexts an earlier version stored in clear (``keys.seal_legacy``)."""
        try:
            await keys.seal_legacy(self.store)
        except StoreUnavailable:
            raise
        except Exception as exc:  # the bot still reads them; the next start tries again
            log.error("store.seal_legacy_failed", extra={"code": type(exc).__name__, "file": _where(exc)})

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop taking new work, let the rounds under way end (the deliveries in flight finish
        and are recorded) for up to ``drain`` seconds, then cancel what is left: a delivery cut
        short releases its rows for another process (``Sender``)."""
        self._running = False
        self.sender.draining = True
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten.clear()
        self._inbox_wake.set()   # the loops see _running at once instead of after their pause
        self._outbox_wake.set()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=drain)
            if late:
                log.warning("runtime.drain_timeout", extra={"count": len(late), "seconds": drain})
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        self.sender.draining = False
        if not await self.inbox_commits.idle():
            log.warning("inbox.commits_still_running")  # their callers already had an error or a timeout
        await self.store.dispose()
        log.info("runtime.stopped")

    # ---- the inbox ----------------------------------------------------------------------------

    async def accept(self, events: Sequence[InboundEvent], timeout: float | None = None) -> int:
        """Store the events durably; returns how many were new (a redelivery counts 0).

        Returns only after the commit, which deliveries arriving together share (``inbox.GroupCommit``).
        Raises ``StoreUnavailable`` when the database cannot be reached within ``timeout``
        (default ``accept_timeout``): answer with ``safety_text`` and let the platform retry.
        A commit still running then, or when the caller is cancelled, goes on.
        """
        if not events:
            return 0
        limit = self.accept_timeout if timeout is None else timeout
        self._accepting += len(events)
        committed = self.inbox_commits.add(events, self.clock())
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(committed)
        except TimeoutError:
            committed.add_done_callback(_retrieve)
            log.error("inbox.accept_timeout", extra={"events": len(events), "seconds": limit})
            raise StoreUnavailable("the database did not answer in time") from None
        except asyncio.CancelledError:
            committed.add_done_callback(_retrieve)
            raise
        finally:
            if self._accepting >= DELIVERIES_BURST:  # with the deliveries being stored beside these
                self._last_burst = time.monotonic()
            self._accepting -= len(events)

    def _committed(self, events: int, added: int) -> None:
        if added:
            self._inbox_wake.set()
        # Counted, and logged at DEBUG only: under a burst a commit comes every millisecond or two,
        # and a log line each was 5% of the event loop's time (py-spy); a line says no more.
        _COMMITS.inc()
        _NEW_EVENTS.inc(added)
        _REDELIVERED.inc(events - added)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("inbox.accepted", extra={"events": events, "count": added})

    def safety_text(self, locale: str | None = None) -> str:
        """The fixed message with the 24-hour numbers, for when the store is down. Never raises."""
        try:
            flow = self.bundles.flow
            for loc in (locale, flow.default_locale):
                if loc and loc in flow.locales:
                    text = flow.text(loc, SAFETY_KEY)
                    if text and text != SAFETY_KEY:
                        return text
        except Exception:  # the last resort must not fail
            pass
        return FALLBACK_SAFETY.get((locale or "ja").split("-")[0].lower(), FALLBACK_SAFETY["ja"])

    # ---- waking other processes (PostgreSQL) -------------------------------------------------

    async def _notify(self, s, channel: str) -> None:
        """PostgreSQL: wake workers or senders in other processes when this transaction commits.
        Without it they still poll every ``poll_interval``."""
        await notify(s, channel)


    # ---- the worker ---------------------------------------------------------------------------

    async def _worker_loop(self) -> None:
        pause = self.poll_interval
        while self._running:
            self._inbox_wake.clear()
            try:
                await self._after_deliveries(self._inbox_lag)
                did = await self.process_batch(self.turn_batch)
                pause = self.poll_interval
            except Exception as exc:  # a bug must not stop the worker
                pause = self._after_failure(exc, "worker", pause)
                did = False
            if not did:
                await self._idle(pause, self._inbox_wake)

    def _after_failure(self, exc: Exception, loop: str, pause: float) -> float:
        """The pause before a loop's next try. The database away (``StoreUnavailable``, already
        logged as ``store.unavailable``, or a lost connection the store did not name): try again
        soon, at most every ``DB_RETRY_MAX`` seconds, so the bot is back within 2 s of it.
        Anything else is a bug: logged, and the loop goes on."""
        if isinstance(exc, StoreUnavailable) or is_unavailable(exc):
            if not isinstance(exc, StoreUnavailable):
                log.error("store.unavailable", extra={"code": type(exc).__name__, "file": _where(exc)})
            return min(pause * 2, DB_RETRY_MAX)
        log.error(f"{loop}.crashed", extra={"code": type(exc).__name__, "file": _where(exc)})
        return self.poll_interval

    async def _idle(self, pause: float, wake: asyncio.Event) -> None:
        """Until ``wake`` is set or ``pause`` seconds passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):  # not wait_for: it can swallow a cancellation (3.11)
                await wake.wait()

    async def _after_deliveries(self, lag: float) -> None:
        """Wait while a burst of platform deliveries is being stored: one process serves the
        webhooks and runs the turns, and the webhooks have the deadline. At most
        ``DELIVERIES_MAX_DEFER``; not at all when ``lag`` (how long the people of the caller's
        last batch had waited) reached ``DELIVERIES_PATIENCE``."""
        if lag >= DELIVERIES_PATIENCE:
            return
        deadline = time.monotonic() + DELIVERIES_MAX_DEFER
        while True:
            now = time.monotonic()
            if now >= deadline or (self._accepting < DELIVERIES_BURST and now - self._last_burst >= DELIVERIES_QUIET):
                return
            await asyncio.sleep(min(DELIVERIES_QUIET, deadline - now))

    async def process_next(self) -> bool:
        """Run the turn of the oldest ready event; False when there is nothing to do."""
        return await self.process_batch(1) > 0

    async def process_batch(self, limit: int) -> int:
        """Run the turns of up to ``limit`` ready events (each of another conversation); returns
        how many events were taken.

        One transaction, as one ``Store.run`` call: claim the events, load their conversations
        and open handoffs, plan each turn (``bot.turns.plan``, pure), and write the plans with
        one statement per table (``bot.store.turnwrites``): one commit, so one fsync on SQLite,
        for the batch. The handoff hooks run after the commit. A turn that raises is left out and
        retried. If the batch's writes fail, the batch is rolled back and the oldest event runs
        alone, its writes in a savepoint, so one bad event cannot stop the rest.
        """
        try:
            return await self._run_batch(limit, alone=False)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.error("worker.batch_failed", extra={"code": type(exc).__name__, "file": _where(exc)})
            return await self._run_batch(1, alone=True)

    async def _run_batch(self, limit: int, alone: bool) -> int:
        flow = self.bundles.flow  # one version for the whole batch, even if a reload happens now
        now = self.clock()
        started = time.perf_counter()
        limits = Limits(self.settings.timezone, refused_replies=self.handoff_hooks.refused_replies,
                        safety_text=self.safety_text)
        # A sender in another process is woken at commit (PostgreSQL NOTIFY).
        batch = await self.store.run(turnwrites.run_turns, self.crypto, flow, now, limit, limits, alone,
                                     None if self._local_sender else OUTBOX_CHANNEL,
                                     self.settings.web_chat_open_handoffs, self.settings.web_chat_handoffs_per_hour)
        self._inbox_lag = now - batch.oldest if batch.oldest is not None else 0.0
        if batch.taken:
            await self._after_batch(flow, now, started, batch)
        return batch.taken

    async def _after_batch(self, flow: Flow, now: float, started: float, batch: turnwrites.Batch) -> None:
        """After the commit: logs, metrics, failed turns, handoff hooks, and wake the sender."""
        per_turn = (time.perf_counter() - started) / max(batch.taken, 1)
        for plan in batch.plans:
            _log_plan(flow, plan)
            metrics.TURN_SECONDS.observe(per_turn)
            log.info("turn.done", extra={"conversation": plan.conversation_id, "inbox": plan.inbox_id,
                                         "ms": round(per_turn * 1000, 2), "count": batch.taken})
        for row_id, exc in batch.failed:
            await self._turn_failed(flow, row_id, exc, now)
        self._outbox_wake.set()
        if any(plan.forget for plan in batch.plans):
            await self.store.checkpoint_wal()  # the deleted rows' pages leave SQLite's WAL too
        for plan in batch.plans:
            for name, *args in plan.hooks():
                try:
                    await getattr(self.handoff_hooks, name)(*args)
                except Exception as exc:
                    log.error("handoff.hook_failed", extra={"code": type(exc).__name__, "file": _where(exc)})

    async def _turn_failed(self, flow: Flow, row_id: int, exc: Exception, now: float) -> None:
        """A bug or bad data in one turn: retry it a little, then answer with the error text."""
        log.error("turn.failed", extra={"inbox": row_id, "code": type(exc).__name__, "file": _where(exc)})
        async with self.store.transaction() as s:
            attempts = await inbox.note_failure(s, row_id)
            if attempts < MAX_TURN_ATTEMPTS:
                return
            row = await s.get(inbox.InboxEvent, row_id)
            if row is None or row.payload_enc is None:
                return
            try:
                event = inbox.open_payload(self.crypto, row)
                _, conv = await conversations.find_for_event(s, self.crypto, row.pseudonym, event.channel, event.user_id)
                session = conversations.load_session(self.crypto, conv) or new_session(flow, flow.pick_locale(event.locale_hint), _utc(now))
                reply = Reply(flow.text(session.locale, flow.texts.error, session.variables), flow.texts.error)
                await outbox.enqueue(s, self.crypto, conversation_id=conv.id if conv else new_id(), channel=event.channel,
                                     user_id=event.user_id, outbound=outbound(event, (reply,), session, now, row_id),
                                     now=now, inbox_id=row_id)
            finally:
                await inbox.mark_done(s, row_id, now, status=FAILED)
            log.error("turn.gave_up", extra={"inbox": row_id, "attempts": attempts})

    # ---- the sender ---------------------------------------------------------------------------

    async def _sender_loop(self) -> None:
        await self.sender.loop()

    async def deliver_due(self) -> int:
        """Lease, deliver and settle one batch of due outbox rows; returns how many were tried."""
        return await self.sender.deliver_due()

    # ---- for tests and tools ------------------------------------------------------------------

    async def queue_depths(self) -> dict[str, int]:
        """Events waiting for a turn and deliveries waiting to be sent (for /healthz)."""
        async with self.store.transaction() as s:
            depths = {"inbox_pending": await inbox.count_pending(s), "outbox_pending": await outbox.count_pending(s)}
        metrics.INBOX_DEPTH.set(depths["inbox_pending"])
        return depths

    async def drain(self, max_turns: int = 100_000) -> int:
        """Run every ready turn and deliver every due outbox row, in this task. Returns turns run."""
        turns = 0
        while turns < max_turns:
            progressed = False
            while turns < max_turns and await self.process_next():
                turns += 1
                progressed = True
            while await self.deliver_due():
                progressed = True
            if not progressed:
                return turns
        return turns


def _log_plan(flow: Flow, plan: Plan) -> None:
    """The log lines and counters of a committed turn: ids and codes only, never content."""
    cid = plan.conversation_id
    if plan.matched is not None:
        metrics.TURNS.labels(plan.event.channel, plan.matched.split(":")[0]).inc()
        for name in plan.entered:
            metrics.STATE_VISITS.labels(flow.name, name).inc()
    if plan.leave:
        log.info("handoff.person_left", extra={"conversation": cid, "handoff": plan.leave})
    if plan.forget:
        log.info("conversation.forgotten", extra={"conversation": cid, "reason": plan.forget})
    if plan.refused:
        log.warning("handoff.refused", extra={"conversation": cid, "reason": "address_limit"})
    if plan.open_handoff is not None:
        log.info("handoff.queued", extra={"conversation": cid, "handoff": plan.open_handoff.id,
                                          "priority": handoffs.CRISIS_PRIORITY if plan.open_handoff.is_crisis else 0})
    if plan.relay is not None and plan.relay.is_crisis:
        log.warning("handoff.crisis", extra={"conversation": cid, "handoff": plan.relay.handoff_id})
