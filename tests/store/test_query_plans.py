"""The per-turn queries use indexes, so a turn costs the same with 1,000 or 100,000 stored
conversations (bench/store_bench.py measures it; this keeps the plans from regressing).
SQLite only: its plans do not depend on table statistics, PostgreSQL's do."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bot.store import inbox, outbox, conversations
from bot.store.models import Conversation

from ..conftest import SECRET


class Capture:
    """Runs the store function against a fake session that records the SELECT it builds."""

    def __init__(self):
        self.statements = []
        self.bind = type("B", (), {"dialect": sqlite_dialect.dialect()})()

    async def execute(self, stmt, params=None, **k):
        self.statements.append(stmt.params(**params) if isinstance(params, dict) else stmt)

        class R:
            def scalar_one_or_none(self):
                return None

            def scalars(self):
                return type("S", (), {"all": lambda self: []})()

        return R()


def plan(db_path, stmt, **params) -> str:
    if params:
        stmt = stmt.params(**params)
    compiled = stmt.compile(dialect=sqlite_dialect.dialect(),
                            compile_kwargs={"literal_binds": True, "render_postcompile": True})
    con = sqlite3.connect(db_path)
    try:
        rows = con.execute("EXPLAIN QUERY PLAN " + str(compiled)).fetchall()
    finally:
        con.close()
    return "\n".join(r[-1] for r in rows)


@pytest.fixture
async def db_path(tmp_path):
    from bot.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", SECRET)
    await store.upgrade()
    await store.dispose()
    return tmp_path / "bot.db"


def no_full_scan(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("SCAN") and "USING" not in line:
            raise AssertionError(f"full table scan: {line}\n{text}")


async def test_claiming_a_batch_of_events_uses_the_pending_index(db_path):
    text = plan(db_path, inbox.CLAIM_ROWS[False], limit=16)
    no_full_scan(text)
    assert "ix_inbox_pending" in text


async def test_claiming_due_deliveries_uses_the_pending_index(db_path):
    text = plan(db_path, outbox.DUE[False], now=0.0, channels=["line"], limit=32)
    no_full_scan(text)
    assert "ix_outbox_pending" in text


async def test_loading_a_batch_of_conversations_uses_the_pseudonym_index(db_path):
    text = plan(db_path, conversations.LOAD_MANY[False], ps=["p" * 64, "q" * 64])
    no_full_scan(text)
    assert "pseudonym" in text or "uq_conversations" in text


async def test_finding_a_conversation_uses_the_pseudonym_index(db_path):
    cap = Capture()
    await conversations.get_by_pseudonym(cap, "p" * 64)
    text = plan(db_path, cap.statements[0])
    no_full_scan(text)
    assert "pseudonym" in text or "uq_conversations" in text
    assert Conversation.__table__.c.pseudonym.unique
