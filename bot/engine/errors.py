"""Problems found in flows, locales and resources, written for NGO staff.

Each problem has a stable code, the file and line it comes from, and a fix in plain words.
Errors stop a flow from loading; warnings are reported and the flow still loads.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BotError

ERROR = "error"
WARNING = "warning"

# code -> short name. Codes are stable: tests and docs refer to them.
CODES = {
    "F100": "YamlSyntax",
    "F101": "SchemaError",
    "F102": "MissingTarget",
    "F103": "UnreachableState",
    "F104": "DeadEnd",
    "F105": "MissingLocaleKey",
    "F106": "IntentWithoutKeywords",
    "F107": "NoCrisisInterrupt",
    "F108": "TooLongForPlatform",
    "F109": "AutoMoveLoop",
    "F110": "UnknownResource",
    "F111": "UnknownIntent",
    "F112": "DuplicateChoice",
    "F113": "BadPlaceholder",
    "F114": "MissingFile",
    "F115": "UnknownWordList",
    "W201": "UnusedLocaleKey",
    "W202": "LongBubble",
    "W203": "ResourceVerifiedLongAgo",
    "W204": "UnusableModel",
}


@dataclass(frozen=True)
class FlowIssue:
    """One problem, with where it is and how to fix it."""

    code: str
    severity: str
    file: str
    line: int | None
    message: str
    state: str | None = None

    @property
    def name(self) -> str:
        return CODES.get(self.code, "Unknown")

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        state = f', state "{self.state}"' if self.state else ""
        return f"{where}{state}: {self.severity} {self.code} {self.name}: {self.message}"


class FlowError(BotError):
    """Raised when flows cannot be loaded; holds every issue found in one pass."""

    def __init__(self, issues: list[FlowIssue]):
        self.issues = issues
        errors = [i for i in issues if i.severity == ERROR]
        super().__init__("\n".join(str(i) for i in errors) or "flow error")
