"""``python -m bot serve --demo``: a demo counsellor, and where to click.

``bot.app.run_serve`` calls ``setup_demo(app, runtime, host, port)``; on start-up it makes the
counsellor ``demo`` with a new random password (printed once, on the terminal only) and prints
the addresses of the web chat and of the console.
"""
from __future__ import annotations

import secrets
import sys

from aiohttp import web

from bot.errors import BotError

from bot.store import counsellors

from .accounts import create_counsellor

DEMO_NAME = "demo"


class DemoAccountActive(BotError):
    """Production refuses to start while the demo's counsellor account is active."""


async def refuse_active_demo_account(store) -> None:
    """In production: raise ``DemoAccountActive`` when an active account is named ``demo``
    (``serve --demo`` made it, and printed its password on a terminal)."""
    async with store.transaction() as s:
        row = await counsellors.counsellor_by_name(s, DEMO_NAME)
    if row is not None and row.is_active:
        raise DemoAccountActive(f'an active counsellor account is named "{DEMO_NAME}" (made by serve --demo, its '
                                f"password was printed): disable it with `python -m bot counsellor disable {DEMO_NAME}`")


async def prepare_demo(runtime, wait_seconds: float = 60.0) -> tuple[str, str]:
    """Create the demo counsellor, or give it a new password. Returns (name, password).

    The runtime migrates the database as it starts, in the background: wait for the tables
    rather than run a second migration beside it.
    """
    password = secrets.token_urlsafe(12)
    await runtime.store.wait_for_schema(wait_seconds)
    await create_counsellor(runtime.store, DEMO_NAME, password, replace=True, role="admin")
    return DEMO_NAME, password


def demo_banner(base_url: str, name: str, password: str) -> str:
    return (
        "\n"
        "  First-contact bot: demo (SQLite, no LINE or Discord account needed)\n"
        f"  web chat:  {base_url}/chat\n"
        f"  console:   {base_url}/console\n"
        f"  login:     {name} / {password}\n"
        "  Stop with Ctrl+C.\n"
    )


def setup_demo(app: web.Application, runtime, host: str, port: int, out=None) -> None:
    async def on_startup(app: web.Application) -> None:
        name, password = await prepare_demo(runtime)
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
        print(demo_banner(f"http://{shown}:{port}", name, password), file=out or sys.stdout, flush=True)

    app.on_startup.append(on_startup)
