"""Issue 15, item 2: what the person typed to the bot before asking for a person. Kept sealed
(``person_messages``), bounded (the last ``said.KEEP``, each at most ``said.MAX_CHARS``), written
by the turn's own transaction; shown only to the counsellor who takes the handoff (not in the
queue, not to a colleague); erased when the handoff closes, on "forget me", when the session
starts afresh after the flow's expiry, and by the purge once the conversation is idle past it."""
from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import func, select

from bot.handoff.accounts import create_counsellor
from bot.store import handoffs, retention, said
from bot.store.models import Conversation, PersonMessage
from tests.handoff.conftest import ask_for_person, say
from tests.handoff.test_console import PASSWORD, chat_send, chat_start, csrf_of, login


async def _rows(store) -> list:
    async with store.transaction() as s:
        return list((await s.execute(select(PersonMessage).order_by(PersonMessage.seq))).scalars())


async def _texts(store, conversation_id=None) -> list[str]:
    async with store.transaction() as s:
        if conversation_id is None:
            conversation_id = (await s.execute(select(Conversation.id))).scalar_one()
        return [m.text for m in await said.read(s, store.crypto, conversation_id)]


# ---- kept, sealed, bounded ------------------------------------------------------------------------

async def test_each_text_is_sealed_in_the_turns_transaction_and_the_last_30_are_kept(hruntime, store, service):
    marker = "marker-" + secrets.token_hex(6)
    await say(hruntime, "U1", kind="start")
    for i in range(34):
        await say(hruntime, "U1", f"{marker} {i}")
    await say(hruntime, "U1", "あ" * 2000)           # a long one is cut
    await say(hruntime, "U1", choice="evidence")       # a tap is not something they wrote
    rows = await _rows(store)
    assert len(rows) == said.KEEP
    assert not any(marker.encode() in bytes(r.body_enc) for r in rows)   # sealed at rest
    texts = await _texts(store)
    assert texts[:-1] == [f"{marker} {i}" for i in range(5, 34)]           # the newest 30, in order
    assert texts[-1] == "あ" * (said.MAX_CHARS - 1) + "…"
    # A row moved to another conversation (or another number) does not open.
    async with store.transaction() as s:
        row = (await s.execute(select(PersonMessage).order_by(PersonMessage.seq.desc()).limit(1))).scalar_one()
        row.seq = row.seq + 1000
    assert (await _texts(store))[-1] == "…"


async def test_what_is_relayed_to_a_counsellor_is_the_transcripts_not_kept_twice(hruntime, store, service):
    await say(hruntime, "U2", "先輩に写真を送れと言われた")
    hid = await ask_for_person(hruntime, "U2", store)
    await say(hruntime, "U2", "まだですか")   # relayed: in the transcript
    assert await _texts(store) == ["先輩に写真を送れと言われた", "こんにちは", "人と話したい"]
    async with store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        assert [m.text for m in await said.before_handoff(s, store.crypto, h)] == \
            ["先輩に写真を送れと言われた", "こんにちは", "人と話したい"]
        assert "まだですか" in [line.text for line in await handoffs.transcript(s, store.crypto, hid)]


# ---- erased ---------------------------------------------------------------------------------------

async def test_closing_the_handoff_erases_them(hruntime, store, service):
    hid = await ask_for_person(hruntime, "U3", store)
    assert len(await _rows(store)) == 2
    async with store.transaction() as s:
        assert await handoffs.close(s, hid, "resolved", hruntime.clock())
    assert await _rows(store) == []
    await say(hruntime, "U3", "またきました")   # the conversation goes on: a fresh start of what is kept
    assert await _texts(store) == ["またきました"]


async def test_forget_me_erases_them_with_the_conversation(hruntime, store, service):
    await say(hruntime, "U4", "こんにちは")
    await say(hruntime, "U5", "こんばんは")
    assert len(await _rows(store)) == 2
    await say(hruntime, "U4", "記録を消して")
    assert [r.seq for r in await _rows(store)] == [1] and await _texts(store) == ["こんばんは"]


async def test_a_session_past_the_flows_expiry_starts_without_them_and_the_purge_erases_idle_ones(
        hruntime, store, service, clock, settings, flow):
    await say(hruntime, "U5", "こんにちは")
    await say(hruntime, "U6", "こんばんは")
    clock.advance(flow.expiry_seconds + 60)
    await say(hruntime, "U5", "また来ました")       # a new session: what came before is gone
    async with store.transaction() as s:
        cids = dict((await s.execute(select(Conversation.pseudonym, Conversation.id))).all())
    texts = {cid: await _texts(store, cid) for cid in cids.values()}
    assert sorted(texts.values()) == [["こんばんは"], ["また来ました"]]
    # U6 wrote nothing since: the purge erases theirs, not U5's (active now).
    counts = await retention.purge(store, settings, now=clock(), said_seconds=flow.expiry_seconds)
    assert counts["person_messages"] == 1
    assert [r.seq for r in await _rows(store)] == [2]


async def test_an_open_handoff_keeps_them_past_the_expiry(hruntime, store, service, clock, settings, flow):
    await ask_for_person(hruntime, "U7", store)
    clock.advance(flow.expiry_seconds + 60)
    counts = await retention.purge(store, settings, now=clock(), said_seconds=flow.expiry_seconds)
    assert counts["person_messages"] == 0 and len(await _rows(store)) == 2


# ---- shown to the counsellor who takes it, no one else --------------------------------------------

async def _wait_for_handoff(store) -> str:
    for _ in range(200):
        async with store.transaction() as s:
            open_ = await handoffs.open_handoffs(s)
        if open_:
            return open_[0].id
        await asyncio.sleep(0.05)
    raise AssertionError("no handoff")


async def test_only_the_counsellor_who_took_it_sees_them_and_not_after_the_close(serve):
    client, rt = await serve()
    aiko = await create_counsellor(rt.store, "aiko", PASSWORD)
    await create_counsellor(rt.store, "ben", PASSWORD)
    story = "部活の先輩に写真を広めると言われた-" + secrets.token_hex(4)
    chat_id = await chat_start(client)
    await chat_send(client, chat_id, story)
    await chat_send(client, chat_id, "人と話したい")
    hid = await _wait_for_handoff(rt.store)
    await login(client)
    assert story not in await (await client.get("/console/queue")).text()
    assert story not in await (await client.get("/console/queue?fragment=1")).text()
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert story not in page and 'id="said"' not in page             # queued: nobody's yet
    assert await rt.handoff_hooks.take(hid, aiko) == "ok"
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    said_part = page.split('id="said-lines"')[1].split("</ol>")[0]
    assert story in said_part and "人と話したい" in said_part
    assert "相談者がボットに書いたこと" in page
    assert story not in str(await (await client.get(f"/console/handoff/{hid}/messages?after=0")).json())
    # Ben, another counsellor, opens the same conversation: not for him.
    token = await csrf_of(client)
    await client.post("/console/logout", data={"csrf": token})
    await login(client, "ben")
    page = await (await client.get(f"/console/handoff/{hid}")).text()
    assert story not in page and 'id="said"' not in page
    # Aiko closes it: erased.
    async with rt.store.transaction() as s:
        assert await handoffs.close(s, hid, "resolved", 0.0 + 1e10, counsellor_id=aiko)
    assert await _rows(rt.store) == []


# ---- crisis words written while waiting: the packet says them too --------------------------------

async def test_crisis_words_written_during_the_handoff_reach_its_sealed_packet(hruntime, store, service, flow):
    from bot.handoff.packet import in_words

    hid = await ask_for_person(hruntime, "U8", store)
    async with store.transaction() as s:
        assert handoffs.open_context(store.crypto, await handoffs.get_handoff(s, hid))["triggers"] == []
    await say(hruntime, "U8", "もう死にたい")
    await say(hruntime, "U8", "もう死にたい")      # the same words again: said once
    async with store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
        context = handoffs.open_context(store.crypto, h)
    assert h.is_crisis and context["triggers"] == [["relay:crisis", "person", "死にたい"]]
    assert "死にたい".encode() not in h.context_json.encode()
    assert in_words(flow, context, "ja", "memory", "ja")["triggers"] == ["「死にたい」という言葉"]
    assert context["path"] and context["locale"] == "ja"        # the rest of the packet is kept
