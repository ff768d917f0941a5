"""The admin's accounts page (issue 15 item 7): admins only; lists role, active, second factor
and last login; adds, disables, gives a new password (shown once), changes a role, resets a
second factor; each action audited with who did it; CSRF on every form."""
import asyncio
import re

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.handoff import second_factor
from bot.handoff.accounts import create_counsellor
from bot.store.models import AuditEntry, Counsellor
from tests.handoff.test_console import PASSWORD, csrf_of, login


async def admin_client(client, store):
    admin = await create_counsellor(store, "hana", PASSWORD, role="admin")
    assert (await login(client, name="hana")).status == 303
    return admin


def one_time_password(page: str) -> str:
    return re.search(r'class="one-time-password">([a-z0-9-]+)<', page).group(1)


def row_of(page: str, name: str) -> str:
    return re.search(rf'<tr data-account="{name}">(.*?)</tr>', page, re.S).group(1)


async def act(client, path, **data):
    data.setdefault("csrf", await csrf_of(client, "/console/accounts"))
    return await client.post(f"/console/accounts{path}", data=data, headers={"Accept-Language": "en"})


async def account_id(store, name) -> int:
    async with store.transaction() as s:
        return (await s.execute(select(Counsellor.id).where(Counsellor.name == name))).scalar_one()


async def test_only_an_admin_reaches_the_page(client, web_runtime):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client)
    resp = await client.get("/console/accounts", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue"
    refused = await client.post("/console/accounts/add", data={"csrf": await csrf_of(client), "name": "x"})
    assert refused.status == 403
    async with web_runtime.store.transaction() as s:
        assert (await s.execute(select(Counsellor.name).order_by(Counsellor.name))).scalars().all() == ["aiko"]


async def test_an_admin_adds_an_account_that_logs_in_with_the_password_shown_once(client, web_runtime, serve):
    store = web_runtime.store
    admin = await admin_client(client, store)
    resp = await act(client, "/add", name="ben", role="supervisor")
    page = await resp.text()
    assert resp.status == 200 and "ben" in page
    password = one_time_password(page)
    assert "supervisor" in row_of(page, "ben").lower()
    listed = await (await client.get("/console/accounts", headers={"Accept-Language": "en"})).text()
    assert password not in listed                                   # shown once
    other = (await serve())[0]
    assert (await login(other, name="ben", password=password)).status == 303
    ben = await account_id(store, "ben")
    async with store.transaction() as s:
        trail = (await s.execute(select(AuditEntry.action, AuditEntry.counsellor_id, AuditEntry.detail)
                                 .where(AuditEntry.action.in_(["account", "account_changed_by"]))
                                 .order_by(AuditEntry.id))).all()
    assert [tuple(r) for r in trail][-2:] == [("account", ben, "added as supervisor"),
                                              ("account_changed_by", admin, f"#{ben} added as supervisor")]
    bad = await act(client, "/add", name="two words", role="counsellor")
    assert bad.status == 400 and "no spaces" in await bad.text()
    taken = await act(client, "/add", name="ben", role="counsellor")
    assert taken.status == 400 and "already exists" in await taken.text()


async def test_role_password_second_factor_and_disable(client, web_runtime, serve):
    store = web_runtime.store
    await admin_client(client, store)
    await create_counsellor(store, "ben", PASSWORD)
    ben = await account_id(store, "ben")
    await second_factor.enrol(store, ben, second_factor.new_secret(), end_logins=True)
    other = (await serve())[0]
    page = await (await client.get("/console/accounts", headers={"Accept-Language": "en"})).text()
    row = row_of(page, "ben")
    assert "Counsellor" in row and re.search(r'class="second-factor">Yes<', row)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row_of(page, "hana"))    # the admin's own last login

    resp = await act(client, f"/{ben}/role", role="editor")
    assert resp.status == 200 and "Editor" in row_of(await resp.text(), "ben")

    resp = await act(client, f"/{ben}/second_factor")
    assert resp.status == 200 and re.search(r'class="second-factor">No<', row_of(await resp.text(), "ben"))
    async with store.transaction() as s:
        assert (await s.execute(select(Counsellor.totp_secret_enc).where(Counsellor.id == ben))).scalar_one() is None

    resp = await act(client, f"/{ben}/password")
    password = one_time_password(await resp.text())
    assert (await login(other, name="ben")).status == 401
    assert (await login(other, name="ben", password=password)).status == 303
    assert (await other.get("/console/editor", allow_redirects=False)).status == 200   # an editor's home

    resp = await act(client, f"/{ben}/disable")
    assert resp.status == 200 and "Disabled" in row_of(await resp.text(), "ben")
    resp = await other.get("/console/editor", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/login"        # logged out at once
    assert (await login(other, name="ben", password=password)).status == 401
    async with store.transaction() as s:
        by = (await s.execute(select(AuditEntry.detail).where(AuditEntry.action == "account_changed_by")
                              .order_by(AuditEntry.id))).scalars().all()
    assert by == [f"#{ben} role editor", f"#{ben} second factor reset", f"#{ben} new password", f"#{ben} disabled"]


async def test_not_ones_own_account_and_not_without_the_token(client, web_runtime):
    store = web_runtime.store
    admin = await admin_client(client, store)
    own = await act(client, f"/{admin}/disable")
    assert own.status == 400 and "your own account" in await own.text()
    demoted = await act(client, f"/{admin}/role", role="counsellor")
    assert demoted.status == 400
    await create_counsellor(store, "ben", PASSWORD)
    ben = await account_id(store, "ben")
    forged = await act(client, f"/{ben}/disable", csrf="forged")
    assert forged.status == 403
    missing = await act(client, "/999999/disable")
    assert missing.status == 404
    async with store.transaction() as s:
        rows = (await s.execute(select(Counsellor.name, Counsellor.role, Counsellor.is_active)
                                .order_by(Counsellor.name))).all()
    assert [tuple(r) for r in rows] == [("ben", "counsellor", True), ("hana", "admin", True)]


async def test_an_admins_change_ends_that_accounts_open_event_streams_at_once(client, web_runtime):
    """Not at the next ping (15 s): the account's open pages go to the login page while the
    counsellor looks at them. Another counsellor's stream stays open and hears nothing of it."""
    store = web_runtime.store
    await admin_client(client, store)
    await create_counsellor(store, "aiko", PASSWORD)
    await create_counsellor(store, "ben", PASSWORD)
    # Three browsers on the one web process (its bus; between processes it is PostgreSQL's).
    aiko, ben = TestClient(client.server), TestClient(client.server)
    assert (await login(aiko)).status == 303 and (await login(ben, name="ben")).status == 303
    aiko_events = await aiko.get("/console/events", headers={"Accept": "text/event-stream"})
    ben_events = await ben.get("/console/events", headers={"Accept": "text/event-stream"})
    assert aiko_events.status == 200 and ben_events.status == 200
    assert (await aiko_events.content.readline()).startswith(b"retry:")
    assert (await ben_events.content.readline()).startswith(b"retry:")
    assert (await act(client, f"/{await account_id(store, 'aiko')}/disable")).status == 200
    async with asyncio.timeout(3):                                   # the ping comes after 15 s
        while not aiko_events.content.at_eof():
            await aiko_events.content.readany()
    await asyncio.sleep(0.3)
    assert not ben_events.content.at_eof()
    assert b"logins_ended" not in ben_events.content.read_nowait()
    ben_events.close()
    for other in (aiko, ben):
        await other.session.close()          # not other.close(): that would stop the shared server
