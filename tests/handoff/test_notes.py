"""Issue 15, item 3: private notes on a handoff and the wrap-up. A note is encrypted in the
transcript (so it has its retention and is erased with it), never sent to the person, written
only by the counsellor who has (or had) the conversation, and audited."""
from sqlalchemy import select

from bot.handoff.accounts import create_counsellor
from bot.store import audit, handoffs
from bot.store.models import TranscriptMessage
from tests.handoff.test_audit import queued_handoff, rows
from tests.handoff.test_console import PASSWORD, csrf_of, login

NOTE = "兄に相談できそう。次は警察の話から"


async def test_notes_are_private_encrypted_and_only_the_counsellors_own(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    await login(client)
    token = await csrf_of(client)
    # Nobody has it yet: no note.
    resp = await client.post(f"/console/handoff/{hid}/note", data={"csrf": token, "note": NOTE})
    assert resp.status == 409 and "メモを残せません" in await resp.text()
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    resp = await client.post(f"/console/handoff/{hid}/note", data={"csrf": token, "note": "  "})
    assert resp.status == 422 and "メモが空です" in await resp.text()
    resp = await client.post(f"/console/handoff/{hid}/note", data={"csrf": token, "note": NOTE}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert NOTE in page.split('id="note-lines"')[1]          # in the notes panel...
    assert NOTE not in page.split('id="lines"')[1].split("</ol>")[0]   # ...not among the messages
    messages = await (await client.get(f"/console/handoff/{hid}/messages?after=0")).json()
    assert NOTE not in str(messages["lines"])
    # Encrypted at rest, like the transcript.
    async with rt.store.transaction() as s:
        bodies = [r.body_enc for r in (await s.execute(select(TranscriptMessage))).scalars()]
        lines = await handoffs.transcript(s, rt.store.crypto, hid)
    assert [l.text for l in lines if l.author == "note"] == [NOTE]
    assert not any(NOTE.encode() in b for b in bodies)
    noted = await rows(rt.store, audit.NOTED)
    assert [(r.counsellor_id, r.handoff_id) for r in noted] == [(aiko, hid)]
    # Ben may neither read Aiko's conversation (nor its notes) nor write on it.
    await client.post("/console/logout", data={"csrf": token})
    await login(client, "ben")
    token = await csrf_of(client)
    resp = await client.get(f"/console/handoff/{hid}")
    assert resp.status == 403 and NOTE not in await resp.text()
    resp = await client.post(f"/console/handoff/{hid}/note", data={"csrf": token, "note": "mine"},
                             headers={"Accept": "application/json"})
    assert resp.status == 409
    refused = [r for r in await rows(rt.store, audit.REFUSED) if r.detail == "note"]
    assert [r.counsellor_id for r in refused] == [aiko, ben]


async def test_closing_needs_an_outcome_and_a_confirmation_and_keeps_the_wrap_up_note(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    hid = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    await login(client)
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    # Nothing chosen beforehand: the empty choice is the selected one, and the field required.
    assert '<option value="" selected disabled>' in page and '<select id="outcome" name="outcome" required>' in page
    token = await csrf_of(client, f"/console/handoff/{hid}")
    url = f"/console/handoff/{hid}/close"
    resp = await client.post(url, data={"csrf": token, "outcome": "", "note": NOTE})
    assert resp.status == 422 and NOTE in await resp.text()       # what was typed is kept
    resp = await client.post(url, data={"csrf": token, "outcome": "bogus"})
    assert resp.status == 422
    resp = await client.post(url, data={"csrf": token, "outcome": "referred", "note": NOTE})
    text = await resp.text()
    assert resp.status == 200 and "この会話を終えますか" in text and "他の窓口を案内した" in text
    async with rt.store.transaction() as s:
        assert (await handoffs.get_handoff(s, hid)).status == "live"
    resp = await client.post(url, data={"csrf": token, "outcome": "referred", "note": NOTE, "confirm": "yes"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue"
    async with rt.store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        notes = [l.text for l in await handoffs.transcript(s, rt.store.crypto, hid) if l.author == "note"]
    assert (h.status, h.outcome) == ("closed", "referred") and notes == [NOTE]
    # After closing, the counsellor who had it can still add to the wrap-up.
    resp = await client.post(f"/console/handoff/{hid}/note", data={"csrf": token, "note": "later"},
                             allow_redirects=False)
    assert resp.status == 303
