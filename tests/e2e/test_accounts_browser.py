"""Accounts end to end in Chromium (issue 15 item 7): a login with a second factor, a wrong code
refused; a disabled account logged out in every browser at once; the admin's page adds an
account (its one-time password logs in) and changes a role. Screenshots in test-artifacts/."""
import re

import pyotp
import pytest
from playwright.async_api import expect

from bot.handoff import second_factor
from bot.handoff.accounts import create_counsellor
from bot.store import counsellors
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_handoff_browser import console_login

pytestmark = pytest.mark.browser
DESK = {"width": 1200, "height": 860}


async def new_page(browser, locale="ja-JP"):
    context = await browser.new_context(viewport=DESK, locale=locale)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return context, page


async def password_step(page, base, name="aiko", password=PASSWORD):
    await page.goto(base + "/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("form.login button[type=submit]")


async def test_a_login_with_a_second_factor_refuses_a_wrong_code(browser, server, artifacts):
    base, store = server.base, server.runtime.store
    async with store.transaction() as s:
        aiko = (await counsellors.counsellor_by_name(s, "aiko")).id
    secret = second_factor.new_secret()
    await second_factor.enrol(store, aiko, secret, end_logins=True)
    context, page = await new_page(browser)
    await password_step(page, base)
    await expect(page.locator("h1")).to_have_text("認証アプリのコード")
    await expect(page).to_have_url(base + "/console/login")            # not in yet
    right = pyotp.TOTP(secret).now()
    await page.fill("input[name=code]", "000000" if right != "000000" else "111111")
    await page.click("form.login button[type=submit]")
    await expect(page.locator("p.error")).to_contain_text("コードが違います")
    await page.screenshot(path=str(artifacts / "console-login-wrong-code.png"), full_page=True)
    assert (await page.goto(base + "/console/queue")).url == base + "/console/login"   # still out
    await password_step(page, base)
    await page.fill("input[name=code]", pyotp.TOTP(secret).now())
    await page.click("form.login button[type=submit]")
    await expect(page).to_have_url(base + "/console/queue")
    await page.screenshot(path=str(artifacts / "console-login-with-code.png"), full_page=True)
    await context.close()


async def test_a_disabled_account_is_logged_out_in_every_browser(browser, server, artifacts):
    base = server.base
    await create_counsellor(server.runtime.store, "hana", PASSWORD, role="admin")
    first_ctx, first = await console_login(browser, base)
    second_ctx, second = await console_login(browser, base)             # the same counsellor, elsewhere
    admin_ctx, admin = await new_page(browser)
    await password_step(admin, base, "hana")
    await admin.goto(base + "/console/accounts")
    await admin.locator('tr[data-account="aiko"] form[action$="/disable"] button').click()
    await expect(admin.locator('tr[data-account="aiko"] td.active')).to_have_text("無効")
    await admin.screenshot(path=str(artifacts / "console-accounts-disabled.png"), full_page=True)
    for page in (first, second):
        await page.goto(base + "/console/queue")
        await expect(page).to_have_url(base + "/console/login")
    await second.screenshot(path=str(artifacts / "console-disabled-logged-out.png"), full_page=True)
    for context in (first_ctx, second_ctx, admin_ctx):
        await context.close()


async def test_the_admin_page_adds_an_account_and_changes_a_role(browser, server, artifacts):
    base = server.base
    await create_counsellor(server.runtime.store, "hana", PASSWORD, role="admin")
    context, page = await new_page(browser)
    await password_step(page, base, "hana")
    await page.click("header nav a[href='/console/accounts']")
    await expect(page.locator("h1")).to_have_text("アカウント")
    await page.fill("form.add-account input[name=name]", "chika")
    await page.select_option("form.add-account select[name=role]", "supervisor")
    await page.click("form.add-account button[type=submit]")
    await expect(page.locator('tr[data-account="chika"] td.role')).to_have_text("スーパーバイザー")
    password = (await page.locator("code.one-time-password").text_content()).strip()
    assert re.fullmatch(r"[a-z0-9]{5}(-[a-z0-9]{5}){3}", password)
    row = page.locator('tr[data-account="ben"]')
    await row.locator("select[name=role]").select_option("editor")
    await row.locator('form[action$="/role"] button').click()
    await expect(page.locator('tr[data-account="ben"] td.role')).to_have_text("編集者")
    await page.screenshot(path=str(artifacts / "console-accounts.png"), full_page=True)
    chika_ctx, chika = await new_page(browser)
    await password_step(chika, base, "chika", password)
    await expect(chika).to_have_url(base + "/console/queue")
    await expect(chika.locator("header .me")).to_have_text("chika")
    await expect(chika.locator("header nav a[href='/console/accounts']")).to_have_count(0)   # not an admin
    for c in (context, chika_ctx):
        await c.close()
