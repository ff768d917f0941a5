"""Shared helpers for engine tests: the small fixture flow and a clock."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from bot.engine import Bundle, load_bundle

MINI = Path(__file__).parent / "fixtures" / "mini"
TODAY = dt.date(2026, 11, 25)
NIGHT = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def mini_bundle() -> Bundle:
    bundle = load_bundle(MINI / "flows", MINI / "locales", TODAY)
    assert not bundle.errors, bundle.errors
    return bundle


def copy_mini(tmp_path: Path) -> tuple[Path, Path]:
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    shutil.copytree(MINI / "flows", flows)
    shutil.copytree(MINI / "locales", locales)
    return flows, locales
