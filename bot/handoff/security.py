"""Passwords, login throttling, console login cookies, CSRF tokens, client addresses, rate limits.

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
- Addresses (``client_address``): the peer, unless ``BOT_TRUSTED_PROXIES`` says which proxies
  may name the client in ``X-Forwarded-For``.
- CSRF: every form carries a token bound to the login (or, on the login page, to a pre-login
  cookie); a POST without the right token is refused.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import BotError
from bot.settings import ProxyTrust
from bot.store import throttle

COOKIE = "console_session"     # the cookie's name stays what browsers already hold
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


# ---- client addresses ---------------------------------------------------------------------------

NO_PROXY = ProxyTrust()


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trust: ProxyTrust = NO_PROXY) -> str:
    """The address to count a client's requests by.

    Without trusted proxies (the default) the peer, whatever ``X-Forwarded-For`` says: anyone can
    write that header. With ``trust.hops`` = N (N proxies in front, each appending the address it
    saw), the Nth entry from the right. With ``trust.networks``, the peer only counts as a proxy
    when it is in one of them, and so does each entry, right to left: the first address outside
    them is the client. An entry that is not an address ends the walk at the last proxy."""
    peer = peer or "?"
    if not forwarded_for or not trust.trusts_anyone:
        return peer
    entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
    if trust.hops:
        if len(entries) < trust.hops:
            return peer
        ip = _ip(entries[-trust.hops])
        return str(ip) if ip is not None else peer

    def trusted(address) -> bool:
        return address is not None and any(address in net for net in trust.networks)

    current = _ip(peer)
    if not trusted(current):
        return peer
    for entry in reversed(entries):
        ip = _ip(entry)
        if ip is None:
            return str(current)
        if not trusted(ip):
            return str(ip)
        current = ip
    return str(current)


def address_key(address: str) -> str:
    """What limits count by: the address; for IPv6 its /64, which one subscriber usually holds
    whole (so an attacker cannot take a new address per request)."""
    ip = _ip(address)
    if ip is None:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# ---- in-memory rate limits ----------------------------------------------------------------------

class RateLimit:
    """At most about ``limit`` hits per ``window`` seconds per key, in this process.

    A sliding window estimated from two fixed ones (the current count plus the previous one
    weighted by how much of it still overlaps), so a key costs three numbers whatever its limit.
    Keys idle for two windows (when they count nothing any more) are forgotten as new hits come;
    beyond ``max_keys`` the least recently used go first: memory stays bounded under a flood
    from many addresses."""

    def __init__(self, limit: int, window: float, max_keys: int = 20_000, clock=time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._keys: OrderedDict[str, list[float]] = OrderedDict()  # key -> [window start, count, previous count]

    def __len__(self) -> int:
        return len(self._keys)

    def allow(self, key: str) -> bool:
        """Count a hit and say yes, or say no (and count nothing) when over the limit."""
        now = self.clock()
        self._forget_idle(now)
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = [now, 0, 0]
        elif now - entry[0] >= self.window:
            periods = int((now - entry[0]) // self.window)
            entry[2] = entry[1] if periods == 1 else 0
            entry[0] += periods * self.window
            entry[1] = 0
        self._keys.move_to_end(key)
        overlap = 1.0 - (now - entry[0]) / self.window
        if entry[1] + entry[2] * overlap >= self.limit:
            return False
        entry[1] += 1
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return True

    def _forget_idle(self, now: float) -> None:
        # Ordered by last use: the idle ones are at the front. Two windows on, a key counts nothing.
        while self._keys:
            key, entry = next(iter(self._keys.items()))
            if now - entry[0] < 2 * self.window:
                return
            del self._keys[key]


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

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


class Signer:
    """HMAC-SHA256 under keys derived from the bot's key ring for one purpose. Signs with the
    newest key and names it (a short key id), so rotating ``BOT_SECRET_KEYS`` keeps logins, CSRF
    tokens and web-chat ids made under an older key of the ring valid until that key is dropped."""

    def __init__(self, secrets_: bytes | Sequence[bytes], purpose: str = "console-session"):
        ring = [secrets_] if isinstance(secrets_, (bytes, bytearray)) else list(secrets_)
        if not ring:
            raise ValueError("a Signer needs at least one key")
        self._keys = [hmac.new(secret, b"first-contact-bot/" + purpose.encode(), hashlib.sha256).digest()
                      for secret in ring]
        self._by_kid = {self._kid(key): key for key in reversed(self._keys)}  # newest wins a clash

    @staticmethod
    def _kid(key: bytes) -> str:
        return _b64(hashlib.sha256(b"kid" + key).digest()[:3])

    def sign(self, payload: bytes) -> str:
        key = self._keys[0]
        mac = hmac.new(key, payload, hashlib.sha256).digest()
        return _b64(payload) + "." + self._kid(key) + "." + _b64(mac)

    def unsign(self, token: str) -> bytes | None:
        try:
            body, kid, mac = token.split(".", 2)
            key = self._by_kid.get(kid)
            if key is None:
                return None
            payload = _unb64(body)
            expected = hmac.new(key, payload, hashlib.sha256).digest()
            return payload if hmac.compare_digest(expected, _unb64(mac)) else None
        except (ValueError, TypeError):
            return None

    def mac(self, *parts: str) -> str:
        """A MAC under the newest key."""
        return self._mac(self._keys[0], parts)

    def macs(self, *parts: str) -> list[str]:
        """The MAC under each key of the ring, newest first: what a check accepts."""
        return [self._mac(key, parts) for key in self._keys]

    @staticmethod
    def _mac(key: bytes, parts: tuple[str, ...]) -> str:
        return _b64(hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).digest())


class LoginCodec:
    """Login cookies and CSRF tokens. ``max_age_seconds``: no cookie is read after this, even if
    its row were somehow still open (the row's own limits are checked by the console)."""

    def __init__(self, secrets_: bytes | Sequence[bytes], max_age_seconds: float = 12 * 3600):
        self.signer = Signer(secrets_, "console-session")
        self.csrf_signer = Signer(secrets_, "console-csrf")
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

    # CSRF: a token bound to the login's nonce (or to the pre-login cookie's value).
    def csrf_token(self, binding: str) -> str:
        return self.csrf_signer.mac("csrf", binding)

    def check_csrf(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        # every key is compared, so the time taken does not say which key matched
        return sum(hmac.compare_digest(mac, token) for mac in self.csrf_signer.macs("csrf", binding)) > 0
