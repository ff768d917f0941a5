"""The engine's understanding (issue 13): tokens not substrings, idioms and negation, two levels
of crisis, emergencies, detours that keep the story, roles, fragments, acknowledgements, ages,
languages the bot does not speak. On a small fixture flow, so content edits cannot break them."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.engine import Session, UserInput, load_bundle, step
from bot.engine.ages import find_age_band
from bot.engine.intents import IntentSpec, KeywordIndex, expand_word_lists
from bot.engine.language import detect_language
from bot.engine.tokens import fold, tokenize

from .helpers import NIGHT, TODAY

FIXTURE = Path(__file__).parent / "fixtures" / "understand"


@pytest.fixture(scope="module")
def flow():
    bundle = load_bundle(FIXTURE / "flows", FIXTURE / "locales", TODAY)
    assert not bundle.errors, bundle.errors
    return bundle.flow()


def at(flow, state: str, **changes) -> Session:
    ts = NIGHT.timestamp() - 60
    return Session(state, changes.pop("locale", "ja"), flow.version, changes.pop("variables", {}), (state,),
                   ts, ts, **changes)


def say(flow, session, text: str, when: dt.datetime = NIGHT):
    return step(flow, session, UserInput.typed(text), when)


def index(**intents) -> KeywordIndex:
    return KeywordIndex({name: IntentSpec(**spec) for name, spec in intents.items()})


def found(idx: KeywordIndex, text: str) -> frozenset[str]:
    return idx.scan(tokenize(text)).intents


# ---- tokens, not substrings ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["薬局に行った", "目薬さした", "ロープウェイに乗った", "部屋が殺風景", "睡眠薬局"])
def test_a_keyword_never_fires_inside_another_word(text):
    idx = index(crisis={"keywords": ("薬", "ロープ", "殺")})
    assert found(idx, text) == frozenset()


@pytest.mark.parametrize("text", ["薬を飲んだ", "くすりのんだ", "クスリ", "ロープを買った", "殺"])
def test_the_word_itself_is_found_in_any_script(text):
    idx = index(crisis={"keywords": ("薬", "ロープ", "殺")})
    assert found(idx, text) == {"crisis"}


@pytest.mark.parametrize("text", ["死にたい", "しにたい", "シニタイ", "ｼﾆﾀｲ", "死にたかった", "ｼﾆﾀｲﾅ", "4にたい",
                                  "氏にたい", "ﾀﾋにたい", "しにたいしにたいしにたい", "死にたいいいい"])
def test_spellings_and_forms_of_a_japanese_keyword_meet(text):
    assert found(index(crisis={"keywords": ("死にたい",)}), text) == {"crisis"}


@pytest.mark.parametrize("text, hit", [
    ("i want to die", True), ("i wanna die", True), ("i want to d1e", True), ("I WANT TO DIEEEE", True),
    ("killed myself", False),  # another keyword
    ("i am on a diet", False), ("studied all night", False),
])
def test_english_words_and_their_spellings(text, hit):
    idx = index(crisis={"keywords": ("want to die", "die")})
    assert (found(idx, text) == {"crisis"}) is hit


def test_english_lemmas_apostrophes_leet_and_spaced_letters():
    idx = index(crisis={"keywords": ("kill myself", "suicide", "not want to live")})
    for text in ["im killing myself", "i killed myself once", "s u i c i d e", "su1c1d3", "i dont want to live",
                 "i don't want to live", "i do not want to live"]:
        assert found(idx, text) == {"crisis"}, text
    # An inflected keyword means that form: "done" is not "do".
    done = index(step_done={"keywords": ("done",)})
    assert found(done, "i do not want to") == frozenset()
    assert found(done, "done") == {"step_done"}


def test_short_english_keywords_do_not_fire_inside_or_across_words():
    idx = index(crisis={"keywords": ("kms", "sh", "od")})
    for text in ["shh dont tell", "odd question", "skills", "she", "dms"]:
        assert found(idx, text) == frozenset(), text
    assert found(idx, "gonna kms") == {"crisis"}


def test_a_fuzzy_keyword_takes_one_typo():
    idx = index(crisis={"keywords": ("suicide~",)})
    assert found(idx, "im so suicidle rn") == {"crisis"}   # a letter added
    assert found(idx, "sucide") == {"crisis"}              # a letter missing
    assert found(idx, "suicide") == {"crisis"}
    assert found(idx, "sluice") == frozenset()


def test_emoji_are_tokens():
    idx = index(sad={"keywords": ("😭",)}, crisis={"keywords": ("💊",)})
    assert found(idx, "😭😭😭") == {"sad"}
    assert found(idx, "💊💊 already") == {"crisis"}


# ---- idioms and negation -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["死ぬほど笑った", "死ぬほど眠い"])
def test_an_idiom_does_not_fire(text):
    idx = index(crisis={"keywords": ("死ぬ",), "idioms": ("死ぬほど",)})
    assert found(idx, text) == frozenset()
    assert found(idx, "もう死ぬ") == {"crisis"}


@pytest.mark.parametrize("text, hit", [
    ("前はリスカしてたけど今は大丈夫", False),           # past, and over: the idiom stands
    ("前はリスカしてたけど今は大丈夫じゃない", True),     # its last words denied: it says nothing
    ("前はリスカしてたけど今はしてない", False),         # a verb's own negation is the fact, not a denial
])
def test_an_idiom_whose_last_words_are_denied_does_not_cancel_the_keyword(text, hit):
    idx = index(crisis={"keywords": ("リスカ",), "idioms": ("前 … リスカ … 今は大丈夫", "前 … リスカ … 今はしてない")})
    assert (found(idx, text) == {"crisis"}) is hit


def test_english_idioms():
    idx = index(crisis={"keywords": ("killing me", "dead"), "idioms": ("are killing me", "dead tired")})
    assert found(idx, "my feet are killing me") == frozenset()
    assert found(idx, "dead tired lol") == frozenset()
    assert found(idx, "just killing me slowly") == {"crisis"}


@pytest.mark.parametrize("text, hit", [
    ("もう死ぬしかないんじゃないかな", True), ("死にたいんじゃないかって思う", True), ("死にたいんじゃない？", True),
    ("死にたいんじゃないよ", False), ("死にたいわけじゃないか", False), ("死なないんじゃないかな", False),
])
def test_a_japanese_guess_that_it_is_so_is_not_a_negation(text, hit):
    # 〜んじゃないかな / 〜んじゃない？ guesses that it is so; the words before it stand
    idx = index(crisis={"keywords": ("死にたい", "死ぬしかない", "死ぬ")})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("死にたくない", False), ("死ぬつもりはない", False), ("死にたいわけじゃない", False), ("自殺しない", False),
    ("死なない", False), ("死にたくてたまらない", True), ("死ぬしかない", True), ("死にたいけどできない", True),
    ("しにたいとかじゃないけど、こわい", False), ("死にたいとかはないけど", False), ("しのうとかおもってないよ", False),
    ("死にたいとかは思ってない", False), ("死にたいとまでは思ってない", False), ("死なないと決めた", False),
    ("死なないといけない", True), ("死なないと楽になれない", True),     # "must", not "not"
])
def test_japanese_negation_is_seen(text, hit):
    idx = index(crisis={"keywords": ("死にたい", "死ぬ", "自殺")})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("im not suicidal", False), ("i dont want to die", False), ("i'm not going to kill myself", False),
    ("i never wanted to die", False), ("im not ok. i want to die", True), ("not ok i want to die", True),
    ("i cant stop thinking about killing myself", True), ("not in a suicidal way, just scared", False),
])
def test_english_negation_is_seen(text, hit):
    idx = index(crisis={"keywords": ("suicidal", "want to die", "kill myself")})
    assert (found(idx, text) == {"crisis"}) is hit


def test_negation_can_be_turned_off_and_keywords_can_carry_it():
    assert found(index(x={"keywords": ("払った",), "negation": False}), "払ってない払った") == {"x"}
    assert found(index(x={"keywords": ("生きたくない",)}), "もう生きたくない") == {"x"}


def test_words_in_quotes_can_be_ignored():
    idx = index(maybe={"keywords": ("人生終わり",), "quoted": False})
    assert found(idx, "「拡散されたら人生終わりだよ」って言われた") == frozenset()
    assert found(idx, "人生終わりだ") == {"maybe"}
    assert found(idx, "「人生終わり」って歌詞の曲がすき") == frozenset()   # a line of a song
    assert found(idx, "「人生終わり」って思う") == {"maybe"}                 # their own thought


def test_gaps_all_of_and_word_lists():
    idx = index(school={"keywords": ("先輩 … 広める",)}, od={"keywords": ("薬 & 全部飲んだ",)})
    assert found(idx, "部活の先輩が私の写真を広めてる") == {"school"}
    assert found(idx, "広めてるのは先輩") == frozenset()          # the order matters
    assert found(idx, "先輩がいる。写真を広めてる") == frozenset()  # one sentence
    assert found(idx, "全部飲んだ、薬") == {"od"}                  # & takes any order
    assert expand_word_lists("{a} … {b}", {"a": ["x", "y"], "b": ["z"]}) == ["x … z", "y … z"]


def test_kana_verbs_meet_their_kanji_keyword_after_context():
    idx = index(cut={"keywords": ("手首 … 切る",)})
    assert found(idx, "てくびきりたい") == {"cut"}
    assert found(idx, "手首切った") == {"cut"}


# ---- the turn: crisis in two levels, emergency first, detours that keep the story ----------------

def test_a_clear_crisis_interrupts_from_every_state(flow):
    for state in flow.states:
        turn = say(flow, at(flow, state), "死にたい")
        assert turn.session.state == "crisis", state
        assert "crisis" in turn.session.risk


def test_an_unclear_signal_gets_one_direct_question(flow):
    turn = say(flow, at(flow, "step1"), "もう無理")
    assert turn.session.state == "check" and turn.matched == "interrupt:crisis_check"
    assert [c.id for c in turn.replies[-1].choices][:2] == ["check_yes", "check_no"]
    yes = step(flow, turn.session, UserInput.tapped("check_yes"), NIGHT)
    assert yes.session.state == "crisis"
    no = step(flow, turn.session, UserInput.tapped("check_no"), NIGHT)
    assert no.session.state == "step1", "no: back to the evidence step the person was in"


def test_no_continues_with_what_the_same_message_also_said(flow):
    turn = say(flow, at(flow, "welcome"), "晒すって言われた、もう無理")
    assert turn.session.state == "check"
    assert turn.session.variables.get("situation") == "threat"
    back = step(flow, turn.session, UserInput.tapped("check_no"), NIGHT)
    assert back.session.state == "threat" and back.session.resume == ""


def test_the_story_survives_a_crisis_detour(flow):
    turn = say(flow, at(flow, "welcome"), "学校にばらすって脅されて、もう死にたい")
    assert turn.session.state == "crisis"
    back = step(flow, turn.session, UserInput.tapped("back"), NIGHT)
    assert back.session.state == "threat", "back: the threat branch the message also told"


def test_back_from_a_crisis_with_nothing_else_said_goes_to_the_default(flow):
    turn = say(flow, at(flow, "welcome"), "死にたい")
    back = step(flow, turn.session, UserInput.tapped("back"), NIGHT)
    assert back.session.state == "after_crisis"
    turn = say(flow, None, "死にたい")
    back = step(flow, turn.session, UserInput.tapped("back"), NIGHT)
    assert back.session.state == "after_crisis"


def test_emergency_comes_before_crisis(flow):
    turn = say(flow, at(flow, "law_u16"), "あいつが家の前にいる、死にたい")
    assert turn.session.state == "emergency"
    assert {"crisis", "emergency"} <= set(turn.session.risk)
    assert turn.replies[0].key == "emergency.now"


def test_a_feeling_is_a_detour_back_to_the_step(flow):
    turn = say(flow, at(flow, "step1"), "こわい")
    assert turn.session.state == "scared"
    back = step(flow, turn.session, UserInput.tapped("continue"), NIGHT)
    assert back.session.state == "step1"


# ---- short replies, fallbacks, repeats ------------------------------------------------------------

def test_an_acknowledgement_takes_the_states_next_step(flow):
    assert say(flow, at(flow, "step1"), "うん").session.state == "step2"
    assert say(flow, at(flow, "threat"), "OK").session.state == "step1"
    plain = say(flow, at(flow, "welcome"), "うん")
    assert plain.matched == "ack" and plain.session.state == "welcome"
    assert plain.replies[0].key == "system.ack"


def test_the_fallback_offers_a_person_first_after_two_misses(flow):
    first = say(flow, at(flow, "welcome"), "zzqx")
    assert first.replies[0].key == "system.fallback"
    second = say(flow, first.session, "qqzz")
    assert second.replies[0].key == "system.fallback_again"
    assert second.replies[0].choices[0].id == "talk_to_person"
    understood = say(flow, second.session, "脅されてる")
    assert understood.session.misses == 0


def test_a_story_in_pieces_is_read_whole_and_only_for_a_few_minutes(flow):
    first = say(flow, at(flow, "welcome"), "i want to")
    assert first.matched == "fallback"
    second = say(flow, first.session, "die", NIGHT + dt.timedelta(seconds=40))
    assert "crisis" in second.entered_tags
    late = say(flow, first.session, "die", NIGHT + dt.timedelta(minutes=10))
    assert "i want to" not in repr(late.session.to_dict())


def test_the_session_keeps_no_understood_text_and_fragments_expire(flow):
    marker = "UNIQUE-MARKER-4711"
    turn = say(flow, at(flow, "welcome"), f"{marker} 脅されてる")
    assert marker not in repr(turn.session.to_dict())
    missed = say(flow, at(flow, "welcome"), marker)
    assert marker in repr(missed.session.to_dict())  # kept a few minutes, to read a story in pieces
    later = say(flow, missed.session, "脅されてる", NIGHT + dt.timedelta(seconds=30))
    assert marker not in repr(later.session.to_dict())
    expired = say(flow, missed.session, "zzqx", NIGHT + dt.timedelta(minutes=6))
    assert marker not in repr(expired.session.to_dict())


def test_a_state_seen_before_is_said_shorter(flow):
    first = say(flow, at(flow, "welcome"), "脅されてる")
    assert first.replies[0].key == "threat.reassure"
    again = step(flow, dataclasses_replace(first.session, state="welcome"), UserInput.tapped("threat"), NIGHT)
    assert [r.key for r in again.replies] == ["threat.again"]


def dataclasses_replace(session, **changes):
    import dataclasses

    return dataclasses.replace(session, **changes)


# ---- ages ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, band", [
    ("14才", "u16"), ("１５歳です", "u16"), ("十四歳", "u16"), ("14さい", "u16"), ("中2", "u16"), ("中３です", "u16"),
    ("小6", "u16"), ("JCです", "u16"), ("高1", "minor"), ("JKです", "minor"), ("未成年です", "minor"),
    ("高2", "16_17"), ("17歳", "16_17"), ("大学生です", "adult"), ("二十歳", "adult"), ("im 15", "u16"),
    ("i'm fifteen", "u16"), ("15yo", "u16"), ("15 y/o", "u16"), ("year 10", "u16"), ("grade 9", "u16"),
    ("a minor", "minor"), ("i am seventeen", "16_17"), ("im 19", "adult"), ("im 20 minutes away", None),
    ("15万払えって", None), ("じゅうななさいです", "16_17"), ("18歳未満です", "minor"), ("not 18 yet", "minor"),
    ("JK2", "16_17"), ("ＪＣ３", "u16"), ("turning 16 in march", "u16"), ("freshman in high school", "u16"),
    ("junior in hs", "16_17"), ("16m here", "16_17"), ("im 16f", "16_17"), ("jhs 3rd year", "u16"),
    ("chuu 3", "u16"), ("koukou 2nen (16)", "16_17"), ("i ran 10m", None), ("walked 15m today", None),
])
def test_ages_in_every_common_form(text, band):
    assert find_age_band(text) == band


@pytest.mark.parametrize("text, band", [
    ("15", "u16"), ("15!!", "u16"), ("えっと、14です", "u16"), ("じゅうご", "u16"), ("ｼﾞｭｳﾛｸ", "16_17"),
    ("ちゅうに", "u16"), ("ｺｳ1", "minor"), ("14 but ill be 15 next week", "u16"), ("にじゅう", "adult"),
    ("1", None), ("しにたい", None), ("じゅうぶん", None), ("1️⃣7️⃣", "16_17"),
])
def test_ages_where_the_bot_asked(text, band):
    assert find_age_band(text, asked=True) == band


@pytest.mark.parametrize("text, asked, band", [
    # the quick "could this hold an age?" check let 高校 and みせいねん through unread
    ("高校生です", False, "minor"), ("みせいねん", False, "minor"), ("中坊です", False, "u16"),
    # school years in kana with a long-vowel mark
    ("ちゅーさん", True, "u16"), ("こーいち", True, "minor"),
    # a bare number said the Kansai / Hiroshima way, only where the bot asked
    ("17やで", True, "16_17"), ("14やけど", True, "u16"), ("15じゃ", True, "u16"), ("17やで", False, None),
    # turning and just turned
    ("来月16になる", False, "u16"), ("今年で15", True, "u16"), ("今年で16", False, "minor"),
    ("16になったばっか", False, "16_17"), ("16なりたて", True, "16_17"), ("115になった", False, None),
    ("明日15時に駅", False, None), ("今度16日に会う", False, None),
    # school years written out
    ("高校3年、まだ17", True, "16_17"), ("高校2年です", False, "16_17"), ("中学2年", False, "u16"),
    ("高校生2人で", False, "minor"),
    # round 11-12 (ja): school words in kana (じょしこうせい, じぇいけー, でぃーしー) and 男子高生
    ("だんしこうこうせい", True, "minor"), ("じぇいけー", True, "minor"), ("でぃーしー", True, "u16"),
    ("男子高生です", False, "minor"),
    # 今年17 (without で) is turning 17 this year; a school year said too narrows the two ages
    ("今年17", True, "16_17"), ("今年15", True, "u16"), ("今年で16の中3", True, "u16"),
    ("今年で17になる高1", True, "16_17"), ("今年3回目", True, None),
])
def test_japanese_ages_written_the_way_teenagers_write_them(text, asked, band):
    assert find_age_band(text, asked=asked) == band


def test_a_bare_number_is_an_age_only_where_the_bot_asked(flow):
    assert find_age_band("15") is None and find_age_band("15", asked=True) == "u16"
    turn = say(flow, at(flow, "age_ask"), "15")
    assert turn.session.state == "law_u16" and turn.matched == "age:u16"
    turn = say(flow, at(flow, "age_ask"), "高1です")
    assert turn.session.state == "law_minor"


def test_an_age_given_earlier_is_not_asked_again(flow):
    turn = say(flow, None, "中2です。晒すって言われた")
    assert turn.session.variables["age_band"] == "u16"
    law = step(flow, turn.session, UserInput.tapped("law"), NIGHT)
    assert law.session.state == "law_u16"


# ---- languages -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, code", [
    ("我的照片被威胁了怎么办", "zh"), ("사진 때문에 협박당하고 있어요", "ko"), ("tôi bị đe dọa", "vi"),
    ("alguém está me ameaçando com minhas fotos por favor", "pt"), ("may nagbabanta sa akin po", "tl"),
    ("меня шантажируют", "ru"), ("晒すって言われた", "ja"), ("someone is threatening me", "en"),
])
def test_languages_are_recognised_offline(text, code):
    assert detect_language(text) == code


def test_a_language_the_bot_does_not_speak_gets_one_answer_in_both(flow):
    turn = say(flow, None, "사진 때문에 협박당하고 있어요")
    assert turn.session.state == "other_language"
    assert turn.replies[0].key == "other_language.speaks"
    assert say(flow, None, "晒すって言われた").session.state == "threat"


def test_strange_input_is_answered_without_a_crash(flow):
    for text in ["あ" * 10_000, "\u202e\u200d\u2066死にたい\u2069", "\x00\x01\x02", "👨‍👩‍👧‍👦" * 500,
                 "ｱｲｳ abc 한국어 中文 русский", "   ", "「「「」」」\"\"\"", "…" * 100]:
        turn = say(flow, at(flow, "welcome"), text)
        assert turn.replies
    assert say(flow, at(flow, "welcome"), "\u202e\u200d死\u200bに\u200dたい").session.state == "crisis"


def test_folding_is_idempotent_for_matching():
    for text in ["ﾊﾞﾗｽぞ！！", "ＡＢＣ", "死にたい😢😢", "I'M   SCARED", "s u i c i d e", "しにたいしにたい"]:
        assert [t.surface for t in tokenize(fold(text))] == [t.surface for t in tokenize(text)]


def test_an_acknowledgement_that_is_also_a_step_word_still_acknowledges(flow):
    # "ok" is also a step word in many flows; it says nothing the flow routes on.
    turn = say(flow, at(flow, "threat", locale="en"), "ok")
    assert turn.session.state == "step1"


def test_a_detour_entered_by_a_button_remembers_the_way_back(flow):
    scared = step(flow, at(flow, "step1"), UserInput.tapped("scared"), NIGHT)
    assert scared.session.state == "scared" and scared.session.resume == "step1"
    back = step(flow, scared.session, UserInput.tapped("continue"), NIGHT)
    assert back.session.state == "step1"


@pytest.mark.parametrize("text, hit", [
    ("人生終わりだって言われた", False), ("明日までに送らなかったら、お前の人生終わりだってDMきた", False),
    ("送らないと人生終わりとか言ってくる", False), ("he says my life is over if i dont pay", False),
    ("人生終わりだって言ったら親に怒られた", True),          # the person said it
    ("拡散するって言われた、もう人生終わり", True),          # their own clause, after the comma
    ("he said hell post it and my life is over", True),      # "and my ...": their own words again
    ("they said theyd post it and honestly id rather say my life is over", True),   # "id": I'd, theirs again
    ("if they tell my parents ill know my life is over", True),    # "ill" after "if ...": I'll, the person's own
    ("i told him my life is over", True),
])
def test_reported_speech_without_quotes_is_someone_elses(text, hit):
    idx = index(maybe={"keywords": ("人生終わり", "life is over"), "quoted": False})
    assert (found(idx, text) == {"maybe"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("けいさつってひとりでいける?", False),   # いける: 行ける by the dictionary, read like 逝ける
    ("もう逝ける", True), ("しぬ", True), ("くすりのんだ", True),
])
def test_a_reading_alone_does_not_make_another_word_the_keyword(text, hit):
    idx = index(crisis={"keywords": ("逝ける", "死ぬ", "薬 … 飲んだ")})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("カラオケ行きたい", False), ("ディズニー行きたい", False),   # 行き-たい, written in other kanji
    ("逝きたい", True), ("もう逝きたい", True), ("いきたい", True),  # as written, or in kana (unclear)
])
def test_several_words_read_like_the_keyword_but_written_in_other_kanji_are_other_words(text, hit):
    idx = index(crisis={"keywords": ("逝きたい",)})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("親に知られずに解決できる？", False),            # 知ら-れ-ず: the ending of 知る, not レズ
    ("私がレズなことばらすって", True), ("レズです", True),
])
def test_a_two_kana_word_is_not_read_from_the_ending_of_the_word_before(text, hit):
    idx = index(outing={"keywords": ("レズ",)})
    assert (found(idx, text) == {"outing"}) is hit


def test_a_small_vowel_written_for_style_is_read_full_size():
    assert fold("きえたぃ…") == "きえたい." and fold("つらぃ") == "つらい"
    assert fold("ふぃるむ") == "ふぃるむ" and fold("てぃっしゅ") == "てぃっしゅ"   # these combine
    assert found(index(crisis={"keywords": ("消えたい",)}), "きえたぃ…") == {"crisis"}


@pytest.mark.parametrize("text", ["かべに頭ぶつけてる", "ぶつけちゃった", "ぶつける"])
def test_a_kana_keyword_in_its_dictionary_form_takes_its_forms(text):
    assert found(index(harm={"keywords": ("ぶつける",)}), text) == {"harm"}


def test_a_list_word_with_its_own_gap_is_spelled_out():
    idx = KeywordIndex({"c": IntentSpec(keywords=("{q}",))}, {"q": ["how many … take", "pills & enough"]})
    assert found(idx, "how many pills do i take") == {"c"}
    assert found(idx, "are these pills enough") == {"c"}
    assert found(idx, "how are you") == frozenset()


def test_an_english_keyword_that_looks_like_romaji_is_still_english():
    idx = index(school={"keywords": ("senpai", "koban")})
    assert found(idx, "my senpai has my pics") == {"school"}
    assert found(idx, "can i go to the koban alone") == {"school"}


def test_doubled_letters_are_not_squeezed_into_another_word():
    idx = index(meeting={"keywords": ("meet him",)}, past={"keywords": ("met him",)}, crisis={"keywords": ("kill",)})
    assert found(idx, "he wants me to meet him") == {"meeting"}
    assert found(idx, "i met him online") == {"past"}
    assert found(idx, "i want to kil") == {"crisis"}            # a typo still meets its word


def test_contractions_and_verb_forms_people_type():
    assert [t.lemma for t in tokenize("hes here thinking about ending it")][:6] == [
        "he", "be", "here", "think", "about", "end"]


@pytest.mark.parametrize("text, hit", [
    ('my friend joked "just kys lol" when i told her', False),
    ('he keeps saying "youre dead" and "ur life is over"', False),
    ('i said "i want to die"', True),
])
def test_quotes_of_other_people_however_they_are_introduced(text, hit):
    idx = index(crisis={"keywords": ("kys", "want to die", "life is over", "dead"), "quoted": False})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("じさつってどうやったらできる", True),   # じ|さ|つっ|て: an auxiliary opening the message
    ("れんたんかった", True),                 # れん|た|んかっ|た: a word starting with ん
    ("わたしにたいしてだけ冷たい", False),      # わたし|に|たいして: real words, しにたい not across them
    ("むしにたいしてこわがりすぎ", False),
    ("しにたいんだ", True),                   # ん as in んだ is a real ending, not a broken cut
])
def test_hiragana_the_dictionary_cut_wrongly_is_read_across_its_cuts(text, hit):
    idx = index(crisis={"keywords": ("自殺", "練炭", "死にたい")})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text", ["riska shita mata", "mou riska shitai des", "shinitai desu"])
def test_romaji_without_the_silent_u_is_read_as_kana(text):
    idx = index(crisis={"keywords": ("リスカ*", "死にたい")})
    assert found(idx, text) == {"crisis"}


def test_english_with_s_before_a_consonant_stays_english():
    from bot.engine.tokens import tokenize
    assert all(t.kind != "ja" for t in tokenize("this is my class"))


@pytest.mark.parametrize("text, hit", [
    ("「死にたいほど愛してる」みたいな歌詞好き", False),   # 「…」みたいな歌詞: a song's words
    ("アニメの「死にたい夜に」見た", False),               # a work named before the title
    ("「消えたい」聴いてる", False),                       # a title being listened to
    ("「死にたい」ってずっと思ってる", True),              # the person's own thought stays theirs
    ("「消えたい」って思った", True),
])
def test_a_title_in_brackets_is_not_the_persons_words(text, hit):
    idx = index(crisis={"keywords": ("死にたい", "消えたい"), "quoted": False})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, hit", [
    ("もう死んでもええかな", True),          # the keyword 死んでもいい holds the idiom 死んでも and says more
    ("死んでも嫌", False),                   # the idiom alone still cancels the short keyword
    ("死んでもいいくらい幸せ", False),        # a longer idiom that holds the keyword cancels it
])
def test_a_keyword_that_holds_an_idiom_and_says_more_is_not_cancelled_by_it(text, hit):
    idx = KeywordIndex({"crisis": IntentSpec(keywords=("死ぬ", "死んでも{ok}"),
                                             idioms=("死んでも", "死んでも{ok} …0 くらい"))},
                       {"ok": ["いい", "ええ"]})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, band", [
    ("高3で18", "adult"), ("高校3年で18歳", "adult"), ("高3、17です", "16_17"), ("中3の15", "u16"),
    ("高3で2万払った", "16_17"),   # not an age: the school year decides
])
def test_an_age_said_after_the_school_year_decides(text, band):
    from bot.engine.ages import find_age_band
    assert find_age_band(text, asked=True) == band


# ---- round 8 (ja) -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, hit", [
    ("「首を吊った男」って推理小説おもろかった", False),   # a word for the kind of work, then the work
    ("「死にたい」って少年漫画のセリフ", False),
    ("「消えたい」って本読んだ", False),                   # a book
    ("「死にたい」って本気で思ってる", True),              # 本気 is not a book: the person's own words
    ("「死にたい」ってまじで思う", True),                  # no word for a work follows
])
def test_a_title_named_by_its_kind_of_work_is_not_the_persons_words(text, hit):
    idx = index(crisis={"keywords": ("死にたい", "消えたい", "首を吊る"), "quoted": False})
    assert (found(idx, text) == {"crisis"}) is hit


@pytest.mark.parametrize("text, band", [
    ("俺19やけど", "adult"), ("私16です", "16_17"), ("僕13", "u16"), ("俺15で脅されてる", "u16"),
    ("うちは17だけど", "16_17"),
    # a counter after the number is not an age
    ("俺10万払った", None), ("私3回送った", None), ("俺2人に送った", None), ("自分12時に寝る", None),
])
def test_a_number_right_after_i_is_the_persons_age(text, band):
    assert find_age_band(text) == band


# ---- round 9-10 (ja) ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, asked, band", [
    ("15sai", True, "u16"), ("17 sai desu", False, "16_17"),
    ("tensai", False, None), ("kousai shiteta", False, None),     # 天才, 交際: no digits, no age
    ("16(高1)", True, "16_17"), ("16（高1）です", False, "16_17"), ("15歳/中3", False, "u16"),
    ("今年で16、高1です", False, "minor"),                          # 15 or 16: the school year decides
    ("2(高1)", False, "minor"),                                    # 2 is no 高1's age: the school year
    ("19なんだけど大丈夫？", False, "adult"), ("14なんですけど", False, "u16"),
    ("3万なんだけど", False, None),                                 # a sum, not an age
    # the other person described by an adult word is not the person's age
    ("大学生って言ってる人とLINEしてた", False, None), ("社会人の男に脅されてる", False, None),
    ("相手は大人です", False, None), ("大学生です", False, "adult"), ("私は大人です", False, "adult"),
])
def test_romaji_sai_an_age_before_its_school_year_and_an_opening_number(text, asked, band):
    assert find_age_band(text, asked=asked) == band


@pytest.mark.parametrize("text, hit", [
    ("薬全部飲んだ？って母さんに聞かれた", False),   # a question someone asked them, reported with って
    ("死にたい？って先生に聞かれた", False),
    ("死にたいって先輩に言われた", False),            # who said it stands between って and 言われた
    ("薬全部飲んだ？", True),                          # their own question stays theirs
    ("死にたいって友達に言った", True),                # they said it: their own words
])
def test_a_question_or_saying_reported_with_who_said_it_is_not_the_persons_words(text, hit):
    idx = index(crisis={"keywords": ("死にたい", "薬 & 全部飲んだ"), "quoted": False})
    assert (found(idx, text) == {"crisis"}) is hit
