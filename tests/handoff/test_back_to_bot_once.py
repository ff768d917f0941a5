"""Issue 14, fix 10: after a counsellor closes, one message says the bot is back, not three.

Runs the handoff with the real first-contact flow and its texts (not the mini fixture flow), so
that the flow's ``handoff_return`` state and the console's goodbye are the ones people see.
"""
import pytest

from bot.store import counsellors
from bot.reload import BundleHolder
from tests.handoff.conftest import ask_for_person, say
from tests.handoff.support import ROOT

# The words each locale uses when a text tells the person that the bot answers again.
BOT_WORD = {"ja": "ボット", "en": "bot"}


@pytest.fixture
def holder():
    return BundleHolder(ROOT / "flows", ROOT / "locales", "first_contact")


async def _close_after_a_reply(hruntime, service, store, channel, user):
    hid = await ask_for_person(hruntime, user, store)
    async with store.transaction() as s:
        cid = (await counsellors.add_counsellor(s, "aiko", "x", 0.0)).id
    assert await service.take(hid, cid) == "ok"
    assert await service.reply(hid, cid, "I am here.")
    await hruntime.drain()
    before = len(channel.for_user(user))
    assert await service.close(hid, cid, "resolved")
    await hruntime.drain()
    return channel.for_user(user)[before:]


async def test_after_a_counsellor_closes_one_message_says_the_bot_is_back(hruntime, service, store, channel, holder):
    after = await _close_after_a_reply(hruntime, service, store, channel, "u1")
    flow = holder.flow
    # The goodbye from the counsellor side, then the flow's handoff_return state: nothing else.
    assert [d.outbound.kind for d in after] == ["notice", "turn"]
    keys = [k for d in after for k in d.keys]
    assert keys[0] == "console.person.left"
    assert keys[1:] == list(flow.states[flow.handoff_return].say)
    locale = after[-1].outbound.meta.get("locale", "ja")
    texts = [t for d in after for t in d.texts]
    saying_back = [t for t in texts if BOT_WORD[locale] in t.lower()]
    assert len(saying_back) == 1, texts


async def test_a_live_handoff_closed_for_idleness_also_says_it_once(hruntime, service, store, channel, clock, holder):
    hid = await ask_for_person(hruntime, "u3", store)
    async with store.transaction() as s:
        cid = (await counsellors.add_counsellor(s, "ben", "x", 0.0)).id
    assert await service.take(hid, cid) == "ok"
    await hruntime.drain()
    before = len(channel.for_user("u3"))
    clock.advance(service.idle_seconds + 60)
    assert await service.expire() == 1
    await hruntime.drain()
    after = channel.for_user("u3")[before:]
    keys = [k for d in after for k in d.keys]
    assert keys[0] == "console.person.left" and "console.person.closing" not in keys
    assert keys[1:] == list(holder.flow.states[holder.flow.handoff_return].say)
    texts = [t for d in after for t in d.texts]
    assert len([t for t in texts if BOT_WORD["ja"] in t]) == 1, texts


async def test_the_bot_goes_on_after_the_close(hruntime, service, store, channel):
    await _close_after_a_reply(hruntime, service, store, channel, "u2")
    await say(hruntime, "u2", "1")
    assert channel.for_user("u2")[-1].outbound.kind == "turn"
