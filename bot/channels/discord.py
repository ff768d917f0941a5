"""Discord: the same conversation in direct messages, with buttons.

What comes in (gateway, discord.py):
- a direct message: stored in the durable inbox (``runtime.accept``) before anything else, since
  Discord never delivers a gateway event twice. Text becomes a ``text`` event (``event_id`` = the
  message id); attachments are never downloaded and become a ``media`` event; stickers a
  ``sticker`` event.
- a button press: acknowledged at once (Discord allows 3 seconds), then stored as a ``tap`` event
  (``event_id`` = the interaction id) with the choice and the state read from the button's
  ``custom_id`` (``fc:<state>:<choice_id>``). The buttons are a persistent ``DynamicItem``
  registered in ``setup_hook``, so a button sent before a restart, or by an older flow version,
  still lands (the engine answers an unknown one with its fallback).
- in a server: a mention of the bot, or ``/help``, gets an answer only that person sees (an
  ephemeral reply, or nothing public at all) and a direct message that opens the private
  conversation. Nothing from a server channel is stored or read.

What goes out (``deliver``, called by the runtime's sender): each reply becomes direct messages
within Discord's limits; choices are buttons, web addresses link buttons, phone numbers text
(Discord cannot dial ``tel:``). Counsellor messages during a handoff go the same way.

Intents: guilds, guild messages (to see a mention: the ids of who is mentioned are not
privileged) and direct messages. The privileged message-content intent is not requested: Discord
gives the text of direct messages and of messages that mention the bot without it.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import signal
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from bot.channels.base import DeliveryResult, InboundEvent, Outbound
from bot.engine.model import Reply

log = logging.getLogger(__name__)

CHANNEL = "discord"

# Discord's limits (https://discord.com/developers/docs/resources/message,
# .../interactions/message-components): checked against discord.py 2.7.1.
MESSAGE_CHARS = 2000          # content of one message; counted here in UTF-16 units, the safer count
BUTTONS_PER_MESSAGE = 25      # 5 action rows of 5 buttons
BUTTONS_PER_ROW = 5
ROWS_PER_MESSAGE = 5
LABEL_CHARS = 80              # button label
CUSTOM_ID_CHARS = 100         # button custom_id
NONCE_CHARS = 25              # message nonce (with enforce_nonce: Discord drops a repeat for a few minutes)
INTERACTION_DEADLINE = 3.0    # seconds to acknowledge an interaction

# Button ids: "fc:<state>:<choice_id>" (state and choice names are [A-Za-z0-9_-], see
# bot/engine/flow.py), and "fc:start" for the button that opens a conversation.
CUSTOM_ID_PREFIX = "fc:"
START_CUSTOM_ID = "fc:start"
CUSTOM_ID_TEMPLATE = r"fc:(?P<rest>[A-Za-z0-9_:\-]{0,97})"

INVITE_COOLDOWN = 60.0        # seconds: one invitation DM per person per minute, however often they ask
PUBLIC_POINTER_SECONDS = 60   # a public pointer to /help (only when a DM is impossible) is deleted after this
RUNTIME_START_WAIT = 15.0     # seconds the gateway waits for the database at start-up
REMEMBERED_USERS = 10_000     # bounded in-memory maps (locale hints, invitations, delivery progress)
UNREACHABLE_CODES = {50007, 10013, 10003, 50278}  # cannot DM this user / unknown user / unknown channel

# Texts of this adapter (locales/<lang>.discord.yaml, under shell.discord).
TEXT_INVITE = "shell.discord.invite"
TEXT_START = "shell.discord.start"
TEXT_HELP_SENT = "shell.discord.help_sent"
TEXT_HELP_BLOCKED = "shell.discord.help_blocked"
TEXT_HELP_IN_DM = "shell.discord.help_in_dm"
TEXT_PUBLIC_POINTER = "shell.discord.public_pointer"
TEXT_HELP_DESCRIPTION = "shell.discord.help_description"
TEXT_KEYS = (TEXT_INVITE, TEXT_START, TEXT_HELP_SENT, TEXT_HELP_BLOCKED, TEXT_HELP_IN_DM,
             TEXT_PUBLIC_POINTER, TEXT_HELP_DESCRIPTION)


class RuntimeLike(Protocol):
    """What this adapter needs from ``bot.runtime.Runtime``."""

    async def accept(self, events: list[InboundEvent]) -> int: ...

    def safety_text(self, locale: str | None) -> str: ...


# ---- custom ids -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """What a button's ``custom_id`` says: a choice (from a state), or ``start``."""

    kind: str                 # "tap" or "start"
    choice: str = ""
    from_state: str | None = None


def choice_custom_id(state: str | None, choice_id: str) -> str:
    """``fc:<state>:<choice_id>``; the state is dropped when the id would be too long."""
    custom_id = f"{CUSTOM_ID_PREFIX}{state or ''}:{choice_id}"
    if len(custom_id) > CUSTOM_ID_CHARS:
        custom_id = f"{CUSTOM_ID_PREFIX}:{choice_id}"
    return custom_id[:CUSTOM_ID_CHARS]


def parse_custom_id(custom_id: str) -> Tap | None:
    """Read a button id; None for anything that is not one of ours."""
    if not custom_id.startswith(CUSTOM_ID_PREFIX):
        return None
    rest = custom_id[len(CUSTOM_ID_PREFIX):]
    if rest == "start":
        return Tap("start")
    state, sep, choice = rest.partition(":")
    if not sep:
        state, choice = "", state
    if not choice:
        return None
    return Tap("tap", choice, state or None)


# ---- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    label: str
    custom_id: str | None = None   # a choice
    url: str | None = None         # a link


@dataclass(frozen=True)
class Message:
    """One Discord message to send: content within 2,000 characters, at most 25 buttons."""

    content: str
    buttons: tuple[Button, ...] = ()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MESSAGE_CHARS) -> list[str]:
    """Cut text into pieces of at most ``limit`` UTF-16 units, at a line break or space if possible."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        # the longest prefix within the limit (never splitting a surrogate pair: we cut code points)
        cut, size = 0, 0
        for i, ch in enumerate(rest):
            size += 2 if ord(ch) > 0xFFFF else 1
            if size > limit:
                cut = i
                break
        window = rest[:cut]
        at = max(window.rfind("\n"), window.rfind("。"), window.rfind(" "))
        if at >= cut // 2:
            piece, rest = rest[:at + 1], rest[at + 1:]
        else:
            piece, rest = window, rest[cut:]
        piece = piece.rstrip()
        if piece:
            pieces.append(piece)
        rest = rest.lstrip("\n ")
    if rest.strip():
        pieces.append(rest)
    return pieces


def clip_label(label: str, limit: int = LABEL_CHARS) -> str:
    label = " ".join(label.split()) or "…"
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _is_web(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _phone_line(link, closed_text: str) -> str:
    line = link.label
    if link.url.lower().startswith("tel:"):
        number = link.url[4:].replace("%23", "#")
        if re.sub(r"\D", "", number) not in re.sub(r"\D", "", link.label):
            line = f"{link.label} {number}".strip()
    if link.hours:
        line += f" ({link.hours})"
    if link.open_now is False and closed_text:
        line += f" · {closed_text}"
    return "📞 " + line


def render_reply(reply: Reply, state: str | None, closed_text: str = "") -> list[Message]:
    """One reply (bubble) as Discord messages: long text split, buttons on the last piece."""
    lines = [reply.text] if reply.text.strip() else []
    buttons: list[Button] = []
    seen: set[str] = set()
    for choice in reply.choices:
        custom_id = choice_custom_id(state, choice.id)
        if custom_id in seen:  # Discord rejects two components with one custom_id in a message
            continue
        seen.add(custom_id)
        buttons.append(Button(clip_label(choice.label), custom_id=custom_id))
    for link in reply.links:
        if _is_web(link.url):
            buttons.append(Button(clip_label(link.label or link.url), url=link.url))
        else:  # tel: and anything Discord cannot open: shown as text, readable and copyable
            lines.append(_phone_line(link, closed_text))
    pieces = split_text("\n".join(lines))
    groups = [tuple(buttons[i:i + BUTTONS_PER_MESSAGE]) for i in range(0, len(buttons), BUTTONS_PER_MESSAGE)]
    messages = [Message(p) for p in pieces]
    if groups:
        if messages:
            messages[-1] = Message(messages[-1].content, groups[0])
        else:
            messages.append(Message("", groups[0]))
        messages.extend(Message("", g) for g in groups[1:])
    return messages


def render_outbound(outbound: Outbound, closed_text: str = "") -> list[Message]:
    """All messages for one outbox row. ``outbound.meta["state"]`` names the state the choices are from."""
    state = outbound.meta.get("state") if isinstance(outbound.meta, dict) else None
    state = state if isinstance(state, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", state) else None
    out: list[Message] = []
    for reply in outbound.replies:
        out.extend(render_reply(reply, state, closed_text))
    return out


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button], template=CUSTOM_ID_TEMPLATE):
    """A choice or the start button. Persistent: registered in ``setup_hook`` by its template, so
    any ``fc:...`` button ever sent is handled, after restarts and flow edits alike."""

    def __init__(self, custom_id: str, label: str = "…", row: int | None = None, primary: bool = False):
        style = discord.ButtonStyle.primary if primary else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style, row=row))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(item.custom_id or "", item.label or "…")

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        if isinstance(client, DiscordClient):
            await client.adapter.on_button(interaction, self.item.custom_id or "")


def build_view(message: Message) -> discord.ui.View | None:
    if not message.buttons:
        return None
    view = discord.ui.View(timeout=None)
    # A few buttons read best one under another on a phone; more are packed five to a row.
    one_per_row = len(message.buttons) <= ROWS_PER_MESSAGE
    for i, b in enumerate(message.buttons):
        row = i if one_per_row else None
        if b.url:
            view.add_item(discord.ui.Button(label=b.label, url=b.url, row=row))
        else:
            view.add_item(ChoiceButton(b.custom_id or "", b.label, row=row))
    return view


def message_nonce(retry_key: str, index: int) -> str | None:
    """A stable nonce per message of an outbox row, so a retried send is not shown twice."""
    if not retry_key:
        return None
    return hashlib.blake2b(f"{retry_key}:{index}".encode(), digest_size=12).hexdigest()[:NONCE_CHARS]


# ---- the client -------------------------------------------------------------------------------


def intents() -> discord.Intents:
    """Only what the bot needs: no privileged intent."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


class DiscordClient(discord.Client):
    """discord.py client wired to one ``DiscordChannel``; keeps no message cache (no text in memory)."""

    def __init__(self, adapter: "DiscordChannel", *, sync_commands: bool = True, **options: Any):
        super().__init__(
            intents=intents(),
            max_messages=None,                      # discord.py would keep the last 1,000 messages' text
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=30.0,             # longer waits come back as a retry for the outbox
            **options,
        )
        self.adapter = adapter
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)

        async def help_command(interaction: discord.Interaction) -> None:
            await adapter.on_help(interaction)

        description = adapter.text("en", TEXT_HELP_DESCRIPTION)
        command = app_commands.Command(
            name="help",
            description=app_commands.locale_str(description[:100], key=TEXT_HELP_DESCRIPTION),
            callback=help_command,
        )
        command = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)(command)
        command = app_commands.allowed_installs(guilds=True, users=False)(command)
        self.tree.add_command(command)

    async def setup_hook(self) -> None:
        # Persistent buttons: every "fc:..." custom_id, whatever message it is on.
        self.add_dynamic_items(ChoiceButton)
        if self.sync_commands:
            try:
                await self.tree.set_translator(_Translator(self.adapter))
                await self.tree.sync()
            except discord.HTTPException as exc:
                log.warning("discord.commands_not_synced", extra={"http_status": exc.status, "code": exc.code})

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_ready(self) -> None:
        log.info("discord.ready", extra={"count": len(self.guilds)})


class _Translator(app_commands.Translator):
    """The /help description in each locale the flows have."""

    def __init__(self, adapter: "DiscordChannel"):
        self.adapter = adapter

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale, context) -> str | None:
        key = string.extras.get("key")
        if not key:
            return None
        lang = locale.value.split("-")[0]
        if lang not in self.adapter.locales():
            return None
        return self.adapter.text(lang, key)[:100]


# ---- the adapter ------------------------------------------------------------------------------


class _Bounded(OrderedDict):
    """A dict that forgets its oldest entries past ``limit`` (memory only, never written)."""

    def __init__(self, limit: int = REMEMBERED_USERS):
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class DiscordChannel:
    """The Discord channel: turns gateway events into inbox events and outbox rows into DMs.

    ``runtime`` needs ``accept(events)`` and ``safety_text(locale)``; ``bundle_holder`` (a
    ``bot.reload.BundleHolder``) gives the texts of this adapter in each locale.
    """

    name = CHANNEL

    def __init__(self, runtime: RuntimeLike, bundle_holder, *, sync_commands: bool = True,
                 client: DiscordClient | None = None, token: str | None = None):
        self.runtime = runtime
        self.bundle_holder = bundle_holder
        self.client = client or DiscordClient(self, sync_commands=sync_commands)
        self._token = token                 # given: ``deliver`` logs in over REST on first use
        self._login_lock = asyncio.Lock()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # user id -> lock, tasks using it
        self._locale_hints = _Bounded()     # user id -> the locale Discord last told us
        self._invited = _Bounded()          # user id -> when the last invitation DM went out
        self._progress = _Bounded()         # outbox retry key -> messages already sent

    # -- texts ----------------------------------------------------------------------------------
    def locales(self) -> tuple[str, ...]:
        return tuple(self.bundle_holder.flow.locales)

    def pick_locale(self, hint: str | None) -> str:
        return self.bundle_holder.flow.pick_locale(hint)

    def text(self, locale: str | None, key: str) -> str:
        flow = self.bundle_holder.flow
        return flow.text(flow.pick_locale(locale), key)

    # -- inbound: direct messages and mentions --------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        author = message.author
        if author.bot or author.system or (self.client.user is not None and author.id == self.client.user.id):
            return
        if isinstance(message.channel, discord.DMChannel):
            await self._on_direct_message(message)
        elif self.client.user is not None and any(u.id == self.client.user.id for u in message.mentions):
            await self._on_mention(message)
        # Anything else in a server is none of the bot's business: not read, not stored.

    async def _on_direct_message(self, message: discord.Message) -> None:
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return  # pins, calls, recipient changes: nothing a person said
        user_id = str(message.author.id)
        events = self.events_from_message(message)
        if not events:
            return
        await self._accept(user_id, events)

    def events_from_message(self, message: discord.Message) -> list[InboundEvent]:
        """Inbox events for one DM: text first, then one ``media`` for any attachment (never
        downloaded) or forwarded message, or a ``sticker``."""
        user_id = str(message.author.id)
        hint = self._locale_hints.get(user_id)
        now = time.time()
        base = dict(channel=CHANNEL, user_id=user_id, locale_hint=hint, received_at=now)
        events: list[InboundEvent] = []
        if message.content.strip():
            events.append(InboundEvent(event_id=str(message.id), kind="text", text=message.content, **base))
        if message.attachments or getattr(message, "message_snapshots", None):
            events.append(InboundEvent(event_id=f"{message.id}:media", kind="media", **base))
        elif message.stickers and not events:
            events.append(InboundEvent(event_id=f"{message.id}:sticker", kind="sticker", **base))
        return events

    async def _on_mention(self, message: discord.Message) -> None:
        """A mention in a server: open a private conversation; say nothing about it in public."""
        guild = message.guild
        locale = guild.preferred_locale.value if guild is not None and guild.preferred_locale else None
        log.info("discord.mention", extra={"channel": CHANNEL})
        if await self._invite(message.author.id, locale):
            return
        # The person does not accept DMs from this server: a neutral pointer to /help, whose
        # answer only they see, removed after a minute. It says nothing about what the bot is for.
        try:
            await message.reply(self.text(locale, TEXT_PUBLIC_POINTER), mention_author=False,
                                delete_after=PUBLIC_POINTER_SECONDS,
                                allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("discord.pointer_not_sent", extra={"http_status": exc.status, "code": exc.code})

    # -- inbound: interactions ------------------------------------------------------------------
    async def on_button(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A choice or start button. Acknowledged first (3-second deadline), then stored."""
        try:
            await asyncio.wait_for(interaction.response.defer(), INTERACTION_DEADLINE)
        except (discord.HTTPException, discord.InteractionResponded, asyncio.TimeoutError) as exc:
            # Too late or already answered: the tap is still what the person chose.
            log.warning("discord.ack_failed", extra={"reason": type(exc).__name__})
        user = interaction.user
        if user is None or user.bot:
            return
        user_id = str(user.id)
        locale = interaction.locale.value if interaction.locale else None
        if locale:
            self._locale_hints.put(user_id, locale)
        if interaction.guild_id is not None:
            # Our buttons live in DMs; one pressed in a server gets the private invitation, no more.
            await self._invite(user.id, locale)
            return
        tap = parse_custom_id(custom_id)
        if tap is None:
            return
        event = InboundEvent(
            channel=CHANNEL, event_id=str(interaction.id), user_id=user_id,
            kind="start" if tap.kind == "start" else "tap", choice=tap.choice, from_state=tap.from_state,
            locale_hint=locale, received_at=time.time(),
        )
        await self._accept(user_id, [event])

    async def on_help(self, interaction: discord.Interaction) -> None:
        """``/help``: an answer only this person sees, and a DM that opens the conversation."""
        locale = interaction.locale.value if interaction.locale else None
        user = interaction.user
        if locale:
            self._locale_hints.put(str(user.id), locale)
        if interaction.guild_id is None:
            view = discord.ui.View(timeout=None)
            view.add_item(ChoiceButton(START_CUSTOM_ID, clip_label(self.text(locale, TEXT_START)), primary=True))
            await interaction.response.send_message(self.text(locale, TEXT_HELP_IN_DM), view=view, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if await self._invite(user.id, locale, force=True):
            answer = self.text(locale, TEXT_HELP_SENT)
        else:
            answer = self.text(locale, TEXT_HELP_BLOCKED) + "\n\n" + self.runtime.safety_text(self.pick_locale(locale))
        await interaction.followup.send(split_text(answer)[0], ephemeral=True)

    # -- helpers --------------------------------------------------------------------------------
    async def _accept(self, user_id: str, events: list[InboundEvent]) -> bool:
        """Store the events; if the store cannot, the person still gets the safety message."""
        # One person's events are accepted in the order they arrived (discord.py runs each
        # handler as its own task; asyncio.Lock wakes waiters first come, first served).
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                try:
                    await self.runtime.accept(events)
                except Exception as exc:  # StoreUnavailable or anything else: nothing was stored
                    log.error("discord.accept_failed", extra={"channel": CHANNEL, "reason": type(exc).__name__,
                                                              "events": len(events)})
                    await self._send_safety(user_id, events[0].locale_hint)
                    return False
        finally:
            lock, users = self._locks[user_id]
            if users <= 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)
        log.info("discord.accepted", extra={"channel": CHANNEL, "events": len(events),
                                            "kind": ",".join(e.kind for e in events)})
        return True

    async def _send_safety(self, user_id: str, locale: str | None) -> None:
        try:
            text = self.runtime.safety_text(self.pick_locale(locale))
        except Exception:
            log.exception("discord.safety_text_failed")
            return
        result = await self.deliver(user_id, Outbound((Reply(text),), kind="notice"))
        log.info("discord.safety_sent", extra={"status": result.status, "reason": result.reason})

    async def _invite(self, user_id: int, locale: str | None, force: bool = False) -> bool:
        """DM the invitation with a start button. False if the person cannot be reached by DM."""
        key = str(user_id)
        last = self._invited.get(key)
        now = time.monotonic()
        if last is not None and now - last < INVITE_COOLDOWN and not force:
            return True
        text = self.text(locale, TEXT_INVITE)
        start = self.text(locale, TEXT_START)
        message = Message(split_text(text)[0], (Button(clip_label(start), custom_id=START_CUSTOM_ID),))
        try:
            channel = await self.client.create_dm(discord.Object(user_id))
            await channel.send(content=message.content, view=build_view(message),
                               allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("discord.invite_not_sent", extra={"http_status": exc.status, "code": exc.code})
            return False
        self._invited.put(key, now)
        log.info("discord.invited", extra={"channel": CHANNEL})
        return True

    # -- outbound -------------------------------------------------------------------------------
    async def deliver(self, user_id: str, outbound: Outbound) -> DeliveryResult:
        """Send one outbox row as DMs. ``retry`` for rate limits, server errors and the network;
        ``failed`` when the person cannot be reached (DMs closed, unknown user) or Discord refuses
        the message."""
        started = time.monotonic()
        try:
            target = discord.Object(int(user_id))
        except (TypeError, ValueError):
            return DeliveryResult("failed", reason="bad_user_id")
        closed = self._closed_text(outbound)
        messages = render_outbound(outbound, closed)
        if not messages:
            return DeliveryResult("sent", reason="empty")
        key = outbound.retry_key
        done = self._progress.get(key, 0) if key else 0
        try:
            if self.client.http.token is None:
                if not self._token:
                    return DeliveryResult("retry", retry_after=5.0, reason="not_logged_in")
                async with self._login_lock:
                    if self.client.http.token is None:
                        await self.client.login(self._token)
            channel = await self.client.create_dm(target)
            for index, message in enumerate(messages):
                if index < done:
                    continue  # sent by an earlier attempt of this row
                view = build_view(message)
                kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
                if view is not None:
                    kwargs["view"] = view
                nonce = message_nonce(key, index)
                if nonce:
                    kwargs["nonce"] = nonce
                await channel.send(content=message.content or None, **kwargs)
                if key:
                    self._progress.put(key, index + 1)
        except discord.LoginFailure:
            return self._retry("login_failed", 300.0)
        except discord.RateLimited as exc:
            return self._retry("http_429", exc.retry_after)
        except discord.Forbidden as exc:
            return self._failed_or_retry(exc)
        except discord.NotFound as exc:
            return self._failed_or_retry(exc)
        except discord.DiscordServerError as exc:
            return self._retry(f"http_{exc.status}", 5.0)
        except discord.HTTPException as exc:
            if exc.status == 429:  # a Cloudflare ban, not a bucket: back off for a while
                return self._retry("http_429", 60.0)
            if exc.status == 401:
                return self._retry("http_401", 60.0)
            return self._failed_or_retry(exc)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return self._retry(f"network_{type(exc).__name__}", 2.0)
        if key:
            self._progress.pop(key, None)
        log.info("discord.delivered", extra={"channel": CHANNEL, "kind": outbound.kind, "count": len(messages),
                                             "ms": round((time.monotonic() - started) * 1000, 1)})
        return DeliveryResult("sent")

    def _closed_text(self, outbound: Outbound) -> str:
        try:
            flow = self.bundle_holder.flow
            locale = outbound.meta.get("locale") if isinstance(outbound.meta, dict) else None
            return flow.text(flow.pick_locale(locale), flow.texts.closed_now)
        except Exception:
            return ""

    def _retry(self, reason: str, after: float | None) -> DeliveryResult:
        log.warning("discord.delivery_retry", extra={"channel": CHANNEL, "reason": reason, "retry_after": after})
        return DeliveryResult("retry", retry_after=after, reason=reason)

    def _failed_or_retry(self, exc: discord.HTTPException) -> DeliveryResult:
        reason = f"discord_{exc.status}_{exc.code}"
        log.warning("discord.delivery_failed", extra={"channel": CHANNEL, "reason": reason})
        return DeliveryResult("failed", reason=reason)

    # -- running --------------------------------------------------------------------------------
    async def login(self, token: str) -> None:
        """Log in over REST (enough for ``deliver``); ``connect`` opens the gateway."""
        await self.client.login(token)

    async def close(self) -> None:
        await self.client.close()


def setup_delivery(settings, runtime) -> DiscordChannel | None:
    """For the other processes (``serve``, ``worker``): deliver Discord outbox rows over REST,
    without a gateway connection (the client logs in on the first delivery). None without a token.

    ``python -m bot discord`` delivers too; with both, the outbox leases keep a row to one sender.
    """
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        return None
    channel = DiscordChannel(runtime, runtime.bundles, sync_commands=False, token=token)
    runtime.register_channel(channel)
    return channel


def run_discord(settings) -> int:
    """``python -m bot discord``: the gateway client, the inbox, and the worker that answers."""
    from bot.engine import FlowError
    from bot.observability import configure_logging

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        print("DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications "
              "and put its token in DISCORD_TOKEN.", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(_serve(settings, token))
    except FlowError as exc:
        print(f"the flows have errors; run `python -m bot check`:\n{exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print("DISCORD_TOKEN was refused by Discord: check the bot token.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def _start_runtime(runtime) -> None:
    """Start the worker and the sender; while the database is down keep trying (meanwhile a DM
    is answered with the safety message, since ``accept`` fails)."""
    from bot.store import StoreUnavailable

    while True:
        try:
            await runtime.start(run_worker=True)
            return
        except StoreUnavailable:
            log.error("runtime.start_waiting_for_db", extra={"seconds": 5})
            await asyncio.sleep(5)


async def _serve(settings, token: str) -> None:
    from bot import handoff
    from bot.reload import BundleHolder
    from bot.runtime import Runtime
    from bot.store.retention import purge_forever

    holder = BundleHolder(settings.bot_flows_dir, settings.bot_locales_dir, settings.bot_flow)
    runtime = Runtime(settings, holder)
    # This process runs turns (answers within the second, without waiting for another process's
    # poll), so the handoff side must hear about them here too.
    handoff.attach(runtime)
    adapter = DiscordChannel(runtime, holder)
    runtime.register_channel(adapter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    starting = asyncio.create_task(_start_runtime(runtime), name="runtime-start")
    background = [asyncio.create_task(holder.watch(), name="flows-watch"),
                  asyncio.create_task(purge_forever(runtime.store, settings), name="retention"), starting]
    async with adapter.client:
        await adapter.login(token)
        # Migrations first, so the first DMs find the inbox; if the database stays down, connect
        # anyway: people then get the safety message rather than silence.
        await asyncio.wait({starting}, timeout=RUNTIME_START_WAIT)
        gateway = asyncio.create_task(adapter.client.connect(), name="discord-gateway")
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({gateway, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if gateway in done:
                gateway.result()  # raise what stopped the gateway
        finally:
            log.info("discord.stopping")
            for task in (gateway, stopped, *background):
                task.cancel()
            for task in background:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
            await runtime.stop()
