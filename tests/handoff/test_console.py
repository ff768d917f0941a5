"""The console over HTTP: login, sessions, CSRF, anonymous visitors refused, what a counsellor
sees (never an identity, a person's HTML as text), and the web chat's API."""
import asyncio
import json
import logging
import re

import pytest

from bot.store import audit, handoffs, switches
from bot.handoff.accounts import create_counsellor

PASSWORD = "correct horse battery"


async def login(client, name="aiko", password=PASSWORD, headers=None):
    page = await client.get("/console/login", headers=headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    return await client.post("/console/login", data={"csrf": csrf, "name": name, "password": password},
                             allow_redirects=False, headers=headers)


async def csrf_of(client, path="/console/queue"):
    page = await client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)


@pytest.fixture
async def counsellor(web_runtime):
    return await create_counsellor(web_runtime.store, "aiko", PASSWORD)


async def test_every_console_route_refuses_an_anonymous_visitor(client):
    routes = [(r.method, r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/console")]
    assert len(routes) >= 12
    checked = 0
    for method, path in routes:
        if path == "/console/login" or method == "HEAD":
            continue
        if path == "/console/login/code":     # the login's second step: public, but not without its token
            resp = await client.post(path, allow_redirects=False, data={"csrf": "x", "pending": "x", "code": "1"})
            assert resp.status == 403 and "console_session" not in resp.cookies
            continue
        url = path.replace("{id}", "0123abcd")
        resp = await client.request(method, url, allow_redirects=False, data={"csrf": "x", "text": "hi"})
        if method == "GET":
            assert resp.status == 303 and resp.headers["Location"] == "/console/login", (method, path)
        else:
            assert resp.status == 401, (method, path)
        checked += 1
    events = await client.get("/console/events", headers={"Accept": "text/event-stream"})
    assert events.status == 401
    assert checked >= 11


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(client, counsellor):
    resp = await login(client)
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue"
    cookie = resp.headers.getall("Set-Cookie")
    session = [c for c in cookie if c.startswith("console_session=")][0]
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Secure" not in session
    assert (await client.get("/console/queue", allow_redirects=False)).status == 200
    token = await csrf_of(client)
    resp = await client.post("/console/logout", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/console/queue", allow_redirects=False)).status == 303


async def test_cookies_are_secure_behind_tls_only_from_a_trusted_proxy(client, web_runtime, counsellor):
    # Over TLS (here: as a proxy named in BOT_TRUSTED_PROXIES says), cookies are Secure and
    # __Host- prefixed; the test client speaks plain HTTP and so would not send them back.
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    from tests.handoff.conftest import assemble_web

    resp = await client.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Set-Cookie"].startswith("console_login="), "an untrusted peer's header counted"

    behind = web_runtime.settings.model_copy(update={"trusted_proxies": "127.0.0.1/32"})
    app = build_app(assemble_web(behind, web_runtime.store))
    async with TestClient(TestServer(app)) as behind_proxy:
        resp = await behind_proxy.get("/console/login", headers={"X-Forwarded-Proto": "https"})
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("__Host-console_login=") and "Secure" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie


async def test_wrong_passwords_are_throttled(client, counsellor):
    from bot.handoff.security import FIRST_DELAY, FREE_PER_NAME_AND_ADDRESS

    for _ in range(FREE_PER_NAME_AND_ADDRESS):
        assert (await login(client, password="wrong password")).status == 401
    resp = await login(client)  # even the right password waits now, from this address
    assert resp.status == 429 and int(resp.headers["Retry-After"]) == FIRST_DELAY
    assert "seconds" in await resp.text() or "秒" in await resp.text()


async def test_a_form_without_its_csrf_token_is_refused(client, counsellor, web_runtime):
    # The login form itself.
    resp = await client.post("/console/login", data={"name": "aiko", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    await login(client)
    for data in ({"on": "1"}, {"on": "1", "csrf": "forged"}):
        resp = await client.post("/console/hours", data=data, allow_redirects=False)
        assert resp.status == 403
    async with web_runtime.store.transaction() as s:
        assert not await switches.switch_is_on(s)
    resp = await client.post("/console/hours", data={"on": "1", "csrf": await csrf_of(client)}, allow_redirects=False)
    assert resp.status == 303
    async with web_runtime.store.transaction() as s:
        assert await switches.switch_is_on(s)


async def chat_start(client):
    resp = await client.post("/chat/api/start", json={"lang": "ja"})
    assert resp.status == 200
    assert "Set-Cookie" not in resp.headers and resp.headers["Cache-Control"] == "no-store"
    return (await resp.json())["id"]


async def chat_send(client, chat_id, text="", choice="", from_state=None):
    import secrets

    body = {"id": chat_id, "event_id": secrets.token_hex(8), "lang": "ja"}
    body.update({"choice": choice, "from_state": from_state} if choice else {"text": text})
    resp = await client.post("/chat/api/send", json=body)
    assert resp.status == 200, await resp.text()


class Stream:
    """Reads the page's event stream like the browser does."""

    def __init__(self, client, chat_id):
        self.client, self.chat_id, self.resp = client, chat_id, None

    async def next(self, timeout=10.0):
        if self.resp is None:
            self.resp = await self.client.post("/chat/api/stream", json={"id": self.chat_id, "after": 0})
            assert self.resp.headers["Content-Type"].startswith("text/event-stream")
        async def read():
            while True:
                line = (await self.resp.content.readline()).decode()
                if line.startswith("data: "):
                    return json.loads(line[6:])
        return await asyncio.wait_for(read(), timeout)

    async def until(self, predicate, timeout=10.0):
        while True:
            message = await self.next(timeout)
            if predicate(message):
                return message

    def close(self):
        if self.resp is not None:
            self.resp.close()


async def test_web_chat_to_console_and_back_never_shows_an_identity(client, counsellor, web_runtime, caplog):
    caplog.set_level(logging.DEBUG, logger="bot")  # our logs (a driver's debug log prints SQL parameters)
    page = await client.get("/chat")
    assert page.status == 200 and "Set-Cookie" not in page.headers
    assert page.headers["Cache-Control"] == "no-store" and "script-src 'self'" in page.headers["Content-Security-Policy"]
    chat_id = await chat_start(client)
    stream = Stream(client, chat_id)
    first = await stream.next()
    assert first["kind"] == "turn" and first["replies"][-1]["choices"]
    await chat_send(client, chat_id, "人と話したい")
    await stream.until(lambda m: any(r["text"] == "相談員につなぎます。" for r in m["replies"]))
    secret_text = "<script>alert('x')</script><b>help</b>"
    await chat_send(client, chat_id, secret_text)

    await login(client)
    for _ in range(50):
        async with web_runtime.store.transaction() as s:
            rows = await handoffs.open_handoffs(s)
            lines = await handoffs.transcript(s, web_runtime.store.crypto, rows[0].id) if rows else []
        if any(l.text == secret_text for l in lines):
            break
        await asyncio.sleep(0.05)
    hid = rows[0].id
    async with web_runtime.store.transaction() as s:
        from bot.store.models import Conversation
        conv = await s.get(Conversation, rows[0].conversation_id)
        pseudonym = conv.pseudonym
    queue = await (await client.get("/console/queue")).text()
    assert hid in queue
    handoff = await (await client.get(f"/console/handoff/{hid}")).text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b&gt;help&lt;/b&gt;" in handoff
    assert "<script>alert" not in handoff and "<b>help" not in handoff
    messages = await (await client.get(f"/console/handoff/{hid}/messages")).text()
    # The alert strip's snapshot: who waits, since when; nothing they wrote, nothing of who.
    alerts = await (await client.get("/console/alerts", headers={"X-Console-Live": "1"})).text()
    snapshot = json.loads(alerts)
    assert [w["id"] for w in snapshot["waiting"]] == [hid] and snapshot["mine"] == []
    assert snapshot["waiting"][0]["since"] == rows[0].queued_at and snapshot["waiting"][0]["last_person_at"]
    assert "help" not in alerts and "人と話したい" not in alerts
    for body in (queue, handoff, messages, alerts):
        assert chat_id not in body and pseudonym not in body

    resp = await client.post(f"/console/handoff/{hid}/take", data={"csrf": await csrf_of(client)}, allow_redirects=False)
    assert resp.status == 303
    await stream.until(lambda m: m["kind"] == "notice")
    snapshot = await (await client.get("/console/alerts")).json()
    assert snapshot["waiting"] == [] and snapshot["mine"] == [hid]   # now in a conversation
    token = await csrf_of(client, f"/console/handoff/{hid}")
    resp = await client.post(f"/console/handoff/{hid}/reply", data={"csrf": token, "text": "Hello, I am Aiko."},
                             allow_redirects=False)
    assert resp.status == 303
    answer = await stream.until(lambda m: m["kind"] == "counsellor")
    assert answer["replies"][0]["text"] == "Hello, I am Aiko."
    # Closing asks for the outcome (nothing chosen beforehand), then for a confirmation.
    resp = await client.post(f"/console/handoff/{hid}/close", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 422 and "結果を選んでください" in await resp.text()
    resp = await client.post(f"/console/handoff/{hid}/close", data={"csrf": token, "outcome": "resolved",
                                                                     "note": "wrap-up <i>x</i>"}, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 200 and 'id="confirm-close"' in page and "wrap-up &lt;i&gt;x&lt;/i&gt;" in page
    async with web_runtime.store.transaction() as s:
        assert (await handoffs.get_handoff(s, hid)).status == "live"     # not yet
    resp = await client.post(f"/console/handoff/{hid}/close", data={"csrf": token, "outcome": "resolved",
                                                                     "note": "wrap-up <i>x</i>", "confirm": "yes"},
                             allow_redirects=False)
    assert resp.status == 303
    back = await stream.until(lambda m: m["kind"] == "turn")
    assert back["replies"][0]["text"].startswith("こんにちは")
    stream.close()
    async with web_runtime.store.transaction() as s:
        trail = [e.action for e in await audit.trail(s, hid)]
    assert trail[:1] == ["opened"] and {"took", "answered", "closed"} <= set(trail)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("bot"))
    assert "handoff.taken" in logged
    for secret in (chat_id, pseudonym, "alert('x')", "Hello, I am Aiko.", "人と話したい"):
        assert secret not in logged


async def test_chat_refuses_bad_requests(client):
    assert (await client.post("/chat/api/send", json={"id": "short", "event_id": "abcdefgh", "text": "x"})).status == 400
    assert (await client.post("/chat/api/send", data="id=x")).status == 415
    chat_id = await chat_start(client)
    assert (await client.post("/chat/api/send", json={"id": chat_id, "event_id": "abcdefgh"})).status == 400
    # The page's "may have left" signal: only its own codes, only for an id the server issued.
    assert (await client.post("/chat/api/left", json={"id": chat_id, "reason": "bored"})).status == 400
    assert (await client.post("/chat/api/left", json={"id": "x" * 46, "reason": "quick_exit"})).status == 400
    assert (await client.post("/chat/api/left", json={"id": chat_id, "reason": "quick_exit"})).status == 200
