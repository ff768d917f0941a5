"""The counsellors' web console at ``/console``: server-rendered pages, live updates by SSE.

Everything under ``/console`` needs a logged-in counsellor except the login page itself; every
POST needs the form's CSRF token. A login is a row in the database (``console_logins``) that
ends on logout, after ``BOT_CONSOLE_IDLE_MINUTES`` without a click, after
``BOT_CONSOLE_LOGIN_HOURS``, or at once when the account is disabled or its password changes;
the screens' own live requests (``X-Console-Live``, the event stream) do not count as activity.
Pages show a handoff's context packet (path, tags, choices, language, risk, time waiting) and
its messages, never who the person is: the conversation's pseudonym, platform ids and display
names never reach a template.

The audit log records each transcript read (once per login and handoff), every action, and what
was refused (failed and throttled logins, forms without their CSRF token, actions on a
conversation that is not, or no longer, the counsellor's), with a keyed hash of the address.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from bot import http
from bot.engine.model import Flow
from bot.http import RateLimit, address_key, client_address, request_locale
from bot.live import LiveBus
from bot.store import audit, counsellors, figures, handoffs, switches
from bot.store.models import LIVE, QUEUED

from .accounts import authenticate, may
from .hours import format_opening
from .security import COOKIE, PRE_COOKIE, Argon2Pool, HasherBusy, LoginCodec, LoginCookie, LoginThrottle, password_fingerprint
from .service import OUTCOMES, HandoffService

log = logging.getLogger(__name__)

PREFIX = "/console"
SSE_PING_SECONDS = 15.0
CONTEXT_LISTS = ("path", "tags", "choices", "risk")  # the only context keys a counsellor sees
CANNED_PREFIX = "canned."
LIVE_HEADER = "X-Console-Live"  # the screens' own updates: not a counsellor's activity
TOUCH_SECONDS = 30.0            # a login's last activity is written at most this often
MAX_BULK = 200                  # handoffs dismissed in one request
# Audit rows that requests without a login can cause, per address (a flood must not fill the log).
ANONYMOUS_AUDIT_PER_HOUR = 60

@dataclass
class Console:
    service: HandoffService
    codec: LoginCodec
    throttle: LoginThrottle
    hasher: Argon2Pool
    templates: jinja2.Environment
    settings: Any
    anonymous_audit: RateLimit

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


def _capability_for(request: web.Request) -> str | None:
    if request.path in (f"{PREFIX}/login", f"{PREFIX}/logout", PREFIX, f"{PREFIX}/me"):
        return None
    return _capability_for_path(request.app, request.path)


def _capability_for_path(app: web.Application, path: str) -> str:
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


def _texts(flow: Flow, locale: str):
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
        t=_texts(flow, locale), locale=locale, counsellor=request.get(COUNSELLOR_NAME),
        csrf=c.codec.csrf_token(binding) if binding else "", prefix=PREFIX, **{"page": "", "message_vars": {}, **context})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _secure(request: web.Request) -> bool:
    # X-Forwarded-Proto counts only from a proxy named in BOT_TRUSTED_PROXIES
    return http.request_came_over_https(request)


def _cookie_name(request: web.Request, base: str) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless Secure, host-only, Path=/.
    return f"__Host-{base}" if _secure(request) else base


def _set_cookie(request: web.Request, response: web.StreamResponse, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(_cookie_name(request, base), value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=_secure(request))


def _clear_cookie(request: web.Request, response: web.StreamResponse, base: str) -> None:
    response.del_cookie(_cookie_name(request, base), path="/")


def _address_hash(c: Console, address: str) -> str:
    """What the audit log keeps of an address: a keyed hash, never the address."""
    return c.store.crypto.pseudonym("audit-address", address)[:32]


def _route(request: web.Request) -> str:
    """The route, without the handoff id (that has its own column), for the audit's detail; a
    path that is no route is not copied (the client chose it)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else "(no such route)"
    return f"{request.method[:10]} {canonical}"[:60]


async def _audit_anonymous(request: web.Request, action: str, detail: str, counsellor_id: int | None = None) -> None:
    """An audit row for a request without a login, at most ``ANONYMOUS_AUDIT_PER_HOUR`` per
    address: beyond that only the log line says it happened."""
    c = request.app[CONSOLE]
    address = client_address(request)
    if not c.anonymous_audit.allow(address_key(address)):
        log.warning("console.audit_skipped", extra={"action": action})
        return
    async with c.store.transaction() as s:
        await audit.append(s, action, time.time(), counsellor_id, address_hash=_address_hash(c, address), detail=detail)


async def _audit_refused(request: web.Request, detail: str, handoff_id: str | None = None,
                         action: str = audit.REFUSED) -> None:
    """A logged-in counsellor's action the console refused."""
    c = request.app[CONSOLE]
    async with c.store.transaction() as s:
        await audit.append(s, action, time.time(), request[COUNSELLOR_ID], handoff_id, login_id=request[LOGIN_ID],
                      address_hash=_address_hash(c, client_address(request)), detail=detail)


@dataclass(frozen=True)
class CurrentLogin:
    cookie: LoginCookie
    login_id: int
    counsellor_name: str
    role: str


async def current_login(request: web.Request, *, touch: bool = True) -> CurrentLogin | None:
    """The login this request's cookie stands for, if it still holds; ``touch``: count the
    request as activity (for the idle timeout). A login found expired, idle, of a disabled
    account or from before a new password is ended here, for every process."""
    c = request.app[CONSOLE]
    cookie = c.codec.read(request.cookies.get(_cookie_name(request, COOKIE)))
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
        return CurrentLogin(cookie, row.id, counsellor.name, counsellor.role)


# ---- middleware ---------------------------------------------------------------------------------

PUBLIC = {f"{PREFIX}/login"}
EVENTS = f"{PREFIX}/events"


def _is_live(request: web.Request) -> bool:
    """A screen updating itself (``console.js``), not a counsellor's click."""
    return request.headers.get(LIVE_HEADER) == "1"


@web.middleware
async def console_guard(request: web.Request, handler):
    """Login and CSRF for everything under /console; security headers on every console answer."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    c = request.app[CONSOLE]
    login = await current_login(request, touch=not (_is_live(request) or request.path == EVENTS))
    if login is not None:
        request[CONSOLE_LOGIN] = login.cookie
        request[LOGIN_ID] = login.login_id
        request[COUNSELLOR_ID] = login.cookie.counsellor_id
        request[COUNSELLOR_NAME] = login.counsellor_name
        request[ROLE] = login.role
    if request.path not in PUBLIC:
        if login is None:
            if request.method == "GET" and not _is_live(request) \
                    and "text/event-stream" not in request.headers.get("Accept", ""):
                raise web.HTTPSeeOther(f"{PREFIX}/login")
            if request.method not in ("GET", "HEAD"):
                await _audit_anonymous(request, audit.REFUSED, "login required: " + _route(request))
            return _headers(web.json_response({"error": "login required"}, status=401))
        if request.method not in ("GET", "HEAD"):
            form = await request.post()
            token = form.get("csrf") or request.headers.get("X-CSRF-Token")
            if not c.codec.check_csrf(login.cookie.nonce, str(token) if token else None):
                log.warning("console.csrf_refused", extra={"path": request.path})
                await _audit_refused(request, _route(request), request.match_info.get("id"), audit.CSRF_REFUSED)
                return _headers(render(request, "error.html", status=403, message_key="forbidden"))
        capability = _capability_for(request)
        if capability is not None and not may(login.role, capability):
            await _audit_refused(request, _route(request), request.match_info.get("id"), audit.REFUSED)
            if request.method == "GET" and not _is_live(request):
                home = home_for(request.app, login.role)   # a page this role may see
                if home != request.path:
                    raise web.HTTPSeeOther(home)
            return _headers(render(request, "error.html", status=403, message_key="role_forbidden",
                                   message_vars={"role": login.role}))
    response = await handler(request)
    return _headers(response)


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    return http.secure_page(response, "'self'")


# ---- login and logout ---------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.Response:
    if request.get(CONSOLE_LOGIN):
        raise web.HTTPSeeOther(home_for(request.app, request[ROLE]))
    pre = secrets.token_urlsafe(16)
    request[PRE_LOGIN] = pre
    response = render(request, "login.html", error=None)
    _set_cookie(request, response, PRE_COOKIE, pre, max_age=3600)
    return response


def _throttled(request: web.Request, wait: float, status: int = 429) -> web.Response:
    seconds = max(1, int(wait + 0.999))
    error = ("login_throttled", {"minutes": (seconds + 59) // 60}) if seconds >= 60 else \
        ("login_throttled_seconds", {"seconds": seconds})
    response = render(request, "login.html", status=status, error=error)
    response.headers["Retry-After"] = str(seconds)
    return response


async def login(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await request.post()
    pre = request.cookies.get(_cookie_name(request, PRE_COOKIE))
    if not c.codec.check_csrf(pre, str(form.get("csrf") or "")):
        log.warning("console.csrf_refused", extra={"path": "login"})
        await _audit_anonymous(request, audit.CSRF_REFUSED, _route(request))
        return render(request, "error.html", status=403, message_key="forbidden")
    request[PRE_LOGIN] = pre
    name, password = str(form.get("name") or "")[:80], str(form.get("password") or "")[:1000]
    address = client_address(request)
    # Few transactions per attempt: on SQLite each one takes the write lock the webhooks need too.
    async with c.store.transaction() as s:
        wait = await c.throttle.retry_after(s, name, address)
        if wait > 0:
            known = await counsellors.counsellor_by_name(s, name)
            if c.anonymous_audit.allow(address_key(address)):
                await audit.append(s, audit.LOGIN_THROTTLED, time.time(), known.id if known else None,
                              address_hash=_address_hash(c, address))
    if wait > 0:
        log.warning("console.login_throttled")
        return _throttled(request, wait)
    try:
        row = await authenticate(c.store, name, password, c.hasher)
    except HasherBusy:
        log.warning("console.login_busy")
        return _throttled(request, 5, status=503)
    if row is None:
        log.info("console.login_failed")
        async with c.store.transaction() as s:
            await c.throttle.failed(s, name, address)
            known = await counsellors.counsellor_by_name(s, name)
            await audit.append(s, audit.LOGIN_FAILED, time.time(), known.id if known else None,
                          address_hash=_address_hash(c, address), detail="" if known else "unknown name")
        return render(request, "login.html", status=401, error=("login_failed", {}))
    token, cookie = c.codec.issue(row.id, row.password_hash)
    now = time.time()
    async with c.store.transaction() as s:
        await c.throttle.succeeded(s, name, address)
        login_id = await counsellors.add_login(s, row.id, cookie.token_hash, now)
        await audit.append(s, audit.LOGGED_IN, now, row.id, login_id=login_id, address_hash=_address_hash(c, address))
    log.info("console.login", extra={"counsellor": row.id})
    response = web.HTTPSeeOther(home_for(request.app, row.role))
    _set_cookie(request, response, COOKIE, token, max_age=int(c.codec.max_age))
    _clear_cookie(request, response, PRE_COOKIE)
    raise response


async def logout(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    now = time.time()
    async with c.store.transaction() as s:
        await counsellors.end_login(s, request[LOGIN_ID], now, "logout")
        await audit.append(s, audit.LOGGED_OUT, now, request[COUNSELLOR_ID], login_id=request[LOGIN_ID],
                      address_hash=_address_hash(c, client_address(request)))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    _clear_cookie(request, response, COOKIE)
    raise response


# ---- the queue ----------------------------------------------------------------------------------

def _minutes_since(then: float | None, now: float) -> int:
    return 0 if then is None else max(0, int((now - then) // 60))


async def _queue_rows(c: Console) -> dict[str, list[dict[str, Any]]]:
    now = time.time()
    async with c.store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        names = await counsellors.counsellor_names(s, {h.counsellor_id for h in rows if h.counsellor_id})
    queued, live = [], []
    for h in rows:
        ctx = handoffs.open_context(c.store.crypto, h)
        item = {
            "id": h.id, "status": h.status, "crisis": h.is_crisis, "locale": h.locale, "channel": h.channel,
            "waiting": _minutes_since(h.queued_at, now), "left_message": h.left_message,
            "tags": [str(x) for x in (ctx.get("tags") or [])][:6],
            "counsellor": names.get(h.counsellor_id or -1, ""),
        }
        (queued if h.status == QUEUED else live).append(item)
    return {"queued": queued, "live": live}


async def index(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(home_for(request.app, request[ROLE]))


async def nothing_for_role(request: web.Request) -> web.Response:
    """Where a login lands whose role has no page yet (an editor, before the flow editor)."""
    home = home_for(request.app, request[ROLE])
    if home != request.path:
        raise web.HTTPSeeOther(home)
    return render(request, "error.html", message_key="role_nothing", message_vars={"role": request[ROLE]})


async def queue_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    rows = await _queue_rows(c)
    avail = await c.service.availability()
    banner = ""
    if avail.reason == "switch":
        banner = _texts(c.flow, request_locale(request, c.flow))("switch_is_on")
    elif avail.reason == "hours":
        locale = request_locale(request, c.flow)
        now = dt.datetime.now(dt.timezone.utc)
        banner = _texts(c.flow, locale)("hours_closed", when=format_opening(avail.back_at, locale, now))
    template = "_queue.html" if request.query.get("fragment") else "queue.html"
    return render(request, template, **rows, banner=banner, page="queue")


# ---- one conversation ---------------------------------------------------------------------------

def context_packet(h, now: float, crypto) -> dict[str, Any]:
    """What the counsellor may see of a conversation: the flow, never the person."""
    ctx = handoffs.open_context(crypto, h)
    packet: dict[str, Any] = {}
    for key in CONTEXT_LISTS:
        value = ctx.get(key)
        if isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        packet[key] = [str(x) for x in value][:60] if isinstance(value, (list, tuple)) else []
    variables = ctx.get("variables")
    if isinstance(variables, dict):
        packet["choices"] = packet["choices"] + [f"{k}={v}" for k, v in variables.items()]
    packet["language"] = h.locale
    packet["channel"] = h.channel
    packet["waiting"] = _minutes_since(h.queued_at, (h.taken_at or now) if h.status != QUEUED else now)
    if h.is_crisis and "crisis" not in packet["risk"]:
        packet["risk"].append("crisis")
    return packet


async def _note_read(request: web.Request, s, handoff_id: str, now: float) -> None:
    """Audit a transcript read, once per login and handoff."""
    if not await audit.has_entry(s, handoff_id, audit.OPENED, login_id=request[LOGIN_ID]):
        c = request.app[CONSOLE]
        await audit.append(s, audit.OPENED, now, request[COUNSELLOR_ID], handoff_id, login_id=request[LOGIN_ID],
                      address_hash=_address_hash(c, client_address(request)))


async def handoff_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    me = request[COUNSELLOR_ID]
    now = time.time()
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        lines = await handoffs.transcript(s, c.store.crypto, hid)
        names = await counsellors.counsellor_names(s, {h.counsellor_id} if h.counsellor_id else set())
        await _note_read(request, s, hid, now)
    flow = c.flow
    canned = [(key, flow.text(h.locale, key)) for key in sorted(flow.catalog.get(h.locale, {})) if key.startswith(CANNED_PREFIX)]
    return render(
        request, "handoff.html", page="handoff", h={
            "id": h.id, "status": h.status, "crisis": h.is_crisis, "mine": h.status == LIVE and h.counsellor_id == me,
            "counsellor": names.get(h.counsellor_id or -1, ""), "left_message": h.left_message},
        packet=context_packet(h, now, c.store.crypto), lines=[_line(line, c.tz) for line in lines],
        last_id=lines[-1].id if lines else 0, canned=canned, outcomes=OUTCOMES,
        notice=request.query.get("notice"))


def _line(line: handoffs.Line, tz) -> dict[str, Any]:
    return {"id": line.id, "author": line.author, "text": line.text,
            "at": dt.datetime.fromtimestamp(line.at, tz).strftime("%H:%M")}


async def handoff_messages(request: web.Request) -> web.Response:
    """New lines after ``after`` (JSON), for the live view; the browser shows them as text."""
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        after = 0
    async with c.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        if h is None:
            raise web.HTTPNotFound()
        lines = await handoffs.transcript(s, c.store.crypto, hid, after)
        if lines:
            await _note_read(request, s, hid, time.time())
    return web.json_response({"status": h.status, "crisis": h.is_crisis,
                              "mine": h.status == LIVE and h.counsellor_id == request[COUNSELLOR_ID],
                              "lines": [_line(x, c.tz) for x in lines]})


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def take(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    result = await c.service.take(hid, request[COUNSELLOR_ID])
    if result != "ok":
        await _audit_refused(request, f"take: {result}", hid if result != "missing" else None)
    if _wants_json(request):
        return web.json_response({"result": result}, status=200 if result == "ok" else 409)
    notice = "" if result == "ok" else f"?notice={'taken_by_other' if result == 'taken' else 'already_closed'}"
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}{notice}")


async def reply(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    ok = await c.service.reply(hid, request[COUNSELLOR_ID], str(form.get("text") or ""))
    if not ok:
        await _audit_refused(request, "reply", await _known(c, hid))
    if _wants_json(request):
        return web.json_response({"ok": ok}, status=200 if ok else 409)
    raise web.HTTPSeeOther(f"{PREFIX}/handoff/{hid}")


async def close(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    hid = request.match_info["id"]
    form = await request.post()
    ok = await c.service.close(hid, request[COUNSELLOR_ID], str(form.get("outcome") or "other"))
    if not ok:
        await _audit_refused(request, "close", await _known(c, hid))
    if _wants_json(request):
        return web.json_response({"ok": ok}, status=200 if ok else 409)
    raise web.HTTPSeeOther(f"{PREFIX}/queue" if ok else f"{PREFIX}/handoff/{hid}?notice=already_closed")


async def _known(c: Console, handoff_id: str) -> str | None:
    """The id if such a handoff exists (the audit's handoff column names real ones only)."""
    async with c.store.transaction() as s:
        return handoff_id if await handoffs.get_handoff(s, handoff_id) is not None else None


async def dismiss(request: web.Request) -> web.Response:
    """Dismiss queued handoffs as spam: one (``/handoff/{id}/dismiss``) or those ticked in the
    queue (``/dismiss``, form field ``ids``). Each is closed, audited, and the bot goes on."""
    c = request.app[CONSOLE]
    form = await request.post()
    single = request.match_info.get("id")
    ids = [single] if single else [str(v) for v in form.getall("ids", [])][:MAX_BULK]
    ids = list(dict.fromkeys(i for i in ids if i))
    dismissed = await c.service.dismiss_spam(ids, request[COUNSELLOR_ID], login_id=request[LOGIN_ID])
    for hid in ids:
        if hid not in dismissed:
            await _audit_refused(request, "dismiss", await _known(c, hid))
    if _wants_json(request):
        return web.json_response({"dismissed": dismissed}, status=200 if dismissed or not ids else 409)
    if single and not dismissed:
        raise web.HTTPSeeOther(f"{PREFIX}/handoff/{single}?notice=already_closed")
    raise web.HTTPSeeOther(f"{PREFIX}/queue")


# ---- office hours and the switch ----------------------------------------------------------------

async def hours_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    now = time.time()
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    avail = await c.service.availability(now)
    async with c.store.transaction() as s:
        switch_on = await switches.switch_is_on(s)
    locale = request_locale(request, c.flow)
    hours = c.service.hours
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    def hhmm(minute: int) -> str:
        return "24:00" if minute == 1440 else f"{(minute // 60) % 24:02d}:{minute % 60:02d}"

    shifts = [(days[d], hhmm(start), hhmm(end)) for d, start, end in sorted(hours.shifts)]
    return render(request, "hours.html", page="hours", switch_on=switch_on, in_hours=hours.is_open(moment),
                  shifts=shifts, closed=sorted(hours.closed), timezone=str(hours.tz),
                  next_opening=format_opening(hours.next_opening(moment), locale, moment),
                  available=avail.available, wait_minutes=c.service.wait_minutes)


async def set_switch(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await request.post()
    await c.service.set_unavailable(request[COUNSELLOR_ID], form.get("on") == "1")
    raise web.HTTPSeeOther(f"{PREFIX}/hours")


# ---- figures ------------------------------------------------------------------------------------

async def figures_page(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    async with c.store.transaction() as s:
        days = await figures.report(s, 14, time.time(), c.settings.timezone)
    return render(request, "figures.html", page="figures", days=days)


# ---- live updates -------------------------------------------------------------------------------

async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``queue`` and ``handoff`` changes (ids only; the page fetches the rest)."""
    c = request.app[CONSOLE]
    with c.bus.subscribe("console") as sub:
        async with http.event_stream(request, "'self'") as stream:
            await stream.response.write(b"retry: 3000\n\n")
            while True:
                message = await sub.get(SSE_PING_SECONDS)
                if message is None:
                    # A logout elsewhere, a disabled account or the idle timeout ends the stream too.
                    if await current_login(request, touch=False) is None:
                        break
                    await stream.comment("ping")
                else:
                    await stream.send(message)
    return stream.response


# ---- wiring -------------------------------------------------------------------------------------

def setup_routes(app: web.Application, service: HandoffService, settings) -> Console:
    """``/console`` and its pages, on ``service``."""
    console = Console(service=service, codec=LoginCodec(settings.secret_keys(), settings.console_login_hours * 3600.0),
                      throttle=LoginThrottle(service.store.crypto), hasher=Argon2Pool(),
                      templates=http.make_templates(), settings=settings,
                      anonymous_audit=RateLimit(ANONYMOUS_AUDIT_PER_HOUR, 3600.0))
    app[CONSOLE] = console
    app[AREAS] = []
    app[HOMES] = {}
    app.middlewares.append(console_guard)

    async def stop_hasher(_app: web.Application) -> None:
        console.hasher.close()

    app.on_cleanup.append(stop_hasher)
    r = app.router
    r.add_get(PREFIX, index)
    r.add_get(f"{PREFIX}/login", login_page)
    r.add_post(f"{PREFIX}/login", login)
    r.add_post(f"{PREFIX}/logout", logout)
    r.add_get(f"{PREFIX}/me", nothing_for_role)
    r.add_get(f"{PREFIX}/queue", queue_page)
    r.add_get(f"{PREFIX}/events", events)
    r.add_get(f"{PREFIX}/handoff/{{id}}", handoff_page)
    r.add_get(f"{PREFIX}/handoff/{{id}}/messages", handoff_messages)
    r.add_post(f"{PREFIX}/handoff/{{id}}/take", take)
    r.add_post(f"{PREFIX}/handoff/{{id}}/reply", reply)
    r.add_post(f"{PREFIX}/handoff/{{id}}/close", close)
    r.add_post(f"{PREFIX}/handoff/{{id}}/dismiss", dismiss)
    r.add_post(f"{PREFIX}/dismiss", dismiss)
    r.add_get(f"{PREFIX}/hours", hours_page)
    r.add_post(f"{PREFIX}/hours", set_switch)
    r.add_get(f"{PREFIX}/figures", figures_page)
    http.add_static(app)
    http.track_streams(app)
    return console
