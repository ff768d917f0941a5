"""Counsellor accounts: ``python -m bot counsellor add|password|disable NAME``, and checking a login.

Passwords are hashed with argon2id (``security.hash_password``); the clear password is never
stored nor logged. Names are what counsellors log in with and what the audit log shows to staff;
a person never sees them. A new password or a disabled account ends every login of that
counsellor at once (``bot.store.counsellors.end_logins``).
"""
from __future__ import annotations

import getpass
import logging
import sys
import time

from bot.store import audit, counsellors

from .security import Argon2Pool, hash_password, needs_rehash

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_NAME = 80


class AccountError(ValueError):
    """A name or password that cannot be used; the message says why."""


def check_new_account(name: str, password: str) -> None:
    if not name or len(name) > MAX_NAME or name != name.strip() or any(c.isspace() for c in name):
        raise AccountError(f"a name is 1 to {MAX_NAME} characters with no spaces")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


async def create_counsellor(store, name: str, password: str, *, replace: bool = False) -> int:
    """Create an account (or, with ``replace``, set a new password and end its logins). Returns its id."""
    check_new_account(name, password)
    hashed = hash_password(password)
    now = time.time()
    async with store.transaction() as s:
        existing = await counsellors.counsellor_by_name(s, name)
        if existing is not None:
            if not replace:
                raise AccountError(f'a counsellor called "{name}" already exists')
            await counsellors.set_password(s, existing.id, hashed)
            await counsellors.end_logins(s, existing.id, now, "new_password")
            await audit.append(s, audit.ACCOUNT, now, existing.id, detail="new password")
            return existing.id
        cid = (await counsellors.add_counsellor(s, name, hashed, now)).id
        await audit.append(s, audit.ACCOUNT, now, cid, detail="added")
        return cid


async def disable_counsellor(store, name: str) -> int:
    """Disable an account and end its logins at once. Returns its id."""
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
        if row is None:
            raise AccountError(f'there is no counsellor called "{name}"')
        now = time.time()
        await counsellors.disable(s, row.id)
        await counsellors.end_logins(s, row.id, now, "disabled")
        await audit.append(s, audit.ACCOUNT, now, row.id, detail="disabled")
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


def run_counsellor(settings, action: str, name: str, password: str | None) -> int:
    """``python -m bot counsellor add|password|disable NAME [--password P]`` (for add and
    password, the password is read from stdin when omitted)."""
    from bot.store import StoreUnavailable
    from bot.store.commands import with_store

    async def change(store, pw: str | None) -> int:
        if action == "disable":
            return await disable_counsellor(store, name)
        return await create_counsellor(store, name, pw, replace=action == "password")

    done = {"add": "added", "password": "has a new password; every login of theirs has ended",
            "disable": "is disabled; every login of theirs has ended"}[action]
    try:
        pw = None
        if action != "disable":
            pw = password if password is not None else _read_password()
            check_new_account(name, pw)
        cid = with_store(settings, lambda store: change(store, pw))
    except AccountError as exc:
        print(f"counsellor not changed: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"database: {exc} (DATABASE_URL or BOT_DATA_DIR)", file=sys.stderr)
        return 1
    print(f'counsellor "{name}" {done} (id {cid})' + ("; log in at /console" if action == "add" else ""))
    return 0

