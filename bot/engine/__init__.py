"""The dialogue engine: flows from YAML, a pure ``step`` function, checks and diagrams.

Owns: flow and locale loading and validation, text normalisation, intent matching, turns.
Loading is ``loader`` (the order), ``locales`` (the language files), ``checks`` (one function per
check, its codes and messages in ``codes``) and ``compile`` (the ``Flow``); ``machine`` says where
every move leads; ``turn`` runs one input; ``graph`` draws the flow.
Must not import: aiohttp, discord, linebot, sqlalchemy, asyncpg, aiosqlite, os.environ, the clock.
The caller passes ``now``; the engine never reads the time, the network or a database.
"""
from .codes import Code
from .errors import FlowError, FlowIssue, issue_records
from .flow import FALLBACK, HUMAN_CHOICE_ID, START
from .loader import Bundle, load_bundle, load_or_raise
from .model import Choice, Effect, Flow, Link, Reply, Session, Turn, UserInput
from .turn import enter, new_session, step

__all__ = [
    "Bundle", "Choice", "Code", "Effect", "FALLBACK", "Flow", "FlowError", "FlowIssue", "HUMAN_CHOICE_ID",
    "Link", "Reply", "START", "Session", "Turn", "UserInput", "load_bundle", "load_or_raise",
    "enter", "issue_records", "new_session", "step",
]
