"""Discord's gateway: what comes in, through discord.py's client.

- a direct message: stored in the durable inbox (``inbox.accept``) before anything else, since
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

What goes out is ``delivery.DiscordChannel`` (called by the runtime's sender), rendered by
``render``.

Intents: guilds, guild messages (to see a mention: the ids of who is mentioned are not
privileged) and direct messages. The privileged message-content intent is not requested: Discord
gives the text of direct messages and of messages that mention the bot without it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Protocol, Sequence

import discord
from discord import app_commands

from bot.engine.model import Flow, Reply
from bot.envelope import InboundEvent, Outbound

from .delivery import DiscordChannel, _Bounded
from .render import (
    CHANNEL, INTERACTION_DEADLINE, START_CUSTOM_ID, Button, ChoiceButton, Message, build_view, clip_label,
    parse_custom_id, split_message,
)

log = logging.getLogger(__name__)

INVITE_COOLDOWN = 60.0        # seconds: one invitation DM per person per minute, however often they ask
PUBLIC_POINTER_SECONDS = 60   # a public pointer to /help (only when a DM is impossible) is deleted after this

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


class Inbox(Protocol):
    """What the gateway needs of ``bot.runtime.Runtime``."""

    async def accept(self, events: Sequence[InboundEvent]) -> int: ...

    def safety_text(self, locale: str | None) -> str: ...


def locale_text(flow: Flow, locale: str | None, key: str) -> str:
    """A text of this adapter in ``locale`` (or the closest the flow has)."""
    return flow.text(flow.pick_locale(locale), key)


# ---- the client -------------------------------------------------------------------------------


def intents() -> discord.Intents:
    """Only what the bot needs: no privileged intent."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


class DiscordClient(discord.Client):
    """discord.py's client for this bot: no privileged intent, no message cache (no text in
    memory), the /help command and the persistent buttons. Its events go to ``gateway``."""

    def __init__(self, flow: Callable[[], Flow], *, sync_commands: bool = True, **options: Any):
        super().__init__(
            intents=intents(),
            max_messages=None,                      # discord.py would keep the last 1,000 messages' text
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=30.0,             # longer waits come back as a retry for the outbox
            **options,
        )
        self.flow = flow
        self.gateway: DiscordGateway | None = None  # set by the gateway
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)

        async def help_command(interaction: discord.Interaction) -> None:
            if self.gateway is not None:
                await self.gateway.on_help(interaction)

        description = locale_text(flow(), "en", TEXT_HELP_DESCRIPTION)
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
                await self.tree.set_translator(_Translator(self.flow))
                await self.tree.sync()
            except discord.HTTPException as exc:
                log.warning("discord.commands_not_synced", extra={"http_status": exc.status, "code": exc.code})

    async def on_message(self, message: discord.Message) -> None:
        if self.gateway is not None:
            await self.gateway.on_message(message)

    async def on_ready(self) -> None:
        log.info("discord.ready", extra={"count": len(self.guilds)})


class _Translator(app_commands.Translator):
    """The /help description in each locale the flows have."""

    def __init__(self, flow: Callable[[], Flow]):
        self.flow = flow

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale, context) -> str | None:
        key = string.extras.get("key")
        if not key:
            return None
        lang = locale.value.split("-")[0]
        if lang not in self.flow().locales:
            return None
        return locale_text(self.flow(), lang, key)[:100]


# ---- the gateway ------------------------------------------------------------------------------


class DiscordGateway:
    """Gateway events into inbox events (``inbox.accept``). ``channel`` delivers what the
    gateway itself sends (an invitation, the safety message while the store is down)."""

    def __init__(self, inbox: Inbox, channel: DiscordChannel):
        self.inbox = inbox
        self.channel = channel
        self.client = channel.client
        self.client.gateway = self
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # user id -> lock, tasks using it
        self._locale_hints = _Bounded()     # user id -> the locale Discord last told us
        self._invited = _Bounded()          # user id -> when the last invitation DM went out

    # -- texts ----------------------------------------------------------------------------------
    def pick_locale(self, hint: str | None) -> str:
        return self.channel.flow().pick_locale(hint)

    def text(self, locale: str | None, key: str) -> str:
        return locale_text(self.channel.flow(), locale, key)

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
            answer = self.text(locale, TEXT_HELP_BLOCKED) + "\n\n" + self.inbox.safety_text(self.pick_locale(locale))
        await interaction.followup.send(split_message(answer)[0], ephemeral=True)

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
                    await self.inbox.accept(events)
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
            text = self.inbox.safety_text(self.pick_locale(locale))
        except Exception:
            log.exception("discord.safety_text_failed")
            return
        result = await self.channel.deliver(user_id, Outbound((Reply(text),), kind="notice"))
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
        message = Message(split_message(text)[0], (Button(clip_label(start), custom_id=START_CUSTOM_ID),))
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
