"""Conversation tests as staff write and update them (bot/convtest.py, bot/convupdate.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.convtest import default_files, run_files
from bot.convupdate import update_files
from bot.convupdate import round_trip
from bot.engine import load_bundle

from tests.engine.helpers import TODAY, copy_mini, mini_bundle

ROOT = Path(__file__).resolve().parents[1]
MINI_TESTS = "flow: mini\nlocales: [ja, en]\nconversations:\n"


def _run(tmp_path: Path, body: str, bundle=None, update: bool = False):
    path = tmp_path / "conv.yaml"
    path.write_text(MINI_TESTS + body, encoding="utf-8")
    if update:
        return path, update_files(bundle or mini_bundle(), [path])
    return path, run_files(bundle or mini_bundle(), [path])


def test_choices_is_exact_and_choices_include_a_subset(tmp_path):
    steps = "  - name: welcome\n    steps:\n      - start: true\n        expect: {%s}\n"
    _, report = _run(tmp_path, steps % "choices_include: [threatened, person]")
    assert report.failures == []
    _, report = _run(tmp_path, steps % "choices: [threatened, person]")
    assert [(f.what, f.locale) for f in report.failures] == [("choices", "ja"), ("choices", "en")]
    _, report = _run(tmp_path, steps % "choices_include: [threatened, evidence]")
    assert [(f.what, f.expected, f.got) for f in report.failures][0] == (
        "choices_include", ["threatened", "evidence"], ["threatened", "age_u16", "person"])


def test_adding_a_button_breaks_no_conversation_test(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    text = (flows / "first_contact.yaml").read_text(encoding="utf-8")
    old = "      - {id: menu, label: choice.menu, target: menu}\n\n  # The situations that are not on the welcome's buttons."
    assert old in text
    (flows / "first_contact.yaml").write_text(text.replace(
        old, "      - {id: resources, label: choice.resources, target: resources_by_age}\n" + old), encoding="utf-8")
    bundle = load_bundle(flows, ROOT / "locales", TODAY)
    assert not bundle.errors
    assert "resources" in bundle.flow().states["sit_paid"].choice_by_id
    report = run_files(bundle, default_files(ROOT))
    assert report.failures == [], "\n".join(map(str, report.failures))


def test_a_tap_of_a_button_that_is_not_there_fails_with_exactly_that(tmp_path):
    body = ("  - name: a typo in a tap\n    steps:\n      - start: true\n      - tap: threatend\n"
            "        expect: {state: no_such_state}\n      - tap: evidence\n        expect: {state: nowhere}\n")
    path, report = _run(tmp_path, body)
    assert [str(f) for f in report.failures] == [
        f"FAIL {path}:7 [{locale}] 'a typo in a tap', step 2: tap: \"threatend\" is not a button here; the bot "
        f"offers threatened, age_u16, person. Did you mean \"threatened\"?" for locale in ("ja", "en")]
    ja = run_files(mini_bundle(), [path], lang="ja").failures[0]
    assert "「threatend」はここにはないボタンです" in ja.what and "「threatened」のまちがいではありませんか？" in ja.what


def test_a_button_of_an_earlier_message_can_be_tapped_with_from_state(tmp_path):
    body = ("  - name: an old button\n    steps:\n      - start: true\n      - tap: threatened\n"
            "      - tap: threatened\n        from_state: welcome\n        expect: {state: law_general}\n"
            "      - tap: talk_to_person\n        expect: {state: person}\n")
    assert _run(tmp_path, body)[1].failures == []


UPDATABLE = """\
  # A comment staff wrote, which must survive.
  - name: the welcome
    steps:
      - start: true
        expect: {state: welcome, text: おはよう}   # a trailing comment
      - tap: threatened   # no expectation yet
      - tap: evidence
        expect:
          state: evidence
          # why this text matters
          text: {ja: 消さないで, en: Keep everything}
          said: [evidence.keep]
          choices_include: [done, goodbye]
"""


def test_update_keeps_comments_and_layout_and_makes_the_file_pass(tmp_path):
    path, report = _run(tmp_path, UPDATABLE, update=True)
    assert report.failures == [], "\n".join(map(str, report.failures))
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= (MINI_TESTS + UPDATABLE).count("\n") + 1, text  # not tripled
    for kept in ("# A comment staff wrote, which must survive.", "# a trailing comment", "# no expectation yet",
                 "# why this text matters", "said: [evidence.keep]", "ja: 消さないで"):
        assert kept in text, kept
    # The greeting is a piece of what the bot says, which differs per language: one check became two.
    greeting = next(line for line in text.splitlines() if "state: welcome" in line)
    assert "text: {ja: " in greeting and ", en: " in greeting and "おはよう" not in greeting
    assert "no expectation yet\n      - tap: evidence" in text  # a step between checked ones stays bare
    assert "choices_include: [done]" in text or "choices_include: done" in text
    assert run_files(mini_bundle(), [path]).failures == []


def test_update_changes_only_the_failing_locale_of_a_per_locale_value(tmp_path):
    body = ("  - name: texts\n    steps:\n      - start: true\n      - tap: threatened\n      - tap: evidence\n"
            "        expect: {text: {ja: 消さないで, en: Keep everything safe}}\n")
    path, report = _run(tmp_path, body, update=True)
    assert report.failures == []
    line = next(l for l in path.read_text(encoding="utf-8").splitlines() if "text:" in l)
    assert line.startswith("        expect: {text: {ja: 消さないで, en: ") and "Keep everything safe" not in line


def test_update_through_the_command_line(tmp_path):
    from tests.engine.test_commands import MINI_ARGS, bot

    path = tmp_path / "conv.yaml"
    path.write_text(MINI_TESTS + UPDATABLE, encoding="utf-8")
    out = bot("test", str(path), "--update", *MINI_ARGS)
    assert out.returncode == 0, out.stdout
    assert f"updated 3 expectation(s) in {path}: review the diff" in out.stdout
    assert bot("test", str(path), *MINI_ARGS).returncode == 0


@pytest.mark.parametrize("path", default_files(ROOT) + [ROOT / "tests/engine/fixtures/mini_conversations.yaml"],
                         ids=lambda p: p.name)
def test_the_round_trip_gives_every_conversation_file_back_byte_for_byte(path):
    import io

    yaml = round_trip()
    text = path.read_text(encoding="utf-8")
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() == text


def test_copying_the_mini_fixture_is_what_the_cli_tests_use(tmp_path):
    flows, locales = copy_mini(tmp_path)
    assert (flows / "mini.yaml").exists() and (locales / "ja.yaml").exists()


def test_update_after_a_text_edit_changes_only_the_lines_that_check_it(tmp_path):
    # Issue 17: --update tripled the file, dropped its comments and still failed.
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    ja = tmp_path / "locales" / "ja.yaml"
    ja.write_text(ja.read_text(encoding="utf-8").replace("あなたは悪くありません", "あなたのせいではありません"), encoding="utf-8")
    bundle = load_bundle(tmp_path / "flows", tmp_path / "locales", TODAY)
    original = (ROOT / "tests" / "conversations" / "first_contact.yaml").read_text(encoding="utf-8")
    path = tmp_path / "first_contact.yaml"
    path.write_text(original, encoding="utf-8")
    assert run_files(bundle, [path]).failures
    assert update_files(bundle, [path]).failures == []
    before, after = original.splitlines(), path.read_text(encoding="utf-8").splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(changed) == 2 and all("あなたのせいではありません" in new and "悪くありません" in old for old, new in changed)


def test_update_handles_per_locale_items_in_a_list_and_not_said(tmp_path):
    body = ("  - name: mixed\n    steps:\n      - start: true\n"
            "        expect: {text: [{ja: おはよう, en: What is happening}, どう], not_said: [welcome.hello, system.intro]}\n")
    path, report = _run(tmp_path, body, update=True)
    assert report.failures == [], "\n".join(map(str, report.failures))
    line = next(l for l in path.read_text(encoding="utf-8").splitlines() if "text:" in l)
    # each locale keeps what still holds and swaps what does not for the closest sentence it says
    assert line.strip() == ("expect: {text: {ja: [こんにちは、。, どう], en: [What is happening, Hello .]}, "
                            "not_said: [system.intro]}")
    assert run_files(mini_bundle(), [path]).failures == []
