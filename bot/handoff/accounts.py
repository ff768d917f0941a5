"""Counsellor accounts: ``python -m bot counsellor add NAME``, and checking a login.

Passwords are hashed with argon2id (``security.hash_password``); the clear password is never
stored nor logged. Names are what counsellors log in with and what the audit log shows to staff;
a person never sees them.
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import sys
import time

from . import queries as q
from .security import hash_password, needs_rehash, verify_password

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
    """Create an account (or, with ``replace``, set a new password). Returns its id."""
    check_new_account(name, password)
    hashed = hash_password(password)
    async with store.transaction() as s:
        existing = await q.counsellor_by_name(s, name)
        if existing is not None:
            if not replace:
                raise AccountError(f'a counsellor called "{name}" already exists')
            await q.set_password(s, existing.id, hashed)
            return existing.id
        return (await q.add_counsellor(s, name, hashed, time.time())).id


async def authenticate(store, name: str, password: str):
    """The active counsellor with this name and password, or None. Upgrades old hashes."""
    async with store.transaction() as s:
        row = await q.counsellor_by_name(s, name)
        stored = row.password_hash if row is not None and row.is_active else None
        if not verify_password(stored, password):
            return None
        if needs_rehash(stored):
            row.password_hash = hash_password(password)
        return row


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise AccountError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def run_add_counsellor(settings, name: str, password: str | None) -> int:
    """``python -m bot counsellor add NAME [--password P]`` (the password is read from stdin when omitted)."""
    from bot.store import Store, StoreUnavailable

    async def go(pw: str) -> int:
        store = Store.from_settings(settings)
        try:
            await store.upgrade()
            return await create_counsellor(store, name, pw)
        finally:
            await store.dispose()

    try:
        pw = password if password is not None else _read_password()
        check_new_account(name, pw)
        cid = asyncio.run(go(pw))
    except AccountError as exc:
        print(f"counsellor not added: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"database: {exc} (DATABASE_URL or BOT_DATA_DIR)", file=sys.stderr)
        return 1
    print(f'counsellor "{name}" added (id {cid}); log in at /console')
    return 0


async def disable_counsellor(store, name: str) -> bool:
    """Mark an account inactive (it can no longer log in); False when there is none by that name."""
    async with store.transaction() as s:
        row = await q.counsellor_by_name(s, name)
        if row is None:
            return False
        row.is_active = False
        return True


def run_disable_counsellor(settings, name: str) -> int:
    """``python -m bot counsellor disable NAME``."""
    from bot.store import Store, StoreUnavailable

    async def go() -> bool:
        store = Store.from_settings(settings)
        try:
            await store.upgrade()
            return await disable_counsellor(store, name)
        finally:
            await store.dispose()

    try:
        found = asyncio.run(go())
    except StoreUnavailable as exc:
        print(f"database: {exc} (DATABASE_URL or BOT_DATA_DIR)", file=sys.stderr)
        return 1
    if not found:
        print(f'no counsellor called "{name}"', file=sys.stderr)
        return 1
    print(f'counsellor "{name}" disabled')
    return 0
