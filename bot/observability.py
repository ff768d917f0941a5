"""Structured logs and Prometheus metrics. Neither ever holds message text or platform ids.

Log records are an event name plus fields: ``log.info("outbox.sent", extra={"channel": "line", "ms": 38})``.
The JSON formatter writes only the fields it knows to be safe (``SAFE_FIELDS``); anything else
passed in ``extra`` is dropped, so a careless ``extra={"text": ...}`` cannot leak a message.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SAFE_FIELDS = frozenset({
    "channel", "state", "flow", "version", "code", "file", "line", "ms", "count", "status", "reason",
    "attempt", "attempts", "conversation", "session", "handoff", "outbox", "kind", "errors", "priority",
    "counsellor", "action", "port", "host", "url_path", "method", "http_status", "events", "worker",
    "retry_after", "deleted", "mode", "locale", "queue", "seconds", "inbox", "type", "error", "chat",
    "join", "people", "sent", "path", "outcome", "available", "nobody_available", "bytes", "problem",
    "serving", "edited", "hint",   # flow versions at start (``FlowSync.consider_repository``): no one's words
})
# Deliberately absent: text, message, body, user, user_id, reply_token, name, display_name.
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.msg if isinstance(record.msg, str) else str(record.msg),
        }
        for key, value in vars(record).items():
            if key in SAFE_FIELDS:  # never a standard attribute (a test checks), so one look-up
                out[key] = value if isinstance(value, (int, float, bool)) or value is None else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks can quote user text.
            out["exception"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        data = json.loads(super().format(record))
        fields = " ".join(f"{k}={v}" for k, v in data.items() if k not in ("ts", "level", "logger", "event"))
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {data['level']:<7} {data['event']} {fields}".rstrip()


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries log request lines and bodies at DEBUG/INFO; keep them at WARNING.
    for noisy in ("aiohttp.access", "discord", "sqlalchemy.engine", "asyncio", "linebot"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- metrics --------------------------------------------------------------------------------------
REGISTRY = CollectorRegistry(auto_describe=True)
TURNS = Counter("bot_turns_total", "Turns processed", ["channel", "matched"], registry=REGISTRY)
TURN_SECONDS = Histogram("bot_turn_seconds", "Time to run one turn (engine and store)", registry=REGISTRY,
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
INBOX_COMMITS = Counter("bot_inbox_commits_total", "Group commits of the inbox", registry=REGISTRY)
INBOX_EVENTS = Counter("bot_inbox_events_total", "Events committed to the inbox (new: not a redelivery)", ["new"],
                       registry=REGISTRY)
INBOX_DEPTH = Gauge("bot_inbox_depth", "Accepted events not yet processed", registry=REGISTRY)
OUTBOX_RETRIES = Counter("bot_outbox_retries_total", "Deliveries retried", ["channel", "reason"], registry=REGISTRY)
OUTBOX_FAILED = Counter("bot_outbox_failed_total", "Deliveries given up", ["channel"], registry=REGISTRY)
OUTBOX_SENT = Counter("bot_outbox_sent_total", "Deliveries made", ["channel"], registry=REGISTRY)
HANDOFF_QUEUE = Gauge("bot_handoff_queue_length", "Conversations waiting for a counsellor", registry=REGISTRY)
HANDOFF_WAIT = Histogram("bot_handoff_wait_seconds", "Waiting time until a counsellor took the conversation",
                         registry=REGISTRY, buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
STATE_VISITS = Counter("bot_state_visits_total", "Times a flow state was entered", ["flow", "state"], registry=REGISTRY)
WEBHOOKS = Counter("bot_webhooks_total", "Webhook requests", ["channel", "status"], registry=REGISTRY)
OUTBOX_SETTLE_FAILURES = Counter("bot_outbox_settle_failures_total",
                                 "Attempts to record delivery outcomes that failed (retried)", registry=REGISTRY)
