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


async def test_a_disabled_counsellors_open_pages_leave_the_conversation_by_themselves(browser, server, artifacts):
    """The counsellor does nothing: her open conversation page (the person's messages on it) and
    her queue page in another browser go to the login page once an admin disables her account."""
    from tests.e2e.test_console_person_left import taken

    base = server.base
    await create_counsellor(server.runtime.store, "hana", PASSWORD, role="admin")
    chat_ctx, chat, first_ctx, conversation = await taken(browser, base)
    await conversation.fill("#reply-text", "相談員です。")
    await conversation.click("#send")
    await expect(chat.locator(".bubble.counsellor").last).to_contain_text("相談員です")
    second_ctx, queue = await console_login(browser, base)
    admin_ctx, admin = await new_page(browser)
    await password_step(admin, base, "hana")
    await admin.goto(base + "/console/accounts")
    await admin.locator('tr[data-account="aiko"] form[action$="/disable"] button').click()
    await expect(admin.locator('tr[data-account="aiko"] td.active')).to_have_text("無効")
    for page in (conversation, queue):
        await expect(page).to_have_url(base + "/console/login", timeout=10_000)
        await expect(page.locator("#lines")).to_have_count(0)
    await conversation.screenshot(path=str(artifacts / "console-disabled-open-page.png"), full_page=True)
    for context in (chat_ctx, first_ctx, second_ctx, admin_ctx):
        await context.close()


async def test_enrolling_the_second_factor_from_the_qr_page_then_a_recovery_code_once(browser, tmp_path, artifacts):
    """Production requires a second factor: a counsellor without one lands on the enrolment page
    and reaches nothing else; she reads the secret under the QR code (what her app would scan),
    a wrong code is refused with the same secret kept, the right one shows her recovery codes.
    At her next login the app's code is asked for; a recovery code works once."""
    from bot.handoff.console_core import CONSOLE
    from tests.e2e.conftest import start_server

    runner, srv = await start_server(tmp_path)
    runner.app[CONSOLE].require_second_factor = True
    base = srv.base
    try:
        context, page = await new_page(browser)
        await password_step(page, base)
        await expect(page).to_have_url(base + "/console/totp")
        await expect(page.locator("p.error[role=alert]")).to_contain_text("二段階認証を設定してください")
        await page.goto(base + "/console/queue")
        await expect(page).to_have_url(base + "/console/totp")                # nothing else until enrolled
        qr = page.locator("#totp-qr svg")
        await expect(qr).to_be_visible()
        box = await qr.bounding_box()
        assert box and box["width"] >= 150 and abs(box["width"] - box["height"]) < 1
        # The whole code, quiet zone included, is drawn inside that box (a camera needs all of it).
        drawn = await qr.locator("path").first.bounding_box()      # the white square under the modules
        assert abs(drawn["x"] - box["x"]) < 1 and abs(drawn["y"] - box["y"]) < 1, (drawn, box)
        assert abs(drawn["width"] - box["width"]) < 1 and abs(drawn["height"] - box["height"]) < 1, (drawn, box)
        uri = await page.locator("a.otpauth").get_attribute("href")
        secret = (await page.locator("code.totp-secret").text_content()).replace(" ", "")
        assert f"secret={secret}" in uri
        await page.screenshot(path=str(artifacts / "console-totp-enrol.png"), full_page=True)
        right = pyotp.TOTP(secret).now()
        await page.fill("form[action$='/totp'] input[name=code]", "000000" if right != "000000" else "111111")
        await page.click("form[action$='/totp'] button[type=submit]")
        await expect(page.locator("p.error[role=alert]", has_text="コードが一致しません")).to_be_visible()
        assert (await page.locator("code.totp-secret").text_content()).replace(" ", "") == secret   # the app keeps working
        await page.fill("form[action$='/totp'] input[name=code]", pyotp.TOTP(secret).now())
        await page.click("form[action$='/totp'] button[type=submit]")
        codes = await page.locator("ul.recovery-codes code").all_inner_texts()
        assert len(codes) >= 5 and all(re.fullmatch(r"[0-9a-f]{5}-[0-9a-f]{5}", c) for c in codes)
        await page.screenshot(path=str(artifacts / "console-totp-recovery-codes.png"), full_page=True)
        await page.click("a:has-text('コンソールへ')")
        await expect(page).to_have_url(base + "/console/queue")
        await page.click("form.logout button[type=submit]")
        await expect(page).to_have_url(base + "/console/login")

        # The next login asks for the code; a recovery code instead works, once.
        for attempt in range(2):
            await password_step(page, base)
            await expect(page.locator("h1")).to_have_text("認証アプリのコード")
            await page.fill("input[name=code]", codes[0])
            await page.click("form.login button[type=submit]")
            if attempt == 0:
                await expect(page).to_have_url(base + "/console/queue")
                await page.click("form.logout button[type=submit]")
                await expect(page).to_have_url(base + "/console/login")
            else:
                await expect(page.locator("p.error")).to_contain_text("コードが違います")
                assert (await page.goto(base + "/console/queue")).url == base + "/console/login"
        await context.close()
    finally:
        await runner.cleanup()
