"""The console's shared parts: its state (``Console``), the request keys a login sets, who may
see what (``restrict``, ``home_for``), rendering, cookies, the audit helpers and the login check.

The page handlers (``console_login``, ``console_pages``, ``console_live``) build on these; the
guard and the routes are wired in ``bot.handoff.console``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from bot import http
from bot.engine.model import Flow
from bot.health import RUNTIME
from bot.http import RateLimit, address_key, client_address, request_locale
from bot.live import LiveBus
from bot.store import audit, counsellors

from .accounts import may
from .security import COOKIE, Argon2Pool, LoginCodec, LoginCookie, LoginThrottle, password_fingerprint
from .service import HandoffService

log = logging.getLogger(__name__)

PREFIX = "/console"
SECOND_FACTOR = f"{PREFIX}/totp"   # enrolling one's own second factor: every role, and all a login
                                   # without one may see where one is required (production)
OWN_PASSWORD = f"{PREFIX}/password"  # changing one's own password: every role
CONTEXT_LISTS = ("path", "tags", "choices", "risk")  # the only context keys a counsellor sees
CANNED_PREFIX = "canned."
LIVE_HEADER = "X-Console-Live"  # the screens' own updates: not a counsellor's activity
TOUCH_SECONDS = 30.0            # a login's last activity is written at most this often
MAX_BULK = 200                  # handoffs dismissed in one request

@dataclass
class Console:
    service: HandoffService
    codec: LoginCodec
    throttle: LoginThrottle
    hasher: Argon2Pool
    templates: jinja2.Environment
    settings: Any
    anonymous_audit: RateLimit
    # Production: an account without a second factor may log in only to enrol one.
    require_second_factor: bool = False

    @property
    def idle_seconds(self) -> float:
        return self.settings.console_idle_minutes * 60.0

    @property
    def login_seconds(self) -> float:
        return self.settings.console_login_hours * 3600.0

    @property
    def store(self):
        return self.service.store

    @property
    def tz(self):
        return self.service.hours.tz  # the NGO's time zone (office_hours.yaml, else BOT_TIMEZONE)

    @property
    def bus(self) -> LiveBus:
        return self.service.bus

    @property
    def flow(self) -> Flow:
        return self.service.flow


CONSOLE = web.AppKey("handoff_console", Console)
_RequestKey = getattr(web, "RequestKey", None)  # aiohttp >= 3.12; plain strings before
CONSOLE_LOGIN = _RequestKey("console_login", object) if _RequestKey else "console_login"
LOGIN_ID = _RequestKey("login_id", int) if _RequestKey else "login_id"
COUNSELLOR_ID = _RequestKey("counsellor_id", int) if _RequestKey else "counsellor_id"
COUNSELLOR_NAME = _RequestKey("counsellor_name", str) if _RequestKey else "counsellor_name"
ROLE = _RequestKey("counsellor_role", str) if _RequestKey else "counsellor_role"
SECOND_FACTOR_SET = _RequestKey("second_factor_set", bool) if _RequestKey else "second_factor_set"
# Which capability (bot.handoff.accounts.CAPABILITIES) a part of the console needs, by path
# prefix, longest first; everything else under /console needs "converse". Other packages (the
# flow editor) add theirs with ``restrict``; ``HOMES`` is where a login lands, by capability.
AREAS = web.AppKey("console_areas", list)
HOMES = web.AppKey("console_homes", dict)


def restrict(app: web.Application, prefix: str, capability: str, home: str | None = None) -> None:
    """Make ``prefix`` (and below) need ``capability``; ``home``: where its role lands on login."""
    app[AREAS].append((prefix, capability))
    app[AREAS].sort(key=lambda area: -len(area[0]))
    if home:
        app[HOMES][capability] = home


def capability_for(request: web.Request) -> str | None:
    if request.path in (f"{PREFIX}/login", f"{PREFIX}/logout", PREFIX, f"{PREFIX}/me", SECOND_FACTOR, OWN_PASSWORD):
        return None
    return capability_for_path(request.app, request.path)


def capability_for_path(app: web.Application, path: str) -> str:
    for prefix, capability in app.get(AREAS, ()):
        if path == prefix or path.startswith(prefix + "/"):
            return capability
    return "converse"


def home_for(app: web.Application, role: str) -> str:
    """The first page of the console this role may see."""
    for capability, path in [("converse", f"{PREFIX}/queue"), *app.get(HOMES, {}).items()]:
        if may(role, capability):
            return path
    return f"{PREFIX}/me"
PRE_LOGIN = _RequestKey("pre_login", str) if _RequestKey else "pre_login"


def ready_replies(flow: Flow, locale: str) -> list[tuple[str, str]]:
    """(short name, text) of the ready replies in the order of the locale file: a counsellor
    inserts one by typing ``/`` and its short name, so the order is the file's, not sorted."""
    keys = flow.catalog.get(locale) or flow.catalog.get(flow.default_locale, {})
    return [(key[len(CANNED_PREFIX):], flow.text(locale, key)) for key in keys if key.startswith(CANNED_PREFIX)]


def repository_news(request: web.Request):
    """For editors and admins: the repository's files are newer than every version (after an
    upgrade), set at start by ``FlowSync.consider_repository``; else None."""
    runtime = request.app.get(RUNTIME)
    if runtime is None or not may(request.get(ROLE), "edit"):
        return None
    return getattr(runtime.bundles, "repository_news", None)


def texts(flow: Flow, locale: str):
    def t(key: str, **variables: Any) -> str:
        return flow.text(locale, "console." + key, {k: str(v) for k, v in variables.items()})
    return t


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    c = request.app[CONSOLE]
    flow = c.flow
    locale = request_locale(request, flow)
    login: LoginCookie | None = request.get(CONSOLE_LOGIN)
    binding = login.nonce if login else request.get(PRE_LOGIN)
    html = c.templates.get_template(template).render(
        t=texts(flow, locale), locale=locale, counsellor=request.get(COUNSELLOR_NAME), role=request.get(ROLE),
        may=lambda capability: may(request.get(ROLE), capability),
        csrf=c.codec.csrf_token(binding) if binding else "", prefix=PREFIX,
        # the alert strip (who is waiting) on every page of a role that converses
        alerts=bool(request.get(ROLE)) and may(request[ROLE], "converse"),
        **{"page": "", "message_vars": {}, "repository_news": repository_news(request), **context})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def secure(request: web.Request) -> bool:
    # X-Forwarded-Proto counts only from a proxy named in BOT_TRUSTED_PROXIES
    return http.request_came_over_https(request)


def cookie_name(request: web.Request, base: str) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless Secure, host-only, Path=/.
    return f"__Host-{base}" if secure(request) else base


def set_cookie(request: web.Request, response: web.StreamResponse, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(cookie_name(request, base), value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=secure(request))


def clear_cookie(request: web.Request, response: web.StreamResponse, base: str) -> None:
    response.del_cookie(cookie_name(request, base), path="/")


def address_hash(c: Console, address: str) -> str:
    """What the audit log keeps of an address: a keyed hash, never the address."""
    return c.store.crypto.pseudonym("audit-address", address)[:32]


def route_detail(request: web.Request) -> str:
    """The route, without the handoff id (that has its own column), for the audit's detail; a
    path that is no route is not copied (the client chose it)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else "(no such route)"
    return f"{request.method[:10]} {canonical}"[:60]


async def audit_anonymous(request: web.Request, action: str, detail: str, counsellor_id: int | None = None) -> None:
    """An audit row for a request without a login, at most ``console.ANONYMOUS_AUDIT_PER_HOUR`` per
    address: beyond that only the log line says it happened."""
    c = request.app[CONSOLE]
    address = client_address(request)
    if not c.anonymous_audit.allow(address_key(address)):
        log.warning("console.audit_skipped", extra={"action": action})
        return
    async with c.store.transaction() as s:
        await audit.append(s, action, time.time(), counsellor_id, address_hash=address_hash(c, address), detail=detail)


async def audit_refused(request: web.Request, detail: str, handoff_id: str | None = None,
                         action: str = audit.REFUSED) -> None:
    """A logged-in counsellor's action the console refused."""
    c = request.app[CONSOLE]
    async with c.store.transaction() as s:
        await audit.append(s, action, time.time(), request[COUNSELLOR_ID], handoff_id, login_id=request[LOGIN_ID],
                      address_hash=address_hash(c, client_address(request)), detail=detail)


@dataclass(frozen=True)
class CurrentLogin:
    cookie: LoginCookie
    login_id: int
    counsellor_name: str
    role: str
    has_second_factor: bool = False


async def current_login(request: web.Request, *, touch: bool = True) -> CurrentLogin | None:
    """The login this request's cookie stands for, if it still holds; ``touch``: count the
    request as activity (for the idle timeout). A login found expired, idle, of a disabled
    account or from before a new password is ended here, for every process."""
    c = request.app[CONSOLE]
    cookie = c.codec.read(request.cookies.get(cookie_name(request, COOKIE)))
    if cookie is None:
        return None
    now = time.time()
    async with c.store.transaction() as s:
        row = await counsellors.login_by_token(s, cookie.token_hash)
        if row is None or row.ended_at is not None or row.counsellor_id != cookie.counsellor_id:
            return None
        counsellor = await counsellors.counsellor_by_id(s, row.counsellor_id)
        reason = None
        if counsellor is None or not counsellor.is_active:
            reason = "disabled"
        elif password_fingerprint(counsellor.password_hash) != cookie.fingerprint:
            reason = "new_password"
        elif now >= row.created_at + c.login_seconds:
            reason = "expired"
        elif now - row.last_seen_at >= c.idle_seconds:
            reason = "idle"
        if reason is not None:
            if await counsellors.end_login(s, row.id, now, reason):
                await audit.append(s, audit.LOGIN_ENDED, now, row.counsellor_id, login_id=row.id, detail=reason)
            log.info("console.login_ended", extra={"counsellor": row.counsellor_id, "reason": reason})
            return None
        if touch and now - row.last_seen_at >= TOUCH_SECONDS:
            await counsellors.touch_login(s, row.id, now)
        return CurrentLogin(cookie, row.id, counsellor.name, counsellor.role, counsellor.totp_secret_enc is not None)


SECOND_STEP = f"{PREFIX}/login/code"
PUBLIC = {f"{PREFIX}/login", SECOND_STEP}
EVENTS = f"{PREFIX}/events"


def is_live(request: web.Request) -> bool:
    """A screen updating itself (``console.js``), not a counsellor's click."""
    return request.headers.get(LIVE_HEADER) == "1"


def secure_headers(response: web.StreamResponse) -> web.StreamResponse:
    return http.secure_page(response, "'self'")
