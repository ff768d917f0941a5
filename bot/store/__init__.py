"""Persistence: conversations, the durable inbox and outbox, handoffs, transcripts, figures.

Owns: the SQLAlchemy models and the queries of the inbox, outbox, conversations, handoffs,
figures and retention, the Alembic migrations (``migrations/``), the pseudonym and the encryption of anything
a person typed or any platform id. Outside this package only ``bot/handoff/queries.py`` imports
SQLAlchemy (the handoff's queries) and ``bot/handoff/bus.py`` asyncpg (LISTEN/NOTIFY): the list,
kept exact by a test, is in docs/STORE.md. Must not import aiohttp, linebot or discord.

Nothing a person typed and no platform user id is ever written in clear: inbox payloads,
outbox payloads, transcripts and raw ids are AES-GCM tokens (``crypto``); a conversation is
found by its pseudonym, an HMAC of channel and user id.
"""
from bot.errors import BotError


class StoreUnavailable(BotError):
    """The database cannot be reached (down, full, locked too long, wrong URL).

    Raised by ``Runtime.accept``: the adapter should answer the person with
    ``runtime.safety_text(locale)`` and tell the platform to retry where it can.
    """


from .crypto import Crypto  # noqa: E402
from .db import Store  # noqa: E402

__all__ = ["Crypto", "Store", "StoreUnavailable"]
