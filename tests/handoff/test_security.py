"""Password hashing, login throttling, signed login cookies, CSRF tokens."""
import time

import pytest

from bot.handoff.security import (
    FIRST_DELAY, FREE_PER_ADDRESS, FREE_PER_NAME_AND_ADDRESS, MAX_DELAY, LoginCodec, LoginThrottle, delay_after,
    hash_password, needs_rehash, verify_password,
)


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
