"""``../shared``: the notes laid beside the checkout on the build machines and in CI.

The tests read two things from it: LINE's OpenAPI documents (``line-openapi/``, a second check
of what the bot sends to LINE, see ``tests/channels/line_contract.py``) and ``content/FACTS.md``
(every phone number the bot can say must be listed there). A clone made anywhere else has no
``../shared``: those tests skip there, saying why, and everything else runs.

Where ``../shared`` must be present, they fail instead of skipping, so that a run cannot stop
checking them unnoticed: ``BOT_TEST_REQUIRE_SHARED=true``, which is the default under
``CI=true``. ``.ci/run`` sets it to ``false`` for its run in a bare clone.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LINE_OPENAPI = SHARED / "line-openapi"
FACTS = SHARED / "content" / "FACTS.md"


def shared_required() -> bool:
    value = os.environ.get("BOT_TEST_REQUIRE_SHARED") or os.environ.get("CI", "")
    return value.strip().lower() == "true"


def require(path: Path, what: str) -> Path:
    """``path`` when it exists; else skip (or, where ``../shared`` is required, fail) naming it."""
    if path.exists():
        return path
    reason = f"{what}: {path} not found (../shared is laid beside the checkout on the build machines and in CI)"
    if shared_required():
        pytest.fail(f"{reason}; BOT_TEST_REQUIRE_SHARED (or CI) says it must be there")
    pytest.skip(reason)
