"""Schema migrations (Alembic, scripts in ``migrations/`` shipped inside the package).

``python -m bot db upgrade`` (``commands.run_upgrade``) runs it; ``Runtime.start`` runs the same upgrade, so a
fresh deployment needs no separate step. On PostgreSQL a session advisory lock makes concurrent
starts (web and worker processes) wait for each other instead of racing on DDL.

A new revision: ``.venv/bin/alembic -c bot/store/migrations/alembic.ini revision --autogenerate -m "..."``
with ``DATABASE_URL`` pointing at a database at the current head.
"""
from __future__ import annotations

import logging
from pathlib import Path

# Alembic narrates every step at INFO (some on import); ``store.migrated`` says what changed.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_UPGRADE_LOCK = 0x66C0_B07D  # any constant; one advisory lock for schema changes


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_connection(connection, schema: str | None = None, revision: str = "head") -> None:
    """Run on a sync connection (``AsyncConnection.run_sync``)."""
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        if schema:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_UPGRADE_LOCK})")
        connection.commit()
    try:
        before = current_revision(connection)
        connection.commit()
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        connection.commit()
        after = current_revision(connection)
        connection.commit()
        if before != after:
            log.info("store.migrated", extra={"version": after, "reason": f"from {before}"})
    finally:
        if is_pg:
            connection.rollback()
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_UPGRADE_LOCK})")
            connection.commit()
