"""Issue 16, item 7: SQLite's files. Only the bot's user can read them, and after "forget me"
the deleted rows' pages do not stay behind in the WAL."""
from __future__ import annotations

import stat

from bot.envelope import InboundEvent
from bot.channels.memory import MemoryChannel
from bot.runtime import Runtime
from bot.store import Store
from bot.store.db import SQLITE_JOURNAL_SIZE_LIMIT

from ..conftest import SECRET


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_folder_and_database_files_are_private(tmp_path):
    folder = tmp_path / "data"
    store = Store(f"sqlite+aiosqlite:///{folder / 'bot.db'}", SECRET)
    try:
        await store.upgrade()
        assert await store.ping()
        files = {p.name: mode(p) for p in folder.iterdir()}
    finally:
        await store.dispose()
    assert mode(folder) == 0o700
    assert files.get("bot.db") == 0o600 and files.get("bot.db-wal") == 0o600, files
    assert all(m == 0o600 for m in files.values()), files


async def test_an_existing_database_readable_by_others_is_closed_to_them(tmp_path):
    path = tmp_path / "bot.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    store = Store(f"sqlite+aiosqlite:///{path}", SECRET)
    try:
        await store.upgrade()
    finally:
        await store.dispose()
    assert mode(path) == 0o600


async def test_forget_me_truncates_the_wal(tmp_path, settings, mini_holder):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", SECRET)
    rt = Runtime(settings, mini_holder, store=store)
    rt.register_channel(MemoryChannel("memory"))
    await rt.start(run_worker=False)
    wal = tmp_path / "bot.db-wal"
    try:
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_size_limit")).scalar() == SQLITE_JOURNAL_SIZE_LIMIT
        await rt.accept([InboundEvent("memory", "w1", "U1", "start", locale_hint="en"),
                         InboundEvent("memory", "w2", "U1", "tap", choice="threatened", locale_hint="en")])
        await rt.drain()
        assert wal.stat().st_size > 0
        await rt.accept([InboundEvent("memory", "w3", "U1", "forget", locale_hint="en")])
        await rt.drain()
        assert wal.stat().st_size == 0
        await rt.accept([InboundEvent("memory", "w4", "U2", "start", locale_hint="en")])
        await rt.drain()
        assert wal.stat().st_size > 0
        async with store.transaction() as s:
            from sqlalchemy import text

            conv_id = (await s.execute(text("SELECT id FROM conversations"))).scalar_one()
        assert await rt.forget(conv_id)  # the console's or a tool's forget, too
        assert wal.stat().st_size == 0
    finally:
        await rt.stop()
