"""Named settings the staff flip at run time (``switches``), shared by every process."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Switch

NOBODY_AVAILABLE = "nobody_available"  # the console's "nobody can answer now"


async def switch_is_on(s: AsyncSession, name: str = NOBODY_AVAILABLE) -> bool:
    row = await s.get(Switch, name)
    return row is not None and row.value == "1"


async def set_switch(s: AsyncSession, on: bool, now: float, name: str = NOBODY_AVAILABLE) -> None:
    insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
    value = "1" if on else "0"
    stmt = insert(Switch).values(name=name, value=value, updated_at=now)
    await s.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": now}))
