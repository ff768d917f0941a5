"""Turns into LINE messages: limits, merging, choices, links; every output checked against the spec."""
from __future__ import annotations

import json

import pytest

from bot.channels.line_messages import (
    MAX_MESSAGES,
    MAX_QUICK_REPLY_ITEMS,
    build_messages,
    cut,
    split_text,
    utf16_len,
)
from bot.engine.model import Choice, Link, Reply
from tests.channels.line_standin import check_api_request

YORISOI = Link("よりそいホットライン 0120-279-338", "tel:0120279338", "yorisoi", True, "24時間")
CHILDLINE = Link("チャイルドライン 0120-99-7777", "tel:0120997777", "childline", False, "毎日16時〜21時")
WEB = Link("Safer Internet", "https://www.example.org/help", "web")


def valid(messages: list[dict]) -> list[dict]:
    """Assert the messages pass every check the stand-in LINE makes, as a reply and as a push."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer t",
               "X-Line-Retry-Key": "123e4567-e89b-12d3-a456-426614174000"}
    reply = json.dumps({"replyToken": "0f" * 16, "messages": messages}).encode()
    push = json.dumps({"to": "U" + "a" * 32, "messages": messages}).encode()
    assert check_api_request("POST", "/v2/bot/message/reply", headers, reply) == []
    assert check_api_request("POST", "/v2/bot/message/push", headers, push) == []
    return messages


def test_utf16_counting_and_cutting():
    assert utf16_len("abc") == 3
    assert utf16_len("相談") == 2
    assert utf16_len("😢") == 2
    assert cut("a" * 25, 20) == "a" * 19 + "…"
    assert utf16_len(cut("😢" * 15, 20)) <= 20
    assert cut("😢" * 15, 20).endswith("…")  # never half a surrogate pair
    assert cut("short", 20) == "short"


def test_long_text_is_split_within_limits_at_line_breaks():
    text = "\n".join(f"{i:04d} " + "あ" * 90 for i in range(120))  # about 11,400 units
    pieces = split_text(text)
    assert len(pieces) == 3
    assert all(utf16_len(p) <= 5000 for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")
    assert all(p.startswith(("0", "1")) for p in pieces)  # cut at a line break


def test_emoji_never_split_in_half():
    pieces = split_text("😢" * 6000)
    assert [utf16_len(p) for p in pieces] == [5000, 5000, 2000]
    assert "".join(pieces) == "😢" * 6000


def test_simple_turn_with_choices_as_quick_replies():
    msgs = valid(build_messages((Reply("こんにちは", "k", (Choice("threatened", "脅されている"), Choice("person", "人と話したい"))),),
                                "welcome"))
    assert len(msgs) == 1
    items = msgs[0]["quickReply"]["items"]
    assert [i["action"]["data"] for i in items] == ["welcome:threatened", "welcome:person"]
    assert [i["action"]["displayText"] for i in items] == ["脅されている", "人と話したい"]
    assert all(i["type"] == "action" and i["action"]["type"] == "postback" for i in items)


def test_long_labels_are_cut_but_the_tap_shows_the_whole_label():
    label = "画像を消してほしいと相手に伝えたいけどどうすればいいか分からない"
    msgs = valid(build_messages((Reply("?", "k", (Choice("long", label),)),), "s"))
    action = msgs[0]["quickReply"]["items"][0]["action"]
    assert utf16_len(action["label"]) <= 20 and action["label"].endswith("…")
    assert action["displayText"] == label


def test_more_than_13_choices_are_all_kept():
    choices = tuple(Choice(f"c{i}", f"選択肢{i}") for i in range(1, 17))
    msgs = valid(build_messages((Reply("どれですか", "k", choices),), "many"))
    assert len(msgs[-1]["quickReply"]["items"]) == MAX_QUICK_REPLY_ITEMS
    listed = msgs[-1]["text"]
    for i, c in enumerate(choices, 1):
        assert f"{i}. {c.label}" in listed  # a typed number reaches every choice


def test_many_bubbles_are_joined_into_five_and_choices_survive():
    replies = tuple(Reply(f"吹き出し{i}", f"k{i}") for i in range(8)) + (
        Reply("最後", "last", (Choice("a", "はい"), Choice("b", "いいえ")), (YORISOI,)),)
    msgs = valid(build_messages(replies, "st"))
    assert len(msgs) == MAX_MESSAGES
    text = "\n".join(m.get("text", "") for m in msgs)
    for i in range(8):
        assert f"吹き出し{i}" in text
    assert msgs[-1]["type"] == "flex"
    assert [i["action"]["data"] for i in msgs[-1]["quickReply"]["items"]] == ["st:a", "st:b"]


def test_links_become_uri_buttons_with_tel_and_https():
    msgs = valid(build_messages((Reply("ひとりで抱えないで", "k", (), (YORISOI, CHILDLINE, WEB)),), "crisis",
                                closed_text="いまは時間外"))
    assert [m["type"] for m in msgs] == ["text", "flex"]
    flex = msgs[1]
    body = flex["contents"]["body"]["contents"]
    uris = [c["action"]["uri"] for c in body if c["type"] == "button"]
    assert uris == ["tel:0120279338", "tel:0120997777", "https://www.example.org/help"]
    texts = [c["text"] for c in body if c["type"] == "text"]
    assert "よりそいホットライン 0120-279-338" in texts and "毎日16時〜21時 · いまは時間外" in texts
    assert "24時間" in texts  # open now: no "closed" note
    labels = [c["action"]["label"] for c in body if c["type"] == "button"]
    assert labels[0] == "📞 0120279338" and labels[2] == "Safer Internet"
    assert "よりそいホットライン" in flex["altText"]


def test_link_bubbles_are_merged_when_there_are_too_many_messages():
    replies = tuple(Reply("x" * 3000, f"k{i}", (), (YORISOI,)) for i in range(4))
    msgs = valid(build_messages(replies, "s"))
    assert len(msgs) <= MAX_MESSAGES
    buttons = [c for m in msgs if m["type"] == "flex" for c in m["contents"]["body"]["contents"] if c["type"] == "button"]
    assert len(buttons) == 4


def test_unsafe_link_keeps_its_name_but_gets_no_button():
    msgs = valid(build_messages((Reply("", "", (), (Link("Somewhere", "javascript:alert(1)"),)),), "s"))
    body = msgs[0]["contents"]["body"]["contents"]
    assert [c["type"] for c in body] == ["text"]


def test_choices_alone_are_carried_by_a_prompt():
    msgs = valid(build_messages((Reply("", "", (Choice("a", "A"),)),), "s", prompt=lambda: "選んでください"))
    assert msgs[0]["text"] == "選んでください" and msgs[0]["quickReply"]["items"][0]["action"]["data"] == "s:a"


def test_nothing_to_say_sends_nothing():
    assert build_messages((Reply("  ", ""),), "s") == []


def test_without_state_the_postback_is_the_choice_alone():
    msgs = valid(build_messages((Reply("?", "", (Choice("talk_to_person", "人と話す"),)),), None))
    assert msgs[0]["quickReply"]["items"][0]["action"]["data"] == "talk_to_person"


def test_counsellor_essay_is_cut_to_five_messages_within_limits():
    text = "\n\n".join("段落" + str(i) + "。" + "う" * 4990 for i in range(7))
    msgs = valid(build_messages((Reply(text, ""),), None))
    assert len(msgs) == MAX_MESSAGES
    assert all(utf16_len(m["text"]) <= 5000 for m in msgs)


@pytest.mark.parametrize("text", ["emoji 😢🙏🏽 👨‍👩‍👧", "tab\tnew\nline", "ゼロ幅\u200bスペース"])
def test_unusual_characters_pass_through(text):
    msgs = valid(build_messages((Reply(text, ""),), None))
    assert msgs[0]["text"] == text


def test_the_stand_in_rejects_what_line_would_reject():
    headers = {"Content-Type": "application/json", "Authorization": "Bearer t"}
    too_many = json.dumps({"replyToken": "t", "messages": [{"type": "text", "text": "a"}] * 6}).encode()
    no_text = json.dumps({"replyToken": "t", "messages": [{"type": "text"}]}).encode()
    long_data = json.dumps({"replyToken": "t", "messages": [{"type": "text", "text": "a", "quickReply": {"items": [
        {"type": "action", "action": {"type": "postback", "label": "a", "data": "x" * 301}}]}}]}).encode()
    long_label = json.dumps({"replyToken": "t", "messages": [{"type": "text", "text": "a", "quickReply": {"items": [
        {"type": "action", "action": {"type": "postback", "label": "あ" * 21, "data": "x"}}]}}]}).encode()
    typo = json.dumps({"replyToken": "t", "messages": [{"type": "text", "text": "a", "quick_reply": {}}]}).encode()
    for body in (too_many, no_text, long_data, long_label, typo):
        assert check_api_request("POST", "/v2/bot/message/reply", headers, body), body
