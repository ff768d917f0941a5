"""Shared fixtures: the store on SQLite and on PostgreSQL, the mini flow, a runtime with a
memory channel.

``store`` is parametrised over both databases. PostgreSQL is the server on 127.0.0.1:5432
(user postgres, trust auth, database ``test``; ``BOT_TEST_PG_URL`` overrides); every test gets
a fresh schema, dropped afterwards, so runs never see each other's rows. Without the server the
PostgreSQL cases are skipped, except under ``CI=true`` where they fail: CI must test both.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import io
import os
import secrets
import sys
import threading
from pathlib import Path

import pytest

# Settings read .env from the working directory; a developer's own .env (real tokens, a
# production DATABASE_URL) must not reach the tests, nor the servers they start.
os.environ["BOT_ENV_FILE"] = os.devnull

MINI = Path(__file__).parent / "engine" / "fixtures" / "mini"
PG_URL = os.environ.get("BOT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SECRET = b"test-secret-key-that-is-long-enough-0123456789"

_pg_state: dict[str, str | None] = {}


# A test still running after this long (pytest-timeout fails it at 300 s) gets the stack of every
# task of the running event loop printed: a hung await shows where it waits, also in CI's log.
TASK_DUMP_AFTER = 240.0


def _dump_asyncio_tasks() -> None:
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.BaseEventLoop) and obj.is_running():
            def dump(loop=obj):
                out = io.StringIO()
                for task in asyncio.all_tasks(loop):
                    print(task, file=out)
                    task.print_stack(file=out)
                sys.__stderr__.write(f"\n--- asyncio tasks of a test running for {TASK_DUMP_AFTER:.0f} s ---\n"
                                     f"{out.getvalue()}--- end ---\n")
            obj.call_soon_threadsafe(dump)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    timer = threading.Timer(TASK_DUMP_AFTER, _dump_asyncio_tasks)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _pg_problem() -> str | None:
    """None when PostgreSQL answers; else why not (checked once per run)."""
    if "problem" not in _pg_state:
        import asyncpg

        async def probe() -> None:
            conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"), timeout=3)
            await conn.close()

        try:
            # In a thread: the caller may already be inside an event loop.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, probe()).result()
            _pg_state["problem"] = None
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            _pg_state["problem"] = f"{type(exc).__name__}: {exc}"
    return _pg_state["problem"]


def require_postgres() -> None:
    problem = _pg_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL at {PG_URL} is not answering ({problem}); CI must run the PostgreSQL tests")
    pytest.skip(f"PostgreSQL not available: {problem}")


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


class StoreTarget:
    """Where a test's store lives; ``make()`` builds another ``Store`` on the same database."""

    def __init__(self, kind: str, tmp_path: Path):
        self.kind = kind
        self.schema = f"t_{secrets.token_hex(6)}" if kind == "postgres" else None
        self.url = PG_URL if kind == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        self.sqlite_path = tmp_path / "bot.db" if kind == "sqlite" else None

    def make(self, secret: bytes = SECRET, **kwargs):
        from bot.store import Store

        return Store(self.url, secret, schema=self.schema, **kwargs)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_target(request, tmp_path):
    if request.param == "postgres":
        require_postgres()
    target = StoreTarget(request.param, tmp_path)
    yield target
    if target.schema:
        await drop_schema(target.schema)


@pytest.fixture
async def store(store_target):
    """A migrated, empty store; SQLite and PostgreSQL."""
    st = store_target.make()
    await st.upgrade()
    yield st
    await st.dispose()


@pytest.fixture(scope="session")
def mini_holder():
    from bot.reload import BundleHolder

    return BundleHolder(MINI / "flows", MINI / "locales", "mini")


@pytest.fixture
def settings(tmp_path):
    from bot.settings import Settings

    return Settings(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=SECRET.decode(), BOT_FLOWS_DIR=MINI / "flows",
                    BOT_LOCALES_DIR=MINI / "locales", BOT_FLOW="mini", DATABASE_URL="", BOT_OUTBOX_MAX_ATTEMPTS=4)


class FakeClock:
    def __init__(self, now: float = 1_795_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def runtime(settings, mini_holder, store, clock):
    """A runtime on the test store with a memory channel named ``memory``; loops not started:
    tests call ``await runtime.drain()``."""
    from bot.channels.memory import MemoryChannel
    from bot.runtime import Runtime

    rt = Runtime(settings, mini_holder, store=store, clock=clock)
    rt.register_channel(MemoryChannel("memory"))
    await rt.start(run_worker=False, migrate=False)
    yield rt
    await rt.stop()
