"""The tables. Times are epoch seconds (float) everywhere: the same on SQLite and PostgreSQL,
no time-zone surprises, and cheap to compare.

Anything a person typed, any bot text sent to them and any platform user id is stored only as a
AES-GCM token (``LargeBinary`` columns named ``*_enc``). Schema changes go through a new Alembic
revision in ``migrations/versions``; ``tests/store/test_migrate.py`` checks they agree.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for a queue.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Inbox and outbox row statuses.
PENDING = "pending"
DONE = "done"
SENT = "sent"
FAILED = "failed"

# Handoff statuses and transcript authors.
QUEUED = "queued"
LIVE = "live"
CLOSED = "closed"
OPEN_HANDOFF = (QUEUED, LIVE)
PERSON = "person"
COUNSELLOR = "counsellor"
BOT = "bot"
NOTE = "note"  # a counsellor's private note on a handoff: never sent, kept and erased with the transcript
HANDOVER = "handover"  # the note written with a transfer: never sent, kept and erased like a note
SUPERVISOR = "supervisor"  # a supervisor who joined a conversation wrote this (sent to the person)
# How a conversation changed hands (``handoffs.transfer_kind``).
TO_COLLEAGUE, TO_QUEUE, TAKEN_OVER = "colleague", "queue", "takeover"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Conversation(Base):
    """One person on one channel, found by ``pseudonym``; ``id`` is random and is what logs show."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(10))
    session_json: Mapped[str] = mapped_column(Text)  # Session.to_dict(): states, choices, never typed text
    flow_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Double)
    last_active_at: Mapped[float] = mapped_column(Double, index=True)
    in_handoff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The platform user id, encrypted, only while a handoff is open (a counsellor may push).
    user_ref_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # How many messages the person typed to the bot so far: numbers their rows in person_messages.
    said_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class InboxEvent(Base):
    """An accepted platform event. ``payload_enc`` (the InboundEvent) is erased once processed;
    the row stays as a tombstone so a redelivery of the same event id is a no-op, until purge."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        # The queue: pending rows in order. Partial, so processed tombstones cost the queue nothing.
        Index("ix_inbox_pending", "pseudonym", "id",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_inbox_pending_id", "id",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_inbox_processed_at", "processed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(128))
    pseudonym: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    accepted_at: Mapped[float] = mapped_column(Double)
    processed_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class OutboxMessage(Base):
    """One delivery to one person (``Outbound.to_json()``, encrypted), sent in ``id`` order per
    conversation. The raw user id rides along encrypted and is erased once the row is settled."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "conversation_id", "id",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_outbox_pending_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_outbox_settled_at", "settled_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="turn")
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    user_ref_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    inbox_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the event that caused it
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[float] = mapped_column(Double)
    leased_until: Mapped[float] = mapped_column(Double, default=0.0, server_default=text("0"))
    # 1 from the lease until an attempt's outcome is known: a delivery may have reached the
    # platform (a timeout, a 5xx, a sender that died); see bot/sender.py.
    in_flight: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[float] = mapped_column(Double)
    settled_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(60), nullable=True)  # last failure code, never content


class Handoff(Base):
    """A request for a person. ``context_json`` is what the counsellor sees first: path, tags,
    choices, locale, risk; never who the person is."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_priority", "status", "priority", "queued_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # higher first
    is_crisis: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    locale: Mapped[str] = mapped_column(String(10))
    context_json: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[float] = mapped_column(Double)
    taken_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    counsellor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    left_message: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    last_person_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    # A keyed hash of the address a web-chat handoff came from, while it is open: the limit on
    # open handoffs per address counts it. Erased when the handoff closes.
    origin: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The last change of hands (a transfer to a colleague or back to the queue, or a supervisor
    # taking over): when, from whom, how; ``transfer_seen``: the colleague it went to opened it.
    # ``queued_at`` and ``taken_at`` stay those of the first wait (the queue keeps its place).
    transferred_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    transferred_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transfer_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    transfer_seen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # A supervisor writing alongside the counsellor in charge (joined), until a take-over or the end.
    supervisor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TranscriptMessage(Base):
    """One message of a handoff, encrypted; deleted after ``transcript_retention_days``."""

    __tablename__ = "transcript_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(String(32), ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(12))  # person | counsellor | bot | note | handover | supervisor
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double, index=True)


class PersonMessage(Base):
    """One message the person typed to the bot (not to a counsellor: that is the transcript),
    sealed (associated data: ``person_messages.body_enc.<conversation id>/<seq>``), so that the
    counsellor who takes their handoff sees what they already said (``bot.store.said``). At most
    ``said.KEEP`` per conversation: ``slot`` is ``seq`` modulo it, and a new message overwrites
    the oldest. Erased with the session's expiry, a handoff's close, and "forget me"."""

    __tablename__ = "person_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "slot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(32))
    slot: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)


class Counsellor(Base):
    __tablename__ = "counsellors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[float] = mapped_column(Double)
    # counsellor, supervisor, editor or admin (bot.handoff.accounts.ROLES)
    role: Mapped[str] = mapped_column(String(20), default="counsellor", server_default="counsellor")
    # The TOTP secret (RFC 6238), sealed (associated data: counsellors.totp_secret_enc.<id>); None
    # until enrolled. ``totp_last_step``: the time step of the last code accepted, so a code
    # cannot be used twice.
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(Base):
    """A one-time recovery code for the second factor, kept only as a keyed hash (HMAC under
    the key ring's pseudonym key); ``used_at`` is set when it is spent."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    counsellor_id: Mapped[int] = mapped_column(Integer, ForeignKey("counsellors.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    used_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class AuditEntry(Base):
    """What a counsellor did (took, answered, closed, read a transcript), what the console refused
    (a failed or throttled login, a form without its CSRF token, an action on someone else's
    conversation): who, what, which handoff, from which login, and a keyed hash of the address
    (never the address). Rows form a chain: ``row_hash`` covers the row and ``prev_hash``, the
    row before's ``row_hash`` (``bot.store.audit``; ``python -m bot audit verify``)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    counsellor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(40))
    handoff_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    at: Mapped[float] = mapped_column(Double, index=True)
    login_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    address_hash: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(60), nullable=True)  # a code, never content
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ConsoleLogin(Base):
    """A counsellor's login to the console. The cookie carries a signed token; this row (found by
    the token's hash) is what makes it valid, so a logout, the idle timeout, a disabled account or
    a new password end it in every process and after a restart."""

    __tablename__ = "console_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    counsellor_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[float] = mapped_column(Double, index=True)
    last_seen_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)


class ThrottleHit(Base):
    """One counted attempt of a limit that every process shares (failed logins per name and
    address, handoffs opened per address). ``key`` is a keyed hash, never a name or an address."""

    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Double, index=True)


class Switch(Base):
    """Named settings the staff flip at run time, e.g. ``nobody_available`` = ``"1"``."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Double)


class DailyFigure(Base):
    """Counts per local day with no identity: ``conversations``, ``turns``, ``reached:evidence``,
    ``reached:law``, ``asked_person``, ``handoff_wait_seconds`` (sum) with ``handoff_waits``..."""

    __tablename__ = "daily_figures"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD in BOT_TIMEZONE
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[float] = mapped_column(Double, default=0.0)


# Flow version statuses.
DRAFT = "draft"
PUBLISHED = "published"


class FlowVersion(Base):
    """One version of what the bot says: the flow, the resources and the locale files, as the
    YAML text staff wrote (``bot.flowversions``). The running bot serves the newest published one;
    restoring an earlier one publishes a copy of it (``parent_id`` says which), so the history
    only grows. ``author`` is a staff account or ``cli:<user>``, never a person who wrote in."""

    __tablename__ = "flow_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    flow_file: Mapped[str] = mapped_column(String(120))     # its name in flows/ (first_contact.yaml)
    flow_yaml: Mapped[str] = mapped_column(Text)
    resources_yaml: Mapped[str] = mapped_column(Text)
    locales_json: Mapped[str] = mapped_column(Text)         # {"ja.yaml": "<text>", ...}: locales/ is several files
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[float] = mapped_column(Double)
    published_at: Mapped[float | None] = mapped_column(Double, nullable=True, index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("flow_versions.id"), nullable=True)
