"""The admin's accounts page, ``/console/accounts`` (capability ``accounts``: admins only).

Lists every account (role, active, second factor, last login) and adds one, disables one, gives
one a new password, changes a role, resets a second factor. A new or reset password is made
here (``new_password``, strong by construction) and shown once, to hand over in person; the
counsellor then chooses their own on "password". Every action is in the audit log twice: the
change on the account's row, and who made it (``audit.ACCOUNT_CHANGED_BY``: the admin, the
login, the keyed hash of the address). An admin does not disable, or change the role of, their
own account here (the last admin would lock everyone out): that is for the shell.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from aiohttp import web

from bot.http import client_address
from bot.store import counsellors

from . import accounts
from .accounts import ROLES, AccountError, Actor
from .security import HasherBusy
from .console_core import CONSOLE, COUNSELLOR_ID, LOGIN_ID, PREFIX, address_hash, render
from .console_live import LOGINS_ENDED

log = logging.getLogger(__name__)

ACCOUNTS = f"{PREFIX}/accounts"


def new_password() -> str:
    """A password to hand over: four groups of five letters and digits (about 95 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"   # nothing that reads as another character
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _actor(request: web.Request) -> Actor:
    c = request.app[CONSOLE]
    return Actor(request[COUNSELLOR_ID], request[LOGIN_ID], address_hash(c, client_address(request)))


async def _rows(request: web.Request) -> list[dict]:
    c = request.app[CONSOLE]
    async with c.store.transaction() as s:
        every = await counsellors.every_counsellor(s)
        last = await counsellors.last_logins(s)
    tz = c.tz
    return [{"id": r.id, "name": r.name, "role": r.role, "active": r.is_active,
             "second_factor": r.totp_secret_enc is not None,
             "last_login": dt.datetime.fromtimestamp(last[r.id], tz).strftime("%Y-%m-%d %H:%M") if r.id in last else "",
             "self": r.id == request[COUNSELLOR_ID]} for r in every]


async def _page(request: web.Request, status: int = 200, **context) -> web.Response:
    return render(request, "accounts.html", status=status, page="accounts", accounts=await _rows(request),
                  roles=ROLES, **{"error": None, "done": None, "handover": None, **context})


async def accounts_page(request: web.Request) -> web.Response:
    return await _page(request)


def _refused(exc: AccountError) -> tuple[str, dict]:
    return "account_error." + exc.key, {k: str(v) for k, v in exc.variables.items()}


async def add_account(request: web.Request) -> web.Response:
    form = await request.post()
    name, role = str(form.get("name") or "").strip()[:200], str(form.get("role") or "")
    password = new_password()
    try:
        await accounts.create_counsellor(request.app[CONSOLE].store, name, password, role=role or None,
                                         actor=_actor(request), hasher=request.app[CONSOLE].hasher)
    except AccountError as exc:
        return await _page(request, status=400, error=_refused(exc))
    except HasherBusy:
        return await _page(request, status=503, error=("login_throttled_seconds", {"seconds": 5}))
    log.info("console.account_added", extra={"by": request[COUNSELLOR_ID]})
    return await _page(request, done=("account_added", {"name": name}), handover=(name, password))


async def _target(request: web.Request):
    try:
        account_id = int(request.match_info["account"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with request.app[CONSOLE].store.transaction() as s:
        row = await counsellors.counsellor_by_id(s, account_id)
    if row is None:
        raise web.HTTPNotFound()
    return row


async def change_account(request: web.Request) -> web.Response:
    """``POST /console/accounts/{account}/{action}``: disable, password, role, second_factor."""
    store, action = request.app[CONSOLE].store, request.match_info["action"]
    row = await _target(request)
    form = await request.post()
    actor = _actor(request)
    handover = None
    try:
        if row.id == request[COUNSELLOR_ID] and action in ("disable", "role"):
            raise AccountError("not your own account here", "own_account")
        if action == "disable":
            await accounts.disable_counsellor(store, row.name, actor=actor)
        elif action == "role":
            await accounts.change_role(store, row.name, str(form.get("role") or ""), actor=actor)
        elif action == "password":
            handover = (row.name, new_password())
            await accounts.create_counsellor(store, row.name, handover[1], replace=True, actor=actor,
                                             hasher=request.app[CONSOLE].hasher)
        elif action == "second_factor":
            await accounts.reset_second_factor(store, row.name, actor=actor)
        else:
            raise web.HTTPNotFound()
    except AccountError as exc:
        return await _page(request, status=400, error=_refused(exc))
    except HasherBusy:
        return await _page(request, status=503, error=("login_throttled_seconds", {"seconds": 5}))
    log.info("console.account_changed", extra={"by": request[COUNSELLOR_ID], "action": action})
    # Every action here ends the account's logins: its open pages leave at once, not at the next ping.
    await request.app[CONSOLE].bus.publish("console", {"what": LOGINS_ENDED})
    return await _page(request, done=(f"account_{action}_done", {"name": row.name}), handover=handover)


def setup(app: web.Application) -> None:
    from .console_core import restrict

    restrict(app, ACCOUNTS, "accounts")
    app.router.add_get(ACCOUNTS, accounts_page)
    app.router.add_post(f"{ACCOUNTS}/add", add_account)
    app.router.add_post(f"{ACCOUNTS}/{{account}}/{{action}}", change_account)
