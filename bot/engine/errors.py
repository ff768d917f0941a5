"""Problems found in flows, locales and resources, written for NGO staff in Japanese and English.

Each problem has a stable code (``codes.Code``), the file and line it comes from, the state it
concerns, and a fix in plain words in both languages. Errors stop a flow from loading; warnings
are reported and the flow still loads.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable

from bot.errors import BotError

from .codes import SEVERITY_WORDS, STATE_WORDS, SUGGESTION, Code, Message, Severity

ERROR = Severity.ERROR
WARNING = Severity.WARNING
LANGUAGES = ("ja", "en")


@dataclass(frozen=True)
class FlowIssue:
    """One problem, with where it is and how to fix it (``message`` in English, ``message_ja``)."""

    code: Code
    severity: Severity
    file: str
    line: int | None
    message: str
    state: str | None = None
    message_ja: str = ""

    @classmethod
    def of(cls, msg: Message, file: str, line: int | None, state: str | None = None,
           suggestion: str | None = None, **params: Any) -> "FlowIssue":
        """The issue ``msg`` explains, its placeholders filled from ``params``; ``suggestion`` adds
        a "did you mean"."""
        def render(lang: str) -> str:
            text = msg.text(lang).format(**params)
            if suggestion:
                text += SUGGESTION.text(lang).format(suggestion=suggestion)
            return text
        return cls(msg.code, msg.code.severity, file, line, render("en"), state, render("ja"))

    @property
    def name(self) -> str:
        return self.code.title

    def text(self, lang: str = "en") -> str:
        return self.message_ja if lang == "ja" and self.message_ja else self.message

    def describe(self, lang: str = "en") -> str:
        """``file:line, state "x": error F102 MissingTarget: what to do``, in ``lang``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        state = STATE_WORDS.text(lang).format(state=self.state) if self.state else ""
        severity = SEVERITY_WORDS.get(lang, SEVERITY_WORDS["en"])[self.severity]
        return f"{where}{state}: {severity} {self.code} {self.name}: {self.text(lang)}"

    def __str__(self) -> str:
        return self.describe("en")

    def as_record(self) -> dict[str, Any]:
        """Plain data for a web page or JSON (the console, ``/readyz`` details): no objects."""
        return {"code": str(self.code), "name": self.name, "severity": str(self.severity), "file": self.file,
                "line": self.line, "state": self.state, "message_ja": self.text("ja"), "message_en": self.message}


def issue_records(issues: Iterable[FlowIssue]) -> list[dict[str, Any]]:
    """``issues`` as plain records (code, name, severity, file, line, state, message_ja,
    message_en), errors first, then by file and line: what a rejected edit shows to staff."""
    ordered = sorted(issues, key=lambda i: (i.severity != ERROR, i.file, i.line or 0))
    return [i.as_record() for i in ordered]


class Issues(list):
    """Where checks put what they find, in the order found."""

    def add(self, msg: Message, file: str, line: int | None, state: str | None = None,
            suggestion: str | None = None, **params: Any) -> None:
        self.append(FlowIssue.of(msg, file, line, state, suggestion, **params))

    @property
    def errors(self) -> list[FlowIssue]:
        return [i for i in self if i.severity == ERROR]


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The option closest to a misspelt ``word``, if one is close enough to be worth saying."""
    choices = [str(o) for o in options if str(o) != word]
    found = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if not found:  # "Evidence" for "evidence": case alone
        folded = {c.lower(): c for c in choices}
        found = [folded[str(word).lower()]] if str(word).lower() in folded else []
    return found[0] if found else None


class FlowError(BotError):
    """Raised when flows cannot be loaded; holds every issue found in one pass."""

    def __init__(self, issues: list[FlowIssue]):
        self.issues = issues
        errors = [i for i in issues if i.severity == ERROR]
        super().__init__("\n".join(str(i) for i in errors) or "flow error")
