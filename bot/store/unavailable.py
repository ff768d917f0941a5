"""What "the database is not there" means (down, full, read-only, a lost connection), as opposed
to a bug in a query: ``is_unavailable``, and ``StoreUnavailable``, which the store raises for it."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot.errors import BotError

log = logging.getLogger("bot.store.db")  # the name these lines have always had


class StoreUnavailable(BotError):
    """The database cannot be reached (down, full, locked too long, wrong URL).

    Raised by ``Runtime.accept``: the adapter should answer the person with
    ``runtime.safety_text(locale)`` and tell the platform to retry where it can.
    """


# Errors that mean "the database is not there", as opposed to a bug in a query.
_UNAVAILABLE = (OperationalError, InterfaceError, OSError, ConnectionError, asyncio.TimeoutError)


# SQLite reports a syntax error as OperationalError too: only these mean "not reachable".
_SQLITE_DOWN = ("unable to open", "database is locked", "disk i/o error", "disk is full", "readonly database",
                "no such table", "file is not a database")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError) and type(exc.orig).__module__.startswith("sqlite3"):
        return any(p in str(exc.orig).lower() for p in _SQLITE_DOWN)
    if isinstance(exc, _UNAVAILABLE):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg raises its own classes for a server that is starting or shutting down.
    name = type(exc).__name__
    if name in ("CannotConnectNowError", "ConnectionDoesNotExistError", "AdminShutdownError",
                "TooManyConnectionsError", "ConnectionFailureError"):
        return True
    # Through SQLAlchemy they carry their SQLSTATE: the connection lost (class 08), no room
    # (53: disk full, out of memory), the server shutting down (57P), or read-only (25006).
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    return code.startswith(("08", "53", "57P")) or code == "25006"


def store_error(exc: Exception, failed: Callable[[BaseException], None] | None = None) -> Exception:
    """``StoreUnavailable`` (from ``exc``) when ``exc`` means the database cannot be reached;
    otherwise ``exc`` itself. ``failed(exc)`` is told of every such failure."""
    if isinstance(exc, StoreUnavailable):
        if failed is not None:
            failed(exc)
        return exc
    if not is_unavailable(exc):
        return exc
    log.error("store.unavailable", extra={"code": type(exc).__name__})
    if failed is not None:
        failed(exc)
    error = StoreUnavailable("the database cannot be reached")
    error.__cause__ = exc
    return error


@contextlib.asynccontextmanager
async def _unreachable_as_store_unavailable(failed: Callable[[BaseException], None] | None = None
                                            ) -> AsyncIterator[None]:
    """A database that cannot be reached raises ``StoreUnavailable``; other errors pass through."""
    try:
        yield
    except Exception as exc:
        error = store_error(exc, failed)
        if error is exc:
            raise
        raise error from exc
