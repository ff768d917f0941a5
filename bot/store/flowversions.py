"""The SQL of flow versions (``flow_versions``): drafts and published versions of the content.

The bot serves the newest published version (by ``published_at``). Publishing notifies
``CHANNEL`` when the transaction commits, so every PostgreSQL process reloads within moments;
SQLite processes poll ``published_head``. ``bot.flowversions`` decides what may be published.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.flowfiles import FlowFiles

from .models import DRAFT, PUBLISHED, FlowVersion
from .notify import notify

CHANNEL = "bot_flows"
_SEED_LOCK = 0x464C_4F57  # any constant: one advisory lock for storing the first version


@dataclass(frozen=True)
class VersionInfo:
    """A version without its files (for lists)."""

    id: int
    status: str
    author: str
    created_at: float
    published_at: float | None
    note: str
    parent_id: int | None


def _info(row: FlowVersion) -> VersionInfo:
    return VersionInfo(row.id, row.status, row.author, row.created_at, row.published_at, row.note, row.parent_id)


def files_of(row: FlowVersion) -> FlowFiles:
    return FlowFiles(row.flow_file, row.flow_yaml, row.resources_yaml, json.loads(row.locales_json))


async def add(s: AsyncSession, files: FlowFiles, *, author: str, note: str, at: float,
              parent_id: int | None = None, published: bool = False) -> int:
    """A new version (a draft, or published now); its id."""
    result = await s.execute(insert(FlowVersion).values(
        status=PUBLISHED if published else DRAFT, flow_file=files.flow_file, flow_yaml=files.flow,
        resources_yaml=files.resources, locales_json=json.dumps(files.locales, ensure_ascii=False, sort_keys=True),
        author=author[:80], created_at=at, published_at=at if published else None, note=note,
        parent_id=parent_id).returning(FlowVersion.id))
    new_id = result.scalar_one()
    if published:
        await notify(s, CHANNEL)
    return new_id


async def seed(s: AsyncSession, files: FlowFiles, *, author: str, note: str, at: float) -> int | None:
    """Store ``files`` as the first published version when there is none yet; its id, or None
    when the table already has versions. Processes starting together store it once."""
    await lock_seeding(s)
    if (await s.execute(select(FlowVersion.id).limit(1))).first() is not None:
        return None
    return await add(s, files, author=author, note=note, at=at, published=True)


async def lock_seeding(s: AsyncSession) -> None:
    """Order the processes that store a version of the repository's files (the first one, or
    one after an upgrade) until the transaction ends."""
    if s.bind.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already orders writers
        await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEED_LOCK})


async def every(s: AsyncSession, limit: int = 1000) -> list[FlowVersion]:
    """The versions with their files, oldest first (the newest ``limit``)."""
    rows = (await s.execute(select(FlowVersion).order_by(FlowVersion.id.desc()).limit(limit))).scalars()
    return list(rows)[::-1]


async def get(s: AsyncSession, version_id: int) -> FlowVersion | None:
    return await s.get(FlowVersion, version_id)


async def published_head(s: AsyncSession) -> int | None:
    """The id of the version the bot serves: the newest published one."""
    return (await s.execute(select(FlowVersion.id).where(FlowVersion.status == PUBLISHED)
                            .order_by(FlowVersion.published_at.desc(), FlowVersion.id.desc()).limit(1))).scalar()


async def mark_published(s: AsyncSession, version_id: int, at: float) -> None:
    await s.execute(update(FlowVersion).where(FlowVersion.id == version_id).values(status=PUBLISHED, published_at=at))
    await notify(s, CHANNEL)


async def newest_draft(s: AsyncSession, parent_id: int | None) -> int | None:
    """The newest draft started from ``parent_id`` (the editor's working draft), or None."""
    return (await s.execute(select(FlowVersion.id).where(FlowVersion.status == DRAFT, FlowVersion.parent_id == parent_id)
                            .order_by(FlowVersion.id.desc()).limit(1))).scalar()


async def lock_draft(s: AsyncSession, version_id: int) -> FlowVersion | None:
    """A draft's row, locked until the transaction ends (two editors' changes apply one after the
    other, neither is lost); None when ``version_id`` is not a draft."""
    query = select(FlowVersion).where(FlowVersion.id == version_id, FlowVersion.status == DRAFT)
    if s.bind.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already orders writers
        query = query.with_for_update()
    return (await s.execute(query)).scalar_one_or_none()


async def update_draft(s: AsyncSession, row: FlowVersion, files: FlowFiles, *, author: str,
                       note: str | None = None) -> None:
    """Replace a draft's files (a published version never changes)."""
    assert row.status == DRAFT
    row.flow_file, row.flow_yaml, row.resources_yaml = files.flow_file, files.flow, files.resources
    row.locales_json = json.dumps(files.locales, ensure_ascii=False, sort_keys=True)
    row.author = author[:80]
    if note is not None:
        row.note = note


async def listing(s: AsyncSession, limit: int = 50) -> list[VersionInfo]:
    """The newest versions first."""
    rows = (await s.execute(select(FlowVersion).order_by(FlowVersion.id.desc()).limit(limit))).scalars()
    return [_info(r) for r in rows]


async def count(s: AsyncSession) -> int:
    return (await s.execute(select(func.count()).select_from(FlowVersion))).scalar_one()
