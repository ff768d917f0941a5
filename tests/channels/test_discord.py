"""The Discord channel, tested without network against a Discord played in memory.

The first half of this module is the harness: a Discord that plays the gateway and the REST API.
The bot behind it is the real one: ``Runtime`` on a SQLite store (inbox, turns, outbox, delivery),
with a spy that records what the adapter stores (``SpyRuntime``); the durable tests at the end
run on PostgreSQL as well.

This is the only module of the tests that touches discord.py's private parts (pinned at 2.7.1 in
pyproject.toml); if an upgrade breaks the tests, this is the file to adjust:
- gateway events go straight into the connection state: ``client._connection.parse_message_create``
  and ``parse_interaction_create``, with payloads shaped as Discord sends them;
- REST calls are captured by replacing ``client.http.request`` (the bot's token-authenticated API)
  and the ``request`` of the interaction webhook adapter (``discord.webhook.async_.async_context``),
  which carries interaction responses and follow-ups;
- ``client.http.get_from_cdn`` raises, so a test fails if the bot ever downloads an attachment.

dpytest cannot do this: it knows neither components nor interactions.
"""
from __future__ import annotations

import asyncio
import aiohttp
import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import discord
from discord.http import Route
from discord.webhook.async_ import async_context

BOT_ID = 900000000000000001
APP_ID = BOT_ID
BOT_USER = {"id": str(BOT_ID), "username": "firstcontact", "discriminator": "0", "global_name": None,
            "avatar": None, "bot": True, "public_flags": 0, "flags": 0}


def user_payload(user_id: int, name: str = "someone") -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "public_flags": 0}


def dm_channel_id(user_id: int) -> int:
    return user_id + 7


@dataclass
class Call:
    """One request the bot made: method, path (ids filled in), JSON body, and which API."""

    method: str
    path: str
    json: Any
    api: str  # "rest" or "webhook"
    params: dict[str, Any] = field(default_factory=dict)


class FakeResponse:
    """Enough of aiohttp's response for discord.HTTPException."""

    def __init__(self, status: int, reason: str = ""):
        self.status = status
        self.reason = reason


def http_error(status: int, code: int = 0, message: str = "error") -> discord.HTTPException:
    cls = {403: discord.Forbidden, 404: discord.NotFound}.get(status)
    if cls is None and status >= 500:
        cls = discord.DiscordServerError
    cls = cls or discord.HTTPException
    return cls(FakeResponse(status), {"code": code, "message": message})


class FakeDiscord:
    """Records what the bot sends and answers like Discord would."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.log: list[tuple] = []                 # ("rest"/"webhook", method, path): in order, shared with tests
        self.messages: dict[int, dict] = {}        # message id -> payload of messages the bot sent
        self._ids = itertools.count(1_100_000_000_000_000_000)
        # path fragment -> callable(Call) returning an exception to raise (or None to answer)
        self.fail: dict[str, Callable[[Call], BaseException | None]] = {}
        self.delay: float = 0.0
        self.login_calls: list[Call] = []

    def next_id(self) -> int:
        return next(self._ids)

    # -- installing -----------------------------------------------------------------------------
    def install(self, client: discord.Client, monkeypatch) -> None:
        monkeypatch.setattr(client.http, "request", self.rest_request)

        async def no_cdn(url: str) -> bytes:
            raise AssertionError("the bot must never download attachments")

        monkeypatch.setattr(client.http, "get_from_cdn", no_cdn)
        monkeypatch.setattr(async_context.get(), "request", self.webhook_request)

    # -- REST -----------------------------------------------------------------------------------
    async def rest_request(self, route: Route, *, files=None, form=None, **kwargs) -> Any:
        body = kwargs.get("json")
        if body is None and form:
            for part in form:
                if part.get("name") == "payload_json":
                    body = json.loads(part["value"])
        call = Call(route.method, route.url[len(Route.BASE):], body, "rest", dict(kwargs.get("params") or {}))
        return await self._answer(call)

    async def webhook_request(self, route: Route, session=None, *, payload=None, multipart=None, params=None,
                              **kwargs) -> Any:
        body = payload
        if body is None and multipart:
            for part in multipart:
                if part.get("name") == "payload_json":
                    body = json.loads(part["value"])
        call = Call(route.method, route.url[len(Route.BASE):], body, "webhook", dict(params or {}))
        return await self._answer(call)

    async def _answer(self, call: Call) -> Any:
        self.calls.append(call)
        self.log.append((call.api, call.method, call.path))
        if self.delay:
            await asyncio.sleep(self.delay)
        for fragment, make in list(self.fail.items()):
            if fragment in f"{call.method} {call.path}":
                exc = make(call)
                if exc is not None:
                    raise exc
        m, p = call.method, call.path
        if m == "GET" and p == "/users/@me":
            return dict(BOT_USER)
        if m == "GET" and p == "/oauth2/applications/@me":
            return {"id": str(APP_ID), "name": "firstcontact", "icon": None, "description": "", "bot_public": False,
                    "bot_require_code_grant": False, "verify_key": "00", "owner": user_payload(1, "owner"),
                    "flags": 0, "summary": ""}
        if m == "PUT" and p.startswith(f"/applications/{APP_ID}/commands"):
            return [dict(c, id=str(self.next_id()), application_id=str(APP_ID), version="1") for c in call.json]
        if m == "POST" and p == "/users/@me/channels":
            uid = int(call.json["recipient_id"])
            return {"id": str(dm_channel_id(uid)), "type": 1, "recipients": [user_payload(uid)], "last_message_id": None}
        if m == "POST" and p.startswith("/channels/") and p.endswith("/messages"):
            channel_id = int(p.split("/")[2])
            return self._message(channel_id, call.json or {})
        if m == "POST" and p.startswith("/channels/") and p.endswith("/typing"):
            return None
        if m == "DELETE" and p.startswith("/channels/"):
            return None
        if call.api == "webhook" and p.endswith("/callback"):
            return {"interaction": {"id": p.split("/")[2], "type": 3}}
        if call.api == "webhook" and m == "POST" and p.startswith("/webhooks/"):
            return self._message(0, call.json or {})
        raise AssertionError(f"unexpected request {m} {p}")

    def _message(self, channel_id: int, body: dict) -> dict:
        mid = self.next_id()
        msg = {
            "id": str(mid), "channel_id": str(channel_id), "type": 0, "content": body.get("content") or "",
            "author": dict(BOT_USER), "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "components": body.get("components", []), "flags": body.get("flags", 0) or 0,
        }
        if body.get("nonce"):
            msg["nonce"] = body["nonce"]
        self.messages[mid] = msg
        return msg

    # -- what the bot sent ----------------------------------------------------------------------
    def sent_messages(self, channel_id: int | None = None) -> list[dict]:
        """Bodies of messages posted to channels (DMs or server channels), in order."""
        out = []
        for c in self.calls:
            if c.api == "rest" and c.method == "POST" and c.path.startswith("/channels/") and c.path.endswith("/messages"):
                if channel_id is None or c.path == f"/channels/{channel_id}/messages":
                    out.append(c.json)
        return out

    def last_sent_message(self) -> dict:
        """The payload Discord returned for the newest message posted (with its id)."""
        return self.messages[max(self.messages)]

    def interaction_responses(self) -> list[Call]:
        return [c for c in self.calls if c.api == "webhook"]

    def clear(self) -> None:
        self.calls.clear()
        self.log.clear()


# ---- gateway payloads -------------------------------------------------------------------------

_ids = itertools.count(1_200_000_000_000_000_000)


def new_id() -> int:
    return next(_ids)


def dm_message(user_id: int, content: str = "", *, attachments: int = 0, stickers: int = 0,
               author: dict | None = None, message_type: int = 0) -> dict:
    mid = new_id()
    return {
        "id": str(mid), "channel_id": str(dm_channel_id(user_id)), "type": message_type, "content": content,
        "author": author or user_payload(user_id), "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [
            {"id": str(new_id()), "filename": f"photo{i}.jpg", "size": 12345, "content_type": "image/jpeg",
             "url": f"https://cdn.discordapp.com/attachments/1/{i}/photo{i}.jpg",
             "proxy_url": f"https://media.discordapp.net/attachments/1/{i}/photo{i}.jpg"}
            for i in range(attachments)
        ],
        "sticker_items": [{"id": str(new_id()), "name": "wave", "format_type": 1} for _ in range(stickers)],
        "embeds": [], "pinned": False, "flags": 0, "components": [],
    }


GUILD_ID = 800000000000000001
GUILD_CHANNEL_ID = 800000000000000002


def guild_create(locale: str = "ja") -> dict:
    return {
        "id": str(GUILD_ID), "name": "school club", "icon": None, "owner_id": "1", "preferred_locale": locale,
        "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": "1024", "position": 0, "color": 0,
                   "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
        "channels": [{"id": str(GUILD_CHANNEL_ID), "type": 0, "name": "general", "position": 0,
                      "permission_overwrites": [], "guild_id": str(GUILD_ID)}],
        "members": [], "emojis": [], "stickers": [], "features": [], "member_count": 3, "large": False,
        "unavailable": False, "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
        "guild_scheduled_events": [], "mfa_level": 0, "verification_level": 0, "explicit_content_filter": 0,
        "default_message_notifications": 0, "premium_tier": 0, "nsfw_level": 0, "system_channel_flags": 0,
        "joined_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }


def guild_message(user_id: int, content: str, *, mention_bot: bool) -> dict:
    mid = new_id()
    mentions = [dict(BOT_USER, member={"roles": [], "joined_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                                        "deaf": False, "mute": False, "flags": 0})] if mention_bot else []
    return {
        "id": str(mid), "channel_id": str(GUILD_CHANNEL_ID), "guild_id": str(GUILD_ID), "type": 0,
        "content": content, "author": user_payload(user_id),
        "member": {"roles": [], "joined_at": dt.datetime.now(dt.timezone.utc).isoformat(), "deaf": False,
                   "mute": False, "flags": 0},
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(), "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": mentions, "mention_roles": [], "attachments": [], "embeds": [],
        "pinned": False, "flags": 0, "components": [],
    }


def button_interaction(user_id: int, message: dict, custom_id: str, *, locale: str = "ja",
                       guild: bool = False) -> dict:
    """INTERACTION_CREATE for a press of the button ``custom_id`` on ``message`` (as the bot sent it)."""
    iid = new_id()
    data: dict[str, Any] = {
        "id": str(iid), "application_id": str(APP_ID), "type": 3, "token": f"itoken-{iid}", "version": 1,
        "data": {"custom_id": custom_id, "component_type": 2},
        "message": message, "locale": locale, "attachment_size_limit": 10_485_760, "app_permissions": "0",
        "entitlements": [], "authorizing_integration_owners": {"0": str(GUILD_ID) if guild else "0"},
    }
    return _placed(data, user_id, guild)


def _placed(data: dict, user_id: int, guild: bool) -> dict:
    """Where an interaction happened: a server channel (with the member) or the person's DM."""
    if guild:
        data.update(guild_id=str(GUILD_ID), channel_id=str(GUILD_CHANNEL_ID), guild_locale="ja", context=0,
                    channel={"id": str(GUILD_CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "general",
                             "position": 0, "permission_overwrites": []},
                    member={"user": user_payload(user_id), "roles": [], "permissions": "1024", "deaf": False,
                            "mute": False, "flags": 0,
                            "joined_at": dt.datetime.now(dt.timezone.utc).isoformat()})
    else:
        data.update(channel_id=str(dm_channel_id(user_id)), context=1, user=user_payload(user_id),
                    channel={"id": str(dm_channel_id(user_id)), "type": 1, "recipients": [user_payload(user_id)]})
    return data


def slash_help(user_id: int, *, locale: str = "ja", guild: bool = True) -> dict:
    iid = new_id()
    data: dict[str, Any] = {
        "id": str(iid), "application_id": str(APP_ID), "type": 2, "token": f"itoken-{iid}", "version": 1,
        "data": {"id": str(new_id()), "name": "help", "type": 1},
        "locale": locale, "attachment_size_limit": 10_485_760, "app_permissions": "0", "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID) if guild else "0"},
    }
    return _placed(data, user_id, guild)


def feed_message(client: discord.Client, payload: dict) -> None:
    client._connection.parse_message_create(payload)


def feed_interaction(client: discord.Client, payload: dict) -> None:
    client._connection.parse_interaction_create(payload)


def feed_guild(client: discord.Client, payload: dict) -> None:
    client._connection.parse_guild_create(payload)


async def settle(timeout: float = 2.0) -> None:
    """Let the tasks discord.py started for the fed events finish (long sleepers are left alone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    me = asyncio.current_task()
    while loop.time() < deadline:
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()
                   and not (t.get_name() or "").startswith("keep:")]
        busy = [t for t in pending if not _is_sleeping_long(t)]
        if not busy:
            return
        await asyncio.sleep(0.005)


def _is_sleeping_long(task: asyncio.Task) -> bool:
    # Message.delete(delay=...) and the timeout of a view on an ephemeral message (discord.py
    # gives those 15 minutes) sleep in tasks of their own: not work to wait for.
    name = getattr(task.get_coro(), "__qualname__", "")
    return name.endswith("delete.<locals>.delete") or name.endswith("__timeout_task_impl")


def bot_message(user_id: int, *custom_ids: str, content: str = "…") -> dict:
    """A message the bot sent earlier to ``user_id``'s DMs, with these buttons."""
    return {
        "id": str(new_id()), "channel_id": str(dm_channel_id(user_id)), "type": 0, "content": content,
        "author": dict(BOT_USER), "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "flags": 0,
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "label": cid, "custom_id": cid} for cid in custom_ids]}],
    }


def components_of(message: dict) -> list[dict]:
    """Every component of a message payload, flattened out of its action rows."""
    out = []
    for row in message.get("components") or []:
        out.extend(row.get("components", []))
    return out


# ==== the tests ================================================================================

import logging
import shutil
import tempfile
from pathlib import Path

import pytest

from bot.envelope import DeliveryResult, InboundEvent, Outbound
from bot.channels.discord import DiscordGateway, connect, intents
from bot.channels.discord.gateway import TEXT_KEYS
from bot.channels.discord.render import (
    BUTTONS_PER_MESSAGE, CUSTOM_ID_CHARS, LABEL_CHARS, MESSAGE_CHARS, START_CUSTOM_ID,
)
from bot.text import utf16_len
from bot.engine.model import Choice, Link, Reply
from bot.reload import BundleHolder
from bot.engine.model import Session
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import StoreUnavailable, conversations
from tests.conftest import SECRET
from tests.engine.helpers import MINI, NIGHT

ROOT = Path(__file__).resolve().parents[2]
ALICE = 555000000000000001
BOB = 555000000000000002


@pytest.fixture
def holder(tmp_path):
    """The mini fixture flow, with this adapter's locale files merged in (as in production)."""
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    shutil.copytree(MINI / "flows", flows)
    shutil.copytree(MINI / "locales", locales)
    for lang in ("ja", "en"):
        shutil.copy(ROOT / "locales" / f"{lang}.discord.yaml", locales)
    return BundleHolder(flows, locales, "mini")


class SpyRuntime(Runtime):
    """The real runtime on a SQLite store of its own: inbox, turns, outbox and delivery as in
    production. It records what the adapter hands it (``accepted``: the events stored new), and
    two faults can be injected in front of the real ``accept``: ``gate`` (the store is slow: wait
    for this event) and ``down`` (the database is unreachable: ``StoreUnavailable``, as
    ``Runtime.accept`` raises when its commit does not come in time)."""

    def __init__(self, holder: BundleHolder, log: list):
        self.folder = Path(tempfile.mkdtemp(prefix="discord-test-"))
        settings = Settings(BOT_DATA_DIR=self.folder, BOT_SECRET_KEY=SECRET.decode(), DATABASE_URL="")
        super().__init__(settings, holder, clock=lambda: NIGHT.timestamp())
        self.log = log
        self.accepted: list[InboundEvent] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def accept(self, events, timeout=None) -> int:
        self.log.append(("accept", tuple(e.kind for e in events)))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnavailable("database down")
        new = await super().accept(events, timeout)
        assert new in (0, len(events)), "a delivery is all new or all a replay"
        if new:
            self.accepted.extend(events)
        return new

    async def session(self, user_id: int) -> Session | None:
        """The engine session stored for this Discord user (their conversation, decrypted)."""
        async with self.store.transaction() as s:
            conv = await conversations.get_by_pseudonym(s, self.crypto.pseudonym("discord", str(user_id)))
            return conversations.load_session(self.crypto, conv)

    async def stop(self) -> None:
        await super().stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Bot:
    gateway: DiscordGateway
    fake: FakeDiscord
    runtime: SpyRuntime

    @property
    def channel(self):
        return self.gateway.channel

    @property
    def client(self):
        return self.gateway.client

    @property
    def flow(self):
        return self.channel.flow()

    async def close(self) -> None:
        await self.channel.close()
        await self.runtime.stop()

    async def dm(self, user_id: int, text: str = "", **kw) -> dict:
        payload = dm_message(user_id, text, **kw)
        feed_message(self.client, payload)
        await settle()
        return payload

    async def press(self, user_id: int, message: dict, custom_id: str, **kw) -> dict:
        payload = button_interaction(user_id, message, custom_id, **kw)
        feed_interaction(self.client, payload)
        await settle()
        return payload

    async def turn(self) -> list[dict]:
        """Run the pending turns and deliver their outbox rows (the real worker and sender, in
        this task); the messages they sent. Every row must have been delivered."""
        before = len(self.fake.sent_messages())
        await self.runtime.drain()
        assert (await self.runtime.queue_depths()) == {"inbox_pending": 0, "outbox_pending": 0}
        return self.fake.sent_messages()[before:]


async def start_bot(holder, monkeypatch, runtime: SpyRuntime | None = None, fake: FakeDiscord | None = None,
                    sync_commands: bool = False) -> Bot:
    fake = fake or FakeDiscord()
    if runtime is None:
        runtime = SpyRuntime(holder, fake.log)
        await runtime.start(run_worker=False)
    gateway = connect(runtime, lambda: holder.flow, sync_commands=sync_commands)
    fake.install(gateway.client, monkeypatch)
    runtime.register_channel(gateway.channel)
    await gateway.channel.login("test-token")
    fake.login_calls = list(fake.calls)
    fake.clear()
    return Bot(gateway, fake, runtime)


@pytest.fixture
async def bot(holder, monkeypatch):
    b = await start_bot(holder, monkeypatch)
    yield b
    await b.close()


def custom_ids(message: dict) -> list[str]:
    return [c["custom_id"] for c in components_of(message) if "custom_id" in c]


def sent_to(fake: FakeDiscord, user_id: int) -> list[dict]:
    return fake.sent_messages(dm_channel_id(user_id))


# ---- a whole conversation ----------------------------------------------------------------------


async def test_whole_conversation_by_dm_with_buttons(bot):
    flow = bot.flow
    await bot.dm(ALICE, "こんにちは")
    # The message is stored before the bot makes any request to Discord.
    assert bot.fake.log[0] == ("accept", ("text",))
    assert bot.runtime.accepted[0].kind == "text" and bot.runtime.accepted[0].text == "こんにちは"
    welcome = await bot.turn()
    assert len(welcome) == 1
    assert welcome[0]["content"] == flow.text("ja", "welcome.hello")
    assert custom_ids(welcome[0]) == ["fc:welcome:threatened", "fc:welcome:age_u16", "fc:welcome:person"]
    assert [c["label"] for c in components_of(welcome[0])] == [
        flow.text("ja", "choice.threatened"), flow.text("ja", "choice.age_u16"), flow.text("ja", "choice.person")]

    bot.fake.clear()
    pressed = await bot.press(ALICE, bot.fake.last_sent_message(), "fc:welcome:age_u16")
    # Acknowledged (deferred update: nothing shown) before it is stored.
    ack = bot.fake.interaction_responses()[0]
    assert ack.path == f"/interactions/{pressed['id']}/{pressed['token']}/callback"
    assert ack.json == {"type": 6}
    assert bot.fake.log.index(("webhook", "POST", ack.path)) < bot.fake.log.index(("accept", ("tap",)))
    tap = bot.runtime.accepted[-1]
    assert (tap.kind, tap.choice, tap.from_state, tap.event_id, tap.locale_hint) == (
        "tap", "age_u16", "welcome", pressed["id"], "ja")
    law = await bot.turn()
    assert law[-1]["content"] == flow.text("ja", "law.u16")
    assert custom_ids(law[-1]) == ["fc:law_u16:evidence"]

    await bot.press(ALICE, bot.fake.last_sent_message(), "fc:law_u16:evidence")
    evidence = await bot.turn()
    body = evidence[-1]
    assert flow.text("ja", "evidence.keep") in body["content"]
    # The phone number is text (Discord cannot dial tel:), never a link button.
    assert "📞 よりそいホットライン 0120-279-338 (24時間)" in body["content"]
    assert custom_ids(body) == ["fc:evidence:done"]
    assert not any("url" in c for c in components_of(body))

    await bot.press(ALICE, bot.fake.last_sent_message(), "fc:evidence:done")
    bye = await bot.turn()
    assert bye[-1]["content"] == flow.text("ja", "goodbye.bye")
    assert (await bot.runtime.session(ALICE)).path[-1] == "goodbye"
    # Every message went to Alice's DM channel, and nothing else was posted anywhere.
    assert all(c.path.startswith(f"/channels/{dm_channel_id(ALICE)}/") or c.api == "webhook"
               or c.path == "/users/@me/channels" for c in bot.fake.calls)


async def test_free_text_is_a_turn(bot):
    flow = bot.flow
    await bot.dm(ALICE, "こんにちは")
    await bot.turn()
    # A typed number picks a choice; a story goes to its intent; nonsense gets the fallback.
    await bot.dm(ALICE, "1")
    replies = await bot.turn()
    assert [m["content"] for m in replies][:2] == [flow.text("ja", "reassure.not_your_fault"),
                                                  flow.text("ja", "reassure.not_alone")]
    await bot.dm(ALICE, "最初から")
    await bot.turn()
    await bot.dm(ALICE, "写真をばらすと言われた")
    replies = await bot.turn()
    assert replies[0]["content"] == flow.text("ja", "reassure.not_your_fault")
    await bot.dm(ALICE, "最初から")
    await bot.turn()
    await bot.dm(ALICE, "qwertyuiop")
    replies = await bot.turn()
    assert replies[-1]["content"] == flow.text("ja", "system.fallback")
    assert "fc:welcome:person" in custom_ids(replies[-1])
    assert [e.kind for e in bot.runtime.accepted] == ["text"] * 6


async def test_crisis_word_gets_the_lines_at_once(bot):
    flow = bot.flow
    await bot.dm(BOB, "もう死にたい")
    replies = await bot.turn()
    body = replies[-1]
    assert flow.text("ja", "crisis.hear_you").split("。")[0] in body["content"]
    assert "0120-279-338" in body["content"] and "0120-99-7777" in body["content"]
    # At 2am Childline is closed: the person is told, next to the number.
    assert "チャイルドライン 0120-99-7777 (毎日16時〜21時) · " + flow.text("ja", "system.closed_now") in body["content"]
    assert custom_ids(body) == ["fc:crisis:person", "fc:crisis:back"]
    assert "crisis" in (await bot.runtime.session(BOB)).risk


async def test_attachment_is_never_downloaded(bot):
    flow = bot.flow
    await bot.dm(ALICE, "こんにちは")
    await bot.turn()
    await bot.dm(ALICE, "", attachments=2)
    assert [(e.kind, e.text) for e in bot.runtime.accepted[1:]] == [("media", "")]
    replies = await bot.turn()
    assert replies[-1]["content"] == flow.text("ja", "system.media")
    # With words as well: the words are a turn, then the same kind answer about images.
    msg = await bot.dm(ALICE, "証拠", attachments=1)
    assert [(e.kind, e.event_id) for e in bot.runtime.accepted[2:]] == [("text", msg["id"]), ("media", msg["id"] + ":media")]
    replies = await bot.turn()
    assert flow.text("ja", "evidence.keep") in replies[0]["content"]
    assert replies[-1]["content"] == flow.text("ja", "system.media")
    # A sticker alone
    await bot.dm(ALICE, "", stickers=1)
    assert bot.runtime.accepted[-1].kind == "sticker"
    # No request ever went to the CDN (get_from_cdn raises in the harness) nor fetched a message.
    assert not any("attachments" in c.path or c.method == "GET" and "/messages" in c.path for c in bot.fake.calls)


async def test_own_and_other_bots_messages_are_ignored(bot):
    feed_message(bot.client, dm_message(ALICE, "echo", author=dict(BOT_USER)))
    other_bot = dict(user_payload(ALICE), bot=True)
    feed_message(bot.client, dm_message(ALICE, "spam", author=other_bot))
    feed_message(bot.client, dm_message(ALICE, "", message_type=6))  # a pin notice
    await settle()
    assert bot.runtime.accepted == [] and bot.fake.calls == []


# ---- servers: nothing in public -------------------------------------------------------------------


async def test_guild_mention_opens_a_dm_and_stores_nothing(bot):
    feed_guild(bot.client, guild_create(locale="ja"))
    bot.fake.clear()
    feed_message(bot.client, guild_message(ALICE, f"<@{BOT_ID}> 脅されてる 助けて", mention_bot=True))
    await settle()
    assert bot.runtime.accepted == []
    assert not [entry for entry in bot.fake.log if entry[0] == "accept"]
    # Nothing was posted in the server channel; the invitation went by DM, in the server's language.
    assert bot.fake.sent_messages(GUILD_CHANNEL_ID) == []
    invite = sent_to(bot.fake, ALICE)
    assert len(invite) == 1
    assert invite[0]["content"] == bot.gateway.text("ja", "shell.discord.invite")
    assert "脅されてる" not in invite[0]["content"]
    assert custom_ids(invite[0]) == [START_CUSTOM_ID]
    # A second mention within a minute does not send a second DM.
    feed_message(bot.client, guild_message(ALICE, f"<@{BOT_ID}>", mention_bot=True))
    await settle()
    assert len(sent_to(bot.fake, ALICE)) == 1

    # The start button in that DM starts the conversation.
    await bot.press(ALICE, bot.fake.last_sent_message(), START_CUSTOM_ID)
    assert bot.runtime.accepted[-1].kind == "start"
    replies = await bot.turn()
    assert replies[-1]["content"] == bot.flow.text("ja", "welcome.hello")


async def test_guild_messages_without_mention_are_not_read(bot):
    feed_guild(bot.client, guild_create())
    bot.fake.clear()
    feed_message(bot.client, guild_message(ALICE, "死にたい", mention_bot=False))
    await settle()
    assert bot.fake.calls == [] and bot.runtime.accepted == []


async def test_guild_mention_when_dms_are_closed_points_to_help_only(bot):
    feed_guild(bot.client, guild_create(locale="en-US"))
    bot.fake.fail["POST /channels/" + str(dm_channel_id(BOB))] = lambda call: http_error(403, 50007)
    bot.fake.clear()
    feed_message(bot.client, guild_message(BOB, f"<@{BOB}> <@{BOT_ID}> they have my photos", mention_bot=True))
    await settle(0.5)
    public = bot.fake.sent_messages(GUILD_CHANNEL_ID)
    assert len(public) == 1
    assert public[0]["content"] == bot.gateway.text("en", "shell.discord.public_pointer")
    assert public[0]["allowed_mentions"]["parse"] == []
    assert bot.runtime.accepted == []


async def test_slash_help_in_a_server_is_ephemeral_and_opens_a_dm(bot):
    feed_guild(bot.client, guild_create())
    bot.fake.clear()
    feed_interaction(bot.client, slash_help(ALICE, locale="en-US"))
    await settle()
    responses = bot.fake.interaction_responses()
    assert responses[0].json == {"type": 5, "data": {"flags": 64}}  # thinking, only they see it
    followup = responses[-1]
    assert followup.json["flags"] & 64
    assert followup.json["content"] == bot.gateway.text("en", "shell.discord.help_sent")
    assert [m["content"] for m in sent_to(bot.fake, ALICE)] == [bot.gateway.text("en", "shell.discord.invite")]
    assert bot.fake.sent_messages(GUILD_CHANNEL_ID) == []
    assert bot.runtime.accepted == []
    # Its locale is remembered for the DMs that follow.
    await bot.dm(ALICE, "hello")
    assert bot.runtime.accepted[-1].locale_hint == "en-US"
    replies = await bot.turn()
    assert replies[-1]["content"] == bot.flow.text("en", "welcome.hello")


async def test_slash_help_when_dms_are_closed(bot):
    feed_guild(bot.client, guild_create())
    bot.fake.fail["POST /channels/" + str(dm_channel_id(BOB))] = lambda call: http_error(403, 50007)
    feed_interaction(bot.client, slash_help(BOB, locale="ja"))
    await settle()
    followup = bot.fake.interaction_responses()[-1]
    assert followup.json["flags"] & 64
    assert bot.gateway.text("ja", "shell.discord.help_blocked") in followup.json["content"]
    assert bot.runtime.safety_text("ja") in followup.json["content"]
    assert bot.fake.sent_messages(GUILD_CHANNEL_ID) == []


async def test_slash_help_in_dms_offers_start(bot):
    feed_interaction(bot.client, slash_help(ALICE, guild=False))
    await settle()
    (answer,) = bot.fake.interaction_responses()
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] & 64
    assert answer.json["data"]["content"] == bot.gateway.text("ja", "shell.discord.help_in_dm")
    assert custom_ids(answer.json["data"]) == [START_CUSTOM_ID]


# ---- buttons over time ----------------------------------------------------------------------------


async def test_button_pressed_after_a_restart(holder, monkeypatch):
    first = await start_bot(holder, monkeypatch)
    await first.dm(ALICE, "こんにちは")
    await first.turn()
    old_message = first.fake.last_sent_message()
    await first.channel.close()

    # A new process: a new client, the same store. The old message's button still works.
    second = await start_bot(holder, monkeypatch, runtime=first.runtime)
    second.runtime.log = second.fake.log
    try:
        pressed = await second.press(ALICE, old_message, "fc:welcome:threatened")
        assert second.fake.interaction_responses()[0].json == {"type": 6}
        tap = second.runtime.accepted[-1]
        assert (tap.event_id, tap.choice, tap.from_state) == (pressed["id"], "threatened", "welcome")
        replies = await second.turn()
        assert replies[0]["content"] == holder.flow.text("ja", "reassure.not_your_fault")
    finally:
        await second.close()


async def test_button_from_an_old_flow_version_lands_safely(bot):
    flow = bot.flow
    await bot.dm(ALICE, "こんにちは")
    await bot.turn()
    # A message from before a flow edit: its state and choice no longer exist.
    old = dict(bot.fake.last_sent_message())
    old["components"] = [{"type": 1, "components": [
        {"type": 2, "style": 2, "label": "old", "custom_id": "fc:removed_state:removed_choice"},
        {"type": 2, "style": 2, "label": "old 2", "custom_id": "fc:welcome:removed_choice"},
        {"type": 2, "style": 2, "label": "old 3", "custom_id": "fc:"}]}]
    await bot.press(ALICE, old, "fc:removed_state:removed_choice")
    replies = await bot.turn()
    assert replies[-1]["content"] == flow.text("ja", "system.fallback")
    assert "fc:welcome:person" in custom_ids(replies[-1])
    await bot.press(ALICE, old, "fc:welcome:removed_choice")
    replies = await bot.turn()
    assert replies[-1]["content"] == flow.text("ja", "system.fallback")
    # A malformed id is acknowledged and dropped.
    before = len(bot.runtime.accepted)
    await bot.press(ALICE, old, "fc:")
    assert len(bot.runtime.accepted) == before
    assert bot.fake.interaction_responses()[-1].json == {"type": 6}


async def test_button_from_an_earlier_message_is_honoured(bot):
    flow = bot.flow
    await bot.dm(ALICE, "こんにちは")
    await bot.turn()
    welcome = bot.fake.last_sent_message()
    await bot.press(ALICE, welcome, "fc:welcome:threatened")
    await bot.turn()   # now at law_general
    await bot.press(ALICE, welcome, "fc:welcome:age_u16")
    replies = await bot.turn()
    assert replies[-1]["content"] == flow.text("ja", "law.u16")


async def test_ack_is_sent_even_when_the_store_is_slow(bot):
    await bot.dm(ALICE, "こんにちは")
    await bot.turn()
    message = bot.fake.last_sent_message()
    bot.fake.clear()
    before = len(bot.runtime.accepted)
    bot.runtime.gate = asyncio.Event()
    feed_interaction(bot.client, button_interaction(ALICE, message, "fc:welcome:person"))
    for _ in range(100):
        await asyncio.sleep(0.005)
        if bot.fake.interaction_responses():
            break
    assert bot.fake.interaction_responses()[0].json == {"type": 6}
    assert len(bot.runtime.accepted) == before   # still waiting for the store
    bot.runtime.gate.set()
    await settle()
    assert bot.runtime.accepted[-1].choice == "person"


async def test_tap_locale_hint_from_discord(bot):
    await bot.dm(BOB, "hello")
    await bot.turn()
    await bot.press(BOB, bot.fake.last_sent_message(), "fc:welcome:person", locale="en-GB")
    assert bot.runtime.accepted[-1].locale_hint == "en-GB"
    # A first contact by button (e.g. the start button) speaks the person's language.
    await bot.press(ALICE, bot_message(ALICE, START_CUSTOM_ID), START_CUSTOM_ID, locale="en-US")
    replies = await bot.turn()
    assert replies[-1]["content"] == bot.flow.text("en", "welcome.hello")


# ---- the store is down --------------------------------------------------------------------------


async def test_store_down_still_answers_with_the_safety_message(bot):
    bot.runtime.down = True
    await bot.dm(ALICE, "助けて")
    safety = bot.runtime.safety_text
    assert safety("ja") != safety("en")
    assert [m["content"] for m in sent_to(bot.fake, ALICE)] == [safety("ja")]
    bot.fake.clear()
    await bot.press(ALICE, bot_message(ALICE, "fc:welcome:person"), "fc:welcome:person", locale="en-US")
    assert bot.fake.interaction_responses()[0].json == {"type": 6}
    assert [m["content"] for m in sent_to(bot.fake, ALICE)] == [safety("en")]


# ---- delivery ------------------------------------------------------------------------------------


async def test_deliver_respects_discord_limits(bot):
    long_text = ("あ" * 700 + "\n") * 6 + "😀" * 1500
    choices = tuple(Choice(f"c{i}", f"choice {i} " + "x" * 100) for i in range(30))
    links = (Link("NPO site " + "y" * 100, "https://example.org/help", "npo"), Link("Phone", "tel:0120279338", "t"))
    result = await bot.channel.deliver(str(ALICE), Outbound((Reply(long_text, "k", choices, links),),
                                                            meta={"state": "welcome"}))
    assert result == DeliveryResult("sent")
    sent = sent_to(bot.fake, ALICE)
    assert len(sent) >= 4
    for message in sent:
        assert utf16_len(message.get("content") or "") <= MESSAGE_CHARS
        buttons = components_of(message)
        assert len(buttons) <= BUTTONS_PER_MESSAGE and len(message.get("components") or []) <= 5
        for b in buttons:
            assert 1 <= len(b["label"]) <= LABEL_CHARS
            assert len(b.get("custom_id", "")) <= CUSTOM_ID_CHARS
    text = "".join(m.get("content") or "" for m in sent)
    assert text.count("あ") == 4200 and text.count("😀") == 1500 and "📞 Phone 0120279338" in text
    buttons = [b for m in sent for b in components_of(m)]
    assert [b["custom_id"] for b in buttons if "custom_id" in b] == [f"fc:welcome:c{i}" for i in range(30)]
    assert [b["url"] for b in buttons if "url" in b] == ["https://example.org/help"]
    assert all(b["style"] == 5 for b in buttons if "url" in b)


async def test_deliver_counsellor_message(bot):
    result = await bot.channel.deliver(str(BOB), Outbound((Reply("相談員です。読んでいます。"),), kind="counsellor"))
    assert result.status == "sent"
    (message,) = sent_to(bot.fake, BOB)
    assert message["content"] == "相談員です。読んでいます。" and not message.get("components")


@pytest.mark.parametrize("error, status, reason", [
    (lambda: http_error(403, 50007), "failed", "discord_403_50007"),
    (lambda: http_error(404, 10013), "failed", "discord_404_10013"),
    (lambda: http_error(400, 50035), "failed", "discord_400_50035"),
    (lambda: http_error(503, 0), "retry", "http_503"),
    (lambda: discord.RateLimited(120.0), "retry", "http_429"),
    (lambda: http_error(429, 0), "retry", "http_429"),
    (lambda: aiohttp.ClientConnectionError("down"), "retry", "network_ClientConnectionError"),
    (lambda: asyncio.TimeoutError(), "retry", "network_TimeoutError"),
])
async def test_deliver_failures(bot, error, status, reason):
    bot.fake.fail["/messages"] = lambda call: error()
    result = await bot.channel.deliver(str(ALICE), Outbound((Reply("hello"),), retry_key="r1"))
    assert (result.status, result.reason) == (status, reason)
    if status == "retry":
        assert result.retry_after and result.retry_after > 0


async def test_deliver_retry_does_not_resend_what_went_out(bot):
    outbound = Outbound((Reply("one"), Reply("two"), Reply("three")), retry_key="row-7")
    fails = {"n": 0}

    def second_fails(call):
        if call.json["content"] == "two" and fails["n"] == 0:
            fails["n"] += 1
            return http_error(500)
        return None

    bot.fake.fail["/messages"] = second_fails
    assert (await bot.channel.deliver(str(ALICE), outbound)).status == "retry"
    assert (await bot.channel.deliver(str(ALICE), outbound)).status == "sent"
    sent = sent_to(bot.fake, ALICE)
    assert [m["content"] for m in sent] == ["one", "two", "two", "three"]  # "two" once failed, once sent
    # Each message carries a stable nonce that Discord enforces, so a resend after a crash is dropped.
    assert sent[1]["nonce"] == sent[2]["nonce"] and sent[1]["enforce_nonce"] is True
    assert len({m["nonce"] for m in sent}) == 3


async def test_deliver_bad_user_id(bot):
    result = await bot.channel.deliver("not-a-number", Outbound((Reply("x"),)))
    assert result.status == "failed" and bot.fake.calls == []


# ---- set-up ----------------------------------------------------------------------------------------


def test_intents_ask_for_nothing_privileged():
    i = intents()
    assert i.dm_messages and i.guild_messages and i.guilds
    assert not i.message_content and not i.members and not i.presences


async def test_help_command_is_synced_with_its_translations(holder, monkeypatch):
    b = await start_bot(holder, monkeypatch, sync_commands=True)
    try:
        (put,) = [c for c in b.fake.login_calls if c.method == "PUT"]
        (command,) = put.json
        assert command["name"] == "help"
        assert command["description"] == b.gateway.text("en", "shell.discord.help_description")
        assert command["description_localizations"]["ja"] == b.gateway.text("ja", "shell.discord.help_description")
        assert sorted(command["contexts"]) == [0, 1] and command["integration_types"] == [0]
        assert b.client._connection._messages is None   # no message text kept in memory
    finally:
        await b.close()


def test_locale_keys_in_both_languages(holder):
    import yaml

    for lang in ("ja", "en"):
        texts = yaml.safe_load((ROOT / "locales" / f"{lang}.discord.yaml").read_text())["texts"]
        keys = {f"shell.discord.{k}" for k in texts["shell"]["discord"]}
        assert keys == set(TEXT_KEYS), lang
    flow = holder.flow
    for key in TEXT_KEYS:
        assert flow.text("ja", key) != key and flow.text("en", key) != key
    assert len(flow.text("ja", "shell.discord.help_description")) <= 100


# ---- privacy ---------------------------------------------------------------------------------------


async def test_logs_hold_no_text_and_no_user_id(bot, caplog):
    from bot.observability import JsonFormatter

    marker = "MARKER-zq81-ひみつ"
    secret_user = 555000000000000777
    caplog.set_level(logging.DEBUG)
    await bot.dm(secret_user, marker)
    await bot.turn()
    await bot.press(secret_user, bot.fake.last_sent_message(), "fc:welcome:person")
    await bot.turn()
    bot.runtime.down = True
    await bot.dm(secret_user, marker + " again")
    feed_guild(bot.client, guild_create())
    feed_message(bot.client, guild_message(secret_user, f"<@{BOT_ID}> {marker}", mention_bot=True))
    await settle()
    formatter = JsonFormatter()
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert ours, "the adapter logs its events"
    for record in caplog.records:
        line = formatter.format(record)
        if record.name.startswith("bot."):
            line += " " + record.getMessage() + " " + repr(vars(record))
        assert marker not in line and str(secret_user) not in line, line


# ---- with the real runtime and store (SQLite and PostgreSQL) ------------------------------------


@pytest.fixture
async def durable(settings, holder, store, monkeypatch):
    """The Discord channel on the real Runtime and store; turns run by ``runtime.drain()``."""
    from bot.runtime import Runtime

    fake = FakeDiscord()
    runtime = Runtime(settings, holder, store=store, clock=lambda: NIGHT.timestamp())
    gateway = connect(runtime, lambda: holder.flow, sync_commands=False)
    fake.install(gateway.client, monkeypatch)
    runtime.register_channel(gateway.channel)
    await runtime.start(run_worker=False, migrate=False)
    await gateway.channel.login("test-token")
    fake.clear()
    yield Bot(gateway, fake, runtime)
    await gateway.channel.close()
    await runtime.stop()


async def test_durable_conversation_with_buttons_and_restart(durable, settings, holder, store, monkeypatch):
    from bot.runtime import Runtime

    flow = holder.flow
    bot = durable
    await bot.dm(ALICE, "こんにちは")
    assert await bot.runtime.drain() == 1
    (welcome,) = sent_to(bot.fake, ALICE)
    assert welcome["content"] == flow.text("ja", "welcome.hello")
    assert custom_ids(welcome) == ["fc:welcome:threatened", "fc:welcome:age_u16", "fc:welcome:person"]
    assert welcome["enforce_nonce"] is True
    old_message = bot.fake.last_sent_message()

    # The same gateway event twice (a replay): stored once, answered once.
    payload = dm_message(ALICE, "1")
    feed_message(bot.client, payload)
    feed_message(bot.client, payload)
    await settle()
    assert await bot.runtime.drain() == 1
    assert [m["content"] for m in sent_to(bot.fake, ALICE)[1:3]] == [
        flow.text("ja", "reassure.not_your_fault"), flow.text("ja", "reassure.not_alone")]
    await bot.channel.close()

    # Restart: a new client and a new runtime on the same database. The first message's button
    # (from a state the person has left) is honoured.
    fake2 = FakeDiscord()
    runtime2 = Runtime(settings, holder, store=store, clock=lambda: NIGHT.timestamp())
    gateway2 = connect(runtime2, lambda: holder.flow, sync_commands=False)
    fake2.install(gateway2.client, monkeypatch)
    runtime2.register_channel(gateway2.channel)
    await runtime2.start(run_worker=False, migrate=False)
    await gateway2.channel.login("test-token")
    second = Bot(gateway2, fake2, runtime2)
    try:
        await second.press(ALICE, old_message, "fc:welcome:age_u16")
        assert fake2.interaction_responses()[0].json == {"type": 6}
        assert await runtime2.drain() == 1
        assert sent_to(fake2, ALICE)[-1]["content"] == flow.text("ja", "law.u16")
        # A button from an old flow version lands on the fallback.
        await second.press(ALICE, bot_message(ALICE, "fc:gone:gone"), "fc:gone:gone")
        assert await runtime2.drain() == 1
        assert sent_to(fake2, ALICE)[-1]["content"] == flow.text("ja", "system.fallback")
    finally:
        await gateway2.channel.close()


async def test_durable_handoff_counsellor_message_is_a_dm(durable, holder):
    bot = durable
    await bot.dm(BOB, "人と話したい")
    await bot.runtime.drain()
    assert sent_to(bot.fake, BOB)[-1]["content"] == holder.flow.text("ja", "person.connecting")
    async with bot.runtime.store.transaction() as s:
        from sqlalchemy import select

        from bot.store.models import Conversation
        (conversation_id,) = (await s.execute(select(Conversation.id))).scalars().all()
    await bot.runtime.send_to_person(conversation_id, "相談員の山田です。ゆっくりで大丈夫です。")
    await bot.runtime.drain()
    assert sent_to(bot.fake, BOB)[-1]["content"] == "相談員の山田です。ゆっくりで大丈夫です。"
    # While in handoff, the person's DMs go to the counsellor, not to the engine: no bot reply.
    before = len(sent_to(bot.fake, BOB))
    await bot.dm(BOB, "ありがとう")
    await bot.runtime.drain()
    assert len(sent_to(bot.fake, BOB)) == before


async def test_database_down_answers_with_safety_text(settings, holder, monkeypatch):
    from bot.runtime import Runtime
    from bot.store import Store

    unreachable = Store("postgresql+asyncpg://postgres@127.0.0.1:1/none", b"k" * 40)
    runtime = Runtime(settings, holder, store=unreachable, accept_timeout=3.0)
    fake = FakeDiscord()
    gateway = connect(runtime, lambda: holder.flow, sync_commands=False)
    fake.install(gateway.client, monkeypatch)
    await gateway.channel.login("test-token")
    fake.clear()
    try:
        feed_message(gateway.client, dm_message(ALICE, "助けて"))
        await settle(5.0)
        (message,) = sent_to(fake, ALICE)
        assert message["content"] == runtime.safety_text("ja")
        assert "0120-279-338" in message["content"]
    finally:
        await gateway.channel.close()
        await unreachable.dispose()


# ---- python -m bot discord ------------------------------------------------------------------------


def test_run_discord_needs_a_token(settings, capsys):
    from bot.app import run_discord

    assert run_discord(settings) == 2
    assert "DISCORD_TOKEN" in capsys.readouterr().err


def test_run_discord_wires_gateway_runtime_and_sender(tmp_path, holder, monkeypatch):
    """The real entry point: migrations, worker and sender loops, the client; only the network is played."""
    from bot import app
    from bot.app import run_discord
    from bot.channels.discord import DiscordClient
    from bot.settings import Settings

    settings = Settings(BOT_DATA_DIR=tmp_path / "data", BOT_SECRET_KEY="s" * 40, BOT_FLOWS_DIR=holder.flows_dir,
                        BOT_LOCALES_DIR=holder.locales_dir, BOT_FLOW="mini", DATABASE_URL="",
                        DISCORD_TOKEN="test-token")
    fake = FakeDiscord()
    original_login = DiscordClient.login

    async def login(self, token):
        fake.install(self, monkeypatch)
        await original_login(self, token)

    async def connect(self, *, reconnect: bool = True):
        # Instead of a gateway: one DM arrives; return (as a closed gateway would) once answered
        # and the retention rules have run.
        feed_message(self, dm_message(ALICE, "こんにちは"))
        for _ in range(1000):
            if sent_to(fake, ALICE) and purged:
                return
            await asyncio.sleep(0.01)

    from bot.store import retention

    purged = []
    real_purge = retention.purge

    async def purge(store, settings_, now=None, **kw):  # as every process does, hourly (README)
        purged.append(await real_purge(store, settings_, now, **kw))
        return purged[-1]

    monkeypatch.setattr(retention, "purge", purge)
    wired = []
    assemble = app.assemble

    def assemble_and_see(*args, **kwargs):  # the handoff's own wiring is tested there; here: that it is wired
        process = assemble(*args, **kwargs)
        wired.append(process.runtime.handoff_hooks is process.handoff)
        return process

    monkeypatch.setattr(DiscordClient, "login", login)
    monkeypatch.setattr(DiscordClient, "connect", connect)
    monkeypatch.setattr(app, "assemble", assemble_and_see)
    monkeypatch.setattr("bot.observability.configure_logging", lambda *a, **k: None)
    assert run_discord(settings) == 0
    # Turns run in this process, so the handoff side is wired to its runtime.
    assert wired == [True]
    # The retention rules ran at start (then hourly), on this process's database.
    assert purged and set(purged[0]) >= {"inbox", "conversations"}
    (welcome,) = sent_to(fake, ALICE)
    assert welcome["content"] == holder.flow.text("ja", "welcome.hello")
    assert custom_ids(welcome)[0] == "fc:welcome:threatened"
    # The /help command was registered with Discord at start-up.
    assert any(c.method == "PUT" and c.path.endswith("/commands") for c in fake.calls)


async def test_real_first_contact_flow_fits_discord(monkeypatch):
    """The shipped flow (flows/, locales/) through the adapter: structure only, the words are content's."""
    real = BundleHolder(ROOT / "flows", ROOT / "locales", "first_contact")
    b = await start_bot(real, monkeypatch)
    try:
        await b.dm(ALICE, "こんにちは")
        await b.dm(BOB, "死にたい")
        await b.turn()
        for user in (ALICE, BOB):
            sent = sent_to(b.fake, user)
            assert sent and custom_ids(sent[-1]), "the last message carries the choices"
            state = (await b.runtime.session(user)).state
            assert all(cid.startswith(f"fc:{state}:") for cid in custom_ids(sent[-1]))
            for message in sent:
                assert utf16_len(message.get("content") or "") <= MESSAGE_CHARS
                for c in components_of(message):
                    assert len(c["label"]) <= LABEL_CHARS
                    assert c.get("url", "https://").startswith(("https://", "http://"))
        crisis = "\n".join(m.get("content") or "" for m in sent_to(b.fake, BOB))
        assert "📞" in crisis and "0120-279-338" in crisis
    finally:
        await b.close()
