"""The root of every error this project raises on purpose, and how a log line names where one came from."""
import traceback


class BotError(Exception):
    """Base class: catch this to catch anything the bot raises deliberately."""


def raised_at(exc: BaseException) -> str:
    """file:line of the innermost frame, for a log line that must not carry the message."""
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
