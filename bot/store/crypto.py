"""Pseudonyms and encryption at rest, both derived from the one secret key.

* ``pseudonym(channel, user_id)``: HMAC-SHA256 over channel and platform user id; the key that
  finds a conversation without storing who the person is.
* ``encrypt`` / ``decrypt``: Fernet (AES-128-CBC + HMAC-SHA256) for inbox and outbox payloads,
  transcripts and raw platform ids. Deleting a row does not erase its bytes (SQLite's WAL and
  free pages, PostgreSQL's dead tuples), so clear text must never be written in the first place.

The two keys are derived from the secret with HKDF under different labels, so a leaked
pseudonym key tells nothing about the encryption key and the other way round.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import BotError


class DecryptError(BotError):
    """A stored token does not open with the current key (key changed, or the row was damaged)."""


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"first-contact-bot", info=label).derive(secret)


class Crypto:
    """Keys derived once from ``Settings.secret_key()``; cheap to call per message."""

    def __init__(self, secret: bytes):
        if not secret:
            raise ValueError("an empty secret key cannot protect anything")
        self._pseudonym_key = _derive(secret, b"pseudonym-v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"fernet-v1")))

    def __repr__(self) -> str:
        return "Crypto(<keys hidden>)"

    def pseudonym(self, channel: str, user_id: str) -> str:
        msg = channel.encode() + b"\0" + user_id.encode()
        return hmac.new(self._pseudonym_key, msg, hashlib.sha256).hexdigest()

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken:
            raise DecryptError("a stored value does not open with BOT_SECRET_KEY (was the key changed?)") from None
