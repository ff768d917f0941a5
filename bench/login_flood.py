"""Failed console logins against the LINE webhook's answer time (issue 16).

    .venv/bin/python bench/login_flood.py [--logins 8] [--rounds 3]

One process: the bot's app as ``bot.app`` builds it (SQLite in a temporary folder, LINE on,
the stand-in LINE on loopback), and this client. Each round sends signed LINE webhooks one
after another while ``--logins`` failed logins run at once, and prints the webhook's answer
time (median, worst) three ways, in the same run:

- ``quiet``: no logins (the baseline);
- ``threads``: the logins as the console runs them (argon2 in ``Argon2Pool``'s threads);
- ``on the loop``: argon2 called on the event loop, as the console did before issue 16.

Only ratios from one run mean anything: the absolute figures move with the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MINI, mini_locales_with_line  # noqa: E402
from bot.channels.line.fake import LineStandIn, make_text, new_user_id, sign, webhook_body  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
KEY = "bench-secret-key-that-is-long-enough-0123456789"


async def start(folder: Path):
    from bot.app import assemble, build_app
    from bot.handoff.accounts import create_counsellor
    from bot.reload import BundleHolder
    from bot.settings import Settings

    line = LineStandIn("token")
    await line.start()
    locales = mini_locales_with_line(folder / "locales")
    settings = Settings(BOT_DATA_DIR=folder, BOT_SECRET_KEY=KEY, BOT_FLOWS_DIR=MINI / "flows", BOT_LOCALES_DIR=locales,
                        BOT_FLOW="mini", LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN="token",
                        LINE_API_BASE_URL=line.url, BOT_TRUSTED_PROXIES="1")
    process = assemble(settings, holder=BundleHolder(MINI / "flows", locales, "mini"), poll_interval=0.05)
    runtime = process.runtime
    app = build_app(process)
    await runtime.start(run_worker=True)
    await create_counsellor(runtime.store, "aiko", "a long password")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return line, runtime, runner, f"http://127.0.0.1:{port}"


async def webhook(http: aiohttp.ClientSession, base: str) -> float:
    body = webhook_body([make_text(new_user_id(), "こんにちは")])
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(SECRET, body)}
    started = time.perf_counter()
    async with http.post(base + "/line/webhook", data=body, headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    return time.perf_counter() - started


_addresses = iter(range(1, 1 << 16))


async def failed_login(base: str) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # Each from its own address (the app trusts one proxy hop), so the throttle lets all try.
        n = next(_addresses)
        where = {"X-Forwarded-For": f"10.{n >> 8}.{n & 255}.1"}
        page = await (await http.get(base + "/console/login", headers=where)).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        async with http.post(base + "/console/login", headers=where,
                             data={"csrf": csrf, "name": "aiko", "password": "wrong password"}) as resp:
            await resp.read()
            return resp.status


async def measure(base: str, logins: int) -> list[float]:
    async with aiohttp.ClientSession() as http:
        await webhook(http, base)  # warm
        tasks = [asyncio.create_task(failed_login(base)) for _ in range(logins)]
        times = []
        while True:
            times.append(await webhook(http, base))
            if tasks and all(t.done() for t in tasks):
                break
            if not tasks and len(times) >= 20:
                break
        statuses = [t.result() for t in tasks]
        assert all(s == 401 for s in statuses), statuses
        return times


def on_the_loop():
    """argon2 on the event loop, as before issue 16."""
    from bot.handoff import security

    async def run_inline(self, fn, *args):
        return fn(*args)

    original = security.Argon2Pool._run
    security.Argon2Pool._run = run_inline
    return lambda: setattr(security.Argon2Pool, "_run", original)


async def main(logins: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        line, runtime, runner, base = await start(Path(tmp))
        try:
            rows = {"quiet": [], "threads": [], "on the loop": []}
            for _ in range(rounds):
                rows["quiet"] += await measure(base, 0)
                rows["threads"] += await measure(base, logins)
                undo = on_the_loop()
                try:
                    rows["on the loop"] += await measure(base, logins)
                finally:
                    undo()
        finally:
            await runner.cleanup()
            await runtime.stop()
            await line.close()
    def p(times: list[float], share: float) -> float:
        return sorted(times)[min(len(times) - 1, int(len(times) * share))]

    quiet90 = p(rows["quiet"], 0.9)
    print(f"LINE webhook answer time while {logins} failed logins run at once ({rounds} rounds)")
    print(f"{'':14} {'webhooks':>8} {'median':>9} {'p90':>9} {'p99':>9} {'worst':>9} {'p90/quiet':>10}")
    for name, times in rows.items():
        print(f"{name:14} {len(times):8d} {statistics.median(times) * 1000:7.1f}ms {p(times, 0.9) * 1000:7.1f}ms "
              f"{p(times, 0.99) * 1000:7.1f}ms {max(times) * 1000:7.1f}ms {p(times, 0.9) / quiet90:9.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.logins, args.rounds))
