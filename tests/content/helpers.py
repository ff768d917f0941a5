"""Shared helpers for the content tests: the real flows and locales, a clock, short walks."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from bot.engine import Bundle, Session, Turn, UserInput, load_bundle, step

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
LOCALES = ROOT / "locales"
# The day the content was written; `verified` dates in resources.yaml are checked against the
# real date by `bot check`, not here, so that these tests do not start failing in six months.
TODAY = dt.date(2026, 11, 25)
NIGHT = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # 2am in Tokyo


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    return load_bundle(FLOWS, LOCALES, TODAY)


def flow():
    return bundle().flow("first_contact")


def walk(inputs: list[str], locale: str = "ja", session: Session | None = None) -> tuple[Session, Turn]:
    """Run ``inputs`` ("start", "tap:<id>", or typed text) and return the last session and turn."""
    turn = None
    for item in inputs:
        if item == "start":
            user_input = UserInput("start", locale_hint=locale)
        elif item.startswith("tap:"):
            user_input = UserInput.tapped(item[4:], session.state if session else None)
        else:
            user_input = UserInput.typed(item, locale_hint=locale)
        turn = step(flow(), session, user_input, NIGHT)
        session = turn.session
    return session, turn


def locale_of(text: str) -> str:
    """English for text without Japanese characters, else Japanese (the bot's default)."""
    return "en" if all(ord(c) < 0x3000 or 0xFF01 <= ord(c) <= 0xFF5E for c in text if not c.isspace()) else "ja"


def typed_at(locale: str, state: str, text: str, variables: dict | None = None) -> Turn:
    """One message typed in ``state`` ("start": the first message of a conversation), ten
    minutes into a conversation at 2am, on the real flow."""
    ts = NIGHT.timestamp()
    session = None
    if state != "start":
        session = Session(state, locale, flow().version, dict(variables or {}), (state,), ts - 600, ts - 30)
    return step(flow(), session, UserInput.typed(text, locale_hint=locale), NIGHT)


def tags_of(turn: Turn) -> set[str]:
    """Every tag of the states a turn passed through and stopped at."""
    return set(turn.entered_tags) | set(turn.tags)
