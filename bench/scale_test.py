"""Scale test on PostgreSQL: several web and worker processes, conversations through the LINE webhook.

    .venv/bin/python bench/scale_test.py [--conversations 1000] [--turns 10] [--concurrency 32]
        [--database-url postgresql://postgres@127.0.0.1:5432/bot_scale]

Three runs on the same load, each on a fresh database, with a stand-in LINE on loopback
(``bot.channels.line.fake``, in this process, recording every request):

1. one ``serve`` process with its worker inside (the baseline);
2. two ``serve`` processes (webhooks only) and two ``worker`` processes;
3. the same, with one worker killed (SIGKILL) when half of the deliveries have been acknowledged.

The load: ``--conversations`` people, ``--turns`` text messages each, sent round by round (every
person's first message, then every person's second, ...) with ``--concurrency`` connections,
alternating between the web processes; a person's next message is sent only after LINE's
webhook for the previous one was acknowledged, as LINE does for one chat. Every delivery is
signed as LINE signs it and carries its own webhookEventId and reply token.

Checked for every conversation: the texts LINE received, in the order LINE received them, are
exactly the texts the engine says for those messages (computed here with ``step`` and the LINE
renderer): nothing lost, nothing sent twice, nothing out of order. Printed: acknowledgements per
second, turns answered per second, and the multi-process figures as ratios to the single process.
Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.line.fake import LineStandIn, sign, webhook_body  # noqa: E402

SECRET = "scale-test-channel-secret"
TOKEN = "scale-test-access-token"
# What people type, turn after turn (a story, then numbers for the choices they are shown), and
# what the engine answers: the fault suite's, so both check against the same script.
from bench.faultkit.load import SCRIPT, expected_answers  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_id(n: int) -> str:
    return "U" + f"{n:08x}".rjust(32, "0")


def expected_texts(turns: int) -> list[list[str]]:
    """The text messages LINE must receive for each turn of the script (the same for everyone)."""
    return [list(answer) for answer in expected_answers(turns)]


@dataclass
class Run:
    name: str
    acks: int = 0
    ack_times: list[float] = field(default_factory=list)
    sent_seconds: float = 0.0
    answered_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    answered: int = 0


async def fresh_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                                  database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", *cmd], cwd=ROOT, env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


async def wait_healthy(ports: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        for port in ports:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web process on port {port} did not become healthy")
                await asyncio.sleep(0.2)


async def run_once(args, name: str, webs: int, workers: int, kill_half: bool, expected: list[list[str]],
                   logdir: Path) -> Run:
    run = Run(name)
    await fresh_database(args.database_url)
    line = LineStandIn(TOKEN, record=True)
    await line.start()
    env = {**os.environ, "DATABASE_URL": args.database_url, "BOT_SECRET_KEY": secrets.token_urlsafe(48),
           "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": line.url,
           "BOT_LOG_LEVEL": "WARNING", "BOT_ENV": "development", "BOT_DATA_DIR": str(logdir / "data"),
           "BOT_WORKER_IN_WEB": "true" if workers == 0 else "false"}
    env.pop("CI", None)
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = [free_port() for _ in range(webs)]
    procs = [start(["serve", "--port", str(p)], env, logdir / f"{name}-web{i}.log") for i, p in enumerate(ports)]
    worker_procs = [start(["worker"], env, logdir / f"{name}-worker{i}.log") for i in range(workers)]
    procs += worker_procs
    token_owner: dict[str, tuple[str, int]] = {}
    try:
        await wait_healthy(ports)
        await asyncio.sleep(1.0)  # workers connect and start listening
        users = [user_id(n) for n in range(args.conversations)]
        total = args.conversations * args.turns
        killed = False
        sem = asyncio.Semaphore(args.concurrency)
        started = time.monotonic()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:

            async def deliver(i: int, user: str, t: int) -> None:
                reply_token = uuid.uuid4().hex
                token_owner[reply_token] = (user, t)
                event = {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
                         "source": {"type": "user", "userId": user}, "webhookEventId": uuid.uuid4().hex.upper()[:26],
                         "deliveryContext": {"isRedelivery": False}, "replyToken": reply_token,
                         "message": {"id": str(10**15 + i), "type": "text", "text": SCRIPT[t % len(SCRIPT)],
                                     "quoteToken": uuid.uuid4().hex}}
                body = webhook_body([event])
                headers = {"Content-Type": "application/json", "X-Line-Signature": sign(SECRET, body)}
                port = ports[i % len(ports)]
                async with sem:
                    for attempt in range(5):  # LINE redelivers a failed webhook; so do we
                        t0 = time.monotonic()
                        try:
                            async with http.post(f"http://127.0.0.1:{port}/line/webhook", data=body, headers=headers) as r:
                                await r.read()
                                if r.status == 200:
                                    run.ack_times.append(time.monotonic() - t0)
                                    run.acks += 1
                                    return
                        except aiohttp.ClientError:
                            pass
                        await asyncio.sleep(0.2 * (attempt + 1))
                    run.problems.append(f"delivery {i} was never acknowledged")

            i = 0
            for t in range(args.turns):
                batch = []
                for user in users:
                    batch.append(deliver(i, user, t))
                    i += 1
                await asyncio.gather(*batch)
                if kill_half and not killed and run.acks >= total // 2 and worker_procs:
                    worker_procs[0].send_signal(signal.SIGKILL)
                    killed = True
            run.sent_seconds = time.monotonic() - started

        # Wait for every turn to be answered (or for progress to stop).
        last, last_change = -1, time.monotonic()
        while True:
            answered = sum(1 for r in line.sent())
            if answered >= total:
                break
            if answered != last:
                last, last_change = answered, time.monotonic()
            elif time.monotonic() - last_change > args.idle_timeout:
                break
            await asyncio.sleep(0.1)
        run.answered_seconds = time.monotonic() - started
        run.answered = answered
        check(run, line, token_owner, users, expected, args.turns)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        await line.close()
    return run


def check(run: Run, line: LineStandIn, token_owner: dict, users: list[str], expected: list[list[str]], turns: int) -> None:
    received: dict[str, list[list[str]]] = {u: [] for u in users}
    for r in line.sent():
        if r.kind == "reply":
            user = token_owner.get(r.body.get("replyToken"), (None, 0))[0]
        else:
            user = r.body.get("to")
        texts = [m["text"] for m in r.body["messages"] if m.get("type") == "text"]
        if user in received:
            received[user].append(texts)
        else:
            run.problems.append("a message went to someone who wrote nothing")
    bad = 0
    for user, got in received.items():
        if got != expected[:turns]:
            bad += 1
            if bad <= 3:
                run.problems.append(f"conversation {user[-6:]}: {len(got)} of {turns} turns answered, "
                                    f"in order: {got == expected[:len(got)]}")
    if bad:
        run.problems.append(f"{bad} of {len(users)} conversations did not get exactly their replies in order")


def report(run: Run, turns_total: int, base: Run | None) -> None:
    acks_s = run.acks / run.sent_seconds if run.sent_seconds else 0
    turns_s = run.answered / run.answered_seconds if run.answered_seconds else 0
    med = statistics.median(run.ack_times) * 1000 if run.ack_times else 0
    p99 = sorted(run.ack_times)[int(len(run.ack_times) * 0.99)] * 1000 if run.ack_times else 0
    over = sum(1 for x in run.ack_times if x > 2.0)
    line = (f"{run.name:<34} acks {run.acks}/{turns_total} ({acks_s:,.0f}/s, median {med:.0f} ms, p99 {p99:.0f} ms, "
            f"{over} over 2 s); answered {run.answered}/{turns_total} ({turns_s:,.0f} turns/s)")
    if base and base.answered_seconds and run.answered_seconds:
        base_turns = base.answered / base.answered_seconds
        base_acks = base.acks / base.sent_seconds
        line += f"; vs one process: acks x{acks_s / base_acks:.2f}, turns x{turns_s / base_turns:.2f}"
    print(line)
    for p in run.problems:
        print(f"    PROBLEM: {p}")
    if not run.problems:
        print("    every conversation got exactly its replies, in order")


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bot_scale")
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--only", choices=["single", "multi", "kill"], action="append")
    args = ap.parse_args()
    expected = expected_texts(args.turns)
    total = args.conversations * args.turns
    logdir = Path(tempfile.mkdtemp(prefix="bot-scale-"))
    print(f"{args.conversations} conversations x {args.turns} turns through /line/webhook, PostgreSQL; logs in {logdir}")
    runs = [("single", "1 web (worker inside)", 1, 0, False), ("multi", "2 web + 2 workers", 2, 2, False),
            ("kill", "2 web + 2 workers, 1 killed halfway", 2, 2, True)]
    base, failed = None, False
    for key, name, webs, workers, kill in runs:
        if args.only and key not in args.only:
            continue
        run = await run_once(args, name, webs, workers, kill, expected, logdir)
        report(run, total, base if key != "single" else None)
        base = base or (run if key == "single" else None)
        failed = failed or bool(run.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
