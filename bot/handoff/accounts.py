"""Console accounts: ``python -m bot counsellor add|password|disable|role|list``, roles, and
checking a login.

Roles: ``counsellor`` talks with people; ``supervisor`` also watches every live conversation and
can join or take over; ``editor`` edits the conversation (the flow editor), and talks with nobody;
``admin`` may do everything, accounts included. ``may(role, capability)`` is the one place that
says which role may do what.

Passwords are hashed with argon2id (``security.hash_password``); the clear password is never
stored nor logged. Names are what counsellors log in with and what the audit log shows to staff;
a person never sees them. A new password or a disabled account ends every login of that
counsellor at once (``bot.store.counsellors.end_logins``).
"""
from __future__ import annotations

import asyncio
import functools
import getpass
import logging
import sys
import time
from dataclasses import dataclass

from bot.store import audit, counsellors

from .account_error import AccountError  # noqa: F401  (re-exported)
from .security import Argon2Pool, hash_password, needs_rehash

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MIN_STRENGTH = 3      # zxcvbn's score (0-4): 3 is "safely unguessable" at 10^8 guesses and more
GUESSABLE = ("first-contact-bot", "counsellor", "console", "soudan", "sextortion")  # words of this service
MAX_NAME = 80

ROLES = ("counsellor", "supervisor", "editor", "admin")
# capability -> the roles that have it
CAPABILITIES = {
    "converse": frozenset({"counsellor", "supervisor", "admin"}),   # the queue, taking, answering
    "supervise": frozenset({"supervisor", "admin"}),                # every live conversation
    "edit": frozenset({"editor", "admin"}),                         # the conversation's texts and flow
    "accounts": frozenset({"admin"}),                               # adding and changing accounts
}


def may(role: str | None, capability: str) -> bool:
    return role in CAPABILITIES[capability]


def check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"a role is one of {', '.join(ROLES)}", "bad_role", roles=", ".join(ROLES))


def check_new_account(name: str, password: str) -> None:
    if not name or len(name) > MAX_NAME or name != name.strip() or any(c.isspace() for c in name):
        raise AccountError(f"a name is 1 to {MAX_NAME} characters with no spaces", "bad_name", max=MAX_NAME)
    check_password(name, password)


@functools.lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(name: str, password: str) -> None:
    """A new password: long enough, not on zxcvbn's list of common (leaked) passwords, and
    scored ``MIN_STRENGTH`` or more by zxcvbn (which counts words, names, dates, keyboard
    patterns, l33t spellings and the account's own name as easy to guess)."""
    from zxcvbn import zxcvbn   # its dictionaries take a fifth of a second to load: only when needed

    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters", "short_password", min=MIN_PASSWORD)
    if password.casefold() in _common_passwords():
        raise AccountError("this password is on a list of common and leaked passwords; choose another",
                           "common_password")
    # zxcvbn refuses more than 72 characters; the first 72 of a longer one say enough.
    if zxcvbn(password[:72], user_inputs=[name, *GUESSABLE])["score"] < MIN_STRENGTH:
        raise AccountError("this password is too easy to guess (a word with numbers, a name, a date or a keyboard "
                           "pattern); use four or more unrelated words", "weak_password")


@dataclass(frozen=True)
class Actor:
    """Who changed an account on the console (the shell has none): an audit row of its own."""

    counsellor_id: int
    login_id: int
    address_hash: str


async def _audited(s, now: float, account_id: int, detail: str, actor: Actor | None) -> None:
    """The change on the account's row and, from the console, who made it."""
    await audit.append(s, audit.ACCOUNT, now, account_id, detail=detail)
    if actor is not None:
        await audit.append(s, audit.ACCOUNT_CHANGED_BY, now, actor.counsellor_id, login_id=actor.login_id,
                           address_hash=actor.address_hash, detail=f"#{account_id} {detail}"[:60])


async def create_counsellor(store, name: str, password: str, *, replace: bool = False,
                            role: str | None = None, actor: Actor | None = None,
                            hasher: Argon2Pool | None = None) -> int:
    """Create an account (or, with ``replace``, set a new password and end its logins; its role
    stays unless ``role`` is given). Returns its id.

    The password check (zxcvbn, about 20 ms) and the hash (argon2, about 100 ms) run off the
    event loop: in ``hasher``'s threads when given (the console's), else in a worker thread."""
    await asyncio.to_thread(check_new_account, name, password)
    if role is not None:
        check_role(role)
    hashed = await (hasher.hash(password) if hasher is not None else asyncio.to_thread(hash_password, password))
    now = time.time()
    async with store.transaction() as s:
        existing = await counsellors.counsellor_by_name(s, name)
        if existing is not None:
            if not replace:
                raise AccountError(f'a counsellor called "{name}" already exists', "name_taken", name=name)
            await counsellors.set_password(s, existing.id, hashed)
            if role is not None and role != existing.role:
                await counsellors.set_role(s, existing.id, role)
            await counsellors.end_logins(s, existing.id, now, "new_password")
            await _audited(s, now, existing.id, "new password", actor)
            return existing.id
        role = role or "counsellor"
        cid = (await counsellors.add_counsellor(s, name, hashed, now, role)).id
        await _audited(s, now, cid, f"added as {role}", actor)
        return cid


async def change_role(store, name: str, role: str, actor: Actor | None = None) -> int:
    """Give an account another role; its logins end (what it may see changes). Returns its id."""
    check_role(role)
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
        if row is None:
            raise AccountError(f'there is no counsellor called "{name}"', "no_such_account", name=name)
        now = time.time()
        await counsellors.set_role(s, row.id, role)
        await counsellors.end_logins(s, row.id, now, "new_role")
        await _audited(s, now, row.id, f"role {role}", actor)
        return row.id


async def list_accounts(store) -> list[tuple[str, str, bool]]:
    """(name, role, active) of every account, by name."""
    async with store.transaction() as s:
        return [(r.name, r.role, r.is_active) for r in await counsellors.every_counsellor(s)]


async def disable_counsellor(store, name: str, actor: Actor | None = None) -> int:
    """Disable an account and end its logins at once. Returns its id."""
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
        if row is None:
            raise AccountError(f'there is no counsellor called "{name}"', "no_such_account", name=name)
        now = time.time()
        await counsellors.disable(s, row.id)
        await counsellors.end_logins(s, row.id, now, "disabled")
        await _audited(s, now, row.id, "disabled", actor)
        return row.id


async def reset_second_factor(store, name: str, actor: Actor | None = None) -> int:
    """Remove an account's second factor (a lost phone) and end its logins: it enrols again at
    its next login (in production it can do nothing else). Returns its id."""
    from .second_factor import reset

    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
        if row is None:
            raise AccountError(f'there is no counsellor called "{name}"', "no_such_account", name=name)
        now = time.time()
        await reset(s, row.id, now)
        await _audited(s, now, row.id, "second factor reset", actor)
        return row.id


async def authenticate(store, name: str, password: str, hasher: Argon2Pool):
    """The active counsellor with this name and password, or None. Upgrades old hashes.

    argon2 runs in ``hasher``'s threads and outside any transaction: on SQLite a transaction
    holds the write lock, which the webhooks' inbox needs too."""
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
        stored = row.password_hash if row is not None and row.is_active else None
    if not await hasher.verify(stored, password):
        return None
    if needs_rehash(stored):
        rehashed = await hasher.hash(password)
        async with store.transaction() as s:
            await counsellors.set_password(s, row.id, rehashed, only_if=stored)
        row.password_hash = rehashed
    return row


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise AccountError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _print_enrolment(name: str, enrolment) -> None:
    """What the admin hands over, in person: printed on this terminal only, never logged."""
    from .second_factor import grouped

    print(f'counsellor "{name}" has a new second factor; every login of theirs has ended.\n'
          f"Add it to an authenticator app (open or scan this address, or type the secret):\n"
          f"  {enrolment.uri}\n  secret: {grouped(enrolment.secret)}\n"
          "One-time recovery codes (each works once, in place of a code from the app; keep them safe):")
    for code in enrolment.recovery_codes:
        print(f"  {code}")


def run_counsellor(settings, action: str, name: str | None, password: str | None, role: str | None = None) -> int:
    """``python -m bot counsellor add|password|disable|role|totp NAME [--password P] [--role R]`` and
    ``counsellor list`` (totp: a new second factor, printed once) (for add and password, the password is read from stdin when omitted)."""
    from bot.store import StoreUnavailable
    from bot.store.commands import with_store

    async def change(store, pw: str | None):
        if action == "list":
            return await list_accounts(store)
        if action == "disable":
            return await disable_counsellor(store, name)
        if action == "role":
            return await change_role(store, name, role or "")
        if action == "totp":
            from .second_factor import enrol_by_name
            return await enrol_by_name(store, name)
        return await create_counsellor(store, name, pw, replace=action == "password",
                                       role=role if action == "add" else None)

    done = {"add": "added", "password": "has a new password; every login of theirs has ended",
            "disable": "is disabled; every login of theirs has ended",
            "role": f"is now {role}; every login of theirs has ended"}.get(action, "")
    try:
        if action != "list" and not name:
            raise AccountError("name the account")
        if action in ("add", "role") and role is not None:
            check_role(role)
        if action == "role" and role is None:
            raise AccountError("--role is needed")
        pw = None
        if action in ("add", "password"):
            pw = password if password is not None else _read_password()
            check_new_account(name, pw)
        result = with_store(settings, lambda store: change(store, pw))
    except AccountError as exc:
        print(f"counsellor not changed: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"database: {exc} (DATABASE_URL or BOT_DATA_DIR)", file=sys.stderr)
        return 1
    if action == "list":
        for account, account_role, active in result:
            print(f"{account}\t{account_role}\t{'active' if active else 'disabled'}")
        return 0
    if action == "totp":
        _print_enrolment(name, result)
        return 0
    print(f'counsellor "{name}" {done} (id {result})' + ("; log in at /console" if action == "add" else ""))
    return 0
