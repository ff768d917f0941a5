"""Open handoffs end (issue 16): a queued one nobody took is closed after
``BOT_HANDOFF_QUEUE_HOURS`` (the person is told, with the 24-hour lines), a live one idle for
``BOT_HANDOFF_IDLE_DAYS`` is closed, and then the normal retention deletes them, kept platform
id included. Counsellors dismiss queued handoffs as spam, one or many, audited."""
import asyncio

from sqlalchemy import select

from bot.store import audit, handoffs
from bot.store.models import AuditEntry
from bot.store.models import Conversation, Handoff
from bot.store.retention import DAY, purge
from tests.handoff.conftest import ask_for_person, say
from tests.handoff.test_console import PASSWORD, csrf_of, login
from tests.handoff.test_service import _counsellor, _keys


async def conversation_of(store, handoff_id):
    async with store.transaction() as s:
        h = await handoffs.get_handoff(s, handoff_id)
        return h, await s.get(Conversation, h.conversation_id)


async def test_a_queued_handoff_nobody_took_is_closed_the_person_told_and_then_purged(
        hruntime, service, store, channel, clock, settings):
    hid = await ask_for_person(hruntime, "u1", store)
    clock.advance(service.queue_seconds - 60)
    assert await service.expire() == 0
    clock.advance(120)
    assert await service.expire() == 1
    await hruntime.drain()
    last = channel.for_user("u1")[-2:]
    assert last[0].keys == ["console.person.expired", "console.person.lines_now"]
    assert any(l.url == "tel:0120279338" for r in last[0].outbound.replies for l in r.links)
    assert last[1].keys[0] == "welcome.hello"                 # and the bot goes on
    h, conv = await conversation_of(store, hid)
    assert (h.status, h.outcome) == ("closed", "expired")
    assert not conv.in_handoff and conv.user_ref_enc is None  # the raw platform id is gone
    async with store.transaction() as s:
        assert [(e.action, e.detail) for e in await audit.trail(s, hid)][-1] == ("expired", "expired")
    # Then the normal retention, as for any closed handoff.
    await purge(store, settings, now=clock.now + settings.conversation_retention_days * DAY + 1)
    async with store.transaction() as s:
        assert (await s.execute(select(Handoff))).first() is None
        assert (await s.execute(select(Conversation))).first() is None


async def test_a_live_handoff_is_closed_after_days_without_a_message(hruntime, service, store, channel, clock):
    quiet = await ask_for_person(hruntime, "u1", store)
    clock.advance(1)  # ask_for_person finds the newest handoff
    busy = await ask_for_person(hruntime, "u2", store)
    aiko = await _counsellor(store, "aiko")
    assert await service.take(quiet, aiko) == "ok" and await service.take(busy, aiko) == "ok"
    clock.advance(service.idle_seconds - 3600)
    await say(hruntime, "u2", "まだいます")                    # the person writes: not idle
    assert await service.reply(quiet, aiko, "元気ですか")       # the counsellor writes: not idle either
    clock.advance(3600 + 60)
    assert await service.expire() == 0
    clock.advance(service.idle_seconds)
    await say(hruntime, "u2", "まだいます")
    assert await service.expire() == 1
    await hruntime.drain()
    h, conv = await conversation_of(store, quiet)
    assert (h.status, h.outcome) == ("closed", "idle") and conv.user_ref_enc is None
    assert "console.person.left" in _keys(channel, "u1")
    assert (await conversation_of(store, busy))[0].status == "live"


async def test_the_watch_closes_expired_handoffs(hruntime, service, store, clock):
    hid = await ask_for_person(hruntime, "u1", store)
    clock.advance(service.queue_seconds + 1)
    watch = asyncio.create_task(service.watch(interval=0.05))
    try:
        for _ in range(100):
            if (await conversation_of(store, hid))[0].status == "closed":
                break
            await asyncio.sleep(0.05)
    finally:
        watch.cancel()
    assert (await conversation_of(store, hid))[0].outcome == "expired"


async def test_dismissing_as_spam_closes_queued_handoffs_only_and_audits_each(hruntime, service, store, channel, clock):
    spam = []
    for i in range(3):
        spam.append(await ask_for_person(hruntime, f"bot{i}", store))
        clock.advance(1)  # ask_for_person finds the newest handoff
    real = await ask_for_person(hruntime, "real", store)
    aiko = await _counsellor(store, "aiko")
    assert await service.take(real, aiko) == "ok"
    assert await service.dismiss_spam(spam + [real, "nonexistent"], aiko, login_id=5) == spam
    await hruntime.drain()
    async with store.transaction() as s:
        for hid in spam:
            h = await handoffs.get_handoff(s, hid)
            assert (h.status, h.outcome, h.origin) == ("closed", "spam", None)
            assert [(e.action, e.counsellor_id, e.login_id) for e in await audit.trail(s, hid)] == \
                [("dismissed_spam", aiko, 5)]
        assert (await handoffs.get_handoff(s, real)).status == "live"
    assert channel.for_user("bot0")[-1].keys[0] == "welcome.hello"   # whoever it was: back to the bot


async def test_the_console_dismisses_one_or_the_ticked_ones(client, web_runtime):
    from bot.handoff.accounts import create_counsellor

    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    for _ in range(3):
        chat = (await (await client.post("/chat/api/start", json={"lang": "ja"})).json())["id"]
        await client.post("/chat/api/send", json={"id": chat, "event_id": "e" * 12, "text": "人と話したい"})
    for _ in range(100):
        async with web_runtime.store.transaction() as s:
            ids = [h.id for h in await handoffs.open_handoffs(s)]
        if len(ids) == 3:
            break
        await asyncio.sleep(0.05)
    await login(client)
    queue = await (await client.get("/console/queue")).text()
    assert all(f'name="ids" value="{hid}"' in queue for hid in ids)
    token = await csrf_of(client)
    assert (await client.post("/console/dismiss", data={"ids": ids[0]})).status == 403   # no CSRF token
    resp = await client.post(f"/console/handoff/{ids[0]}/dismiss", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue"
    resp = await client.post("/console/dismiss", data=[("csrf", token), ("ids", ids[1]), ("ids", ids[2])],
                             allow_redirects=False)
    assert resp.status == 303
    async with web_runtime.store.transaction() as s:
        assert await handoffs.open_handoffs(s) == []
        dismissed = list((await s.execute(select(AuditEntry).where(AuditEntry.action == audit.DISMISSED_SPAM))).scalars())
    assert sorted(e.handoff_id for e in dismissed) == sorted(ids) and all(e.login_id for e in dismissed)
    # Dismissing again is refused, and recorded as refused.
    resp = await client.post("/console/dismiss", data=[("csrf", token), ("ids", ids[0])],
                             headers={"Accept": "application/json"})
    assert resp.status == 409
    async with web_runtime.store.transaction() as s:
        refused = list((await s.execute(select(AuditEntry).where(AuditEntry.action == audit.REFUSED))).scalars())
    assert [(e.handoff_id, e.detail) for e in refused] == [(ids[0], "dismiss")]
