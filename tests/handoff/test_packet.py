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
