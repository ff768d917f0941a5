"""The audit log's hash chain (issue 16): each row holds the hash of the row before; a changed,
removed or reordered row is found, by ``python -m bot audit verify`` too; rows written before
the chain existed are chained by the migration; writers in two processes never fork it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from bot.store import audit
from bot.store.models import AuditEntry

ROOT = Path(__file__).resolve().parents[2]


async def append_some(store, n: int, start: float = 1_800_000_000.0) -> None:
    for i in range(n):
        async with store.transaction() as s:
            await audit.append(s, "took", start + i, counsellor_id=1 + i % 2, handoff_id=f"h{i}", login_id=7,
                               address_hash="ab" * 16, detail=None)


async def ids(store) -> list[int]:
    async with store.transaction() as s:
        return [i for (i,) in await s.execute(select(AuditEntry.id).order_by(AuditEntry.id))]


async def test_an_intact_chain_checks_out(store):
    assert (await audit.verify(store)).intact
    await append_some(store, 5)
    verdict = await audit.verify(store)
    assert verdict.intact and verdict.rows == 5 and verdict.head != audit.GENESIS


async def test_a_changed_row_is_named(store):
    await append_some(store, 5)
    third = (await ids(store))[2]
    async with store.transaction() as s:
        await s.execute(update(AuditEntry).where(AuditEntry.id == third).values(counsellor_id=99))
    verdict = await audit.verify(store)
    assert verdict.broken_at == third and "changed" in verdict.reason


async def test_a_removed_row_breaks_the_link_to_the_next(store):
    await append_some(store, 5)
    rows = await ids(store)
    async with store.transaction() as s:
        await s.execute(delete(AuditEntry).where(AuditEntry.id == rows[1]))
    verdict = await audit.verify(store)
    assert verdict.broken_at == rows[2] and "removed" in verdict.reason


async def test_a_row_written_around_the_chain_is_named(store):
    await append_some(store, 2)
    async with store.transaction() as s:
        await s.execute(insert(AuditEntry).values(action="took", at=1.0))
    verdict = await audit.verify(store)
    assert verdict.broken_at == (await ids(store))[-1] and "no hash" in verdict.reason


async def test_two_processes_appending_at_once_never_fork_the_chain(store_target, store):
    other = store_target.make()
    try:
        await asyncio.gather(append_some(store, 15), append_some(other, 15, start=1_900_000_000.0))
    finally:
        await other.dispose()
    verdict = await audit.verify(store)
    assert verdict.intact and verdict.rows == 30


async def test_the_migration_chains_rows_written_before_it(store_target):
    from bot.store.migrate import upgrade_connection

    store = store_target.make()
    try:
        async with store.engine.connect() as conn:
            await conn.run_sync(upgrade_connection, store.schema, "0001")
            await conn.execute(audit.sa_table("audit_log", *(audit.sa_column(c) for c in ("counsellor_id", "action", "at")))
                               .insert(), [{"counsellor_id": 1, "action": "logged_in", "at": 1.5},
                                           {"counsellor_id": 1, "action": "took", "at": 2.25}])
            await conn.commit()
        await store.upgrade()
        assert (await audit.verify(store)).rows == 2 and (await audit.verify(store)).intact
        await append_some(store, 1)
        assert (await audit.verify(store)).intact
    finally:
        await store.dispose()


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_SECRET_KEY")}
    env.update(BOT_DATA_DIR=str(data_dir), BOT_ENV="development")
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


async def test_audit_verify_on_the_command_line(tmp_path):
    from bot.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", b"k" * 40)
    await store.upgrade()
    await append_some(store, 4)
    done = await asyncio.to_thread(_cli, "audit", "verify", data_dir=tmp_path)
    assert done.returncode == 0 and "4 rows, chain intact" in done.stdout, done.stderr
    second = (await ids(store))[1]
    async with store.transaction() as s:
        await s.execute(update(AuditEntry).where(AuditEntry.id == second).values(action="opened"))
    await store.dispose()
    done = await asyncio.to_thread(_cli, "audit", "verify", data_dir=tmp_path)
    assert done.returncode == 1 and f"row {second} does not match its hash" in done.stderr
