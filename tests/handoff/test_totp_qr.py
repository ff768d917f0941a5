"""Issue 15, item 7: the TOTP enrolment page shows the otpauth URI as a QR code drawn on the
server (inline SVG, segno), with the secret still as text for typing in; no image request and
no URL of anyone else on the page (the secret must not reach a third party)."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlparse

import segno

from bot.handoff.accounts import create_counsellor
from tests.handoff.test_console import PASSWORD, login

BORDER = 4


def modules_of(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) segno's SVG path draws: ``M x y`` / ``m dx dy`` moves and
    ``h n`` runs of n dark modules along row ``floor(y)``, in modules (the scale is a transform)."""
    [d] = re.findall(r'<path stroke="#000" d="([^"]+)"', svg)      # the white background is another path
    dark, x, y = set(), 0.0, 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s+(-?[\d.]+))?", d):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            n = int(float(a))
            dark.update((int(y), int(x) + i) for i in range(n))
            x += n
    return dark


def expected_modules(uri: str) -> set[tuple[int, int]]:
    matrix = segno.make(uri, error="m", micro=False).matrix
    return {(r + BORDER, c + BORDER) for r, row in enumerate(matrix) for c, v in enumerate(row) if v}


async def test_the_enrolment_page_holds_a_qr_code_of_its_otpauth_uri_and_the_secret_as_text(client, web_runtime):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client)
    page = await (await client.get("/console/totp")).text()
    uri = html.unescape(re.search(r'<a href="(otpauth://[^"]+)" class="otpauth"', page).group(1))
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parse_qs(parsed.query)["secret"] == [secret]
    [svg] = re.findall(r'<figure class="totp-qr-box" id="totp-qr">(<svg.*?</svg>)', page, re.S)
    assert "<title>認証アプリに読み取らせるQRコード</title>" in svg
    drawn = modules_of(svg)
    assert drawn == expected_modules(uri)                     # the QR code is of this very URI
    assert drawn != expected_modules(uri.replace(secret, "A" * len(secret)))   # (and the check can fail)
    # Nothing on the page is fetched from elsewhere, and no address of anyone else is named.
    assert not re.search(r"https?://", page) and "<img" not in svg
    assert not re.search(r'\s(src|href)="(?!/|otpauth:|#)', page)


async def test_each_visit_draws_a_new_secret_and_its_own_code(client, web_runtime):
    await create_counsellor(web_runtime.store, "aiko", PASSWORD)
    await login(client)
    first, second = [await (await client.get("/console/totp")).text() for _ in range(2)]
    svgs = [re.search(r"(<svg.*?</svg>)", p, re.S).group(1) for p in (first, second)]
    assert svgs[0] != svgs[1]
