"""The registry of codes and messages: every code explained in Japanese and English alike."""
from __future__ import annotations

import string

from bot.engine.codes import SEVERITY_WORDS, STATE_WORDS, SUGGESTION, Code, M, Severity, messages
from bot.engine.errors import FlowIssue, did_you_mean, issue_records


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_code_has_a_message_and_every_message_both_languages():
    explained = {m.code for m in messages()}
    assert explained == set(Code), f"codes nobody explains: {set(Code) - explained}"
    for message in messages() + [SUGGESTION, STATE_WORDS]:
        assert message.en.strip() and message.ja.strip(), message
        assert message.en != message.ja, message


def test_the_placeholders_of_the_two_languages_agree():
    for name, message in vars(M).items():
        if not hasattr(message, "code"):
            continue
        assert _placeholders(message.en) == _placeholders(message.ja), name
        # Every template renders (no lone brace), given a value for each placeholder.
        values = {p: "x" for p in _placeholders(message.en)}
        message.en.format(**values), message.ja.format(**values)


def test_codes_are_stable_strings_with_a_name_and_a_severity():
    assert Code.MISSING_TARGET == "F102" and Code("F102") is Code.MISSING_TARGET
    assert Code.MISSING_TARGET.title == "MissingTarget"
    assert Code.UNUSED_LOCALE_KEY.severity is Severity.WARNING
    assert all(c.severity is Severity.ERROR for c in Code if c.value.startswith("F"))
    assert set(SEVERITY_WORDS["ja"]) == set(SEVERITY_WORDS["en"]) == {s.value for s in Severity}


def test_an_issue_says_the_same_thing_in_both_languages_with_did_you_mean():
    issue = FlowIssue.of(M.MISSING_TARGET, "flows/x.yaml", 41, state="ask_age",
                         suggestion="age_ok", target="age_okk")
    assert str(issue) == ('flows/x.yaml:41, state "ask_age": error F102 MissingTarget: goes to "age_okk", which '
                          'does not exist. Check the spelling or add that state. Did you mean "age_ok"?')
    ja = issue.describe("ja")
    assert ja.startswith("flows/x.yaml:41、状態「ask_age」: エラー F102 MissingTarget: ")
    assert "「age_okk」" in ja and "「age_ok」のまちがいではありませんか？" in ja
    record = issue_records([issue])[0]
    assert record == {"code": "F102", "name": "MissingTarget", "severity": "error", "file": "flows/x.yaml",
                      "line": 41, "state": "ask_age", "message_ja": issue.message_ja, "message_en": issue.message}


def test_did_you_mean_names_a_close_word_only():
    assert did_you_mean("evidense", ["evidence", "law", "welcome"]) == "evidence"
    assert did_you_mean("Welcome", ["welcome", "law"]) == "welcome"
    assert did_you_mean("zzz", ["evidence", "law"]) is None
    assert did_you_mean("law", ["law"]) is None  # the word itself is no suggestion


def shown(template: str) -> str:
    """A template as docs/CHECKS.md shows it: each placeholder as ‹name›."""
    return template.format(**{p: f"‹{p}›" for p in _placeholders(template)})


HEADER = """# What `bot check` reports / `bot check` が伝えること

Every code, its name and what it says, in English and Japanese, as `bot/engine/codes.py` has them
(`tests/engine/test_codes.py` keeps this page in step with it). Errors (`F`) stop an edit from
loading: the bot keeps serving the last good version. Warnings (`W`) are reported and the edit
loads. ‹name› is filled in with what the check found; a name that does not exist is followed by
"Did you mean ...?". `bot check` speaks Japanese with `BOT_LANG=ja` or a Japanese locale.

エラー（`F`）のある編集は読み込まれず、ボットは前の版のまま動きます。注意（`W`）は伝えるだけで、
編集は読み込まれます。‹name› のところには見つかったものが入ります。存在しない名前には
「〜のまちがいではありませんか？」が続きます。`BOT_LANG=ja` か日本語のロケールで、`bot check` は日本語で伝えます。
"""


def checks_page() -> str:
    """docs/CHECKS.md as the registry makes it (``python -m tests.engine.test_codes > docs/CHECKS.md``)."""
    out = [HEADER]
    for code in Code:
        out.append(f"## {code.value} {code.title} ({'error / エラー' if code.severity == 'error' else 'warning / 注意'})\n")
        out += [f"- {shown(m.en)}\n  {shown(m.ja)}" for m in messages() if m.code is code]
        out.append("")
    return "\n".join(out)


def test_docs_checks_lists_every_code_and_message_in_both_languages():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "CHECKS.md").read_text(encoding="utf-8")
    assert page == checks_page(), "docs/CHECKS.md is out of date: python -m tests.engine.test_codes > docs/CHECKS.md"


if __name__ == "__main__":
    print(checks_page(), end="")
