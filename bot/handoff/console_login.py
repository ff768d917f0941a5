"""The console's login and logout pages (the login throttle, argon2 off the event loop)."""
from __future__ import annotations

import logging
import secrets
import time

from aiohttp import web

from bot.http import address_key, client_address
from bot.store import audit, counsellors

from .accounts import AccountError, authenticate, create_counsellor
from .console_core import (CONSOLE, COUNSELLOR_ID, COUNSELLOR_NAME, CONSOLE_LOGIN, LOGIN_ID, PRE_LOGIN, PREFIX, ROLE,
                           address_hash,
                           audit_anonymous, clear_cookie, cookie_name, home_for, render, route_detail, set_cookie)
from .security import COOKIE, PRE_COOKIE, HasherBusy

log = logging.getLogger(__name__)

async def login_page(request: web.Request) -> web.Response:
    if request.get(CONSOLE_LOGIN):
        raise web.HTTPSeeOther(home_for(request.app, request[ROLE]))
    pre = secrets.token_urlsafe(16)
    request[PRE_LOGIN] = pre
    response = render(request, "login.html", error=None)
    set_cookie(request, response, PRE_COOKIE, pre, max_age=3600)
    return response


def throttled(request: web.Request, wait: float, status: int = 429, template: str = "login.html",
              **context) -> web.Response:
    seconds = max(1, int(wait + 0.999))
    error = ("login_throttled", {"minutes": (seconds + 59) // 60}) if seconds >= 60 else \
        ("login_throttled_seconds", {"seconds": seconds})
    response = render(request, template, status=status, error=error, **context)
    response.headers["Retry-After"] = str(seconds)
    return response


async def checked_form(request: web.Request):
    """The login form of this pre-login cookie (its CSRF token checked), or None (refused)."""
    c = request.app[CONSOLE]
    form = await request.post()
    pre = request.cookies.get(cookie_name(request, PRE_COOKIE))
    if not c.codec.check_csrf(pre, str(form.get("csrf") or "")):
        log.warning("console.csrf_refused", extra={"path": "login"})
        await audit_anonymous(request, audit.CSRF_REFUSED, route_detail(request))
        return None
    request[PRE_LOGIN] = pre
    return form


async def throttle_wait(request: web.Request, name: str, address: str) -> float:
    """Seconds this name from this address must wait (wrong passwords and wrong codes alike);
    a throttled try is audited."""
    c = request.app[CONSOLE]
    # Few transactions per attempt: on SQLite each one takes the write lock the webhooks need too.
    async with c.store.transaction() as s:
        wait = await c.throttle.retry_after(s, name, address)
        if wait > 0:
            known = await counsellors.counsellor_by_name(s, name)
            if c.anonymous_audit.allow(address_key(address)):
                await audit.append(s, audit.LOGIN_THROTTLED, time.time(), known.id if known else None,
                                   address_hash=address_hash(c, address))
    if wait > 0:
        log.warning("console.login_throttled")
    return wait


async def login(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await checked_form(request)
    if form is None:
        return render(request, "error.html", status=403, message_key="forbidden")
    pre = request[PRE_LOGIN]
    name, password = str(form.get("name") or "")[:80], str(form.get("password") or "")[:1000]
    address = client_address(request)
    wait = await throttle_wait(request, name, address)
    if wait > 0:
        return throttled(request, wait)
    try:
        row = await authenticate(c.store, name, password, c.hasher)
    except HasherBusy:
        log.warning("console.login_busy")
        return throttled(request, 5, status=503)
    if row is None:
        log.info("console.login_failed")
        async with c.store.transaction() as s:
            await c.throttle.failed(s, name, address)
            known = await counsellors.counsellor_by_name(s, name)
            await audit.append(s, audit.LOGIN_FAILED, time.time(), known.id if known else None,
                          address_hash=address_hash(c, address), detail="" if known else "unknown name")
        return render(request, "login.html", status=401, error=("login_failed", {}))
    if row.totp_secret_enc is not None:   # the password was right: now the code
        pending = c.codec.second_step(row.id, row.password_hash, pre, name)
        return render(request, "login_code.html", pending=pending, error=None)
    return await start_login(request, row, name, address)


async def start_login(request: web.Request, row, name: str, address: str, detail: str | None = None):
    """The login's row, its audit and its cookie; off to the role's first page."""
    c = request.app[CONSOLE]
    token, cookie = c.codec.issue(row.id, row.password_hash)
    now = time.time()
    async with c.store.transaction() as s:
        await c.throttle.succeeded(s, name, address)
        login_id = await counsellors.add_login(s, row.id, cookie.token_hash, now)
        await audit.append(s, audit.LOGGED_IN, now, row.id, login_id=login_id, address_hash=address_hash(c, address),
                           detail=detail)
    log.info("console.login", extra={"counsellor": row.id})
    response = web.HTTPSeeOther(home_for(request.app, row.role))
    set_cookie(request, response, COOKIE, token, max_age=int(c.codec.max_age))
    clear_cookie(request, response, PRE_COOKIE)
    raise response


async def logout(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    now = time.time()
    async with c.store.transaction() as s:
        await counsellors.end_login(s, request[LOGIN_ID], now, "logout")
        await audit.append(s, audit.LOGGED_OUT, now, request[COUNSELLOR_ID], login_id=request[LOGIN_ID],
                      address_hash=address_hash(c, client_address(request)))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    clear_cookie(request, response, COOKIE)
    raise response


# ---- one's own password -------------------------------------------------------------------------

async def password_page(request: web.Request) -> web.Response:
    return render(request, "password.html", page="password", error=None)


async def change_password(request: web.Request) -> web.Response:
    """The current password, then a new one (twice), checked like every new password. Every
    login of the account ends, this one too: the next page is the login."""
    c = request.app[CONSOLE]
    form = await request.post()
    name = request[COUNSELLOR_NAME]
    current, new = str(form.get("current") or "")[:1000], str(form.get("new") or "")[:1000]
    address = client_address(request)
    wait = await throttle_wait(request, name, address)
    if wait > 0:
        return throttled(request, wait, template="password.html", page="password")
    try:
        row = await authenticate(c.store, name, current, c.hasher)
    except HasherBusy:
        return throttled(request, 5, status=503, template="password.html", page="password")
    if row is None:   # someone at an unlocked screen: counted like a wrong password at the login
        async with c.store.transaction() as s:
            await c.throttle.failed(s, name, address)
            await audit.append(s, audit.LOGIN_FAILED, time.time(), request[COUNSELLOR_ID], login_id=request[LOGIN_ID],
                               address_hash=address_hash(c, address), detail="wrong password (change)")
        return render(request, "password.html", status=401, page="password", error=("login_failed", {}))
    try:
        if new != str(form.get("again") or "")[:1000]:
            raise AccountError("the two passwords differ", "password_mismatch")
        await create_counsellor(c.store, name, new, replace=True, hasher=c.hasher)
    except AccountError as exc:
        return render(request, "password.html", status=400, page="password",
                      error=("account_error." + exc.key, {k: str(v) for k, v in exc.variables.items()}))
    except HasherBusy:
        return throttled(request, 5, status=503, template="password.html", page="password")
    log.info("console.password_changed", extra={"counsellor": request[COUNSELLOR_ID]})
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    clear_cookie(request, response, COOKIE)
    raise response
