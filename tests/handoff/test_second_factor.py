"""The console's second factor (issue 15 item 7): TOTP and one-time recovery codes, the sealed
secret, the login's second step (throttled and audited like a password), enrolment from the
shell and from the console, and production letting an account without one in only to enrol."""
import re
import time

import pyotp
import pytest
from sqlalchemy import select, update

from bot.handoff import second_factor
from bot.handoff.accounts import create_counsellor, run_counsellor
from bot.handoff.console import second_factor_required
from bot.handoff.console_core import CONSOLE
from bot.handoff.security import COOKIE, FREE_PER_NAME_AND_ADDRESS
from bot.settings import Settings
from bot.store import counsellors
from bot.store.crypto import DecryptError
from bot.store.models import AuditEntry, ConsoleLogin, Counsellor, RecoveryCode
from tests.handoff.test_console import PASSWORD, csrf_of, login


def secret_and_codes_of(output: str) -> tuple[str, list[str]]:
    secret = re.search(r"secret: ([A-Z2-7 ]+)", output).group(1).replace(" ", "")
    return secret, re.findall(r"^  ([0-9a-f]{5}-[0-9a-f]{5})$", output, re.M)


async def enrolled(store, name="aiko") -> tuple[int, str, list[str]]:
    cid = await create_counsellor(store, name, PASSWORD)
    secret = second_factor.new_secret()
    return cid, secret, await second_factor.enrol(store, cid, secret, end_logins=True)


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def audit_details(store, action) -> list[str]:
    async with store.transaction() as s:
        return list((await s.execute(select(AuditEntry.detail).where(AuditEntry.action == action)
                                     .order_by(AuditEntry.id))).scalars())


async def second_step(client, code: str, resp=None, name="aiko"):
    """Past the password, then the code; returns the code's answer."""
    resp = resp or await login(client, name=name)
    assert resp.status == 200, "the right password leads to the code, not into the console"
    page = await resp.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    pending = re.search(r'name="pending" value="([^"]+)"', page).group(1)
    return await client.post("/console/login/code", data={"csrf": csrf, "pending": pending, "code": code},
                             allow_redirects=False)


# ---- the codes ----------------------------------------------------------------------------------

async def test_a_code_counts_once_and_a_recovery_code_once(store):
    cid, secret, codes = await enrolled(store)
    assert len(codes) == second_factor.RECOVERY_CODES == len(set(codes))
    assert await second_factor.check(store, cid, "000000" if code_at(secret) != "000000" else "111111") == "wrong"
    now_code = code_at(secret)
    assert await second_factor.check(store, cid, now_code) == "totp"
    assert await second_factor.check(store, cid, now_code) == "reused"       # seen over a shoulder: no use
    assert await second_factor.check(store, cid, code_at(secret, 1)) == "totp"  # the next step: fine
    assert await second_factor.check(store, cid, code_at(secret, 3)) == "wrong"  # beyond the drift
    assert await second_factor.check(store, cid, codes[0].upper().replace("-", " ")) == "recovery"
    assert await second_factor.check(store, cid, codes[0]) == "wrong"         # spent
    async with store.transaction() as s:
        assert await counsellors.unused_recovery_codes(s, cid) == second_factor.RECOVERY_CODES - 1


async def test_the_secret_is_sealed_to_its_row_and_codes_are_kept_as_hashes(store):
    cid, secret, codes = await enrolled(store)
    other, _, _ = await enrolled(store, "ben")
    async with store.transaction() as s:
        sealed = (await s.execute(select(Counsellor.totp_secret_enc).where(Counsellor.id == cid))).scalar_one()
        hashes = list((await s.execute(select(RecoveryCode.code_hash))).scalars())
    assert secret.encode() not in sealed and second_factor.open_secret(store.crypto, cid, sealed) == secret
    with pytest.raises(DecryptError):                    # copied into another account, it does not open
        second_factor.open_secret(store.crypto, other, sealed)
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)
    # A new enrolment: the old recovery codes stop working.
    await second_factor.enrol(store, cid, second_factor.new_secret(), end_logins=True)
    assert await second_factor.check(store, cid, codes[1]) == "wrong"


def test_the_command_enrols_prints_once_and_ends_logins(tmp_path, capsys):
    settings = Settings.from_env(BOT_DATA_DIR=str(tmp_path))
    assert run_counsellor(settings, "add", "aiko", PASSWORD) == 0
    capsys.readouterr()
    assert run_counsellor(settings, "totp", "aiko", None) == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/first-contact-bot:aiko?secret=" in out
    secret, codes = secret_and_codes_of(out)
    assert len(secret) == 32 and len(codes) == 10
    assert run_counsellor(settings, "totp", "nobody", None) == 1
    assert "no counsellor" in capsys.readouterr().err


def test_production_requires_it_and_development_does_not(tmp_path):
    dev = Settings.from_env(BOT_DATA_DIR=str(tmp_path))
    prod = Settings(BOT_ENV="production", DATABASE_URL="postgresql+asyncpg://x@127.0.0.1/x", BOT_SECRET_KEY="k" * 40)
    assert not second_factor_required(dev) and second_factor_required(prod)


# ---- logging in ---------------------------------------------------------------------------------

async def test_after_the_password_the_code_and_only_then_the_console(client, web_runtime):
    store = web_runtime.store
    _, secret, _ = await enrolled(store)
    first = await login(client)
    assert first.status == 200 and COOKIE not in first.cookies and 'name="pending"' in await first.text()
    assert (await client.get("/console/queue", allow_redirects=False)).status == 303   # not logged in yet
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    refused = await second_step(client, wrong)
    assert refused.status == 401 and "コードが違います" in await refused.text()
    good = code_at(secret)
    resp = await second_step(client, good)
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue" and COOKIE in resp.cookies
    assert (await client.get("/console/queue", allow_redirects=False)).status == 200
    await client.post("/console/logout", data={"csrf": await csrf_of(client)})
    again = await second_step(client, good)                                # the same code, a second time
    assert again.status == 401 and "すでに使われました" in await again.text()
    assert await audit_details(store, "login_failed") == ["wrong code", "reused code"]


async def test_wrong_codes_count_in_the_throttle(client, web_runtime):
    _, secret, _ = await enrolled(web_runtime.store)
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    password_step = await login(client)
    for _ in range(FREE_PER_NAME_AND_ADDRESS):
        assert (await second_step(client, wrong, resp=password_step)).status == 401
    throttled = await second_step(client, code_at(secret), resp=password_step)   # even the right code waits
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1


async def test_a_recovery_code_logs_in_once(client, web_runtime):
    _, _, codes = await enrolled(web_runtime.store)
    assert (await second_step(client, codes[3])).status == 303
    await client.post("/console/logout", data={"csrf": await csrf_of(client)})
    assert (await second_step(client, codes[3])).status == 401
    assert "recovery code" in await audit_details(web_runtime.store, "logged_in")


async def test_the_second_step_is_bound_to_its_browser_and_to_the_password(client, web_runtime):
    store = web_runtime.store
    cid, secret, _ = await enrolled(store)
    page = await (await login(client)).text()
    pending = re.search(r'name="pending" value="([^"]+)"', page).group(1)
    client.session.cookie_jar.clear()                       # another browser: its own pre-login cookie
    fresh = await client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await fresh.text()).group(1)
    stolen = await client.post("/console/login/code", data={"csrf": csrf, "pending": pending,
                                                            "code": code_at(secret)}, allow_redirects=False)
    assert stolen.status == 401 and COOKIE not in stolen.cookies
    resp = await login(client)                               # the password changes meanwhile
    await create_counsellor(store, "aiko", "another long passphrase", replace=True)
    assert (await second_step(client, code_at(secret), resp=resp)).status == 401


async def test_in_production_a_login_without_a_second_factor_may_only_enrol(client, web_runtime):
    client.app[CONSOLE].require_second_factor = True
    store = web_runtime.store
    await create_counsellor(store, "aiko", PASSWORD)
    assert (await login(client)).status == 303
    queue = await client.get("/console/queue", allow_redirects=False)
    assert queue.status == 303 and queue.headers["Location"] == "/console/totp"
    page = await client.get("/console/totp")
    text = await page.text()
    assert "二段階認証を設定してください" in text
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    refused = await client.post("/console/hours", data={"csrf": csrf, "nobody_available": "1"}, allow_redirects=False)
    assert refused.status == 403
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', text).group(1).replace(" ", "")
    sealed = re.search(r'name="sealed" value="([^"]+)"', text).group(1)
    wrong = await client.post("/console/totp", data={"csrf": csrf, "sealed": sealed, "code": "12345x"})
    assert wrong.status == 400 and "一致しません" in await wrong.text()
    done = await client.post("/console/totp", data={"csrf": csrf, "sealed": sealed, "code": code_at(secret)})
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", await done.text())
    assert done.status == 200 and len(codes) == 10
    assert (await client.get("/console/queue", allow_redirects=False)).status == 200   # this login goes on
    assert "second factor enrolled" in await audit_details(store, "account")
    async with store.transaction() as s:
        row = (await s.execute(select(Counsellor))).scalar_one()
    assert row.totp_secret_enc is not None and secret.encode() not in row.totp_secret_enc
    # The code that confirmed it cannot log in again.
    await client.post("/console/logout", data={"csrf": await csrf_of(client)})
    assert (await second_step(client, code_at(secret))).status == 401


async def test_a_sealed_secret_from_another_login_does_not_enrol(client, web_runtime):
    store = web_runtime.store
    await create_counsellor(store, "aiko", PASSWORD)
    await login(client)
    text = await (await client.get("/console/totp")).text()
    sealed = re.search(r'name="sealed" value="([^"]+)"', text).group(1)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', text).group(1).replace(" ", "")
    async with store.transaction() as s:                      # the same form, posted in another login
        await s.execute(update(ConsoleLogin).values(ended_at=time.time()))
    await login(client)
    resp = await client.post("/console/totp", data={"csrf": await csrf_of(client), "sealed": sealed,
                                                    "code": code_at(secret)})
    assert resp.status == 400
    async with store.transaction() as s:
        assert (await s.execute(select(Counsellor.totp_secret_enc))).scalar_one() is None
