"""Issue 15, item 4: transfer and supervision. A transfer goes to a colleague at the console now
(with a note, encrypted in the transcript, shown at the top of the receiver's page, erased with
the handoff) or back to the queue; the crisis flag, the priority and the first wait stay; the
person gets one short line; refusals are clear and audited. A supervisor (or admin) sees every
open conversation, opens any read-only (each look audited), joins and takes over; a counsellor
gets 403 there."""
import asyncio
import re

from sqlalchemy import select

from bot.handoff.accounts import create_counsellor, disable_counsellor
from bot.store import audit, handoffs
from bot.store.models import TranscriptMessage
from tests.handoff.conftest import ask_for_person
from tests.handoff.test_audit import queued_handoff, rows
from tests.handoff.test_console import PASSWORD, chat_send, chat_start, csrf_of, login

NOTE = "警察に行くか迷っている。証拠の保存は済み。兄には話せそう"
MOVED = "担当の相談員が交代します。このまま、ここで続けられます。"


async def handoff(store, hid):
    async with store.transaction() as s:
        return await handoffs.get_handoff(s, hid)


async def lines(store, hid):
    async with store.transaction() as s:
        return await handoffs.transcript(s, store.crypto, hid)


async def another_handoff(client, store, known: set) -> str:
    """Another person asks for a counsellor on the web chat; the new handoff's id."""
    chat_id = await chat_start(client)
    await chat_send(client, chat_id, "人と話したい")
    for _ in range(400):
        async with store.transaction() as s:
            new = [h.id for h in await handoffs.open_handoffs(s) if h.id not in known]
        if new:
            return new[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no new handoff")


async def logged_in(serve, name):
    """Another web process on the same database, with ``name`` logged in there."""
    client, rt = await serve()
    resp = await login(client, name)
    assert resp.status == 303, name
    return client, rt


async def test_a_transfer_to_a_colleague_needs_a_note_keeps_the_wait_and_alerts_the_colleague(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    async with rt.store.transaction() as s:
        await handoffs.mark_crisis(s, hid)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    before = await handoff(rt.store, hid)
    ben_client, _ = await logged_in(serve, "ben")
    await login(client, "aiko")
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    # Ben is at the console: he is offered by name, and the queue always.
    form = page.split('id="transfer-form"')[1].split("</form>")[0]
    assert f'<option value="{ben}">ben</option>' in form and '<option value="queue">' in form
    assert f'value="{aiko}"' not in form                   # not oneself
    token = await csrf_of(client, f"/console/handoff/{hid}")
    url = f"/console/handoff/{hid}/transfer"

    # A colleague needs a note: refused, nothing moved, what was typed is kept.
    resp = await client.post(url, data={"csrf": token, "to": str(ben), "note": "   "})
    assert resp.status == 422 and "引き継ぎメモを書いてください" in await resp.text()
    assert (await handoff(rt.store, hid)).counsellor_id == aiko
    resp = await client.post(url, data={"csrf": token, "to": "", "note": NOTE})
    assert resp.status == 422 and "引き継ぐ先を選んでください" in await resp.text() and NOTE in await resp.text()

    resp = await client.post(url, data={"csrf": token, "to": str(ben), "note": NOTE}, allow_redirects=False)
    assert resp.status == 303
    after = await handoff(rt.store, hid)
    assert (after.status, after.counsellor_id, after.transferred_from, after.transfer_kind) == ("live", ben, aiko, "colleague")
    # The crisis and its priority, the first wait and the first take stay as they were.
    assert (after.is_crisis, after.priority, after.queued_at, after.taken_at) == \
           (True, before.priority, before.queued_at, before.taken_at)
    moved = [r for r in await rows(rt.store, audit.TRANSFERRED)]
    assert [(r.counsellor_id, r.handoff_id, r.detail) for r in moved] == [(aiko, hid, f"to #{ben}")]
    assert moved[0].login_id is not None and moved[0].address_hash
    # The person is still there and reads one short line; the note never reaches them.
    said = await lines(rt.store, hid)
    assert [x.text for x in said if x.author == "bot"][-1] == MOVED
    assert [x.text for x in said if x.author == "handover"] == [NOTE]
    # Encrypted at rest, like the transcript.
    async with rt.store.transaction() as s:
        bodies = [r.body_enc for r in (await s.execute(select(TranscriptMessage))).scalars()]
    assert not any(NOTE.encode() in b for b in bodies)

    # Ben's strip alerts him, marked as a transfer from Aiko, until he opens it.
    alerts = await (await ben_client.get("/console/alerts")).json()
    assert [(t["id"], t["transfer_from"], t["crisis"]) for t in alerts["transfers"]] == [(hid, "aiko", True)]
    ben_page = await (await ben_client.get(f"/console/handoff/{hid}")).text()
    top = ben_page.split('id="handover"')[1].split("</div>")[0]
    assert "aiko さんから引き継がれました" in top and NOTE in top
    assert ben_page.index('id="handover"') < ben_page.index('id="lines"')     # at the top
    assert NOTE in ben_page.split('id="ctx-handover"')[1].split("</dd>")[0]     # and in the packet
    assert NOTE not in ben_page.split('id="lines"')[1].split("</ol>")[0]       # never among the messages
    assert 'id="reply-text"' in ben_page
    assert (await (await ben_client.get("/console/alerts")).json())["transfers"] == []
    messages = await (await ben_client.get(f"/console/handoff/{hid}/messages?after=0")).json()
    assert NOTE not in str(messages["lines"]) and messages["mine"] is True

    # Aiko's page turns read-only and says where it went; her reply is refused.
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert "ben さんに引き継ぎました" in page and 'id="reply-text"' not in page and 'id="transfer-form"' not in page
    resp = await client.post(f"/console/handoff/{hid}/reply", data={"csrf": token, "text": "まだいる？"},
                             headers={"Accept": "application/json"})
    assert resp.status == 409


async def test_transfers_to_someone_absent_disabled_or_not_answering_are_refused_and_audited(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    carl = await create_counsellor(rt.store, "carl", PASSWORD)          # never logged in
    dora = await create_counsellor(rt.store, "dora", PASSWORD)
    eve = await create_counsellor(rt.store, "eve", PASSWORD, role="editor")
    hid = await queued_handoff(client, rt.store)
    await logged_in(serve, "dora")
    await logged_in(serve, "eve")
    await disable_counsellor(rt.store, "dora")
    await login(client, "aiko")
    token = await csrf_of(client)
    url = f"/console/handoff/{hid}/transfer"
    json_ = {"Accept": "application/json"}
    # Not hers yet: only the counsellor in charge of a live conversation transfers it.
    resp = await client.post(url, data={"csrf": token, "to": "queue"}, headers=json_)
    assert resp.status == 409 and (await resp.json())["result"] == "not_yours"
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    for to, result in [(carl, "offline"), (dora, "disabled"), (eve, "cannot_converse"), (aiko, "self"),
                       (9999, "disabled")]:
        resp = await client.post(url, data={"csrf": token, "to": str(to), "note": NOTE}, headers=json_)
        assert (resp.status, (await resp.json())["result"]) == (409, result), to
    # The page says why, in words, and keeps the note.
    resp = await client.post(url, data={"csrf": token, "to": str(carl), "note": NOTE})
    text = await resp.text()
    assert resp.status == 409 and "いまコンソールにいません" in text and NOTE in text
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    form = page.split('id="transfer-form"')[1].split("</form>")[0]
    assert "carl" not in form and "dora" not in form and "eve" not in form and "いまコンソールにいる同僚はいません" in form
    h = await handoff(rt.store, hid)
    assert (h.counsellor_id, h.transfer_kind) == (aiko, None)
    assert not any(x.author == "handover" for x in await lines(rt.store, hid))
    refused = [r.detail for r in await rows(rt.store, audit.REFUSED) if (r.detail or "").startswith("transfer")]
    assert refused == ["transfer: not_yours", "transfer: offline", "transfer: disabled", "transfer: cannot_converse",
                       "transfer: self", "transfer: disabled", "transfer: offline"]
    # A colleague who logs out is no longer offered, and refused.
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    ben_client, _ = await logged_in(serve, "ben")
    assert f'value="{ben}"' in await (await client.get(f"/console/handoff/{hid}")).text()
    await ben_client.post("/console/logout", data={"csrf": await csrf_of(ben_client)})
    resp = await client.post(url, data={"csrf": token, "to": str(ben), "note": NOTE}, headers=json_)
    assert (await resp.json())["result"] == "offline"


async def test_back_to_the_queue_keeps_its_place_and_its_crisis_and_counts_the_wait_from_the_transfer(
        service, hruntime, store, clock):
    from bot.handoff import transfer
    from bot.handoff.accounts import Actor

    aiko = await create_counsellor(store, "aiko", PASSWORD)
    first = await ask_for_person(hruntime, "u-first", store)
    async with store.transaction() as s:
        await handoffs.mark_crisis(s, first)
    assert await service.take(first, aiko) == "ok"
    clock.advance(20 * 60)          # twenty minutes of conversation
    later = await ask_for_person(hruntime, "u-later", store)
    presence = transfer.Presence(1800.0, 43200.0)
    me = Actor(aiko, 1, "x")
    assert await transfer.transfer(service, first, me, None, "", presence) == "ok"   # no note needed
    h = await handoff(store, first)
    assert (h.status, h.counsellor_id, h.transfer_kind, h.is_crisis) == ("queued", None, "queue", True)
    async with store.transaction() as s:
        assert [x.id for x in await handoffs.open_handoffs(s)][:2] == [first, later]
    # The wait restarts at the transfer: nobody is told "nobody answered" for the twenty minutes
    # they were talking, nor "still waiting".
    assert await service.check_waiting() == 0
    assert await service.check_still_waiting() == 0
    assert MOVED in [x.text for x in await lines(store, first)]
    clock.advance(5 * 60)
    assert await service.check_still_waiting() == 2     # 5 minutes since the transfer; 25 for "later"
    said = [x.text for x in await lines(store, first) if x.author == "bot"]
    assert "（待ち始めてから5分）" in said[-1]
    clock.advance(6 * 60)
    assert await service.check_waiting() == 2
    # Taken again: the first take's time stays (the packet's wait is the first wait).
    taken_at = h.taken_at
    assert await service.take(first, aiko) == "ok"
    assert (await handoff(store, first)).taken_at == taken_at


async def test_the_handover_note_is_erased_with_the_handoff(service, hruntime, store):
    from bot.handoff import transfer
    from bot.handoff.accounts import Actor

    aiko = await create_counsellor(store, "aiko", PASSWORD)
    hid = await ask_for_person(hruntime, "u-forget", store)
    assert await service.take(hid, aiko) == "ok"
    assert await transfer.transfer(service, hid, Actor(aiko, 1, "x"), None, NOTE,
                                   transfer.Presence(1800.0, 43200.0)) == "ok"
    assert [x.text for x in await lines(store, hid) if x.author == "handover"] == [NOTE]
    conversation_id = (await handoff(store, hid)).conversation_id
    assert await hruntime.forget(conversation_id)
    async with store.transaction() as s:
        left = (await s.execute(select(TranscriptMessage).where(TranscriptMessage.handoff_id == hid))).scalars().all()
    assert left == [] and await handoff(store, hid) is None


async def test_retention_erases_the_handover_note_like_the_transcript(service, hruntime, store, settings, clock):
    from bot.handoff import transfer
    from bot.handoff.accounts import Actor
    from bot.store.retention import purge

    aiko = await create_counsellor(store, "aiko", PASSWORD)
    hid = await ask_for_person(hruntime, "u-old", store)
    assert await service.take(hid, aiko) == "ok"
    assert await transfer.transfer(service, hid, Actor(aiko, 1, "x"), None, NOTE,
                                   transfer.Presence(1800.0, 43200.0)) == "ok"
    await purge(store, settings, now=clock() + (settings.transcript_retention_days - 1) * 86400)
    assert any(x.author == "handover" for x in await lines(store, hid))
    await purge(store, settings, now=clock() + (settings.transcript_retention_days + 1) * 86400)
    assert await lines(store, hid) == []


async def test_a_counsellor_gets_403_on_every_supervisor_route_and_it_is_audited(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    await login(client, "aiko")
    token = await csrf_of(client)
    assert 'href="/console/supervise"' not in await (await client.get("/console/queue")).text()
    for method, path in [("get", "/console/supervise"), ("get", f"/console/supervise/{hid}"),
                         ("post", f"/console/supervise/{hid}/join"), ("post", f"/console/supervise/{hid}/take-over"),
                         ("post", f"/console/supervise/{hid}/say")]:
        kwargs = {"data": {"csrf": token, "text": "x"}} if method == "post" else {}
        resp = await getattr(client, method)(path, headers={"X-Console-Live": "1"}, **kwargs)
        assert resp.status == 403, path
    assert not await rows(rt.store, audit.LOOKED) and not await rows(rt.store, audit.JOINED)
    refused = [r for r in await rows(rt.store, audit.REFUSED) if r.counsellor_id == aiko]
    assert len(refused) == 5
    assert (await handoff(rt.store, hid)).status == "queued"


async def test_a_supervisor_watches_read_only_joins_and_takes_over(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    sara = await create_counsellor(rt.store, "sara", PASSWORD, role="supervisor")
    await create_counsellor(rt.store, "root", PASSWORD, role="admin")
    hid = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    await login(client, "aiko")
    sup, _ = await logged_in(serve, "sara")
    token = await csrf_of(sup)
    # Every open conversation, who has it.
    listing = await (await sup.get("/console/supervise")).text()
    row = listing.split(f'data-handoff="{hid}"')[1].split("</tr>")[0]
    assert "aiko" in row and "対応中" in row and f'href="/console/supervise/{hid}"' in row
    # Read-only: no input box, no transfer, no close; every look is a row of the audit log.
    for _ in range(2):
        page = await (await sup.get(f"/console/supervise/{hid}")).text()
        assert 'id="reply-text"' not in page and 'id="close-form"' not in page and 'id="transfer-form"' not in page
        assert 'id="join"' in page and 'id="take-over"' in page
    looks = await rows(rt.store, audit.LOOKED)
    assert [(r.counsellor_id, r.handoff_id) for r in looks] == [(sara, hid), (sara, hid)]
    assert all(r.login_id and r.address_hash for r in looks)
    # A supervisor's message before joining is refused.
    resp = await sup.post(f"/console/supervise/{hid}/say", data={"csrf": token, "text": "こんにちは"},
                          headers={"Accept": "application/json"})
    assert resp.status == 409

    # Join: the counsellor sees it; the supervisor writes, marked, and it reaches the person.
    resp = await sup.post(f"/console/supervise/{hid}/join", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/console/supervise/{hid}"
    assert [(r.counsellor_id, r.detail) for r in await rows(rt.store, audit.JOINED)] == [(sara, f"with #{aiko}")]
    page = await (await sup.get(f"/console/supervise/{hid}")).text()
    assert 'id="reply-text"' in page and 'id="join"' not in page and "スーパーバイザーとして参加しています" in page
    aiko_page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert "スーパーバイザーの sara さんが参加しています" in aiko_page and 'id="reply-text"' in aiko_page
    resp = await sup.post(f"/console/supervise/{hid}/say", data={"csrf": token, "text": "一緒に考えますね"},
                          headers={"Accept": "application/json"})
    assert resp.status == 200
    messages = await (await client.get(f"/console/handoff/{hid}/messages?after=0")).json()
    assert messages["supervisor"] == sara
    assert [(x["author"], x["text"]) for x in messages["lines"]][-1] == ("supervisor", "一緒に考えますね")
    assert "スーパーバイザー" in (await (await client.get(f"/console/handoff/{hid}")).text()).split('id="lines"')[1]
    assert (await handoff(rt.store, hid)).counsellor_id == aiko     # Aiko is still in charge

    # Take over: Sara is in charge, Aiko's page says so and turns read-only.
    resp = await sup.post(f"/console/supervise/{hid}/take-over", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/console/handoff/{hid}"
    h = await handoff(rt.store, hid)
    assert (h.status, h.counsellor_id, h.transferred_from, h.transfer_kind, h.supervisor_id) == \
           ("live", sara, aiko, "takeover", None)
    assert [(r.counsellor_id, r.detail) for r in await rows(rt.store, audit.TOOK_OVER)] == [(sara, f"from #{aiko}")]
    aiko_page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert "スーパーバイザーの sara さんがこの会話を引き継ぎました" in aiko_page and 'id="reply-text"' not in aiko_page
    aiko_token = await csrf_of(client)
    resp = await client.post(f"/console/handoff/{hid}/reply", data={"csrf": aiko_token, "text": "まだ？"},
                             headers={"Accept": "application/json"})
    assert resp.status == 409
    sara_page = await (await sup.get(f"/console/handoff/{hid}")).text()
    assert 'id="reply-text"' in sara_page and 'id="transfer-form"' in sara_page
    assert [x.text for x in await lines(rt.store, hid) if x.author == "bot"][-1] == MOVED
    # An admin may supervise too; the audit chain is intact.
    admin, _ = await logged_in(serve, "root")
    assert (await admin.get("/console/supervise")).status == 200
    assert (await audit.verify(rt.store)).intact


async def test_the_supervisor_list_puts_crisis_first_and_shows_who_waits(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    await create_counsellor(rt.store, "sara", PASSWORD, role="supervisor")
    calm = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(calm, aiko) == "ok"
    crisis = await another_handoff(client, rt.store, {calm})
    async with rt.store.transaction() as s:
        await handoffs.mark_crisis(s, crisis)
    sup, _ = await logged_in(serve, "sara")
    listing = await (await sup.get("/console/supervise")).text()
    ids = re.findall(r'<tr class="item [^"]*" data-handoff="([0-9a-f]+)"', listing)
    assert ids == [crisis, calm]
    row = listing.split(f'data-handoff="{crisis}"')[1].split("</tr>")[0]
    assert "待機中" in row and "（未担当）" in row and "危機" in row


async def test_a_note_left_for_the_queue_is_shown_to_whoever_takes_it_next(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    await create_counsellor(rt.store, "ben", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    await login(client, "aiko")
    token = await csrf_of(client)
    resp = await client.post(f"/console/handoff/{hid}/transfer", data={"csrf": token, "to": "queue", "note": NOTE},
                             allow_redirects=False)
    assert resp.status == 303
    assert [(r.detail, r.counsellor_id) for r in await rows(rt.store, audit.TRANSFERRED)] == [("to queue", aiko)]
    ben_client, _ = await logged_in(serve, "ben")
    queue = await (await ben_client.get("/console/queue")).text()
    assert "aiko さんから転送" in queue.split(f'data-handoff="{hid}"')[1].split("</li>")[0]
    waiting = (await (await ben_client.get("/console/alerts")).json())["waiting"]
    assert [(w["id"], w["transfer_from"]) for w in waiting] == [(hid, "aiko")]
    resp = await ben_client.post(f"/console/handoff/{hid}/take", data={"csrf": await csrf_of(ben_client)},
                                 allow_redirects=False)
    assert resp.status == 303
    page = await (await ben_client.get(f"/console/handoff/{hid}")).text()
    top = page.split('id="handover"')[1].split("</div>")[0]
    assert "aiko さんが待ち行列に戻しました" in top and NOTE in top and 'id="reply-text"' in page
