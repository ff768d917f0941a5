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

import logging

from aiohttp import web

from bot import http
from bot.http import RateLimit
from bot.store import audit

from .accounts import may
from .console_core import (  # noqa: F401  (re-exported: other packages use these from here)
    AREAS, CONSOLE, CONSOLE_LOGIN, COUNSELLOR_ID, COUNSELLOR_NAME, EVENTS, HOMES, LOGIN_ID, PREFIX, PUBLIC, ROLE,
    SECOND_FACTOR, SECOND_FACTOR_SET, SECOND_STEP,
    Console, CurrentLogin, audit_anonymous, audit_refused, capability_for, current_login, home_for, is_live, render,
    restrict, route_detail, secure_headers)
from . import console_accounts, console_editor, console_editor_tools, console_transfer
from .console_history import history_item, history_page
from .console_live import alerts, events
from .console_login import change_password, login, login_page, logout, password_page
from .console_second import enrol_second_factor, login_code, second_factor_page
from .console_pages import (dismiss, figures_page, handoff_messages, handoff_page, hours_page, index,
                            nothing_for_role, queue_page, reply, set_switch, take)
from .console_wrapup import close, note
from .security import Argon2Pool, LoginCodec, LoginThrottle
from .service import HandoffService

log = logging.getLogger(__name__)

# Audit rows that requests without a login can cause, per address (a flood must not fill the log).
ANONYMOUS_AUDIT_PER_HOUR = 60
ENROL_ONLY = {SECOND_FACTOR, f"{PREFIX}/logout"}  # all a login without a second factor may use, where one is required


@web.middleware
async def console_guard(request: web.Request, handler):
    """Login and CSRF for everything under /console; security headers on every console answer."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    c = request.app[CONSOLE]
    login = await current_login(request, touch=not (is_live(request) or request.path == EVENTS))
    if login is not None:
        request[CONSOLE_LOGIN] = login.cookie
        request[LOGIN_ID] = login.login_id
        request[COUNSELLOR_ID] = login.cookie.counsellor_id
        request[COUNSELLOR_NAME] = login.counsellor_name
        request[ROLE] = login.role
        request[SECOND_FACTOR_SET] = login.has_second_factor
    if request.path not in PUBLIC:
        if login is None:
            if request.method == "GET" and not is_live(request) \
                    and "text/event-stream" not in request.headers.get("Accept", ""):
                raise web.HTTPSeeOther(f"{PREFIX}/login")
            if request.method not in ("GET", "HEAD"):
                await audit_anonymous(request, audit.REFUSED, "login required: " + route_detail(request))
            return secure_headers(web.json_response({"error": "login required"}, status=401))
        if request.method not in ("GET", "HEAD"):
            form = await request.post()
            token = form.get("csrf") or request.headers.get("X-CSRF-Token")
            if not c.codec.check_csrf(login.cookie.nonce, str(token) if token else None):
                log.warning("console.csrf_refused", extra={"path": request.path})
                await audit_refused(request, route_detail(request), request.match_info.get("id"), audit.CSRF_REFUSED)
                return secure_headers(render(request, "error.html", status=403, message_key="forbidden"))
        if c.require_second_factor and not login.has_second_factor and request.path not in ENROL_ONLY:
            # Production: a login without a second factor may only enrol one (or log out).
            await audit_refused(request, route_detail(request))
            if request.method == "GET" and not is_live(request):
                raise web.HTTPSeeOther(SECOND_FACTOR)
            return secure_headers(render(request, "error.html", status=403, message_key="second_factor_required"))
        capability = capability_for(request)
        if capability is not None and not may(login.role, capability):
            await audit_refused(request, route_detail(request), request.match_info.get("id"), audit.REFUSED)
            if request.method == "GET" and not is_live(request):
                home = home_for(request.app, login.role)   # a page this role may see
                if home != request.path:
                    raise web.HTTPSeeOther(home)
            return secure_headers(render(request, "error.html", status=403, message_key="role_forbidden",
                                   message_vars={"role": login.role}))
    response = await handler(request)
    return secure_headers(response)


def second_factor_required(settings) -> bool:
    """Every account needs a second factor in production; elsewhere (development, ``serve
    --demo``) it is asked for only where one is enrolled."""
    return settings.bot_env == "production"


# ---- wiring -------------------------------------------------------------------------------------

def setup_routes(app: web.Application, service: HandoffService, settings) -> Console:
    """``/console`` and its pages, on ``service``."""
    console = Console(service=service, codec=LoginCodec(settings.secret_keys(), settings.console_login_hours * 3600.0),
                      throttle=LoginThrottle(service.store.crypto), hasher=Argon2Pool(),
                      templates=http.make_templates(), settings=settings,
                      anonymous_audit=RateLimit(ANONYMOUS_AUDIT_PER_HOUR, 3600.0),
                      require_second_factor=second_factor_required(settings))
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
    r.add_post(SECOND_STEP, login_code)
    r.add_get(SECOND_FACTOR, second_factor_page)
    r.add_get(f"{PREFIX}/password", password_page)
    r.add_post(f"{PREFIX}/password", change_password)
    r.add_post(SECOND_FACTOR, enrol_second_factor)
    r.add_get(f"{PREFIX}/me", nothing_for_role)
    r.add_get(f"{PREFIX}/queue", queue_page)
    r.add_get(f"{PREFIX}/events", events)
    r.add_get(f"{PREFIX}/alerts", alerts)
    r.add_get(f"{PREFIX}/handoff/{{id}}", handoff_page)
    r.add_get(f"{PREFIX}/handoff/{{id}}/messages", handoff_messages)
    r.add_post(f"{PREFIX}/handoff/{{id}}/take", take)
    r.add_post(f"{PREFIX}/handoff/{{id}}/reply", reply)
    r.add_post(f"{PREFIX}/handoff/{{id}}/close", close)
    r.add_post(f"{PREFIX}/handoff/{{id}}/note", note)
    r.add_post(f"{PREFIX}/handoff/{{id}}/dismiss", dismiss)
    r.add_post(f"{PREFIX}/dismiss", dismiss)
    r.add_get(f"{PREFIX}/history", history_page)
    r.add_get(f"{PREFIX}/history/{{id}}", history_item)
    r.add_get(f"{PREFIX}/hours", hours_page)
    r.add_post(f"{PREFIX}/hours", set_switch)
    r.add_get(f"{PREFIX}/figures", figures_page)
    console_accounts.setup(app)
    console_transfer.setup(app)
    console_editor.setup(app, service.store, settings)
    console_editor_tools.setup(app, settings)
    http.add_static(app)
    http.track_streams(app)
    return console
