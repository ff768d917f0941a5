"""Passwords, login throttling, console session cookies and CSRF tokens.

- Passwords: argon2id (memory-hard), via argon2-cffi; rehashed on login when the parameters change.
- Sessions: a cookie holding a signed (HMAC-SHA256) record of who and when, HttpOnly,
  SameSite=Strict, Secure when the request came over TLS (directly or per X-Forwarded-Proto),
  valid for ``SESSION_HOURS``. The signature also covers a fingerprint of the counsellor's
  password hash, so changing a password ends every session of that counsellor; logout revokes
  the session's nonce.
- CSRF: every form carries a token bound to the session (or, on the login page, to a pre-login
  cookie); a POST without the right token is refused.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SESSION_HOURS = 12
COOKIE = "console_session"
PRE_COOKIE = "console_login"

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes (RFC 9106's second recommendation)
# A hash to compare against when the name is unknown, so timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def password_fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


# ---- throttling ---------------------------------------------------------------------------------

class LoginThrottle:
    """Failed logins per name and per address within a sliding window.

    In memory, per process: with several web processes an attacker gets the limit once per
    process, still a few dozen guesses an hour against an argon2 hash.
    """

    def __init__(self, per_name: int = 5, per_address: int = 20, window_seconds: float = 900.0):
        self.per_name, self.per_address, self.window = per_name, per_address, window_seconds
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._fails.pop(key, None)
            return deque()
        return q

    def retry_after(self, name: str, address: str, now: float | None = None) -> float:
        """Seconds to wait before another try is allowed; 0 when allowed now."""
        now = time.monotonic() if now is None else now
        waits = []
        for key, limit in ((f"n:{name.casefold()}", self.per_name), (f"a:{address}", self.per_address)):
            q = self._recent(key, now)
            if len(q) >= limit:
                waits.append(q[len(q) - limit] + self.window - now)
        return max(waits, default=0.0)

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._fails[f"n:{name.casefold()}"].append(now)
        self._fails[f"a:{address}"].append(now)

    def succeeded(self, name: str) -> None:
        self._fails.pop(f"n:{name.casefold()}", None)


# ---- signed cookies -----------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ConsoleSession:
    counsellor_id: int
    issued_at: float
    nonce: str
    fingerprint: str


class Signer:
    """HMAC-SHA256 under a key derived from the bot's secret key for one purpose."""

    def __init__(self, secret: bytes, purpose: str = "console-session"):
        self._key = hmac.new(secret, b"first-contact-bot/" + purpose.encode(), hashlib.sha256).digest()

    def sign(self, payload: bytes) -> str:
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return _b64(payload) + "." + _b64(mac)

    def unsign(self, token: str) -> bytes | None:
        try:
            body, mac = token.split(".", 1)
            payload = _unb64(body)
            expected = hmac.new(self._key, payload, hashlib.sha256).digest()
            return payload if hmac.compare_digest(expected, _unb64(mac)) else None
        except (ValueError, TypeError):
            return None

    def mac(self, *parts: str) -> str:
        return _b64(hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest())


class SessionCodec:
    def __init__(self, secret: bytes, max_age_seconds: float = SESSION_HOURS * 3600):
        self.signer = Signer(secret, "console-session")
        self.csrf_signer = Signer(secret, "console-csrf")
        self.max_age = max_age_seconds
        self._revoked: dict[str, float] = {}

    def issue(self, counsellor_id: int, stored_hash: str, now: float | None = None) -> tuple[str, ConsoleSession]:
        session = ConsoleSession(counsellor_id, time.time() if now is None else now, secrets.token_urlsafe(16),
                                 password_fingerprint(stored_hash))
        payload = json.dumps([session.counsellor_id, session.issued_at, session.nonce, session.fingerprint]).encode()
        return self.signer.sign(payload), session

    def read(self, token: str | None, now: float | None = None) -> ConsoleSession | None:
        """The session if the cookie is genuine, unexpired and not logged out; else None."""
        if not token:
            return None
        payload = self.signer.unsign(token)
        if payload is None:
            return None
        try:
            cid, issued, nonce, fingerprint = json.loads(payload)
            session = ConsoleSession(int(cid), float(issued), str(nonce), str(fingerprint))
        except (ValueError, TypeError):
            return None
        now = time.time() if now is None else now
        if not (session.issued_at - 60 <= now < session.issued_at + self.max_age):
            return None
        if session.nonce in self._revoked:
            return None
        return session

    def revoke(self, session: ConsoleSession) -> None:
        now = time.time()
        self._revoked[session.nonce] = session.issued_at + self.max_age
        for nonce, until in list(self._revoked.items()):
            if until < now:
                del self._revoked[nonce]

    # CSRF: a token bound to the session's nonce (or to the pre-login cookie's value).
    def csrf_token(self, binding: str) -> str:
        return self.csrf_signer.mac("csrf", binding)

    def check_csrf(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)


def is_secure_request(scheme: str, forwarded_proto: str | None) -> bool:
    """Over TLS, directly or behind a proxy that says so."""
    if scheme == "https":
        return True
    return (forwarded_proto or "").split(",")[0].strip().lower() == "https"


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address to count attempts by. Behind a reverse proxy on a private or loopback
    address, every request comes from the proxy: count by the address the proxy saw (the
    rightmost X-Forwarded-For entry), so one person cannot lock everyone out."""
    import ipaddress

    peer = peer or "?"
    if forwarded_for:
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return peer
        if ip.is_private or ip.is_loopback:
            last = forwarded_for.split(",")[-1].strip()
            if last:
                return last[:64]
    return peer
