"""What the handoff side may do to a person's conversation (``bot.handoff``'s ``PersonPort``):
push a message while a handoff is open, hand the person back to the bot, forget them. A part
of ``bot.runtime.Runtime``, which gives it ``store``, ``crypto``, ``clock``, ``bundles``,
``handoff_hooks``, ``_notify`` and ``_outbox_wake``.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterable

from bot.engine import Reply, enter, new_session
from bot.envelope import Outbound
from bot.errors import BotError, raised_at as _where
from bot.store import conversations, handoffs, outbox
from bot.store.notify import OUTBOX_CHANNEL
from bot.turns.plan import new_retry_key, utc as _utc

log = logging.getLogger(__name__)


class ConversationGone(BotError):
    """The conversation no longer exists (the person asked to be forgotten, or it expired)."""


class NotReachable(BotError):
    """No platform id is kept for this conversation (no open handoff): nothing can be pushed."""


class PersonSide:
    """The handoff side's calls on a conversation (see the module's docstring)."""

    async def send_to_person(self, conversation_id: str, text_or_replies: str | Iterable[Reply],
                             kind: str = "counsellor") -> int:
        """Queue a message (a counsellor's, or a notice) for the person; returns the outbox id.

        Works while a handoff is open (the raw platform id is kept only then): raises
        ``NotReachable`` otherwise and ``ConversationGone`` if the person was forgotten.
        The caller (``bot.handoff``) writes the counsellor's line into the transcript itself.
        """
        replies = (Reply(text_or_replies),) if isinstance(text_or_replies, str) else tuple(text_or_replies)
        now = self.clock()
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                raise ConversationGone(conversation_id)
            if conv.user_ref_enc is None:
                raise NotReachable(conversation_id)
            user_id = conversations.open_user_ref(self.crypto, conv)
            session = conversations.load_session(self.crypto, conv)
            out = Outbound(replies, retry_key=new_retry_key(), kind=kind,
                           meta={"state": session.state, "locale": session.locale})
            row = await outbox.enqueue(s, self.crypto, conversation_id=conv.id, channel=conv.channel,
                                       user_id=user_id, outbound=out, now=now)
            await self._notify(s, OUTBOX_CHANNEL)
            row_id = row.id
        self._outbox_wake.set()
        log.info("outbox.queued", extra={"conversation": conversation_id, "outbox": row_id, "kind": kind})
        return row_id

    async def return_to_bot(self, conversation_id: str, *, outcome: str | None = None) -> str | None:
        """Close the open handoff, erase the kept platform id, and let the bot go on from
        ``flow.handoff_return`` (its replies are sent). Returns the closed handoff's id."""
        flow = self.bundles.flow
        now = self.clock()
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                raise ConversationGone(conversation_id)
            h = await handoffs.active_handoff(s, conv.id)
            if h is not None:
                await handoffs.close(s, h.id, outcome, now)
            user_id = conversations.open_user_ref(self.crypto, conv) if conv.user_ref_enc is not None else None
            conv.in_handoff = False
            conv.user_ref_enc = None
            session = conversations.load_session(self.crypto, conv) or new_session(flow, flow.default_locale, _utc(now))
            if flow.handoff_return:
                turn = enter(flow, session, flow.handoff_return, _utc(now))
                await conversations.save_session(s, self.crypto, conv, pseudonym=conv.pseudonym, channel=conv.channel,
                                            engine_session=turn.session, now=now)
                if user_id is not None and turn.replies:
                    out = Outbound(turn.replies, retry_key=new_retry_key(), kind="turn",
                                   meta={"state": turn.session.state, "locale": turn.session.locale})
                    await outbox.enqueue(s, self.crypto, conversation_id=conv.id, channel=conv.channel,
                                         user_id=user_id, outbound=out, now=now)
                    await self._notify(s, OUTBOX_CHANNEL)
            hid = h.id if h is not None else None
        self._outbox_wake.set()
        log.info("handoff.returned", extra={"conversation": conversation_id, "handoff": hid})
        if hid is not None:
            try:
                await self.handoff_hooks.on_closed(hid, "returned")
            except Exception as exc:
                log.error("handoff.hook_failed", extra={"code": type(exc).__name__, "file": _where(exc)})
        return hid

    async def forget(self, conversation_id: str) -> bool:
        """Delete everything of this conversation now (no confirmation is sent)."""
        async with self.store.transaction() as s:
            conv = await conversations.get(s, conversation_id, for_update=True)
            if conv is None:
                return False
            # The row lock serialises this with the worker, which takes it too.
            closed = await conversations.forget_conversation(s, conv)
        await self.store.checkpoint_wal()
        log.info("conversation.forgotten", extra={"conversation": conversation_id, "reason": "request"})
        for hid in closed:
            with contextlib.suppress(Exception):
                await self.handoff_hooks.on_closed(hid, "forgotten")
        return True
