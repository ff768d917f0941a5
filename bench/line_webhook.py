"""LINE webhook benchmark: this bot against line-bot-sdk's own aiohttp echo example, same stand-in LINE.

    .venv/bin/python bench/line_webhook.py [--deliveries 5000] [--users 1000] [--concurrency 32]
        [--driver wrk --seconds 6 --wrk-connections 16]
        [--echo-app PATH | --sdk-git-dir DIR] [--flows DIR --locales DIR --flow NAME] [--database-url URL]

Three processes per target, on this machine: the stand-in LINE (``bot/channels/line/fake.py``
on loopback, recording counts only), the server under test, and this load generator. The load
is pre-signed deliveries, one text event each, each with its own ``webhookEventId`` and reply
token, spread over ``--users`` people; ``--concurrency`` connections post them as fast as the
server answers (LINE sends in parallel too). Printed for both targets, in the same run:

- acks/s: deliveries answered 200, per second of sending;
- replies/s: replies LINE accepted (reply or push), per second from the first delivery to the last reply;
- median and 99th-percentile acknowledgement time, and how many took over LINE's 2 seconds;
- whether every acknowledged delivery was answered;
- the server's CPU time per delivery (all its threads, from /proc), which says where the time goes
  when the rates are close;

and the bot's figures as ratios to the echo's. Only a ratio from one run means anything: the
absolute figures move with the machine. ``--driver wrk`` measures the same way with a second,
independent load generator (``bench/wrk_driver.py``): when the two disagree, the load generator
is part of what was measured.

The bot runs as deployed: ``python -m bot serve`` (SQLite unless ``--database-url``, worker and
sender in the web process, INFO logs in JSON to a file), with the mini fixture flow unless
``--flows``. The echo example is ``examples/aiohttp-echo/app.py`` from line-bot-sdk-python,
unchanged: ``--echo-app``, or read from a git copy of the SDK (``--sdk-git-dir``, default the
mirror this project's machines keep; without network nothing is cloned), or, when neither is
there, ``ECHO_RESTATED`` below, which uses the SDK the same way. The output says which ran. The
example has no setting for the API host, so a wrapper points ``Configuration``'s default host at
the stand-in before running it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MINI, mini_locales_with_line  # noqa: E402
from bench import wrk_driver  # noqa: E402
from bot.channels.line.fake import make_text, new_user_id, sign, webhook_body  # noqa: E402

SECRET = "benchsecret0123456789abcdef01234"
TOKEN = "bench-access-token"
KEY = "bench-secret-key-that-is-long-enough-0123456789"
SDK_MIRROR = Path("/work/.mirror/line+line-bot-sdk-python/repo")
ECHO_PATH = "examples/aiohttp-echo/app.py"
LINE_DEADLINE = 2.0

# Texts the people send: a first message that tells the story, questions, a tap typed as a number.
TEXTS = ["晒すと言われた", "証拠はどうすれば", "1", "こんにちは", "どうしたらいいの", "16歳未満です", "ありがとう", "😢"]

# Runs the example unchanged, with LINE's API host pointed at the stand-in.
WRAPPER = """
import os, runpy, sys
from linebot.v3.messaging import configuration
_init = configuration.Configuration.__init__
def _init_with_host(self, *args, **kwargs):
    kwargs.setdefault("host", os.environ["LINE_API_BASE_URL"])
    _init(self, *args, **kwargs)
configuration.Configuration.__init__ = _init_with_host
app, port = sys.argv[1], sys.argv[2]
sys.argv = [app, "--port", port]
runpy.run_path(app, run_name="__main__")
"""

# A re-statement of examples/aiohttp-echo/app.py, used only when the original is not available:
# the same SDK calls (WebhookParser, AsyncApiClient, AsyncMessagingApi.reply_message), the same
# aiohttp server set-up (AppRunner + TCPSite, INFO logging), the same route.
ECHO_RESTATED = """
import asyncio, logging, os, sys
from argparse import ArgumentParser
from aiohttp import web
from aiohttp.web_runner import TCPSite
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration, ReplyMessageRequest, TextMessage
from linebot.v3.webhooks import MessageEvent, TextMessageContent

configuration = Configuration(access_token=os.environ["LINE_CHANNEL_ACCESS_TOKEN"])

class Handler:
    def __init__(self, line_bot_api, parser):
        self.line_bot_api, self.parser = line_bot_api, parser

    async def echo(self, request):
        signature = request.headers["X-Line-Signature"]
        body = await request.text()
        try:
            events = self.parser.parse(body, signature)
        except InvalidSignatureError:
            return web.Response(status=400, text="Invalid signature")
        for event in events:
            if not isinstance(event, MessageEvent) or not isinstance(event.message, TextMessageContent):
                continue
            await self.line_bot_api.reply_message(
                ReplyMessageRequest(reply_token=event.reply_token, messages=[TextMessage(text=event.message.text)]))
        return web.Response(text="OK\\n")

async def main(port):
    handler = Handler(AsyncMessagingApi(AsyncApiClient(configuration)), WebhookParser(os.environ["LINE_CHANNEL_SECRET"]))
    app = web.Application()
    app.add_routes([web.post("/callback", handler.echo)])
    runner = web.AppRunner(app)
    await runner.setup()
    await TCPSite(runner=runner, port=port).start()
    while True:
        await asyncio.sleep(3600)

if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s:%(message)s", level=logging.INFO)
    p = ArgumentParser()
    p.add_argument("-p", "--port", type=int, default=8000)
    asyncio.run(main(p.parse_args().port))
"""


def serve_layer(port: int, reply: bool = True) -> None:
    """The LINE layer alone (``--serve-layer``): this bot's webhook and channel as deployed, with
    the inbox, the worker and the engine replaced by one fixed turn delivered at once. It shows
    what the LINE code itself costs, apart from persistence and turns."""
    import uuid

    from aiohttp import web

    from bot.channels.line import LineChannel, LineWebhook
    from bot.engine.model import Choice, Reply
    from bot.envelope import Outbound

    turn = (Reply("こんにちは。ここは名前を言わずに相談できる場所です。どうしましたか？", "welcome.hello",
                  (Choice("threatened", "脅されている"), Choice("age_u16", "16歳未満"), Choice("person", "人と話す"))),)
    channel = LineChannel(os.environ["LINE_CHANNEL_ACCESS_TOKEN"], os.environ["LINE_API_BASE_URL"])

    class Instant:
        async def accept(self, events, timeout=None) -> int:
            for ev in events if reply else ():
                out = Outbound(turn, ev.reply_token, ev.received_at, uuid.uuid4().hex, "turn", {"state": "welcome"})
                channel.spawn(channel.deliver(ev.user_id, out))
            return len(events)

        def safety_text(self, locale=None) -> str:
            return "safety"

    app = web.Application()
    app.router.add_post("/line/webhook", LineWebhook(os.environ["LINE_CHANNEL_SECRET"], channel, Instant()).handle)
    app.router.add_get("/healthz", lambda request: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@dataclass
class Result:
    name: str
    sent: int
    acked: int
    ack_seconds: float
    answered: int
    reply_seconds: float
    ack_times: list[float]
    cpu_ms: float = 0.0   # the server's CPU time per delivery, acknowledgement to reply
    wrk: "wrk_driver.WrkRun | None" = None   # with --driver wrk: wrk's own latency figures

    @property
    def acks_per_s(self) -> float:
        return self.acked / self.ack_seconds

    @property
    def replies_per_s(self) -> float:
        return self.answered / self.reply_seconds if self.reply_seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return self.wrk.p50_ms if self.wrk else statistics.median(self.ack_times) * 1000

    @property
    def p99_ms(self) -> float:
        return self.wrk.p99_ms if self.wrk else percentile(self.ack_times, 0.99) * 1000

    @property
    def max_ms(self) -> float:
        return self.wrk.max_ms if self.wrk else max(self.ack_times) * 1000

    @property
    def late(self) -> int:
        return self.wrk.late if self.wrk else sum(1 for t in self.ack_times if t > LINE_DEADLINE)


def build_deliveries(count: int, users: int, first: int = 0) -> list[tuple[bytes, str]]:
    people = [new_user_id() for _ in range(users)]
    out = []
    for i in range(first, first + count):
        body = webhook_body([make_text(people[i % users], TEXTS[(i // users) % len(TEXTS)])])
        out.append((body, sign(SECRET, body)))
    return out


def echo_source(args: argparse.Namespace, folder: Path) -> tuple[Path, str]:
    target = folder / "aiohttp-echo-app.py"
    if args.echo_app:
        shutil.copy(args.echo_app, target)
        return target, f"line-bot-sdk-python {ECHO_PATH} from {args.echo_app}"
    git_dir = Path(args.sdk_git_dir)
    if git_dir.exists():
        try:
            commit = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"], check=True,
                                    capture_output=True, text=True).stdout.strip()
            source = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{ECHO_PATH}"], check=True,
                                    capture_output=True).stdout
            target.write_bytes(source)
            return target, f"line-bot-sdk-python {ECHO_PATH} at {commit[:12]} (unchanged, read from {git_dir})"
        except (subprocess.CalledProcessError, FileNotFoundError):
            pass
    target.write_text(ECHO_RESTATED)
    return target, "a re-statement of line-bot-sdk-python's aiohttp echo example (ECHO_RESTATED in this file)"


async def wait_http(url: str, timeout: float = 30.0, expect: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if expect is None or resp.status == expect:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def stats(http: aiohttp.ClientSession, standin: str) -> dict:
    async with http.get(f"{standin}/_stats") as resp:
        return (await resp.json())["counts"]


def answered(counts: dict) -> int:
    return counts.get("reply_200", 0) + counts.get("push_200", 0)


def http_request(host: str, port: int, path: str, body: bytes, signature: str) -> bytes:
    """One POST as LINE sends it, as raw HTTP/1.1 bytes (keep-alive)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: LineBotWebhook/2.0\r\n"
            f"Content-Type: application/json; charset=utf-8\r\nX-Line-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


async def drive(url: str, deliveries: list[tuple[bytes, str]], concurrency: int) -> tuple[int, float, list[float], float]:
    """Post every delivery over ``concurrency`` keep-alive connections; returns (acked, seconds, ack times, start).

    A hand-written HTTP/1.1 client on asyncio streams, requests pre-encoded: aiohttp's client costs
    as much CPU per request as the servers under test, and on two cores the load generator would
    be what is measured.
    """
    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port, parts.path
    requests = [http_request(host, port, path, body, sig) for body, sig in deliveries]
    times: list[float] = []
    acked = 0
    queue = iter(requests)

    async def worker() -> None:
        nonlocal acked
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for raw in queue:
                t = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                times.append(time.perf_counter() - t)
                acked += status == 200
                if b"connection: close" in head.lower():
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    started = time.perf_counter()
    wall = time.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acked, time.perf_counter() - started, times, wall


async def measure(name: str, url: str, standin: str, warmup: list, deliveries: list, args,
                  folder: Path) -> Result:
    async with aiohttp.ClientSession() as http:
        await drive(url, warmup, args.concurrency)
        # let the warm-up drain, so the measured run starts from an idle server
        last, still = -1, time.monotonic()
        while time.monotonic() - still < 1.0 and answered(await stats(http, standin)) < len(warmup):
            now = answered(await stats(http, standin))
            if now != last:
                last, still = now, time.monotonic()
            await asyncio.sleep(0.05)
        base = answered(await stats(http, standin))
        done_at: list[float] = []
        goal = [float("inf")]   # known once the load is sent: every acknowledged delivery answered

        async def watch() -> None:
            last_count, last_change = base, time.perf_counter()
            while True:
                count = answered(await stats(http, standin))
                now = time.perf_counter()
                if count != last_count:
                    last_count, last_change = count, now
                    done_at[:] = [now, count - base]
                if count >= base + goal[0] or now - last_change > args.reply_timeout:
                    return
                await asyncio.sleep(0.02)

        started = time.perf_counter()
        watcher = asyncio.create_task(watch())
        if args.driver == "wrk":
            parts = urlsplit(url)
            raw = [http_request(parts.hostname, parts.port, parts.path, body, sig) for body, sig in deliveries]
            run = await asyncio.to_thread(wrk_driver.run, url, raw, folder, args.wrk_connections, args.seconds)
            goal[0] = run.acked
            await watcher
            reply_seconds = (done_at[0] - started) if done_at else 0.0
            return Result(name, run.requests, run.acked, run.seconds, done_at[1] if done_at else 0, reply_seconds,
                          [], wrk=run)
        acked, seconds, times, _ = await drive(url, deliveries, args.concurrency)
        goal[0] = len(deliveries)
        await watcher
        reply_seconds = (done_at[0] - started) if done_at else 0.0
        count = done_at[1] if done_at else 0
        return Result(name, len(deliveries), acked, seconds, count, reply_seconds, times)


async def run_target(name: str, cmd: list[str], env: dict, url_path: str, health: str | None, args, warmup, deliveries,
                     log_file: Path) -> Result:
    standin_port, port = free_port(), free_port()
    standin_cmd = [sys.executable, "-m", "bot.channels.line.fake", "--port", str(standin_port), "--token", TOKEN]
    standin = subprocess.Popen(standin_cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    standin_url = f"http://127.0.0.1:{standin_port}"
    server = None
    try:
        await wait_http(f"{standin_url}/_stats")
        env = {**env, "LINE_API_BASE_URL": standin_url, "PORT": str(port)}
        with open(log_file, "wb") as log:
            server = subprocess.Popen([c.replace("{port}", str(port)) for c in cmd], cwd=ROOT, env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
            if health:
                await wait_http(f"http://127.0.0.1:{port}{health}", expect=200)
            else:
                await wait_http(f"http://127.0.0.1:{port}{url_path}")
            cpu_before = cpu_seconds(server.pid)
            result = await measure(name, f"http://127.0.0.1:{port}{url_path}", standin_url, warmup, deliveries,
                                   args, log_file.parent)
            result.cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / len(deliveries)
            return result
    finally:
        for proc in (server, standin):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def show(r: Result) -> None:
    every = "yes" if r.answered >= r.acked else f"NO ({r.answered} of {r.acked})"
    print(f"  {r.name:<6} acks/s {r.acks_per_s:8.0f}   replies/s {r.replies_per_s:8.0f}   "
          f"ack p50 {r.p50_ms:7.1f} ms   p99 {r.p99_ms:7.1f} ms   max {r.max_ms:7.1f} ms   "
          f"over 2 s: {r.late}   acked {r.acked}/{r.sent}   every acked answered: {every}   "
          f"server CPU {r.cpu_ms:.2f} ms/delivery")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deliveries", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--driver", choices=["python", "wrk"], default="python",
                    help="the load generator: this file's asyncio client (a fixed number of deliveries) or wrk "
                         "(Debian's package: 1 thread, --wrk-connections, --seconds of deliveries)")
    ap.add_argument("--seconds", type=int, default=6, help="with --driver wrk: how long wrk sends")
    ap.add_argument("--wrk-connections", type=int, default=16)
    ap.add_argument("--wrk-deliveries", type=int, default=40000,
                    help="with --driver wrk: deliveries prepared (wrk must not run out of them)")
    ap.add_argument("--reply-timeout", type=float, default=30.0, help="give up when no reply arrives for this long")
    ap.add_argument("--echo-app", help="path to examples/aiohttp-echo/app.py")
    ap.add_argument("--sdk-git-dir", default=str(SDK_MIRROR), help="a git copy of line-bot-sdk-python")
    ap.add_argument("--flows", default=str(MINI / "flows"))
    ap.add_argument("--locales", help="default: the mini fixture's locales plus locales/*.line.yaml")
    ap.add_argument("--flow", default="mini")
    ap.add_argument("--database-url", default="", help="a throwaway PostgreSQL database (the bot writes its tables there); default: SQLite in a temporary folder")
    ap.add_argument("--only", choices=["bot", "echo", "layer"], help="run one target")
    ap.add_argument("--no-layer", action="store_true", help="skip the LINE-layer-only run")
    ap.add_argument("--rounds", type=int, default=1, help="run the targets in turn this many times (noisy machines)")
    ap.add_argument("--serve-layer", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_layer:
        serve_layer(args.serve_layer, reply=os.environ.get("BENCH_LAYER_REPLIES", "1") == "1")
        return

    folder = Path(tempfile.mkdtemp(prefix="line-bench-"))
    locales = Path(args.locales) if args.locales else mini_locales_with_line(folder / "locales")
    warmup = build_deliveries(args.warmup, args.users)
    if args.driver == "wrk" and not wrk_driver.available():
        sys.exit("--driver wrk needs wrk on PATH (Debian: apt-get install wrk)")
    count = args.wrk_deliveries if args.driver == "wrk" else args.deliveries
    deliveries = build_deliveries(count, args.users, first=args.warmup)
    base_env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
                "PYTHONPATH": str(ROOT)}
    bot_env = {**base_env, "BOT_DATA_DIR": str(folder / "data"), "BOT_SECRET_KEY": KEY, "BOT_FLOWS_DIR": args.flows,
               "BOT_LOCALES_DIR": str(locales), "BOT_FLOW": args.flow, "DATABASE_URL": args.database_url,
               "BOT_LOG_LEVEL": "INFO", "BOT_LOG_FORMAT": "json"}
    echo_app, echo_origin = echo_source(args, folder)
    wrapper = folder / "run_echo.py"
    wrapper.write_text(WRAPPER)

    if args.driver == "wrk":
        load = (f"wrk, 1 thread, {args.wrk_connections} connections, {args.seconds} s of pre-signed deliveries "
                f"(+{args.warmup} warm-up)")
    else:
        load = f"{args.deliveries} deliveries (+{args.warmup} warm-up), {args.concurrency} connections"
    print(f"LINE webhook benchmark: {load}, one text event each, {args.users} people, {os.cpu_count()} CPUs")
    print(f"  bot:  python -m bot serve, {'SQLite' if not args.database_url else args.database_url.split(':')[0]}, "
          f"flow {args.flow} ({args.flows}), logs in {folder}")
    print(f"  echo: {echo_origin}")
    print("  layer: the LINE webhook and channel alone, a fixed turn delivered at once (no inbox, no engine)")
    targets = [t for t in ("echo", "bot", "layer")
               if args.only in (None, t) and not (t == "layer" and args.no_layer and args.only is None)]
    rounds: list[dict[str, Result]] = []
    for n in range(args.rounds):
        results: dict[str, Result] = {}
        for name in targets:
            if name == "bot":  # a fresh database each time: the same event ids would all be redeliveries
                env = {**bot_env, "BOT_DATA_DIR": str(folder / f"data{n}")}
                cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "{port}"]
                results[name] = asyncio.run(run_target(name, cmd, env, "/line/webhook", "/readyz", args, warmup,
                                                       deliveries, folder / f"bot{n}.log"))
            elif name == "echo":
                cmd = [sys.executable, str(wrapper), str(echo_app), "{port}"]
                results[name] = asyncio.run(run_target(name, cmd, base_env, "/callback", None, args, warmup,
                                                       deliveries, folder / f"echo{n}.log"))
            else:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-layer", "{port}"]
                results[name] = asyncio.run(run_target(name, cmd, base_env, "/line/webhook", "/healthz", args, warmup,
                                                       deliveries, folder / f"layer{n}.log"))
        print(f" round {n + 1}")
        for r in results.values():
            show(r)
        rounds.append(results)

    def ratio(name: str, metric) -> float:
        return statistics.median(metric(r[name]) / metric(r["echo"]) for r in rounds)

    if "echo" in targets:
        print(f" ratios to the echo example (median of {len(rounds)} round(s), each round's figures side by side)")
        for name in ("bot", "layer"):
            if name in targets:
                print(f"  {name + '/echo':<11} acks/s {ratio(name, lambda r: r.acks_per_s):.2f}x   "
                      f"replies/s {ratio(name, lambda r: r.replies_per_s):.2f}x   "
                      f"ack p50 {ratio(name, lambda r: r.p50_ms):.2f}x   p99 {ratio(name, lambda r: r.p99_ms):.2f}x   "
                      f"server CPU per delivery {ratio(name, lambda r: r.cpu_ms or float('nan')):.2f}x")
    print(json.dumps([{k: {"acks_per_s": round(v.acks_per_s), "replies_per_s": round(v.replies_per_s),
                           "p50_ms": round(v.p50_ms, 2), "p99_ms": round(v.p99_ms, 2), "late": v.late,
                           "acked": v.acked, "answered": v.answered, "cpu_ms": round(v.cpu_ms, 3)}
                       for k, v in r.items()} for r in rounds]))


if __name__ == "__main__":
    main()
