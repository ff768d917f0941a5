"""Who may read one conversation at /console/handoff/{id} (and its messages feed, and the pages
its forms answer with): the queue is everyone's (to take); a taken conversation is its
counsellor's (taken or transferred to them, live or closed) and every supervisor's and admin's;
a colleague gets 403, audited as refused, and nothing of it. The one who handed it on learns
where it went, and nothing more."""
import html

from bot.handoff.accounts import create_counsellor
from bot.store import audit, handoffs
from tests.handoff.test_audit import queued_handoff, rows
from tests.handoff.test_console import PASSWORD, csrf_of, login
from tests.handoff.test_transfer import logged_in


async def person_lines(store, hid):
    async with store.transaction() as s:
        return [x.text for x in await handoffs.transcript(s, store.crypto, hid) if x.author == "person"]


def refusals(found, hid):
    return [r for r in found if r.handoff_id == hid and r.detail == "not yours"]


async def test_a_colleague_cannot_read_a_conversation_someone_else_has(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    await create_counsellor(rt.store, "sara", PASSWORD, role="supervisor")
    await create_counsellor(rt.store, "root", PASSWORD, role="admin")
    hid = await queued_handoff(client, rt.store)
    said = await person_lines(rt.store, hid)
    assert said
    ben_client, _ = await logged_in(serve, "ben")
    # Waiting in the queue: any counsellor may open it, to take it.
    resp = await ben_client.get(f"/console/handoff/{hid}")
    assert resp.status == 200 and said[0] in html.unescape(await resp.text())

    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    before = len(await rows(rt.store, audit.REFUSED))
    resp = await ben_client.get(f"/console/handoff/{hid}")
    page = html.unescape(await resp.text())
    assert resp.status == 403 and "ほかの相談員が担当しています" in page
    assert not any(text in page for text in said) and 'id="lines"' not in page
    resp = await ben_client.get(f"/console/handoff/{hid}/messages?after=0")
    body = await resp.text()
    assert resp.status == 403 and not any(text in body for text in said)
    # A form's answer is no way round it: an empty note and a close without outcome re-render the page.
    token = await csrf_of(ben_client)
    for path, data in (("note", {"note": ""}), ("close", {"outcome": ""}), ("close", {"outcome": "referred"})):
        resp = await ben_client.post(f"/console/handoff/{hid}/{path}", data={"csrf": token, **data})
        body = html.unescape(await resp.text())
        assert resp.status == 403, path
        assert not any(text in body for text in said), path
    refused = refusals(await rows(rt.store, audit.REFUSED), hid)
    assert len(refused) >= 5 and {r.counsellor_id for r in refused} == {ben}
    assert all(r.login_id and r.address_hash for r in refused)
    assert len(await rows(rt.store, audit.REFUSED)) > before
    # Ben never read it once Aiko had it: no "opened" row of his after the take.
    assert [r.counsellor_id for r in await rows(rt.store, audit.OPENED) if r.handoff_id == hid] == [ben]

    # Aiko (hers), a supervisor and an admin read it; closed, it stays Aiko's and theirs.
    await login(client, "aiko")
    assert (await client.get(f"/console/handoff/{hid}")).status == 200
    assert (await client.get(f"/console/handoff/{hid}/messages?after=0")).status == 200
    sup, _ = await logged_in(serve, "sara")
    admin, _ = await logged_in(serve, "root")
    for reader in (sup, admin):
        resp = await reader.get(f"/console/handoff/{hid}")
        assert resp.status == 200 and said[0] in html.unescape(await resp.text())
        assert (await reader.get(f"/console/handoff/{hid}/messages?after=0")).status == 200
    assert await rt.handoff_hooks.close(hid, aiko, "referred")
    assert (await client.get(f"/console/handoff/{hid}")).status == 200
    assert (await sup.get(f"/console/handoff/{hid}")).status == 200
    assert (await ben_client.get(f"/console/handoff/{hid}")).status == 403
    assert (await ben_client.get(f"/console/handoff/{hid}/messages?after=0")).status == 403


async def test_a_transfer_moves_who_may_read(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    await create_counsellor(rt.store, "carl", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    said = await person_lines(rt.store, hid)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    ben_client, _ = await logged_in(serve, "ben")
    carl, _ = await logged_in(serve, "carl")
    await login(client, "aiko")
    token = await csrf_of(client, f"/console/handoff/{hid}")
    resp = await client.post(f"/console/handoff/{hid}/transfer",
                             data={"csrf": token, "to": str(ben), "note": "証拠は保存済み"}, allow_redirects=False)
    assert resp.status == 303
    # Ben, who it was transferred to, reads it.
    resp = await ben_client.get(f"/console/handoff/{hid}")
    assert resp.status == 200 and said[0] in html.unescape(await resp.text())
    # Aiko learns where it went, and reads nothing more of it.
    resp = await client.get(f"/console/handoff/{hid}")
    page = html.unescape(await resp.text())
    assert resp.status == 200 and "ben さんに引き継ぎました" in page and "証拠は保存済み" in page   # her note
    assert not any(text in page for text in said) and 'id="lines"' not in page
    assert (await client.get(f"/console/handoff/{hid}/messages?after=0")).status == 403
    # Carl, who never had it, is refused.
    assert (await carl.get(f"/console/handoff/{hid}")).status == 403
    # Back to the queue: everyone's again, to take.
    ben_token = await csrf_of(ben_client, f"/console/handoff/{hid}")
    resp = await ben_client.post(f"/console/handoff/{hid}/transfer",
                                 data={"csrf": ben_token, "to": "queue", "note": ""}, allow_redirects=False)
    assert resp.status == 303
    for reader in (client, carl, ben_client):
        assert (await reader.get(f"/console/handoff/{hid}")).status == 200


async def test_taking_one_a_colleague_just_took_says_so(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    await create_counsellor(rt.store, "ben", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    ben_client, _ = await logged_in(serve, "ben")
    token = await csrf_of(ben_client)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    resp = await ben_client.post(f"/console/handoff/{hid}/take", data={"csrf": token})
    page = html.unescape(await resp.text())
    assert resp.status == 403 and "この会話は別の相談員が担当しました。" in page
