"""A time-bounded fuzzer (hypothesis) for what reads untrusted input (issue 16).

* the YAML loader: ``load_bundle`` on flow, locale and resource files mutated as text, as bytes
  and as YAML trees: it returns a ``Bundle`` (problems are its issues), never raises;
* the matcher: ``step`` with arbitrary text, taps, states, sessions and languages never raises
  and always lands in a state of the flow;
* the LINE webhook (``read_event`` and the whole handler with correctly signed arbitrary bodies):
  200, 400 or 413, never a 500; what reaches the inbox is well formed;
* the Discord adapter: arbitrary DMs and button presses as gateway payloads, and
  ``parse_custom_id``: no exception escapes into discord.py's error handlers.

Each target runs for ``BOT_FUZZ_SECONDS`` (default 6) in chunks of ``CHUNK`` examples with fresh
random data; ``make fuzz`` runs them for longer. A failure prints hypothesis's smallest
falsifying example.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import shutil
import string
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.engine import step
from bot.engine.loader import Bundle, load_bundle
from bot.engine.model import Session, Turn, UserInput

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "engine" / "fixtures" / "mini"
FUZZ_SECONDS = float(os.environ.get("BOT_FUZZ_SECONDS", "6"))
CHUNK = 20
TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone.utc)

pytestmark = pytest.mark.fuzz


@pytest.fixture(autouse=True)
def _quiet_logs():
    """Thousands of refused webhooks a minute: keep the captured log to errors."""
    bot_log = logging.getLogger("bot")
    level = bot_log.level
    bot_log.setLevel(logging.ERROR)
    yield
    bot_log.setLevel(level)

CHUNKED = settings(max_examples=CHUNK, deadline=None, database=None, derandomize=False, print_blob=True,
                   suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate, Phase.shrink))


def run_for(seconds: float, fuzz_chunk: Callable[[], None]) -> int:
    """Call a ``@given`` test (``CHUNK`` fresh examples each time) until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    chunks = 0
    while chunks == 0 or time.monotonic() < deadline:
        fuzz_chunk()
        chunks += 1
    return chunks


# ---- values ----------------------------------------------------------------------------------

# Japanese and English words the flows react to, so that mutations and messages reach the
# interesting paths (intents, interrupts, choices) and not only the fallback.
VOCAB = ["死にたい", "しにたい", "晒す", "晒された", "ばらす", "すばらしい", "お金", "払った", "警察", "人と話したい",
         "忘れて", "forget me", "talk to a person", "threat", "threatened", "evidence", "help", "はい", "いいえ",
         "1", "2", "０", "ｶﾀｶﾅ", "🙂", "\u200b", "\ufeff", "\r\n", "\t", "{", "}", "{yorisoi.tel}", "%", "=遺書"]
ANY_CHAR = st.characters(exclude_categories=())  # surrogates too: JSON can carry them
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.lists(st.one_of(st.sampled_from(VOCAB), st.text(ANY_CHAR, max_size=4)), max_size=12).map("".join),
    st.text(st.sampled_from("死にたいあ ア亜a1!?\n"), min_size=1000, max_size=6000),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False) | st.text(ANY_CHAR, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)


# ---- the YAML loader -------------------------------------------------------------------------

YAML_NOISE = st.lists(st.sampled_from(
    list(": -[]{}#&*!|>'\"%@`,?\n\t  \\") + list("abcxyz01") + ["あ", "\u3000"]
    # anchors, aliases, tags, merge keys, documents: what YAML has besides plain data
    + ["&a ", "*a", "&a [*a]", "<<: *a", "!!binary ", "!!python/object ", "!!set ", "? ", "---\n", "...\n",
       "%YAML 1.1\n", "[" * 40, "{a: " * 30, "\"\\x\"", "'", "|\n", ">-\n"]), max_size=12).map("".join)
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.sampled_from(VOCAB)
    | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def _mutate_text(data: st.DataObject, text: str) -> str:
    op = data.draw(st.sampled_from(["delete", "insert", "duplicate_line", "swap_lines", "indent", "truncate"]))
    lines = text.split("\n")
    if op in ("duplicate_line", "swap_lines", "indent") and len(lines) > 1:
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines) - 1))
        if op == "duplicate_line":
            lines.insert(j, lines[i])
        elif op == "swap_lines":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = " " * data.draw(st.integers(0, 9)) + lines[i].lstrip(" ")
        return "\n".join(lines)
    at = data.draw(st.integers(0, len(text)))
    if op == "delete":
        return text[:at] + text[at + data.draw(st.integers(1, 60)):]
    if op == "truncate":
        return text[:at]
    return text[:at] + data.draw(YAML_NOISE) + text[at:]


def _mutate_tree(data: st.DataObject, text: str) -> str:
    doc = yaml.safe_load(text)
    holder = {"root": doc}
    parent, key = holder, "root"
    for _ in range(data.draw(st.integers(0, 6))):  # walk down to a node
        node = parent[key]
        if isinstance(node, dict) and node:
            parent, key = node, data.draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            parent, key = node, data.draw(st.integers(0, len(node) - 1))
        else:
            break
    op = data.draw(st.sampled_from(["replace", "delete", "rename", "wrap", "alias"]))
    if op == "alias" and parent is not holder:
        parent[key] = parent  # dumped as an anchor and an alias to it: a node that contains itself
    elif op == "delete" and parent is not holder:
        del parent[key]
    elif op == "rename" and isinstance(parent, dict) and parent is not holder:
        parent[data.draw(st.text(max_size=12) | st.integers() | st.booleans())] = parent.pop(key)
    elif op == "wrap":
        parent[key] = data.draw(st.sampled_from([[parent[key]], {"x": parent[key]}, [parent[key], parent[key]]]))
    else:
        parent[key] = data.draw(YAML_VALUES)
    return yaml.safe_dump(holder["root"], allow_unicode=True, sort_keys=False)


def _content(tmp: Path, source: Path) -> tuple[Path, Path, list[Path]]:
    flows, locales = tmp / "flows", tmp / "locales"
    for sub in ("flows", "locales"):
        shutil.rmtree(tmp / sub, ignore_errors=True)
        shutil.copytree(source / sub, tmp / sub)
    return flows, locales, sorted(flows.glob("*.yaml")) + sorted(locales.glob("*.yaml"))


def test_the_loader_never_raises_on_mutated_files(tmp_path):
    originals = {"mini": MINI, "real": ROOT}
    texts = {name: {p.relative_to(src).as_posix(): p.read_text(encoding="utf-8")
                    for p in sorted((src / "flows").glob("*.yaml")) + sorted((src / "locales").glob("*.yaml"))}
             for name, src in originals.items()}
    # The real content takes ~0.2 s to load, the mini fixture a few ms: mostly the mini one.
    work = {name: tmp_path / name for name in originals}
    for name, src in originals.items():
        _content(work[name], src)

    @CHUNKED
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        which = data.draw(st.sampled_from(["mini"] * 9 + ["real"]))
        base, files = work[which], texts[which]
        for rel, text in files.items():  # back to the originals
            (base / rel).write_text(text, encoding="utf-8")
        rel = data.draw(st.sampled_from(sorted(files)))
        how = data.draw(st.sampled_from(["text", "text", "tree", "tree", "bytes"]))
        if how == "bytes":
            (base / rel).write_bytes(data.draw(st.binary(max_size=200)))
        else:
            text = files[rel]
            for _ in range(data.draw(st.integers(1, 3))):
                try:
                    text = _mutate_tree(data, text) if how == "tree" else _mutate_text(data, text)
                except yaml.YAMLError:
                    how = "text"  # an earlier text mutation broke the YAML: mutate the text further
                    text = _mutate_text(data, text)
            (base / rel).write_text(text, encoding="utf-8")
        bundle = load_bundle(base / "flows", base / "locales", today=TODAY)
        assert isinstance(bundle, Bundle)
        for issue in bundle.issues:
            assert str(issue) and issue.code
        for flow in bundle.flows.values():  # a mutation that still loads must still run
            for text in ("", "死にたい", "help"):
                turn = step(flow, None, UserInput("text", text=text), NOW)
                assert turn.session.state in flow.states

    assert run_for(FUZZ_SECONDS, fuzz)


# ---- the matcher -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_flow():
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", today=TODAY)
    assert not bundle.errors
    return next(iter(bundle.flows.values()))


def test_step_never_raises_and_lands_in_a_state(real_flow):
    flow = real_flow
    states = sorted(flow.states)
    choice_ids = sorted({c for s in flow.states.values() for c in s.choice_by_id}) or ["x"]
    words = st.text(max_size=12)
    sessions = st.none() | st.builds(
        Session,
        state=st.sampled_from(states) | words,
        locale=st.sampled_from(sorted(flow.locales)) | words,
        flow_version=st.just(flow.version) | words,
        variables=st.dictionaries(words, words, max_size=4),
        path=st.lists(st.sampled_from(states) | words, max_size=8).map(tuple),
        started_at=st.floats(0, 2e9),
        last_active_at=st.floats(0, 2e9) | st.just(NOW.timestamp() - 60),
        risk=st.lists(st.sampled_from(["crisis", "minor"]) | words, max_size=3).map(tuple),
    )
    inputs = st.builds(
        UserInput,
        kind=st.sampled_from(["start", "text", "text", "text", "tap", "tap", "media", "sticker", "location"]),
        text=TEXT,
        choice=st.sampled_from(choice_ids) | st.text(ANY_CHAR, max_size=20),
        from_state=st.none() | st.sampled_from(states) | words,
        locale_hint=st.none() | st.sampled_from(["ja", "en", "ja-JP", "en-US", "zh"]) | words,
    )

    @CHUNKED
    @given(session=sessions, user_input=inputs, later=st.floats(0, 1e7))
    def fuzz(session, user_input, later) -> None:
        turn = step(flow, session, user_input, NOW + dt.timedelta(seconds=later))
        assert isinstance(turn, Turn) and turn.session.state in flow.states
        again = step(flow, turn.session, user_input, NOW + dt.timedelta(seconds=later + 1))
        assert again.session.state in flow.states

    assert run_for(FUZZ_SECONDS, fuzz)


# ---- LINE ------------------------------------------------------------------------------------

LINE_SECRET = "0123456789abcdef0123456789abcdef"
MS = int(NOW.timestamp() * 1000)


def line_events():
    ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=40) | JSON
    source = st.one_of(
        st.fixed_dictionaries({"type": st.just("user"), "userId": ids}),
        st.fixed_dictionaries({"type": st.sampled_from(["group", "room"]), "groupId": ids, "roomId": ids,
                               "userId": ids}),
        JSON,
    )
    message = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image", "video", "audio", "file", "sticker",
                                                        "location", "emoji", "x"]),
                               "id": ids, "text": TEXT | JSON}),
        JSON,
    )
    event = st.fixed_dictionaries(
        {"type": st.sampled_from(["message", "postback", "follow", "unfollow", "join", "leave", "memberLeft",
                                  "unsend", "beacon", "x"]) | JSON,
         "source": source,
         "webhookEventId": ids,
         "timestamp": st.integers(0, 2 * MS) | st.just(MS) | JSON,
         "mode": st.sampled_from(["active", "standby"]) | JSON,
         "replyToken": ids},
        optional={"message": message, "postback": st.fixed_dictionaries({"data": TEXT | JSON}) | JSON,
                  "deliveryContext": JSON},
    )
    return event | JSON


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()).decode()


class _Inbox:
    def __init__(self) -> None:
        self.events: list = []

    async def accept(self, events, timeout=None) -> int:
        self.events.extend(events)
        return len(events)

    def safety_text(self, locale=None) -> str:
        return "safety"


class _LineChannel:
    """What the webhook calls on the channel, without a network."""

    def expect_reply(self, user_id: str) -> None:
        assert isinstance(user_id, str) and user_id

    def spawn(self, coro):
        coro.close()

    def text(self, locale, key) -> str:
        return ""


def test_the_line_webhook_answers_every_signed_body_without_a_500():
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.envelope import InboundEvent
    from bot.channels.line.webhook import LineWebhook, read_event

    inbox = _Inbox()
    hook = LineWebhook(LINE_SECRET, _LineChannel(), inbox)
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/line/webhook", hook.handle)
    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())
    bodies = st.one_of(
        # ensure_ascii=False leaves lone surrogates as raw (invalid UTF-8) bytes: refused, never a crash
        st.builds(lambda d, e: json.dumps({"destination": d, "events": e}, ensure_ascii=bool(len(e) % 2))
                  .encode("utf-8", "surrogatepass"), st.text(max_size=10), st.lists(line_events(), max_size=4)),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        st.integers(1, 200_000).map(lambda n: b'{"events": ' + b"[" * n + b"]" * n + b"}"),
        st.integers(1, 200_000).map(lambda n: b'{"events": [' + b'{"a": ' * n + b"1" + b"}" * n + b"]}"),
    )

    @CHUNKED
    @given(body=bodies, loose=st.lists(line_events(), max_size=3))
    def fuzz(body: bytes, loose: list) -> None:
        for event in loose:
            item = read_event(event, NOW.timestamp(), 7 * 86_400.0)
            if isinstance(item, InboundEvent):
                assert isinstance(item.user_id, str) and isinstance(item.event_id, str) and isinstance(item.text, str)
                json.loads(item.to_json())

        async def post() -> int:
            async with client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)}) as resp:
                await resp.read()
                return resp.status

        before = len(inbox.events)
        status = loop.run_until_complete(post())
        assert status in (200, 400, 413), status
        for ev in inbox.events[before:]:
            assert isinstance(ev, InboundEvent) and isinstance(ev.user_id, str) and ev.user_id
            assert ev.kind in ("text", "tap", "start", "forget", "media", "sticker", "location")
            ev.to_json().encode("utf-8")  # storable: no lone surrogates

    try:
        assert run_for(FUZZ_SECONDS, fuzz)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


# ---- Discord ---------------------------------------------------------------------------------

class _Errors(logging.Handler):
    """Exceptions discord.py caught and logged (from event handlers, views, dynamic items)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_discord_adapter_takes_arbitrary_messages_and_presses(tmp_path):
    from bot.channels.discord.render import CUSTOM_ID_PREFIX, parse_custom_id
    from bot.reload import BundleHolder
    from tests.channels import test_discord as harness

    flows, locales = tmp_path / "flows", tmp_path / "locales"
    shutil.copytree(MINI / "flows", flows)
    shutil.copytree(MINI / "locales", locales)
    for lang in ("ja", "en"):
        shutil.copy(ROOT / "locales" / f"{lang}.discord.yaml", locales)
    holder = BundleHolder(flows, locales, "mini")
    errors = _Errors()
    logging.getLogger("discord").addHandler(errors)
    loop = asyncio.new_event_loop()
    with pytest.MonkeyPatch.context() as monkeypatch:
        bot = loop.run_until_complete(harness.start_bot(holder, monkeypatch))
        seen: list[tuple] = []
        bot.client.on_error = lambda event, *args, **kwargs: seen.append((event, args))  # type: ignore[method-assign]
        custom_ids = st.one_of(
            st.text(ANY_CHAR, max_size=100),
            st.text(ANY_CHAR, max_size=90).map(lambda t: CUSTOM_ID_PREFIX + t),
            st.sampled_from([f"{CUSTOM_ID_PREFIX}start", f"{CUSTOM_ID_PREFIX}welcome:threatened",
                             f"{CUSTOM_ID_PREFIX}:evidence", f"{CUSTOM_ID_PREFIX}nowhere:"]),
        )
        actions = st.one_of(
            st.builds(lambda c, a, s, t: ("dm", c, a, s, t), TEXT.map(lambda t: t[:4000]), st.integers(0, 2),
                      st.integers(0, 2), st.sampled_from([0, 0, 0, 19, 6, 7, 20])),
            st.builds(lambda c, loc, g: ("press", c, loc, g), custom_ids,
                      st.sampled_from(["ja", "en-US", "en-GB", "ko", "zz"]), st.booleans()),
        )

        @CHUNKED
        @given(plan=st.lists(actions, min_size=1, max_size=4), loose=st.text(ANY_CHAR, max_size=120))
        def fuzz(plan: list, loose: str) -> None:
            tap = parse_custom_id(loose)
            assert tap is None or tap.kind in ("tap", "start")

            async def go() -> None:
                user = harness.new_id()
                for action in plan:
                    if action[0] == "dm":
                        _, content, attachments, stickers, mtype = action
                        harness.feed_message(bot.client, harness.dm_message(
                            user, content, attachments=attachments, stickers=stickers, message_type=mtype))
                    else:
                        _, custom_id, locale, guild = action
                        earlier = harness.bot_message(user, custom_id)
                        harness.feed_interaction(bot.client, harness.button_interaction(
                            user, earlier, custom_id, locale=locale, guild=guild))
                    await harness.settle()
                await bot.runtime.drain()

            loop.run_until_complete(go())
            assert not seen and not errors.records, (seen, [r.getMessage() for r in errors.records])

        try:
            assert run_for(FUZZ_SECONDS, fuzz)
        finally:
            logging.getLogger("discord").removeHandler(errors)
            loop.run_until_complete(bot.close())
            loop.close()
