"""Counsellor accounts: created hashed, checked off the event loop, and from the command line."""
import asyncio
import threading
import time

import pytest
from sqlalchemy import select

from bot.store import counsellors, switches
from bot.handoff import security
from bot.handoff.accounts import AccountError, authenticate, create_counsellor, disable_counsellor, run_counsellor
from bot.handoff.security import Argon2Pool, HasherBusy
from bot.settings import Settings
from bot.store.models import AuditEntry


@pytest.fixture
async def hasher():
    pool = Argon2Pool(threads=1, waiting=4)
    yield pool
    pool.close()


async def test_create_and_authenticate(store, hasher):
    cid = await create_counsellor(store, "aiko", "a long password")
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_id(s, cid)
    assert row.password_hash.startswith("$argon2id$") and "a long password" not in row.password_hash
    assert (await authenticate(store, "aiko", "a long password", hasher)).id == cid
    assert await authenticate(store, "aiko", "wrong password", hasher) is None
    assert await authenticate(store, "nobody", "a long password", hasher) is None
    with pytest.raises(AccountError):
        await create_counsellor(store, "aiko", "another password")
    with pytest.raises(AccountError):
        await create_counsellor(store, "ben", "short")
    await create_counsellor(store, "aiko", "a new long password", replace=True)
    await disable_counsellor(store, "aiko")
    assert await authenticate(store, "aiko", "a new long password", hasher) is None
    async with store.transaction() as s:
        trail = (await s.execute(select(AuditEntry.action, AuditEntry.counsellor_id, AuditEntry.detail)
                                 .order_by(AuditEntry.id))).all()
    assert [tuple(r) for r in trail] == [("account", cid, "added as counsellor"), ("account", cid, "new password"),
                                         ("account", cid, "disabled")]


async def test_argon2_runs_in_a_worker_thread_outside_any_transaction(store, hasher, monkeypatch):
    """One argon2 hash is ~0.1 s of CPU: on the event loop it stalled every other request, and
    inside the login's transaction it held SQLite's write lock (the webhooks' inbox waited)."""
    await create_counsellor(store, "aiko", "a long password")
    real = security.verify_password
    seen, release = [], threading.Event()

    def slow_verify(stored, password):
        seen.append(threading.current_thread().name)
        release.wait(5)
        return real(stored, password)

    monkeypatch.setattr(security, "verify_password", slow_verify)
    login = asyncio.create_task(authenticate(store, "aiko", "wrong password", hasher))
    while not seen:
        await asyncio.sleep(0.01)
    # While argon2 works: the event loop answers, and another transaction can write at once.
    started = time.perf_counter()
    async with asyncio.timeout(2):
        async with store.transaction() as s:
            await switches.set_switch(s, True, time.time())
    assert time.perf_counter() - started < 1.0
    release.set()
    assert await login is None
    assert seen[0].startswith("argon2") and seen[0] != threading.main_thread().name


async def test_a_flood_of_logins_waits_in_a_bounded_line(monkeypatch):
    pool = Argon2Pool(threads=1, waiting=2)
    running, most, release = [0], [0], threading.Event()

    def slow_verify(stored, password):
        running[0] += 1
        most[0] = max(most[0], running[0])
        release.wait(5)
        running[0] -= 1
        return False

    monkeypatch.setattr(security, "verify_password", slow_verify)
    tasks = [asyncio.create_task(pool.verify(None, "x")) for _ in range(3)]  # one hashing, two waiting
    await asyncio.sleep(0.05)
    with pytest.raises(HasherBusy):
        await pool.verify(None, "x")
    release.set()
    assert await asyncio.gather(*tasks) == [False, False, False]
    assert most[0] == 1  # one thread: never two hashes at once
    pool.close()


def test_command_line(tmp_path, capsys):
    settings = Settings.from_env(BOT_DATA_DIR=str(tmp_path))
    assert run_counsellor(settings, "add", "aiko", "a long password") == 0
    assert "a long password" not in capsys.readouterr().out
    assert run_counsellor(settings, "add", "aiko", "a long password") == 1
    assert "already exists" in capsys.readouterr().err
    assert run_counsellor(settings, "add", "ben", "short") == 1
    assert run_counsellor(settings, "password", "aiko", "another long password") == 0
    assert "every login of theirs has ended" in capsys.readouterr().out
    assert run_counsellor(settings, "disable", "aiko", None) == 0
    assert run_counsellor(settings, "disable", "nobody", None) == 1
