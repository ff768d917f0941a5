"""What the worker tells the handoff side (``HandoffHooks``), and the last-resort safety text.
No I/O here: ``bot.handoff`` sets ``runtime.handoff_hooks`` to its own object."""
from __future__ import annotations

from bot.engine import Flow, Reply

# Used only when the flow has no shell.safety_message (or cannot be loaded). Numbers from
# ../shared/content/FACTS.md: よりそいホットライン (24h), 24時間子供SOSダイヤル (24h).
FALLBACK_SAFETY = {
    "ja": ("いま、うまく返事ができません。ごめんなさい。\n"
           "ひとりで抱えこまないでください。24時間、無料で相談できます。\n"
           "よりそいホットライン 0120-279-338\n"
           "24時間子供SOSダイヤル 0120-0-78310\n"
           "少し時間をおいて、もう一度送ってください。"),
    "en": ("Sorry, I cannot answer properly right now.\n"
           "You are not alone. You can talk to someone for free, 24 hours a day (in Japanese):\n"
           "Yorisoi Hotline 0120-279-338\n"
           "24-hour Children's SOS Dial 0120-0-78310\n"
           "Please try sending your message again a little later."),
}


class HandoffHooks:
    """How the worker tells the handoff side what happens. ``bot.handoff`` sets
    ``runtime.handoff_hooks`` to its own object with these three coroutines; this default does
    nothing. Called after the transaction committed, in the process that ran the turn; an
    exception is logged and otherwise ignored (the data is already safe in the store).
    """

    async def on_queued(self, handoff_id: str) -> None:
        """A new handoff was queued (the person asked for a counsellor)."""

    async def on_person_message(self, handoff_id: str, text: str, is_crisis: bool = False,
                                choice: str | None = None) -> None:
        """The person wrote during an open handoff. ``text`` is already in the transcript
        (written in the turn's transaction, so it survives a crash): do not store it again.
        ``is_crisis``: the flow's crisis words matched and the handoff's priority was raised.
        A tapped button comes as ``text=""`` and ``choice=<choice id>``."""

    def refused_replies(self, flow: Flow, locale: str, now: float) -> tuple[Reply, ...]:
        """What a person is told when no handoff may open for them (too many from their address;
        see ``bot.turns.plan.handoff_refused``). Empty: the flow's safety message."""
        return ()

    async def on_closed(self, handoff_id: str, reason: str) -> None:
        """The handoff ended outside the console: ``forgotten`` (the person asked to be
        forgotten, everything is deleted) or ``returned`` (``return_to_bot``)."""

    async def on_person_left(self, channel: str, user_id: str, reason: str) -> str | None:
        """The person's page says they may have left (``quick_exit``, ``page_hide``) or are
        back (``back``). Returns the open handoff's id, if there is one."""
        return None
