"""The second factor in the console: the login's second step (a code after the right password)
and ``/console/totp``, where a logged-in counsellor enrols their own authenticator app.

A wrong or reused code counts in the login throttle like a wrong password and is audited. The
second step is bound to the pre-login cookie (its CSRF token too) and to the password's hash,
and lasts ``security.SECOND_STEP_SECONDS``. The secret being enrolled travels in the form
sealed to the login (nobody else's form opens it) until a code from it proves the app has it.
"""
from __future__ import annotations

import logging
import time

from aiohttp import web
from markupsafe import Markup

from bot.http import client_address, request_locale
from bot.store import audit, counsellors
from bot.store.crypto import DecryptError, where

from . import second_factor
from .console_core import (CONSOLE, COUNSELLOR_ID, COUNSELLOR_NAME, LOGIN_ID, PRE_LOGIN, SECOND_FACTOR_SET,
                           address_hash, render, texts)
from .console_login import checked_form, start_login, throttle_wait, throttled
from .security import password_fingerprint

log = logging.getLogger(__name__)


async def login_code(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await checked_form(request)
    if form is None:
        return render(request, "error.html", status=403, message_key="forbidden")
    token = str(form.get("pending") or "")[:1000]
    pending = c.codec.read_second_step(token, request[PRE_LOGIN])
    if pending is None:
        return render(request, "login.html", status=401, error=("login_code_expired", {}))
    counsellor_id, fingerprint, name = pending
    address = client_address(request)
    wait = await throttle_wait(request, name, address)
    if wait > 0:
        return throttled(request, wait, template="login_code.html", pending=token)
    async with c.store.transaction() as s:
        row = await counsellors.counsellor_by_id(s, counsellor_id)
    if row is None or not row.is_active or row.totp_secret_enc is None \
            or password_fingerprint(row.password_hash) != fingerprint:
        return render(request, "login.html", status=401, error=("login_code_expired", {}))
    outcome = await second_factor.check(c.store, row.id, str(form.get("code") or "")[:40])
    if outcome in (second_factor.WRONG, second_factor.REUSED):
        log.info("console.login_code_refused", extra={"reason": outcome})
        async with c.store.transaction() as s:
            await c.throttle.failed(s, name, address)
            await audit.append(s, audit.LOGIN_FAILED, time.time(), row.id, address_hash=address_hash(c, address),
                               detail=f"{outcome} code")
        return render(request, "login_code.html", status=401, pending=token, error=(f"login_code_{outcome}", {}))
    return await start_login(request, row, name, address,
                             detail="recovery code" if outcome == second_factor.RECOVERY else None)


def _seal(request: web.Request, secret: str) -> str:
    return request.app[CONSOLE].store.crypto.encrypt_to_text(secret, where("console_logins", "totp_enrol",
                                                                             request[LOGIN_ID]))


def _enrol_form(request: web.Request, secret: str, error=None, status: int = 200) -> web.Response:
    c = request.app[CONSOLE]
    enrolled = request[SECOND_FACTOR_SET]
    uri = second_factor.provisioning_uri(secret, request[COUNSELLOR_NAME])
    return render(request, "second_factor.html", status=status, page="totp", error=error, codes=None,
                  enrolled=enrolled, required=c.require_second_factor and not enrolled,
                  secret=second_factor.grouped(secret), sealed=_seal(request, secret), uri=uri,
                  qr=Markup(second_factor.qr_svg(uri, texts(c.flow, request_locale(request, c.flow))("totp_qr"))))


async def second_factor_page(request: web.Request) -> web.Response:
    return _enrol_form(request, second_factor.new_secret())


async def enrol_second_factor(request: web.Request) -> web.Response:
    c = request.app[CONSOLE]
    form = await request.post()
    try:
        secret = c.store.crypto.decrypt_text(str(form.get("sealed") or ""),
                                             where("console_logins", "totp_enrol", request[LOGIN_ID]))
    except DecryptError:
        return render(request, "error.html", status=400, message_key="forbidden")
    step = second_factor.matching_step(secret, str(form.get("code") or "")[:20], time.time())
    if step is None:
        return _enrol_form(request, secret, error=("totp_wrong_code", {}), status=400)
    codes = await second_factor.enrol(c.store, request[COUNSELLOR_ID], secret, end_logins=False, used_step=step)
    log.info("console.second_factor_enrolled", extra={"counsellor": request[COUNSELLOR_ID]})
    return render(request, "second_factor.html", page="totp", codes=codes)
