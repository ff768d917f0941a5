"""The handoff through the real runtime: queue order, taking (one wins), relaying both ways,
closing back to the bot, out of hours, the switch, nobody answered."""
import asyncio

from bot.store import audit, counsellors, handoffs
from bot.handoff.service import BACK_TO_BOT
from tests.handoff.conftest import ask_for_person, say


async def _counsellor(store, name):
    async with store.transaction() as s:
        return (await counsellors.add_counsellor(s, name, "x", 0.0)).id


def _keys(channel, user):
    return [k for d in channel.for_user(user) for k in d.keys]


async def test_queue_order_is_crisis_first_then_waiting_time(hruntime, service, store, clock):
    old = await ask_for_person(hruntime, "u-old", store)
    clock.advance(60)
    new = await ask_for_person(hruntime, "u-new", store)
    clock.advance(60)
    await say(hruntime, "u-crisis", "こんにちは")
    await say(hruntime, "u-crisis", "死にたい")        # crisis interrupt: risk flagged
    await say(hruntime, "u-crisis", "人と話したい")
    async with store.transaction() as s:
        order = [h.id for h in await handoffs.open_handoffs(s)]
    assert order[1:] == [old, new] and order[0] not in (old, new)


async def test_a_crisis_word_while_queued_moves_up_and_gives_the_lines_at_once(hruntime, service, store, channel, clock):
    first = await ask_for_person(hruntime, "u1", store)
    clock.advance(30)
    later = await ask_for_person(hruntime, "u2", store)
    await say(hruntime, "u2", "もう死にたい")
    async with store.transaction() as s:
        assert [h.id for h in await handoffs.open_handoffs(s)] == [later, first]
    assert "console.person.lines_now" in _keys(channel, "u2")
    links = [l for d in channel.for_user("u2") for r in d.outbound.replies for l in r.links]
    assert any(l.resource == "yorisoi" and l.url == "tel:0120279338" for l in links)


async def test_two_counsellors_take_the_same_conversation_one_wins(hruntime, service, store, channel):
    hid = await ask_for_person(hruntime, "u1", store)
    a, b = await _counsellor(store, "a"), await _counsellor(store, "b")
    results = await asyncio.gather(service.take(hid, a), service.take(hid, b))
    assert sorted(results) == ["ok", "taken"]
    await hruntime.drain()
    assert _keys(channel, "u1").count("console.person.joined") == 1


async def test_relay_both_ways_and_close_returns_to_the_bot(hruntime, service, store, channel):
    hid = await ask_for_person(hruntime, "u1", store)
    cid = await _counsellor(store, "aiko")
    assert await service.take(hid, cid) == "ok"
    await say(hruntime, "u1", "hello <b>there</b>")
    assert await service.reply(hid, cid, "I am here.")
    other = await _counsellor(store, "ben")
    assert not await service.reply(hid, other, "not mine")
    assert not await service.close(hid, other, "resolved")
    assert await service.close(hid, cid, "resolved")
    assert not await service.close(hid, cid, "resolved")
    await hruntime.drain()
    deliveries = channel.for_user("u1")
    assert [d.outbound.kind for d in deliveries][-4:] == ["notice", "counsellor", "notice", "turn"]
    assert deliveries[-3].texts == ["I am here."]
    assert deliveries[-2].keys == ["console.person.left"]
    assert deliveries[-1].keys[0] == "welcome.hello"       # the flow's handoff_return
    # The bot goes on: the next message runs the engine again.
    await say(hruntime, "u1", "1")
    assert channel.for_user("u1")[-1].outbound.kind == "turn"
    async with store.transaction() as s:
        lines = await handoffs.transcript(s, store.crypto, hid)
        trail = [(e.action, e.counsellor_id) for e in await audit.trail(s, hid)]
        h = await handoffs.get_handoff(s, hid)
    assert ("person", "hello <b>there</b>") in [(l.author, l.text) for l in lines]
    assert ("counsellor", "I am here.") in [(l.author, l.text) for l in lines]
    assert trail == [("took", cid), ("answered", cid), ("closed", cid)]
    assert (h.status, h.outcome) == ("closed", "resolved")


async def test_out_of_hours_the_person_is_told_when_and_given_the_lines(hruntime, service, store, channel, clock):
    clock.advance(11 * 3600)  # 23:00 in Tokyo: closed until 10:00 tomorrow
    hid = await ask_for_person(hruntime, "u1", store)
    deliveries = channel.for_user("u1")
    notice = [k for d in deliveries if d.outbound.kind == "notice" for k in d.keys]
    assert notice == ["console.person.out_of_hours", "console.person.lines_now", "console.person.leave_message"]
    texts = [t for d in deliveries for t in d.texts]
    assert any("明日 10:00" in t for t in texts)
    last = deliveries[-1].outbound.replies[-1]
    assert [c.id for c in last.choices] == [BACK_TO_BOT]
    # A message left for the morning is kept and acknowledged once.
    await say(hruntime, "u1", "please call back")
    await say(hruntime, "u1", "thanks")
    assert _keys(channel, "u1").count("console.person.message_left") == 1
    async with store.transaction() as s:
        assert (await handoffs.get_handoff(s, hid)).left_message
    # Tapping "back to the bot" leaves the queue, and the bot answers again.
    await say(hruntime, "u1", choice=BACK_TO_BOT)
    async with store.transaction() as s:
        h = await handoffs.get_handoff(s, hid)
    assert (h.status, h.outcome) == ("closed", "person_left")
    assert channel.for_user("u1")[-1].keys[0] == "welcome.hello"


async def test_switch_nobody_can_answer_now(hruntime, service, store, channel):
    cid = await _counsellor(store, "aiko")
    await service.set_unavailable(cid, True)
    await ask_for_person(hruntime, "u1", store)
    notice = [d for d in channel.for_user("u1") if d.outbound.kind == "notice"][0]
    assert notice.keys[0] == "console.person.unavailable"
    assert "明日 10:00" in notice.texts[0]  # back at the next shift, not "now"
    await service.set_unavailable(cid, False)
    assert (await service.availability()).available


async def test_nobody_answered_within_the_wait(hruntime, service, store, channel, clock):
    hid = await ask_for_person(hruntime, "u1", store)
    assert [d for d in channel.for_user("u1") if d.outbound.kind == "notice"] == []
    clock.advance(9 * 60)
    assert await service.check_waiting() == 0
    clock.advance(2 * 60)
    assert await service.check_waiting() == 1
    await hruntime.drain()
    notice = [k for d in channel.for_user("u1") if d.outbound.kind == "notice" for k in d.keys]
    assert notice == ["console.person.nobody_answered", "console.person.lines_now", "console.person.leave_message"]
    assert await service.check_waiting() == 0  # told once
    cid = await _counsellor(store, "aiko")
    assert await service.take(hid, cid) == "ok"  # still in the queue: a counsellor may take it later


async def test_still_waiting_is_told_at_intervals_with_the_wait_so_far_until_nobody_answered(
        hruntime, service, store, channel, clock):
    hid = await ask_for_person(hruntime, "u1", store)
    assert await service.check_still_waiting() == 0        # not yet an interval
    clock.advance(4 * 60 + 5)
    assert await service.check_still_waiting() == 1
    assert await service.check_still_waiting() == 0        # once per interval
    clock.advance(4 * 60)
    assert await service.check_still_waiting() == 1
    await hruntime.drain()
    notices = [d for d in channel.for_user("u1") if d.outbound.kind == "waiting"]
    assert [d.keys for d in notices] == [["console.person.still_waiting"]] * 2
    assert "4分" in notices[0].texts[0] and "8分" in notices[1].texts[0]
    # After "nobody answered" the person has the lines and a choice: no more nudges.
    clock.advance(4 * 60)
    assert await service.check_waiting() == 1
    assert await service.check_still_waiting() == 0
    # Nor once a counsellor has taken it.
    other = await ask_for_person(hruntime, "u2", store)
    assert await service.take(other, await _counsellor(store, "aiko")) == "ok"
    clock.advance(5 * 60)
    assert await service.check_still_waiting() == 0
    async with store.transaction() as s:
        assert (await handoffs.get_handoff(s, hid)).status == "queued"
