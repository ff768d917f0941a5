"""Passwords, login throttling, console login cookies, CSRF tokens.

- Passwords: argon2id (memory-hard), via argon2-cffi; rehashed on login when the parameters
  change. Hashing runs in worker threads (``Argon2Pool``), never on the event loop: one hash
  takes about a tenth of a second of CPU, and eight failed logins at once used to hold up every
  other request (a signed LINE webhook) for that long, one after the other.
- Logins: the cookie holds a signed (HMAC-SHA256) record of who, when and a random nonce;
  HttpOnly, SameSite=Strict, Secure when the request came over TLS. What makes it valid is the
  login's row in the database (``console_logins``, found by the nonce's hash): a logout, the idle
  timeout, a disabled account or a new password end it in every process, and after a restart.
- Throttling (``LoginThrottle``): failed logins are counted in the database, by name and
  address together and by address alone; after a few free tries each next one waits twice as
  long. A wrong password typed at someone's name from elsewhere does not lock them out.
- Addresses: ``bot.http.client_address`` (the peer, unless ``BOT_TRUSTED_PROXIES`` says which
  proxies may name the client in ``X-Forwarded-For``).
- CSRF: every form carries a token bound to the login (or, on the login page, to a pre-login
  cookie); a POST without the right token is refused.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import BotError
from bot.http import Signer, address_key
from bot.store import throttle

COOKIE = "console_session"     # the cookie's name stays what browsers already hold
PRE_COOKIE = "console_login"
SECOND_STEP_SECONDS = 300.0    # from the right password to the code

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


# ---- argon2 off the event loop ------------------------------------------------------------------

# Half the CPUs (at least one) hash; the rest stay for the event loop and the database.
ARGON2_THREADS = max(1, (os.cpu_count() or 2) // 2)
ARGON2_WAITING = 16  # logins waiting for a hash beyond those being hashed; more are refused at once


class HasherBusy(BotError):
    """More logins are waiting for argon2 than ``Argon2Pool`` lets wait: answer 503, try later."""


ARGON2_NICE = 10     # the hashing threads yield the CPU to the event loop when both want it


def _lower_priority() -> None:
    """In a hashing thread: a lower scheduling priority for this thread alone (Linux applies
    ``setpriority`` to a thread id), so the event loop answers first on a busy machine."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARGON2_NICE)


class Argon2Pool:
    """argon2 in worker threads: at most ``threads`` hashes at once (argon2-cffi releases the GIL),
    at a lower CPU priority than the event loop, and at most ``waiting`` more logins waiting (a
    semaphore), so a flood of logins neither stalls the event loop nor queues without end."""

    def __init__(self, threads: int = ARGON2_THREADS, waiting: int = ARGON2_WAITING):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="argon2", initializer=_lower_priority)
        self._slots = asyncio.Semaphore(threads + waiting)

    async def _run(self, fn, *args):
        if self._slots.locked():
            raise HasherBusy("too many logins at once")
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await self._run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---- login throttling (shared through the database) ---------------------------------------------

THROTTLE_WINDOW = 3_600.0      # failures older than this are forgotten
FREE_PER_NAME_AND_ADDRESS = 3  # failed logins for one name from one address before delays start
FREE_PER_ADDRESS = 10          # failed logins from one address, whatever the names
FIRST_DELAY = 2.0              # seconds; doubles with each further failure...
MAX_DELAY = 900.0              # ...up to this


def delay_after(failures: int, free: int) -> float:
    """How long to wait after the last of ``failures`` failures: nothing for the first ``free``,
    then FIRST_DELAY, doubling, at most MAX_DELAY."""
    if failures < free:
        return 0.0
    return min(MAX_DELAY, FIRST_DELAY * 2 ** min(failures - free, 20))


class LoginThrottle:
    """Failed logins, counted in the store's ``throttle_hits`` so that every web process (and a
    restarted one) sees the same counts: by name and address together, and by address alone.
    Each method works inside the caller's transaction (``s``), beside the login's other writes.

    Keys are keyed hashes of the (case-folded) name and of ``address_key(address)``: nothing in
    the table says which name or which address."""

    def __init__(self, crypto, clock=time.time):
        self.crypto, self.clock = crypto, clock

    def _keys(self, name: str, address: str) -> tuple[str, str]:
        where = address_key(address)
        return (self.crypto.pseudonym("login-name-address", f"{name.casefold()}\0{where}")[:40],
                self.crypto.pseudonym("login-address", where)[:40])

    async def retry_after(self, s, name: str, address: str) -> float:
        """Seconds to wait before another try is allowed; 0 when allowed now."""
        now = self.clock()
        pair, by_address = self._keys(name, address)
        waits = [0.0]
        for key, free in ((pair, FREE_PER_NAME_AND_ADDRESS), (by_address, FREE_PER_ADDRESS)):
            counted = await throttle.count(s, key, now - THROTTLE_WINDOW)
            if counted.last_at is not None:
                waits.append(counted.last_at + delay_after(counted.hits, free) - now)
        return max(waits)

    async def failed(self, s, name: str, address: str) -> None:
        now = self.clock()
        for key in self._keys(name, address):
            await throttle.hit(s, key, now)
        await throttle.prune(s, now)

    async def succeeded(self, s, name: str, address: str) -> None:
        await throttle.clear(s, self._keys(name, address)[0])


# ---- signed cookies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginCookie:
    """What a login cookie says; the login's row in the database says whether it still holds."""

    counsellor_id: int
    issued_at: float
    nonce: str
    fingerprint: str

    @property
    def token_hash(self) -> str:
        """The key of the login's row: the nonce itself is only in the cookie."""
        return hashlib.sha256(self.nonce.encode()).hexdigest()


class LoginCodec:
    """Login cookies and CSRF tokens. ``max_age_seconds``: no cookie is read after this, even if
    its row were somehow still open (the row's own limits are checked by the console)."""

    def __init__(self, secrets_: bytes | Sequence[bytes], max_age_seconds: float = 12 * 3600):
        self.signer = Signer(secrets_, "console-session")
        self.csrf_signer = Signer(secrets_, "console-csrf")
        self.step_signer = Signer(secrets_, "console-second-step")
        self.max_age = max_age_seconds

    def issue(self, counsellor_id: int, stored_hash: str, now: float | None = None) -> tuple[str, LoginCookie]:
        cookie = LoginCookie(counsellor_id, time.time() if now is None else now, secrets.token_urlsafe(16),
                             password_fingerprint(stored_hash))
        payload = json.dumps([cookie.counsellor_id, cookie.issued_at, cookie.nonce, cookie.fingerprint]).encode()
        return self.signer.sign(payload), cookie

    def read(self, token: str | None, now: float | None = None) -> LoginCookie | None:
        """What the cookie says if it is genuine and not too old; else None."""
        if not token:
            return None
        payload = self.signer.unsign(token)
        if payload is None:
            return None
        try:
            cid, issued, nonce, fingerprint = json.loads(payload)
            cookie = LoginCookie(int(cid), float(issued), str(nonce), str(fingerprint))
        except (ValueError, TypeError):
            return None
        now = time.time() if now is None else now
        if not (cookie.issued_at - 60 <= now < cookie.issued_at + self.max_age):
            return None
        return cookie

    # The second step of a login (the code): who passed the password, bound to the pre-login
    # cookie and to the password's hash, for ``SECOND_STEP_SECONDS``.
    def second_step(self, counsellor_id: int, stored_hash: str, pre_login: str, name: str,
                    now: float | None = None) -> str:
        now = time.time() if now is None else now
        payload = [counsellor_id, password_fingerprint(stored_hash), pre_login, name, now]
        return self.step_signer.sign(json.dumps(payload).encode())

    def read_second_step(self, token: str | None, pre_login: str | None, now: float | None = None):
        """(counsellor id, password fingerprint, name) if genuine, of this pre-login cookie and
        recent; else None."""
        payload = self.step_signer.unsign(token) if token and pre_login else None
        if payload is None:
            return None
        try:
            cid, fingerprint, pre, name, issued = json.loads(payload)
            issued = float(issued)
        except (ValueError, TypeError):
            return None
        now = time.time() if now is None else now
        if not secrets.compare_digest(str(pre), pre_login) or not (issued - 60 <= now < issued + SECOND_STEP_SECONDS):
            return None
        return int(cid), str(fingerprint), str(name)

    # CSRF: a token bound to the login's nonce (or to the pre-login cookie's value).
    def csrf_token(self, binding: str) -> str:
        return self.csrf_signer.mac("csrf", binding)

    def check_csrf(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return self.csrf_signer.verify(token, "csrf", binding)
