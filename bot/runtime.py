"""The shell around the pure engine: accept events, run turns, deliver replies, apply effects.

::

    adapter --accept()--> inbox --worker: step()--> conversation + outbox --sender--> channel.deliver()
                                  \\-- in handoff: transcript + handoff_hooks.on_person_message

* ``accept`` commits events to the inbox before the adapter answers the platform.
* The worker takes events in order per conversation, one turn at a time per conversation (see
  ``bot.store.inbox.claim_rows``), and commits the new session, the outbox rows and the effects in
  one transaction, together with erasing the event's payload. A crash anywhere before that commit
  leaves the event pending; after it, the replies are in the outbox.
* The sender leases due outbox rows, delivers outside any transaction, then marks them sent,
  retries with backoff, or gives up after ``outbox_max_attempts`` (a log line, no content).

Logs name conversations by their random id only; never text, never platform ids.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from typing import Awaitable, Callable, Iterable, Sequence

from bot import observability as metrics
from bot.envelope import Channel, InboundEvent, Outbound
from bot.engine import HUMAN_CHOICE_ID, Flow, Reply, Session, new_session, step
from bot.errors import BotError
from bot.sender import DRAIN_SECONDS, Sender, where as _where
from bot.store import StoreUnavailable, figures, handoffs, inbox, keys, outbox, conversations
from bot.store.crypto import DecryptError
from bot.store.db import Store, is_unavailable
from bot.store.notify import notify, notify_sync
from bot.store.models import BOT, FAILED, PERSON, QUEUED

log = logging.getLogger(__name__)

INBOX_CHANNEL = "bot_inbox"    # PostgreSQL NOTIFY channels
OUTBOX_CHANNEL = "bot_outbox"
RELAY, ENGINE, LEAVE = "relay", "engine", "leave"   # what a message during a handoff does
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
SAFETY_KEY = "shell.safety_message"
# Used only when the flow has no shell.safety_message (or cannot be loaded). Numbers from
# ../shared/content/FACTS.md: よりそいホットライン (24h), 24時間子供SOSダイヤル (24h).
FALLBACK_SAFETY = {
    "ja": ("いま、うまく返事ができません。ごめんなさい。\n"
           "ひとりで抱えこまないでください。24時間、無料で相談できます。\n"
           "よりそいホットライン 0120-279-338\n"
           "24時間子供SOSダイヤル 0120-0-78310\n"
           "少し時間をおいて、もう一度送ってください。"),
    "en": ("Sorry, I cannot answer properly right now.\n"
           "You are not alone. You can talk to someone for free, 24 hours a day (in Japanese):\n"
           "Yorisoi Hotline 0120-279-338\n"
           "24-hour Children's SOS Dial 0120-0-78310\n"
           "Please try sending your message again a little later."),
}


class ConversationGone(BotError):
    """The conversation no longer exists (the person asked to be forgotten, or it expired)."""


class NotReachable(BotError):
    """No platform id is kept for this conversation (no open handoff): nothing can be pushed."""


class HandoffHooks:
    """How the worker tells the handoff side what happens. ``bot.handoff`` sets
    ``runtime.handoff_hooks`` to its own object with these three coroutines; this default does
    nothing. Called after the transaction committed, in the process that ran the turn; an
    exception is logged and otherwise ignored (the data is already safe in the store).
    """

    async def on_queued(self, handoff_id: str) -> None:
        """A new handoff was queued (the person asked for a counsellor)."""

    async def on_person_message(self, handoff_id: str, text: str, is_crisis: bool = False,
                                choice: str | None = None) -> None:
        """The person wrote during an open handoff. ``text`` is already in the transcript
        (written in the turn's transaction, so it survives a crash): do not store it again.
        ``is_crisis``: the flow's crisis words matched and the handoff's priority was raised.
        A tapped button comes as ``text=""`` and ``choice=<choice id>``."""

    def refused_replies(self, flow: Flow, locale: str, now: float) -> tuple[Reply, ...]:
        """What a person is told when no handoff may open for them (too many from their address;
        see ``Runtime._handoff_refused``). Empty: the flow's safety message."""
        return ()

    async def on_closed(self, handoff_id: str, reason: str) -> None:
        """The handoff ended outside the console: ``forgotten`` (the person asked to be
        forgotten, everything is deleted) or ``returned`` (``return_to_bot``)."""

    async def on_person_left(self, channel: str, user_id: str, reason: str) -> str | None:
        """The person's page says they may have left (``quick_exit``, ``page_hide``) or are
        back (``back``). Returns the open handoff's id, if there is one."""
        return None


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


_COMMITS = metrics.INBOX_COMMITS
_NEW_EVENTS, _REDELIVERED = metrics.INBOX_EVENTS.labels("true"), metrics.INBOX_EVENTS.labels("false")


def _retrieve(future: asyncio.Future) -> None:
    """Mark a commit's outcome as seen once nobody waits for it (its caller gave up)."""
    if not future.cancelled():
        future.exception()


def enter_state(flow: Flow, session: Session, state: str, now: float):
    """Enter ``state`` as if a move led there (replies, effects): used after a handoff."""
    from bot.engine import turn as engine_turn

    enter = getattr(engine_turn, "enter", None)
    if enter is not None:
        return enter(flow, session, state, _utc(now))
    # TODO(engine): use a public ``enter`` once the engine exports one.
    return engine_turn._enter(flow, session, state, "handoff_return", now)


class _Careful:
    """A turn that needs the careful path (see ``Runtime.process_batch``)."""


CAREFUL = _Careful()


class _BatchWrites:
    """What the quick turns of one batch write, one statement per table, at the end."""

    def __init__(self, crypto) -> None:
        self.crypto = crypto
        self.conversations = conversations.SessionWrites(crypto)
        self.outbox: list[dict] = []
        self.figures: dict[tuple[str, str], float] = {}
        self.done_ids: list[int] = []
        self.failed_ids: list[int] = []

    def write(self, conn, now: float) -> None:
        conversations.write_many(conn, self.conversations)
        outbox.enqueue_many(conn, self.crypto, self.outbox)
        figures.bump_days_sync(conn, self.figures)
        # Erase the payloads, keep the tombstones (redeliveries stay no-ops).
        inbox.mark_done_many(conn, self.done_ids, now)
        inbox.mark_done_many(conn, self.failed_ids, now, status=FAILED)


class _QuickBatch:
    """What a quick batch did, handed back from its transaction."""

    def __init__(self) -> None:
        self.taken = 0
        self.done: list[tuple[int, str]] = []
        self.failed: list[tuple[int, Exception]] = []
        self.careful = False   # some events were left for the careful path
        self.oldest: float | None = None  # when the oldest event taken was accepted


class Runtime:
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

        Quick path (most turns): one transaction, as one ``Store.run`` call, claims the events,
        loads their conversations, runs the engine and writes the batch's conversations, outbox
        rows, figures and inbox tombstones with one statement each: one commit, so one fsync on
        SQLite, for the batch. A turn that touches a handoff or forgets someone is left pending
        there and runs right after on the careful path (the ORM, a savepoint per turn, handoff
        hooks). A turn that raises is left out and retried. If the batch's writes fail, the
        batch is rolled back and the oldest event runs alone on the careful path, so one bad
        event cannot stop the rest.
        """
        try:
            return await self._quick_batch(limit)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.error("worker.batch_failed", extra={"code": type(exc).__name__, "file": _where(exc)})
            return await self._careful_batch(1)

    async def _quick_batch(self, limit: int) -> int:
        flow = self.bundles.flow  # one version for the whole batch, even if a reload happens now
        now = self.clock()
        started = time.perf_counter()
        batch = await self.store.run(self._quick_batch_in_transaction, flow, now, limit)
        self._inbox_lag = now - batch.oldest if batch.oldest is not None else 0.0
        taken = batch.taken
        if taken:
            await self._after_batch(flow, now, started, taken, batch.done, batch.failed, [])
        if batch.careful:
            taken += await self._careful_batch(limit)
        return taken

    def _quick_batch_in_transaction(self, conn, flow: Flow, now: float, limit: int) -> "_QuickBatch":
        """Inside ``Store.run``: plain statements and the pure engine, nothing that awaits."""
        batch = _QuickBatch()
        rows = inbox.claim_rows(conn, limit)
        if not rows:
            return batch
        batch.taken = len(rows)
        batch.oldest = min(r.accepted_at for r in rows)
        # No other worker can hold an event of these conversations now: claim_rows only offers a
        # conversation's oldest pending event, and those are locked by us until commit. The
        # console's writes meet us at the conversation's row lock (load_many locks FOR UPDATE on
        # PostgreSQL).
        if not self._local_sender:
            notify_sync(conn, OUTBOX_CHANNEL)  # a sender in another process
        writes = _BatchWrites(self.crypto)
        events = {}
        for row in rows:
            try:
                events[row] = inbox.open_payload(self.crypto, row)
            except DecryptError:
                log.error("turn.undecryptable", extra={"inbox": row.id})
                writes.failed_ids.append(row.id)
        # After a key rotation: a person still keyed under an older key is re-keyed on the careful path.
        rekey = conversations.older_keyed(conn, self.crypto, events)
        convs = conversations.load_many(conn, [r.pseudonym for r in events if r not in rekey])
        for row, event in events.items():
            if row in rekey:
                batch.careful = True
                batch.taken -= 1
                continue
            try:
                cid = self._quick_turn(flow, row.id, row.pseudonym, event, convs.get(row.pseudonym), now, writes)
            except Exception as exc:
                batch.failed.append((row.id, exc))
                continue
            if cid is CAREFUL:
                batch.careful = True  # stays pending: the careful path takes it next
                batch.taken -= 1
                continue
            batch.done.append((row.id, cid))
        writes.write(conn, now)
        return batch

    async def _careful_batch(self, limit: int) -> int:
        """Up to ``limit`` turns through the ORM, each in its own savepoint, in one transaction."""
        flow = self.bundles.flow
        now = self.clock()
        later: list[Callable[[], Awaitable[None]]] = []
        done: list[tuple[int, str | None]] = []
        failed: list[tuple[int, Exception]] = []
        started = time.perf_counter()
        async with self.store.connection() as conn:
            rows = await conn.run_sync(inbox.claim_rows, limit)
            if not rows:
                return 0
            if not self._local_sender:
                await self._notify(conn, OUTBOX_CHANNEL)
            orm = self.store.session_on(conn)
            try:
                for row in rows:
                    turn_later: list[Callable[[], Awaitable[None]]] = []
                    try:
                        async with orm.begin_nested():
                            try:
                                event = inbox.open_payload(self.crypto, row)
                            except DecryptError:
                                log.error("turn.undecryptable", extra={"inbox": row.id})
                                await inbox.mark_done(orm, row.id, now, status=FAILED)
                                continue
                            pseudonym, conv = await conversations.find_for_event(orm, self.crypto, row.pseudonym,
                                                                            event.channel, event.user_id)
                            cid = await self._handle(orm, flow, row.id, pseudonym, event, conv, now, turn_later)
                            await inbox.mark_done(orm, row.id, now)  # erase the payload, keep the tombstone
                    except StoreUnavailable:
                        raise
                    except Exception as exc:
                        if is_unavailable(exc):
                            raise
                        failed.append((row.id, exc))
                        continue
                    later.extend(turn_later)
                    done.append((row.id, cid))
            finally:
                await orm.close()  # leaves the connection's transaction alone
        await self._after_batch(flow, now, started, len(rows), done, failed, later)
        return len(rows)

    async def _after_batch(self, flow: Flow, now: float, started: float, taken: int,
                           done: list[tuple[int, str | None]], failed: list[tuple[int, Exception]],
                           later: list[Callable[[], Awaitable[None]]]) -> None:
        """After the commit: logs, metrics, failed turns, handoff hooks, and wake the sender."""
        per_turn = (time.perf_counter() - started) / max(taken, 1)
        for row_id, cid in done:
            metrics.TURN_SECONDS.observe(per_turn)
            log.info("turn.done", extra={"conversation": cid, "inbox": row_id, "ms": round(per_turn * 1000, 2),
                                         "count": taken})
        for row_id, exc in failed:
            await self._turn_failed(flow, row_id, exc, now)
        self._outbox_wake.set()
        for call in later:
            try:
                await call()
            except Exception as exc:
                log.error("handoff.hook_failed", extra={"code": type(exc).__name__, "file": _where(exc)})

    def _quick_turn(self, flow: Flow, inbox_id: int, pseudonym: str, event: InboundEvent, conv, now: float,
                    writes: "_BatchWrites") -> "str | _Careful":
        """The common turn, with its writes added to ``writes``: returns the conversation id, or
        ``CAREFUL`` when the event needs the careful path (forgetting, a handoff)."""
        if event.kind == "forget" or (conv is not None and conv.in_handoff):
            return CAREFUL
        before = conversations.load_session(self.crypto, conv)
        turn = step(flow, before, event.to_input(), _utc(now))
        if any(e.type in ("forget_me", "handoff") for e in turn.effects):
            return CAREFUL  # the careful path runs the (pure) turn again
        self._turn_metrics(flow, event, turn)
        new_day = conv is None or figures.local_day(conv.last_active_at, self.settings.timezone) != \
            figures.local_day(now, self.settings.timezone)
        cid = writes.conversations.save(conv, pseudonym=pseudonym, channel=event.channel, engine_session=turn.session,
                                   now=now)
        for key, amount in self._figures(flow, before, turn, new_day, now).items():
            writes.figures[key] = writes.figures.get(key, 0.0) + amount
        if turn.replies:
            out = self._outbound(event, turn.replies, turn.session, now, inbox_id)
            writes.outbox.append(outbox.outbox_row(conversation_id=cid, channel=event.channel,
                                                   user_id=event.user_id, outbound=out, now=now, inbox_id=inbox_id))
        writes.done_ids.append(inbox_id)
        return cid

    @staticmethod
    def _turn_metrics(flow: Flow, event: InboundEvent, turn) -> None:
        metrics.TURNS.labels(event.channel, turn.matched.split(":")[0]).inc()
        for name in turn.entered:
            metrics.STATE_VISITS.labels(flow.name, name).inc()

    async def _handle(self, s, flow: Flow, inbox_id: int, pseudonym: str, event: InboundEvent, conv,
                      now: float, later: list) -> str | None:
        """Everything one event does, inside the turn's transaction. Returns the conversation id."""
        if event.kind == "forget":
            # LINE unfollow: forget at once; nothing can be sent to them any more.
            await self._forget(s, conv, pseudonym, inbox_id, later)
            log.info("conversation.forgotten", extra={"conversation": conv.id if conv else None, "reason": "unfollow"})
            return conv.id if conv else None

        if conv is not None and conv.in_handoff:
            handoff = await handoffs.active_handoff(s, conv.id)
            route = self._handoff_route(flow, conv, handoff, event) if handoff is not None else LEAVE
            if route == RELAY:
                await self._relay_to_handoff(s, flow, conv, handoff, event, now, later, inbox_id)
                return conv.id
            if route == LEAVE:
                if handoff is not None:  # the person went back to the bot while waiting
                    await handoffs.close(s, handoff.id, "person_left", now)
                    hid = handoff.id
                    later.append(lambda: self.handoff_hooks.on_closed(hid, "person_left"))
                    log.info("handoff.person_left", extra={"conversation": conv.id, "handoff": hid})
                conv.in_handoff, conv.user_ref_enc = False, None
            # ENGINE: the "forget me" question is answered by the bot; the handoff stays open.

        before = conversations.load_session(self.crypto, conv)
        turn = step(flow, before, event.to_input(), _utc(now))
        effects = {e.type for e in turn.effects}
        self._turn_metrics(flow, event, turn)

        if "forget_me" in effects:
            await self._forget(s, conv, pseudonym, inbox_id, later)
            # The confirmation goes out under a fresh id that links to nothing.
            await self._enqueue_turn(s, conversations.new_id(), event, turn.replies, turn.session, now, inbox_id)
            log.info("conversation.forgotten", extra={"conversation": conv.id if conv else None, "reason": "flow"})
            return conv.id if conv else None

        if "handoff" in effects and not (conv is not None and conv.in_handoff) and event.origin \
                and not await handoffs.may_open_from(s, event.origin, now, max_open=self.settings.web_chat_open_handoffs,
                                                     per_hour=self.settings.web_chat_handoffs_per_hour):
            turn = self._handoff_refused(flow, turn, now)
            effects = {e.type for e in turn.effects}
            log.warning("handoff.refused", extra={"conversation": conv.id if conv else None, "reason": "address_limit"})

        new_day = conv is None or figures.local_day(conv.last_active_at, self.settings.timezone) != \
            figures.local_day(now, self.settings.timezone)
        conv = await conversations.save_session(s, self.crypto, conv, pseudonym=pseudonym, channel=event.channel,
                                           engine_session=turn.session, now=now)
        await self._count(s, flow, before, turn, new_day, now)

        if "handoff" in effects and not conv.in_handoff:
            h = await handoffs.open_handoff(
                s, self.crypto, conversation_id=conv.id, channel=conv.channel, locale=turn.session.locale,
                context=handoffs.context_packet(flow, turn.session), is_crisis="crisis" in turn.session.risk, now=now,
                origin=event.origin)
            conv.in_handoff = True
            conv.user_ref_enc = conversations.seal_user_ref(self.crypto, conv.id, event.user_id)  # a counsellor may push
            hid = h.id
            later.append(lambda: self.handoff_hooks.on_queued(hid))
            log.info("handoff.queued", extra={"conversation": conv.id, "handoff": hid, "priority": h.priority})

        if turn.replies:
            await self._enqueue_turn(s, conv.id, event, turn.replies, turn.session, now, inbox_id)
        return conv.id

    def _handoff_refused(self, flow: Flow, turn, now: float):
        """Too many handoffs from one address (``handoffs.may_open_from``): none opens. The person
        is told so (``handoff_hooks.refused_replies``: with the 24-hour lines), and the bot goes
        on from ``flow.handoff_return``."""
        locale = turn.session.locale
        told = tuple(self.handoff_hooks.refused_replies(flow, locale, now)) or (Reply(self.safety_text(locale), SAFETY_KEY),)
        after = enter_state(flow, turn.session, flow.handoff_return, now) if flow.handoff_return else turn
        return dataclasses.replace(after, replies=(*told, *(after.replies if after is not turn else ())),
                                   effects=tuple(e for e in after.effects if e.type != "handoff"))

    @staticmethod
    def _outbound(event: InboundEvent, replies: Sequence[Reply], session: Session, now: float,
                  inbox_id: int | None) -> Outbound:
        return Outbound(tuple(replies), reply_token=event.reply_token, received_at=event.received_at or now,
                        retry_key=outbox.new_retry_key(), kind="turn",
                        meta={"state": session.state, "locale": session.locale, "inbox_id": inbox_id})

    async def _enqueue_turn(self, s, conversation_id: str, event: InboundEvent, replies: Sequence[Reply],
                            session: Session, now: float, inbox_id: int | None) -> None:
        await outbox.enqueue(s, self.crypto, conversation_id=conversation_id, channel=event.channel,
                             user_id=event.user_id, outbound=self._outbound(event, replies, session, now, inbox_id),
                             now=now, inbox_id=inbox_id)

    async def _count(self, s, flow: Flow, before: Session | None, turn, new_day: bool, now: float) -> None:
        await figures.bump_days(s, self._figures(flow, before, turn, new_day, now))

    def _figures(self, flow: Flow, before: Session | None, turn, new_day: bool, now: float) -> dict:
        """The daily figures this turn adds, ``{(day, name): amount}``. Only what the figures page
        shows (turns are counted by Prometheus): most turns add none."""
        day = figures.local_day(now, self.settings.timezone)
        counts = {}
        if new_day:
            counts[(day, "conversations")] = 1.0
        seen = {t for st in (before.path if before else ()) if st in flow.states for t in flow.states[st].tags}
        for tag in set(turn.entered_tags) - seen:
            counts[(day, f"reached:{tag}")] = 1.0
        if any(e.type == "handoff" for e in turn.effects):
            counts[(day, "asked_person")] = 1.0
        return counts

    async def _forget(self, s, conv, pseudonym: str, inbox_id: int, later: list) -> None:
        # After the commit: the deleted rows' pages leave SQLite's WAL too.
        later.append(self.store.checkpoint_wal)
        if conv is None:
            await conversations.forget_inbox(s, pseudonym, inbox_id)
            return
        for hid in await conversations.forget_conversation(s, conv, keep_inbox_id=inbox_id):
            later.append(lambda hid=hid: self.handoff_hooks.on_closed(hid, "forgotten"))

    def _handoff_route(self, flow: Flow, conv, handoff, event: InboundEvent) -> str:
        """While a handoff is open, the engine is skipped (RELAY), except:

        * "forget me" (the flow's interrupt leading to a ``forget_me`` effect) and the answer to
          its confirmation question: the bot handles those (ENGINE), the handoff stays open;
        * while still queued, a tap on one of the human state's own choices ("back to the bot",
          "bye"): the person leaves the queue and the bot answers (LEAVE).
        """
        session = conversations.load_session(self.crypto, conv)
        forget_names, confirm_states = self._forget_paths(flow)
        if event.kind == "text" and event.text:
            if any(it.name in forget_names for it in flow.matching_interrupts(event.text)):
                return ENGINE
        if event.kind == "tap":
            state = flow.states.get(session.state) if session else None
            own = state is not None and event.choice in state.choice_by_id
            if own and session.state in confirm_states:
                return ENGINE
            if (own and handoff.status == QUEUED and session.state == flow.human_state
                    and event.choice != HUMAN_CHOICE_ID):
                return LEAVE
        return RELAY

    def _forget_paths(self, flow: Flow) -> tuple[frozenset[str], frozenset[str]]:
        """The names of the interrupts that lead to forgetting (directly or through one
        confirmation state), and those confirmation states; computed once per flow version."""
        cached = self._forget_cache.get(flow.version)
        if cached is None:
            def forgets(name: str | None) -> bool:
                st = flow.states.get(name or "")
                return st is not None and any(e.type == "forget_me" for e in st.effects)

            names, confirms = set(), set()
            for it in flow.interrupts:
                st = flow.states.get(it.target or "")
                if st is None:
                    continue
                if forgets(st.name):
                    names.add(it.name)
                elif any(forgets(c.target) for c in st.choices):
                    names.add(it.name)
                    confirms.add(st.name)
            cached = self._forget_cache[flow.version] = (frozenset(names), frozenset(confirms))
        return cached

    @staticmethod
    def is_crisis_text(flow: Flow, text: str) -> bool:
        return any(it.name == "crisis" for it in flow.matching_interrupts(text))

    async def _relay_to_handoff(self, s, flow: Flow, conv, handoff, event: InboundEvent, now: float,
                                later: list, inbox_id: int) -> None:
        """The engine does not run: the message goes to the transcript and the console."""
        if event.kind == "text":
            text = event.text
        elif event.kind == "tap":
            text = f"[{event.choice}]"
        else:
            text = f"[{event.kind}]"   # media is never downloaded; the counsellor sees only the kind
        is_crisis = event.kind == "text" and self.is_crisis_text(flow, text)
        await handoffs.add_line(s, self.crypto, handoff.id, PERSON, text, now)
        await handoffs.note_person_message(s, handoff.id, now, left_message=False)
        conv.last_active_at = now
        if is_crisis:
            await handoffs.mark_crisis(s, handoff.id)
            session = conversations.load_session(self.crypto, conv)
            if "crisis" not in session.risk:
                conv.session_json = conversations.dump_session(
                    self.crypto, conv.id, dataclasses.replace(session, risk=session.risk + ("crisis",)))
            log.warning("handoff.crisis", extra={"conversation": conv.id, "handoff": handoff.id})
        if event.kind in ("media", "sticker", "location"):
            # The same fixed answer as outside a handoff: no images needed, keep them as evidence.
            session = conversations.load_session(self.crypto, conv)
            key = {"media": flow.texts.media, "sticker": flow.texts.sticker, "location": flow.texts.location}[event.kind]
            reply = Reply(flow.text(session.locale, key, session.variables), key)
            await handoffs.add_line(s, self.crypto, handoff.id, BOT, reply.text, now)
            await self._enqueue_turn(s, conv.id, event, (reply,), session, now, inbox_id)
        hid = handoff.id
        if event.kind == "tap":  # a button (e.g. "back to the bot" while queued): the id, no text
            later.append(lambda: self.handoff_hooks.on_person_message(hid, "", False, choice=event.choice))
        else:
            later.append(lambda: self.handoff_hooks.on_person_message(hid, text, is_crisis))

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
                await self._enqueue_turn(s, conv.id if conv else conversations.new_id(), event, (reply,), session, now, row_id)
            finally:
                await inbox.mark_done(s, row_id, now, status=FAILED)
            log.error("turn.gave_up", extra={"inbox": row_id, "attempts": attempts})

    # ---- the sender ---------------------------------------------------------------------------

    async def _sender_loop(self) -> None:
        await self.sender.loop()

    async def deliver_due(self) -> int:
        """Lease, deliver and settle one batch of due outbox rows; returns how many were tried."""
        return await self.sender.deliver_due()

    # ---- for the handoff side -----------------------------------------------------------------

    async def send_to_person(self, conversation_id: str, text_or_replies: str | Iterable[Reply],
                             kind: str = "counsellor") -> int:
        """Queue a message (a counsellor's, or a notice) for the person; returns the outbox id.

        Works while a handoff is open (the raw platform id is kept only then): raises
        ``NotReachable`` otherwise and ``ConversationGone`` if the person was forgotten.
        The caller (``bot.handoff``) writes the counsellor's line into the transcript itself.
        """
        replies = (Reply(text_or_replies),) if isinstance(text_or_replies, str) else tuple(text_or_replies)
        now = self.clock()
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                raise ConversationGone(conversation_id)
            if conv.user_ref_enc is None:
                raise NotReachable(conversation_id)
            user_id = conversations.open_user_ref(self.crypto, conv)
            session = conversations.load_session(self.crypto, conv)
            out = Outbound(replies, retry_key=outbox.new_retry_key(), kind=kind,
                           meta={"state": session.state, "locale": session.locale})
            row = await outbox.enqueue(s, self.crypto, conversation_id=conv.id, channel=conv.channel,
                                       user_id=user_id, outbound=out, now=now)
            await self._notify(s, OUTBOX_CHANNEL)
            row_id = row.id
        self._outbox_wake.set()
        log.info("outbox.queued", extra={"conversation": conversation_id, "outbox": row_id, "kind": kind})
        return row_id

    async def return_to_bot(self, conversation_id: str, *, outcome: str | None = None) -> str | None:
        """Close the open handoff, erase the kept platform id, and let the bot go on from
        ``flow.handoff_return`` (its replies are sent). Returns the closed handoff's id."""
        flow = self.bundles.flow
        now = self.clock()
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                raise ConversationGone(conversation_id)
            h = await handoffs.active_handoff(s, conv.id)
            if h is not None:
                await handoffs.close(s, h.id, outcome, now)
            user_id = conversations.open_user_ref(self.crypto, conv) if conv.user_ref_enc is not None else None
            conv.in_handoff = False
            conv.user_ref_enc = None
            session = conversations.load_session(self.crypto, conv) or new_session(flow, flow.default_locale, _utc(now))
            if flow.handoff_return:
                turn = enter_state(flow, session, flow.handoff_return, now)
                await conversations.save_session(s, self.crypto, conv, pseudonym=conv.pseudonym, channel=conv.channel,
                                            engine_session=turn.session, now=now)
                if user_id is not None and turn.replies:
                    out = Outbound(turn.replies, retry_key=outbox.new_retry_key(), kind="turn",
                                   meta={"state": turn.session.state, "locale": turn.session.locale})
                    await outbox.enqueue(s, self.crypto, conversation_id=conv.id, channel=conv.channel,
                                         user_id=user_id, outbound=out, now=now)
                    await self._notify(s, OUTBOX_CHANNEL)
            hid = h.id if h is not None else None
        self._outbox_wake.set()
        log.info("handoff.returned", extra={"conversation": conversation_id, "handoff": hid})
        if hid is not None:
            try:
                await self.handoff_hooks.on_closed(hid, "returned")
            except Exception as exc:
                log.error("handoff.hook_failed", extra={"code": type(exc).__name__, "file": _where(exc)})
        return hid

    async def forget(self, conversation_id: str) -> bool:
        """Delete everything of this conversation now (no confirmation is sent)."""
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                return False
            # The row lock serialises this with the worker, which takes it too.
            closed = await conversations.forget_conversation(s, conv)
        await self.store.checkpoint_wal()
        log.info("conversation.forgotten", extra={"conversation": conversation_id, "reason": "request"})
        for hid in closed:
            with contextlib.suppress(Exception):
                await self.handoff_hooks.on_closed(hid, "forgotten")
        return True

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
