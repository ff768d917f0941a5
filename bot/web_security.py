"""HTTP hardening for every route of the web process.

* Every response (pages, the API, the webhook, static files, errors, /healthz, /metrics) gets
  ``X-Content-Type-Options: nosniff`` and a ``Server`` header without versions; one that came
  over TLS also gets ``Strict-Transport-Security``.
* Which request came over HTTPS: directly (TLS to this process), or through a reverse proxy
  that is trusted (``BOT_TRUSTED_PROXIES``) and says so in ``X-Forwarded-Proto``. Nobody
  else's ``X-Forwarded-Proto`` is believed.
* In production the console refuses a request that did not come over HTTPS (its password and
  session cookie must never cross the network in clear).
* ``/metrics`` and the details of ``/readyz``: a bearer token (``BOT_METRICS_TOKEN``) on the
  public port; the internal port (``BOT_METRICS_PORT``) needs none.
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_response

SERVER_NAME = "first-contact-bot"
HSTS = "max-age=31536000"          # a year; no includeSubDomains: the NGO's other hosts are not ours to pin
CONSOLE_PREFIX = "/console"

# Responses aiohttp writes itself before any route runs (a malformed request line) take their
# Server header from this module constant: no versions there either.
web_response.SERVER_SOFTWARE = SERVER_NAME

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """``BOT_TRUSTED_PROXIES``: how many reverse proxies stand in front of the bot (``"1"``),
    or the addresses they connect from (``"10.0.0.0/8, 127.0.0.1"``). Empty: none, and
    forwarded headers are ignored."""

    hops: int = 0
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> "TrustedProxies":
        """Raises ValueError (with what was wrong) for anything else."""
        value = (value or "").strip()
        if not value:
            return cls()
        if value.isdigit():
            hops = int(value)
            if not 0 <= hops <= 10:
                raise ValueError("a hop count is between 0 and 10")
            return cls(hops=hops)
        networks = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is neither a hop count nor an address or CIDR") from None
        return cls(networks=tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.hops or self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Is the connection's peer one of the trusted proxies?"""
        if self.hops:
            return True  # so many proxies stand in front: the peer is the nearest of them
        if not self.networks or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def forwarded_value(self, header: str | None) -> str | None:
        """The entry of a comma-separated forwarded header written by the outermost trusted
        proxy: the ``hops``-th from the right (one, for CIDRs), else the leftmost there is."""
        values = [v.strip() for v in (header or "").split(",") if v.strip()]
        if not values:
            return None
        return values[-min(max(self.hops, 1), len(values))]


def came_over_https(*, tls: bool, peer: str | None, forwarded_proto: str | None,
                    trusted: TrustedProxies) -> bool:
    """The request reached us over TLS, or a trusted proxy says the original one did."""
    if tls:
        return True
    if not trusted.trusts(peer):
        return False
    return (trusted.forwarded_value(forwarded_proto) or "").lower() == "https"


def request_came_over_https(request: web.BaseRequest, trusted: TrustedProxies) -> bool:
    return came_over_https(tls=request.transport is not None and request.transport.get_extra_info("sslcontext") is not None,
                           peer=request.remote, forwarded_proto=request.headers.get("X-Forwarded-Proto"),
                           trusted=trusted)


TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)


def install(app: web.Application, settings: Any) -> None:
    """Headers on every response; in production, the console over HTTPS only."""
    app[TRUSTED_PROXIES] = TrustedProxies.parse(settings.trusted_proxies)
    app.on_response_prepare.append(_security_headers)
    if settings.bot_env == "production":
        app.middlewares.append(console_over_https)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = SERVER_NAME
    if request_came_over_https(request, request.app.get(TRUSTED_PROXIES) or TrustedProxies()):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


@web.middleware
async def console_over_https(request: web.Request, handler):
    path = request.path
    if (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")) and \
            not request_came_over_https(request, request.app.get(TRUSTED_PROXIES) or TrustedProxies()):
        return web.Response(status=403, text="The console needs HTTPS. Behind a reverse proxy, set "
                                             "BOT_TRUSTED_PROXIES so that its X-Forwarded-Proto is believed.\n")
    return await handler(request)


def bearer_ok(request: web.BaseRequest, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; never with an empty token."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
