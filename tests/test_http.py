"""The web plumbing: headers on every response, HSTS over TLS, the console over HTTPS only in
production, forwarded headers believed only from trusted proxies (issue 16, item 12); the
address limits count by, and the in-memory rate limits."""
from __future__ import annotations

import asyncio
import datetime as dt
import ssl

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.app import assemble, build_app
from bot.channels.memory import MemoryChannel
from bot.http import SERVER_NAME, RateLimit, address_key, came_over_https
from bot.settings import ProxyTrust, Settings, SettingsError
from bot.store import Store

from .conftest import MINI, SECRET


@pytest.fixture
async def make_client(tmp_path, mini_holder):
    made = []

    async def make(**overrides) -> TestClient:
        values = dict(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=SECRET.decode(), BOT_FLOWS_DIR=MINI / "flows",
                      BOT_LOCALES_DIR=MINI / "locales", BOT_FLOW="mini", DATABASE_URL="",
                      LINE_CHANNEL_SECRET="0123456789abcdef0123456789abcdef", LINE_CHANNEL_ACCESS_TOKEN="t")
        values.update(overrides)
        settings = Settings(**values)
        process = assemble(settings, holder=mini_holder, store=Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", SECRET))
        rt = process.runtime
        rt.register_channel(MemoryChannel("memory"))
        await rt.start(run_worker=False)
        client = TestClient(TestServer(build_app(process), host="127.0.0.1"))
        await client.start_server()
        made.append((client, rt))
        return client

    yield make
    for client, rt in made:
        await client.close()
        await rt.stop()


async def test_every_response_says_nosniff_and_no_server_version(make_client):
    client = await make_client(BOT_METRICS_TOKEN="tok-0123456789")
    answers = [
        await client.get("/healthz"), await client.get("/readyz"),
        await client.get("/metrics", headers={"Authorization": "Bearer tok-0123456789"}),
        await client.get("/metrics"),                                  # 401
        await client.post("/line/webhook", data=b"{}"),                # 400: no signature
        await client.get("/static/console.css"), await client.get("/static/nothing.css"),
        await client.get("/chat"), await client.get("/console/login"), await client.get("/no/such/page"),
    ]
    for resp in answers:
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", (resp.url, resp.status)
        assert resp.headers.get("Server") == SERVER_NAME, (resp.url, resp.headers.get("Server"))
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP here
    assert {r.status for r in answers} >= {200, 400, 401, 404}


async def test_a_malformed_request_gets_no_server_version_either(make_client):
    client = await make_client()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = (await asyncio.wait_for(reader.read(4096), 10)).decode(errors="replace")
    writer.close()
    assert head.split("\r\n")[0].endswith("400 Bad Request") and f"Server: {SERVER_NAME}\r\n" in head and "aiohttp" not in head


async def test_hsts_only_when_a_trusted_proxy_says_https(make_client):
    trusting = await make_client(BOT_TRUSTED_PROXIES="127.0.0.1/32")
    resp = await trusting.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in (await trusting.get("/healthz")).headers
    nobody = await make_client()
    resp = await nobody.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers  # anyone can send that header


async def test_hsts_over_tls(tmp_path, mini_holder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    settings = Settings(BOT_DATA_DIR=tmp_path, BOT_SECRET_KEY=SECRET.decode(), BOT_FLOWS_DIR=MINI / "flows",
                        BOT_LOCALES_DIR=MINI / "locales", BOT_FLOW="mini", DATABASE_URL="")
    process = assemble(settings, holder=mini_holder, store=Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", SECRET))
    rt = process.runtime
    await rt.start(run_worker=False)
    server = TestServer(build_app(process), host="127.0.0.1", scheme="https")
    await server.start_server(ssl=server_ctx)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.make_url("/healthz"), ssl=False) as resp:
                assert resp.status == 200 and resp.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        await server.close()
        await rt.stop()


async def test_the_console_needs_https_in_production(make_client, tmp_path):
    production = dict(BOT_ENV="production", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    plain = await make_client(**production)
    resp = await plain.get("/console/login")
    assert resp.status == 403 and "HTTPS" in await resp.text()
    resp = await plain.get("/console/login", headers={"X-Forwarded-Proto": "https"})  # not from a trusted proxy
    assert resp.status == 403
    assert (await plain.get("/chat")).status == 200  # the web chat is not the console
    proxied = await make_client(**production, BOT_TRUSTED_PROXIES="1")
    assert (await proxied.get("/console/login", headers={"X-Forwarded-Proto": "https"})).status == 200
    assert (await proxied.get("/console/login", headers={"X-Forwarded-Proto": "http"})).status == 403


def test_https_is_believed_from_the_outermost_trusted_proxy():
    # The entry the outermost trusted proxy wrote: the hops-th from the right.
    two = ProxyTrust.parse("2")
    nets = ProxyTrust.parse("10.0.0.0/8, 127.0.0.1")
    assert came_over_https(tls=False, peer="10.0.0.1", forwarded_proto="http, https, http", trusted=two)
    assert not came_over_https(tls=False, peer="10.0.0.1", forwarded_proto="https, http, http", trusted=two)
    assert came_over_https(tls=False, peer="10.0.0.1", forwarded_proto="https", trusted=two)
    assert not came_over_https(tls=False, peer="192.0.2.1", forwarded_proto="https", trusted=nets)
    assert came_over_https(tls=True, peer=None, forwarded_proto=None, trusted=ProxyTrust())


def test_address_key_groups_an_ipv6_subscriber():
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_counts_per_key_and_slides():
    clock = Clock(0.0)
    limit = RateLimit(3, 60.0, clock=clock)
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b")
    clock.now = 90.0      # half of the first window still overlaps: 3 * 0.5 = 1.5 counted
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    clock.now = 200.0
    assert limit.allow("a")


def test_rate_limit_forgets_idle_keys_and_stays_bounded():
    clock = Clock(0.0)
    limit = RateLimit(5, 60.0, max_keys=100, clock=clock)
    for i in range(1000):
        limit.allow(f"k{i}")
    assert len(limit) == 100            # the least recently used went first
    assert limit.allow("k999")
    clock.now = 121.0                    # two windows later every key counts nothing: forgotten
    limit.allow("new")
    assert len(limit) == 1
