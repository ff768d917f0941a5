"""The editor's edits as pure operations on a version's files (bot.engine.flowedit), the alias a
rename leaves, and the checker's verdict on what the edits produce."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.engine import flowedit as fe
from bot.engine.flowfiles import FlowFiles, load_files
from bot.engine.model import Session, UserInput
from bot.engine.turn import step
from tests.engine.helpers import TODAY
from tests.handoff.support import ROOT

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def repo() -> FlowFiles:
    return FlowFiles.read(ROOT / "flows", ROOT / "locales")


def check(files: FlowFiles):
    return load_files(files, TODAY)


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "only values change: no line added or removed"
    return [(x, y) for x, y in zip(a, b) if x != y]


# ---- texts -----------------------------------------------------------------------------------------

def test_set_text_changes_that_one_value_and_keeps_every_comment_and_line(repo):
    after = fe.set_text(repo, "welcome.hello", "ja", "こんにちは。書き直しました。")
    assert fe.text_of(after, "welcome.hello", "ja") == "こんにちは。書き直しました。"
    assert _changed_lines(repo.locales["ja.yaml"], after.locales["ja.yaml"]) == [
        ("    hello: こんにちは。ここは自動で答える相談ボットです。名前も学校も写真もいりません。いつやめても大丈夫です。",
         "    hello: こんにちは。書き直しました。")]
    assert after.locales["en.yaml"] == repo.locales["en.yaml"] and after.flow == repo.flow


def test_set_text_keeps_quotes_and_writes_several_lines_as_a_block(repo):
    after = fe.set_text(repo, "welcome.how", "ja", 'いつでも「人と話したい」: OK')
    assert "    how: 'いつでも「人と話したい」: OK'" in after.locales["ja.yaml"]
    after = fe.set_text(repo, "welcome.hello", "en", "Hello.\nSecond line.")
    assert "    hello: |-\n      Hello.\n      Second line.\n" in after.locales["en.yaml"]
    assert fe.text_of(after, "welcome.hello", "en") == "Hello.\nSecond line."


def test_set_state_text_edits_the_bubble_of_that_state(repo):
    after = fe.set_state_text(repo, "welcome", "en", "Third bubble, rewritten.", index=2)
    assert fe.text_of(after, "welcome.ask", "en") == "Third bubble, rewritten."
    with pytest.raises(fe.EditRefused) as refused:
        fe.set_state_text(repo, "welcome", "en", "x", index=7)
    assert "3" not in str(refused.value) and "8" in str(refused.value) and "8" in refused.value.ja


@pytest.mark.parametrize("key, lang, text, words", [
    ("welcome.hello", "ja", "   ", "empty"),
    ("welcome.hello", "fr", "Bonjour", "unknown language"),
    ("welcome", "ja", "x", "group"),
    ("bad key!", "ja", "x", "not a text key"),
])
def test_set_text_refuses_what_cannot_be_a_text(repo, key, lang, text, words):
    with pytest.raises(ValueError) as refused:
        fe.set_text(repo, key, lang, text)
    assert words in str(refused.value) and refused.value.ja


def test_a_text_in_the_console_file_is_changed_there(repo):
    key = "console.title"
    assert fe.text_of(repo, key, "ja") is not None
    after = fe.set_text(repo, key, "ja", "相談コンソール（試し）")
    assert after.locales["ja.yaml"] == repo.locales["ja.yaml"]
    assert fe.text_of(after, key, "ja") == "相談コンソール（試し）"


# ---- states ----------------------------------------------------------------------------------------

def test_add_state_writes_the_state_and_its_texts_in_both_languages(repo):
    after = fe.add_state(repo, "ev_screenshot", tag="evidence", texts={"ja": "スクショを撮ろう。", "en": "Take a screenshot."},
                         after="welcome")
    assert "  ev_screenshot:\n    tags: [evidence]\n    say: [evidence.ev_screenshot]\n" in after.flow
    assert after.flow.index("  ev_screenshot:") < after.flow.index("  sit_threat:")
    assert fe.text_of(after, "evidence.ev_screenshot", "ja") == "スクショを撮ろう。"
    assert fe.text_of(after, "evidence.ev_screenshot", "en") == "Take a screenshot."
    assert repo.flow.splitlines()[:40] == after.flow.splitlines()[:40]   # the header comments stay
    issues = check(after).issues
    # Nothing leads there yet: that is the one error, on the new state.
    assert [(str(i.code), i.state) for i in issues if i.severity == "error"] == [("F103", "ev_screenshot")]


def test_add_state_refuses_a_name_in_use_or_not_a_name_and_needs_japanese(repo):
    with pytest.raises(fe.EditRefused, match="already"):
        fe.add_state(repo, "welcome", tag="triage", texts={"ja": "x", "en": "x"})
    with pytest.raises(fe.EditRefused, match="only letters"):
        fe.add_state(repo, "新しい", tag="triage", texts={"ja": "x", "en": "x"})
    with pytest.raises(fe.EditRefused, match="Japanese"):
        fe.add_state(repo, "new_one", tag="triage", texts={"ja": "", "en": "English only"})


def test_missing_english_is_a_warning_that_shows_the_japanese_the_bot_falls_back_to(repo):
    after = fe.add_state(repo, "ev_new", tag="evidence", texts={"ja": "日本語だけの文です。", "en": ""})
    after = fe.add_choice(after, "welcome", "go_new", labels={"ja": "新しい", "en": "New"}, target="ev_new")
    bundle = check(after)
    assert not bundle.errors
    [warning] = [i for i in bundle.warnings if str(i.code) == "W205"]
    assert warning.state == "ev_new" and "locales/en.yaml" in warning.message
    assert "日本語だけの文です。" in warning.message and "日本語だけの文です。" in warning.message_ja
    flow = bundle.flow()
    assert flow.text("en", "evidence.ev_new") == "日本語だけの文です。"


def test_remove_state_is_refused_while_others_lead_to_it_naming_them(repo):
    with pytest.raises(fe.EditRefused) as refused:
        fe.remove_state(repo, "sit_other")
    assert '"welcome" (choice other)' in str(refused.value) and "「welcome」（ボタン other）" in refused.value.ja
    lonely = fe.add_state(repo, "lonely", tag="triage", texts={"ja": "ひとり", "en": "alone"})
    assert fe.remove_state(lonely, "lonely").flow == repo.flow
    with pytest.raises(fe.EditRefused, match="no state"):
        fe.remove_state(repo, "nowhere")


def test_pointers_to_lists_every_move_into_a_state(repo):
    pointing = fe.pointers_to(repo, "human")
    assert fe.Pointer(None, "field", "human_state") in pointing
    assert fe.Pointer(None, "interrupt", "human") in pointing
    assert fe.Pointer("welcome", "choice", "talk_to_person") in pointing


def test_rename_moves_every_reference_and_keeps_the_old_name_as_an_alias(repo):
    after = fe.rename_state(repo, "sit_other", "situation_other")
    assert "  situation_other:\n    tags: [triage]" in after.flow and "\n  sit_other:\n" not in after.flow
    assert "target: situation_other" in after.flow and "target: sit_other" not in after.flow
    assert "aliases:\n  sit_other: situation_other\n" in after.flow
    bundle = check(after)
    assert not bundle.errors
    flow = bundle.flow()
    assert flow.aliases == {"sit_other": "situation_other"}
    # Renaming it back drops the alias that would now shadow the state.
    again = fe.rename_state(after, "situation_other", "sit_other")
    assert "sit_other: situation_other" not in again.flow and "situation_other: sit_other" in again.flow
    assert not check(again).errors


def test_someone_inside_a_renamed_state_continues_there_and_its_old_buttons_work(repo):
    before = check(repo).flow()
    after = check(fe.rename_state(repo, "sit_other", "situation_other")).flow()
    # Saved before the rename: inside sit_other.
    saved = Session("sit_other", "ja", before.version, {}, ("welcome", "sit_other"), NOW.timestamp(), NOW.timestamp())
    turn = step(after, saved, UserInput.tapped("school"), NOW)
    assert turn.matched == "choice:school" and turn.session.state == "school"
    # A button of the old state's message, tapped after the person moved on.
    elsewhere = Session("dont", "ja", before.version, {}, ("dont",), NOW.timestamp(), NOW.timestamp())
    turn = step(after, elsewhere, UserInput.tapped("meeting", from_state="sit_other"), NOW)
    assert turn.matched == "choice:meeting"
    # A detour's way back that names the old state leads to the new one.
    back = Session("feel_scared", "ja", before.version, {}, (), NOW.timestamp(), NOW.timestamp(), resume="sit_other")
    tap_back = [c.id for c in after.states["feel_scared"].choices if c.target == "@resume"][0]
    turn = step(after, back, UserInput.tapped(tap_back), NOW)
    assert "situation_other" in turn.entered


def test_an_alias_that_names_a_state_or_leads_nowhere_is_an_error(repo):
    files = fe.rename_state(repo, "sit_other", "situation_other")
    shadow = files.flow.replace("  sit_other: situation_other\n", "  welcome: situation_other\n")
    nowhere = files.flow.replace("  sit_other: situation_other\n", "  sit_other: situation_othr\n")
    import dataclasses
    codes = [str(i.code) for i in check(dataclasses.replace(files, flow=shadow)).errors]
    assert codes == ["F102"] and "aliases" in check(dataclasses.replace(files, flow=shadow)).errors[0].message
    missing = check(dataclasses.replace(files, flow=nowhere)).errors
    assert [str(i.code) for i in missing] == ["F102"] and "situation_other" in missing[0].message


# ---- buttons ---------------------------------------------------------------------------------------

def test_add_choice_goes_before_talk_to_a_person_with_labels_in_both_languages(repo):
    after = fe.add_choice(repo, "welcome", "screenshot", labels={"ja": "スクショのこと", "en": "Screenshots"},
                          target="ev_noimage")
    assert ("      - {id: screenshot, label: choice.screenshot, target: ev_noimage}\n"
            "      - {id: talk_to_person, label: system.choice_human, target: human}\n") in after.flow
    assert fe.text_of(after, "choice.screenshot", "ja") == "スクショのこと"
    assert fe.text_of(after, "choice.screenshot", "en") == "Screenshots"
    assert not check(after).errors


def test_a_label_key_in_use_gets_a_name_of_its_own(repo):
    after = fe.add_choice(repo, "dont", "threat", labels={"ja": "別の文", "en": "Other"}, target="sit_threat")
    assert "{id: threat, label: choice.dont_threat, target: sit_threat}" in after.flow
    assert fe.text_of(after, "choice.threat", "ja") == fe.text_of(repo, "choice.threat", "ja")


def test_a_button_to_a_state_that_does_not_exist_is_kept_and_the_checker_says_so_on_that_state(repo):
    after = fe.add_choice(repo, "welcome", "later", labels={"ja": "あとで", "en": "Later"}, target="not_written_yet")
    [error] = check(after).errors
    assert (str(error.code), error.state) == ("F102", "welcome") and "not_written_yet" in error.message_ja


def test_add_choice_refuses_a_second_button_with_the_same_id(repo):
    with pytest.raises(fe.EditRefused, match="already"):
        fe.add_choice(repo, "welcome", "threat", labels={"ja": "x", "en": "x"}, target="dont")


def test_move_choice_reorders_and_refuses_a_position_that_does_not_exist(repo):
    after = fe.move_choice(repo, "welcome", "friend", 0)
    ids = [c.id for c in check(after).flow().states["welcome"].choices]
    assert ids[:2] == ["friend", "threat"] and len(ids) == 7
    with pytest.raises(fe.EditRefused, match="no position 9"):
        fe.move_choice(repo, "welcome", "friend", 8)
    with pytest.raises(fe.EditRefused, match='no button "nope"'):
        fe.move_choice(repo, "welcome", "nope", 0)


def test_remove_choice_removes_it_but_not_the_one_ok_means(repo):
    after = fe.remove_choice(repo, "welcome", "other")
    assert "{id: other, label: choice.other" not in after.flow.split("  sit_threat:")[0]
    with pytest.raises(fe.EditRefused, match="ack"):
        fe.remove_choice(repo, "dont", "evidence")


def test_set_choice_target_and_label(repo):
    after = fe.set_choice_target(repo, "welcome", "friend", "sit_other")
    assert "{id: friend, label: choice.friend, target: sit_other," in after.flow
    after = fe.set_choice_label(after, "welcome", "friend", "en", "A friend")
    assert fe.text_of(after, "choice.friend", "en") == "A friend"


# ---- what the browser sends ------------------------------------------------------------------------

def test_operations_from_the_browser_become_pure_changes(repo):
    change = fe.operation({"op": "add_choice", "state": "welcome", "choice": "x1",
                           "labels": {"ja": "エックス", "en": "X"}, "target": "dont"})
    after = change(repo)
    assert "{id: x1, label: choice.x1, target: dont}" in after.flow
    assert change(repo) == after                      # pure: the same files give the same result
    assert fe.operation({"op": "move_choice", "state": "welcome", "choice": "x1", "to": "0"})(after) != after


@pytest.mark.parametrize("op, words", [
    ({"op": "drop_table"}, "unknown edit"),
    ("set_text", "unknown edit"),
    ({"op": "set_text", "key": "welcome.hello", "lang": "ja"}, "needs `text`"),
    ({"op": "move_choice", "state": "welcome", "choice": "threat", "to": "top"}, "number `to`"),
    ({"op": "add_state", "state": "a", "tag": "b", "texts": "hello"}, "`texts`"),
])
def test_a_malformed_operation_is_refused_with_why(repo, op, words):
    with pytest.raises(ValueError) as refused:
        fe.operation(op)(repo)
    assert words in str(refused.value) and refused.value.ja
