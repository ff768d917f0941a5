"""Loading as NGO staff meet it: one slip is one message, at its line, saying what to do.

The real content is used where the cascade was found (one Japanese text indented one space too
many in locales/ja.yaml gave 317 error lines); the mini fixture elsewhere.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.engine import load_bundle
from bot.engine.codes import M

from .helpers import TODAY, copy_mini

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def real(tmp_path):
    """A copy of the shipped flows and locales to break."""
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    return tmp_path / "flows", tmp_path / "locales"


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` by ``new``; the 1-based line of the change."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[:text.index(old)].count("\n") + 1


def _line_starting(path: Path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(start))


def test_the_real_content_checks_clean(real):
    assert load_bundle(*real, TODAY).errors == []


def test_one_japanese_text_indented_one_space_too_many_is_one_error_at_its_line(real):
    flows, locales = real
    ja = locales / "ja.yaml"
    line = _line_starting(ja, "    ack: ")
    _edit(ja, "\n    ack: ", "\n     ack: ")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.file, i.line) for i in bundle.errors] == [("F100", "locales/ja.yaml", line)]
    issue = bundle.errors[0]
    assert "starts 5 spaces in" in issue.message and "start 4 spaces in" in issue.message
    assert "5 文字分" in issue.message_ja and "4 文字分" in issue.message_ja
    assert bundle.flows == {}
    # What does not depend on the broken file is still checked: only the services' dates warn.
    assert {i.code for i in bundle.warnings} == {"W203"}


@pytest.mark.parametrize("name", ["en.yaml", "ja.intents.yaml", "en.intents.yaml", "ja.console.yaml"])
def test_any_broken_locale_file_is_exactly_one_error(real, name):
    flows, locales = real
    path = locales / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text + '\nbroken: "never closed\n', encoding="utf-8")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.file) for i in bundle.errors] == [("F100", f"locales/{name}")], [str(i) for i in bundle.errors]
    assert bundle.errors[0].message.startswith("the quote \" opened on this line is never closed")


def test_a_broken_flow_file_is_one_error_and_no_unused_text_warnings(real):
    flows, locales = real
    line = _edit(flows / "first_contact.yaml", "\nstates:\n", "\nstates:\n  welcome: [oops\n")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.file, i.line) for i in bundle.errors] == [("F100", "flows/first_contact.yaml", line + 2)]
    assert not [i for i in bundle.warnings if i.code == "W201"]


def test_a_broken_resources_file_is_one_error_not_one_per_number(real):
    flows, locales = real
    _edit(flows / "resources.yaml", "\nresources:\n", "\nresources:\n\tbroken: 1\n")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.file) for i in bundle.errors] == [("F100", "flows/resources.yaml")]
    assert "tab" in bundle.errors[0].message


def test_a_misspelt_text_key_is_one_error_with_did_you_mean(tmp_path):
    flows, locales = copy_mini(tmp_path)
    _edit(flows / "mini.yaml", "say: [goodbye.bye]", "say: [goodbye.by]")
    bundle = load_bundle(flows, locales, TODAY)
    assert [i.code for i in bundle.errors] == ["F105"]
    assert 'Did you mean "goodbye.bye"?' in bundle.errors[0].message


@pytest.mark.parametrize("old, new, code, suggestion", [
    ("target: evidence}", "target: evidense}", "F102", "evidence"),                   # a target
    ("{intent: threat_spread,", "{intent: threat_sprad,", "F111", "threat_spread"),  # an intent
    ("    links: [yorisoi]\n", "    links: [yorisio]\n", "F110", "yorisoi"),       # a service
    ("  evidence:\n    tags: [evidence]\n", "  evidence:\n    tags: [evidence]\n    ack: dne\n", "F102", "done"),  # a choice
    ("    say: [law.u16]\n", "    sya: [law.u16]\n", "F101", "say"),             # a field
])
def test_unknown_names_get_did_you_mean(tmp_path, old, new, code, suggestion):
    flows, locales = copy_mini(tmp_path)
    _edit(flows / "mini.yaml", old, new)
    bundle = load_bundle(flows, locales, TODAY)
    assert [i.code for i in bundle.errors] == [code], [str(i) for i in bundle.errors]
    issue = bundle.errors[0]
    assert f'Did you mean "{suggestion}"?' in issue.message
    assert f"「{suggestion}」のまちがいではありませんか？" in issue.message_ja


@pytest.mark.parametrize("line, message", [
    ('    closed_now: 注意: 時間外\n', M.YAML_COLON_IN_TEXT),
    ("    closed_now: @時間外\n", M.YAML_SPECIAL_START),
    ('    closed_now: "時間外\n', M.YAML_UNCLOSED_QUOTE),
    ('    closed_now: "今は" 時間外\n', M.YAML_TEXT_AFTER_QUOTE),
    ("\tclosed_now: 時間外\n", M.YAML_TAB),
    ("     closed_now: 時間外\n", M.YAML_INDENT),
    ("   closed_now: 時間外\n", M.YAML_INDENT),
])
def test_common_yaml_slips_are_named_in_plain_words_at_their_line(tmp_path, line, message):
    flows, locales = copy_mini(tmp_path)
    ja = locales / "ja.yaml"
    at = _line_starting(ja, "    closed_now: ")
    lines = ja.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[at - 1] = line
    ja.write_text("".join(lines), encoding="utf-8")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.line) for i in bundle.errors] == [("F100", at)], [str(i) for i in bundle.errors]
    assert bundle.errors[0].message == message.en.format(**_params(bundle.errors[0].message, message))


def _params(rendered: str, message) -> dict:
    """The values a rendered message was filled with (checked by re-rendering)."""
    import re
    import string

    names = [n for _, n, _, _ in string.Formatter().parse(message.en) if n]
    pattern = re.escape(message.en)
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>.+?)", 1)
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P={name})")
    found = re.fullmatch(pattern, rendered)
    assert found, (rendered, message.en)
    return found.groupdict()


def test_a_text_that_is_not_text_is_one_error_not_also_missing(tmp_path):
    flows, locales = copy_mini(tmp_path)
    _edit(locales / "en.yaml", "bye: ", "bye:\n      - ")
    bundle = load_bundle(flows, locales, TODAY)
    assert [i.code for i in bundle.errors] == ["F101"], [str(i) for i in bundle.errors]


def test_a_circle_of_automatic_moves_is_one_error(tmp_path):
    flows, locales = copy_mini(tmp_path)
    _edit(flows / "mini.yaml", "    next: law\n", "    next: law\n  spin:\n    say: [law.u16]\n    next: spin_back\n"
          "  spin_back:\n    say: [law.u16]\n    next: spin\n")
    _edit(flows / "mini.yaml", "- {id: done, label: choice.done, target: goodbye}",
          "- {id: done, label: choice.done, target: goodbye}\n      - {id: spin, label: choice.done, target: spin}")
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.state) for i in bundle.errors] == [("F109", "spin")], [str(i) for i in bundle.errors]


def test_a_renamed_state_whose_moves_kept_the_old_name_is_one_error_at_the_state(tmp_path):
    flows, locales = copy_mini(tmp_path)
    line = _edit(flows / "mini.yaml", "\n  evidence:\n", "\n  evidnce:\n") + 1
    bundle = load_bundle(flows, locales, TODAY)
    assert [(i.code, i.line, i.state) for i in bundle.errors] == [("F102", line, "evidnce")], [str(i) for i in bundle.errors]
    assert bundle.errors[0].message.startswith('3 moves go to "evidence" (lines ')
    assert 'the state is called "evidnce"' in bundle.errors[0].message
    assert "状態の名前は「evidnce」" in bundle.errors[0].message_ja
