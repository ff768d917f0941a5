from __future__ import annotations

import json
import logging

from bot.observability import JsonFormatter, TextFormatter


def _record(**extra) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "bot.test", "levelno": logging.INFO, "levelname": "INFO", "msg": "outbox.sent"})
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_logs_keep_safe_fields_and_drop_everything_else():
    line = JsonFormatter().format(_record(channel="line", ms=12, text="I was threatened", user_id="U123", reply_token="tok"))
    data = json.loads(line)
    assert data["event"] == "outbox.sent" and data["channel"] == "line" and data["ms"] == 12
    assert "threatened" not in line and "U123" not in line and "tok" not in line


def test_exceptions_are_logged_by_type_only():
    try:
        raise ValueError("secret text from a person")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "ValueError" in line and "secret text" not in line
    assert "secret text" not in TextFormatter().format(record)


def test_no_safe_field_shadows_a_standard_log_record_attribute():
    """The formatter looks a record's attributes up in SAFE_FIELDS only: a safe field named like
    a standard attribute (``msg``, ``args``, ``pathname``...) would write that attribute out."""
    from bot.observability import _STANDARD, SAFE_FIELDS

    assert not SAFE_FIELDS & _STANDARD
