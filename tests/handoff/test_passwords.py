"""New passwords are checked against zxcvbn's list of common (leaked) passwords and its
guessability score, not only their length, wherever one is set: the shell, the console's
password page, the admin's page. The reason is said in the console's language."""
import re

import pytest

from bot.handoff.accounts import AccountError, check_password, create_counsellor, run_counsellor
from bot.settings import Settings
from tests.handoff.test_console import PASSWORD, csrf_of, login


@pytest.mark.parametrize("password, why", [
    ("password1234", "common_password"), ("qwertyuiop", "common_password"), ("1234567890", "common_password"),
    ("iloveyou12345", "weak_password"), ("aikoaikoaiko", "weak_password"), ("Password2024", "weak_password"),
    ("short", "short_password"),
])
def test_common_and_guessable_passwords_are_refused_with_the_reason(password, why):
    with pytest.raises(AccountError) as refused:
        check_password("aiko", password)
    assert refused.value.key == why


@pytest.mark.parametrize("password", [PASSWORD, "a long demo password", "kappa-river-lantern-ninety"])
def test_passphrases_pass(password):
    check_password("aiko", password)


async def test_no_account_gets_a_common_password(store):
    with pytest.raises(AccountError, match="common and leaked"):
        await create_counsellor(store, "aiko", "password1234")
    await create_counsellor(store, "aiko", PASSWORD)
    with pytest.raises(AccountError, match="too easy to guess"):
        await create_counsellor(store, "aiko", "iloveyou12345", replace=True)


def test_the_command_says_why(tmp_path, capsys):
    settings = Settings.from_env(BOT_DATA_DIR=str(tmp_path))
    assert run_counsellor(settings, "add", "aiko", "qwertyuiop") == 1
    assert "common and leaked passwords" in capsys.readouterr().err


async def change(client, current, new, again=None, lang="ja"):
    return await client.post("/console/password", allow_redirects=False, headers={"Accept-Language": lang},
                             data={"csrf": await csrf_of(client), "current": current, "new": new,
                                   "again": new if again is None else again})


async def test_a_counsellor_changes_their_own_password(client, web_runtime):
    from tests.handoff.test_second_factor import audit_details

    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client)
    wrong = await change(client, "not my password", "kappa-river-lantern-ninety")
    assert wrong.status == 401
    assert "wrong password (change)" in await audit_details(web_runtime.store, "login_failed")
    common = await change(client, PASSWORD, "password1234")
    assert common.status == 400 and "流出したパスワードの一覧" in await common.text()
    weak = await change(client, PASSWORD, "iloveyou12345", lang="en")
    assert weak.status == 400 and "too easy to guess" in await weak.text()
    differ = await change(client, PASSWORD, "kappa-river-lantern-ninety", again="kappa-river-lantern-nine")
    assert differ.status == 400 and "違います" in await differ.text()
    done = await change(client, PASSWORD, "kappa-river-lantern-ninety")
    assert done.status == 303 and done.headers["Location"] == "/console/login"
    assert (await client.get("/console/queue", allow_redirects=False)).status == 303   # this login ended too
    assert (await login(client)).status == 401
    assert (await login(client, password="kappa-river-lantern-ninety")).status == 303
    page = await (await client.get("/console/password", headers={"Accept-Language": "en"})).text()
    assert re.search(r'name="new" type="password" autocomplete="new-password"', page)


async def test_the_check_and_the_hash_run_off_the_event_loop(store, monkeypatch):
    import threading

    from bot.handoff import accounts

    seen = []
    check, hash_ = accounts.check_new_account, accounts.hash_password
    monkeypatch.setattr(accounts, "check_new_account", lambda *a: (seen.append(threading.get_ident()), check(*a))[1])
    monkeypatch.setattr(accounts, "hash_password", lambda *a: (seen.append(threading.get_ident()), hash_(*a))[1])
    await create_counsellor(store, "aiko", PASSWORD)
    assert len(seen) == 2 and threading.get_ident() not in seen
