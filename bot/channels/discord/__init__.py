"""Discord: the same conversation in direct messages, with buttons.

``gateway`` (what comes in, through discord.py's client: direct messages, button presses,
mentions and /help in a server), ``render`` (an outbox row as messages and buttons within
Discord's limits), ``delivery`` (``DiscordChannel``: those messages sent as DMs). The
``discord`` process (``bot.app.run_discord``) runs all three; no other process delivers
Discord's rows.
"""
from __future__ import annotations

from typing import Callable

from bot.engine.model import Flow

from .delivery import DiscordChannel
from .gateway import DiscordClient, DiscordGateway, Inbox, intents
from .render import CHANNEL


def connect(inbox: Inbox, flow: Callable[[], Flow], *, sync_commands: bool = True) -> DiscordGateway:
    """One client, its channel (delivery) and its gateway (into ``inbox``), wired together.
    ``flow()`` is the current flow (its texts, after reloads too)."""
    client = DiscordClient(flow, sync_commands=sync_commands)
    return DiscordGateway(inbox, DiscordChannel(client, flow))


__all__ = ["CHANNEL", "DiscordChannel", "DiscordClient", "DiscordGateway", "connect", "intents"]
