""".env.example, loaded as each tool loads an env file, starts the bot; Settings read .env too.

Docker (``--env-file``), systemd (``EnvironmentFile=``), a shell (``set -a; . ./.env; set +a``)
and python-dotenv (what pydantic-settings reads ``.env`` with) each have their own rules for
quotes, spaces and comments. ``.env.example`` keeps to lines all four read alike, every setting
is in it, and an empty value (``BOT_WORKER_IN_WEB=``, ``DATABASE_URL=``) means "not set".
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"
VARIABLES = {f.alias for f in Settings.model_fields.values()}
# NAME=value with nothing any of the four would read differently: no quotes, spaces, $, `, \,
# #, ;, ~ or shell metacharacters in the value.
PORTABLE_LINE = re.compile(r"[A-Z][A-Z0-9_]*=[A-Za-z0-9_./:@%+,=-]*")
ASSIGNMENT = re.compile(r"#?\s*([A-Z][A-Z0-9_]*)=")


def docker_env_file(text: str) -> dict[str, str]:
    """As ``docker run --env-file`` reads it (docker/cli opts/envfile.go): whitespace before the
    name trimmed, ``#`` lines skipped, the value taken literally up to the end of the line."""
    out = {}
    for line in text.lstrip("\ufeff").splitlines():
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        name, has_value, value = line.partition("=")
        assert name and not re.search(r"\s", name), f"docker refuses {line!r}"
        if has_value:
            out[name] = value
    return out


def systemd_environment_file(text: str) -> dict[str, str]:
    """As systemd's ``EnvironmentFile=`` reads it (systemd.exec(5)): ``#`` and ``;`` lines
    skipped, whitespace around name and value stripped, one pair of quotes removed."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def python_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(path).items()}


def shell_set_a(path: Path) -> dict[str, str]:
    """``set -a; . ./file; set +a`` in a real ``sh``, and what the process it starts then sees."""
    show = "import json, os; print(json.dumps(dict(os.environ)))"
    done = subprocess.run(["sh", "-c", 'set -a; . "$1"; set +a; exec "$2" -c "$3"', "sh", str(path), sys.executable, show],
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True, text=True,
                          check=True, timeout=30)
    seen = json.loads(done.stdout)
    return {k: v for k, v in seen.items() if k in VARIABLES}


LOADERS = {
    "docker --env-file": lambda path: docker_env_file(path.read_text(encoding="utf-8")),
    "systemd EnvironmentFile": lambda path: systemd_environment_file(path.read_text(encoding="utf-8")),
    "python-dotenv": python_dotenv,
    "set -a; . ./.env": shell_set_a,
}


def settings_from(env: dict[str, str], monkeypatch) -> Settings:
    """``Settings.from_env()`` in a process whose environment holds exactly ``env`` of the settings."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_every_setting_is_in_env_example_and_nothing_else_is():
    listed = [m.group(1) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
              if (m := ASSIGNMENT.match(line))]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) - VARIABLES == set(), "in .env.example, but no setting reads it"
    assert VARIABLES - set(listed) == set(), "a setting .env.example does not list"


def test_env_example_keeps_to_lines_every_loader_reads_alike():
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            assert PORTABLE_LINE.fullmatch(line), f".env.example:{number}: {line!r}"


def test_every_loader_reads_the_same_values_and_the_bot_takes_them(monkeypatch):
    loaded = {name: load(EXAMPLE) for name, load in LOADERS.items()}
    first = loaded["python-dotenv"]
    assert "BOT_WORKER_IN_WEB" in first and first["BOT_WORKER_IN_WEB"] == ""  # the line that broke start-up
    for name, values in loaded.items():
        assert values == first, name
    settings = {name: settings_from(values, monkeypatch) for name, values in loaded.items()}
    for name, s in settings.items():
        assert s == settings["python-dotenv"], name
    s = settings["python-dotenv"]
    # Empty values are the defaults: the worker runs in the web process, SQLite, LINE off.
    assert s.run_worker_in_web is None and s.database_url == "" and s.db_url.startswith("sqlite")
    assert s.bot_secret_key.get_secret_value() == "" and not s.line_enabled
    assert s.port == 8080 and s.bot_env == "development"


def test_an_empty_variable_means_not_set_for_every_setting(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here either
    monkeypatch.delenv("BOT_ENV_FILE")
    defaults = settings_from({}, monkeypatch)
    assert settings_from({name: "" for name in VARIABLES}, monkeypatch) == defaults


def test_settings_read_dotenv_in_the_working_directory_and_the_environment_wins(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("PORT=9123\nBOT_WORKER_IN_WEB=false\nBOT_LOG_LEVEL=\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_ENV_FILE")
    s = settings_from({}, monkeypatch)
    assert (s.port, s.run_worker_in_web, s.log_level) == (9123, False, "INFO")
    assert settings_from({"PORT": "9000"}, monkeypatch).port == 9000
    assert settings_from({"PORT": ""}, monkeypatch).port == 9123  # empty: not set, so the file's
    other = tmp_path / "bot.env"
    other.write_text("PORT=9124\n", encoding="utf-8")
    monkeypatch.setenv("BOT_ENV_FILE", str(other))
    assert settings_from({}, monkeypatch).port == 9124
    (tmp_path / ".env").write_text("PORT=eighty\n", encoding="utf-8")
    monkeypatch.delenv("BOT_ENV_FILE")
    with pytest.raises(SettingsError, match="PORT"):
        settings_from({}, monkeypatch)


# ---- python -m bot serve, started as a person following the README would ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _project_copy(folder: Path, port: int) -> dict[str, str]:
    """``cp .env.example .env`` in a folder laid out as the project is (office_hours.yaml beside
    it, which .env.example names relative to the working directory), with a free port; and an
    environment holding none of the settings (nor a test's BOT_ENV_FILE)."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("PORT=8080", f"PORT={port}")
    (folder / ".env").write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "office_hours.yaml", folder / "office_hours.yaml")
    return {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "BOT_ENV_FILE"}


def _answers_healthz(proc: subprocess.Popen, port: int) -> None:
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200 and json.load(r)["status"] == "alive"
                    return
            except OSError:
                time.sleep(0.2)
        if proc.poll() is not None:
            raise AssertionError("python -m bot serve stopped:\n" + proc.communicate()[0].decode(errors="replace")[-2000:])
        raise AssertionError("no /healthz within 60 s")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_serve_starts_with_env_example_exported_by_the_shell(tmp_path):
    port = _free_port()
    env = _project_copy(tmp_path, port)
    proc = subprocess.Popen(["sh", "-c", 'set -a; . ./.env; set +a; exec "$0" -m bot serve', sys.executable],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _answers_healthz(proc, port)
    assert (tmp_path / "data" / "demo-secret.key").exists()  # BOT_DATA_DIR=./data, from the file


def test_serve_reads_dotenv_itself(tmp_path):
    port = _free_port()
    env = _project_copy(tmp_path, port)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _answers_healthz(proc, port)  # the port is only in .env
