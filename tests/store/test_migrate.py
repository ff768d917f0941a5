"""Migrations: an empty database reaches the newest schema, twice is harmless, the migrations
agree with the models, and the command line works."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.store.migrate import current_revision, head_revision
from bot.store.models import Base

ROOT = Path(__file__).resolve().parents[2]


async def test_upgrade_from_empty_reaches_head_and_matches_the_models(store_target):
    store = store_target.make()
    try:
        await store.upgrade()
        await store.upgrade()  # again: nothing to do

        def check(conn):
            assert current_revision(conn) == head_revision()
            tables = set(inspect(conn).get_table_names())
            assert tables >= {t.name for t in Base.metadata.sorted_tables}
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)

        async with store.engine.connect() as conn:
            diff = await conn.run_sync(check)
        assert diff == [], f"models and migrations differ; add a revision: {diff}"
    finally:
        await store.dispose()


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_SECRET_KEY")}
    env.update(BOT_DATA_DIR=str(data_dir), BOT_ENV="development")
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_command_line_db_upgrade_and_purge(tmp_path):
    done = _cli("db", "upgrade", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert head_revision() in done.stdout
    assert (tmp_path / "bot.db").exists()
    purged = _cli("purge", data_dir=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "deleted:" in purged.stdout


def test_migrations_ship_inside_the_package():
    import bot.store.migrations as pkg

    here = Path(pkg.__file__).parent
    assert (here / "env.py").exists() and (here / "script.py.mako").exists()
    assert list((here / "versions").glob("0001_*.py"))
