"""Daily figures with no identity, and the report the console shows.

Figures are counters per local day (``BOT_TIMEZONE``): ``conversations`` (people active that
day), ``reached:<tag>`` (conversations that reached a state tagged evidence, law,
crisis... for the first time), ``asked_person``. Handoffs and their waits are read from the
handoffs table itself (``report``). Nothing here can be traced back.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import DailyFigure, Handoff


def _upsert(insert):
    table = DailyFigure.__table__  # Core, not the ORM: the ORM's bulk path costs more than the statement
    stmt = insert(table).values(day=bindparam("d"), name=bindparam("n"), value=bindparam("v"))
    return stmt.on_conflict_do_update(index_elements=["day", "name"],
                                      set_={"value": table.c.value + stmt.excluded.value})


# One prepared statement, run for several counters at once (executemany).
_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def _rows(amounts: dict[tuple[str, str], float]) -> list[dict]:
    return [{"d": d, "n": n, "v": v} for (d, n), v in sorted(amounts.items())]


def bump_days_sync(conn: Connection, amounts: dict[tuple[str, str], float]) -> None:
    """Add to counters of any days, ``{(day, name): amount}``, in one statement (executemany),
    inside ``Store.run``."""
    if amounts:
        conn.execute(_UPSERT[conn.dialect.name], _rows(amounts))


@dataclass(frozen=True)
class DayFigures:
    day: str
    conversations: int
    evidence: int
    law: int
    asked_person: int
    handoffs: int
    answered: int
    mean_wait_minutes: float | None


async def report(s: AsyncSession, days: int, now: float, tz: str) -> list[DayFigures]:
    """The last ``days`` local days, newest first: counts only, never who."""
    zone = ZoneInfo(tz)
    today = dt.datetime.fromtimestamp(now, zone).date()
    wanted = [(today - dt.timedelta(days=i)).isoformat() for i in range(days)]
    counts: dict[tuple[str, str], float] = {}
    rows = await s.execute(select(DailyFigure.day, DailyFigure.name, DailyFigure.value)
                           .where(DailyFigure.day.in_(wanted)))
    for day, name, value in rows:
        counts[(day, name)] = value
    # Handoffs and waits come from the handoffs table itself (closed ones stay until purge).
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), zone).timestamp()
    hrows = await s.execute(select(Handoff.queued_at, Handoff.taken_at).where(Handoff.queued_at >= start))
    per_day: dict[str, list[float | None]] = {}
    for queued_at, taken_at in hrows:
        day = dt.datetime.fromtimestamp(queued_at, zone).date().isoformat()
        per_day.setdefault(day, []).append(None if taken_at is None else taken_at - queued_at)
    out = []
    for day in wanted:
        waits = per_day.get(day, [])
        answered = [w for w in waits if w is not None]
        out.append(DayFigures(
            day=day,
            conversations=int(counts.get((day, "conversations"), 0)),
            evidence=int(counts.get((day, "reached:evidence"), 0)),
            law=int(counts.get((day, "reached:law"), 0)),
            asked_person=int(counts.get((day, "asked_person"), 0)),
            handoffs=len(waits),
            answered=len(answered),
            mean_wait_minutes=round(sum(answered) / len(answered) / 60, 1) if answered else None,
        ))
    return out
