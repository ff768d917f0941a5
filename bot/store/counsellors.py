"""Counsellor accounts and their console logins.

An account holds a name and an argon2id hash (``bot.handoff.security``), never a password. A
login is a row found by the hash of its cookie's nonce; a logout, the idle timeout, a disabled
account or a new password end it (``end_login``, ``end_logins``) for every process at once.
"""
from __future__ import annotations

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ConsoleLogin, Counsellor, RecoveryCode


async def add_counsellor(s: AsyncSession, name: str, password_hash: str, now: float,
                        role: str = "counsellor") -> Counsellor:
    row = Counsellor(name=name, password_hash=password_hash, is_active=True, created_at=now, role=role)
    s.add(row)
    await s.flush()
    return row


async def counsellor_by_name(s: AsyncSession, name: str) -> Counsellor | None:
    return (await s.execute(select(Counsellor).where(Counsellor.name == name))).scalar_one_or_none()


async def counsellor_by_id(s: AsyncSession, counsellor_id: int) -> Counsellor | None:
    return await s.get(Counsellor, counsellor_id)


async def counsellor_names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await s.execute(select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(ids)))
    return {i: n for i, n in rows}


async def set_password(s: AsyncSession, counsellor_id: int, password_hash: str, only_if: str | None = None) -> None:
    """``only_if``: change it only while the stored hash is still that one (a rehash on login
    must not undo a password changed meanwhile)."""
    cond = [Counsellor.id == counsellor_id]
    if only_if is not None:
        cond.append(Counsellor.password_hash == only_if)
    await s.execute(update(Counsellor).where(*cond).values(password_hash=password_hash))


async def set_role(s: AsyncSession, counsellor_id: int, role: str) -> None:
    await s.execute(update(Counsellor).where(Counsellor.id == counsellor_id).values(role=role)
                    .execution_options(synchronize_session=False))


async def every_counsellor(s: AsyncSession) -> list[Counsellor]:
    return list((await s.execute(select(Counsellor).order_by(Counsellor.name))).scalars())


async def disable(s: AsyncSession, counsellor_id: int) -> None:
    await s.execute(update(Counsellor).where(Counsellor.id == counsellor_id).values(is_active=False)
                    .execution_options(synchronize_session=False))


# ---- console logins -----------------------------------------------------------------------------

async def add_login(s: AsyncSession, counsellor_id: int, token_hash: str, now: float) -> int:
    row = ConsoleLogin(token_hash=token_hash, counsellor_id=counsellor_id, created_at=now, last_seen_at=now)
    s.add(row)
    await s.flush()
    return row.id


async def login_by_token(s: AsyncSession, token_hash: str) -> ConsoleLogin | None:
    return (await s.execute(select(ConsoleLogin).where(ConsoleLogin.token_hash == token_hash))).scalar_one_or_none()


async def touch_login(s: AsyncSession, login_id: int, now: float) -> None:
    """The login's last activity (for the idle timeout)."""
    await s.execute(update(ConsoleLogin).where(ConsoleLogin.id == login_id).values(last_seen_at=now)
                    .execution_options(synchronize_session=False))


async def end_login(s: AsyncSession, login_id: int, now: float, reason: str) -> bool:
    result = await s.execute(update(ConsoleLogin).where(ConsoleLogin.id == login_id, ConsoleLogin.ended_at.is_(None))
                             .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def end_logins(s: AsyncSession, counsellor_id: int, now: float, reason: str) -> int:
    """End every open login of a counsellor (a new password, a disabled account)."""
    result = await s.execute(update(ConsoleLogin)
                             .where(ConsoleLogin.counsellor_id == counsellor_id, ConsoleLogin.ended_at.is_(None))
                             .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False))
    return result.rowcount or 0


# ---- the second factor ----------------------------------------------------------------------

async def set_totp(s: AsyncSession, counsellor_id: int, secret_enc: bytes | None) -> None:
    """A new sealed TOTP secret (None: none), forgetting the last step used."""
    await s.execute(update(Counsellor).where(Counsellor.id == counsellor_id)
                    .values(totp_secret_enc=secret_enc, totp_last_step=None).execution_options(synchronize_session=False))


async def use_totp_step(s: AsyncSession, counsellor_id: int, step: int) -> bool:
    """Record ``step`` as used; False when it (or a later one) was used already: a code counts once."""
    result = await s.execute(
        update(Counsellor).where(Counsellor.id == counsellor_id,
                                 or_(Counsellor.totp_last_step.is_(None), Counsellor.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def replace_recovery_codes(s: AsyncSession, counsellor_id: int, hashes: list[str], now: float) -> None:
    await s.execute(delete(RecoveryCode).where(RecoveryCode.counsellor_id == counsellor_id))
    s.add_all(RecoveryCode(counsellor_id=counsellor_id, code_hash=h, created_at=now) for h in hashes)
    await s.flush()


async def use_recovery_code(s: AsyncSession, counsellor_id: int, hashes: list[str], now: float) -> bool:
    """Spend the unused code with one of these hashes; False when there is none."""
    found = (await s.execute(select(RecoveryCode.id).where(
        RecoveryCode.counsellor_id == counsellor_id, RecoveryCode.used_at.is_(None),
        RecoveryCode.code_hash.in_(hashes)).limit(1))).scalar_one_or_none()
    if found is None:
        return False
    result = await s.execute(update(RecoveryCode).where(RecoveryCode.id == found, RecoveryCode.used_at.is_(None))
                             .values(used_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def unused_recovery_codes(s: AsyncSession, counsellor_id: int) -> int:
    return (await s.execute(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.counsellor_id == counsellor_id, RecoveryCode.used_at.is_(None)))).scalar_one()


async def last_logins(s: AsyncSession) -> dict[int, float]:
    """When each account last logged in (accounts that never did are absent)."""
    rows = await s.execute(select(ConsoleLogin.counsellor_id, func.max(ConsoleLogin.created_at))
                           .group_by(ConsoleLogin.counsellor_id))
    return {cid: at for cid, at in rows}


async def online_counsellors(s: AsyncSession, now: float, idle_seconds: float, login_seconds: float) -> list[Counsellor]:
    """Active accounts with a console login that still holds now (not ended, not idle for
    ``idle_seconds``, younger than ``login_seconds``), by name: who is at the console."""
    holding = (select(ConsoleLogin.counsellor_id)
               .where(ConsoleLogin.ended_at.is_(None), ConsoleLogin.last_seen_at > now - idle_seconds,
                      ConsoleLogin.created_at > now - login_seconds))
    stmt = (select(Counsellor).where(Counsellor.is_active.is_(True), Counsellor.id.in_(holding))
            .order_by(Counsellor.name))
    return list((await s.execute(stmt)).scalars())
