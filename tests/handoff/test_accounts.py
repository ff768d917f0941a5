"""Counsellor accounts: created hashed, checked, and from the command line."""
import pytest

from bot.handoff import queries as q
from bot.handoff.accounts import AccountError, authenticate, create_counsellor, run_add_counsellor
from bot.settings import Settings
from bot.store import Store


async def test_create_and_authenticate(store):
    cid = await create_counsellor(store, "aiko", "a long password")
    async with store.transaction() as s:
        row = await q.counsellor_by_id(s, cid)
    assert row.password_hash.startswith("$argon2id$") and "a long password" not in row.password_hash
    assert (await authenticate(store, "aiko", "a long password")).id == cid
    assert await authenticate(store, "aiko", "wrong password") is None
    assert await authenticate(store, "nobody", "a long password") is None
    with pytest.raises(AccountError):
        await create_counsellor(store, "aiko", "another password")
    with pytest.raises(AccountError):
        await create_counsellor(store, "ben", "short")


def test_command_line(tmp_path, capsys):
    settings = Settings.from_env(BOT_DATA_DIR=str(tmp_path))
    assert run_add_counsellor(settings, "aiko", "a long password") == 0
    assert "a long password" not in capsys.readouterr().out
    assert run_add_counsellor(settings, "aiko", "a long password") == 1
    assert "already exists" in capsys.readouterr().err
    assert run_add_counsellor(settings, "ben", "short") == 1
