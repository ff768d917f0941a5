"""Issue 15, item 6: the person may have left. Their page's signals (quick exit, the tab closed)
and silence mark an open handoff; a message from them, or their page coming back, clears it."""
from bot.handoff import presence
from bot.store import audit, handoffs
from bot.store.models import Counsellor
from tests.handoff.conftest import ask_for_person, say


async def _reasons(store, clock, silent=600.0):
    async with store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        return await presence.left_reasons(s, rows, clock(), silent)


async def test_quick_exit_marks_the_handoff_until_the_person_writes_again(hruntime, service, store, clock):
    hid = await ask_for_person(hruntime, "u1", store)
    assert await _reasons(store, clock) == {}
    assert await service.on_person_left("memory", "u1", "quick_exit") == hid
    assert await _reasons(store, clock) == {hid: "quick_exit"}
    clock.advance(5)
    await say(hruntime, "u1", "まだいます")
    assert await _reasons(store, clock) == {}
    # The tab closed; then the page came back (a reload): not gone after all.
    clock.advance(5)
    await service.on_person_left("memory", "u1", "page_hide")
    assert await _reasons(store, clock) == {hid: "page_hide"}
    clock.advance(5)
    await service.on_person_left("memory", "u1", "back")
    assert await _reasons(store, clock) == {}
    async with store.transaction() as s:
        actions = [e.action for e in await audit.trail(s, hid)]
    assert actions.count(audit.PERSON_LEFT) == 2 and actions.count(audit.PERSON_BACK) == 1


async def test_signals_without_an_open_handoff_or_unknown_are_ignored(hruntime, service, store, clock):
    await say(hruntime, "u2", "こんにちは")
    assert await service.on_person_left("memory", "u2", "quick_exit") is None     # no handoff
    assert await service.on_person_left("memory", "nobody", "quick_exit") is None
    await ask_for_person(hruntime, "u3", store)
    assert await service.on_person_left("memory", "u3", "something else") is None
    assert await service.on_person_left("memory", "u3", "back") is not None     # nothing to clear
    async with store.transaction() as s:
        rows = await handoffs.open_handoffs(s)
        assert not [e for e in await audit.trail(s, rows[0].id) if e.action in (audit.PERSON_LEFT, audit.PERSON_BACK)]


async def test_silence_in_a_live_conversation(hruntime, service, store, clock):
    hid = await ask_for_person(hruntime, "u1", store)
    async with store.transaction() as s:
        s.add(Counsellor(name="aiko", password_hash="x", created_at=0.0))
    async with store.transaction() as s:
        from sqlalchemy import select
        cid = (await s.execute(select(Counsellor.id))).scalar_one()
    clock.advance(20 * 60)
    assert await _reasons(store, clock) == {}          # queued: waiting is not silence
    assert await service.take(hid, cid) == "ok"
    clock.advance(9 * 60)
    assert await _reasons(store, clock) == {}
    clock.advance(2 * 60)
    assert await _reasons(store, clock) == {hid: "silence"}
    await say(hruntime, "u1", "ごめん、いました")
    assert await _reasons(store, clock) == {}
