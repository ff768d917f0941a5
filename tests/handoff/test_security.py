"""Password hashing, login throttling, signed login cookies, CSRF tokens, client addresses and
the in-memory rate limits."""
import time

import pytest

from bot.handoff.security import (
    FIRST_DELAY, FREE_PER_ADDRESS, FREE_PER_NAME_AND_ADDRESS, MAX_DELAY, LoginCodec, LoginThrottle, RateLimit,
    address_key, client_address, delay_after, hash_password, needs_rehash, verify_password,
)
from bot.settings import Settings, SettingsError, parse_trusted_proxies


def test_password_hash_is_argon2id_and_verifies():
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(stored)


def test_delays_grow_after_the_free_tries():
    assert [delay_after(n, 3) for n in range(3)] == [0, 0, 0]
    assert [delay_after(n, 3) for n in (3, 4, 5)] == [FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY]
    assert delay_after(60, 3) == MAX_DELAY


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class Throttle:
    """``LoginThrottle`` with a transaction per call, as the console opens them."""

    def __init__(self, store, clock):
        self.store, self.throttle = store, LoginThrottle(store.crypto, clock=clock)

    def __getattr__(self, method):
        async def call(*args):
            async with self.store.transaction() as s:
                return await getattr(self.throttle, method)(s, *args)
        return call


async def test_throttle_by_name_and_address_does_not_lock_the_name_for_everyone(store):
    clock = Clock()
    throttle = Throttle(store, clock)
    for _ in range(FREE_PER_NAME_AND_ADDRESS):
        assert await throttle.retry_after("aiko", "198.51.100.7") == 0
        await throttle.failed("aiko", "198.51.100.7")
    # From that address, that name now waits, and longer with each failure...
    assert await throttle.retry_after("Aiko", "198.51.100.7") == pytest.approx(FIRST_DELAY)
    clock.now += FIRST_DELAY
    assert await throttle.retry_after("aiko", "198.51.100.7") == 0
    await throttle.failed("aiko", "198.51.100.7")
    assert await throttle.retry_after("aiko", "198.51.100.7") == pytest.approx(2 * FIRST_DELAY)
    # ...but the counsellor herself, elsewhere, logs in at once.
    assert await throttle.retry_after("aiko", "203.0.113.5") == 0
    # A success from the address clears that name's count there.
    await throttle.succeeded("aiko", "198.51.100.7")
    assert await throttle.retry_after("aiko", "198.51.100.7") == 0


async def test_throttle_by_address_whatever_the_names_and_shared_by_processes(store_target, store):
    clock = Clock()
    mine = Throttle(store, clock)
    for i in range(FREE_PER_ADDRESS):
        await mine.failed(f"name{i}", "2001:db8:1:2::1")
    # Another web process (its own Store on the same database) sees the same count; and the
    # next address of the same IPv6 /64 is the same client.
    other_store = store_target.make()
    try:
        other = Throttle(other_store, clock)
        assert await other.retry_after("someone-else", "2001:db8:1:2::99") == pytest.approx(FIRST_DELAY)
        assert await other.retry_after("someone-else", "2001:db8:1:3::1") == 0
    finally:
        await other_store.dispose()


async def test_throttle_keeps_no_name_or_address_in_the_database(store):
    from sqlalchemy import select

    from bot.store.models import ThrottleHit

    await Throttle(store, Clock()).failed("aiko", "198.51.100.7")
    async with store.transaction() as s:
        keys = [k for (k,) in await s.execute(select(ThrottleHit.key))]
    assert len(keys) == 2 and not any("aiko" in k or "198.51" in k for k in keys)


def test_login_cookie_round_trip_and_tampering():
    codec = LoginCodec(b"k" * 32)
    token, cookie = codec.issue(7, "$argon2id$hash")
    read = codec.read(token)
    assert read == cookie and read.counsellor_id == 7 and len(read.token_hash) == 64
    assert cookie.nonce not in read.token_hash
    body, kid, mac = token.split(".")
    assert codec.read(body + "." + kid + "." + mac[::-1]) is None
    assert LoginCodec(b"x" * 32).read(token) is None          # another key
    assert codec.read("garbage") is None and codec.read(None) is None


def test_logins_and_csrf_survive_a_key_rotation_until_the_old_key_is_dropped():
    old, new = b"o" * 32, b"n" * 32
    before = LoginCodec([old])
    token, cookie = before.issue(7, "$argon2id$hash")
    csrf = before.csrf_token(cookie.nonce)
    rotated = LoginCodec([new, old])                          # BOT_SECRET_KEYS=new,old
    assert rotated.read(token) == cookie and rotated.check_csrf(cookie.nonce, csrf)
    fresh, _ = rotated.issue(7, "$argon2id$hash")
    assert fresh.split(".")[1] != token.split(".")[1]         # signed under the new key, named so
    assert LoginCodec([new]).read(fresh) is not None
    assert LoginCodec([new]).read(token) is None              # old key dropped: old logins end
    assert not LoginCodec([new]).check_csrf(cookie.nonce, csrf)


def test_login_cookie_expires():
    codec = LoginCodec(b"k" * 32, max_age_seconds=60)
    token, _ = codec.issue(1, "h", now=time.time() - 120)
    assert codec.read(token) is None


def test_csrf_token_bound_to_login():
    codec = LoginCodec(b"k" * 32)
    tok = codec.csrf_token("nonce-1")
    assert codec.check_csrf("nonce-1", tok)
    assert not codec.check_csrf("nonce-2", tok)
    assert not codec.check_csrf("nonce-1", "")
    assert not codec.check_csrf(None, tok)


def test_forwarded_for_is_ignored_without_trusted_proxies():
    """The old rule trusted the header whenever the peer was private or loopback: anyone on the
    same network (or behind the same proxy) could name any address and dodge the throttle."""
    assert client_address("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    assert client_address("10.0.0.2", "198.51.100.1, 203.0.113.9") == "10.0.0.2"
    assert client_address("8.8.8.8", "1.2.3.4") == "8.8.8.8"
    assert client_address("8.8.8.8", None) == "8.8.8.8"


def test_forwarded_for_with_a_hop_count():
    one = parse_trusted_proxies("1")
    # The proxy appends what it saw; whatever the client wrote before that is ignored.
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.9", one) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9", one) == "203.0.113.9"
    two = parse_trusted_proxies("2")
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.7", two) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9", two) == "10.0.0.2"       # fewer entries than hops
    assert client_address("10.0.0.2", "not-an-address", one) == "10.0.0.2"


def test_forwarded_for_with_trusted_networks():
    nets = parse_trusted_proxies("10.0.0.0/8, 127.0.0.1")
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.9", nets) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9, 10.1.1.1", nets) == "203.0.113.9"   # two proxies
    assert client_address("8.8.8.8", "203.0.113.9", nets) == "8.8.8.8"      # not from a trusted proxy
    assert client_address("127.0.0.1", "garbage", nets) == "127.0.0.1"


def test_trusted_proxies_setting_is_checked():
    assert Settings(BOT_TRUSTED_PROXIES="").proxy_trust.trusts_anyone is False
    assert Settings(BOT_TRUSTED_PROXIES="1").proxy_trust.hops == 1
    with pytest.raises(SettingsError, match="BOT_TRUSTED_PROXIES"):
        Settings.from_env(BOT_TRUSTED_PROXIES="10.0.0.0/8, proxy.example")


def test_address_key_groups_an_ipv6_subscriber():
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"


def test_rate_limit_counts_per_key_and_slides():
    clock = Clock(0.0)
    limit = RateLimit(3, 60.0, clock=clock)
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b")
    clock.now = 90.0      # half of the first window still overlaps: 3 * 0.5 = 1.5 counted
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    clock.now = 200.0
    assert limit.allow("a")


def test_rate_limit_forgets_idle_keys_and_stays_bounded():
    clock = Clock(0.0)
    limit = RateLimit(5, 60.0, max_keys=100, clock=clock)
    for i in range(1000):
        limit.allow(f"k{i}")
    assert len(limit) == 100            # the least recently used went first
    assert limit.allow("k999")
    clock.now = 121.0                    # two windows later every key counts nothing: forgotten
    limit.allow("new")
    assert len(limit) == 1
