"""Services and numbers (``flows/resources.yaml``): one place to update a number or an opening time.

Each entry carries its source and the date it was verified; ``bot check`` warns when that date
is older than 180 days. Texts refer to entries with placeholders such as ``{yorisoi.tel}``;
states list entries under ``links:`` to show them as tappable ``tel:`` or ``https:`` links
marked open or closed at the moment of the turn::

    timezone: Asia/Tokyo
    resources:
      childline:
        name: {ja: チャイルドライン, en: Childline Japan}
        tel: 0120-99-7777
        hours: {ja: 毎日16時〜21時, en: daily 4pm to 9pm}
        open:
          weekly: [{days: daily, from: "16:00", to: "21:00"}]
          closed: ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"]
        source: FACTS.md (childline.or.jp)
        verified: 2026-11-25
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_GROUPS = {"daily": DAY_NAMES, "weekdays": DAY_NAMES[:5], "weekends": DAY_NAMES[5:]}


def expand_days(value) -> list[str]:
    """``daily``, ``weekdays``, ``weekends`` or day names (one or a list) -> day names."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        item = str(item).lower()
        if item in DAY_GROUPS:
            out.extend(DAY_GROUPS[item])
        elif item in DAY_NAMES:
            out.append(item)
        else:
            raise ValueError(f'"{item}" is not a day: use mon..sun, daily, weekdays or weekends')
    return out


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyHours(_Model):
    days: list[str]
    from_: str = Field(alias="from", pattern=r"^\d{2}:\d{2}$")
    to: str = Field(pattern=r"^\d{2}:\d{2}$")  # "24:00" is the end of the day

    @field_validator("days", mode="before")
    @classmethod
    def _expand(cls, value):
        return expand_days(value)


class MonthlyHours(_Model):
    day: int = Field(ge=1, le=31)
    from_: str = Field(alias="from", pattern=r"^\d{2}:\d{2}$")
    to: str = Field(pattern=r"^\d{2}:\d{2}$")


class OpenSpec(_Model):
    always: bool = False
    weekly: list[WeeklyHours] = Field(default_factory=list)
    monthly: list[MonthlyHours] = Field(default_factory=list)
    closed: list[str] = Field(default_factory=list)  # "MM-DD" dates closed every year


class ResourceDoc(_Model):
    name: dict[str, str]
    tel: str | None = None
    url: str | None = None
    hours: dict[str, str] = Field(default_factory=dict)
    open: OpenSpec | None = None  # None: hours unknown, say "check the site"
    note: dict[str, str] = Field(default_factory=dict)
    source: str
    verified: dt.date


class ResourcesDoc(_Model):
    timezone: str = "Asia/Tokyo"
    resources: dict[str, ResourceDoc]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:  # not found, an absolute path, a malformed key: all a typo here
            raise ValueError(f'"{value}" is not a time zone: write it as in the tz database, e.g. Asia/Tokyo') from None
        return value


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class Resource:
    id: str
    names: dict[str, str]
    tel: str | None
    url: str | None
    hours: dict[str, str]
    notes: dict[str, str]
    open: OpenSpec | None
    tz: ZoneInfo
    source: str
    verified: dt.date

    @property
    def href(self) -> str | None:
        if self.tel:
            # tel: URIs take digits, '+', '#' and '*'; "#9110" must become "tel:%239110".
            digits = "".join(c for c in self.tel if c.isdigit() or c in "+#*")
            return "tel:" + digits.replace("#", "%23")
        return self.url

    def is_open(self, now: dt.datetime) -> bool | None:
        """Open at ``now``? None when the hours are not known well enough to say."""
        spec = self.open
        if spec is None:
            return None
        if spec.always:
            return True
        local = now.astimezone(self.tz)
        if local.strftime("%m-%d") in spec.closed:
            return False
        minute = local.hour * 60 + local.minute
        day = DAY_NAMES[local.weekday()]
        for w in spec.weekly:
            if day in w.days and _minutes(w.from_) <= minute < _minutes(w.to):
                return True
        for m in spec.monthly:
            if local.day == m.day and _minutes(m.from_) <= minute < _minutes(m.to):
                return True
        return False

    def field(self, name: str, locale: str, default_locale: str) -> str | None:
        if name == "name":
            return self.names.get(locale) or self.names.get(default_locale)
        if name == "hours":
            return self.hours.get(locale) or self.hours.get(default_locale)
        if name == "note":
            return self.notes.get(locale) or self.notes.get(default_locale)
        if name == "tel":
            return self.tel
        if name == "url":
            return self.url
        return None


def build_resources(doc: ResourcesDoc) -> dict[str, Resource]:
    tz = ZoneInfo(doc.timezone)
    return {
        rid: Resource(rid, r.name, r.tel, r.url, r.hours, r.note, r.open, tz, r.source, r.verified)
        for rid, r in doc.resources.items()
    }
