from __future__ import annotations

import pytest

from bot.settings import DEMO_KEY_FILE, Settings, SettingsError


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert "PORT" in str(err.value) and "eighty" in str(err.value)


def test_production_refuses_a_missing_or_short_secret(monkeypatch):
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/bot")
    with pytest.raises(SettingsError, match="BOT_SECRET_KEY"):
        Settings.from_env()
    monkeypatch.setenv("BOT_SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="BOT_SECRET_KEY"):
        Settings.from_env()


def test_production_refuses_the_demo_key(monkeypatch, tmp_path):
    demo = Settings.from_env(BOT_DATA_DIR=str(tmp_path), BOT_ENV="demo")
    key = demo.secret_key().decode()
    assert (tmp_path / DEMO_KEY_FILE).exists()
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/bot")
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_SECRET_KEY", key)
    with pytest.raises(SettingsError, match="demo key"):
        Settings.from_env()
    monkeypatch.setenv("BOT_SECRET_KEY", "x" * 48)
    assert Settings.from_env().bot_env == "production"


def test_secrets_are_masked_and_postgres_urls_get_the_async_driver(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "very-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/d")
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 40)
    s = Settings.from_env()
    assert "very-secret-value" not in repr(s)
    assert s.db_url == "postgresql+asyncpg://u:p@h:5432/d"
