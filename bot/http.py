"""What every web page and route of the bot shares: the web chat's and the console's plumbing.

* Headers: every response (pages, the API, the webhook, static files, errors, /healthz,
  /metrics) says ``X-Content-Type-Options: nosniff`` and a ``Server`` without versions; one that
  came over TLS also gets ``Strict-Transport-Security``. Pages add a strict CSP and no caching
  (``secure_page``). ``https_only(prefix)`` refuses what did not come over HTTPS (the console in
  production: its password and cookie must never cross the network in clear).
* Who is asking: ``came_over_https`` and ``client_address`` believe ``X-Forwarded-Proto`` and
  ``X-Forwarded-For`` only from the proxies ``BOT_TRUSTED_PROXIES`` names
  (``bot.settings.ProxyTrust``); ``address_key`` is what per-address limits count by, and
  ``RateLimit`` counts them in memory. ``Signer`` signs cookies and ids under the key ring.
* Templates (``templates/``), static files (``static/``, under ``/static``), the page's
  language (``request_locale``), and server-sent events (``event_stream``), which a server
  shutting down ends at once.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, AsyncIterator

import jinja2
from aiohttp import web, web_response

from bot.engine.model import Flow
from bot.settings import ProxyTrust

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_URL = "/static"          # the console's and the web chat's CSS and JS (public, no secrets)
SERVER_NAME = "first-contact-bot"
HSTS = "max-age=31536000"       # a year; no includeSubDomains: the NGO's other hosts are not ours to pin

# Responses aiohttp writes itself before any route runs (a malformed request line) take their
# Server header from this module constant: no versions there either.
web_response.SERVER_SOFTWARE = SERVER_NAME

PROXIES = web.AppKey("trusted_proxies", ProxyTrust)
STREAMS = web.AppKey("live_streams", set)


def _page_headers(form_action: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                    f"img-src 'self'; form-action {form_action}; frame-ancestors 'none'; "
                                    "base-uri 'none'"),
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    }


PAGE_HEADERS = {"'self'": _page_headers("'self'"), "'none'": _page_headers("'none'")}


def secure_page(response: web.StreamResponse, form_action: str = "'none'") -> web.StreamResponse:
    """A page's (or its API's) headers: no caching, no referrer, no framing, only our own
    scripts and styles; ``form_action``: where its forms may post (``'self'`` for the console)."""
    for k, v in PAGE_HEADERS[form_action].items():
        response.headers.setdefault(k, v)
    return response


# ---- the whole application ----------------------------------------------------------------------

def install(app: web.Application, proxies: ProxyTrust) -> None:
    """Headers on every response; ``proxies`` for every route that asks who is calling."""
    app[PROXIES] = proxies
    app.on_response_prepare.append(_security_headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = SERVER_NAME
    if request_came_over_https(request):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


def https_only(prefix: str):
    """A middleware refusing what did not come over HTTPS under ``prefix``."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        path = request.path
        if (path == prefix or path.startswith(prefix + "/")) and not request_came_over_https(request):
            return web.Response(status=403, text="This page needs HTTPS. Behind a reverse proxy, set "
                                                 "BOT_TRUSTED_PROXIES so that its X-Forwarded-Proto is believed.\n")
        return await handler(request)

    return middleware


def bearer_ok(request: web.BaseRequest, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; never with an empty token."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# ---- who is asking ------------------------------------------------------------------------------

def _proxies(request: web.BaseRequest) -> ProxyTrust:
    return request.app.get(PROXIES) or ProxyTrust()


def came_over_https(*, tls: bool, peer: str | None, forwarded_proto: str | None, trusted: ProxyTrust) -> bool:
    """The request reached us over TLS, or a trusted proxy says the original one did."""
    if tls:
        return True
    if not trusted.trusts(peer):
        return False
    return (trusted.forwarded_value(forwarded_proto) or "").lower() == "https"


def request_came_over_https(request: web.BaseRequest) -> bool:
    tls = request.transport is not None and request.transport.get_extra_info("sslcontext") is not None
    return came_over_https(tls=tls, peer=request.remote, forwarded_proto=request.headers.get("X-Forwarded-Proto"),
                           trusted=_proxies(request))


def client_address(request: web.BaseRequest) -> str:
    """The client's address (``ProxyTrust.client_address``)."""
    return _proxies(request).client_address(request.remote, request.headers.get("X-Forwarded-For"))


def address_key(address: str) -> str:
    """What limits count by: the address; for IPv6 its /64, which one subscriber usually holds
    whole (so an attacker cannot take a new address per request)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimit:
    """At most about ``limit`` hits per ``window`` seconds per key, in this process.

    A sliding window estimated from two fixed ones (the current count plus the previous one
    weighted by how much of it still overlaps), so a key costs three numbers whatever its limit.
    Keys idle for two windows (when they count nothing any more) are forgotten as new hits come;
    beyond ``max_keys`` the least recently used go first: memory stays bounded under a flood
    from many addresses."""

    def __init__(self, limit: int, window: float, max_keys: int = 20_000, clock=time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._keys: OrderedDict[str, list[float]] = OrderedDict()  # key -> [window start, count, previous count]

    def __len__(self) -> int:
        return len(self._keys)

    def allow(self, key: str) -> bool:
        """Count a hit and say yes, or say no (and count nothing) when over the limit."""
        now = self.clock()
        self._forget_idle(now)
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = [now, 0, 0]
        elif now - entry[0] >= self.window:
            periods = int((now - entry[0]) // self.window)
            entry[2] = entry[1] if periods == 1 else 0
            entry[0] += periods * self.window
            entry[1] = 0
        self._keys.move_to_end(key)
        overlap = 1.0 - (now - entry[0]) / self.window
        if entry[1] + entry[2] * overlap >= self.limit:
            return False
        entry[1] += 1
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return True

    def _forget_idle(self, now: float) -> None:
        # Ordered by last use: the idle ones are at the front. Two windows on, a key counts nothing.
        while self._keys:
            key, entry = next(iter(self._keys.items()))
            if now - entry[0] < 2 * self.window:
                return
            del self._keys[key]


# ---- signed tokens ------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 under keys derived from the bot's key ring for one purpose. Signs with the
    newest key and names it (a short key id), so rotating ``BOT_SECRET_KEYS`` keeps logins, CSRF
    tokens and web-chat ids made under an older key of the ring valid until that key is dropped."""

    def __init__(self, secrets_: bytes | Sequence[bytes], purpose: str):
        ring = [secrets_] if isinstance(secrets_, (bytes, bytearray)) else list(secrets_)
        if not ring:
            raise ValueError("a Signer needs at least one key")
        self._keys = [hmac.new(secret, b"first-contact-bot/" + purpose.encode(), hashlib.sha256).digest()
                      for secret in ring]
        self._by_kid = {self._kid(key): key for key in reversed(self._keys)}  # newest wins a clash

    @staticmethod
    def _kid(key: bytes) -> str:
        return b64(hashlib.sha256(b"kid" + key).digest()[:3])

    def sign(self, payload: bytes) -> str:
        key = self._keys[0]
        mac = hmac.new(key, payload, hashlib.sha256).digest()
        return b64(payload) + "." + self._kid(key) + "." + b64(mac)

    def unsign(self, token: str) -> bytes | None:
        try:
            body, kid, mac = token.split(".", 2)
            key = self._by_kid.get(kid)
            if key is None:
                return None
            payload = unb64(body)
            expected = hmac.new(key, payload, hashlib.sha256).digest()
            return payload if hmac.compare_digest(expected, unb64(mac)) else None
        except (ValueError, TypeError):
            return None

    def mac(self, *parts: str) -> str:
        """A MAC under the newest key."""
        return self._mac(self._keys[0], parts)

    def verify(self, given: str, *parts: str, length: int | None = None) -> bool:
        """``given`` is the MAC of ``parts`` (its first ``length`` characters) under a key of the
        ring. Every key is compared, so the time taken does not say which key matched."""
        macs = [self._mac(key, parts)[:length] for key in self._keys]
        return sum(hmac.compare_digest(mac, given) for mac in macs) > 0

    @staticmethod
    def _mac(key: bytes, parts: tuple[str, ...]) -> str:
        return b64(hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).digest())


# ---- pages --------------------------------------------------------------------------------------

def make_templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def add_static(app: web.Application) -> None:
    """``/static`` once, whichever feature asks first."""
    if not any(getattr(res, "canonical", None) == STATIC_URL for res in app.router.resources()):
        app.router.add_static(STATIC_URL, STATIC_DIR)


def request_locale(request: web.Request, flow: Flow) -> str:
    """The page's language: ``?lang=``, else the browser's ``Accept-Language``, else the flow's."""
    wanted = request.query.get("lang") or ""
    if wanted in flow.locales:
        return wanted
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in flow.locales:
            return code
    return flow.default_locale


# ---- server-sent events -------------------------------------------------------------------------

class EventStream:
    """One open ``text/event-stream`` response."""

    def __init__(self, response: web.StreamResponse):
        self.response = response

    async def send(self, data: dict[str, Any]) -> None:
        await self.response.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

    async def comment(self, text: str) -> None:
        """A line the browser ignores: keeps proxies from closing an idle stream."""
        await self.response.write(f": {text}\n\n".encode())


@contextlib.asynccontextmanager
async def event_stream(request: web.Request, form_action: str = "'none'") -> AsyncIterator[EventStream]:
    """An event stream for this request, ended when the client goes away or the server shuts
    down (``track_streams``); the handler returns ``stream.response`` after the block."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    secure_page(response, form_action)
    await response.prepare(request)
    streams = request.app.get(STREAMS)
    task = asyncio.current_task()
    if streams is not None and task is not None:
        streams.add(task)
    try:
        yield EventStream(response)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client left, or the server is shutting down: the response ends here
    finally:
        if streams is not None and task is not None:
            streams.discard(task)


def track_streams(app: web.Application) -> None:
    """Shutting the server down cancels the open event streams at once (once per app)."""
    if STREAMS in app:
        return
    app[STREAMS] = set()

    async def end_streams(app: web.Application) -> None:
        for task in list(app[STREAMS]):
            task.cancel()

    app.on_shutdown.append(end_streams)
