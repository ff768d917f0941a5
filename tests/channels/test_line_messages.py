"""Turns into LINE messages: limits, merging, choices, links; every output checked as LINE would
(``line_contract``: LINE's limits, line-bot-sdk's models, and LINE's OpenAPI documents where
../shared is there), and every check shown to refuse what LINE refuses."""
from __future__ import annotations

import json

import aiohttp
import pytest

from bot.channels.line.render import MAX_MESSAGES, MAX_QUICK_REPLY_ITEMS, build_messages
from bot.text import utf16_len
from bot.engine.model import Choice, Link, Reply
from tests.channels.line_contract import LINE_OPENAPI, check_api_request, contract_standin
from tests.shared import require

pytestmark = pytest.mark.shared  # the OpenAPI check runs where ../shared is there

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


HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer t"}
PATHS = {"reply": "/v2/bot/message/reply", "push": "/v2/bot/message/push"}


def _text(text="a", **extra) -> dict:
    return {"type": "text", "text": text, **extra}


def _quick(*actions: dict, item_type: str = "action") -> dict:
    return {"items": [{"type": item_type, "action": a} for a in actions]}


def _postback(label="a", data="x", **extra) -> dict:
    return {"type": "postback", "label": label, "data": data, **extra}


def _flex(*components: dict, alt="alt") -> dict:
    return {"type": "flex", "altText": alt,
            "contents": {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": list(components)}}}


def _reply(*messages: dict, **extra) -> tuple[str, dict]:
    return "reply", {"replyToken": "0f" * 16, "messages": list(messages), **extra}


def _push(*messages: dict, **extra) -> tuple[str, dict]:
    return "push", {"to": "U" + "a" * 32, "messages": list(messages), **extra}


# Refused by LINE's schemas: line-bot-sdk's models and the OpenAPI documents must each refuse them.
AGAINST_THE_SCHEMAS = {
    "six messages": _reply(*[_text()] * 6),
    "no messages": _reply(),
    "a text message without text": _reply({"type": "text"}),
    "fourteen quick-reply items": _reply(_text(quickReply=_quick(*[_postback()] * 14))),
    "postback data of 301 characters": _reply(_text(quickReply=_quick(_postback(data="x" * 301)))),
    "an unknown message type": _reply({"type": "hologram", "text": "a"}),
    "an unknown action type": _reply(_text(quickReply=_quick({"type": "teleport", "label": "a"}))),
    "an unknown Flex component": _reply(_flex({"type": "hologram", "text": "a"})),
    "a Flex box without layout": _reply({"type": "flex", "altText": "a", "contents": {
        "type": "bubble", "body": {"type": "box", "contents": [{"type": "text", "text": "a"}]}}}),
    "a Flex text weight LINE does not know": _reply(_flex({"type": "text", "text": "a", "weight": "heavy"})),
    "a flex message without altText": _reply({"type": "flex", "contents": _flex({"type": "text", "text": "a"})["contents"]}),
    "quick_reply for quickReply": _reply(_text(quick_reply=_quick(_postback()))),
    "an unknown property on the request": _reply(_text(), notify=True),
    "a number where LINE takes a string": _reply(_text(text=123)),
    "a string where LINE takes a boolean": _reply(_text(), notificationDisabled="yes"),
    "null instead of leaving it out": _reply(_text(quickReply=None)),
    "a push without to": ("push", {"messages": [_text()]}),
    "a reply without replyToken": ("reply", {"messages": [_text()]}),
    "a reply token that is not a string": _reply(_text(), replyToken=12345),
}

# Refused by LINE for limits its schemas do not encode: the limits check refuses them.
AGAINST_THE_LIMITS = {
    "a label of 21 characters": _reply(_text(quickReply=_quick(_postback(label="あ" * 21)))),
    "a text of 5,001 UTF-16 units": _reply(_text("a" * 5001)),
    "emoji over 5,000 UTF-16 units": _push(_text("😢" * 2501)),
    "an empty text": _reply(_text("  ")),
    "altText of 401 characters": _reply(_flex({"type": "text", "text": "a"}, alt="a" * 401)),
    "a javascript: link button": _reply(_flex({"type": "button", "action": {
        "type": "uri", "label": "a", "uri": "javascript:alert(1)"}})),
    "a quick-reply action without a label": _reply(_text(quickReply=_quick({"type": "postback", "data": "x"}))),
    "displayText of 301 characters": _reply(_text(quickReply=_quick(_postback(displayText="x" * 301)))),
    "a quick-reply item that is not an action": _reply(_text(quickReply=_quick(_postback(), item_type="camera"))),
    "a Flex text without text": _reply(_flex({"type": "text"})),
}


def _problems(case: tuple[str, dict], checks: tuple[str, ...]) -> list[str]:
    kind, body = case
    return check_api_request("POST", PATHS[kind], HEADERS, json.dumps(body).encode(), checks=checks)


@pytest.mark.parametrize("check", ["sdk", "openapi"])
@pytest.mark.parametrize("what", list(AGAINST_THE_SCHEMAS))
def test_each_schema_check_refuses_what_line_refuses(what, check):
    if check == "openapi":
        require(LINE_OPENAPI, "LINE's OpenAPI documents")
    problems = _problems(AGAINST_THE_SCHEMAS[what], (check,))
    assert any(p.startswith(f"{check}: ") for p in problems), (what, problems)


@pytest.mark.parametrize("what", list(AGAINST_THE_LIMITS))
def test_the_limits_check_refuses_what_line_refuses(what):
    problems = _problems(AGAINST_THE_LIMITS[what], ("limits",))
    assert any(p.startswith("limits: ") for p in problems), (what, problems)


@pytest.mark.parametrize("check", ["limits", "sdk", "openapi"])
def test_each_check_passes_the_well_formed_cases(check):
    """The broken cases above differ from these by the one thing they name."""
    if check == "openapi":
        require(LINE_OPENAPI, "LINE's OpenAPI documents")
    fine = [_reply(_text(quickReply=_quick(*[_postback(label="あ" * 20, displayText="x" * 300)] * 13))),
            _push(*[_text("😢" * 2500)] * 5, notificationDisabled=True),
            _reply(_flex({"type": "text", "text": "a", "weight": "bold"},
                         {"type": "button", "action": {"type": "uri", "label": "a", "uri": "tel:0120279338"}},
                         alt="a" * 400))]
    for case in fine:
        assert _problems(case, (check,)) == [], case


async def test_the_stand_in_answers_a_broken_body_with_400_and_records_it():
    async with contract_standin("t") as line, aiohttp.ClientSession() as http:
        kind, body = AGAINST_THE_SCHEMAS["fourteen quick-reply items"]
        async with http.post(line.url + PATHS[kind], json=body, headers={"Authorization": "Bearer t"}) as resp:
            assert resp.status == 400
        assert line.sent() == [] and any("14 items" in v for v in line.violations)
