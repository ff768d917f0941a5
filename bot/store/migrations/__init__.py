"""Alembic migration scripts; run them through ``bot.store.migrate``."""
