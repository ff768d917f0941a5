"""The named fault scenarios and how one runs: start the stack, let people write, inject the
fault mid-load, wait for the bot to settle everything, then check each person's answers."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from bot.channels.line.fake import LineStandIn

from .check import Result, check
from .load import Load, expected_answers
from .proxy import Proxy
from .stack import TOKEN, Stack

REPLY_TOKEN_TTL = 60.0   # LINE: "about a minute"


@dataclass
class Options:
    quick: bool = False
    users: int = 30
    seconds_per_turn: float = 1.5          # each person writes this often
    drain: float = 90.0                    # seconds to wait after the load for the last answers
    allow_pg_restart: bool = False
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bot-faults-")))
    line_factory: Callable[[str], LineStandIn] = LineStandIn


@dataclass
class Ctx:
    stack: Stack
    line: LineStandIn
    proxy: Proxy | None
    opts: Options


Fault = Callable[[Ctx], Awaitable[None]]


@dataclass
class Scenario:
    name: str
    about: str
    db: str                      # "sqlite" or "pg"
    split: bool                  # serve and a worker process apart (else the worker runs inside serve)
    fault: Fault | None
    fault_seconds: float         # how long the fault lasts, about (to size the load)
    line_delay: float = 0.0      # LINE's answer time, throughout
    proxy: bool = False          # the bot reaches PostgreSQL through a proxy the fault cuts
    tmpfs: bool = False          # the SQLite folder on a small tmpfs
    needs: Callable[[Options], str | None] | None = None
    fault_at: float = 4.0        # seconds into the load
    after: float = 6.0           # seconds the load goes on after the fault
    people: float = 1.0          # times Options.users

    def load_seconds(self) -> float:
        return self.fault_at + self.fault_seconds + self.after


# ---- faults -------------------------------------------------------------------------------------

async def pg_restart(ctx: Ctx) -> None:
    version = os.listdir("/etc/postgresql")[0]
    await asyncio.to_thread(subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                            check=True, capture_output=True)


async def pg_kill_connections(ctx: Ctx) -> None:
    """What a restart does to the bot's sessions, to this run's database only: every session
    killed, again and again for 3 s (the bot reconnects in between)."""
    until = time.monotonic() + 3.0
    while time.monotonic() < until:
        await ctx.stack.terminate_backends()
        await asyncio.sleep(0.25)


async def pg_down_20s(ctx: Ctx) -> None:
    assert ctx.proxy is not None
    await ctx.proxy.cut()
    await asyncio.sleep(20.0)
    await ctx.proxy.restore()


async def line_500_then_429(ctx: Ctx) -> None:
    ctx.line.fail_for(500, 8.0)
    await asyncio.sleep(8.0)
    ctx.line.fail_for(429, 8.0, retry_after=3)
    await asyncio.sleep(8.0)


def line_slow(seconds: float) -> Fault:
    async def fault(ctx: Ctx) -> None:
        before, ctx.line.delay = ctx.line.delay, 5.0
        await asyncio.sleep(seconds)
        ctx.line.delay = before
    return fault


async def line_accept_then_500(ctx: Ctx) -> None:
    ctx.line.fail_for(500, 10.0, accept=True)
    await asyncio.sleep(10.0)


def stop_process(role: str, sig: int) -> Fault:
    """Signal the process, wait for it to exit, start it again (as a process manager does). The
    fault ends when the new process is ready: how long a start takes depends on the machine
    (over 20 s on a loaded one), what happens after it on the bot."""
    async def fault(ctx: Ctx) -> None:
        proc = ctx.stack.procs[role]
        if role != "web" or not ctx.stack.split:   # strike while deliveries are on their way to LINE
            with contextlib.suppress(AssertionError):
                await ctx.line.wait_for(lambda: ctx.line.in_flight >= 3, timeout=5.0)
        await proc.signal(sig)
        proc.start()
        await proc.ready()
    return fault


async def disk_full_20s(ctx: Ctx) -> None:
    filler = ctx.stack.data_dir / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * (1 << 20))
            f.flush()
    with contextlib.suppress(OSError):   # the last bytes the page cache still held
        with open(ctx.stack.data_dir / "filler2", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    await asyncio.sleep(20.0)
    for name in ("filler", "filler2"):
        (ctx.stack.data_dir / name).unlink(missing_ok=True)


# ---- what a scenario needs ------------------------------------------------------------------------

def _restart_allowed(opts: Options) -> str | None:
    return None if opts.allow_pg_restart else (
        "restarts the PostgreSQL server others use: run with --allow-pg-restart (pg_kill_connections is the shared-machine variant)")


def _can_mount(opts: Options) -> str | None:
    probe = Path(tempfile.mkdtemp(prefix="bot-faults-mount-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True, text=True)
        if done.returncode != 0:
            return f"cannot mount a tmpfs here ({(done.stderr or 'mount failed').strip()[:80]})"
        subprocess.run(["umount", str(probe)], check=False)
        return None
    except FileNotFoundError:
        return "no mount command"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


SIGTERM, SIGKILL = signal.SIGTERM, signal.SIGKILL

SCENARIOS: list[Scenario] = [
    Scenario("sqlite_baseline", "no fault (the control)", "sqlite", False, None, 0.0),
    Scenario("pg_restart", "PostgreSQL restarted mid-load (pg_ctlcluster restart)", "pg", True, pg_restart, 5.0,
             needs=_restart_allowed),
    Scenario("pg_kill_connections", "every session of this run's database killed for 3 s (pg_terminate_backend)",
             "pg", True, pg_kill_connections, 3.0),
    Scenario("pg_down_20s", "PostgreSQL unreachable for 20 s (a proxy between the bot and the server, cut)",
             "pg", True, pg_down_20s, 20.0, proxy=True),
    Scenario("line_500_then_429", "LINE answers 500 for 8 s, then 429 with Retry-After: 3 for 8 s",
             "sqlite", False, line_500_then_429, 16.0),
    Scenario("line_slow_60s", "LINE takes 5 s to answer every call, for 60 s; three times the people", "sqlite",
             False, line_slow(60.0), 60.0, people=3.0),
    Scenario("line_accept_then_500", "LINE delivers each reply and push, then answers 500, for 10 s", "sqlite", False,
             line_accept_then_500, 10.0),
    Scenario("pg_web_sigterm", "SIGTERM to serve (webhooks), restarted; LINE answers in 0.3 s", "pg", True,
             stop_process("web", SIGTERM), 2.0, line_delay=0.3),
    Scenario("pg_web_sigkill", "SIGKILL to serve (webhooks), restarted; LINE answers in 0.3 s", "pg", True,
             stop_process("web", SIGKILL), 2.0, line_delay=0.3),
    Scenario("pg_worker_sigterm", "SIGTERM to the worker (turns and deliveries), restarted; LINE in 0.3 s", "pg",
             True, stop_process("worker", SIGTERM), 2.0, line_delay=0.3),
    Scenario("pg_worker_sigkill", "SIGKILL to the worker (turns and deliveries), restarted; LINE in 0.3 s", "pg",
             True, stop_process("worker", SIGKILL), 2.0, line_delay=0.3),
    Scenario("sqlite_sigterm", "SIGTERM to serve with the worker inside, restarted; LINE in 0.3 s", "sqlite",
             False, stop_process("web", SIGTERM), 2.0, line_delay=0.3),
    Scenario("sqlite_sigkill", "SIGKILL to serve with the worker inside, restarted; LINE in 0.3 s", "sqlite",
             False, stop_process("web", SIGKILL), 2.0, line_delay=0.3),
    Scenario("sqlite_disk_full_20s", "the SQLite folder (a 64 MB tmpfs) full for 20 s", "sqlite", False,
             disk_full_20s, 20.0, tmpfs=True, needs=_can_mount),
]
BY_NAME = {s.name: s for s in SCENARIOS}
# The CI subset: a LINE fault, a crash of the sending process, a database fault (a few minutes).
QUICK = ["line_accept_then_500", "sqlite_sigkill", "pg_kill_connections"]


# ---- running one --------------------------------------------------------------------------------

async def run_scenario(s: Scenario, opts: Options) -> Result:
    reason = s.needs(opts) if s.needs else None
    if reason:
        return Result(s.name, skipped=reason)
    folder = opts.logs / s.name
    folder.mkdir(parents=True, exist_ok=True)
    line = opts.line_factory(TOKEN)
    await line.start()
    line.reply_token_ttl, line.delay = REPLY_TOKEN_TTL, s.line_delay
    proxy = Proxy(5432) if s.proxy else None
    data_dir = folder / "data"
    mounted = False
    stack = None
    try:
        if proxy is not None:
            await proxy.start()
        if s.tmpfs:
            data_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data_dir)], check=True)
            mounted = True
        stack = Stack(folder, s.db, s.split, line, pg_port=proxy.port if proxy else 5432, data_dir=data_dir)
        seconds = s.load_seconds()
        load = Load(stack, round(opts.users * s.people), max(4, round(seconds / opts.seconds_per_turn)), seconds)
        expected, _ = await asyncio.gather(asyncio.to_thread(expected_answers, load.turns), stack.start())
        writing = asyncio.create_task(load.run())
        fault_end = time.time()
        if s.fault is not None:
            await asyncio.sleep(s.fault_at)
            await s.fault(Ctx(stack, line, proxy, opts))
            fault_end = time.time()
        await writing
        await settle(stack, load, line, expected, fault_end, opts.drain)
        result = check(s.name, load, line, expected, fault_end)
        (folder / "timelines.json").write_text(json.dumps(result.timelines, indent=0))
        return result
    finally:
        if stack is not None:
            await stack.stop()
        await line.close()
        if proxy is not None:
            await proxy.close()
        if mounted:
            subprocess.run(["umount", "-l", str(data_dir)], check=False)


async def settle(stack: Stack, load: Load, line: LineStandIn, expected, fault_end: float, cap: float) -> None:
    """Wait until every acknowledged message is answered and nothing is pending in the inbox or
    the outbox (a row still pending may be sent again: a duplicate to catch), at most ``cap`` s."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if check("", load, line, expected, fault_end).lost == 0 and await stack.pending() == 0:
            await asyncio.sleep(1.0)   # a delivery in flight lands
            return
        await asyncio.sleep(0.5)
