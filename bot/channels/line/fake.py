"""A stand-in for LINE on loopback, on both sides of the bot: for tests and benchmarks.

As the Messaging API (``LineStandIn``, an aiohttp server on 127.0.0.1): it records every request
the bot makes, answers as LINE does (reply tokens are single use; a push retry key already
accepted gets 409, one that is not a UUID 400; a bad access token gets 401), and fails on
demand (429, 5xx, an expired reply token, an expired access token). ``check``, when given, is
called with every request (method, path, headers, raw body) and returns its problems: the
tests pass LINE's contract there (documented limits, line-bot-sdk's models, LINE's OpenAPI
documents). A request with problems is answered 400 as LINE would, and recorded in
``violations``.

For the fault suite (``bench/faults.py``) it also plays LINE's awkward moments: reply tokens
handed out with ``issue_reply_token`` belong to one person and expire after ``reply_token_ttl``;
a failure can come after LINE has already delivered (``accept=True``: the person got the
message, the bot sees 500); failures can last for a time (``fail_for``); every call can be slow
(``delay``). Every message LINE accepted is recorded per person, as reply or push
(``deliveries``, ``delivered_to``).

As the webhook sender: ``make_*`` build events as LINE sends them, ``webhook_body`` wraps them,
and ``sign`` signs a body as LINE does.

Run alone (the benchmarks do): ``python -m bot.channels.line.fake --port 18080``; ``GET /_stats``
then returns the request counts.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from aiohttp import web

# (method, path, headers, raw body) -> the problems LINE would refuse the request for.
Check = Callable[[str, str, dict, bytes], list[str]]

_ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_counter = itertools.count()


def new_event_id() -> str:
    """A ULID, as LINE's ``webhookEventId`` is."""
    ms = int(time.time() * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_ULID_CHARS[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def new_reply_token() -> str:
    return secrets.token_hex(16)


def _event(etype: str, user_id: str | None, *, source: dict | None = None, mode: str = "active",
           redelivery: bool = False, reply_token: str | None | bool = True, timestamp_ms: int | None = None,
           event_id: str | None = None, **extra: Any) -> dict:
    ev: dict[str, Any] = {
        "type": etype,
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "mode": mode,
        "webhookEventId": event_id or new_event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
        "source": source or {"type": "user", "userId": user_id},
    }
    if reply_token:
        ev["replyToken"] = new_reply_token() if reply_token is True else reply_token
    ev.update(extra)
    return ev


def _message_id() -> str:
    return str(400_000_000_000_000_000 + next(_counter))


def make_text(user_id: str, text: str, **kw: Any) -> dict:
    return _event("message", user_id, message={"type": "text", "id": _message_id(), "text": text,
                                                "quoteToken": secrets.token_urlsafe(16)}, **kw)


def make_media(user_id: str, kind: str, **kw: Any) -> dict:
    message: dict[str, Any] = {"type": kind, "id": _message_id()}
    if kind in ("image", "video"):
        message.update(contentProvider={"type": "line"}, quoteToken=secrets.token_urlsafe(16))
    elif kind == "audio":
        message.update(contentProvider={"type": "line"}, duration=4000)
    elif kind == "file":
        message.update(fileName="photo.zip", fileSize=123456)
    return _event("message", user_id, message=message, **kw)


def make_sticker(user_id: str, **kw: Any) -> dict:
    return _event("message", user_id, message={
        "type": "sticker", "id": _message_id(), "packageId": "446", "stickerId": "1988",
        "stickerResourceType": "STATIC", "quoteToken": secrets.token_urlsafe(16)}, **kw)


def make_location(user_id: str, **kw: Any) -> dict:
    return _event("message", user_id, message={
        "type": "location", "id": _message_id(), "title": "somewhere", "address": "Tokyo",
        "latitude": 35.68, "longitude": 139.76}, **kw)


def make_postback(user_id: str, data: str, **kw: Any) -> dict:
    return _event("postback", user_id, postback={"data": data}, **kw)


def make_follow(user_id: str, unblocked: bool = False, **kw: Any) -> dict:
    return _event("follow", user_id, follow={"isUnblocked": unblocked}, **kw)


def make_unfollow(user_id: str, **kw: Any) -> dict:
    return _event("unfollow", user_id, reply_token=False, **kw)


def make_join(chat: str = "group", chat_id: str | None = None, **kw: Any) -> dict:
    key = "groupId" if chat == "group" else "roomId"
    return _event("join", None, source={"type": chat, key: chat_id or ("C" if chat == "group" else "R") + secrets.token_hex(16)}, **kw)


def make_group_text(chat_id: str, user_id: str, text: str, **kw: Any) -> dict:
    return _event("message", None, source={"type": "group", "groupId": chat_id, "userId": user_id},
                  message={"type": "text", "id": _message_id(), "text": text, "quoteToken": "q"}, **kw)


def make_unsend(user_id: str, **kw: Any) -> dict:
    return _event("unsend", user_id, reply_token=False, unsend={"messageId": _message_id()}, **kw)


DESTINATION = "U" + "0" * 32


def webhook_body(events: Iterable[dict], destination: str = DESTINATION, *, ascii_only: bool = False) -> bytes:
    """A delivery's raw body: UTF-8 JSON as LINE sends it (``ascii_only``: everything as \\u escapes,
    the only way a lone surrogate can travel)."""
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=ascii_only,
                      separators=(",", ":")).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """``X-Line-Signature`` as LINE computes it: base64(HMAC-SHA256(channel secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


# ---- the API server ---------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float = field(default_factory=time.time)
    accepted: bool = False   # answered with an error after LINE had taken it (``fail_next(accept=True)``)

    @property
    def kind(self) -> str:
        p = self.path
        if p.endswith("/message/reply"):
            return "reply"
        if p.endswith("/message/push"):
            return "push"
        if p.endswith("/chat/loading/start"):
            return "loading"
        if p.endswith("/leave"):
            return "leave"
        if "/content" in p:
            return "content"
        return "other"


@dataclass
class Delivery:
    """Messages LINE accepted for one person: by ``reply`` or by ``push``, at ``at`` (time.time())."""
    kind: str
    user: str | None     # None: a reply whose token was not issued by ``issue_reply_token``
    messages: list[dict]
    at: float
    reply_token: str | None = None   # which event a reply answers

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(m.get("text", "") for m in self.messages if m.get("type") == "text")


@dataclass
class _Failure:
    status: int
    kinds: tuple[str, ...]
    remaining: int
    retry_after: str | None
    message: str
    until: float | None = None   # time.monotonic() after which the failure is over (``fail_for``)
    accept: bool = False         # deliver first, then answer the failure (the outcome looks unknown)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after} if self.retry_after else {}

    def applies(self, kind: str, now: float) -> bool:
        if kind not in self.kinds:
            return False
        return now < self.until if self.until is not None else self.remaining > 0


class LineStandIn:
    """The Messaging API on loopback. ``async with LineStandIn(token) as line: line.url``."""

    def __init__(self, access_token: str = "test-access-token", *, check: Check | None = None, record: bool = True):
        self.access_token = access_token
        self.check = check
        self.record = record
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.counts: dict[str, int] = {}
        self.used_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.expire_all_reply_tokens = False
        self.accepted_retry_keys: set[str] = set()
        self.token_revoked = False
        self.reply_token_ttl: float | None = None   # seconds a token from issue_reply_token is valid
        self.token_owner: dict[str, tuple[str, float]] = {}   # token -> (user id, issued at, monotonic)
        self.delay = 0.0                             # seconds before answering each call of delay_kinds
        self.delay_kinds: tuple[str, ...] = ("reply", "push", "loading", "leave")
        self.in_flight = 0
        self.deliveries: list[Delivery] = []
        self._failures: list[_Failure] = []
        self._accepted = False  # the request being answered was taken before its failure
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- control ---------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, kinds: Iterable[str] = ("reply", "push"), *,
                  retry_after: float | None = None, message: str = "", accept: bool = False) -> None:
        """Answer the next ``times`` requests of these kinds with ``status`` (``accept``: after
        delivering them, as LINE does when it fails between accepting a message and answering)."""
        self._failures.append(self._failure(status, kinds, times, retry_after, message, None, accept))

    def fail_for(self, status: int, seconds: float, kinds: Iterable[str] = ("reply", "push"), *,
                 retry_after: float | None = None, message: str = "", accept: bool = False) -> None:
        """Answer every request of these kinds with ``status`` for the next ``seconds``."""
        self._failures.append(self._failure(status, kinds, 0, retry_after, message,
                                            time.monotonic() + seconds, accept))

    @staticmethod
    def _failure(status: int, kinds: Iterable[str], times: int, retry_after: float | None, message: str,
                 until: float | None, accept: bool) -> _Failure:
        text = message or {429: "Too Many Requests",
                           500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "error")
        return _Failure(status, tuple(kinds), times, None if retry_after is None else str(retry_after), text,
                        until, accept)

    def issue_reply_token(self, user_id: str) -> str:
        """A new reply token for an event from ``user_id``: valid once, for ``reply_token_ttl``."""
        token = new_reply_token()
        self.token_owner[token] = (user_id, time.monotonic())
        return token

    def delivered_to(self, user_id: str, kind: str | None = None) -> list[Delivery]:
        """What ``user_id`` received, in the order LINE accepted it (``kind``: "reply" or "push" only)."""
        return [d for d in self.deliveries if d.user == user_id and kind in (None, d.kind)]

    def expire_reply_token(self, *tokens: str) -> None:
        self.expired_tokens.update(tokens)

    def revoke_access_token(self, revoked: bool = True) -> None:
        self.token_revoked = revoked

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    def sent(self) -> list[Recorded]:
        """Replies and pushes LINE accepted."""
        return [r for r in self.requests if r.kind in ("reply", "push") and (r.status == 200 or r.accepted)]

    def messages_to(self, user_id: str | None = None, reply_token: str | None = None) -> list[dict]:
        out = []
        for r in self.sent():
            if (user_id and r.body.get("to") == user_id) or (reply_token and r.body.get("replyToken") == reply_token):
                out.extend(r.body["messages"])
        return out

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the stand-in did not see what was expected in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))
            except asyncio.TimeoutError:
                pass

    # ---- server ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 << 20)
        app.router.add_get("/_stats", self._stats)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # the port chosen by the OS
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "LineStandIn":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"counts": self.counts, "violations": len(self.violations)})

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        path = request.path
        probe = Recorded(request.method, path, {}, None, 0)
        kind = probe.kind
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.delay and kind in self.delay_kinds:
            self.in_flight += 1   # calls held by the delay: a test can strike while some are
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        status, payload, headers, body = self._answer(request, kind, raw)
        self.counts[f"{kind}_{status}"] = self.counts.get(f"{kind}_{status}", 0) + 1
        if self.record:
            keep = {k: v for k, v in request.headers.items()
                    if k.lower() in ("authorization", "x-line-retry-key", "content-type")}
            self.requests.append(Recorded(request.method, path, keep, body, status, accepted=self._accepted))
            self._changed.set()
        return web.json_response(payload, status=status, headers=headers)

    def _answer(self, request: web.Request, kind: str, raw: bytes) -> tuple[int, dict, dict, Any]:
        self._accepted = False
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if request.headers.get("Authorization") != f"Bearer {self.access_token}" or self.token_revoked:
            return 401, {"message": "Authentication failed. Confirm that the access token in the authorization header is valid."}, {}, body
        if kind in ("content", "other"):
            return 404, {"message": "Not found"}, {}, body
        problems = self.check(request.method, request.path, dict(request.headers), raw) if self.check else []
        if kind == "push" and "X-Line-Retry-Key" in request.headers:
            try:
                uuid.UUID(request.headers["X-Line-Retry-Key"])
            except ValueError:
                problems.append("X-Line-Retry-Key is not a UUID")
        if problems:
            self.violations.extend(f"{kind}: {p}" for p in problems)
            return 400, {"message": f"The request body has {len(problems)} error(s)",
                         "details": [{"message": p[:200], "property": ""} for p in problems]}, {}, body
        now = time.monotonic()
        failure = next((f for f in self._failures if f.applies(kind, now)), None)
        if failure is not None:
            failure.remaining -= 1
            if not failure.accept:
                return failure.status, {"message": failure.message}, failure.headers(), body
        status, payload, headers = self._deliver(request, kind, body)
        if failure is not None and status < 300:  # delivered, but the bot is told it failed
            self._accepted = True
            return failure.status, {"message": failure.message}, failure.headers(), body
        return status, payload, headers, body

    def _token_refused(self, token: Any) -> bool:
        if token in self.used_tokens or token in self.expired_tokens or self.expire_all_reply_tokens:
            return True
        issued = self.token_owner.get(token)
        return bool(issued and self.reply_token_ttl is not None and time.monotonic() - issued[1] > self.reply_token_ttl)

    def record_delivery(self, kind: str, user: str | None, messages: list[dict], reply_token: str | None = None) -> None:
        """Keep what LINE delivered (a subclass can change what is kept, the harness tests do)."""
        if self.record:
            self.deliveries.append(Delivery(kind, user, messages, time.time(), reply_token))

    def _deliver(self, request: web.Request, kind: str, body: Any) -> tuple[int, dict, dict]:
        if kind == "reply":
            token = body.get("replyToken")
            if self._token_refused(token):
                return 400, {"message": "Invalid reply token"}, {}
            self.used_tokens.add(token)
        if kind == "push":
            key = request.headers.get("X-Line-Retry-Key")
            if key and key in self.accepted_retry_keys:
                return 409, {"message": "The retry key is already accepted"}, \
                    {"x-line-accepted-request-id": str(uuid.uuid4())}
            if key:
                self.accepted_retry_keys.add(key)
        if kind in ("reply", "push"):
            messages = body.get("messages", [])
            user = body.get("to") if kind == "push" else self.token_owner.get(body.get("replyToken"), (None,))[0]
            self.record_delivery(kind, user, messages, body.get("replyToken") if kind == "reply" else None)
            sent = [{"id": str(500_000_000_000_000_000 + next(_counter)), "quoteToken": secrets.token_urlsafe(8)}
                    for _ in messages]
            return 200, {"sentMessages": sent}, {}
        if kind == "loading":
            return 202, {}, {}
        return 200, {}, {}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="LINE Messaging API stand-in on loopback")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18080)
    p.add_argument("--token", default="bench-access-token")
    args = p.parse_args(argv)
    line = LineStandIn(args.token, record=False)
    web.run_app(line.app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
