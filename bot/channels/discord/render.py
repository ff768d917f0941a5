"""Discord rendering: an outbox row as direct messages within Discord's limits, and the buttons.

Each reply becomes messages of at most 2,000 characters (split as ``bot.text.split_text``
splits); choices are buttons (at most 25 a message, 5 rows of 5), web addresses link buttons,
phone numbers text (Discord cannot dial ``tel:``). A choice button's ``custom_id`` is
``fc:<state>:<choice_id>``; ``ChoiceButton`` is a persistent ``DynamicItem``, so a button sent
before a restart, or by an older flow version, still lands.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import discord

from bot.engine.model import Reply
from bot.envelope import Outbound
from bot.text import clip, split_text

CHANNEL = "discord"

# Discord's limits (https://discord.com/developers/docs/resources/message,
# .../interactions/message-components): checked against discord.py 2.7.1.
MESSAGE_CHARS = 2000          # content of one message; counted here in UTF-16 units, the safer count
BUTTONS_PER_MESSAGE = 25      # 5 action rows of 5 buttons
BUTTONS_PER_ROW = 5
ROWS_PER_MESSAGE = 5
LABEL_CHARS = 80              # button label
CUSTOM_ID_CHARS = 100         # button custom_id
NONCE_CHARS = 25              # message nonce (with enforce_nonce: Discord drops a repeat for a few minutes)
INTERACTION_DEADLINE = 3.0    # seconds to acknowledge an interaction

# Button ids: "fc:<state>:<choice_id>" (state and choice names are [A-Za-z0-9_-], see
# bot/engine/flow.py), and "fc:start" for the button that opens a conversation.
CUSTOM_ID_PREFIX = "fc:"
START_CUSTOM_ID = "fc:start"
CUSTOM_ID_TEMPLATE = r"fc:(?P<rest>[A-Za-z0-9_:\-]{0,97})"


# ---- custom ids -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """What a button's ``custom_id`` says: a choice (from a state), or ``start``."""

    kind: str                 # "tap" or "start"
    choice: str = ""
    from_state: str | None = None


def choice_custom_id(state: str | None, choice_id: str) -> str:
    """``fc:<state>:<choice_id>``; the state is dropped when the id would be too long."""
    custom_id = f"{CUSTOM_ID_PREFIX}{state or ''}:{choice_id}"
    if len(custom_id) > CUSTOM_ID_CHARS:
        custom_id = f"{CUSTOM_ID_PREFIX}:{choice_id}"
    return custom_id[:CUSTOM_ID_CHARS]


def parse_custom_id(custom_id: str) -> Tap | None:
    """Read a button id; None for anything that is not one of ours."""
    if not custom_id.startswith(CUSTOM_ID_PREFIX):
        return None
    rest = custom_id[len(CUSTOM_ID_PREFIX):]
    if rest == "start":
        return Tap("start")
    state, sep, choice = rest.partition(":")
    if not sep:
        state, choice = "", state
    if not choice:
        return None
    return Tap("tap", choice, state or None)


# ---- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    label: str
    custom_id: str | None = None   # a choice
    url: str | None = None         # a link


@dataclass(frozen=True)
class Message:
    """One Discord message to send: content within 2,000 characters, at most 25 buttons."""

    content: str
    buttons: tuple[Button, ...] = ()


def clip_label(label: str, limit: int = LABEL_CHARS) -> str:
    """A button label: white space folded, at most ``limit`` (never empty)."""
    return clip(" ".join(label.split()) or "…", limit)


def split_message(text: str) -> list[str]:
    """Message contents of at most ``MESSAGE_CHARS``."""
    return split_text(text, MESSAGE_CHARS)


def _is_web(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _phone_line(link, closed_text: str) -> str:
    line = link.label
    if link.url.lower().startswith("tel:"):
        number = link.url[4:].replace("%23", "#")
        if re.sub(r"\D", "", number) not in re.sub(r"\D", "", link.label):
            line = f"{link.label} {number}".strip()
    if link.hours:
        line += f" ({link.hours})"
    if link.open_now is False and closed_text:
        line += f" · {closed_text}"
    return "📞 " + line


def render_reply(reply: Reply, state: str | None, closed_text: str = "") -> list[Message]:
    """One reply (bubble) as Discord messages: long text split, buttons on the last piece."""
    lines = [reply.text] if reply.text.strip() else []
    buttons: list[Button] = []
    seen: set[str] = set()
    for choice in reply.choices:
        custom_id = choice_custom_id(state, choice.id)
        if custom_id in seen:  # Discord rejects two components with one custom_id in a message
            continue
        seen.add(custom_id)
        buttons.append(Button(clip_label(choice.label), custom_id=custom_id))
    for link in reply.links:
        if _is_web(link.url):
            buttons.append(Button(clip_label(link.label or link.url), url=link.url))
        else:  # tel: and anything Discord cannot open: shown as text, readable and copyable
            lines.append(_phone_line(link, closed_text))
    pieces = split_message("\n".join(lines))
    groups = [tuple(buttons[i:i + BUTTONS_PER_MESSAGE]) for i in range(0, len(buttons), BUTTONS_PER_MESSAGE)]
    messages = [Message(p) for p in pieces]
    if groups:
        if messages:
            messages[-1] = Message(messages[-1].content, groups[0])
        else:
            messages.append(Message("", groups[0]))
        messages.extend(Message("", g) for g in groups[1:])
    return messages


def render_outbound(outbound: Outbound, closed_text: str = "") -> list[Message]:
    """All messages for one outbox row. ``outbound.meta["state"]`` names the state the choices are from."""
    state = outbound.meta.get("state") if isinstance(outbound.meta, dict) else None
    state = state if isinstance(state, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", state) else None
    out: list[Message] = []
    for reply in outbound.replies:
        out.extend(render_reply(reply, state, closed_text))
    return out


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button], template=CUSTOM_ID_TEMPLATE):
    """A choice or the start button. Persistent: registered in ``setup_hook`` by its template, so
    any ``fc:...`` button ever sent is handled, after restarts and flow edits alike. A press goes
    to the client's ``gateway`` (``bot.channels.discord.gateway``)."""

    def __init__(self, custom_id: str, label: str = "…", row: int | None = None, primary: bool = False):
        style = discord.ButtonStyle.primary if primary else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style, row=row))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(item.custom_id or "", item.label or "…")

    async def callback(self, interaction: discord.Interaction) -> None:
        gateway = getattr(interaction.client, "gateway", None)
        if gateway is not None:
            await gateway.on_button(interaction, self.item.custom_id or "")


def build_view(message: Message) -> discord.ui.View | None:
    if not message.buttons:
        return None
    view = discord.ui.View(timeout=None)
    # A few buttons read best one under another on a phone; more are packed five to a row.
    one_per_row = len(message.buttons) <= ROWS_PER_MESSAGE
    for i, b in enumerate(message.buttons):
        row = i if one_per_row else None
        if b.url:
            view.add_item(discord.ui.Button(label=b.label, url=b.url, row=row))
        else:
            view.add_item(ChoiceButton(b.custom_id or "", b.label, row=row))
    return view


def message_nonce(retry_key: str, index: int) -> str | None:
    """A stable nonce per message of an outbox row, so a retried send is not shown twice."""
    if not retry_key:
        return None
    return hashlib.blake2b(f"{retry_key}:{index}".encode(), digest_size=12).hexdigest()[:NONCE_CHARS]
