"""Issue 15, item 5: the ready replies are offered in the order of the locale file, each with
its short name (what a counsellor types after "/"), in the conversation's language."""
from pathlib import Path

import yaml

from bot.handoff.console_core import ready_replies

LOCALES = Path(__file__).resolve().parents[2] / "locales"


def _file_order(code: str) -> list[tuple[str, str]]:
    data = yaml.safe_load((LOCALES / f"{code}.console.yaml").read_text(encoding="utf-8"))
    return [(name, str(text)) for name, text in data["texts"]["canned"].items()]


def test_ready_replies_keep_the_order_of_the_file_in_each_language(flow):
    for code in ("ja", "en"):
        expected = _file_order(code)
        assert expected != sorted(expected), "the file is not sorted: the test would not see a sort"
        assert ready_replies(flow, code) == expected


def test_a_language_without_its_own_catalog_gets_the_default_one(flow):
    assert ready_replies(flow, "xx") == [(name, flow.text("xx", "canned." + name)) for name, _ in _file_order(flow.default_locale)]
