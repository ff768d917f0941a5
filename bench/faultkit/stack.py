"""The bot as deployed, for one fault scenario: its processes (``python -m bot serve``, and
``python -m bot worker`` when the turns run apart), a fresh database (SQLite in a temporary
folder, or a new PostgreSQL database on the local server, dropped afterwards), and the stand-in
LINE in this process."""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

from bot.channels.line.fake import LineStandIn

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fault-suite-channel-secret"
TOKEN = "fault-suite-access-token"
PG_ADMIN = dict(host="127.0.0.1", port=5432, user="postgres", database="postgres")
PENDING = "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending') + (SELECT count(*) FROM outbox WHERE status = 'pending')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One bot process; ``start`` again after a kill keeps its port and appends to its log."""

    def __init__(self, role: str, args: list[str], env: dict, log: Path, port: int | None) -> None:
        self.role, self.args, self.env, self.log, self.port = role, args, env, log, port
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "bot", *self.args], cwd=ROOT, env=self.env,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    async def ready(self, timeout: float = 60.0) -> None:
        """The web process answers /readyz 200; a worker has logged ``runtime.started``."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.popen is None or self.popen.poll() is not None:
                    raise RuntimeError(f"{self.role} exited while starting; see {self.log}")
                if self.port is not None:
                    try:
                        async with http.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                            if r.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                else:
                    with open(self.log, "rb") as f:
                        f.seek(self._log_offset)
                        if b"runtime.started" in f.read():
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.role} did not become ready in {timeout:.0f} s; see {self.log}")

    async def signal(self, sig: int, wait: float = 30.0) -> None:
        """Send ``sig`` and wait for the process to exit (SIGKILL after ``wait``)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        deadline = time.monotonic() + wait
        while self.popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.popen.poll() is None:
            self.popen.kill()
            await asyncio.to_thread(self.popen.wait)


class Stack:
    """``db`` "sqlite" or "pg"; ``split``: serve (webhooks only) and a worker process, else the
    worker inside serve; ``pg_port``: where the bot reaches PostgreSQL (a ``Proxy``'s port)."""

    def __init__(self, folder: Path, db: str, split: bool, line: LineStandIn, *,
                 pg_port: int = 5432, data_dir: Path | None = None) -> None:
        self.folder, self.db, self.split, self.line = folder, db, split, line
        self.pg_port = pg_port
        self.data_dir = data_dir or folder / "data"
        self.pg_name = f"bot_faults_{secrets.token_hex(4)}" if db == "pg" else ""
        self.procs: dict[str, Proc] = {}
        self.key = secrets.token_urlsafe(48)

    @property
    def web(self) -> Proc:
        return self.procs["web"]

    @property
    def sender(self) -> Proc:
        """The process that delivers: the worker when the turns run apart, else serve."""
        return self.procs.get("worker") or self.procs["web"]

    def env(self) -> dict:
        env = {**os.environ, "BOT_ENV_FILE": os.devnull, "BOT_ENV": "development", "BOT_SECRET_KEY": self.key,
               "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": self.line.url,
               "BOT_DATA_DIR": str(self.data_dir), "BOT_LOG_LEVEL": "INFO", "BOT_LOG_FORMAT": "json",
               "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.pg_port}/{self.pg_name}" if self.db == "pg" else "",
               "BOT_WORKER_IN_WEB": "false" if self.split else "true", "PYTHONPATH": str(ROOT)}
        for name in ("CI", "BOT_METRICS_PORT", "BOT_FLOW", "BOT_FLOWS_DIR", "BOT_LOCALES_DIR"):
            env.pop(name, None)
        return env

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.db == "pg":
            admin = await asyncpg.connect(**PG_ADMIN)
            try:
                await admin.execute(f'CREATE DATABASE "{self.pg_name}"')
            finally:
                await admin.close()
        env = self.env()
        if self.split:  # else serve creates the tables itself; two processes starting at once must not race to
            await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env,
                                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = free_port()
        self.procs["web"] = Proc("web", ["serve", "--host", "127.0.0.1", "--port", str(port)], env,
                                 self.folder / "web.log", port)
        if self.split:
            self.procs["worker"] = Proc("worker", ["worker"], env, self.folder / "worker.log", None)
        for proc in self.procs.values():
            proc.start()
        await asyncio.gather(*(p.ready() for p in self.procs.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(p.signal(signal.SIGTERM, 15) for p in self.procs.values()))
        if self.db == "pg":
            admin = await asyncpg.connect(**PG_ADMIN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            finally:
                await admin.close()

    async def pending(self) -> int | None:
        """Inbox and outbox rows not settled yet (None when the database cannot be read now)."""
        try:
            if self.db == "pg":
                conn = await asyncpg.connect(**{**PG_ADMIN, "database": self.pg_name}, timeout=2)
                try:
                    return await conn.fetchval(PENDING)
                finally:
                    await conn.close()
            return await asyncio.to_thread(_sqlite_pending, self.data_dir / "bot.db")
        except (OSError, asyncpg.PostgresError, sqlite3.Error, asyncio.TimeoutError):
            return None

    async def terminate_backends(self) -> int:
        """Kill every PostgreSQL session of this run's database (the others' are left alone)."""
        admin = await asyncpg.connect(**PG_ADMIN)
        try:
            return len(await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.pg_name))
        finally:
            await admin.close()


def _sqlite_pending(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        return conn.execute(PENDING).fetchone()[0]
    finally:
        conn.close()

