"""The console's audit trail (issue 16): every transcript read (once per login and handoff),
failed and throttled logins, refused CSRF, refused actions, each with a keyed hash of the
address and never the address; the rows stay one intact chain."""
import asyncio

from sqlalchemy import select

from bot.handoff import console as console_module
from bot.store import audit, handoffs
from bot.handoff.accounts import create_counsellor
from bot.handoff.security import FREE_PER_NAME_AND_ADDRESS
from bot.store import audit
from bot.store.models import AuditEntry
from tests.handoff.test_console import PASSWORD, chat_send, chat_start, csrf_of, login


async def rows(store, action=None) -> list[AuditEntry]:
    async with store.transaction() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list((await s.execute(stmt)).scalars())


async def queued_handoff(client, store) -> str:
    """A person asks for a counsellor on the web chat and writes a line while waiting."""
    chat_id = await chat_start(client)
    await chat_send(client, chat_id, "人と話したい")
    for _ in range(200):
        async with store.transaction() as s:
            open_ = await handoffs.open_handoffs(s)
            lines = await handoffs.transcript(s, store.crypto, open_[0].id) if open_ else []
        if open_ and lines:
            return open_[0].id
        if open_ and not lines:
            await chat_send(client, chat_id, "まってます")
        await asyncio.sleep(0.05)
    raise AssertionError("no handoff")


async def test_a_transcript_read_is_recorded_once_per_login_and_handoff(serve):
    client, rt = await serve()
    await create_counsellor(rt.store, "aiko", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    await login(client)
    for _ in range(3):
        assert (await client.get(f"/console/handoff/{hid}")).status == 200
        assert (await client.get(f"/console/handoff/{hid}/messages?after=0")).status == 200
    opened = await rows(rt.store, audit.OPENED)
    assert len(opened) == 1 and opened[0].handoff_id == hid and opened[0].login_id and opened[0].address_hash
    await client.post("/console/logout", data={"csrf": await csrf_of(client)})
    await login(client)
    await client.get(f"/console/handoff/{hid}/messages?after=0")   # the JSON read counts as a read too
    opened = await rows(rt.store, audit.OPENED)
    assert len(opened) == 2 and opened[0].login_id != opened[1].login_id


async def test_failed_and_throttled_logins_are_recorded_with_a_hash_of_the_address(serve):
    client, rt = await serve(BOT_TRUSTED_PROXIES="1")
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    where = {"X-Forwarded-For": "203.0.113.45"}
    for _ in range(FREE_PER_NAME_AND_ADDRESS):
        await login(client, password="wrong password", headers=where)
    assert (await login(client, password="wrong password", headers=where)).status == 429
    await login(client, name="nobody", password="wrong password", headers={"X-Forwarded-For": "198.51.100.1"})
    failed = await rows(rt.store, audit.LOGIN_FAILED)
    assert [r.counsellor_id for r in failed] == [aiko] * FREE_PER_NAME_AND_ADDRESS + [None]
    assert failed[-1].detail == "unknown name"
    assert len({r.address_hash for r in failed}) == 2        # the same address, the same hash
    throttled = await rows(rt.store, audit.LOGIN_THROTTLED)
    assert len(throttled) == 1 and throttled[0].counsellor_id == aiko
    assert throttled[0].address_hash == failed[0].address_hash
    for row in await rows(rt.store):
        assert "203.0.113.45" not in str(row.__dict__) and "198.51.100.1" not in str(row.__dict__)
    assert (await audit.verify(rt.store)).intact


async def test_refused_csrf_and_refused_actions_are_recorded(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    # The login form without its token: no login yet, an anonymous row.
    await client.post("/console/login", data={"name": "aiko", "password": PASSWORD})
    await login(client)
    assert (await client.post("/console/hours", data={"on": "1", "csrf": "forged"})).status == 403
    token = await csrf_of(client)
    # Answering or closing a conversation that is not hers (nobody has taken it yet).
    assert (await client.post(f"/console/handoff/{hid}/reply", data={"csrf": token, "text": "hi"},
                              headers={"Accept": "application/json"})).status == 409
    assert (await client.post(f"/console/handoff/{hid}/close",
                              data={"csrf": token, "outcome": "resolved", "confirm": "yes"},
                              headers={"Accept": "application/json"})).status == 409
    csrf = await rows(rt.store, audit.CSRF_REFUSED)
    assert [(r.counsellor_id, r.detail) for r in csrf] == [(None, "POST /console/login"),
                                                           (aiko, "POST /console/hours")]
    assert all(r.address_hash for r in csrf)
    refused = await rows(rt.store, audit.REFUSED)
    assert [(r.counsellor_id, r.handoff_id, r.detail) for r in refused] == [(aiko, hid, "reply"), (aiko, hid, "close")]
    assert (await audit.verify(rt.store)).intact


async def test_requests_without_a_login_cannot_fill_the_audit_log(serve, monkeypatch):
    monkeypatch.setattr(console_module, "ANONYMOUS_AUDIT_PER_HOUR", 5)
    client, rt = await serve()
    for _ in range(12):
        assert (await client.post("/console/hours", data={"on": "1"})).status == 401
    refused = await rows(rt.store, audit.REFUSED)
    assert len(refused) == 5 and refused[0].detail == "login required: POST /console/hours"



async def test_a_path_of_the_clients_choosing_is_not_copied_into_the_log(serve):
    client, rt = await serve()
    assert (await client.post("/console/anything-at-all", data={})).status == 401
    refused = await rows(rt.store, audit.REFUSED)
    assert [r.detail for r in refused] == ["login required: POST (no such route)"]
