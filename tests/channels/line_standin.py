"""A local server that plays LINE, on both sides of the bot.

As the Messaging API (``LineStandIn``, an aiohttp server on 127.0.0.1): it records every request
the bot makes, answers as LINE does (reply tokens are single use; a push retry key already
accepted gets 409; a bad access token gets 401), fails on demand (429, 5xx, an expired reply
token, an expired access token), and checks every request body:

- the envelope against ``../shared/line-openapi/messaging-api.yml`` with openapi-core;
- each message, quick-reply item, action, template and Flex component against its *concrete*
  schema (``#/components/schemas/TextMessage`` ...) with jsonschema, because the envelope check
  does not follow the ``type`` discriminators: it would pass a text message without ``text``
  or a postback with 400 characters of data;
- unknown properties (the spec's schemas allow any, LINE rejects them), and the limits LINE
  documents that the spec does not encode: text 5,000 UTF-16 units, labels 20, displayText
  300, altText 400, URI schemes and length, non-empty texts.

A request that fails any check is answered 400 as LINE would, and recorded in ``violations``.

As the webhook sender: ``make_*`` build events as LINE sends them, ``webhook_body`` wraps them,
``sign`` signs a body as LINE does, and ``validate_webhook_body`` checks a body against
``webhook.yml`` (the envelope and each event, source and message content's concrete schema).

Run alone (the benchmark does): ``python -m tests.channels.line_standin --port 18080 [--validate]``;
``GET /_stats`` then returns the request counts.
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
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml
from aiohttp import web

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SPEC_DIR = SHARED / "line-openapi"
MESSAGING_SPEC = SPEC_DIR / "messaging-api.yml"
WEBHOOK_SPEC = SPEC_DIR / "webhook.yml"
API_HOST = "https://api.line.me"

# Limits LINE documents that messaging-api.yml does not encode.
MAX_TEXT_UNITS = 5000
MAX_LABEL_UNITS = 20
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400
MAX_URI = 1000
URI_SCHEMES = ("http:", "https:", "tel:", "line:")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---- the specifications ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def load_spec(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def _openapi(path: Path):
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(load_spec(path))


@lru_cache(maxsize=None)
def _validator(path: Path, name: str):
    """A jsonschema validator for ``#/components/schemas/<name>`` (OpenAPI 3.0 ≈ draft 4)."""
    import jsonschema

    spec = load_spec(path)
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _schemas(path: Path) -> dict:
    return load_spec(path)["components"]["schemas"]


def _mapping(path: Path, base: str) -> dict[str, str]:
    """``type`` value → concrete schema name, from ``base``'s discriminator."""
    disc = _schemas(path)[base].get("discriminator", {})
    return {k: v.rsplit("/", 1)[-1] for k, v in disc.get("mapping", {}).items()}


@lru_cache(maxsize=None)
def _properties(path: Path, name: str) -> frozenset[str]:
    """Every property a schema names, through its allOf chain."""
    schemas = _schemas(path)
    out: set[str] = set()

    def walk(s: dict) -> None:
        if "$ref" in s:
            walk(schemas[s["$ref"].rsplit("/", 1)[-1]])
            return
        out.update((s.get("properties") or {}).keys())
        for part in s.get("allOf", []):
            walk(part)

    walk(schemas[name])
    return frozenset(out)


def check_schema(path: Path, name: str, value: Any, where: str) -> list[str]:
    errors = [f"{where}: {e.message} (at {'/'.join(map(str, e.path)) or '.'}, schema {name})"
              for e in _validator(path, name).iter_errors(value)]
    if isinstance(value, dict):
        extra = set(value) - _properties(path, name)
        if extra:
            errors.append(f"{where}: unknown properties {sorted(extra)} for {name}")
    return errors


def _concrete(path: Path, base: str, value: Any, where: str) -> tuple[str | None, list[str]]:
    if not isinstance(value, dict):
        return None, [f"{where}: not an object"]
    name = _mapping(path, base).get(value.get("type"))
    if name is None:
        return None, [f"{where}: unknown {base} type {value.get('type')!r}"]
    return name, check_schema(path, name, value, where)


# ---- what the bot sends -----------------------------------------------------------------------


def check_action(action: Any, where: str, *, label_required: bool = True) -> list[str]:
    name, errors = _concrete(MESSAGING_SPEC, "Action", action, where)
    if name is None:
        return errors
    label = action.get("label")
    if label_required and not label:
        errors.append(f"{where}: an action needs a label here")
    if isinstance(label, str) and utf16_len(label) > MAX_LABEL_UNITS:
        errors.append(f"{where}: label is {utf16_len(label)} UTF-16 units (max {MAX_LABEL_UNITS})")
    if name == "PostbackAction":
        if not isinstance(action.get("data"), str):
            errors.append(f"{where}: postback without data")
        dt_ = action.get("displayText")
        if isinstance(dt_, str) and not 1 <= utf16_len(dt_) <= MAX_DISPLAY_TEXT:
            errors.append(f"{where}: displayText must be 1..{MAX_DISPLAY_TEXT} characters")
    if name == "URIAction":
        uri = action.get("uri")
        if not isinstance(uri, str) or not uri.startswith(URI_SCHEMES) or len(uri) > MAX_URI:
            errors.append(f"{where}: uri must be http, https, tel or line and at most {MAX_URI} characters")
    return errors


def check_flex_component(comp: Any, where: str) -> list[str]:
    name, errors = _concrete(MESSAGING_SPEC, "FlexComponent", comp, where)
    if name is None:
        return errors
    if name == "FlexBox":
        for i, child in enumerate(comp.get("contents") or []):
            errors += check_flex_component(child, f"{where}.contents[{i}]")
    if name == "FlexText" and not (comp.get("text") or comp.get("contents")):
        errors.append(f"{where}: a Flex text needs text")
    if "action" in comp:
        errors += check_action(comp["action"], f"{where}.action", label_required=name == "FlexButton")
    return errors


def check_message(msg: Any, where: str) -> list[str]:
    name, errors = _concrete(MESSAGING_SPEC, "Message", msg, where)
    if name is None:
        return errors
    if name == "TextMessage":
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: empty text")
        elif utf16_len(text) > MAX_TEXT_UNITS:
            errors.append(f"{where}: text is {utf16_len(text)} UTF-16 units (max {MAX_TEXT_UNITS})")
    if name in ("FlexMessage", "TemplateMessage"):
        alt = msg.get("altText")
        if not isinstance(alt, str) or not 1 <= utf16_len(alt) <= MAX_ALT_TEXT:
            errors.append(f"{where}: altText must be 1..{MAX_ALT_TEXT} characters")
    if name == "FlexMessage":
        cname, cerr = _concrete(MESSAGING_SPEC, "FlexContainer", msg.get("contents"), f"{where}.contents")
        errors += cerr
        bubbles = [msg["contents"]] if cname == "FlexBubble" else (msg["contents"].get("contents") or []) if cname else []
        for b, bubble in enumerate(bubbles):
            for part in ("header", "hero", "body", "footer"):
                if isinstance(bubble, dict) and part in bubble:
                    errors += check_flex_component(bubble[part], f"{where}.contents[{b}].{part}")
    if name == "TemplateMessage":
        tname, terr = _concrete(MESSAGING_SPEC, "Template", msg.get("template"), f"{where}.template")
        errors += terr
        for i, action in enumerate((msg.get("template") or {}).get("actions") or []):
            errors += check_action(action, f"{where}.template.actions[{i}]")
    quick = msg.get("quickReply")
    if quick is not None:
        errors += check_schema(MESSAGING_SPEC, "QuickReply", quick, f"{where}.quickReply")
        for i, item in enumerate((quick or {}).get("items") or []):
            iw = f"{where}.quickReply.items[{i}]"
            errors += check_schema(MESSAGING_SPEC, "QuickReplyItem", item, iw)
            if isinstance(item, dict):
                if item.get("type") != "action":
                    errors.append(f"{iw}: type must be 'action'")
                errors += check_action(item.get("action"), f"{iw}.action")
    return errors


def check_api_request(method: str, path: str, headers: dict[str, str], body: bytes) -> list[str]:
    """Every check a request to the Messaging API gets: envelope, then each message and action."""
    from openapi_core.datatypes import RequestParameters

    class _Request:
        host_url = API_HOST
        content_type = "application/json"

        def __init__(self) -> None:
            self.path, self.method, self.body = path, method.lower(), body
            self.parameters = RequestParameters(header=headers)

    errors: list[str] = []
    try:
        _openapi(MESSAGING_SPEC).validate_request(_Request())
    except Exception as exc:  # openapi-core raises one error wrapping the schema errors
        inner = getattr(exc, "__cause__", None)
        detail = "; ".join(str(e.message) for e in getattr(inner, "schema_errors", ()) or ()) or str(inner or exc)
        errors.append(f"envelope: {type(exc).__name__}: {detail}")
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return errors + ["body is not JSON"]
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        for i, msg in enumerate(data["messages"]):
            errors += check_message(msg, f"messages[{i}]")
    return errors


# ---- what LINE sends ----------------------------------------------------------------------------


def validate_webhook_body(body: bytes | str | dict) -> list[str]:
    """Check a webhook body as LINE would send it, against webhook.yml; returns the problems."""
    data = json.loads(body) if isinstance(body, (bytes, str)) else body
    errors = check_schema(WEBHOOK_SPEC, "CallbackRequest", data, "body")
    for i, event in enumerate(data.get("events") or [] if isinstance(data, dict) else []):
        where = f"events[{i}]"
        name = _mapping(WEBHOOK_SPEC, "Event").get(event.get("type") if isinstance(event, dict) else None)
        errors += check_schema(WEBHOOK_SPEC, name or "Event", event, where) if name else \
            [e for e in check_schema(WEBHOOK_SPEC, "Event", event, where) if "unknown properties" not in e]
        if isinstance(event, dict) and "source" in event:
            errors += _concrete(WEBHOOK_SPEC, "Source", event["source"], f"{where}.source")[1]
        if name == "MessageEvent":
            errors += _concrete(WEBHOOK_SPEC, "MessageContent", event.get("message"), f"{where}.message")[1]
    return errors


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
class _Failure:
    status: int
    kinds: tuple[str, ...]
    remaining: int
    retry_after: str | None
    message: str


class LineStandIn:
    """The Messaging API on loopback. ``async with LineStandIn(token) as line: line.url``."""

    def __init__(self, access_token: str = "test-access-token", *, validate: bool = True, record: bool = True):
        self.access_token = access_token
        self.validate = validate
        self.record = record
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.counts: dict[str, int] = {}
        self.used_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.expire_all_reply_tokens = False
        self.accepted_retry_keys: set[str] = set()
        self.token_revoked = False
        self._failures: list[_Failure] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- control ---------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, kinds: Iterable[str] = ("reply", "push"), *,
                  retry_after: float | None = None, message: str = "") -> None:
        """Answer the next ``times`` requests of these kinds with ``status``."""
        text = message or {429: "Too Many Requests",
                           500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "error")
        self._failures.append(_Failure(status, tuple(kinds), times,
                                       None if retry_after is None else str(retry_after), text))

    def expire_reply_token(self, *tokens: str) -> None:
        self.expired_tokens.update(tokens)

    def revoke_access_token(self, revoked: bool = True) -> None:
        self.token_revoked = revoked

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    def sent(self) -> list[Recorded]:
        """Replies and pushes LINE accepted."""
        return [r for r in self.requests if r.kind in ("reply", "push") and r.status == 200]

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
        if self.validate:
            # Load the spec now (about a second, once per process), not inside the first request:
            # in tests the stand-in shares the bot's event loop, and timing tests would feel it.
            _openapi(MESSAGING_SPEC)
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
        status, payload, headers, body = self._answer(request, kind, raw)
        self.counts[f"{kind}_{status}"] = self.counts.get(f"{kind}_{status}", 0) + 1
        if self.record:
            keep = {k: v for k, v in request.headers.items()
                    if k.lower() in ("authorization", "x-line-retry-key", "content-type")}
            self.requests.append(Recorded(request.method, path, keep, body, status))
            self._changed.set()
        return web.json_response(payload, status=status, headers=headers)

    def _answer(self, request: web.Request, kind: str, raw: bytes) -> tuple[int, dict, dict, Any]:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if request.headers.get("Authorization") != f"Bearer {self.access_token}" or self.token_revoked:
            return 401, {"message": "Authentication failed. Confirm that the access token in the authorization header is valid."}, {}, body
        if kind in ("content", "other"):
            return 404, {"message": "Not found"}, {}, body
        if self.validate:
            problems = check_api_request(request.method, request.path, dict(request.headers), raw)
            if kind == "push" and "X-Line-Retry-Key" in request.headers:
                try:
                    uuid.UUID(request.headers["X-Line-Retry-Key"])
                except ValueError:
                    problems.append("X-Line-Retry-Key is not a UUID")
            if problems:
                self.violations.extend(f"{kind}: {p}" for p in problems)
                return 400, {"message": f"The request body has {len(problems)} error(s)",
                             "details": [{"message": p[:200], "property": ""} for p in problems]}, {}, body
        for failure in self._failures:
            if failure.remaining > 0 and kind in failure.kinds:
                failure.remaining -= 1
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, {"message": failure.message}, headers, body
        if kind == "reply":
            token = body.get("replyToken")
            if token in self.used_tokens or token in self.expired_tokens or self.expire_all_reply_tokens:
                return 400, {"message": "Invalid reply token"}, {}, body
            self.used_tokens.add(token)
        if kind == "push":
            key = request.headers.get("X-Line-Retry-Key")
            if key and key in self.accepted_retry_keys:
                return 409, {"message": "The retry key is already accepted"}, \
                    {"x-line-accepted-request-id": str(uuid.uuid4())}, body
            if key:
                self.accepted_retry_keys.add(key)
        if kind in ("reply", "push"):
            sent = [{"id": str(500_000_000_000_000_000 + next(_counter)), "quoteToken": secrets.token_urlsafe(8)}
                    for _ in body.get("messages", [])]
            return 200, {"sentMessages": sent}, {}, body
        if kind == "loading":
            return 202, {}, {}, body
        return 200, {}, {}, body


# ---- test support -----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "tests" / "engine" / "fixtures" / "mini"


def mini_locales_with_line(folder: Path) -> Path:
    """The mini flow's locales plus the LINE channel's texts (locales/*.line.yaml), in ``folder``."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for path in list((MINI / "locales").glob("*.yaml")) + list((REPO / "locales").glob("*.line.yaml")):
        shutil.copy(path, folder / path.name)
    return folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="LINE Messaging API stand-in on loopback")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18080)
    p.add_argument("--token", default="bench-access-token")
    p.add_argument("--validate", action="store_true", help="check every body against the spec (slow)")
    args = p.parse_args(argv)
    line = LineStandIn(args.token, validate=args.validate, record=False)
    web.run_app(line.app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
