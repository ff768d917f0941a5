"""The console's second factor: TOTP (RFC 6238, with pyotp) and one-time recovery codes.

* The secret is sealed with the store's key ring (``crypto.encrypt``, associated data
  ``counsellors.totp_secret_enc.<id>``), so a copy of the database alone does not give codes.
* A code is accepted for the current 30-second step or the one before or after (clocks of
  phones drift), and only once: the last step used is kept, and a code of that step or an
  earlier one is refused as reused (someone who saw it over a shoulder cannot log in with it).
* Recovery codes: ``RECOVERY_CODES`` random codes, shown once, kept only as keyed hashes (HMAC
  under the ring's pseudonym key, bound to the account); each works once. After a key rotation
  they are checked under every key of the ring; once the old key is dropped, enrol again.

Enrolment: ``python -m bot counsellor totp NAME`` (an admin, then hands the secret over) or the
console's ``/console/totp`` page (the counsellor, on their own phone: a QR code drawn on the
server, ``qr_svg``, and the secret as text for typing in). In production the console
lets an account without a second factor in only to enrol (``bot.handoff.console``).
"""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno

from bot.store import audit, counsellors
from bot.store.crypto import where

from .account_error import AccountError

ISSUER = "first-contact-bot"
STEP_SECONDS = 30
DRIFT_STEPS = 1        # steps accepted either side of now
RECOVERY_CODES = 10
TOTP_DIGITS = 6


def qr_svg(uri: str, title: str) -> str:
    """The ``otpauth://`` URI as a QR code, inline SVG made here (segno): no image request, no
    third party sees the secret. Dark modules on white with the standard quiet zone, so phone
    cameras read it on any page colour; ``title`` names it for a screen reader. A ``viewBox``
    instead of a fixed size: the stylesheet's size scales the whole code (a fixed 196 px drawn
    in a 164 px box lost its right and bottom edges, finder patterns included)."""
    qr = segno.make(uri, error="m", micro=False)
    return qr.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="totp-qr", lineclass=None,
                         omitsize=True, title=title)


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, base32 (what authenticator apps take)


def provisioning_uri(secret: str, name: str, issuer: str = ISSUER) -> str:
    """``otpauth://totp/...``: what an authenticator app scans or opens."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits: 10 tries an hour per name (the throttle) cannot guess it
    return f"{raw[:5]}-{raw[5:]}"


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.strip().lower() if ch.isalnum())


def _code_key(counsellor_id: int, code: str) -> str:
    return f"{counsellor_id}\0{_normalise(code)}"


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code ``code`` is, within the allowed drift; None if none."""
    code = _normalise(code)
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now_step = int(now // STEP_SECONDS)
    found = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):  # every step compared: no early exit
            found = step
    return found


def seal_secret(crypto, counsellor_id: int, secret: str) -> bytes:
    return crypto.encrypt(secret, where("counsellors", "totp_secret_enc", counsellor_id))


def open_secret(crypto, counsellor_id: int, sealed: bytes) -> str:
    return crypto.decrypt(sealed, where("counsellors", "totp_secret_enc", counsellor_id))


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    recovery_codes: list[str]


async def enrol(store, counsellor_id: int, secret: str, *, end_logins: bool, used_step: int | None = None,
                now: float | None = None) -> list[str]:
    """Make ``secret`` the account's second factor, with new recovery codes (returned, to be
    shown once; the old ones stop working). ``used_step``: the step of the code that confirmed
    it, which cannot log in afterwards. ``end_logins``: end the account's logins (a phone
    replaced by an admin: whoever had the old one is out)."""
    now = time.time() if now is None else now
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    crypto = store.crypto
    async with store.transaction() as s:
        await counsellors.set_totp(s, counsellor_id, seal_secret(crypto, counsellor_id, secret))
        if used_step is not None:
            await counsellors.use_totp_step(s, counsellor_id, used_step)
        await counsellors.replace_recovery_codes(
            s, counsellor_id, [crypto.pseudonym("recovery-code", _code_key(counsellor_id, c)) for c in codes], now)
        if end_logins:
            await counsellors.end_logins(s, counsellor_id, now, "second_factor")
        await audit.append(s, audit.ACCOUNT, now, counsellor_id, detail="second factor enrolled")
    return codes


async def enrol_by_name(store, name: str) -> Enrolment:
    """``counsellor totp NAME``: a new secret and recovery codes; the account's logins end."""
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, name)
    if row is None:
        raise AccountError(f'there is no counsellor called "{name}"', "no_such_account")
    secret = new_secret()
    codes = await enrol(store, row.id, secret, end_logins=True)
    return Enrolment(secret, provisioning_uri(secret, name), codes)


async def reset(s, counsellor_id: int, now: float) -> None:
    """No second factor any more (a lost phone): the account enrols again at its next login (in
    production it can do nothing else). Its logins end. Inside the caller's transaction, which
    audits it (``accounts.reset_second_factor``)."""
    await counsellors.set_totp(s, counsellor_id, None)
    await counsellors.replace_recovery_codes(s, counsellor_id, [], now)
    await counsellors.end_logins(s, counsellor_id, now, "second_factor")


# What ``check`` found: accepted by TOTP, by a recovery code, or refused (wrong, reused).
TOTP, RECOVERY, WRONG, REUSED = "totp", "recovery", "wrong", "reused"


async def check(store, counsellor_id: int, code: str, now: float | None = None) -> str:
    """Check a code typed at login, and spend it: ``TOTP`` or ``RECOVERY`` when accepted,
    ``REUSED`` for a TOTP code of a step already used, else ``WRONG`` (a spent recovery code
    included)."""
    now = time.time() if now is None else now
    crypto = store.crypto
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_id(s, counsellor_id)
        if row is None or row.totp_secret_enc is None:
            return WRONG
        step = matching_step(open_secret(crypto, counsellor_id, row.totp_secret_enc), code, now)
        if step is not None:
            return TOTP if await counsellors.use_totp_step(s, counsellor_id, step) else REUSED
        hashes = crypto.pseudonyms("recovery-code", _code_key(counsellor_id, code))
        if await counsellors.use_recovery_code(s, counsellor_id, hashes, now):
            return RECOVERY
        return WRONG
