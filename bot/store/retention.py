"""Retention: what is deleted when. ``python -m bot purge`` runs it once; every process of the
Procfile (``serve``, ``worker``, ``discord``) runs it at start and every ``PURGE_INTERVAL`` seconds.

* inbox tombstones (event ids kept for dedupe) and settled outbox rows (no content left):
  after ``event_id_retention_days`` (default 7);
* handoff transcripts: after ``transcript_retention_days`` (default 30);
* conversations idle for ``conversation_retention_days`` (default 90), with everything of theirs,
  unless a handoff is open; closed handoffs older than that too;
* a platform id kept with a conversation that has no open handoff is erased at once;
* what a person typed to the bot (``bot.store.said``), once their conversation, with no handoff
  open, has been idle past the flow's ``expiry_hours`` (``said_seconds``; the session starts
  afresh then anyway);
* console logins after ``event_id_retention_days`` (a login lasts hours; the audit log keeps
  who logged in when), throttle counts after a day.

Open handoffs are closed by the handoff watch (``bot.handoff.service.HandoffService.expire``)
after ``handoff_queue_hours`` in the queue or ``handoff_idle_days`` without a message; then
these rules apply to them. Daily figures hold no identity and are kept. The audit log is kept
(counsellors' accountability; a hash chain, see ``audit``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from sqlalchemy import delete, select, update

from . import said, throttle
from .models import CLOSED, PENDING, ConsoleLogin, Conversation, Handoff, InboxEvent, OutboxMessage, TranscriptMessage
from .conversations import forget_conversation
from .db import StoreUnavailable

log = logging.getLogger(__name__)

DAY = 86_400.0
PURGE_INTERVAL = 3_600.0
BATCH = 500


SAID_SECONDS = 24 * 3_600.0   # the flow's expiry when the caller does not know the flow (its default)


async def purge(store, settings, now: float | None = None,
                said_seconds: float | Callable[[], float] | None = None) -> dict[str, int]:
    """Apply the rules once; returns how many rows of each kind were deleted. ``said_seconds``:
    the served flow's expiry (or a function giving it), else ``SAID_SECONDS``."""
    now = time.time() if now is None else now
    if callable(said_seconds):
        try:
            said_seconds = said_seconds()
        except Exception:
            said_seconds = None  # no flow loaded yet: the default
    said_before = now - (said_seconds if said_seconds is not None else SAID_SECONDS)
    events_before = now - settings.event_id_retention_days * DAY
    transcripts_before = now - settings.transcript_retention_days * DAY
    idle_before = now - settings.conversation_retention_days * DAY
    out: dict[str, int] = {}
    async with store.transaction() as s:
        r = await s.execute(delete(InboxEvent).where(InboxEvent.status != PENDING,
                                                     InboxEvent.processed_at < events_before))
        out["inbox"] = r.rowcount or 0
        r = await s.execute(delete(OutboxMessage).where(OutboxMessage.status != PENDING,
                                                        OutboxMessage.settled_at < events_before))
        out["outbox"] = r.rowcount or 0
        r = await s.execute(delete(TranscriptMessage).where(TranscriptMessage.created_at < transcripts_before))
        out["transcript_messages"] = r.rowcount or 0
        old = select(Handoff.id).where(Handoff.status == CLOSED, Handoff.closed_at < idle_before)
        await s.execute(delete(TranscriptMessage).where(TranscriptMessage.handoff_id.in_(old)))
        r = await s.execute(delete(Handoff).where(Handoff.status == CLOSED, Handoff.closed_at < idle_before))
        out["handoffs"] = r.rowcount or 0
        r = await s.execute(update(Conversation).where(Conversation.in_handoff.is_(False),
                                                       Conversation.user_ref_enc.is_not(None))
                            .values(user_ref_enc=None))
        out["kept_ids_erased"] = r.rowcount or 0
        out["person_messages"] = await s.run_sync(lambda sync: said.erase_idle_sync(sync.connection(), said_before))
        r = await s.execute(delete(ConsoleLogin).where(ConsoleLogin.created_at < events_before))
        out["console_logins"] = r.rowcount or 0
        out["throttle_hits"] = await throttle.prune(s, now)
    # Idle conversations, in batches so a big purge never holds the write lock for long.
    out["conversations"] = 0
    while True:
        async with store.transaction() as s:
            convs = (await s.execute(
                select(Conversation).where(Conversation.last_active_at < idle_before,
                                           Conversation.in_handoff.is_(False)).limit(BATCH)
            )).scalars().all()
            for conv in convs:
                await forget_conversation(s, conv)
        out["conversations"] += len(convs)
        if len(convs) < BATCH:
            break
    if any(out.values()):
        await store.checkpoint_wal()  # the deleted rows' pages leave SQLite's WAL too
    for kind, n in out.items():
        if n:
            log.info("retention.purged", extra={"kind": kind, "deleted": n})
    return out


async def purge_forever(store, settings, interval: float = PURGE_INTERVAL,
                        said_seconds: Callable[[], float] | None = None) -> None:
    """Run ``purge`` now and then every ``interval`` seconds, until cancelled."""
    await store.wait_for_schema()  # started with the server, before the migrations have run
    while True:
        try:
            await purge(store, settings, **({} if said_seconds is None else {"said_seconds": said_seconds}))
        except StoreUnavailable:
            pass  # already logged; try again next time
        except Exception as exc:
            log.error("retention.failed", extra={"code": type(exc).__name__})
        await asyncio.sleep(interval)
