"""The flow editor's tools in Chromium (issue 17 items 2, 5, 8 and the translation list), on the
project's own flow: "try a sentence" shows the intent it matches; the preview started in a state
in the middle of the flow shows the crisis interrupt for a crisis sentence; the diagram is drawn
with boxes and a legend, offline; the translation list shows a text once its English is blanked.
Screenshots in test-artifacts/."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from bot.flowversions import FlowVersions
from bot.handoff.accounts import create_counsellor
from tests.e2e.conftest import PASSWORD, start_server

pytestmark = pytest.mark.browser
DESK = {"width": 1400, "height": 900}


@pytest.fixture
async def real_server(tmp_path):
    runner, srv = await start_server(tmp_path, real_flow=True)
    await create_counsellor(srv.runtime.store, "edi", PASSWORD, role="editor")
    holder = srv.runtime.bundles
    await FlowVersions(srv.runtime.store, holder.flows_dir, holder.locales_dir, test_files=[]).ensure_seeded()
    yield srv
    await runner.cleanup()


async def editor_page(browser, base):
    context = await browser.new_context(viewport=DESK, locale="ja-JP")
    page = await context.new_page()
    # Compiling a version of the real flow takes seconds on a busy two-core machine: it is done
    # once per version and kept (the first page after login waits for it).
    page.set_default_timeout(60_000)
    # Every request the page makes stays on this server (the diagram and the preview are offline).
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    await page.goto(base + "/console/login")
    await page.fill("input[name=name]", "edi")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.goto(base + "/console/editor/keywords")
    return context, page, outside


async def test_the_editors_tools_in_a_browser(browser, real_server, artifacts):
    base = real_server.base
    context, page, outside = await editor_page(browser, base)

    # 1. Try a sentence: the intent it matches, and the keyword that decided.
    await expect(page.locator("h1")).to_have_text("キーワード")
    await page.fill("form.try-sentence input[name=text]", "お金払えって言われた")
    await page.select_option("form.try-sentence select[name=state]", "sit_threat")
    await page.click("form.try-sentence button[type=submit]")
    result = page.locator(".try-result")
    await expect(result).to_have_attribute("data-matched", "intent:threat_spread")
    await expect(result.locator("code.keyword")).to_have_text(["お金払え"])
    await expect(result.locator("code.reached")).to_have_text("dont")
    await page.screenshot(path=str(artifacts / "editor-try-a-sentence.png"), full_page=True)

    # 2. The preview, from a state in the middle of the flow: a crisis sentence is the crisis interrupt.
    await page.click("header nav a[href='/console/editor/preview']")
    preview = page.locator(".editor-preview")
    await expect(preview.locator(".preview-state option[value=ev_keep]")).to_have_count(1)
    await preview.locator(".preview-state").select_option("ev_keep")
    await expect(preview.locator(".preview-log li.rule").last).to_have_attribute("data-state", "ev_keep")
    await preview.locator(".preview-text").fill("もう死にたい")
    await preview.locator(".preview-send button").click()
    crisis = preview.locator(".preview-log li.rule").last
    await expect(crisis).to_have_attribute("data-matched", "interrupt:crisis")
    await expect(crisis).to_contain_text("割り込み")
    await expect(crisis).to_contain_text("死にたい")
    # The crisis state's buttons can be tapped: the next rule is a button.
    await preview.locator(".preview-log button.choice").last.click()
    await expect(preview.locator(".preview-log li.rule").last).to_have_attribute("data-kind", "choice")
    await page.screenshot(path=str(artifacts / "editor-preview-crisis.png"), full_page=True)

    # 3. The diagram: drawn in the page, boxes and a legend; "talk to a person" hidden by default.
    await page.click("header nav a[href='/console/editor/diagram']")
    await page.select_option("form.diagram-controls select[name=part]", "triage")
    await page.click("form.diagram-controls button[type=submit]")
    svg = page.locator(".diagram svg")
    await expect(svg).to_be_visible()
    assert await svg.locator("g.box").count() >= 25
    await expect(svg.locator("g.legend")).to_be_visible()
    await expect(svg.locator("g.legend-arrow")).to_have_count(4)
    assert await svg.locator('g.arrow[data-to="human"]').count() == 0
    box = await svg.locator('g.box[data-state="sit_threat"] rect').first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 40
    await page.screenshot(path=str(artifacts / "editor-diagram-triage.png"), full_page=True)

    # 4. The translation list: blank an English text, and it is listed with its Japanese.
    await page.click("header nav a[href='/console/editor/translations']")
    await expect(page.locator('tr[data-key="system.ack"]')).to_have_count(0)
    await page.fill("form.edit-text input[name=key]", "system.ack")
    await page.select_option("form.edit-text select[name=lang]", "en")
    await page.fill("form.edit-text textarea[name=value]", "")
    await page.click("form.edit-text button[type=submit]")
    row = page.locator('tr[data-key="system.ack"]')
    await expect(row).to_have_attribute("data-reason", "missing")
    await expect(row.locator("td.ja")).to_contain_text("うん、わかった")
    await page.screenshot(path=str(artifacts / "editor-translation-list.png"), full_page=True)

    assert outside == []
    await context.close()
