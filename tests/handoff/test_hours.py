"""Office hours at fixed times (Asia/Tokyo is UTC+9, no daylight saving)."""
import datetime as dt
from pathlib import Path

import pytest

from bot.handoff.hours import HoursFile, OfficeHoursError, format_opening, load_office_hours, parse_office_hours

JST = dt.timezone(dt.timedelta(hours=9))
DOC = """
timezone: Asia/Tokyo
weekly:
  - {days: weekdays, from: "10:00", to: "22:00"}
  - {days: sat, from: "20:00", to: "02:00"}
closed: ["12-31", "2026-11-27"]
"""


def at(y, mo, d, h, mi=0):
    return dt.datetime(y, mo, d, h, mi, tzinfo=JST)


@pytest.fixture
def hours():
    return parse_office_hours(DOC)


@pytest.mark.parametrize("moment, is_open", [
    (at(2026, 11, 25, 9, 59), False),   # Wednesday, before opening
    (at(2026, 11, 25, 10, 0), True),
    (at(2026, 11, 25, 21, 59), True),
    (at(2026, 11, 25, 22, 0), False),
    (at(2026, 11, 27, 12, 0), False),   # a Friday closed once
    (at(2026, 11, 28, 12, 0), False),   # Saturday daytime
    (at(2026, 11, 28, 23, 0), True),    # Saturday night shift
    (at(2026, 11, 29, 1, 30), True),    # ... running past midnight into Sunday
    (at(2026, 11, 29, 2, 0), False),
    (at(2026, 12, 31, 12, 0), False),   # closed every year
    (at(2027, 12, 31, 12, 0), False),
])
def test_is_open(hours, moment, is_open):
    assert hours.is_open(moment) is is_open


def test_naive_time_is_utc(hours):
    assert hours.is_open(dt.datetime(2026, 11, 25, 1, 0)) is True  # 10:00 in Tokyo


def test_next_opening(hours):
    # Wednesday night after closing: Thursday 10:00.
    assert hours.next_opening(at(2026, 11, 25, 23, 0)) == at(2026, 11, 26, 10, 0)
    # Thursday night: Friday is closed, so Saturday 20:00.
    assert hours.next_opening(at(2026, 11, 26, 22, 30)) == at(2026, 11, 28, 20, 0)
    # Open now: now.
    assert hours.next_opening(at(2026, 11, 25, 12, 0)) == at(2026, 11, 25, 12, 0)


def test_never_open():
    assert parse_office_hours("weekly: []").next_opening(at(2026, 11, 25, 12)) is None


def test_format_opening(hours):
    now = at(2026, 11, 25, 23, 0)
    assert format_opening(at(2026, 11, 25, 23, 30), "ja", now) == "今日 23:30"
    assert format_opening(at(2026, 11, 26, 10, 0), "ja", now) == "明日 10:00"
    assert format_opening(at(2026, 11, 28, 20, 0), "ja", now) == "11月28日(土) 20:00"
    assert format_opening(at(2026, 11, 26, 10, 0), "en", now) == "tomorrow at 10:00"
    assert format_opening(at(2026, 11, 28, 20, 0), "en", now) == "Sat 28 Nov at 20:00"


@pytest.mark.parametrize("doc, words", [
    ("weekly: [{days: funday, from: '10:00', to: '12:00'}]", "funday"),
    ("weekly: [{days: mon, from: '25:00', to: '12:00'}]", "from"),
    ("closed: [christmas]", "christmas"),
    ("timezone: Mars/Olympus", "Mars/Olympus"),
    ("weekly: [", "not valid YAML"),
])
def test_bad_files_say_what_is_wrong(doc, words):
    with pytest.raises(OfficeHoursError) as err:
        parse_office_hours(doc)
    assert words in str(err.value)


def test_the_project_file_loads():
    hours = load_office_hours(Path(__file__).resolve().parents[2] / "office_hours.yaml")
    assert str(hours.tz) == "Asia/Tokyo"
    assert hours.is_open(at(2026, 11, 25, 12, 0))
    assert not hours.is_open(at(2027, 1, 1, 12, 0))


def test_an_edited_file_counts_without_a_restart_and_a_broken_one_is_ignored(tmp_path):
    path = tmp_path / "office_hours.yaml"
    path.write_text("weekly: []\n")
    f = HoursFile(path)
    f.CHECK_SECONDS = 0
    assert not f.current.is_open(at(2026, 11, 25, 12, 0))
    path.write_text("weekly: [{days: daily, from: '00:00', to: '24:00'}]\n")
    assert f.current.is_open(at(2026, 11, 25, 12, 0))
    path.write_text("weekly: [{days: funday}]\n")
    assert f.current.is_open(at(2026, 11, 25, 12, 0))  # the last good hours stay
