from __future__ import annotations

import pytest

from bot.settings import DEMO_KEY_FILE, ProxyTrust, Settings, SettingsError


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


# ---- BOT_TRUSTED_PROXIES ------------------------------------------------------------------------

def test_trusted_proxies_are_a_hop_count_or_addresses():
    assert not ProxyTrust.parse("").trusts_anyone and ProxyTrust.parse(" 2 ").hops == 2
    nets = ProxyTrust.parse("10.0.0.0/8, 127.0.0.1,")
    assert nets.trusts("10.1.2.3") and nets.trusts("127.0.0.1") and not nets.trusts("192.0.2.1")
    assert not nets.trusts("not-an-address") and not ProxyTrust().trusts("127.0.0.1")
    for bad in ("10.0.0.0/33", "proxy.example", "11"):
        with pytest.raises(ValueError):
            ProxyTrust.parse(bad)
    assert Settings(BOT_TRUSTED_PROXIES="").proxy_trust.trusts_anyone is False
    assert Settings(BOT_TRUSTED_PROXIES="1").proxy_trust.hops == 1
    for bad in ("everyone", "10.0.0.0/8, proxy.example"):
        with pytest.raises(SettingsError, match="BOT_TRUSTED_PROXIES"):
            Settings.from_env(BOT_TRUSTED_PROXIES=bad)


def test_forwarded_for_is_ignored_without_trusted_proxies():
    """The old rule trusted the header whenever the peer was private or loopback: anyone on the
    same network (or behind the same proxy) could name any address and dodge the throttle."""
    nobody = ProxyTrust()
    assert nobody.client_address("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    assert nobody.client_address("10.0.0.2", "198.51.100.1, 203.0.113.9") == "10.0.0.2"
    assert nobody.client_address("8.8.8.8", "1.2.3.4") == "8.8.8.8"
    assert nobody.client_address("8.8.8.8", None) == "8.8.8.8"


def test_forwarded_for_with_a_hop_count():
    one = ProxyTrust.parse("1")
    # The proxy appends what it saw; whatever the client wrote before that is ignored.
    assert one.client_address("10.0.0.2", "6.6.6.6, 203.0.113.9") == "203.0.113.9"
    assert one.client_address("10.0.0.2", "203.0.113.9") == "203.0.113.9"
    two = ProxyTrust.parse("2")
    assert two.client_address("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert two.client_address("10.0.0.2", "203.0.113.9") == "10.0.0.2"       # fewer entries than hops
    assert one.client_address("10.0.0.2", "not-an-address") == "10.0.0.2"


def test_forwarded_for_with_trusted_networks():
    nets = ProxyTrust.parse("10.0.0.0/8, 127.0.0.1")
    assert nets.client_address("10.0.0.2", "6.6.6.6, 203.0.113.9") == "203.0.113.9"
    assert nets.client_address("10.0.0.2", "203.0.113.9, 10.1.1.1") == "203.0.113.9"   # two proxies
    assert nets.client_address("8.8.8.8", "203.0.113.9") == "8.8.8.8"      # not from a trusted proxy
    assert nets.client_address("127.0.0.1", "garbage") == "127.0.0.1"
