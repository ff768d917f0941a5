"""Password hashing, login throttling, signed console sessions, CSRF tokens."""
import time

from bot.handoff.security import (
    LoginThrottle, SessionCodec, client_address, hash_password, is_secure_request, needs_rehash, verify_password,
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


def test_throttle_locks_a_name_after_five_failures_then_forgives():
    t = LoginThrottle(per_name=5, per_address=20, window_seconds=900)
    for i in range(5):
        assert t.retry_after("aiko", "1.2.3.4", now=100 + i) == 0
        t.failed("aiko", "1.2.3.4", now=100 + i)
    assert t.retry_after("Aiko", "5.6.7.8", now=110) > 0      # per name, any address, any case
    assert t.retry_after("ben", "5.6.7.8", now=110) == 0
    assert t.retry_after("aiko", "1.2.3.4", now=100 + 900 + 1) == 0


def test_throttle_per_address():
    t = LoginThrottle(per_name=5, per_address=3, window_seconds=60)
    for name in ("a", "b", "c"):
        t.failed(name, "9.9.9.9", now=1)
    assert t.retry_after("d", "9.9.9.9", now=2) > 0
    assert t.retry_after("d", "8.8.8.8", now=2) == 0


def test_session_round_trip_and_tampering():
    codec = SessionCodec(b"k" * 32)
    token, session = codec.issue(7, "$argon2id$hash")
    read = codec.read(token)
    assert read == session and read.counsellor_id == 7
    body, mac = token.split(".")
    assert codec.read(body + "." + mac[::-1]) is None
    assert SessionCodec(b"x" * 32).read(token) is None          # another key
    assert codec.read("garbage") is None and codec.read(None) is None


def test_session_expires_and_logout_revokes():
    codec = SessionCodec(b"k" * 32, max_age_seconds=60)
    token, session = codec.issue(1, "h", now=time.time() - 120)
    assert codec.read(token) is None
    token, session = codec.issue(1, "h")
    codec.revoke(session)
    assert codec.read(token) is None


def test_csrf_token_bound_to_session():
    codec = SessionCodec(b"k" * 32)
    tok = codec.csrf_token("nonce-1")
    assert codec.check_csrf("nonce-1", tok)
    assert not codec.check_csrf("nonce-2", tok)
    assert not codec.check_csrf("nonce-1", "")
    assert not codec.check_csrf(None, tok)


def test_secure_behind_proxy():
    assert is_secure_request("https", None)
    assert is_secure_request("http", "https")
    assert is_secure_request("http", "https, http")
    assert not is_secure_request("http", None)


def test_client_address_behind_a_local_proxy_only():
    assert client_address("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert client_address("10.0.0.2", "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    assert client_address("8.8.8.8", "1.2.3.4") == "8.8.8.8"   # not from a proxy: ignored
    assert client_address("8.8.8.8", None) == "8.8.8.8"
