"""The sender: lease due outbox rows, deliver them outside any transaction, record the outcome.

* ``claim_due`` leases the head row of each conversation (``Runtime.lease_seconds``) in one
  transaction, committed before any platform call.
* Each row goes to its channel's ``deliver``; the outcomes are recorded together by
  ``outbox.settle``: sent, retry with backoff, or given up after ``outbox_max_attempts``.
* Recording the outcome is retried until it works or the process stops (``settle``): a row
  delivered but not marked sent would be delivered again once its lease ran out.
* The lease is short (``outbox.LEASE_SECONDS``) and renewed while the round runs, so the rows of
  a process that died wait seconds, not a minute. A round cut short (the process stopping after
  ``DRAIN_SECONDS``) releases its rows; their ``in_flight`` mark stays (``outbox``).

Logs name conversations and rows by their ids only; never text, never platform ids.
"""
from __future__ import annotations

import asyncio
import logging
import time
import traceback

from bot import observability as metrics
from bot.envelope import DeliveryResult
from bot.store import StoreUnavailable, outbox

log = logging.getLogger(__name__)

SETTLE_FIRST_PAUSE = 0.05   # seconds before the first retry of a failed settle; doubles each time
SETTLE_MAX_PAUSE = 2.0      # ... up to this: the outcome is recorded within 2 s of the database's return
DRAIN_SECONDS = 10.0        # on SIGTERM, how long the deliveries under way may take to finish
SETTLE_BUG_TRIES = 5        # a settle failing for another reason than the database (a bug) is dropped
                            # after this many tries; its rows come back after their lease


def where(exc: BaseException) -> str:
    """file:line of the innermost frame, for a log line that must not carry the message."""
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""


async def _ended(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait until it has ended (``asyncio.wait`` does not raise)."""
    task.cancel()
    await asyncio.wait([task])


class Sender:
    """The sender of one ``Runtime`` (its channels, store, clock and settings)."""

    def __init__(self, runtime) -> None:   # a bot.runtime.Runtime (not imported: it imports this)
        self.rt = runtime
        self.draining = False   # the runtime is stopping: finish the round under way (``Runtime.stop``)

    async def loop(self) -> None:
        rt = self.rt
        pause = rt.poll_interval
        while rt._running:
            rt._outbox_wake.clear()
            try:
                await rt._after_deliveries(rt._outbox_lag)
                sent = await self.deliver_due()
                pause = rt.poll_interval
            except Exception as exc:
                pause = rt._after_failure(exc, "sender", pause)
                sent = 0
            if not sent:
                await rt._idle(pause, rt._outbox_wake)

    async def deliver_due(self) -> int:
        """Lease, deliver and settle one batch of due outbox rows; returns how many were tried."""
        rt = self.rt
        names = tuple(rt.channels)
        if not names:
            return 0
        now = rt.clock()
        claimed = await rt.store.run(outbox.claim_due, rt.crypto, names, now, rt.send_batch, rt.lease_seconds)
        if not claimed:
            return 0
        rt._outbox_lag = now - min(c.outbound.received_at or now for c in claimed)
        ids = [c.id for c in claimed]
        renewing = asyncio.create_task(self._renew(ids), name="outbox-renew")
        try:
            results = await asyncio.gather(*(self._deliver_one(c) for c in claimed))
        except asyncio.CancelledError:  # stopped before the round ended: let another take the rows now
            await _ended(renewing)  # first: a renewal must not land after the release
            await self._release(ids)
            raise
        finally:
            await _ended(renewing)  # before settling: a late renewal would hold back a retry
        await self._settle_round(claimed, results)
        return len(claimed)

    async def _settle_round(self, claimed: list[outbox.Claimed], results) -> None:
        rt = self.rt
        max_attempts = rt.settings.outbox_max_attempts
        sent, retries, failed = [], [], []
        for c, (res, ms) in zip(claimed, results):
            attempts = c.attempts + 1
            fields = {"outbox": c.id, "conversation": c.conversation_id, "channel": c.channel,
                      "attempts": attempts, "ms": ms}
            if res.status == "sent":
                sent.append(c.id)
                metrics.OUTBOX_SENT.labels(c.channel).inc()
                log.info("outbox.sent", extra=fields)
            elif res.status == "retry" and attempts < max_attempts:
                # Unknown until an attempt settles it: the platform may have this one or an earlier one.
                unknown = res.may_have_arrived or c.outbound.may_have_arrived
                retries.append(outbox.Retry(c.id, attempts, res.retry_after, res.reason, unknown))
                metrics.OUTBOX_RETRIES.labels(c.channel, res.reason[:40]).inc()
                log.warning("outbox.retry", extra={**fields, "reason": res.reason})
            else:
                failed.append(outbox.GiveUp(c.id, attempts, res.reason or res.status))
                metrics.OUTBOX_FAILED.labels(c.channel).inc()
                log.error("outbox.gave_up", extra={**fields, "reason": res.reason or res.status})
        await self.settle(sent, retries, failed)

    async def _renew(self, ids: list[int]) -> None:
        """Every third of the lease, while the round runs: keep its rows leased."""
        rt = self.rt
        while True:
            await asyncio.sleep(rt.lease_seconds / 3)
            try:
                await rt.store.run(outbox.renew, ids, rt.clock() + rt.lease_seconds)
            except Exception as exc:  # the lease may run out: in_flight keeps a reply from going twice
                log.warning("outbox.renew_failed", extra={"count": len(ids), "code": type(exc).__name__})

    async def _release(self, ids: list[int]) -> None:
        try:
            async with asyncio.timeout(1.0):
                await self.rt.store.run(outbox.renew, ids, 0.0)
            log.info("outbox.released", extra={"count": len(ids)})
        except Exception as exc:  # their lease runs out soon anyway
            log.warning("outbox.release_failed", extra={"count": len(ids), "code": type(exc).__name__})

    async def _deliver_one(self, c: outbox.Claimed) -> tuple[DeliveryResult, float]:
        started = time.perf_counter()
        try:
            res = await self.rt.channels[c.channel].deliver(c.user_id, c.outbound)
            if not isinstance(res, DeliveryResult):
                res = DeliveryResult("retry", reason="bad_result")
        except Exception as exc:  # an adapter bug or a network error: retry later, log no content
            # Perhaps after the request went out: counted as possibly arrived (never sent twice).
            res = DeliveryResult("retry", reason=f"exception:{type(exc).__name__}", may_have_arrived=True)
        return res, round((time.perf_counter() - started) * 1000, 2)

    async def settle(self, sent: list[int], retries: list[outbox.Retry], failed: list[outbox.GiveUp]) -> bool:
        """Record a round's outcomes, retried (0.05 s, doubling up to 2 s) while the database
        cannot be reached, until it works or the process stops (cancelled at the end of
        ``DRAIN_SECONDS``). False if it never worked."""
        rt = self.rt
        pause, bugs = SETTLE_FIRST_PAUSE, 0
        rows = len(sent) + len(retries) + len(failed)
        while True:
            try:
                await rt.store.run(outbox.settle, rt.clock(), sent, retries, failed)
                return True
            except Exception as exc:
                metrics.OUTBOX_SETTLE_FAILURES.inc()
                bugs += not isinstance(exc, StoreUnavailable)
                log.error("outbox.settle_failed", extra={"count": rows, "code": type(exc).__name__,
                                                         "file": where(exc), "seconds": pause})
                if not (rt._running or self.draining) or bugs >= SETTLE_BUG_TRIES:
                    return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, SETTLE_MAX_PAUSE)
