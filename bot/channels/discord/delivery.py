"""Discord delivery: an outbox row as direct messages (``render``), through discord.py's REST client.

``retry`` for rate limits, server errors and the network; ``failed`` when the person cannot be
reached (DMs closed, unknown user) or Discord refuses the message. Each message of a row carries
a nonce derived from the row's retry key, with ``enforce_nonce``, so a row sent again after a
crash is not shown twice; a row retried after some of its messages went out sends only the rest.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Callable

import aiohttp
import discord

from bot.engine.model import Flow
from bot.envelope import DeliveryResult, Outbound

from .render import CHANNEL, build_view, message_nonce, render_outbound

log = logging.getLogger(__name__)

REMEMBERED = 10_000     # bounded in-memory maps (locale hints, invitations, delivery progress)


class _Bounded(OrderedDict):
    """A dict that forgets its oldest entries past ``limit`` (memory only, never written)."""

    def __init__(self, limit: int = REMEMBERED):
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class DiscordChannel:
    """The ``Channel`` the outbox sender calls for Discord rows. ``client`` is the process's
    discord.py client (``gateway.DiscordClient``), logged in by the process before it connects;
    ``flow()`` the current flow, for the "closed now" text beside a phone number."""

    name = CHANNEL

    def __init__(self, client: discord.Client, flow: Callable[[], Flow]):
        self.client = client
        self.flow = flow
        self._progress = _Bounded()         # outbox retry key -> messages already sent

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
            if self.client.http.token is None:  # the process logs in at start; not yet
                return DeliveryResult("retry", retry_after=5.0, reason="not_logged_in")
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
            flow = self.flow()
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
