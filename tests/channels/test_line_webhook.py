"""The LINE webhook end to end: signed deliveries over HTTP into the real aiohttp server, the real
runtime on SQLite (inbox, worker, outbox, sender), and the stand-in LINE recording what the bot sends.

Every webhook body these tests send is checked as LINE would send it first (except the ones that
are broken on purpose); every request the bot makes is checked by the stand-in as LINE would
check it, and a test fails if any was refused (``line.violations``). Both use ``line_contract``:
line-bot-sdk's models, and LINE's OpenAPI documents where ../shared is there.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.channels.line import delivery as line_module
from bot.channels.line import webhook as line_webhook
from bot.app import assemble, build_app
from bot.reload import BundleHolder
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Store
from bot.store.models import Conversation, InboxEvent
from bot.channels.line.fake import (
    LineStandIn,
    make_follow,
    make_group_text,
    make_join,
    make_location,
    make_media,
    make_postback,
    make_sticker,
    make_text,
    make_unfollow,
    make_unsend,
    new_user_id,
    sign,
    webhook_body,
)
from tests.channels.helpers import MINI, mini_locales_with_line
from tests.channels.line_contract import contract_standin, validate_webhook_body

pytestmark = pytest.mark.shared

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "test-access-token"
KEY = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="module")
def holder(tmp_path_factory):
    return BundleHolder(MINI / "flows", mini_locales_with_line(tmp_path_factory.mktemp("locales")), "mini")


class Bot:
    """The bot under test, seen from LINE's side."""

    def __init__(self, url: str, http: aiohttp.ClientSession, line: LineStandIn, runtime: Runtime, store: Store):
        self.url, self.http, self.line, self.runtime, self.store = url, http, line, runtime, store

    async def post(self, events: list[dict] | None = None, *, body: bytes | None = None, secret: str = SECRET,
                   signature: str | None = None, headers: dict | None = None, check: bool = True) -> aiohttp.ClientResponse:
        """POST a delivery as LINE does: JSON body, X-Line-Signature over the raw bytes."""
        if body is None:
            body = webhook_body(events or [])
        if check:
            assert validate_webhook_body(body) == []
        hdrs = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
        if signature is not False:
            hdrs["X-Line-Signature"] = signature if signature is not None else sign(secret, body)
        hdrs.update(headers or {})
        async with self.http.post(self.url, data=body, headers=hdrs) as resp:
            await resp.read()
            return resp

    async def count(self, model) -> int:
        async with self.store.transaction() as s:
            return (await s.execute(select(func.count()).select_from(model))).scalar_one()

    async def settle(self, sent: int | None = None, timeout: float = 5.0) -> None:
        """Wait until the bot has processed and delivered everything (or ``sent`` were accepted)."""
        if sent is not None:
            await self.line.wait_for(lambda: len(self.line.sent()) >= sent, timeout)
        await self.runtime.drain()

    def replies_to(self, token: str) -> list[dict]:
        return self.line.messages_to(reply_token=token)

    def texts_for(self, user: str, token: str | None = None) -> list[str]:
        msgs = self.line.messages_to(user_id=user, reply_token=token)
        return [m.get("text") or m.get("altText") for m in msgs]


async def _bot(tmp_path, holder, store_url: str | None = None):
    line = contract_standin(TOKEN)
    await line.start()
    settings = Settings(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=KEY, BOT_FLOWS_DIR=MINI / "flows",
                        BOT_LOCALES_DIR=holder.locales_dir, BOT_FLOW="mini", LINE_CHANNEL_SECRET=SECRET,
                        LINE_CHANNEL_ACCESS_TOKEN=TOKEN, LINE_API_BASE_URL=line.url)
    store = Store(store_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", KEY.encode())
    process = assemble(settings, holder=holder, store=store, poll_interval=0.05)
    runtime = process.runtime
    server = TestServer(build_app(process), host="127.0.0.1")
    await server.start_server()
    return line, store, runtime, server


@pytest.fixture
async def bot(tmp_path, holder):
    line, store, runtime, server = await _bot(tmp_path, holder)
    await runtime.start(run_worker=True)
    async with aiohttp.ClientSession() as http:
        yield Bot(str(server.make_url("/line/webhook")), http, line, runtime, store)
    await runtime.stop()
    await server.close()
    await line.close()
    assert line.violations == []
    assert line.of_kind("content") == []  # media is never downloaded


# ---- signatures and bodies: nothing stored, nothing sent -------------------------------------------


async def _nothing_happened(bot: Bot) -> None:
    # The sync point: every inbox commit a request started has ended, and every turn it made
    # ready has run; then nothing may be stored or sent.
    assert await bot.runtime.inbox_commits.idle()
    await bot.runtime.drain()
    assert await bot.count(InboxEvent) == 0
    assert bot.line.requests == []


async def test_missing_signature_is_refused(bot):
    resp = await bot.post([make_text(new_user_id(), "こんにちは")], signature=False)
    assert resp.status == 400
    await _nothing_happened(bot)


async def test_forged_signature_is_refused(bot):
    resp = await bot.post([make_text(new_user_id(), "こんにちは")], secret="not-the-channel-secret")
    assert resp.status == 400
    resp = await bot.post([make_text(new_user_id(), "こんにちは")], signature="garbage")
    assert resp.status == 400
    await _nothing_happened(bot)


async def test_stale_signature_is_refused(bot):
    """A signature LINE made for an earlier body does not cover a new one (a replay with changes)."""
    user = new_user_id()
    old = webhook_body([make_text(user, "前のメッセージ")])
    new = webhook_body([make_text(user, "書き換えたメッセージ")])
    resp = await bot.post(body=new, signature=sign(SECRET, old))
    assert resp.status == 400
    await _nothing_happened(bot)


async def test_malformed_json_is_refused(bot):
    for body in (b'{"destination": "U1", "events": [', b"[]", b'{"destination": "x"}', b"\xff\xfe"):
        resp = await bot.post(body=body, check=False)
        assert resp.status == 400, body
    await _nothing_happened(bot)


async def test_a_deeply_nested_signed_body_is_refused_not_a_crash(bot):
    """Issue 16: correctly signed, but nested deeper than Python's JSON parser goes (a
    RecursionError, which answered 500): 400, nothing stored."""
    deep = 100_000
    bodies = (b'{"events": ' + b"[" * deep + b"]" * deep + b"}",
              b'{"destination": "x", "events": [{"type": "message", "message": ' + b'{"a": ' * deep + b"1"
              + b"}" * deep + b"}]}")
    for body in bodies:
        assert len(body) < line_webhook.MAX_BODY_BYTES
        resp = await bot.post(body=body, check=False)  # signed with the channel secret
        assert resp.status == 400
    await _nothing_happened(bot)


async def test_events_older_than_the_event_id_window_are_ignored(bot):
    """Issue 16: an event id is kept BOT_EVENT_ID_RETENTION_DAYS (7); an older event, replayed
    with its genuine signature, could no longer be recognised as a repeat: ignored."""
    user, day_ms = new_user_id(), 86_400_000
    now_ms = int(time.time() * 1000)
    resp = await bot.post([make_text(user, "むかしの", timestamp_ms=now_ms - 8 * day_ms, redelivery=True)])
    assert resp.status == 200
    await _nothing_happened(bot)
    resp = await bot.post([make_text(user, "こんにちは", timestamp_ms=now_ms - 6 * day_ms, redelivery=True)])
    assert resp.status == 200
    assert await bot.count(InboxEvent) == 1


async def test_huge_bodies_are_refused(bot):
    user = new_user_id()
    big = webhook_body([make_text(user, "あ" * 5000) for _ in range(80)])  # 1.2 MB, correctly signed
    assert len(big) > line_webhook.MAX_BODY_BYTES
    resp = await bot.post(body=big)
    assert resp.status == 413

    async def chunks():  # no Content-Length: the limit holds while reading
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    async with bot.http.post(bot.url, data=chunks(), headers={"X-Line-Signature": sign(SECRET, big)}) as r:
        assert r.status == 413
    await _nothing_happened(bot)


async def test_url_check_with_no_events_is_ok(bot):
    resp = await bot.post([])
    assert resp.status == 200
    await _nothing_happened(bot)


# ---- events ----------------------------------------------------------------------------------------


async def test_follow_text_and_tap_run_the_flow(bot):
    user = new_user_id()
    follow = make_follow(user)
    assert (await bot.post([follow])).status == 200
    await bot.settle(1)
    [welcome] = bot.replies_to(follow["replyToken"])
    assert "どうしましたか" in welcome["text"]
    data = [i["action"]["data"] for i in welcome["quickReply"]["items"]]
    assert data == ["welcome:threatened", "welcome:age_u16", "welcome:person"]
    assert [i["action"]["displayText"] for i in welcome["quickReply"]["items"]] == ["脅されている", "16歳未満", "人と話す"]

    tap = make_postback(user, "welcome:age_u16")
    assert (await bot.post([tap])).status == 200
    await bot.settle(2)
    assert bot.texts_for(user, tap["replyToken"]) == ["16歳未満への要求は犯罪です。"]

    text = make_text(user, "証拠はどうすれば")
    assert (await bot.post([text])).status == 200
    await bot.settle(3)
    msgs = bot.replies_to(text["replyToken"])
    assert msgs[0]["text"] == "消さないでください。"
    flex = msgs[-1]
    assert flex["type"] == "flex"
    button = next(c for c in flex["contents"]["body"]["contents"] if c["type"] == "button")
    assert button["action"] == {"type": "uri", "label": "📞 0120279338", "uri": "tel:0120279338"}
    assert [i["action"]["data"] for i in flex["quickReply"]["items"]] == ["evidence:done"]
    assert await bot.count(Conversation) == 1


async def test_tap_on_an_older_message_still_works(bot):
    user = new_user_id()
    await bot.post([make_follow(user)])
    await bot.post([make_postback(user, "welcome:age_u16")])
    await bot.settle(2)
    old = make_postback(user, "welcome:threatened")  # a button from the first message
    await bot.post([old])
    await bot.settle(3)
    assert bot.texts_for(user, old["replyToken"])[:2] == ["あなたは悪くありません。", "ひとりではありません。"]


async def test_redelivery_is_a_no_op(bot):
    user = new_user_id()
    event = make_text(user, "晒すと言われた")
    assert (await bot.post([event])).status == 200
    await bot.settle(1)
    again = dict(event, deliveryContext={"isRedelivery": True})
    assert (await bot.post([again])).status == 200
    assert (await bot.post([again])).status == 200
    assert await bot.runtime.inbox_commits.idle()
    await bot.runtime.drain()
    assert len(bot.line.sent()) == 1
    assert await bot.count(InboxEvent) == 1


async def test_standby_events_are_ignored(bot):
    user = new_user_id()
    assert (await bot.post([make_text(user, "こんにちは", mode="standby"), make_follow(user, mode="standby")])).status == 200
    await _nothing_happened(bot)


@pytest.mark.parametrize("kind", ["image", "video", "audio", "file"])
async def test_media_is_never_downloaded_and_the_conversation_goes_on(bot, kind):
    user = new_user_id()
    await bot.post([make_follow(user)])
    await bot.settle(1)
    media = make_media(user, kind)
    assert (await bot.post([media])).status == 200
    await bot.settle(2)
    [answer] = bot.replies_to(media["replyToken"])
    assert answer["text"] == "画像は送らなくて大丈夫です。"
    # still at the welcome: its choices are offered again (with a way to a person)
    assert [i["action"]["data"] for i in answer["quickReply"]["items"]][:3] == \
        ["welcome:threatened", "welcome:age_u16", "welcome:person"]
    assert bot.line.of_kind("content") == []


async def test_sticker_and_location_get_a_gentle_answer(bot):
    user = new_user_id()
    sticker, place = make_sticker(user), make_location(user)
    await bot.post([sticker])
    await bot.settle(1)
    await bot.post([place])
    await bot.settle(2)
    assert [m["text"] for m in bot.replies_to(sticker["replyToken"])] == ["スタンプありがとう。"]
    assert [m["text"] for m in bot.replies_to(place["replyToken"])] == ["場所は送らなくて大丈夫です。"]


async def test_unfollow_forgets_the_person_at_once(bot):
    user = new_user_id()
    await bot.post([make_follow(user), make_text(user, "晒すと言われた")])
    await bot.settle(2)
    assert await bot.count(Conversation) == 1
    assert (await bot.post([make_unfollow(user)])).status == 200
    assert await bot.runtime.inbox_commits.idle()
    await bot.runtime.drain()
    assert await bot.count(Conversation) == 0
    assert len(bot.line.sent()) == 2  # nothing is sent to someone who blocked the bot


async def test_join_says_one_to_one_only_and_leaves(bot):
    join = make_join("group")
    group = join["source"]["groupId"]
    room_join = make_join("room")
    assert (await bot.post([join, room_join])).status == 200
    await bot.line.wait_for(lambda: len(bot.line.of_kind("leave")) == 2)
    [said] = bot.replies_to(join["replyToken"])
    assert "1対1" in said["text"]
    assert sorted(r.path for r in bot.line.of_kind("leave")) == sorted(
        [f"/v2/bot/group/{group}/leave", f"/v2/bot/room/{room_join['source']['roomId']}/leave"])
    assert await bot.count(InboxEvent) == 0


async def test_nothing_from_a_group_is_processed(bot):
    group = "C" + "5" * 32
    assert (await bot.post([make_group_text(group, new_user_id(), "死にたい")])).status == 200
    await bot.line.wait_for(lambda: bot.line.of_kind("leave"))
    await bot.runtime.drain()
    assert await bot.count(InboxEvent) == 0
    assert bot.line.sent() == []  # no reply in a group; the bot only left
    assert [r.path for r in bot.line.of_kind("leave")] == [f"/v2/bot/group/{group}/leave"]


async def test_unknown_events_are_ignored_and_logged_without_content(bot, caplog):
    caplog.set_level(logging.DEBUG)
    user = new_user_id()
    strange = {"type": "somethingNew", "timestamp": int(time.time() * 1000), "mode": "active",
               "webhookEventId": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "deliveryContext": {"isRedelivery": False},
               "source": {"type": "user", "userId": user}, "secret": "ひみつの内容"}
    resp = await bot.post([make_unsend(user), strange])
    assert resp.status == 200
    await _nothing_happened(bot)
    ignored = [r for r in caplog.records if r.getMessage() == "line.event_ignored"]
    assert {getattr(r, "type", None) for r in ignored} == {"unsend", "somethingNew"}
    assert all(user not in _record_text(r) and "ひみつ" not in _record_text(r) for r in caplog.records)


async def test_a_message_type_line_adds_later_is_ignored(bot, caplog):
    caplog.set_level(logging.DEBUG)
    event = make_text(new_user_id(), "x")
    event["message"] = {"type": "hologram", "id": "1", "secret": "ひみつ"}
    # not in webhook.yml (that is the point): a future type must not break the webhook
    assert (await bot.post([event], check=False)).status == 200
    await _nothing_happened(bot)
    [ignored] = [r for r in caplog.records if r.getMessage() == "line.event_ignored"]
    assert (ignored.type, ignored.kind) == ("message", "hologram")


async def test_webhook_figures_count_each_answer(bot):
    from bot.observability import WEBHOOKS

    def seen(status: str) -> float:
        return WEBHOOKS.labels("line", status)._value.get()

    before = {s: seen(s) for s in ("200", "400")}
    await bot.post([make_follow(new_user_id())])
    await bot.post([make_follow(new_user_id())], signature="forged")
    assert seen("200") == before["200"] + 1 and seen("400") == before["400"] + 1


async def test_ten_thousand_characters(bot):
    user = new_user_id()
    event = make_text(user, "晒すと言われた。" + "あ" * 9992)
    assert len(event["message"]["text"]) == 10_000
    assert (await bot.post([event])).status == 200
    await bot.settle(1)
    assert bot.replies_to(event["replyToken"])[0]["text"].startswith("これはボットです")


async def test_emoji_and_control_characters(bot):
    user = new_user_id()
    event = make_text(user, "💊\u0000\u0007 死にたい\u200b😢\ud83d\r\n\u009f")
    assert (await bot.post(body=webhook_body([event], ascii_only=True))).status == 200
    await bot.settle(1)
    msgs = bot.replies_to(event["replyToken"])
    assert msgs[0]["text"].startswith("話してくれてありがとう")  # the crisis answer, first
    async with bot.store.transaction() as s:
        assert (await s.execute(select(InboxEvent.payload_enc))).scalar_one() is None  # erased once processed


async def test_several_events_in_one_delivery_keep_their_order(bot):
    user = new_user_id()
    events = [make_follow(user), make_postback(user, "welcome:threatened"), make_text(user, "証拠")]
    assert (await bot.post(events)).status == 200
    await bot.settle(3)
    assert bot.texts_for(user, events[2]["replyToken"])[0] == "消さないでください。"


# ---- LINE misbehaving --------------------------------------------------------------------------


async def test_expired_reply_token_falls_back_to_push(bot):
    user = new_user_id()
    event = make_text(user, "晒すと言われた")
    bot.line.expire_reply_token(event["replyToken"])
    await bot.post([event])
    await bot.settle(1)
    reply, push = bot.line.requests[-2:]
    assert (reply.kind, reply.status, push.kind, push.status) == ("reply", 400, "push", 200)
    assert push.body["to"] == user and len(push.headers["X-Line-Retry-Key"]) == 36


async def test_event_older_than_the_reply_token_goes_by_push(bot):
    user = new_user_id()
    event = make_text(user, "晒すと言われた", timestamp_ms=int((time.time() - 300) * 1000))
    await bot.post([event])
    await bot.settle(1)
    assert [r.kind for r in bot.line.requests] == ["push"]


async def test_429_from_line_is_retried_from_the_outbox(bot):
    user = new_user_id()
    bot.line.fail_next(429, kinds=("reply", "push"), retry_after=0)
    event = make_text(user, "晒すと言われた")
    await bot.post([event])
    await bot.settle(1, timeout=8)
    first, second = bot.line.requests[:2]
    assert (first.status, second.status) == (429, 200)
    assert second.body["messages"] == first.body["messages"]


# ---- the database is down ------------------------------------------------------------------------


async def test_database_down_the_person_still_gets_the_safety_message(tmp_path, holder, caplog):
    caplog.set_level(logging.DEBUG)
    (tmp_path / "not-a-folder").write_text("")
    dead = f"sqlite+aiosqlite:///{tmp_path / 'not-a-folder' / 'bot.db'}"  # cannot be opened
    line, store, runtime, server = await _bot(tmp_path, holder, store_url=dead)
    await runtime.start(run_worker=False, migrate=False)
    user = new_user_id()
    event = make_text(user, "死にたい")
    try:
        async with aiohttp.ClientSession() as http:
            down = Bot(str(server.make_url("/line/webhook")), http, line, runtime, store)
            started = time.monotonic()
            resp = await down.post([event])
            assert resp.status == 503
            assert time.monotonic() - started < 2.0  # within LINE's deadline
            [msg] = down.replies_to(event["replyToken"])
            assert msg["text"] == runtime.safety_text("ja")
            assert "0120-279-338" in msg["text"]

            # LINE redelivers the same event: no second safety message while still down ...
            again = dict(event, deliveryContext={"isRedelivery": True})
            assert (await down.post([again])).status == 503
            assert len(line.sent()) == 1

            # ... and once the database is back, the event is processed and answered by push.
            good = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", KEY.encode())
            await good.upgrade()
            runtime.store = good
            assert (await down.post([again])).status == 200
            await runtime.drain()
            pushed = line.sent()[-1]
            assert pushed.kind == "push" and pushed.body["to"] == user
            assert pushed.body["messages"][0]["text"].startswith("話してくれてありがとう")
    finally:
        await runtime.stop()
        await server.close()
        await line.close()
    assert line.violations == []
    assert all(user not in _record_text(r) and "死にたい" not in _record_text(r) for r in caplog.records)


async def test_database_that_hangs_still_gets_an_answer_within_lines_deadline(tmp_path, holder):
    """Another process holds the database's write lock: the webhook does not wait past LINE's deadline."""
    line, store, runtime, server = await _bot(tmp_path, holder)
    await store.upgrade()
    await runtime.start(run_worker=False, migrate=False)
    blocker = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    event = make_text(new_user_id(), "助けて")
    try:
        async with aiohttp.ClientSession() as http:
            hung = Bot(str(server.make_url("/line/webhook")), http, line, runtime, store)
            started = time.monotonic()
            assert (await hung.post([event])).status == 503
            assert time.monotonic() - started < 2.0
            [msg] = hung.replies_to(event["replyToken"])
            assert msg["text"] == runtime.safety_text("ja")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await runtime.stop()
        await server.close()
        await line.close()
    assert line.violations == []


# ---- privacy of the logs -----------------------------------------------------------------------------


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + json.dumps(
        {k: v for k, v in vars(record).items() if k not in ("msg", "args")}, default=str, ensure_ascii=False)


async def test_logs_never_hold_text_user_ids_reply_tokens_or_bodies(bot, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(line_module, "LOADING_DELAY", 0.0)
    user = new_user_id()
    phrase = "とても個人的な秘密の話"
    events = [make_follow(user), make_text(user, phrase), make_postback(user, "welcome:person")]
    await bot.post(events)
    await bot.post([make_text(user, phrase)], signature="forged")
    await bot.post(body=b"{broken " + phrase.encode(), check=False)
    await bot.settle(3)
    secrets_: list[Any] = [user, phrase, SECRET, TOKEN] + [e["replyToken"] for e in events]
    for record in caplog.records:
        text = _record_text(record)
        for s in secrets_:
            assert s not in text, (record.getMessage(), s)


# ---- wiring --------------------------------------------------------------------------------------


async def test_without_line_settings_the_server_starts_and_says_the_webhook_is_off(tmp_path, holder, caplog):
    caplog.set_level(logging.INFO)
    settings = Settings(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=KEY, BOT_FLOWS_DIR=MINI / "flows",
                        BOT_LOCALES_DIR=holder.locales_dir, BOT_FLOW="mini")
    process = assemble(settings, holder=holder, store=Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", KEY.encode()))
    runtime = process.runtime
    server = TestServer(build_app(process), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(server.make_url("/line/webhook"), data=b"{}") as resp:
                assert resp.status == 404
    finally:
        await server.close()
        await runtime.store.dispose()
    assert "line" not in runtime.channels
    assert any(r.getMessage() == "line.webhook_off" for r in caplog.records)


async def test_python_m_bot_serve(tmp_path, holder):
    """The command LINE's operators run: ``python -m bot serve``, configured from the environment."""
    import os
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with contract_standin(TOKEN) as line:
        env = {**os.environ, "PORT": str(port), "BOT_DATA_DIR": str(tmp_path), "BOT_SECRET_KEY": KEY,
               "BOT_FLOWS_DIR": str(MINI / "flows"), "BOT_LOCALES_DIR": str(holder.locales_dir), "BOT_FLOW": "mini",
               "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": line.url,
               "DATABASE_URL": "", "BOT_LOG_LEVEL": "WARNING"}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                                                    env=env, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            async with aiohttp.ClientSession() as http:
                # Start-up imports SudachiPy's dictionary and every SDK: on a busy machine that
                # takes a while. Wait for it, but not for a process that already exited.
                deadline = time.monotonic() + 90
                while True:
                    try:
                        # Ready, not only alive: the tables exist (the migrations run after start).
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    if proc.returncode is not None or time.monotonic() > deadline:
                        err = (await proc.stderr.read()).decode(errors="replace")[-2000:] if proc.returncode is not None else ""
                        raise AssertionError(f"the server did not start {err}")
                    await asyncio.sleep(0.05)
                user = new_user_id()
                follow = make_follow(user)
                body = webhook_body([follow])
                async with http.post(f"http://127.0.0.1:{port}/line/webhook", data=body,
                                     headers={"X-Line-Signature": sign(SECRET, body)}) as resp:
                    assert resp.status == 200
                await line.wait_for(lambda: line.sent(), timeout=10)
                assert line.sent()[0].body["replyToken"] == follow["replyToken"]
        finally:
            proc.terminate()
            _, err = await proc.communicate()
        assert line.violations == []
        assert user.encode() not in err


async def test_a_burst_of_deliveries_shares_commits(bot, caplog):
    """Group commit: deliveries that arrive while a commit runs go into the next one."""
    caplog.set_level(logging.DEBUG, logger="bot.runtime")
    users = [new_user_id() for _ in range(40)]
    events = [make_text(u, "晒すと言われた") for u in users]
    statuses = await asyncio.gather(*(bot.post([e]) for e in events))
    assert [r.status for r in statuses] == [200] * 40
    commits = [r for r in caplog.records if r.getMessage() == "inbox.accepted"]
    assert sum(r.events for r in commits) == 40 and sum(r.count for r in commits) == 40
    assert len(commits) < 40
    await bot.settle(40, timeout=20)
    assert {r.body["replyToken"] for r in bot.line.sent()} == {e["replyToken"] for e in events}


def test_events_are_read_as_line_bot_sdk_reads_them():
    """The webhook reads plain JSON (the SDK's models cost 60 µs an event on the ack path); it must
    agree with the SDK's own parser on what each event is."""
    from linebot.v3 import WebhookParser
    from linebot.v3.webhooks import (FollowEvent, JoinEvent, MessageEvent, PostbackEvent, UnfollowEvent,
                                     UnsendEvent)

    from bot.channels.line.webhook import GroupVisit, read_event

    user = new_user_id()
    cases = [
        (make_text(user, "こんにちは"), MessageEvent, "text"), (make_media(user, "image"), MessageEvent, "media"),
        (make_media(user, "video"), MessageEvent, "media"), (make_media(user, "audio"), MessageEvent, "media"),
        (make_media(user, "file"), MessageEvent, "media"), (make_sticker(user), MessageEvent, "sticker"),
        (make_location(user), MessageEvent, "location"), (make_postback(user, "welcome:person"), PostbackEvent, "tap"),
        (make_follow(user), FollowEvent, "start"), (make_unfollow(user), UnfollowEvent, "forget"),
        (make_join("group"), JoinEvent, "group"), (make_unsend(user), UnsendEvent, None),
    ]
    body = webhook_body([c[0] for c in cases])
    assert validate_webhook_body(body) == []
    parsed = WebhookParser(SECRET).parse(body.decode(), sign(SECRET, body))
    now = time.time()
    for (event, sdk_class, kind), sdk_event in zip(cases, parsed):
        assert isinstance(sdk_event, sdk_class)
        ours = read_event(event, now)
        if kind == "group":
            assert isinstance(ours, GroupVisit) and ours.chat_id == sdk_event.source.group_id
        elif kind is None:
            assert ours is None
        else:
            assert ours.kind == kind and ours.event_id == sdk_event.webhook_event_id
            assert ours.user_id == sdk_event.source.user_id
            assert ours.reply_token == getattr(sdk_event, "reply_token", None)
    tap = read_event(cases[7][0], now)
    assert (tap.from_state, tap.choice) == ("welcome", "person")


def _broken_deliveries() -> dict[str, dict]:
    user = new_user_id()

    def changed(event: dict, **changes: Any) -> dict:
        event.update(changes)
        return event

    def text_with(**message_changes: Any) -> dict:
        event = make_text(user, "x")
        event["message"].update(message_changes)
        return event

    missing_id = make_text(user, "x")
    del missing_id["webhookEventId"]
    return {
        "an unknown property in a text message": text_with(colour="red"),
        "a timestamp as a string": changed(make_text(user, "x"), timestamp="1700000000000"),
        "an event without webhookEventId": missing_id,
        "a source of an unknown type": changed(make_text(user, "x"), source={"type": "crowd", "userId": user}),
        "a message content type not in the documents": text_with(type="hologram"),
        "a mode LINE does not have": changed(make_follow(user), mode="sleeping"),
        "isRedelivery as a string": changed(make_follow(user), deliveryContext={"isRedelivery": "no"}),
    }


@pytest.mark.parametrize("check", ["sdk", "openapi"])
def test_each_check_refuses_deliveries_line_would_not_send(check):
    from tests.channels.line_contract import LINE_OPENAPI
    from tests.shared import require

    if check == "openapi":
        require(LINE_OPENAPI, "LINE's OpenAPI documents")
    for what, event in _broken_deliveries().items():
        assert validate_webhook_body(webhook_body([event]), checks=(check,)), what
    # An event type LINE adds later is a delivery LINE may send: what every event has, and more.
    user = new_user_id()
    later = {"type": "somethingNew", "timestamp": int(time.time() * 1000), "mode": "active",
             "webhookEventId": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "deliveryContext": {"isRedelivery": False},
             "source": {"type": "user", "userId": user}, "somethingNew": {"x": 1}}
    assert validate_webhook_body(webhook_body([later, make_text(user, "x")]), checks=(check,)) == []
    del later["timestamp"]
    assert validate_webhook_body(webhook_body([later]), checks=(check,))
