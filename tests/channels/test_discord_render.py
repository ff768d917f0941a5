"""The Discord adapter's rendering: button ids and messages within Discord's limits.
No discord.py private API here (that stays in test_discord.py)."""
from __future__ import annotations

import pytest

from bot.envelope import Outbound
from bot.channels.discord.render import (
    BUTTONS_PER_MESSAGE, CUSTOM_ID_CHARS, LABEL_CHARS, START_CUSTOM_ID, ChoiceButton, Tap,
    choice_custom_id, clip_label, message_nonce, parse_custom_id, render_outbound,
)
from bot.engine.model import Choice, Link, Reply


@pytest.mark.parametrize("state, choice", [("welcome", "threatened"), ("law_u16", "talk_to_person"),
                                           (None, "back"), ("s" * 40, "c" * 40)])
def test_custom_id_round_trip(state, choice):
    custom_id = choice_custom_id(state, choice)
    assert len(custom_id) <= CUSTOM_ID_CHARS
    assert parse_custom_id(custom_id) == Tap("tap", choice, state)
    assert ChoiceButton.__discord_ui_compiled_template__.fullmatch(custom_id)


def test_custom_id_too_long_drops_the_state():
    custom_id = choice_custom_id("s" * 100, "choice")
    assert custom_id == "fc::choice"
    assert parse_custom_id(custom_id) == Tap("tap", "choice", None)


@pytest.mark.parametrize("custom_id, expected", [
    (START_CUSTOM_ID, Tap("start")),
    ("fc:", None), ("fc:welcome:", None), ("other:welcome:x", None), ("", None),
    ("fc:x", Tap("tap", "x", None)),
])
def test_parse_custom_id(custom_id, expected):
    assert parse_custom_id(custom_id) == expected


def test_clip_label():
    assert clip_label("x" * 200) == "x" * (LABEL_CHARS - 1) + "…"
    assert clip_label("  a \n b ") == "a b"
    assert clip_label("") == "…"


def test_render_buttons_links_and_phone_numbers():
    reply = Reply("text", "k", (Choice("a", "A"), Choice("a", "A again"), Choice("b", "B")),
                  (Link("Site", "https://example.org"), Link("Hotline 0120-279-338", "tel:0120279338", "h", False, "24h"),
                   Link("Line app", "line://ti/p/x")))
    (message,) = render_outbound(Outbound((reply,), meta={"state": "st"}), closed_text="closed now")
    assert message.content == "text\n📞 Hotline 0120-279-338 (24h) · closed now\n📞 Line app"
    assert [(b.label, b.custom_id, b.url) for b in message.buttons] == [
        ("A", "fc:st:a", None), ("B", "fc:st:b", None), ("Site", None, "https://example.org")]


def test_render_many_buttons_spread_over_messages():
    reply = Reply("", "", tuple(Choice(f"c{i}", f"C{i}") for i in range(60)))
    messages = render_outbound(Outbound((reply,), meta={"state": "st"}))
    assert [len(m.buttons) for m in messages] == [25, 25, 10]
    assert all(len(m.buttons) <= BUTTONS_PER_MESSAGE for m in messages)


def test_render_ignores_a_bad_state_in_meta():
    (message,) = render_outbound(Outbound((Reply("x", "", (Choice("a", "A"),)),), meta={"state": "no spaces!"}))
    assert message.buttons[0].custom_id == "fc::a"


def test_nonce_is_stable_and_short():
    assert message_nonce("row", 0) == message_nonce("row", 0) != message_nonce("row", 1)
    assert len(message_nonce("row", 0)) <= 25 and message_nonce("", 0) is None
