"""Store benchmark: the durable path on SQLite and PostgreSQL.

    .venv/bin/python bench/store_bench.py [--db sqlite|postgres|both] [--events N] [--rate R]
                                          [--pg-url URL] [--big N]

Prints, per database:
* events accepted per second (one event per ``accept`` call, 16 webhooks at a time: the
  webhook's own cost, commit included);
* turns processed per second (the worker alone, draining a full inbox; replies committed);
* median and p99 time from ``accept`` to the reply committed in the outbox, with the worker and
  sender running and events arriving at ``--rate`` per second;
* the median per-turn time (wall and this process's CPU) with 1,000 and with ``--big`` (100,000) stored conversations, each
  with an inbox tombstone and a settled outbox row, as a long-running deployment has: it must not
  grow with the number of people. A turn alone: one event, one transaction, one commit;
* the time per turn as the worker runs them, in batches of ``TURN_BATCH`` (one transaction and
  one commit per batch), with the sender's lease and settle of their replies: wall and CPU for
  the whole run, divided by the turns, at the same two sizes.

The mini fixture flow is used, so figures measure the store and the shell, not the content.
SQLite runs with ``synchronous=FULL`` (an accepted event survives a power cut): one fsync per
commit is most of its cost, so the disk matters more than the CPU. PostgreSQL uses a fresh
schema, dropped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bot.envelope import DeliveryResult, InboundEvent  # noqa: E402
from bot.reload import BundleHolder  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store import conversations  # noqa: E402
from bot.engine import Session  # noqa: E402
from bot.store.models import Conversation, InboxEvent, OutboxMessage  # noqa: E402

MINI = ROOT / "tests" / "engine" / "fixtures" / "mini"
SECRET = b"bench-secret-key-0123456789-0123456789-0123456789"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
INPUTS = [("start", "", ""), ("tap", "", "threatened"), ("tap", "", "evidence"), ("text", "evidence", ""),
          ("text", "someone threatens to spread my photos", ""), ("tap", "", "done"), ("text", "restart", "")]


class NullChannel:
    name = "bench"

    async def deliver(self, user_id, outbound):
        return DeliveryResult("sent")


def event(n: int, user: str, i: int) -> InboundEvent:
    kind, text, choice = INPUTS[i % len(INPUTS)]
    return InboundEvent("bench", f"b{n}-{secrets.token_hex(4)}", user, kind, text=text, choice=choice,
                        locale_hint="en", received_at=time.time())


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Target:
    def __init__(self, kind: str, pg_url: str, tmp: Path):
        self.kind = kind
        self.schema = f"bench_{secrets.token_hex(4)}" if kind == "postgres" else None
        self.url = pg_url if kind == "postgres" else f"sqlite+aiosqlite:///{tmp / kind / 'bot.db'}"
        self.tmp = tmp / kind

    def store(self) -> Store:
        return Store(self.url, SECRET, schema=self.schema)

    async def drop(self) -> None:
        if self.schema:
            store = self.store()
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            await store.dispose()


async def fresh_runtime(target: Target, holder: BundleHolder, **kw) -> Runtime:
    settings = Settings(BOT_DATA_DIR=target.tmp, BOT_SECRET_KEY=SECRET.decode(), DATABASE_URL="")
    rt = Runtime(settings, holder, store=target.store(), poll_interval=0.01, **kw)
    rt.register_channel(NullChannel())
    await rt.start(run_worker=False)
    return rt


async def clear(rt: Runtime) -> None:
    async with rt.store.transaction() as s:
        for model in (InboxEvent, OutboxMessage, Conversation):
            await s.execute(model.__table__.delete())


async def bench_accept(rt: Runtime, n: int, users: int) -> float:
    events = [event(i, f"user-{i % users}", i // users) for i in range(n)]
    queue = list(reversed(events))

    async def webhook() -> None:
        while queue:
            await rt.accept([queue.pop()])

    started = time.perf_counter()
    await asyncio.gather(*(webhook() for _ in range(16)))
    return n / (time.perf_counter() - started)


async def bench_turns(rt: Runtime, workers: int) -> tuple[float, int]:
    async def worker() -> int:
        done = 0
        while await rt.process_next():
            done += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker() for _ in range(workers)))
    return sum(counts) / (time.perf_counter() - started), sum(counts)


async def bench_latency(target: Target, holder: BundleHolder, rate: float, seconds: float, users: int) -> list[float]:
    rt = await fresh_runtime(target, holder)
    await clear(rt)
    rt._running = True
    rt._tasks = [asyncio.create_task(rt._worker_loop()) for _ in range(rt.workers)]
    rt._tasks.append(asyncio.create_task(rt._sender_loop()))
    n = int(rate * seconds)
    started = time.perf_counter()
    pending = []
    for i in range(n):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(rt.accept([event(i, f"lat-{i % users}", i // users)])))
    await asyncio.gather(*pending)
    for _ in range(2000):
        async with rt.store.transaction() as s:
            left = (await s.execute(select(InboxEvent.id).where(InboxEvent.status == "pending").limit(1))).first()
        if left is None:
            break
        await asyncio.sleep(0.05)
    async with rt.store.transaction() as s:
        rows = (await s.execute(
            select(OutboxMessage.created_at - InboxEvent.accepted_at)
            .join(InboxEvent, InboxEvent.id == OutboxMessage.inbox_id))).scalars().all()
    await rt.stop()
    return [r * 1000 for r in rows]


async def seed(rt: Runtime, count: int, prefix: str = "seed") -> None:
    """``count`` conversations that talked before: a session, a tombstone, a settled reply."""
    now = time.time()
    session = Session.from_dict({"state": "welcome", "locale": "en", "flow_version": rt.bundles.version,
                                 "variables": {}, "path": ["welcome"], "started_at": now, "last_active_at": now,
                                 "risk": []})
    batch = 5000
    for start in range(0, count, batch):
        convs, tombs, outs = [], [], []
        for i in range(start, min(count, start + batch)):
            cid = secrets.token_hex(16)
            pseudo = rt.crypto.pseudonym("bench", f"{prefix}-{i}")
            convs.append(dict(id=cid, pseudonym=pseudo, channel="bench", state="welcome", locale="en",
                              session_json=conversations.dump_session(rt.crypto, cid, session), flow_version=rt.bundles.version, created_at=now,
                              last_active_at=now, in_handoff=False))
            tombs.append(dict(channel="bench", event_id=f"{prefix}-{i}", pseudonym=pseudo, status="done",
                              payload_enc=None, attempts=0, accepted_at=now, processed_at=now))
            outs.append(dict(conversation_id=cid, channel="bench", kind="turn", status="sent", payload_enc=None,
                             user_ref_enc=None, attempts=1, next_attempt_at=now, leased_until=0.0, created_at=now,
                             settled_at=now))
        async with rt.store.transaction() as s:
            await s.execute(insert(Conversation), convs)
            await s.execute(insert(InboxEvent), tombs)
            await s.execute(insert(OutboxMessage), outs)


async def per_turn_ms(rt: Runtime, turns: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process for one turn (claim, lock, load,
    step, save, outbox, figures, commit). CPU time is steadier on a shared machine."""
    wall, cpu = [], []
    for i in range(turns):
        user = f"seed-{(i * 7919) % 1000}" if i % 2 else f"new-{i}"  # returning and new people
        await rt.accept([event(i, user, i)])
        started, started_cpu = time.perf_counter(), time.process_time()
        assert await rt.process_next()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def per_turn_batched_ms(rt: Runtime, turns: int) -> tuple[float, float]:
    """Wall and CPU time per turn of ``process_batch(TURN_BATCH)`` until the inbox is empty, then
    ``deliver_due`` until the outbox is: ``turns`` events of as many people, half of them new."""
    await rt.accept([event(i, f"seed-{(i * 7919) % 1000}" if i % 2 else f"batch-{i}", i) for i in range(turns)])
    started, started_cpu = time.perf_counter(), time.process_time()
    done = 0
    while taken := await rt.process_batch(rt.turn_batch):
        done += taken
    while await rt.deliver_due():
        pass
    assert done == turns, (done, turns)
    return (time.perf_counter() - started) * 1000 / turns, (time.process_time() - started_cpu) * 1000 / turns


async def run_target(target: Target, args, holder: BundleHolder) -> dict[str, float]:
    out: dict[str, float] = {}
    rt = await fresh_runtime(target, holder)
    try:
        out["accepted_per_s"] = await bench_accept(rt, args.events, users=200)
        out["turns_per_s"], _ = await bench_turns(rt, rt.workers)
    finally:
        await rt.stop()
    lat = await bench_latency(target, holder, args.rate, args.seconds, users=200)
    out["latency_median_ms"] = statistics.median(lat)
    out["latency_p99_ms"] = pct(lat, 99)
    rt = await fresh_runtime(target, holder)
    try:
        await clear(rt)
        await seed(rt, 1000)
        out["turn_ms_1k"], out["turn_cpu_ms_1k"] = await per_turn_ms(rt, args.turns)
        out["batched_turn_ms_1k"], out["batched_turn_cpu_ms_1k"] = await per_turn_batched_ms(rt, args.turns)
        await seed(rt, args.big - 1000, prefix="more")
        big = f"{args.big // 1000}k"
        out[f"turn_ms_{big}"], out[f"turn_cpu_ms_{big}"] = await per_turn_ms(rt, args.turns)
        out[f"batched_turn_ms_{big}"], out[f"batched_turn_cpu_ms_{big}"] = await per_turn_batched_ms(rt, args.turns)
    finally:
        await rt.stop()
        await target.drop()
    return out


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--events", type=int, default=2000, help="events for the accept and turn figures")
    p.add_argument("--rate", type=float, default=20.0,
                   help="arrivals per second for the latency figure (below the turn rate: no queue builds up)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long events arrive for the latency figure")
    p.add_argument("--turns", type=int, default=400, help="turns timed at each conversation count")
    p.add_argument("--big", type=int, default=100_000, help="stored conversations for the second per-turn figure")
    p.add_argument("--pg-url", default=PG_URL)
    args = p.parse_args()
    holder = BundleHolder(MINI / "flows", MINI / "locales", "mini")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            print(f"running {kind}...", file=sys.stderr, flush=True)
            results[kind] = await run_target(Target(kind, args.pg_url, Path(tmp)), args, holder)
    import os

    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end", file=sys.stderr)
    names = list(next(iter(results.values())))
    print(f"{'':24}" + "".join(f"{k:>14}" for k in results))
    for name in names:
        print(f"{name:24}" + "".join(f"{results[k][name]:>14.2f}" for k in results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
