"""The web chat at ``/chat``: the most anonymous channel, and the one staff use to try flows.

No account, no cookie, no tracking. The page gets a chat id from ``/chat/api/start`` and keeps
it in ``sessionStorage`` (gone when the tab closes); every call sends it in the JSON body, never
in a URL, so it cannot end up in an access log or a referrer. The id is a random part and an
HMAC of it under the secret key (``ChatIds``): an id the server did not issue is refused (400),
so a flood of made-up chats has to go through ``start``, which is limited per address.

Limits per address (``BOT_WEB_CHAT_*``; in memory, per web process, forgotten when idle):
chats started per hour, messages per minute, open event streams (and two per chat: a newer one
ends the oldest). Handoffs per address (open at once, opened per hour) are counted in the
database by the runtime, from a keyed hash of the address the web chat puts on each event
(``InboundEvent.origin``). Client event ids are stored as an HMAC of chat and event id, so a
repeat is recognised within its chat only and nothing the client chose reaches the database.

::

    POST /chat/api/start   {"lang": "ja"}                          -> {"id": "<chat id>"}
    POST /chat/api/send    {"id", "event_id", "text"} or {"id", "event_id", "choice", "from_state"}
    POST /chat/api/stream  {"id", "after": <seq>}   -> text/event-stream, one "data: {...}" per delivery
    POST /chat/api/left    {"id", "reason": "quick_exit" | "page_hide" | "back"}

Inbound messages go through the runtime's inbox like any platform's. ``WebChannel.deliver``
(called by the outbox sender, in whichever process) publishes the outbound on the live bus,
sealed to its mailbox (a token moved to another mailbox does not open); the web process holding
the page's stream passes it on. A short mailbox per chat
(``MAILBOX_SECONDS``) lets a reloaded page catch up; after that, what was never read is dropped.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot import http
from bot.envelope import DeliveryResult, InboundEvent, Outbound
from bot.http import RateLimit, Signer, address_key, client_address, request_locale
from bot.store import StoreUnavailable
from bot.store.crypto import where

log = logging.getLogger(__name__)

NAME = "web"
TOPIC = "web"
PAGE = "/chat"
MAX_TEXT = 2000                 # the same as the strictest platform; longer is cut
MAILBOX_SECONDS = 30 * 60       # a page reloaded within this time gets what it missed
MAILBOX_SIZE = 100
STREAM_PING_SECONDS = 15.0
SENDS_PER_CHAT = 60             # messages per chat per minute (per address: BOT_WEB_CHAT_SENDS_PER_MINUTE)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
EVENT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LEFT_REASONS = ("quick_exit", "page_hide", "back")  # what /chat/api/left accepts
SAFE_LINK = re.compile(r"^(tel:[0-9+*#%]+|https://[^\s\"'<>]+)$")
# Where the quick-exit button goes: a page that says nothing about this service.
NEUTRAL_URL = "https://www.google.com/search?q=%E5%A4%A9%E6%B0%97"

def outbound_for_page(outbound: Outbound) -> dict[str, Any]:
    """What the page needs of one delivery; links only if tel: or https:."""
    return {
        "kind": outbound.kind,
        "state": outbound.meta.get("state"),
        "replies": [
            {"text": r.text,
             "choices": [[c.id, c.label] for c in r.choices],
             "links": [[l.label, l.url, l.open_now, l.hours] for l in r.links if SAFE_LINK.match(l.url)]}
            for r in outbound.replies
        ],
    }


@dataclass
class Mailbox:
    items: deque = field(default_factory=lambda: deque(maxlen=MAILBOX_SIZE))
    seq: int = 0
    touched: float = field(default_factory=time.monotonic)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: dict[str, Any]) -> None:
        self.seq += 1
        self.items.append((self.seq, message))
        self.touched = time.monotonic()
        self.wake.set()

    def after(self, seq: int) -> list[tuple[int, dict[str, Any]]]:
        return [(n, m) for n, m in self.items if n > seq]


class ChatIds:
    """Chat ids the server can recognise as its own: ``RANDOM`` random characters, then ``MAC``
    characters of an HMAC of them under a key derived from the secret key."""

    RANDOM, MAC = 24, 22  # 18 random bytes; 128 bits of the HMAC

    def __init__(self, secrets_: bytes | list[bytes]):
        self._signer = Signer(secrets_, "web-chat-id")

    def new(self) -> str:
        random_part = secrets.token_urlsafe(18)
        return random_part + self._signer.mac("chat", random_part)[:self.MAC]

    def is_valid(self, chat_id: object) -> bool:
        if not isinstance(chat_id, str) or len(chat_id) != self.RANDOM + self.MAC or not ID_PATTERN.match(chat_id):
            return False
        # any key of the ring: a chat begun before a rotation goes on after it
        return self._signer.verify(chat_id[self.RANDOM:], "chat", chat_id[:self.RANDOM], length=self.MAC)

    def event_id(self, chat_id: str, client_event_id: str) -> str:
        """What the inbox keeps instead of the client's event id: unique per chat, chosen by no one."""
        return "w" + self._signer.mac("event", chat_id, client_event_id)[:42]


@dataclass
class _Stream:
    """One open ``/chat/api/stream`` response; ``ended`` when a newer one of its chat replaced it."""
    ended: bool = False


class WebChannel:
    """The runtime's channel for the web chat; ``deliver`` publishes on the live bus."""

    name = NAME

    def __init__(self, bus, crypto):
        self.bus, self.crypto = bus, crypto

    def mailbox_key(self, chat_id: str) -> str:
        """What the bus carries instead of the chat id (keyed, and unlike the conversation's pseudonym)."""
        return self.crypto.pseudonym("web-chat-mailbox", chat_id)[:32]

    async def deliver(self, user_id: str, outbound: Outbound) -> DeliveryResult:
        key = self.mailbox_key(user_id)
        token = self.crypto.encrypt_to_text(outbound.to_json(), mailbox_aad(key))
        await self.bus.publish(TOPIC, {"k": key, "d": token})
        return DeliveryResult("sent")

    def open(self, message: dict[str, Any]) -> tuple[str, Outbound]:
        """A message from the bus: its mailbox key and the outbound, which must have been sealed
        to that mailbox; raises otherwise."""
        key = str(message["k"])
        return key, Outbound.from_json(self.crypto.decrypt_text(str(message["d"]), mailbox_aad(key)))


def mailbox_aad(key: str) -> bytes:
    """What a delivery on the bus is sealed to: its mailbox."""
    return where("live", TOPIC, key)


class WebChat:
    """The web process's side: mailboxes fed from the bus, and the page's routes."""

    def __init__(self, runtime, channel: WebChannel, templates):
        self.runtime, self.channel, self.templates = runtime, channel, templates
        self.mailboxes: dict[str, Mailbox] = {}
        self._task: asyncio.Task | None = None
        self._streams: dict[str, list[_Stream]] = {}        # mailbox key -> open streams, oldest first
        self._streams_per_address: dict[str, int] = {}
        if runtime is not None:
            settings = runtime.settings
            self.ids = ChatIds(settings.secret_keys())
            self._starts = RateLimit(settings.web_chat_starts_per_hour, 3600.0)
            self._sends_per_address = RateLimit(settings.web_chat_sends_per_minute, 60.0)
            self._sends_per_chat = RateLimit(SENDS_PER_CHAT, 60.0)
            self.streams_per_address = settings.web_chat_streams_per_address
            self.streams_per_chat = settings.web_chat_streams_per_chat

    # ---- the bus side ---------------------------------------------------------------------------

    async def run(self) -> None:
        with self.channel.bus.subscribe(TOPIC) as sub:
            while True:
                message = await sub.get(60)
                self._sweep()
                if message is None:
                    continue
                try:
                    key, outbound = self.channel.open(message)
                except Exception as exc:  # for another key or mailbox, or damaged: drop it
                    log.warning("web.undecryptable", extra={"code": type(exc).__name__})
                    continue
                box = self.mailboxes.setdefault(key, Mailbox())
                box.put(outbound_for_page(outbound))

    def _sweep(self) -> None:
        limit = time.monotonic() - MAILBOX_SECONDS
        for key in [k for k, box in self.mailboxes.items() if box.touched < limit]:
            del self.mailboxes[key]

    # ---- limits ---------------------------------------------------------------------------------

    def _address(self, request: web.Request) -> str:
        """The client's address as limits count it (``address_key``: an IPv6 /64)."""
        return address_key(client_address(request))

    def _origin(self, address: str) -> str:
        """What the event carries of the address for the handoff limits: a keyed hash."""
        return self.runtime.crypto.pseudonym("web-chat-address", address)[:32]

    # ---- routes ---------------------------------------------------------------------------------

    def _locale(self, request: web.Request) -> str:
        return request_locale(request, self.runtime.bundles.flow)

    async def page(self, request: web.Request) -> web.Response:
        flow = self.runtime.bundles.flow
        locale = self._locale(request)
        other = next((c for c in flow.locales if c != locale), None)

        def t(key: str) -> str:
            return flow.text(locale, "console.chat." + key)

        html = self.templates.get_template("chat.html").render(
            t=t, locale=locale, other_locale=other, neutral_url=NEUTRAL_URL)
        return _headers(web.Response(text=html, content_type="text/html", charset="utf-8"))

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType()
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest() from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest()
        return body

    def _chat_id(self, body: dict[str, Any]) -> str:
        """The body's chat id if this server issued it; 400 otherwise."""
        chat_id = body.get("id")
        if not self.ids.is_valid(chat_id):
            raise _headers(web.HTTPBadRequest(text='{"error": "unknown chat"}', content_type="application/json"))
        return chat_id

    async def start(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        address = self._address(request)
        if not self._starts.allow(address):
            return _headers(web.json_response({"error": "slow down"}, status=429))
        lang = body.get("lang") if isinstance(body.get("lang"), str) else None
        chat_id = self.ids.new()
        event = InboundEvent(NAME, "start-" + secrets.token_urlsafe(12), chat_id, "start",
                             locale_hint=lang, received_at=time.time(), origin=self._origin(address))
        self.mailboxes.setdefault(self.channel.mailbox_key(chat_id), Mailbox())
        if not await self._accept(event):
            return self._unavailable(lang)
        return _headers(web.json_response({"id": chat_id}))

    async def send(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        chat_id = self._chat_id(body)
        address = self._address(request)
        if not self._sends_per_chat.allow(chat_id) or not self._sends_per_address.allow(address):
            return _headers(web.json_response({"error": "slow down"}, status=429))
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not EVENT_PATTERN.match(event_id):
            raise web.HTTPBadRequest()
        event_id = self.ids.event_id(chat_id, event_id)
        text, choice = body.get("text"), body.get("choice")
        lang = body.get("lang") if isinstance(body.get("lang"), str) else None
        origin = self._origin(address)
        if isinstance(choice, str) and choice:
            from_state = body.get("from_state") if isinstance(body.get("from_state"), str) else None
            event = InboundEvent(NAME, event_id, chat_id, "tap", choice=choice[:80], from_state=from_state,
                                 locale_hint=lang, received_at=time.time(), origin=origin)
        elif isinstance(text, str) and text.strip():
            event = InboundEvent(NAME, event_id, chat_id, "text", text=text[:MAX_TEXT], locale_hint=lang,
                                 received_at=time.time(), origin=origin)
        else:
            raise web.HTTPBadRequest()
        self.mailboxes.setdefault(self.channel.mailbox_key(chat_id), Mailbox()).touched = time.monotonic()
        if not await self._accept(event):
            return self._unavailable(lang)
        return _headers(web.json_response({"ok": True}))

    async def left(self, request: web.Request) -> web.Response:
        """The page says the person may have left (quick exit, the tab closing: sent with
        ``keepalive``) or is back (a reload). Only matters while a handoff is open: the console
        then shows that the person may have left."""
        body = await self._json(request)
        chat_id = self._chat_id(body)
        if not self._sends_per_chat.allow(chat_id) or not self._sends_per_address.allow(self._address(request)):
            return _headers(web.json_response({"error": "slow down"}, status=429))
        reason = body.get("reason") if body.get("reason") in LEFT_REASONS else None
        if reason is None:
            raise web.HTTPBadRequest()
        try:
            await self.runtime.handoff_hooks.on_person_left(NAME, chat_id, reason)
        except StoreUnavailable:
            return _headers(web.json_response({"error": "unavailable"}, status=503))
        return _headers(web.json_response({"ok": True}))

    async def _accept(self, event: InboundEvent) -> bool:
        try:
            await self.runtime.accept([event])
            return True
        except StoreUnavailable:
            return False

    def _unavailable(self, lang: str | None) -> web.Response:
        """The database is down: the fixed safety message with the 24-hour numbers."""
        return _headers(web.json_response({"error": "unavailable", "safety": self.runtime.safety_text(lang)}, status=503))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        chat_id = self._chat_id(body)
        after = body.get("after") if isinstance(body.get("after"), int) else 0
        address = self._address(request)
        if self._streams_per_address.get(address, 0) >= self.streams_per_address:
            return _headers(web.json_response({"error": "too many streams"}, status=429))
        key = self.channel.mailbox_key(chat_id)
        box = self.mailboxes.setdefault(key, Mailbox())
        with self._open_stream(key, address) as mine:
            async with http.event_stream(request) as stream:
                await stream.comment("open")
                while not mine.ended:
                    for seq, message in box.after(after):
                        after = seq
                        await stream.send({"seq": seq, **message})
                    box.wake.clear()
                    box.touched = time.monotonic()
                    try:
                        async with asyncio.timeout(STREAM_PING_SECONDS):  # not wait_for (see live.Subscription.get)
                            await box.wake.wait()
                    except TimeoutError:
                        await stream.comment("ping")
                    if self.mailboxes.get(key) is not box:  # swept meanwhile
                        box = self.mailboxes.setdefault(key, box)
        return stream.response

    @contextlib.contextmanager
    def _open_stream(self, key: str, address: str):
        """Count an open stream per chat and per address. Past ``streams_per_chat`` the oldest of
        the chat ends (a reloaded page opens its new stream before the old one is noticed gone)."""
        stream = _Stream()
        open_ones = self._streams.setdefault(key, [])
        while len(open_ones) >= self.streams_per_chat:
            open_ones.pop(0).ended = True
            box = self.mailboxes.get(key)
            if box is not None:
                box.wake.set()
        open_ones.append(stream)
        self._streams_per_address[address] = self._streams_per_address.get(address, 0) + 1
        try:
            yield stream
        finally:
            if stream in open_ones:
                open_ones.remove(stream)
            if not open_ones and self._streams.get(key) is open_ones:
                del self._streams[key]
            left = self._streams_per_address.get(address, 1) - 1
            if left > 0:
                self._streams_per_address[address] = left
            else:
                self._streams_per_address.pop(address, None)


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    return http.secure_page(response)


CHAT = web.AppKey("web_chat", WebChat)


def setup_routes(app: web.Application, runtime, channel: WebChannel) -> WebChat:
    """``/chat``, its API and its mailboxes (fed from ``channel``'s bus while the app runs)."""
    chat = WebChat(runtime, channel, http.make_templates())
    app[CHAT] = chat
    app.router.add_get(PAGE, chat.page)
    app.router.add_post(f"{PAGE}/api/start", chat.start)
    app.router.add_post(f"{PAGE}/api/send", chat.send)
    app.router.add_post(f"{PAGE}/api/stream", chat.stream)
    app.router.add_post(f"{PAGE}/api/left", chat.left)
    http.add_static(app)
    http.track_streams(app)

    async def lifecycle(app: web.Application):
        chat._task = asyncio.create_task(chat.run(), name="web-chat-mailboxes")
        yield
        chat._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await chat._task

    app.cleanup_ctx.append(lifecycle)
    return chat
