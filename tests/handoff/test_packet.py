"""Issue 15, item 2: the context packet in words, from the real first-contact flow and the
console's locale texts: the situation and age band as the buttons said them, language and
channel by name, what the bot already told them (with how many steps), in ja and en."""
import pytest

from bot.handoff.packet import in_words
from bot.reload import BundleHolder
from tests.handoff.support import ROOT

CONTEXT = {
    "path": ["welcome", "sit_threat", "dont", "ev_noimage", "ev_keep", "law_age", "human"],
    "tags": ["dont", "evidence", "handoff", "law", "reassure", "threat", "triage", "welcome"],
    "choices": {"situation": "threat", "age_band": "u16"},
    "locale": "ja", "risk": [],
}


@pytest.fixture(scope="module")
def flow():
    return BundleHolder(ROOT / "flows", ROOT / "locales", "first_contact").flow


def test_a_counsellor_reads_the_situation_in_words_in_japanese(flow):
    words = in_words(flow, CONTEXT, "ja", "line", "ja")
    assert words["situation"] == "晒すと脅されてる"
    assert words["age_band"] == "16歳未満"
    assert (words["language"], words["channel"]) == ("日本語", "LINE")
    assert words["told"] == ["あなたは悪くない、と安心の言葉",
                             "お金を払わない・画像を送らない・交渉しない（2場面）",
                             "証拠の残し方（2場面）",
                             "法律の説明（脅しは犯罪）"]
    # No state ids or tags among the words.
    assert not any(x in " ".join(words["told"]) for x in ("sit_threat", "ev_", "dont,", "law_age"))


def test_the_same_in_the_consoles_english(flow):
    words = in_words(flow, {**CONTEXT, "locale": "ja"}, "ja", "web", "en")
    assert (words["situation"], words["age_band"]) == ("Threats to share it", "Under 16")
    assert (words["language"], words["channel"]) == ("Japanese", "Web chat")
    assert words["told"][2] == "How to keep evidence (2 steps)"


def test_nothing_chosen_yet_and_unknown_values(flow):
    words = in_words(flow, {"path": ["welcome", "nonexistent"], "choices": {"situation": "made_up"}}, "en", "discord", "ja")
    assert words["situation"] == "made_up" and words["age_band"] is None
    assert (words["language"], words["channel"], words["told"]) == ("英語", "Discord", [])


# ---- for a crisis, what led into it (in the packet, sealed with it) -----------------------------

from types import SimpleNamespace  # noqa: E402

from bot.envelope import InboundEvent  # noqa: E402
from bot.turns.plan import Limits, plan_turn  # noqa: E402

NOW = 1_700_000_000.0


def _walk(flow, *moves):
    """Plan each move as the worker would (text, or ``("tap", id)``); returns the last plan."""
    session, conv, p = None, None, None
    for i, m in enumerate(moves):
        event = (InboundEvent("web", f"e{i}", "U1", "tap", choice=m[1]) if isinstance(m, tuple)
                 else InboundEvent("web", f"e{i}", "U1", "text", text=m))
        p = plan_turn(flow, i, "p" * 64, event, conv, session, None, NOW + i, Limits("Asia/Tokyo"))
        session = p.session
        conv = SimpleNamespace(id=p.conversation_id, in_handoff=bool(p.in_handoff), last_active_at=NOW + i)
    return p


def test_a_crisis_keyword_reaches_the_packet_as_the_keyword_file_writes_it(flow):
    p = _walk(flow, "こんにちは", "もう死にたい", "人と話したい")
    assert p.open_handoff is not None and p.open_handoff.is_crisis
    [entry] = p.open_handoff.context["triggers"]
    assert entry[0] == "interrupt:crisis" and entry[1] == "welcome" and "死にたい" in entry[2:]
    words = in_words(flow, p.open_handoff.context, "ja", "web", "ja")
    assert words["triggers"] == ["「死にたい」という言葉"]
    assert in_words(flow, p.open_handoff.context, "ja", "web", "en")["triggers"] == ["the words “死にたい”"]


def test_the_direct_question_answered_yes_or_not_sure_is_named(flow):
    p = _walk(flow, "こんにちは", "もう無理", ("tap", "check_not_sure"), "人と話したい")
    words = in_words(flow, p.open_handoff.context, "ja", "web", "ja")
    assert words["triggers"] == ["「もう無理」という言葉", "危機かどうかの質問に「わからない」と答えた"]
    assert in_words(flow, p.open_handoff.context, "ja", "web", "en")["triggers"][1] == \
        "answered “Not sure” when asked directly about a crisis"
    assert p.open_handoff.context["triggers"][1][:2] == ["choice:check_not_sure", "crisis_check"]


def test_moving_about_inside_the_crisis_answer_adds_no_trigger_and_none_without_a_crisis(flow):
    p = _walk(flow, "死にたい", ("tap", "more"), "人と話したい")
    assert [t[0] for t in p.open_handoff.context["triggers"]] == ["interrupt:crisis"]
    calm = _walk(flow, "こんにちは", "人と話したい")
    assert calm.open_handoff.context["triggers"] == []
    assert in_words(flow, calm.open_handoff.context, "ja", "web", "ja")["triggers"] == []


def test_the_model_and_a_plain_button_in_words(flow):
    ctx = {"triggers": [["model:crisis", "welcome"], ["choice:crisis_lines", "crisis_back"], ["interrupt:crisis", "x"],
                        "junk", ["one"]]}
    assert in_words(flow, ctx, "ja", "web", "en")["triggers"] == [
        "no clear words; the message read like a crisis (understanding model)",
        f"chose the button “{flow.text('en', flow.states['crisis_back'].choice_by_id['crisis_lines'].label_key)}”",
        "a short phrase that means a crisis"]
