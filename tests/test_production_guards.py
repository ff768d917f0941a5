"""Issue 16, item 2: ``serve --demo`` never runs where real data could be, production refuses to
start while the demo's counsellor account is active, and production refuses demo keys."""
from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.app import _start_with_retry
from bot.handoff.accounts import create_counsellor, disable_counsellor
from bot.runtime import Runtime
from bot.settings import DEMO_KEY_FILE, DEMO_KEY_PREFIX, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
KEY = "production-key-0123456789-0123456789-abcdef"


@pytest.mark.parametrize("env", [{"BOT_ENV": "production", "DATABASE_URL": "postgresql://db/bot", "BOT_SECRET_KEY": KEY},
                                 {"BOT_ENV": "production"},
                                 {"DATABASE_URL": "postgresql://db/bot", "BOT_SECRET_KEY": KEY}])
def test_serve_demo_is_refused_in_production_or_with_a_database_url(env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--demo"]) == 2
    err = capsys.readouterr()
    assert "--demo is refused" in err.err and "login:" not in err.out
    assert not (tmp_path / "bot.db").exists()


def test_demo_settings_need_sqlite(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    assert Settings.for_demo().bot_env == "demo"
    with pytest.raises(SettingsError, match="SQLite only"):
        Settings.from_env(BOT_ENV="demo", DATABASE_URL="postgresql://db/bot", BOT_SECRET_KEY=KEY)


def test_a_made_key_carries_the_demo_prefix_and_production_refuses_it(monkeypatch, tmp_path):
    made = Settings.from_env(BOT_DATA_DIR=str(tmp_path / "data")).secret_key().decode()
    assert made.startswith(DEMO_KEY_PREFIX)
    assert stat.S_IMODE((tmp_path / "data" / DEMO_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    production = {"BOT_ENV": "production", "DATABASE_URL": "postgresql://db/bot", "BOT_DATA_DIR": str(tmp_path / "elsewhere")}
    with pytest.raises(SettingsError, match="demo key"):
        Settings.from_env(**production, BOT_SECRET_KEY=made)  # even away from the file it was kept in
    with pytest.raises(SettingsError, match="demo key"):
        Settings.from_env(**production, BOT_SECRET_KEYS=f"{KEY},{DEMO_KEY_PREFIX}{'x' * 40}")
    assert Settings.from_env(**production, BOT_SECRET_KEY=KEY).bot_env == "production"


def test_no_key_is_made_when_a_database_url_is_set(tmp_path):
    with pytest.raises(SettingsError, match="BOT_SECRET_KEY"):
        Settings.from_env(BOT_DATA_DIR=str(tmp_path), DATABASE_URL="postgresql://db/bot")
    assert not (tmp_path / DEMO_KEY_FILE).exists()


def test_the_key_ring_is_newest_first():
    s = Settings.from_env(BOT_SECRET_KEYS=f" {KEY}2 , {KEY}1 ,", DATABASE_URL="postgresql://db/bot")
    assert s.secret_keys() == [f"{KEY}2".encode(), f"{KEY}1".encode()] and s.secret_key() == f"{KEY}2".encode()
    assert Settings.from_env(BOT_SECRET_KEYS=f"{KEY}2,{KEY}1", BOT_SECRET_KEY=f"{KEY}1").secret_key() == f"{KEY}2".encode()
    with pytest.raises(SettingsError, match="not in BOT_SECRET_KEYS"):
        Settings.from_env(BOT_SECRET_KEYS=f"{KEY}2,{KEY}1", BOT_SECRET_KEY=f"{KEY}0")


async def test_production_does_not_start_while_the_demo_account_is_active(settings, mini_holder, store):
    production = settings.model_copy(update={"bot_env": "production"})
    await create_counsellor(store, "demo", "demo-password-123")
    rt = Runtime(production, mini_holder, store=store)
    refused: list[str] = []
    await asyncio.wait_for(_start_with_retry(rt, run_worker=False, on_refused=refused.append), 30)
    assert refused and "counsellor disable demo" in refused[0] and not rt._running
    assert await disable_counsellor(store, "demo") > 0
    await asyncio.wait_for(_start_with_retry(rt, run_worker=False, on_refused=refused.append), 30)
    assert rt._running and len(refused) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_in_production_exits_while_the_demo_account_is_active(tmp_path):
    port = _free_port()
    env = {**os.environ, "BOT_ENV": "production", "BOT_SECRET_KEY": KEY, "PORT": str(port),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}", "BOT_DATA_DIR": str(tmp_path),
           "BOT_LOG_FORMAT": "text"}
    add = subprocess.run([sys.executable, "-m", "bot", "counsellor", "add", "demo", "--password", "demo kappa river lantern"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    refused = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "counsellor disable demo" in refused.stderr
    off = subprocess.run([sys.executable, "-m", "bot", "counsellor", "disable", "demo"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert off.returncode == 0, off.stderr
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 30, False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    ready = r.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready and proc.poll() is None
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out[-2000:]
