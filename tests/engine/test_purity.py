"""The engine stays pure: no I/O libraries, no environment, no clock (STYLE.md)."""
from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "bot" / "engine"
FORBIDDEN_MODULES = {"aiohttp", "sqlalchemy", "discord", "linebot", "asyncpg", "aiosqlite", "socket", "requests", "subprocess"}


def test_engine_imports_no_io_library_and_reads_no_clock_or_environment():
    problems = []
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"{path.name}: imports {name}")
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                problems.append(f"{path.name}: reads the environment")
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today", "time") and path.name == "turn.py":
                problems.append(f"{path.name}: reads the clock ({node.attr})")
    assert problems == []
