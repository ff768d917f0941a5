"""The error of a name, password, role or second factor that cannot be used (accounts, second factor)."""
from __future__ import annotations


class AccountError(ValueError):
    """A name or password that cannot be used; the message says why (in English, for the shell).
    ``key`` and ``variables``: the same in the console's language (``console.account_error.<key>``)."""

    def __init__(self, message: str, key: str = "invalid", **variables):
        super().__init__(message)
        self.key, self.variables = key, variables
