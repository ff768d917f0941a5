"""Key rotation: ``python -m bot keys rotate``, and sealing what earlier versions wrote in clear.

To rotate: put a new key first in ``BOT_SECRET_KEYS`` (``new,old``), restart every process,
then run ``python -m bot keys rotate``. From the restart on, everything is written under the new
key; the rotation rewrites what was written before, in batches of ``BATCH`` rows, each its own
transaction, while the bot runs (every write is compare-and-set, so a turn that changed a row
meanwhile wins and the row is left as that turn wrote it):

* every sealed value not sealed by the newest key is opened and sealed again: inbox and outbox
  payloads, kept platform ids, transcripts, what people typed to the bot, sessions and handoff
  contexts (the ones earlier
  versions wrote in clear too);
* pseudonyms: a conversation is keyed by an HMAC of channel and platform id, and the platform id
  is not stored. Where it is at hand (a pending inbox event carries it; an open handoff keeps
  it), the conversation and its inbox rows are re-keyed now. Every other conversation is
  re-keyed when its person next writes (``conversations.find_for_event`` looks under every key of
  the ring). So keep the old key in ``BOT_SECRET_KEYS`` for ``BOT_CONVERSATION_RETENTION_DAYS``
  after the rotation: by then the purge has deleted every conversation idle since.

A value that opens with no key of the ring is counted and left alone.

``seal_legacy`` (run by ``Runtime.start``) seals the sessions and handoff contexts that earlier
versions stored in clear, so an upgraded install does not keep them readable until each
person's next message.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import and_, bindparam, select, update

from bot.envelope import InboundEvent

from .crypto import Crypto, DecryptError, is_clear_json, where
from .outbox import row_key as outbox_row_key
from .models import (PENDING, Conversation, Counsellor, Handoff, InboxEvent, OutboxMessage, PersonMessage,
                     TranscriptMessage)
from .said import row_key as said_row_key

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Column:
    """A sealed column: its table, how a row is named in the associated data (from the columns
    ``key_columns``), and whether it holds a text token (JSON columns, clear in earlier
    versions) or bytes."""

    table: object
    name: str
    row_key: Callable[[object], object]
    text: bool = False
    key_columns: tuple[str, ...] = ()


_C, _I, _O, _H, _TM, _CO = (m.__table__ for m in (Conversation, InboxEvent, OutboxMessage, Handoff, TranscriptMessage,
                                                    Counsellor))

COLUMNS = (
    Column(_C, "session_json", lambda r: r.id, text=True),
    Column(_C, "user_ref_enc", lambda r: r.id),
    Column(_H, "context_json", lambda r: r.id, text=True),
    Column(_I, "payload_enc", lambda r: f"{r.channel}/{r.event_id}", key_columns=("channel", "event_id")),
    Column(_O, "payload_enc", lambda r: outbox_row_key(r.conversation_id, r.inbox_id, r.id),
           key_columns=("conversation_id", "inbox_id")),
    Column(_O, "user_ref_enc", lambda r: outbox_row_key(r.conversation_id, r.inbox_id, r.id),
           key_columns=("conversation_id", "inbox_id")),
    Column(_TM, "body_enc", lambda r: r.id),
    Column(_CO, "totp_secret_enc", lambda r: r.id),   # the console's second factor
    Column(PersonMessage.__table__, "body_enc", lambda r: said_row_key(r.conversation_id, r.seq),
           key_columns=("conversation_id", "seq")),     # what the person typed to the bot
)
JSON_COLUMNS = tuple(c for c in COLUMNS if c.text)


@dataclass
class Report:
    resealed: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    rekeyed: int = 0

    def line(self) -> str:
        parts = [f"{k} {v}" for k, v in self.resealed.items()]
        out = "re-sealed: " + (", ".join(parts) or "nothing") + f"; conversations re-keyed: {self.rekeyed}"
        if any(self.unreadable.values()):
            out += "; could not open: " + ", ".join(f"{k} {v}" for k, v in self.unreadable.items() if v)
        return out


def _stale(crypto: Crypto, column: Column, value) -> bool:
    if value is None:
        return False
    if column.text:
        return is_clear_json(value) or not crypto.is_current(value)
    return not crypto.is_current(value)


def _reseal(crypto: Crypto, column: Column, row, value):
    aad = where(column.table.name, column.name, column.row_key(row))
    if column.text:
        clear = value if is_clear_json(value) else crypto.decrypt_text(value, aad)
        return crypto.encrypt_to_text(clear, aad)
    return crypto.encrypt(crypto.decrypt(bytes(value), aad), aad)


async def reseal_column(store, column: Column, report: Report, only_clear: bool = False) -> None:
    """Every value of ``column`` not sealed by the newest key (``only_clear``: only clear JSON),
    sealed again, a batch per transaction."""
    crypto: Crypto = store.crypto
    t = column.table
    col = t.c[column.name]
    label = f"{t.name}.{column.name}"
    key_cols = [t.c.id] + [t.c[name] for name in column.key_columns]
    last = None
    while True:
        stmt = select(*key_cols, col).where(col.is_not(None)).order_by(t.c.id).limit(BATCH)
        if only_clear:
            stmt = stmt.where(col.like("{%"))
        if last is not None:
            stmt = stmt.where(t.c.id > last)
        async with store.transaction() as s:
            rows = (await s.execute(stmt)).all()
            changes = []
            for row in rows:
                value = getattr(row, column.name)
                if not _stale(crypto, column, value):
                    continue
                try:
                    changes.append({"rid": row.id, "old": value, "new": _reseal(crypto, column, row, value)})
                except DecryptError:
                    report.unreadable[label] = report.unreadable.get(label, 0) + 1
            if changes:
                # Compare-and-set: a turn that rewrote the value meanwhile keeps what it wrote.
                await s.execute(update(t).where(and_(t.c.id == bindparam("rid"), col == bindparam("old")))
                                .values({column.name: bindparam("new")}), changes)
        report.resealed[label] = report.resealed.get(label, 0) + len(changes)
        if len(rows) < BATCH:
            return
        last = rows[-1].id


async def _rekey(s, old: str, new: str, conversation_id: str | None) -> bool:
    """Move the inbox rows, and the conversation (if any) unless another one is keyed by ``new``
    already, from ``old`` to ``new``; True when the conversation moved."""
    if old == new:
        return False
    moved = False
    taken = (await s.execute(select(_C.c.id).where(_C.c.pseudonym == new))).first() is not None
    if conversation_id is not None and not taken:
        result = await s.execute(update(_C).where(and_(_C.c.id == conversation_id, _C.c.pseudonym == old))
                                 .values(pseudonym=new))
        moved = result.rowcount == 1
    await s.execute(update(_I).where(_I.c.pseudonym == old).values(pseudonym=new))
    return moved


async def repseudonymise(store, report: Report) -> None:
    """Re-key what can be re-keyed now: conversations that keep their platform id (an open
    handoff), and the people of pending inbox events."""
    crypto: Crypto = store.crypto
    if crypto.ring_size == 1:
        return
    last = ""
    while True:  # conversations with a kept platform id
        async with store.transaction() as s:
            rows = (await s.execute(select(_C.c.id, _C.c.pseudonym, _C.c.channel, _C.c.user_ref_enc)
                                    .where(_C.c.user_ref_enc.is_not(None), _C.c.id > last)
                                    .order_by(_C.c.id).limit(BATCH))).all()
            for row in rows:
                try:
                    user_id = crypto.decrypt(bytes(row.user_ref_enc), where(_C.name, "user_ref_enc", row.id))
                except DecryptError:
                    continue  # counted by reseal_column
                if await _rekey(s, row.pseudonym, crypto.pseudonym(row.channel, user_id), row.id):
                    report.rekeyed += 1
        if len(rows) < BATCH:
            break
        last = rows[-1].id
    last_id = 0
    while True:  # pending events: their payload holds the platform id
        async with store.transaction() as s:
            rows = (await s.execute(select(_I.c.id, _I.c.channel, _I.c.event_id, _I.c.pseudonym, _I.c.payload_enc)
                                    .where(_I.c.status == PENDING, _I.c.payload_enc.is_not(None), _I.c.id > last_id)
                                    .order_by(_I.c.id).limit(BATCH))).all()
            for row in rows:
                try:
                    event = InboundEvent.from_json(crypto.decrypt(bytes(row.payload_enc), where(
                        _I.name, "payload_enc", f"{row.channel}/{row.event_id}")))
                except DecryptError:
                    continue
                newest = crypto.pseudonym(event.channel, event.user_id)
                for old in crypto.pseudonyms(event.channel, event.user_id)[1:]:
                    conv = (await s.execute(select(_C.c.id).where(_C.c.pseudonym == old))).scalar_one_or_none()
                    if conv is not None or old == row.pseudonym:
                        if await _rekey(s, old, newest, conv):
                            report.rekeyed += 1
        if len(rows) < BATCH:
            break
        last_id = rows[-1].id


async def rotate(store) -> Report:
    """Everything under the newest key of the store's ring (see the module docstring)."""
    report = Report()
    await repseudonymise(store, report)
    for column in COLUMNS:
        await reseal_column(store, column, report)
    log.info("keys.rotated", extra={"count": sum(report.resealed.values()), "errors": sum(report.unreadable.values())})
    log.info("keys.rekeyed", extra={"count": report.rekeyed})
    return report


async def seal_legacy(store) -> int:
    """Seal the JSON columns earlier versions wrote in clear; returns how many were sealed."""
    report = Report()
    for column in JSON_COLUMNS:
        await reseal_column(store, column, report, only_clear=True)
    sealed = sum(report.resealed.values())
    if sealed:
        log.info("store.sealed_legacy", extra={"count": sealed})
    return sealed
