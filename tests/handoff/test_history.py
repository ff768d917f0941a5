"""Issue 15, item 5: a counsellor's history. Only their own closed conversations within the
transcript retention period, read-only, every read audited; anyone else's refused and audited."""
import html
import time

from sqlalchemy import update

from bot.handoff.accounts import create_counsellor
from bot.store import audit, handoffs
from bot.store.models import Handoff
from tests.handoff.test_audit import queued_handoff, rows
from tests.handoff.test_console import PASSWORD, login

DAY = 86400.0


async def _closed(client, rt, counsellor_id: int, note: str = "") -> str:
    hid = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(hid, counsellor_id) == "ok"
    if note:
        async with rt.store.transaction() as s:
            await handoffs.add_line(s, rt.store.crypto, hid, "note", note, time.time())
    assert await rt.handoff_hooks.close(hid, counsellor_id, "referred")
    return hid


async def _age(rt, hid: str, days: float) -> None:
    async with rt.store.transaction() as s:
        await s.execute(update(Handoff).where(Handoff.id == hid).values(closed_at=time.time() - days * DAY))


async def test_history_holds_only_ones_own_closed_conversations_within_retention(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    recent = await _closed(client, rt, aiko)
    older = await _closed(client, rt, aiko)
    expired = await _closed(client, rt, aiko)
    bens = await _closed(client, rt, ben)
    still_open = await queued_handoff(client, rt.store)
    assert await rt.handoff_hooks.take(still_open, aiko) == "ok"
    await _age(rt, older, 2)
    await _age(rt, expired, rt.settings.transcript_retention_days + 1)
    since = time.time() - rt.settings.transcript_retention_days * DAY
    async with rt.store.transaction() as s:
        assert [h.id for h in await handoffs.closed_by(s, aiko, since)] == [recent, older]
        assert [h.id for h in await handoffs.closed_by(s, ben, since)] == [bens]

    await login(client)
    page = await (await client.get("/console/history")).text()
    listed = page.split('id="history-list"')[1]
    assert listed.index(recent) < listed.index(older)
    assert all(h not in page for h in (expired, bens, still_open))
    assert "他の窓口を案内した" in listed   # the outcome in words


async def test_reading_is_audited_and_anyone_elses_is_refused(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    ben = await create_counsellor(rt.store, "ben", PASSWORD)
    mine = await _closed(client, rt, aiko, note="警察の話から始める")
    expired = await _closed(client, rt, aiko)
    bens = await _closed(client, rt, ben)
    await _age(rt, expired, rt.settings.transcript_retention_days + 1)
    async with rt.store.transaction() as s:
        said = [l.text for l in await handoffs.transcript(s, rt.store.crypto, mine) if l.author == "person"]
    await login(client)
    for _ in range(2):
        resp = await client.get(f"/console/history/{mine}")
        assert resp.status == 200
    page = html.unescape(await resp.text())
    assert said and all(text in page for text in said)
    assert "警察の話から始める" in page.split('id="note-lines"')[1]
    # Read-only: no form to reply, close or note.
    assert "<form" not in page.split('id="history-item"')[1].split("</section>")[0]
    opened = [r for r in await rows(rt.store, audit.OPENED) if r.detail == "history"]
    assert [(r.counsellor_id, r.handoff_id) for r in opened] == [(aiko, mine), (aiko, mine)]
    for other in (bens, expired):
        resp = await client.get(f"/console/history/{other}")
        assert resp.status == 403
        text = await resp.text()
        assert "履歴にありません" in text and "警察" not in text
    refused = [r for r in await rows(rt.store, audit.REFUSED) if r.detail == "history"]
    assert [(r.counsellor_id, r.handoff_id) for r in refused] == [(aiko, bens), (aiko, expired)]
    assert (await client.get("/console/history/0123456789abcdef")).status == 404
