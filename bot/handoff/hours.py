"""Office hours: when counsellors answer, read from ``office_hours.yaml``.

Pure: the caller passes ``now``. An example file::

    timezone: Asia/Tokyo
    weekly:
      - {days: weekdays, from: "10:00", to: "22:00"}
      - {days: fri, from: "20:00", to: "02:00"}   # past midnight: Friday 8pm to Saturday 2am
    closed: ["12-31", "2027-01-04"]                # every year, or once

A day in ``closed`` starts no shift (a shift that began the evening before still ends as written).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.engine.resources import DAY_NAMES, expand_days
from bot.errors import BotError

LOOKAHEAD_DAYS = 400  # how far ahead "when are counsellors back" looks before giving up


class OfficeHoursError(BotError):
    """``office_hours.yaml`` cannot be read; the message names the file and what is wrong."""


class _Shift(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    days: list[str]
    from_: str = Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    to: str = Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")

    @field_validator("days", mode="before")
    @classmethod
    def _expand(cls, value):
        return expand_days(value)


class _HoursDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str | None = None
    weekly: list[_Shift] = Field(default_factory=list)
    closed: list[str] = Field(default_factory=list)

    @field_validator("closed", mode="before")
    @classmethod
    def _dates(cls, value):
        out = []
        for item in value or []:
            text = item.isoformat() if isinstance(item, dt.date) else str(item)
            if not re.fullmatch(r"(\d{4}-)?\d{2}-\d{2}", text):
                raise ValueError(f'"{text}" is not a date: write "MM-DD" (every year) or "YYYY-MM-DD"')
            out.append(text)
        return out


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class OfficeHours:
    """Weekly shifts and closed dates in one time zone."""

    tz: ZoneInfo
    shifts: tuple[tuple[int, int, int], ...]   # (weekday 0=Mon, start minute, end minute; end may pass 1440)
    closed: frozenset[str]                     # "MM-DD" or "YYYY-MM-DD"

    @staticmethod
    def always_open(tz: str = "Asia/Tokyo") -> "OfficeHours":
        return OfficeHours(ZoneInfo(tz), tuple((d, 0, 1440) for d in range(7)), frozenset())

    def _is_closed_day(self, day: dt.date) -> bool:
        return day.isoformat() in self.closed or day.strftime("%m-%d") in self.closed

    def _shifts_starting(self, day: dt.date):
        if self._is_closed_day(day):
            return
        for weekday, start, end in self.shifts:
            if weekday == day.weekday():
                begin = dt.datetime.combine(day, dt.time(), self.tz)
                yield begin + dt.timedelta(minutes=start), begin + dt.timedelta(minutes=end)

    def _local(self, now: dt.datetime) -> dt.datetime:
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.timezone.utc)
        return now.astimezone(self.tz)

    def is_open(self, now: dt.datetime) -> bool:
        local = self._local(now)
        for day in (local.date() - dt.timedelta(days=1), local.date()):
            for start, end in self._shifts_starting(day):
                if _wall(start) <= _wall(local) < _wall(end):
                    return True
        return False

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """When counsellors are next there (local time), or None if never within a year. ``now`` if open."""
        local = self._local(now)
        if self.is_open(local):
            return local
        for offset in range(LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            starts = sorted(_wall(s) for s, _ in self._shifts_starting(day))
            for start in starts:
                if start > _wall(local):
                    return start.replace(tzinfo=self.tz)
        return None


def _wall(moment: dt.datetime) -> dt.datetime:
    """Compare by the wall clock in the office's zone (no DST surprises in arithmetic)."""
    return moment.replace(tzinfo=None)


def parse_office_hours(text: str, file: str = "office_hours.yaml", default_tz: str = "Asia/Tokyo") -> OfficeHours:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise OfficeHoursError(f"{file}{where}: this is not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    try:
        doc = _HoursDoc.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{' → '.join(str(p) for p in e['loc']) or 'top'}: {e['msg']}" for e in exc.errors())
        raise OfficeHoursError(f"{file}: {problems}") from None
    tz_name = doc.timezone or default_tz
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OfficeHoursError(f'{file}: timezone "{tz_name}" is not a time zone name such as Asia/Tokyo.') from None
    shifts = []
    for shift in doc.weekly:
        start, end = _minutes(shift.from_), _minutes(shift.to)
        if end <= start:
            end += 1440  # runs past midnight
        for day in shift.days:
            shifts.append((DAY_NAMES.index(day), start, end))
    return OfficeHours(tz, tuple(shifts), frozenset(doc.closed))


def load_office_hours(path: Path | str, default_tz: str = "Asia/Tokyo") -> OfficeHours:
    path = Path(path)
    if not path.exists():
        raise OfficeHoursError(f"{path}: the office hours file does not exist. Copy office_hours.yaml from the project and edit it.")
    return parse_office_hours(path.read_text(encoding="utf-8"), path.name, default_tz)


class HoursFile:
    """``office_hours.yaml``, read again when it changes: an edit counts without a restart, and
    a broken edit is logged and ignored (the last good hours stay)."""

    CHECK_SECONDS = 5.0

    def __init__(self, path: Path | str, default_tz: str = "Asia/Tokyo"):
        import time

        self.path, self.default_tz = Path(path), default_tz
        self._hours = load_office_hours(self.path, default_tz)
        self._stamp = self._stat()
        self._checked = time.monotonic()

    def _stat(self):
        try:
            st = self.path.stat()
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    @property
    def current(self) -> OfficeHours:
        import logging
        import time

        if time.monotonic() - self._checked >= self.CHECK_SECONDS:
            self._checked = time.monotonic()
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._hours = load_office_hours(self.path, self.default_tz)
                    logging.getLogger(__name__).info("office_hours.reloaded")
                except OfficeHoursError as exc:
                    logging.getLogger(__name__).error("office_hours.rejected", extra={"problem": str(exc)[:300]})
        return self._hours


_JA_DAYS = "月火水木金土日"
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def format_opening(moment: dt.datetime | None, locale: str, now: dt.datetime) -> str:
    """'今日 10:00', '明日 10:00', '11月28日(土) 13:00'; 'today at 10:00', 'Sat 28 Nov at 13:00'."""
    if moment is None:
        return ""
    local_now = now.astimezone(moment.tzinfo) if now.tzinfo else now.replace(tzinfo=dt.timezone.utc).astimezone(moment.tzinfo)
    days = (moment.date() - local_now.date()).days
    hhmm = moment.strftime("%H:%M")
    if locale == "ja":
        if days == 0:
            return f"今日 {hhmm}"
        if days == 1:
            return f"明日 {hhmm}"
        return f"{moment.month}月{moment.day}日({_JA_DAYS[moment.weekday()]}) {hhmm}"
    if days == 0:
        return f"today at {hhmm}"
    if days == 1:
        return f"tomorrow at {hhmm}"
    return f"{_EN_DAYS[moment.weekday()]} {moment.day} {moment.strftime('%b')} at {hhmm}"
