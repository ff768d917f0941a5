"""Daily figures with no identity, and the run-time switches staff flip.

Figures are counters per local day (``BOT_TIMEZONE``): ``conversations`` (people active that
day), ``reached:<tag>`` (conversations that reached a state tagged evidence, law,
crisis... for the first time), ``asked_person``, ``handoff_waits`` and ``handoff_wait_seconds``
(the handoff part adds a wait when a counsellor takes one). Nothing here can be traced back.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .db import dialect_name
from .models import DailyFigure, Switch

NOBODY_AVAILABLE = "nobody_available"  # switch: "nobody can answer now"


def local_day(ts: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz)).date().isoformat()


async def bump(session: AsyncSession, day: str, name: str, amount: float = 1.0) -> None:
    await bump_many(session, day, {name: amount})


def _upsert(insert):
    table = DailyFigure.__table__  # Core, not the ORM: the ORM's bulk path costs more than the statement
    stmt = insert(table).values(day=bindparam("d"), name=bindparam("n"), value=bindparam("v"))
    return stmt.on_conflict_do_update(index_elements=["day", "name"],
                                      set_={"value": table.c.value + stmt.excluded.value})


# One prepared statement, run for several counters at once (executemany).
_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


async def bump_many(session: AsyncSession | AsyncConnection, day: str, amounts: dict[str, float]) -> None:
    """Add to several counters of one day."""
    await bump_days(session, {(day, n): v for n, v in amounts.items()})


def _rows(amounts: dict[tuple[str, str], float]) -> list[dict]:
    return [{"d": d, "n": n, "v": v} for (d, n), v in sorted(amounts.items())]


async def bump_days(session: AsyncSession | AsyncConnection, amounts: dict[tuple[str, str], float]) -> None:
    """Add to counters of any days, ``{(day, name): amount}``, in one statement (executemany)."""
    if amounts:
        await session.execute(_UPSERT[dialect_name(session)], _rows(amounts))


def bump_days_sync(conn: Connection, amounts: dict[tuple[str, str], float]) -> None:
    """``bump_days`` inside ``Store.run``."""
    if amounts:
        conn.execute(_UPSERT[conn.dialect.name], _rows(amounts))


async def read(session: AsyncSession, first_day: str, last_day: str) -> dict[str, dict[str, float]]:
    """``{day: {name: value}}`` for the days in [first_day, last_day]."""
    rows = (await session.execute(select(DailyFigure).where(DailyFigure.day >= first_day, DailyFigure.day <= last_day)
                                  .order_by(DailyFigure.day, DailyFigure.name))).scalars().all()
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r.day, {})[r.name] = r.value
    return out


async def get_switch(session: AsyncSession, name: str, default: str = "") -> str:
    row = await session.get(Switch, name)
    return row.value if row is not None else default


async def set_switch(session: AsyncSession, name: str, value: str, now: float) -> None:
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Switch).values(name=name, value=value, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": now})
    await session.execute(stmt)
