"""Every phone number the bot can say is one listed in ../shared/content/FACTS.md.

A wrong number given to a young person in crisis is worse than none. FACTS.md is read at test
time (CI has shared/ beside the checkout), so a number removed there fails here at once. Where
../shared is not there, the tests that need FACTS.md skip (see ``tests/shared.py``).
"""
from __future__ import annotations

import re
from functools import lru_cache

import pytest
import yaml

from tests.shared import FACTS, require

from .helpers import FLOWS, LOCALES, bundle

pytestmark = pytest.mark.shared

# Phone-like tokens: "#9110", "0120-0-78310", "0120078310", and three-digit service numbers
# ("110", "189", "119") standing alone, i.e. not part of a longer number, a time or a date.
_HASH = re.compile(r"#\d{3,5}(?!\d)")
_HYPHENATED = re.compile(r"(?<![\d.\-])0\d{1,4}[-‐－]\d{1,4}[-‐－]\d{1,5}(?![\d\-])")
# Navi dial and free dial numbers written with one hyphen: "0570-079714" (法テラス).
_ONE_HYPHEN = re.compile(r"(?<![\d.\-])0(?:120|570|800)[-‐－]\d{6}(?![\d\-])")
_PLAIN = re.compile(r"(?<![\d.\-])0(?:120|570|800|\d0)\d{6,7}(?![\d])")
_SHORT = re.compile(r"(?<![\d#:.,/\-¥$])1\d\d(?!\d|[:.,/\-]\d)")


def phone_numbers(text: str) -> set[str]:
    """The phone numbers in ``text``, written as digits (and #) only."""
    found = set()
    for pattern in (_HASH, _HYPHENATED, _ONE_HYPHEN, _PLAIN, _SHORT):
        for m in pattern.finditer(text):
            found.add(re.sub(r"[^\d#]", "", m.group(0)))
    return found


@lru_cache(maxsize=1)
def facts_numbers() -> frozenset[str]:
    """Numbers FACTS.md lists: #-numbers, 0120/0570 numbers, and the short numbers in the help table."""
    text = require(FACTS, "the project's facts file").read_text(encoding="utf-8")
    numbers = {re.sub(r"[^\d#]", "", m.group(0)) for p in (_HASH, _HYPHENATED, _ONE_HYPHEN, _PLAIN) for m in p.finditer(text)}
    # Three-digit numbers only when a table row gives one alone in its second column (the "how"
    # of "Help in Japan", the "fact" of the second round: 119), so that years, counts and article
    # numbers elsewhere in FACTS.md never count as phone numbers.
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) >= 2 and re.fullmatch(r"1\d\d", cells[1]):
            numbers.add(cells[1])
    return frozenset(numbers)


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if isinstance(value, (str, int)) and not isinstance(value, bool) else []


def test_the_facts_parser_finds_the_numbers_we_know_are_there():
    facts = facts_numbers()
    for number in ("110", "119", "189", "#9110", "#8103", "#8891", "0120279338", "0120078310",
                   "0335804970", "0570079714", "0570003110"):
        assert number in facts, number
    assert "119" in facts  # the second round added the ambulance (emergency first)
    # Years, article numbers and counts in FACTS.md are not phone numbers.
    for not_a_number in ("2023", "182", "249", "222", "223", "241", "528", "131", "100"):
        assert not_a_number not in facts, not_a_number


def test_the_number_finder_sees_the_usual_ways_of_writing_a_number():
    assert phone_numbers("よりそい 0120-279-338、#9110、110番、call 189.") == {"0120279338", "#9110", "110", "189"}
    assert phone_numbers("平日8:30〜17:15、2023年7月、16歳未満、12/29〜1/3") == set()
    assert phone_numbers("tel:0120078310") == {"0120078310"}
    assert phone_numbers("法テラス 0570-079714（平日9時〜21時）") == {"0570079714"}


def test_every_number_in_resources_yaml_is_in_facts():
    data = yaml.safe_load((FLOWS / "resources.yaml").read_text(encoding="utf-8"))
    unknown = {}
    for rid, entry in data["resources"].items():
        numbers = set()
        if entry.get("tel"):
            numbers.add(re.sub(r"[^\d#]", "", str(entry["tel"])))
        for text in _strings({k: v for k, v in entry.items() if k not in ("tel", "verified", "source", "open")}):
            numbers |= phone_numbers(text)
        bad = numbers - facts_numbers()
        if bad:
            unknown[rid] = sorted(bad)
    assert not unknown, f"numbers not in FACTS.md: {unknown}"


def test_every_resource_names_its_source_and_the_day_it_was_checked():
    data = yaml.safe_load((FLOWS / "resources.yaml").read_text(encoding="utf-8"))
    for rid, entry in data["resources"].items():
        assert "FACTS.md" in str(entry.get("source", "")), rid
        assert entry.get("verified"), rid


# Texts, not keywords: a keyword (10錠, "15") is what people type, never what the bot says.
@pytest.mark.parametrize("path", sorted(p for p in LOCALES.glob("*.yaml") if ".intents." not in p.name), ids=lambda p: p.name)
def test_every_number_written_in_a_locale_file_is_in_facts(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = {}
    for text in _strings(data):
        # {police110.tel} is a reference to resources.yaml, not a number written here.
        bad = phone_numbers(re.sub(r"\{[^{}]*\}", " ", text)) - facts_numbers()
        if bad:
            unknown[text[:60]] = sorted(bad)
    assert not unknown, f"{path.name}: numbers not in FACTS.md: {unknown}"


def test_every_number_the_bot_can_say_is_in_facts():
    # The texts as the bot says them, with {service.tel} filled in from resources.yaml.
    b = bundle()
    assert not b.errors, b.errors
    unknown = {}
    for flow in b.flows.values():
        for locale, texts in flow.catalog.items():
            for key, text in texts.items():
                bad = phone_numbers(text.template) - facts_numbers()
                if bad:
                    unknown[f"{locale}:{key}"] = sorted(bad)
    assert not unknown, f"numbers not in FACTS.md: {unknown}"
