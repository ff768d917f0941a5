"""Persistence: conversations, the durable inbox and outbox, handoffs, transcripts, counsellors,
the audit log, figures, switches, and how processes wake each other (LISTEN/NOTIFY).

Owns every SQL statement of the bot, the SQLAlchemy models, the Alembic migrations
(``migrations/``), the pseudonym and the encryption of anything a person typed or any platform
id. The only package that imports SQLAlchemy, alembic, asyncpg or sqlite3 (the list, kept exact
by a test, is in docs/STORE.md). Must not import aiohttp, linebot or discord, nor any package of
the bot but ``engine`` and ``envelope``.

Nothing a person typed and no platform user id is ever written in clear: inbox payloads,
outbox payloads, transcripts and raw ids are AES-GCM tokens (``crypto``); a conversation is
found by its pseudonym, an HMAC of channel and user id.
"""
from .crypto import Crypto
from .db import Store, StoreUnavailable

__all__ = ["Crypto", "Store", "StoreUnavailable"]
