"""Turn replies into LINE message objects (plain JSON, as the Messaging API documents them).

Pure: no I/O. ``delivery.py`` sends what this returns through line-bot-sdk; the tests validate it
against ``messaging-api.yml`` and each message's and action's concrete schema.

How a turn becomes at most five messages:

- each bubble's text is one text message (split as ``bot.text.split_text`` splits, when it is over
  5,000 UTF-16 units); bubbles with links add one Flex bubble with a ``uri`` button per link
  (``tel:`` or ``https:``), the name and hours shown above each button;
- while there are more than five, the two neighbouring texts that make the shortest message
  together are joined with a blank line; if that is not enough, the link bubbles are joined into
  one; a sixth message can only come from very long counsellor messages, which are cut;
- choices become quick-reply buttons on the last message (LINE shows quick replies only there):
  postback data ``<state>:<choice_id>`` (what ``UserInput.tapped`` expects), a label cut to 20
  UTF-16 units, and ``displayText`` with the whole label, so the tap appears as the person's own
  message. LINE allows 13 buttons: with more, the bubble also lists every choice by number (the
  engine understands a typed number), so no choice is ever lost.
"""
from __future__ import annotations

from typing import Callable, Sequence
from urllib.parse import urlsplit

from bot.engine.model import Choice, Link, Reply
from bot.text import ELLIPSIS, clip, split_text, utf16_len

# LINE's limits (https://developers.line.biz/en/reference/messaging-api/), counted in UTF-16
# code units as LINE counts them (an emoji outside the BMP is two).
MAX_MESSAGES = 5               # per reply or push request
MAX_TEXT_UNITS = 5000          # text message
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL_UNITS = 20           # action labels (quick reply, buttons)
MAX_POSTBACK_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400             # Flex message altText
MAX_URI_CHARS = 1000
URI_SCHEMES = ("https", "http", "tel", "line")


# ---- single messages -----------------------------------------------------------------------------


def text_message(text: str) -> dict:
    return {"type": "text", "text": text}


def is_safe_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in URI_SCHEMES or len(uri) > MAX_URI_CHARS:
        return False
    return bool(parts.netloc) if parts.scheme in ("http", "https") else bool(parts.path)


def button_label(link: Link) -> str:
    """The button's own label (20 units): the whole label when it fits, else the number or host."""
    if utf16_len(link.label) <= MAX_LABEL_UNITS:
        return link.label
    parts = urlsplit(link.url)
    if parts.scheme == "tel":
        return clip("📞 " + parts.path.replace("%23", "#"), MAX_LABEL_UNITS)
    return clip("🔗 " + (parts.hostname or link.label), MAX_LABEL_UNITS)


def links_message(links: Sequence[Link], closed_text: str = "") -> dict | None:
    """One Flex bubble: for each link its full label, its hours, and a button that dials or opens it."""
    body: list[dict] = []
    for i, link in enumerate(links):
        if i:
            body.append({"type": "separator", "margin": "lg"})
        body.append({"type": "text", "text": link.label or link.url, "wrap": True, "weight": "bold",
                     "margin": "lg" if i else "none"})
        detail = " · ".join(x for x in (link.hours, closed_text if link.open_now is False else "") if x)
        if detail:
            body.append({"type": "text", "text": detail, "wrap": True, "size": "sm", "color": "#666666"})
        if is_safe_uri(link.url):
            body.append({"type": "button", "style": "primary" if link.url.startswith("tel:") else "secondary",
                         "height": "sm", "margin": "md",
                         "action": {"type": "uri", "label": button_label(link), "uri": link.url}})
    if not body:
        return None
    alt = " / ".join(l.label or l.url for l in links)
    return {"type": "flex", "altText": clip(alt, MAX_ALT_TEXT),
            "contents": {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": body}}}


def quick_reply(choices: Sequence[Choice], state: str | None) -> dict:
    items = []
    for c in choices[:MAX_QUICK_REPLY_ITEMS]:
        data = f"{state}:{c.id}" if state else c.id
        if len(data) > MAX_POSTBACK_DATA:
            data = c.id[:MAX_POSTBACK_DATA]
        items.append({"type": "action", "action": {
            "type": "postback", "label": clip(c.label, MAX_LABEL_UNITS) or c.id[:MAX_LABEL_UNITS],
            "data": data, "displayText": clip(c.label or c.id, MAX_DISPLAY_TEXT)}})
    return {"items": items}


def numbered(choices: Sequence[Choice]) -> str:
    return "\n".join(f"{i}. {c.label}" for i, c in enumerate(choices, 1))


# ---- a whole turn ---------------------------------------------------------------------------------


def build_messages(replies: Sequence[Reply], state: str | None = None, *,
                   prompt: Callable[[], str] = lambda: "", closed_text: str = "") -> list[dict]:
    """The messages for one reply or push request: at most five, choices on the last.

    ``prompt()`` gives the text to carry the choices when the turn has nothing else to say;
    ``closed_text`` is shown beside a service that is closed now.
    """
    parts: list[dict] = []
    choices: tuple[Choice, ...] = ()
    for reply in replies:
        for piece in split_text(reply.text, MAX_TEXT_UNITS):
            parts.append(text_message(piece))
        if reply.links:
            msg = links_message(reply.links, closed_text)
            if msg is not None:
                msg["_links"] = list(reply.links)
                parts.append(msg)
        if reply.choices:
            choices = reply.choices  # the engine puts them on the last bubble
    if len(choices) > MAX_QUICK_REPLY_ITEMS:
        parts.append(text_message(clip(numbered(choices), MAX_TEXT_UNITS)))
    if not parts and choices:
        parts.append(text_message(prompt() or ELLIPSIS))
    parts = _fit(parts, closed_text)
    for p in parts:
        p.pop("_links", None)
    if choices and parts:
        parts[-1]["quickReply"] = quick_reply(choices, state)
    return parts


def _fit(parts: list[dict], closed_text: str) -> list[dict]:
    """Join neighbouring texts (shortest pair first), then link bubbles, until five are left."""
    while len(parts) > MAX_MESSAGES:
        best = None
        for i in range(len(parts) - 1):
            a, b = parts[i], parts[i + 1]
            if a["type"] == "text" and b["type"] == "text":
                size = utf16_len(a["text"]) + utf16_len(b["text"]) + 2
                if size <= MAX_TEXT_UNITS and (best is None or size < best[0]):
                    best = (size, i)
        if best is not None:
            i = best[1]
            parts[i : i + 2] = [text_message(parts[i]["text"] + "\n\n" + parts[i + 1]["text"])]
            continue
        flex = [i for i, p in enumerate(parts) if p["type"] == "flex"]
        if len(flex) > 1:
            links = [l for i in flex for l in parts[i]["_links"]]
            merged = links_message(links, closed_text)
            merged["_links"] = links
            parts = [merged if i == flex[-1] else p for i, p in enumerate(parts) if i not in flex[:-1]]
            continue
        # Only texts too long to join: keep the first four and cut the rest into the fifth.
        tail = "\n\n".join(p["text"] for p in parts[MAX_MESSAGES - 1 :] if p["type"] == "text")
        parts = parts[: MAX_MESSAGES - 1] + [text_message(clip(tail, MAX_TEXT_UNITS))]
    return parts
