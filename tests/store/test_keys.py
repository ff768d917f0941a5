"""Issue 16, items 7 and 8: the key ring, values sealed to their row, sessions and handoff contexts
sealed at rest, ``keys rotate`` (re-encrypt and re-pseudonymise), and an install written by
earlier versions still read. SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text, update

from bot.envelope import InboundEvent, Outbound
from bot.channels.memory import MemoryChannel
from bot.engine import Reply
from bot.runtime import Runtime
from bot.store import handoffs, keys, conversations
from bot.store.crypto import Crypto, DecryptError, _derive, open_json, seal_json, where
from bot.store.models import Conversation, Handoff, InboxEvent, OutboxMessage

OLD = b"old-secret-key-0123456789-0123456789-abcdef"
NEW = b"new-secret-key-0123456789-0123456789-abcdef"

_n = 0


def ev(user: str, text: str = "", kind: str = "text", choice: str = "") -> InboundEvent:
    global _n
    _n += 1
    return InboundEvent("memory", f"k{_n}", user, kind, text=text, choice=choice, locale_hint="en")


async def runtime_on(store_target, settings, holder, clock, ring) -> Runtime:
    rt = Runtime(settings, holder, store=store_target.make(ring), clock=clock)
    rt.register_channel(MemoryChannel("memory"))
    await rt.start(run_worker=False)  # migrates, and seals what an earlier version left in clear
    return rt


def delivered(rt: Runtime, user: str) -> list[list[str]]:
    return [d.keys for d in rt.channels["memory"].deliveries if d.user_id == user]


async def stale_values(store) -> list[str]:
    """Sealed values (or clear JSON) not sealed by the store's newest key: ``table.column``."""
    out = []
    async with store.transaction() as s:
        for column in keys.COLUMNS:
            col = column.table.c[column.name]
            for value in (await s.execute(select(col).where(col.is_not(None)))).scalars():
                if keys._stale(store.crypto, column, value):
                    out.append(f"{column.table.name}.{column.name}")
    return out


# ---- the crypto itself --------------------------------------------------------------------------

def test_every_token_names_its_key_and_the_ring_opens_older_ones():
    old, ring = Crypto(OLD), Crypto([NEW, OLD])
    token = old.encrypt("まえ", where("t", "c", 1))
    assert ring.token_kid(token) == old.kid != ring.kid
    assert ring.decrypt(token, where("t", "c", 1)) == "まえ"
    assert not ring.is_current(token) and ring.is_current(ring.encrypt("x"))
    with pytest.raises(DecryptError, match="not in BOT_SECRET_KEYS"):
        Crypto(NEW).decrypt(token, where("t", "c", 1))
    assert ring.pseudonyms("line", "U1") == [Crypto(NEW).pseudonym("line", "U1"), old.pseudonym("line", "U1")]
    with pytest.raises(ValueError):
        Crypto([NEW, NEW])


def test_a_value_does_not_open_in_another_row_or_column():
    c = Crypto(NEW)
    token = c.encrypt("U-secret", where("outbox", "user_ref_enc", 7))
    assert c.decrypt(token, where("outbox", "user_ref_enc", 7)) == "U-secret"
    for elsewhere in (where("outbox", "user_ref_enc", 8), where("outbox", "payload_enc", 7),
                      where("conversations", "user_ref_enc", 7), b""):
        with pytest.raises(DecryptError):
            c.decrypt(token, elsewhere)
    sealed = seal_json(c, '{"state":"a"}', "conversations", "session_json", "conv-a")
    assert open_json(c, sealed, "conversations", "session_json", "conv-a") == '{"state":"a"}'
    with pytest.raises(DecryptError):
        open_json(c, sealed, "conversations", "session_json", "conv-b")


# ---- sealed to the row, in the store --------------------------------------------------------

async def test_swapped_platform_ids_in_the_outbox_reach_nobody(runtime):
    """Someone who can write the database swaps two pending deliveries' sealed platform ids:
    neither message goes to the other person; both rows fail as undecryptable."""
    await runtime.accept([ev("U1", kind="start"), ev("U2", kind="start")])
    assert await runtime.process_next() and await runtime.process_next()
    async with runtime.store.transaction() as s:
        a, b = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        a_ref, b_ref = a.user_ref_enc, b.user_ref_enc
        a.user_ref_enc, b.user_ref_enc = b_ref, a_ref
    await runtime.deliver_due()
    assert runtime.channels["memory"].deliveries == []
    async with runtime.store.transaction() as s:
        rows = (await s.execute(select(OutboxMessage))).scalars().all()
    assert {(r.status, r.reason) for r in rows} == {("failed", "undecryptable")}


async def test_swapped_replies_of_one_conversation_do_not_open_either(runtime):
    """Sealed to the row: two replies of one person (each named by the event that caused it)
    swapped are refused too, not delivered out of order."""
    await runtime.accept([ev("U1", kind="start")])
    assert await runtime.process_next()
    await runtime.accept([ev("U1", kind="tap", choice="threatened")])
    assert await runtime.process_next()
    async with runtime.store.transaction() as s:
        a, b = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        assert a.conversation_id == b.conversation_id
        a.payload_enc, b.payload_enc = b.payload_enc, a.payload_enc
    await runtime.deliver_due()
    await runtime.deliver_due()
    assert runtime.channels["memory"].deliveries == []


async def test_sessions_and_handoff_contexts_are_sealed_at_rest(runtime):
    await runtime.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="threatened"),
                          ev("U1", "talk to a person")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        session_json = (await s.execute(text("SELECT session_json FROM conversations"))).scalar_one()
        context_json = (await s.execute(text("SELECT context_json FROM handoffs"))).scalar_one()
        conv = (await s.execute(select(Conversation))).scalar_one()
        h = (await s.execute(select(Handoff))).scalar_one()
    for stored in (session_json, context_json):
        assert not stored.startswith("{")
        for clear in ("threatened", "reassure", "person", "path", "risk"):
            assert clear not in stored
    assert "reassure" in conversations.load_session(runtime.crypto, conv).path
    assert handoffs.open_context(runtime.crypto, h)["path"][-1] == "person"


# ---- an install written by today's (earlier) format ------------------------------------------

def earlier_token(secret: bytes, clear: str) -> bytes:
    """A value as the previous version sealed it: AES-GCM, no key id, no associated data."""
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(_derive(secret, b"aes-gcm-v1")).encrypt(nonce, clear.encode(), None)


async def test_an_install_written_by_the_earlier_format_still_works_and_gets_sealed(
        store_target, settings, mini_holder, clock):
    rt = await runtime_on(store_target, settings, mini_holder, clock, [OLD])
    await rt.accept([ev("U1", kind="start"), ev("U2", kind="start"), ev("U2", "talk to a person")])
    await rt.drain()
    # Rewrite what is stored as the previous version wrote it: clear JSON, tokens without key
    # id or associated data; and one pending event and one pending delivery in that format.
    async with rt.store.transaction() as s:
        for conv in (await s.execute(select(Conversation))).scalars():
            conv.session_json = json.dumps(conversations.load_session(rt.crypto, conv).to_dict())
            if conv.user_ref_enc is not None:
                conv.user_ref_enc = earlier_token(OLD, "U2")
        for h in (await s.execute(select(Handoff))).scalars():
            h.context_json = json.dumps(handoffs.open_context(rt.crypto, h))
        u1 = ev("U1", kind="tap", choice="threatened")
        s.add(InboxEvent(channel="memory", event_id=u1.event_id, pseudonym=rt.crypto.pseudonym("memory", "U1"),
                         status="pending", payload_enc=earlier_token(OLD, u1.to_json()), attempts=0,
                         accepted_at=clock()))
        u2 = (await s.execute(select(Conversation).where(Conversation.in_handoff.is_(True)))).scalar_one()
        s.add(OutboxMessage(conversation_id=u2.id, channel="memory", kind="counsellor", status="pending",
                            payload_enc=earlier_token(OLD, Outbound((Reply("still here"),), retry_key="r1").to_json()),
                            user_ref_enc=earlier_token(OLD, "U2"), attempts=0, next_attempt_at=clock(),
                            leased_until=0.0, created_at=clock()))
    await rt.stop()

    rt = await runtime_on(store_target, settings, mini_holder, clock, [OLD])  # the upgraded bot starts
    try:
        async with rt.store.transaction() as s:
            stored = (await s.execute(text("SELECT session_json FROM conversations"))).scalars().all()
            contexts = (await s.execute(text("SELECT context_json FROM handoffs"))).scalars().all()
        assert stored and not any(v.startswith("{") for v in stored + contexts)  # sealed at start
        await rt.drain()
        assert delivered(rt, "U1")[-1] == ["reassure.not_your_fault", "reassure.not_alone", "law.general"]
        assert [d.texts for d in rt.channels["memory"].deliveries if d.user_id == "U2"][-1] == ["still here"]
        async with rt.store.transaction() as s:
            h = (await s.execute(select(Handoff))).scalar_one()
        assert handoffs.open_context(rt.crypto, h)["path"][-1] == "person"
        # Tokens of the earlier format left (the U2 handoff's kept id) are rewritten by a rotation.
        assert await stale_values(rt.store) == ["conversations.user_ref_enc"]
        await keys.rotate(rt.store)
        assert await stale_values(rt.store) == []
    finally:
        await rt.stop()


# ---- rotation ---------------------------------------------------------------------------------

async def test_rotate_reseals_and_repseudonymises_and_old_pseudonyms_are_still_found(
        store_target, settings, mini_holder, clock):
    rt = await runtime_on(store_target, settings, mini_holder, clock, [OLD])
    # U1: an idle conversation (nothing of theirs says who they are). U2: in a handoff (the
    # platform id is kept). U3: talked, then wrote again while the bot was being restarted.
    await rt.accept([ev("U1", kind="start"), ev("U1", kind="tap", choice="threatened"),
                     ev("U2", kind="start"), ev("U2", "talk to a person"), ev("U3", kind="start")])
    await rt.drain()
    await rt.accept([ev("U3", kind="tap", choice="threatened")])  # pending, keyed under OLD
    await rt.stop()
    old_u1 = Crypto(OLD).pseudonym("memory", "U1")

    rt = await runtime_on(store_target, settings, mini_holder, clock, [NEW, OLD])
    try:
        report = await keys.rotate(rt.store)
        assert report.rekeyed == 2 and not any(report.unreadable.values())
        assert await stale_values(rt.store) == []
        async with rt.store.transaction() as s:
            keyed = set((await s.execute(select(Conversation.pseudonym))).scalars())
        assert keyed == {old_u1, rt.crypto.pseudonym("memory", "U2"), rt.crypto.pseudonym("memory", "U3")}
        # U3's waiting event continues U3's conversation; U1, keyed by the old key, is found
        # and re-keyed when they write again (their conversation goes on where it was).
        await rt.accept([ev("U1", kind="tap", choice="evidence")])
        await rt.drain()
        assert delivered(rt, "U3")[-1][0] == "reassure.not_your_fault"
        assert delivered(rt, "U1") == [["evidence.keep"]]
        async with rt.store.transaction() as s:
            keyed = set((await s.execute(select(Conversation.pseudonym))).scalars())
            inbox_keys = set((await s.execute(select(InboxEvent.pseudonym))).scalars())
        assert keyed == {rt.crypto.pseudonym("memory", u) for u in ("U1", "U2", "U3")}
        assert old_u1 not in inbox_keys
    finally:
        await rt.stop()

    rt = await runtime_on(store_target, settings, mini_holder, clock, [NEW])  # the old key retired
    try:
        async with rt.store.transaction() as s:
            u2 = (await s.execute(select(Conversation).where(Conversation.in_handoff.is_(True)))).scalar_one()
        await rt.send_to_person(u2.id, "a counsellor here")  # the kept platform id opens
        await rt.accept([ev("U1", kind="tap", choice="done"), ev("U3", kind="tap", choice="evidence")])
        await rt.drain()
        assert [d.texts for d in rt.channels["memory"].deliveries if d.user_id == "U2"] == [["a counsellor here"]]
        assert delivered(rt, "U3") == [["evidence.keep"]]
        async with rt.store.transaction() as s:
            assert len((await s.execute(select(Conversation.id))).all()) == 3  # nobody started afresh
    finally:
        await rt.stop()


async def test_a_session_moved_to_another_conversation_does_not_open(runtime):
    await runtime.accept([ev("U1", kind="start"), ev("U2", kind="start"), ev("U2", kind="tap", choice="threatened")])
    await runtime.drain()
    async with runtime.store.transaction() as s:
        a, b = (await s.execute(select(Conversation).order_by(Conversation.created_at, Conversation.id))).scalars().all()
        await s.execute(update(Conversation).where(Conversation.id == a.id).values(session_json=b.session_json))
    async with runtime.store.transaction() as s:
        moved = await s.get(Conversation, a.id)
    with pytest.raises(DecryptError):
        conversations.load_session(runtime.crypto, moved)
    assert dataclasses.is_dataclass(conversations.load_session(runtime.crypto, b))
