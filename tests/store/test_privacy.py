"""Issue 4, privacy by construction: a unique text from a unique user id goes through the whole
path (inbox, turn, outbox, delivery, a handoff and its transcript); neither is found in clear in
the database (SQLite: the db, -wal and -shm files; PostgreSQL: every row of every table) nor in
the logs."""
from __future__ import annotations

import json
import logging
import secrets

from sqlalchemy import select, text

from bot.envelope import InboundEvent
from bot.observability import JsonFormatter
from bot.store.crypto import Crypto
from bot.store.models import Base

from ..test_runtime import RecordingHooks


def _all_variants(s: str) -> list[bytes]:
    return [s.encode("utf-8"), s.encode("utf-16-le"), s.encode("utf-16-be")]


async def test_marker_text_and_user_id_never_reach_disk_or_logs(runtime, store_target, caplog):
    caplog.set_level(logging.DEBUG)
    marker = "しにたい-marker-" + secrets.token_hex(8)
    user = "U" + secrets.token_hex(16)
    hooks = RecordingHooks()
    runtime.handoff_hooks = hooks
    events = [
        InboundEvent("memory", "m1", user, "start", locale_hint="ja"),
        InboundEvent("memory", "m2", user, "text", text=marker, locale_hint="ja"),
        InboundEvent("memory", "m3", user, "text", text="talk to a person", locale_hint="ja"),
        InboundEvent("memory", "m4", user, "text", text=marker + " again", locale_hint="ja"),
    ]
    for e in events:
        await runtime.accept([e])
        await runtime.drain()
    ch = runtime.channels["memory"]
    assert {d.user_id for d in ch.deliveries} == {user}
    assert any(c[0] == "message" and marker in c[2] for c in hooks.calls)  # it did go through
    async with runtime.store.transaction() as s:
        conv_id = (await s.execute(text("SELECT id FROM conversations"))).scalar_one()
    await runtime.send_to_person(conv_id, "counsellor " + marker)  # an outbox row holding it, pending
    log_lines = [JsonFormatter().format(r) for r in caplog.records] + [caplog.text]

    if store_target.kind == "sqlite":
        files = [p for p in store_target.sqlite_path.parent.iterdir() if p.name.startswith("bot.db")]
        assert {p.name for p in files} >= {"bot.db", "bot.db-wal"}
        for p in files:
            data = p.read_bytes()
            for needle in (marker, user):
                assert not any(v in data for v in _all_variants(needle)), f"{needle!r} found in {p.name}"
    # Every row of every table, both databases.
    async with runtime.store.transaction() as s:
        for table in Base.metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                dumped = repr(tuple(row))
                assert marker not in dumped and user not in dumped, table.name
                for v in row:
                    if isinstance(v, bytes):
                        assert marker.encode() not in v and user.encode() not in v
    for line in log_lines:
        assert marker not in line and user not in line


def test_pseudonyms_are_stable_per_key_and_differ_between_keys():
    a, b = Crypto(b"k" * 40), Crypto(b"j" * 40)
    assert a.pseudonym("line", "U1") == a.pseudonym("line", "U1")
    assert a.pseudonym("line", "U1") != a.pseudonym("discord", "U1")
    assert a.pseudonym("line", "U1") != b.pseudonym("line", "U1")
    assert len(a.pseudonym("line", "U1")) == 64
    token = a.encrypt("秘密")
    assert a.decrypt(token) == "秘密" and "秘密".encode() not in token
    import pytest

    from bot.store.crypto import DecryptError

    with pytest.raises(DecryptError):
        b.decrypt(token)
    assert "k" * 10 not in repr(a)


def test_values_are_sealed_with_a_fresh_nonce_and_tampering_is_refused():
    import pytest

    from bot.store.crypto import DecryptError

    a = Crypto(b"k" * 40)
    first, second = a.encrypt("同じ文"), a.encrypt("同じ文")
    assert first != second  # a random nonce each time: equal texts do not look equal at rest
    damaged = first[:-1] + bytes([first[-1] ^ 1])
    with pytest.raises(DecryptError):
        a.decrypt(damaged)
    with pytest.raises(DecryptError):
        a.decrypt(b"\x01short")


def test_values_written_by_earlier_versions_fernet_still_open():
    """Rows written before the switch to AES-GCM (Fernet tokens under the same secret) still
    open, so an upgrade does not strand the messages waiting in the inbox and the outbox."""
    import base64

    from cryptography.fernet import Fernet

    from bot.store.crypto import _derive

    secret = b"k" * 40
    old = Fernet(base64.urlsafe_b64encode(_derive(secret, b"fernet-v1"))).encrypt("まえの版".encode())
    assert Crypto(secret).decrypt(old) == "まえの版"
