"""Helpers for the handoff tests: the mini fixture flow with the console's locale files."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from bot.engine import Bundle, load_bundle

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "engine" / "fixtures" / "mini"


def content_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """flows/ and locales/ under ``tmp_path``: the mini flow plus locales/*.console.yaml."""
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    if not flows.exists():
        shutil.copytree(MINI / "flows", flows)
        shutil.copytree(MINI / "locales", locales)
        for f in (ROOT / "locales").glob("*.console.yaml"):
            shutil.copy(f, locales / f.name)
    return flows, locales


def bundle_with_console(tmp_path: Path) -> Bundle:
    flows, locales = content_dirs(tmp_path)
    return load_bundle(flows, locales, dt.date(2026, 11, 25))
