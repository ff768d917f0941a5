"""``POST /line/webhook``: check, read and store LINE's events, answer 200 at once.

In this order, and nothing is stored or processed before the signature is good:

1. a body over ``MAX_BODY_BYTES`` gets 413 (LINE's own deliveries are a few kilobytes);
2. ``X-Line-Signature`` must be the base64 HMAC-SHA256 of the raw body under the channel
   secret: missing or wrong gets 400;
3. a body that is not a JSON object with an ``events`` list gets 400, and so does one nested
   too deeply for the parser; ``events: []`` (LINE's URL check) gets 200;
4. the events are read (below) and stored in the inbox in one commit; then 200. Redelivered
   events are no-ops because the inbox is unique on ``webhookEventId``.

What each event becomes (``InboundEvent.kind``): text → ``text``; postback → ``tap`` (data
``<state>:<choice_id>``); follow → ``start`` (the welcome); unfollow → ``forget``; image, video,
audio, file → ``media`` (never downloaded: the content API is never called); sticker →
``sticker``; location → ``location``. Events in ``standby`` mode (another module owns the chat)
are ignored. Nothing from a group or a room is processed: on ``join`` the bot says it talks one
to one only (``shell.line.group_only``) and leaves; any other group event makes it leave again.
Other event types are ignored and logged by type only. LINE sends no language, so the locale
hint stays empty and the flow's default applies. An event older than the inbox keeps event ids
for (``BOT_EVENT_ID_RETENTION_DAYS``) is ignored: its id may have been purged already, so a
replay of it, still correctly signed, would otherwise run as new.

When the inbox cannot store the events (``StoreUnavailable``, or no answer within
``ACCEPT_BUDGET``), each person in the delivery is sent the safety message at once (by reply
token; by push with a retry key derived from the event id when the token is too old), and the
webhook answers **503**. LINE redelivers a failed delivery when "webhook redelivery" is on in
the LINE Developers console, which this bot's operators should turn on: the events then come
back once the database is up and are processed normally (their answers go by push, since
their reply tokens were used or have expired); a repeated safety message is avoided for
events already answered by this process. With redelivery off, a 503 only shows in LINE's
error statistics, which is where an operator should notice the outage; a 200 would have hidden
it and gained nothing.

Logs carry event counts, types and timings only: never text, user ids, reply tokens or bodies.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from aiohttp import web

from bot.engine.model import Reply
from bot.envelope import InboundEvent
from bot.observability import WEBHOOKS

from .delivery import CHANNEL, LineChannel

log = logging.getLogger(__name__)

PATH = "/line/webhook"
SIGNATURE_HEADER = "X-Line-Signature"
MAX_BODY_BYTES = 1 << 20            # 1 MiB
MAX_TEXT_CHARS = 10_000             # kept of one message (the engine reads the first 2,000)
MAX_CHOICE_CHARS = 300              # postback data is at most 300 characters
ACCEPT_BUDGET = 1.0                 # seconds for the inbox commit (LINE gives up after 2; the
                                    # safety replies get SAFETY_BUDGET, and a busy loop needs room)
SAFETY_BUDGET = 0.4                 # seconds for the safety replies when the inbox is down
SAFETY_MEMORY = 10_000              # event ids already answered with the safety message
GROUP_MEMORY = 1_000                # groups and rooms recently left
GROUP_ONLY_KEY = "shell.line.group_only"
DEFAULT_MAX_EVENT_AGE = 7 * 86_400.0  # BOT_EVENT_ID_RETENTION_DAYS' default

MESSAGE_KINDS = {"text": "text", "image": "media", "video": "media", "audio": "media", "file": "media",
                 "sticker": "sticker", "location": "location"}
EXPECTS_REPLY = frozenset({"text", "tap", "start", "media", "sticker", "location"})
# Control characters other than tab and line breaks, and lone surrogates (valid JSON escapes,
# but no database or UTF-8 encoder takes them).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_TYPE_NAME = re.compile(r"[^A-Za-z_]")


_OK = WEBHOOKS.labels(CHANNEL, "200")  # looked up once: every delivery counts here


class Inbox(Protocol):
    """What the webhook needs of the runtime."""

    async def accept(self, events: Sequence[InboundEvent], timeout: float | None = None) -> int: ...

    def safety_text(self, locale: str | None = None) -> str: ...


@dataclass(frozen=True)
class GroupVisit:
    """The bot is in a group or room: say so once (on join) and leave."""

    kind: str                  # "group" or "room"
    chat_id: str
    reply_token: str | None    # only on join


def is_signed(secret: bytes, body: bytes, signature: str) -> bool:
    """``signature`` is the base64 HMAC-SHA256 of the raw ``body`` under the channel secret."""
    digest = hmac.new(secret, body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.encode("utf-8", "replace"))


def clean_text(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    return _UNPRINTABLE.sub("", text[:MAX_TEXT_CHARS])


def _type_name(value: Any) -> str:
    return _TYPE_NAME.sub("", str(value))[:40] or "none"


def read_event(event: Any, now: float, max_age: float | None = None) -> InboundEvent | GroupVisit | None:
    """One webhook event as the bot sees it; None for what it ignores (logged by type).
    ``max_age``: seconds after which an event (by its ``timestamp``) is too old to take."""
    if not isinstance(event, dict):
        log.info("line.event_ignored", extra={"reason": "not_an_object"})
        return None
    etype = event.get("type")
    ts = event.get("timestamp")
    if max_age is not None and isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts / 1000.0 < now - max_age:
        log.info("line.event_ignored", extra={"type": _type_name(etype), "reason": "too_old"})
        return None
    if event.get("mode") == "standby":
        log.info("line.event_ignored", extra={"type": _type_name(etype), "reason": "standby"})
        return None
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    stype = source.get("type")
    if stype in ("group", "room"):
        chat_id = source.get("groupId" if stype == "group" else "roomId")
        if not isinstance(chat_id, str) or not chat_id or etype in ("leave", "memberLeft", "unsend"):
            return None
        return GroupVisit(stype, chat_id, event.get("replyToken") if etype == "join" else None)
    user_id = source.get("userId")
    event_id = event.get("webhookEventId")
    if stype != "user" or not isinstance(user_id, str) or not user_id or not isinstance(event_id, str) or not event_id:
        log.info("line.event_ignored", extra={"type": _type_name(etype), "reason": "no_user_or_id"})
        return None

    text, choice, from_state = "", "", None
    if etype == "message":
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        kind = MESSAGE_KINDS.get(message.get("type"))
        if kind is None:
            log.info("line.event_ignored", extra={"type": "message", "kind": _type_name(message.get("type"))})
            return None
        if kind == "text":
            text = clean_text(message.get("text"))
    elif etype == "postback":
        data = (event.get("postback") or {}).get("data") if isinstance(event.get("postback"), dict) else None
        if not isinstance(data, str) or not data:
            log.info("line.event_ignored", extra={"type": "postback", "reason": "no_data"})
            return None
        state, sep, rest = clean_text(data[:MAX_CHOICE_CHARS]).partition(":")
        kind, choice, from_state = "tap", (rest if sep else state), (state or None) if sep else None
    elif etype == "follow":
        kind = "start"
    elif etype == "unfollow":
        kind = "forget"
    else:
        log.info("line.event_ignored", extra={"type": _type_name(etype)})
        return None

    # The reply token lives about a minute from when LINE sent the event; a redelivered event
    # carries its original time, so its token is treated as old.
    received_at = min(now, ts / 1000.0) if isinstance(ts, (int, float)) and ts > 0 else now
    token = event.get("replyToken")
    return InboundEvent(CHANNEL, event_id, user_id, kind, text=text, choice=choice, from_state=from_state,
                        locale_hint=None, reply_token=token if isinstance(token, str) and token else None,
                        received_at=received_at)


class LineWebhook:
    """The aiohttp handler for ``POST /line/webhook``."""

    def __init__(self, channel_secret: str, channel: LineChannel, inbox: Inbox,
                 max_event_age: float = DEFAULT_MAX_EVENT_AGE):
        self._secret = channel_secret.encode("utf-8")
        self.max_event_age = max_event_age
        self.channel = channel
        self.inbox = inbox
        self._safety_sent: OrderedDict[str, None] = OrderedDict()
        self._groups_left: OrderedDict[str, None] = OrderedDict()

    async def handle(self, request: web.Request) -> web.Response:
        """LINE's delivery: 200 once stored, 400/413 when refused, 503 when the inbox is down."""
        started = time.perf_counter()
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _refuse(413, "too_large", request.content_length)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return _refuse(400, "no_signature")
        body = await _read_limited(request)
        if body is None:
            return _refuse(413, "too_large")
        if not is_signed(self._secret, body, signature):
            return _refuse(400, "bad_signature")
        try:
            payload = json.loads(body)
        except ValueError:
            return _refuse(400, "not_json")
        except RecursionError:  # nested deeper than the parser goes: no delivery of LINE's looks so
            return _refuse(400, "too_deep")
        events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            return _refuse(400, "no_events")

        now = time.time()
        inbound: list[InboundEvent] = []
        for event in events:
            item = read_event(event, now, self.max_event_age)
            if isinstance(item, InboundEvent):
                inbound.append(item)
            elif isinstance(item, GroupVisit):
                self._leave(item)
        if inbound:
            try:
                # Deliveries arriving together share a commit; one still running when LINE's
                # deadline nears is left to finish.
                await self.inbox.accept(inbound, timeout=ACCEPT_BUDGET)
            except Exception as exc:  # StoreUnavailable, a timeout, or a bug: the person still hears from us
                return await self._answer_without_inbox(inbound, exc)
            for ev in inbound:
                if ev.kind in EXPECTS_REPLY:
                    self.channel.expect_reply(ev.user_id)
        _OK.inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("line.webhook_ok", extra={"events": len(events), "count": len(inbound),
                                                "ms": round((time.perf_counter() - started) * 1000, 2)})
        return web.Response(text="OK")

    # ---- groups ------------------------------------------------------------------------------

    def _leave(self, visit: GroupVisit) -> None:
        if visit.reply_token is None and visit.chat_id in self._groups_left:
            return
        _remember(self._groups_left, visit.chat_id, GROUP_MEMORY)
        log.info("line.group_visit", extra={"chat": visit.kind, "join": visit.reply_token is not None})
        self.channel.spawn(self._say_and_leave(visit))

    async def _say_and_leave(self, visit: GroupVisit) -> None:
        if visit.reply_token:
            text = self.channel.text(None, GROUP_ONLY_KEY)
            if text:
                await self.channel.send_now(None, visit.reply_token, time.time(), (Reply(text, GROUP_ONLY_KEY),),
                                            retry_key="")
        await self.channel.leave(visit.kind, visit.chat_id)

    # ---- the inbox is down ---------------------------------------------------------------------

    async def _answer_without_inbox(self, inbound: list[InboundEvent], exc: Exception) -> web.Response:
        code = type(exc).__name__
        log.error("line.inbox_unavailable", extra={"error": code, "events": len(inbound)})
        try:
            text = self.inbox.safety_text(None)
        except Exception:
            text = ""
        sends = []
        people: set[str] = set()
        for ev in inbound:
            if not text or ev.kind == "forget" or ev.user_id in people or ev.event_id in self._safety_sent:
                continue
            people.add(ev.user_id)
            _remember(self._safety_sent, ev.event_id, SAFETY_MEMORY)
            sends.append(self.channel.spawn(self.channel.send_now(
                ev.user_id, ev.reply_token, ev.received_at, (Reply(text, "shell.safety_message"),),
                retry_key=f"safety/{ev.event_id}")))
        if sends:
            done, _ = await asyncio.wait(sends, timeout=SAFETY_BUDGET)
            sent = sum(1 for t in done if not t.cancelled() and t.exception() is None and t.result().status == "sent")
            log.warning("line.safety_sent", extra={"people": len(sends), "sent": sent})
        WEBHOOKS.labels(CHANNEL, "503").inc()
        return web.Response(status=503, text="inbox unavailable", headers={"Retry-After": "30"})


def _refuse(status: int, reason: str, size: int | None = None) -> web.Response:
    WEBHOOKS.labels(CHANNEL, str(status)).inc()
    log.warning("line.webhook_rejected", extra={"status": status, "reason": reason, "bytes": size})
    return web.Response(status=status, text=reason.replace("_", " "))


def _remember(memory: OrderedDict, key: str, limit: int) -> None:
    memory[key] = None
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)


async def _read_limited(request: web.Request) -> bytes | None:
    """The raw body, or None when it grows past ``MAX_BODY_BYTES`` (chunked bodies too)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
