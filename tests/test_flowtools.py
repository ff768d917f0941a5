"""The flow editor's tools on a version's files (bot.flowtools): keyword, resource and text edits
that keep every comment, the resource rule, the phone-number rule and the translation list.
Every number here is the repository's own (flows/resources.yaml): none is made up."""
from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from bot.engine.codes import Code
from bot.engine.flowfiles import FlowFiles, load_files
from bot.engine.phones import phone_numbers
from bot.flowtools import (EditRefused, add_intent_word, intent_names, intent_words, remove_intent_word,
                           resource_rule, resources_of, set_resource_field, set_text, texts_of, translation_list)

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 12, 1)


@lru_cache(maxsize=1)
def repo() -> FlowFiles:
    return FlowFiles.read(ROOT / "flows", ROOT / "locales")


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def codes(bundle) -> list[str]:
    return [i.code for i in bundle.issues]


# ---- keywords -------------------------------------------------------------------------------------

def test_adding_and_removing_a_keyword_keeps_every_comment_and_the_rest_of_the_file():
    files = repo()
    before = files.locales["ja.intents.yaml"]
    assert "ODした" in intent_words(files, "ja", "emergency")["keywords"]
    added = add_intent_word(files, "ja", "emergency", "keywords", "オーバードーズしてしまった")
    text = added.locales["ja.intents.yaml"]
    assert "オーバードーズしてしまった" in intent_words(added, "ja", "emergency")["keywords"]
    assert comments(text) == comments(before)
    assert len(text.splitlines()) == len(before.splitlines()) + 1
    removed = remove_intent_word(added, "ja", "emergency", "keywords", "オーバードーズしてしまった")
    assert removed.locales["ja.intents.yaml"] == before               # back, byte for byte
    assert added.locales["en.intents.yaml"] == files.locales["en.intents.yaml"]


def test_removing_a_commented_keyword_leaves_the_other_comments():
    files = repo()
    before = files.locales["ja.intents.yaml"]
    out = remove_intent_word(files, "ja", "emergency", "keywords", "ODした").locales["ja.intents.yaml"]
    assert "- ODした\n" not in out and "- ODしちゃった\n" in out
    assert comments(out) == comments(before)


def test_idioms_and_unless_words_are_edited_in_their_own_lists():
    files = repo()
    out = add_intent_word(files, "en", "crisis", "idioms", "dying to see")
    assert "dying to see" in intent_words(out, "en", "crisis")["idioms"]
    assert "dying to see" not in intent_words(out, "en", "crisis")["keywords"]
    out = add_intent_word(out, "en", "crisis", "unless", "lmfao")
    assert "lmfao" in intent_words(out, "en", "crisis")["unless"]
    assert not load_files(out, TODAY).errors


def test_a_keyword_for_an_intent_the_language_does_not_have_yet_creates_it():
    files = repo()
    name = next(n for n in intent_names(files) if not intent_words(files, "en", n)["keywords"]) \
        if any(not intent_words(files, "en", n)["keywords"] for n in intent_names(files)) else None
    if name is None:  # every intent has English keywords: add a new intent name instead
        name = "brand_new_intent"
    out = add_intent_word(files, "en", name, "keywords", "a new phrase")
    assert "a new phrase" in intent_words(out, "en", name)["keywords"]


@pytest.mark.parametrize("call, ja", [
    (lambda f: add_intent_word(f, "ja", "emergency", "keywords", "  "), "空"),
    (lambda f: add_intent_word(f, "ja", "emergency", "keywords", "ODした"), "もうあります"),
    (lambda f: add_intent_word(f, "ja", "emergency", "phrases", "x"), "どれか"),
    (lambda f: add_intent_word(f, "xx", "emergency", "keywords", "x"), "ありません"),
    (lambda f: remove_intent_word(f, "ja", "emergency", "keywords", "no such word"), "ありません"),
])
def test_an_edit_that_cannot_be_made_is_refused_in_both_languages(call, ja):
    with pytest.raises(EditRefused) as info:
        call(repo())
    assert ja in info.value.ja and str(info.value)


# ---- texts and the translation list ----------------------------------------------------------------

def test_setting_a_text_keeps_the_files_comments_and_other_texts():
    files = repo()
    before = files.locales["en.yaml"]
    out = set_text(files, "en", "system.ack", "OK. Choose below when you are ready.")
    assert texts_of(out, "en")["system.ack"] == ("OK. Choose below when you are ready.", "en.yaml")
    assert comments(out.locales["en.yaml"]) == comments(before)
    assert {k: v for k, v in texts_of(out, "en").items() if k != "system.ack"} == \
           {k: v for k, v in texts_of(files, "en").items() if k != "system.ack"}
    multi = set_text(out, "en", "system.ack", "line one\nline two")
    assert yaml.safe_load(multi.locales["en.yaml"])["texts"]["system"]["ack"] == "line one\nline two"


def test_a_text_missing_in_english_goes_into_the_matching_english_file():
    files = repo()
    ja_only = set_text(files, "ja", "console.editor_test_only", "日本語だけ")
    out = set_text(ja_only, "en", "console.editor_test_only", "English too")
    assert texts_of(out, "en")["console.editor_test_only"] == ("English too", "en.console.yaml")


def test_the_translation_list_shows_missing_english_and_english_older_than_its_japanese():
    v1 = repo()
    assert translation_list([(1, v1)]) == []                      # the repository is translated
    v2 = set_text(v1, "en", "system.ack", "")                     # English blanked
    v2 = set_text(v2, "ja", "system.fallback", "ごめんね。もう一度、短い言葉で送ってね。")  # Japanese changed
    listed = {u.key: u for u in translation_list([(1, v1), (2, v2)])}
    assert set(listed) == {"system.ack", "system.fallback"}
    assert listed["system.ack"].reason == "missing" and listed["system.ack"].source == texts_of(v1, "ja")["system.ack"][0]
    assert listed["system.fallback"].reason == "older"
    assert (listed["system.fallback"].source_version, listed["system.fallback"].target_version) == (2, 1)
    # The English updated in a later version: no longer listed.
    v3 = set_text(v2, "en", "system.fallback", "Sorry. Please send it again in a few words.")
    assert {u.key for u in translation_list([(1, v1), (2, v2), (3, v3)])} == {"system.ack"}


# ---- resources ----------------------------------------------------------------------------------------

def test_changing_a_number_needs_a_new_verified_date_and_source():
    base = repo()
    entry = resources_of(base)["childline"]
    other = resources_of(base)["yorisoi"]["tel"]                   # a number the repository has
    draft = set_resource_field(base, "childline", "tel", other)
    assert resources_of(draft)["childline"]["tel"] == other
    assert comments(draft.resources) == comments(base.resources)
    issues = resource_rule(base, draft)
    assert [i.code for i in issues] == [Code.RESOURCE_NOT_REVERIFIED]
    assert "childline" in issues[0].text("en") and "verified, source" in issues[0].text("en")
    assert "verified, source" in issues[0].text("ja") and issues[0].line
    dated = set_resource_field(draft, "childline", "verified", "2026-12-01")
    assert "source" in resource_rule(base, dated)[0].text("en") and "verified," not in resource_rule(base, dated)[0].text("en")
    done = set_resource_field(dated, "childline", "source", entry["source"] + "; checked on the official site")
    assert resource_rule(base, done) == []
    assert not load_files(done, TODAY).errors


def test_changing_opening_hours_needs_the_same_and_a_note_does_not():
    base = repo()
    hours = set_resource_field(base, "childline", "hours", "毎日16時〜21時（確認中）", lang="ja")
    assert [i.code for i in resource_rule(base, hours)] == [Code.RESOURCE_NOT_REVERIFIED]
    note = set_resource_field(base, "childline", "note", "メモ", lang="ja")
    assert resource_rule(base, note) == []
    assert resource_rule(None, hours) == []                        # the first version: nothing to compare


@pytest.mark.parametrize("field, value, lang", [("tel", "call us", None), ("verified", "1 Dec", None),
                                                ("url", "http://plain", None), ("hours", "x", None),
                                                ("colour", "red", None)])
def test_a_bad_resource_value_is_refused(field, value, lang):
    with pytest.raises(EditRefused):
        set_resource_field(repo(), "childline", field, value, lang)


def test_the_checker_refuses_a_phone_number_typed_into_a_text_and_names_the_resource():
    files = repo()
    tel = resources_of(files)["childline"]["tel"]
    typed = set_text(files, "ja", "system.ack", f"うん、わかった。チャイルドライン {tel} もあります。")
    bundle = load_files(typed, TODAY)
    found = [i for i in bundle.errors if i.code == Code.PHONE_IN_TEXT]
    assert len(found) == 1 and found[0].file == "locales/ja.yaml"
    assert "{childline.tel}" in found[0].text("en") and "{childline.tel}" in found[0].text("ja")
    # A number no service has: the message says to add the service.
    hashed = set_text(files, "en", "system.ack", "OK. Or call 0120-000-000.")
    issue = next(i for i in load_files(hashed, TODAY).errors if i.code == Code.PHONE_IN_TEXT)
    assert "no service" in issue.text("en") and "窓口" in issue.text("ja")
    # The placeholder is the right way: no error.
    placeholder = set_text(files, "ja", "system.ack", "うん。チャイルドライン {childline.tel} もあります。")
    assert Code.PHONE_IN_TEXT not in codes(load_files(placeholder, TODAY))


def test_a_short_number_counts_only_when_it_is_a_services_number():
    files = repo()
    hundred = set_text(files, "ja", "system.ack", "100人にひとりが、同じことで悩んでいます。")
    assert Code.PHONE_IN_TEXT not in codes(load_files(hundred, TODAY))
    police = set_text(files, "ja", "system.ack", "危ないときは110番してね。")
    assert Code.PHONE_IN_TEXT in codes(load_files(police, TODAY))


def test_the_number_finder():
    assert phone_numbers("よりそい 0120-279-338、#9110、110番、call 189.") == ["0120-279-338", "#9110", "110", "189"]
    assert phone_numbers("平日8:30〜17:15、2023年7月、16歳未満、12/29〜1/3") == []
    assert phone_numbers("{police110.tel}番、{yorisoi.tel}") == []


def test_the_repository_has_no_number_typed_into_a_text():
    assert Code.PHONE_IN_TEXT not in codes(load_files(repo(), TODAY))


def test_a_draft_keeps_a_file_it_cannot_read_and_refuses_the_edit():
    broken = dataclasses.replace(repo(), locales={**repo().locales, "en.intents.yaml": "intents: [\n"})
    with pytest.raises(EditRefused) as info:
        add_intent_word(broken, "en", "crisis", "keywords", "x")
    assert "YAML" in info.value.ja


async def test_the_working_draft_reports_the_resource_rule_and_publishing_refuses_it(store, tmp_path):
    from bot.flowversions import FlowVersions

    from tests.engine.helpers import copy_mini

    flows, locales = copy_mini(tmp_path)
    versions = FlowVersions(store, flows, locales, test_files=[])
    await versions.ensure_seeded()
    draft, files = await versions.working_draft(author="ed")
    other = resources_of(files)["yorisoi"]["tel"]
    out = await versions.edit_draft(draft, lambda f: set_resource_field(f, "childline", "tel", other), author="ed")
    assert out.ok and [i.code for i in out.bundle.errors] == [Code.RESOURCE_NOT_REVERIFIED]
    refused = await versions.publish(draft, author="ed")
    assert not refused.ok and [i.code for i in refused.bundle.errors] == [Code.RESOURCE_NOT_REVERIFIED]

    def reverified(f):
        f = set_resource_field(f, "childline", "verified", "2026-12-01")
        return set_resource_field(f, "childline", "source", "FACTS.md (checked again)")

    out = await versions.edit_draft(draft, reverified, author="ed")
    assert out.ok and not out.bundle.errors
    assert (await versions.publish(draft, author="ed")).ok
    history = await versions.history(draft)
    assert [vid for vid, _ in history][-1] == draft and len(history) == 2
