"""LINE: ``webhook`` (``POST /line/webhook``: check, read and store LINE's events), ``render``
(replies as LINE messages, within LINE's limits), ``delivery`` (``LineChannel``: reply or push
through the Messaging API), and ``fake`` (a stand-in for the Messaging API on loopback, shipped
for the tests and the benchmarks, as httpx ships its mock transport).

``bot.app`` calls ``setup_channel`` in every process that delivers, and ``setup_routes`` in the
web process.
"""
from __future__ import annotations

import logging

from .delivery import CHANNEL, LineChannel
from .webhook import PATH, LineWebhook

log = logging.getLogger(__name__)


def setup_channel(settings, runtime) -> LineChannel | None:
    """The LINE channel, registered with ``runtime`` for delivery; None when LINE is not
    configured. The loading animation is asked for only where this process also runs the
    sender (``BOT_WORKER_IN_WEB`` not false), see ``LineChannel.expect_reply``."""
    if not settings.line_enabled:
        log.warning("line.webhook_off", extra={"reason": "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are not both set"})
        return None
    holder = runtime.bundles
    channel = LineChannel.from_settings(settings, flow=lambda: holder.flow,  # the current flow, after reloads too
                                        show_loading=settings.run_worker_in_web is not False)
    runtime.register_channel(channel)
    return channel


def setup_routes(app, settings, channel: LineChannel, inbox) -> LineWebhook:
    """``POST /line/webhook``, storing into ``inbox`` (the runtime); the channel's client opens
    and closes with the app."""
    # Events older than the inbox keeps their ids for are refused: a replay could not be recognised.
    webhook = LineWebhook(settings.line_channel_secret.get_secret_value(), channel, inbox,
                          max_event_age=settings.event_id_retention_days * 86_400.0)
    app.router.add_post(PATH, webhook.handle)

    async def start(_app) -> None:
        await channel.start()

    async def close(_app) -> None:
        await channel.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    log.info("line.webhook_on", extra={"path": PATH})
    return webhook


__all__ = ["CHANNEL", "PATH", "LineChannel", "LineWebhook", "setup_channel", "setup_routes"]
