"""The handoff between a person and a counsellor: queue, notices, relay both ways, hand back.

The runtime calls the hooks (``on_queued``, ``on_person_message``) while a conversation is in
handoff; the console calls ``take``, ``reply``, ``close``, ``dismiss_spam``, ``set_unavailable``;
``watch`` runs in the background: it tells people nobody answered after ``handoff_wait_minutes``,
closes (telling the person, with the 24-hour lines) what nobody took within
``handoff_queue_hours``, and closes live handoffs idle for ``handoff_idle_days``; the normal
retention then applies to them.

Everything sent to a person goes through the runtime's outbox (``send_to_person``), so it
reaches them on their own platform with the outbox's retries. Texts come from the locale files
(``console.person.*``); the 24-hour lines come from the flow's resources, never from here.
Logs carry handoff ids and codes, never what anyone wrote.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from bot.engine.model import Choice, Flow, Link, Reply
from bot.errors import BotError
from bot.observability import HANDOFF_WAIT
from bot.store import audit, handoffs, switches
from bot.store.models import BOT, COUNSELLOR, LIVE, QUEUED

from bot.live import LiveBus
from bot.turns.plan import BACK_TO_BOT, leaves_queue
from . import presence
from .hours import HoursFile, OfficeHours, format_opening

log = logging.getLogger(__name__)

OUTCOMES = ("resolved", "referred", "no_reply", "person_left", "other")
# Outcomes the console and the system give a closed handoff besides the counsellors' own.
SPAM, QUEUE_EXPIRED, IDLE_EXPIRED = "spam", "expired", "idle"
MAX_REPLY_CHARS = 2000        # the strictest platform (Discord) takes 2,000 characters
MAX_LINES = 5                 # 24-hour lines offered at once
WATCH_SECONDS = 20.0
EXPIRE_EVERY_SECONDS = 300.0  # how often the watch looks for handoffs to close for good


class PersonPort(Protocol):
    """What the handoff needs from the runtime (``bot.runtime.Runtime`` provides it). Both may
    raise a ``BotError`` (``ConversationGone``, ``NotReachable``) when the person is gone."""

    async def send_to_person(self, conversation_id: str, text_or_replies, kind: str = "counsellor") -> int: ...

    async def return_to_bot(self, conversation_id: str) -> str | None: ...


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None            # "hours" or "switch" when not available
    back_at: dt.datetime | None   # next opening, local time


class HandoffService:
    def __init__(self, store, person: PersonPort, flow: Callable[[], Flow], hours: "OfficeHours | HoursFile",
                 wait_minutes: int, bus: LiveBus | None = None, clock: Callable[[], float] = time.time,
                 queue_hours: int = 72, idle_days: int = 7, still_waiting_minutes: int = 4):
        self.store, self.person, self._flow, self._hours = store, person, flow, hours
        self.wait_seconds = wait_minutes * 60
        self.wait_minutes = wait_minutes
        self.queue_seconds = queue_hours * 3600.0
        self.idle_seconds = idle_days * 86_400.0
        self.still_waiting_seconds = still_waiting_minutes * 60.0
        self.bus = bus or LiveBus()
        self.clock = clock

    @property
    def flow(self) -> Flow:
        return self._flow()

    @property
    def hours(self) -> OfficeHours:
        return self._hours.current if isinstance(self._hours, HoursFile) else self._hours

    # ---- availability ---------------------------------------------------------------------------

    async def availability(self, now: float | None = None) -> Availability:
        now = self.clock() if now is None else now
        moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        async with self.store.transaction() as s:
            switched_off = await switches.switch_is_on(s)
        if switched_off:
            # While the switch is on, "back" is the next shift after this one.
            return Availability(False, "switch", _after_current_shift(self.hours, moment))
        if not self.hours.is_open(moment):
            return Availability(False, "hours", self.hours.next_opening(moment))
        return Availability(True, None, None)

    async def set_unavailable(self, counsellor_id: int, on: bool) -> None:
        now = self.clock()
        async with self.store.transaction() as s:
            await switches.set_switch(s, on, now)
            await audit.append(s, audit.SWITCHED, now, counsellor_id)
        log.info("handoff.switch", extra={"nobody_available": on, "counsellor": counsellor_id})
        await self._changed(None)

    # ---- hooks from the runtime -----------------------------------------------------------------

    async def on_queued(self, handoff_id: str) -> None:
        """A conversation joined the queue. Out of hours or switched off: tell the person now."""
        avail = await self.availability()
        if not avail.available:
            await self._tell_unavailable(handoff_id, "unavailable" if avail.reason == "switch" else "out_of_hours",
                                         avail.back_at, audit.TOLD_UNAVAILABLE)
        log.info("handoff.queued", extra={"handoff": handoff_id, "available": avail.available})
        await self._changed(handoff_id)

    async def on_person_message(self, handoff_id: str, text: str, is_crisis: bool = False,
                                choice: str | None = None) -> None:
        """The person wrote during a handoff (the runtime already put it in the transcript and
        raised the priority of a crisis): alert the console, or keep it for the morning."""
        now = self.clock()
        flow = self.flow
        async with self.store.transaction() as s:
            h = await handoffs.get_handoff(s, handoff_id)
            if h is None or h.status not in (QUEUED, LIVE):
                return
            conversation_id, locale, status = h.conversation_id, h.locale, h.status
            closed = leaves_queue(flow, status, None, locale, text, choice)  # the runtime's rule, for other callers
            if closed:
                closed = await handoffs.close(s, handoff_id, "person_left", now)
        if closed:
            log.info("handoff.person_left", extra={"handoff": handoff_id})
            await self._return(conversation_id)
            await self._changed(handoff_id)
            return
        async with self.store.transaction() as s:
            await handoffs.get_handoff(s, handoff_id, lock=True)  # one acknowledgement, even across processes
            told = status == QUEUED and (await audit.has_entry(s, handoff_id, audit.TOLD_UNAVAILABLE)
                                         or await audit.has_entry(s, handoff_id, audit.TOLD_NOBODY_ANSWERED))
            await handoffs.note_person_message(s, handoff_id, now, left_message=told)
            if is_crisis:
                await handoffs.mark_crisis(s, handoff_id)  # the runtime did it already; here for other callers
            ack = told and not await audit.has_entry(s, handoff_id, audit.ACKED_MESSAGE)
            if ack:
                await audit.append(s, audit.ACKED_MESSAGE, now, None, handoff_id)
        if ack:
            key = "console.person.message_left"
            back = Choice(BACK_TO_BOT, flow.text(locale, "console.person.back_to_bot"))
            await self._send(handoff_id, conversation_id, (Reply(flow.text(locale, key), key, (back,)),), kind="notice")
        if is_crisis and status == QUEUED and not told:
            # Nobody has the conversation yet: the 24-hour lines now, not after the wait.
            await self._send(handoff_id, conversation_id, self._lines_replies(flow, locale, now), kind="notice")
        await self._changed(handoff_id, crisis=is_crisis)

    async def on_closed(self, handoff_id: str, reason: str) -> None:
        """Closed outside the console (forgotten, or returned to the bot): refresh the screens."""
        await self._changed(handoff_id)

    async def on_person_left(self, channel: str, user_id: str, reason: str) -> str | None:
        """The person's page says they may have left, or are back (``bot.handoff.presence``)."""
        return await presence.mark(self, channel, user_id, reason)

    def refused_replies(self, flow: Flow, locale: str, now: float) -> tuple[Reply, ...]:
        """No handoff may open for this person (too many from their address): say so honestly,
        with the 24-hour lines."""
        key = "console.person.handoff_refused"
        return (Reply(flow.text(locale, key), key), *self._lines_replies(flow, locale, now))

    # ---- the console ----------------------------------------------------------------------------

    async def take(self, handoff_id: str, counsellor_id: int) -> str:
        """``ok``, ``taken`` (someone else won), ``closed`` or ``missing``."""
        now = self.clock()
        async with self.store.transaction() as s:
            won = await handoffs.claim(s, handoff_id, counsellor_id, now)
            h = await handoffs.get_handoff(s, handoff_id)
            if h is None:
                return "missing"
            if not won:
                if h.status == LIVE and h.counsellor_id == counsellor_id:
                    return "ok"
                return "taken" if h.status == LIVE else "closed"
            await audit.append(s, audit.TOOK, now, counsellor_id, handoff_id)
            conversation_id, locale = h.conversation_id, h.locale
            waited = max(0.0, now - (handoffs.wait_started(h) or now))
        HANDOFF_WAIT.observe(waited)
        log.info("handoff.taken", extra={"handoff": handoff_id, "counsellor": counsellor_id, "seconds": round(waited)})
        key = "console.person.joined"
        await self._send(handoff_id, conversation_id, (Reply(self.flow.text(locale, key), key),), kind="notice")
        await self._changed(handoff_id)
        return "ok"

    async def reply(self, handoff_id: str, counsellor_id: int, text: str) -> bool:
        text = text.strip()[:MAX_REPLY_CHARS]
        if not text:
            return False
        now = self.clock()
        async with self.store.transaction() as s:
            h = await handoffs.get_handoff(s, handoff_id)
            if h is None or h.status != LIVE or h.counsellor_id != counsellor_id:
                return False
            await handoffs.add_line(s, self.store.crypto, handoff_id, COUNSELLOR, text, now)
            await audit.append(s, audit.ANSWERED, now, counsellor_id, handoff_id)
            conversation_id = h.conversation_id
        if not await self._push(conversation_id, (Reply(text, "counsellor"),), "counsellor"):
            return False
        log.info("handoff.answered", extra={"handoff": handoff_id, "counsellor": counsellor_id})
        await self._changed(handoff_id)
        return True

    async def close(self, handoff_id: str, counsellor_id: int, outcome: str) -> bool:
        if outcome not in OUTCOMES:
            outcome = "other"
        now = self.clock()
        async with self.store.transaction() as s:
            if not await handoffs.close(s, handoff_id, outcome, now, counsellor_id):
                return False
            h = await handoffs.get_handoff(s, handoff_id)
            await audit.append(s, audit.CLOSED_BY, now, counsellor_id, handoff_id)
            conversation_id, locale = h.conversation_id, h.locale
        await self._send(handoff_id, conversation_id, self._goodbye(locale), kind="notice", keep=False)
        await self._return(conversation_id)
        log.info("handoff.closed", extra={"handoff": handoff_id, "counsellor": counsellor_id, "outcome": outcome})
        await self._changed(handoff_id)
        return True

    async def dismiss_spam(self, handoff_ids: list[str], counsellor_id: int, login_id: int | None = None) -> list[str]:
        """Close queued handoffs as spam (a flood of fake requests), each audited; the bot goes
        on for whoever was there. Returns those dismissed (not those taken or closed meanwhile)."""
        dismissed = []
        for hid in handoff_ids:
            now = self.clock()
            async with self.store.transaction() as s:
                if not await handoffs.close(s, hid, SPAM, now, status=QUEUED):
                    continue
                h = await handoffs.get_handoff(s, hid)
                await audit.append(s, audit.DISMISSED_SPAM, now, counsellor_id, hid, login_id=login_id)
                conversation_id = h.conversation_id
            await self._return(conversation_id)
            dismissed.append(hid)
        if dismissed:
            log.info("handoff.dismissed_spam", extra={"count": len(dismissed), "counsellor": counsellor_id})
            await self._changed(None)
        return dismissed

    # ---- nobody answered ------------------------------------------------------------------------

    async def check_waiting(self) -> int:
        """Tell everyone queued longer than the wait that nobody answered. Returns how many."""
        now = self.clock()
        async with self.store.transaction() as s:
            overdue = [h.id for h in await handoffs.queued_longer_than(s, now - self.wait_seconds)]
        if not overdue:
            return 0
        avail = await self.availability(now)
        for hid in overdue:
            await self._tell_unavailable(hid, "nobody_answered", avail.back_at, audit.TOLD_NOBODY_ANSWERED)
            log.info("handoff.nobody_answered", extra={"handoff": hid})
            await self._changed(hid)
        return len(overdue)

    async def check_still_waiting(self) -> int:
        """Every ``still_waiting_seconds`` of a wait, tell the queued person, honestly, that they
        are still waiting and for how long; only until the "nobody answered" notice (after that
        they have the lines and a choice, and more nudges would be noise). Returns how many."""
        now = self.clock()
        sent = 0
        async with self.store.transaction() as s:
            waiting = await handoffs.queued_longer_than(s, now - self.still_waiting_seconds)
        for h in waiting:
            started = handoffs.wait_started(h)   # after a transfer back to the queue: the transfer
            due = int((now - started) // self.still_waiting_seconds)
            async with self.store.transaction() as s:
                fresh = await handoffs.get_handoff(s, h.id, lock=True)
                if fresh is None or fresh.status != QUEUED or fresh.left_message:
                    continue
                told = sum(1 for e in await audit.trail(s, h.id)
                           if e.action == audit.TOLD_STILL_WAITING and e.at >= started)
                if told >= due:
                    continue
                await audit.append(s, audit.TOLD_STILL_WAITING, now, None, h.id, detail=str(due))
            key = "console.person.still_waiting"
            text = self.flow.text(h.locale, key, {"minutes": str(int((now - started) // 60))})
            # kind "waiting": the web chat keeps the person's buttons under it
            await self._send(h.id, h.conversation_id, (Reply(text, key),), kind="waiting")
            sent += 1
        return sent

    async def expire(self) -> int:
        """Close what nobody will answer any more: handoffs queued longer than ``queue_seconds``
        (the person is told, with the 24-hour lines) and live ones where nothing happened for
        ``idle_seconds`` (the person is told the counsellor has left). The bot goes on for them,
        the kept platform id is erased, and the normal retention applies. Returns how many."""
        now = self.clock()
        async with self.store.transaction() as s:
            queued = await handoffs.queued_since_before(s, now - self.queue_seconds)
            idle = await handoffs.live_idle_since(s, now - self.idle_seconds)
        flow = self.flow
        closed = 0
        for hid, outcome in [(h, QUEUE_EXPIRED) for h in queued] + [(h, IDLE_EXPIRED) for h in idle]:
            async with self.store.transaction() as s:
                h = await handoffs.get_handoff(s, hid, lock=True)
                # Taken, answered or closed since the list was read: not this time.
                still = h is not None and (h.status == QUEUED if outcome == QUEUE_EXPIRED
                                           else hid in await handoffs.live_idle_since(s, now - self.idle_seconds, hid))
                if not still or not await handoffs.close(s, hid, outcome, now, status=h.status):
                    continue
                await audit.append(s, audit.EXPIRED, now, None, hid, detail=outcome)
                conversation_id, locale = h.conversation_id, h.locale
            if outcome == QUEUE_EXPIRED:
                key = "console.person.expired"
                replies = (Reply(flow.text(locale, key), key), *self._lines_replies(flow, locale, now))
            else:
                replies = self._goodbye(locale)
            await self._push(conversation_id, replies, "notice")
            await self._return(conversation_id)
            log.info("handoff.expired", extra={"handoff": hid, "outcome": outcome})
            await self._changed(hid)
            closed += 1
        return closed

    async def watch(self, interval: float = WATCH_SECONDS) -> None:
        """Runs until cancelled (``bot.app`` starts it in the web process)."""
        await self.store.wait_for_schema()  # started with the server, before the migrations have run
        expired_at = 0.0
        while True:
            try:
                await self.check_waiting()
                await self.check_still_waiting()
                if time.monotonic() - expired_at >= EXPIRE_EVERY_SECONDS:
                    expired_at = time.monotonic()
                    await self.expire()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not end the watch
                log.error("handoff.watch_failed", extra={"error": type(exc).__name__})
            await asyncio.sleep(interval)

    # ---- helpers --------------------------------------------------------------------------------

    async def _tell_unavailable(self, handoff_id: str, what: str, back_at: dt.datetime | None, marker: str) -> None:
        now = self.clock()
        async with self.store.transaction() as s:
            h = await handoffs.get_handoff(s, handoff_id, lock=True)
            if h is None or h.status != QUEUED:
                return
            if await audit.has_entry(s, handoff_id, audit.TOLD_UNAVAILABLE) or await audit.has_entry(s, handoff_id, audit.TOLD_NOBODY_ANSWERED):
                return
            await audit.append(s, marker, now, None, handoff_id)
            conversation_id, locale = h.conversation_id, h.locale
        await self._send(handoff_id, conversation_id, self.unavailable_replies(locale, what, back_at, now), kind="notice")

    def unavailable_replies(self, locale: str, what: str, back_at: dt.datetime | None, now: float) -> tuple[Reply, ...]:
        """Honest: why nobody answers, when counsellors are back, the 24-hour lines, and what now."""
        flow = self.flow
        moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        when = format_opening(back_at, locale, moment)
        out: list[Reply] = []
        if what == "nobody_answered":
            out.append(Reply(flow.text(locale, "console.person.nobody_answered"), "console.person.nobody_answered"))
            if when:
                out.append(Reply(flow.text(locale, "console.person.back_at", {"when": when}), "console.person.back_at"))
        else:
            key = f"console.person.{what}" if when else f"console.person.{what}_unknown"
            out.append(Reply(flow.text(locale, key, {"when": when}), key))
        out.extend(self._lines_replies(flow, locale, now))
        key = "console.person.leave_message"
        back = Choice(BACK_TO_BOT, flow.text(locale, "console.person.back_to_bot"))
        out.append(Reply(flow.text(locale, key), key, (back,)))
        return tuple(out)

    def _lines_replies(self, flow: Flow, locale: str, now: float) -> tuple[Reply, ...]:
        key = "console.person.lines_now"
        return (Reply(flow.text(locale, key), key, (), lines_now(flow, locale, now)),)

    def _goodbye(self, locale: str) -> tuple[Reply, ...]:
        """What the person hears when a counsellor's conversation ends. Only the goodbye: the
        flow's handoff_return state, entered next, is the one message that says the bot is back
        (issue 14: one message, not three)."""
        return (Reply(self.flow.text(locale, "console.person.left"), "console.person.left"),)

    async def _send(self, handoff_id: str, conversation_id: str, replies: tuple[Reply, ...], kind: str,
                    keep: bool = True) -> None:
        """Send a notice and, while the handoff is open, keep it in the transcript for the counsellor."""
        if keep:
            now = self.clock()
            async with self.store.transaction() as s:
                for r in replies:
                    if r.text:
                        await handoffs.add_line(s, self.store.crypto, handoff_id, BOT, r.text, now)
        await self._push(conversation_id, replies, kind)

    async def _push(self, conversation_id: str, replies: tuple[Reply, ...], kind: str) -> bool:
        try:
            await self.person.send_to_person(conversation_id, replies, kind)
            return True
        except BotError as exc:  # forgotten meanwhile, or no platform id kept: nothing to send to
            log.warning("handoff.unreachable", extra={"conversation": conversation_id, "code": type(exc).__name__})
            return False

    async def _return(self, conversation_id: str) -> None:
        try:
            await self.person.return_to_bot(conversation_id)
        except BotError as exc:
            log.warning("handoff.unreachable", extra={"conversation": conversation_id, "code": type(exc).__name__})

    async def _changed(self, handoff_id: str | None, crisis: bool = False) -> None:
        message: dict[str, Any] = {"what": "handoff" if handoff_id else "queue"}
        if handoff_id:
            message["id"] = handoff_id
        if crisis:
            message["crisis"] = True
        await self.bus.publish("console", message)


def _after_current_shift(hours: OfficeHours, moment: dt.datetime) -> dt.datetime | None:
    """The next opening after the shift going on now (or the next one if closed now)."""
    probe = moment
    for _ in range(2 * 24 * 60 // 15):  # step out of the current shift, 15 minutes at a time, 2 days at most
        if not hours.is_open(probe):
            return hours.next_opening(probe)
        probe += dt.timedelta(minutes=15)
    return None


def lines_now(flow: Flow, locale: str, now: float) -> tuple[Link, ...]:
    """Lines that answer around the clock, then any other line open at this moment."""
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    always, open_now = [], []
    for rid, res in flow.resources.items():
        if not res.href:
            continue
        if res.open is not None and res.open.always:
            always.append(rid)
        elif res.is_open(moment):
            open_now.append(rid)
    out = []
    for rid in (always + open_now)[:MAX_LINES]:
        res = flow.resources[rid]
        name = res.field("name", locale, flow.default_locale) or rid
        out.append(Link(f"{name} {res.tel}" if res.tel else name, res.href, rid, res.is_open(moment),
                        res.field("hours", locale, flow.default_locale) or ""))
    return tuple(out)


def from_settings(settings, runtime, bus: LiveBus) -> HandoffService:
    """The handoff service of a process: on ``runtime``'s store and flows, its office hours read
    from ``BOT_OFFICE_HOURS_FILE`` (and again when the file changes)."""
    hours = HoursFile(settings.office_hours_file, settings.timezone)
    return HandoffService(runtime.store, runtime, lambda: runtime.bundles.flow, hours, settings.handoff_wait_minutes,
                          bus, clock=runtime.clock, queue_hours=settings.handoff_queue_hours,
                          idle_days=settings.handoff_idle_days,
                          still_waiting_minutes=settings.handoff_still_waiting_minutes)
