"""Alembic environment. ``bot.store.migrate`` passes a live connection in ``config.attributes``;
run standalone (``alembic -c bot/store/migrations/alembic.ini ...``) it builds one from the
environment's settings."""
from __future__ import annotations

import asyncio

from alembic import context

from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from bot.settings import Settings
    from bot.store.db import Store

    store = Store.from_settings(Settings.from_env())
    try:
        async with store.engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await store.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run `python -m bot db upgrade`")

connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
