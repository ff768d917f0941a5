"""The content rules of issue 14, checked on the shipped flow and texts.

Each test names the rule it keeps: adults never get a line only for children, an emergency
state gives 119 or 110 first, short bubbles, law texts that never assume the person sent
something, no gender assumed outside the money branch, 児童ポルノ only as the law's name, the
evidence steps in a safe order, notes on the lines where they matter, and `verified` dates that
are the dates of the sources, not of the copy.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from bot.engine import HUMAN_CHOICE_ID
from tests.shared import FACTS

from .helpers import FLOWS, flow, walk
from .test_numbers import phone_numbers

LOCALES = ("ja", "en")
# Lines only for children (issue 14): never offered to someone who said they are 18 or over.
CHILD_ONLY = ("childline", "sos_dial", "jinken110")
# Bubbles people read on a phone at night: Japanese at most about 120 characters; English takes
# about twice the characters for the same meaning.
MAX_BUBBLE = {"ja": 120, "en": 260}


def said_texts(f, state, locale: str, again: bool = False) -> list[str]:
    """What the state says on the first visit, or (again=True) when entered again."""
    keys = state.say_again if again and state.say_again else state.say
    return [f.text(locale, key) for key in keys]


def state_text(f, state, locale: str, again: bool = False) -> str:
    return "\n".join(said_texts(f, state, locale, again))


def visits(state):
    """The first visit, and a later one when the state has its own text for it."""
    return (False, True) if state.say_again else (False,)


# ---- adults -----------------------------------------------------------------------------------


def states_an_adult_can_reach(f) -> set[str]:
    """Every state reachable from `adult` while the person's age band stays `adult`.

    Choices, routes and intents that set another age band are not followed (the person would
    have said they are younger); branches on the age band follow only their adult case.
    """
    def keeps_adult(sets) -> bool:
        return all(value == "adult" for name, value in sets if name == "age_band")

    def state_of(target: str) -> str:
        # "@resume" goes back to a state the person was already in, or to resume_default.
        return f.resume_default if target == "@resume" else target

    seen: set[str] = set()
    todo = ["adult"]
    always = [i.target for i in f.interrupts if i.target] + [f.human_state]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = f.states[name]
        nxt = list(always)
        if state.next:
            nxt.append(state.next)
        if state.branch_var == "age_band":
            nxt.append(state.branch_cases.get("adult", state.branch_default))
        elif state.branch_var:
            nxt += list(state.branch_cases.values()) + [state.branch_default]
        nxt += [c.target for c in state.choices if keeps_adult(c.sets)]
        nxt += [r.target for r in state.routes if keeps_adult(r.sets)]
        nxt += [r.target for r in f.global_routes if keeps_adult(r.sets)]
        if state.end:
            nxt.append(f.start)
        todo += [state_of(n) for n in nxt if state_of(n) not in seen]
    return seen


def test_no_state_an_adult_can_reach_offers_a_line_only_for_children():
    f = flow()
    reachable = states_an_adult_can_reach(f)
    # The walk goes through the whole conversation, not just the adult branch.
    assert {"adult", "resources_adult", "removal_adult", "crisis_more_adult", "crisis", "human", "goodbye",
            "law_adult", "welcome", "police"} <= reachable
    assert not reachable & {"resources", "removal", "crisis_more", "law_u16", "law_1617", "law_minor"}
    child_words = {locale: [] for locale in LOCALES}
    for rid in CHILD_ONLY:
        res = f.resources[rid]
        for locale in LOCALES:
            child_words[locale] += [res.tel, res.field("name", locale, f.default_locale)]
    offending = []
    for name in sorted(reachable):
        state = f.states[name]
        if set(state.links) & set(CHILD_ONLY):
            offending.append(f"{name}: links {sorted(set(state.links) & set(CHILD_ONLY))}")
        for locale in LOCALES:
            text = state_text(f, state, locale) + state_text(f, state, locale, again=True)
            offending += [f"{name} [{locale}]: says {w!r}" for w in child_words[locale] if w and w in text]
    assert not offending, "\n".join(offending)


def test_the_adult_routes_name_the_adult_services():
    f = flow()
    assert {"police8103", "onestop", "houterasu_victim", "stopncii"} <= set(f.states["adult"].links)
    assert "takeitdown" not in f.states["adult"].links  # StopNCII instead (named only for images under 18)
    assert f.states["removal_adult"].links[0] == "stopncii"


def test_an_adult_who_says_so_gets_the_adult_state_and_keeps_the_age_band():
    for locale, text in (("ja", "大学生です"), ("en", "i'm an adult")):
        session, turn = walk([text], locale)
        assert turn.session.state == "adult" and session.variables.get("age_band") == "adult"
        session, turn = walk(["tap:resources"], locale, session)
        assert turn.session.state == "resources_adult"


# ---- emergencies ------------------------------------------------------------------------------


def test_every_emergency_state_gives_119_or_110_in_its_first_message():
    f = flow()
    emergency = [s for s in f.states.values() if "emergency" in s.tags]
    assert emergency, "no state is tagged emergency"
    for state in emergency:
        assert "crisis" in state.tags, state.name
        assert state.links and state.links[0] in ("police110", "ambulance119"), state.name
        assert {c.id for c in state.choices} >= {HUMAN_CHOICE_ID}, state.name
        for locale in LOCALES:
            for again in visits(state):  # also when the emergency comes back
                first = said_texts(f, state, locale, again)[0]
                assert phone_numbers(first) & {"110", "119"}, (state.name, locale, again, first)


def test_crisis_states_give_119_and_110_before_any_helpline():
    f = flow()
    helplines = {rid for rid, r in f.resources.items() if r.tel and rid not in ("police110", "ambulance119")}
    for state in f.states.values():
        if "crisis" not in state.tags or not state.say:
            continue
        for locale in LOCALES:
            text = state_text(f, state, locale)
            if not phone_numbers(text) & {"110", "119"}:
                continue  # a further list of lines (crisis_more), after the crisis answer
            first_emergency = min(text.index(n) for n in ("110", "119") if n in text)
            for rid in helplines:
                tel = f.resources[rid].tel
                if tel in text:
                    assert text.index(tel) > first_emergency, (state.name, locale, rid)


# ---- plain, short, honest words ---------------------------------------------------------------


def test_no_bubble_is_longer_than_a_phone_screen():
    f = flow()
    too_long = []
    keys = ({k for s in f.states.values() for k in s.say + s.say_again}
            | {f.texts.fallback, f.texts.fallback_again, f.texts.ack})
    for key in sorted(keys):
        for locale in LOCALES:
            text = f.text(locale, key)
            if len(text) > MAX_BUBBLE[locale]:
                too_long.append(f"{locale}:{key} is {len(text)} characters")
    assert not too_long, "\n".join(too_long)


# Words that say the person sent something (not "even if you sent it").
SENT = {"ja": re.compile(r"送った|送ってしまった|送っていた(?!としても)"),
        "en": re.compile(r"\byou sent\b|\bhaving sent\b|\bfor sending\b|\byou took and sent\b", re.I)}
AGES = ["tap:age_u16", "tap:age_16_17", "tap:age_minor", "tap:age_adult", "tap:age_unsaid"]


@pytest.mark.parametrize("situation,path", [
    ("asked", ["start", "tap:asked", "tap:law"]),
    ("deepfake", ["start", "tap:other", "tap:deepfake", "tap:law"]),
    ("hacked", ["start", "tap:other", "tap:hacked", "tap:menu", "tap:law"]),
    ("abuse", ["start", "tap:other", "tap:abuse", "tap:menu", "tap:law"]),
    ("outing", ["start", "tap:other", "tap:outing", "tap:menu", "tap:law"]),
])
def test_the_law_never_assumes_they_sent_something(situation, path):
    for locale in LOCALES:
        for age in AGES:
            session, turn = walk(path, locale)
            said = [r.text for r in turn.replies]
            _, turn = walk([age], locale, session)
            said += [r.text for r in turn.replies]
            assert turn.session.state.startswith("law_"), (situation, age, turn.session.state)
            wrong = [t for t in said if SENT[locale].search(t)]
            assert not wrong, (situation, locale, age, wrong)


def test_where_an_image_exists_the_law_says_even_if_you_sent_it():
    f = flow()
    law = f.states["law"]
    for situation in ("threat", "spread", "paid", "school"):
        assert law.branch_cases[situation] == "law_sent"
    assert law.branch_cases["asked"] == "law_asked" and law.branch_cases["deepfake"] == "law_deepfake"
    assert f.text("ja", "law.sent").startswith("もし") and "としても" in f.text("ja", "law.sent")
    assert f.text("en", "law.sent").startswith("Even if")


def test_the_legal_terms_are_explained_in_the_same_sentence():
    f = flow()
    for term, meaning in (("恐喝", "おどしてお金をとる"), ("強要", "むりやり"), ("告訴", "こくそ"),
                          ("捜査", "警察が調べる"), ("被害届", "ひがいとどけ"), ("起訴", "裁判にかける"),
                          ("条例", "都道府県のきまり")):
        for key, text in f.catalog["ja"].items():
            if key.startswith(("console.", "canned.")) or term not in text.template:
                continue
            sentence = next(s for s in re.split(r"(?<=。)", text.template) if term in s)
            assert meaning in sentence, (key, term, sentence)


def test_child_pornography_is_said_only_as_the_name_of_the_law():
    f = flow()
    for key, text in f.catalog["ja"].items():
        for m in re.finditer("児童ポルノ", text.template):
            assert text.template[m.end():m.end() + 3] == "禁止法", key
    for key, text in f.catalog["en"].items():
        for m in re.finditer("child pornography", text.template, re.I):
            assert text.template[m.start():m.end() + 4] == "Child Pornography Act", key


def test_most_are_boys_only_in_the_money_branch():
    f = flow()
    for locale, word in (("ja", "男の子"), ("en", "boys")):
        keys = {k for k, t in f.catalog[locale].items()
                if word in t.template and not k.startswith(("console.", "canned."))}
        assert keys == {"paid.reassure"}, (locale, keys)


# ---- evidence ---------------------------------------------------------------------------------


def test_the_first_evidence_step_is_never_to_copy_the_image_itself():
    f = flow()
    first = {c.target for s in f.states.values() for c in s.choices if c.id == "evidence"}
    assert first == {"ev_noimage"}
    for locale, words in (("ja", ("1/7", "コピー", "転送", "アップロード")), ("en", ("1/7", "copy", "forward", "upload"))):
        text = state_text(f, f.states["ev_noimage"], locale)
        for w in words:
            assert w in text, (locale, w)


def test_no_text_asks_for_a_screenshot_of_a_page_that_shows_the_image():
    f = flow()
    bad = {"ja": ("ページのURLと画面", "画面を記録", "画面も"),
           "en": ("screenshot of the page", "screenshot of that page", "and a screenshot")}
    for locale in LOCALES:
        for key, text in f.catalog[locale].items():
            for phrase in bad[locale]:
                assert phrase not in text.template, (locale, key, phrase)


def test_the_second_copy_is_of_the_text_evidence_only():
    f = flow()
    assert "文字の証拠だけ" in f.text("ja", "ev.safe") and "画像そのもの" in f.text("ja", "ev.safe")
    assert "text evidence" in f.text("en", "ev.safe") and "never the image" in f.text("en", "ev.safe")
    assert "クラウド" in f.text("ja", "ev.safe_how") and "cloud" in f.text("en", "ev.safe_how")


def test_block_only_after_saving_is_in_the_first_list_of_what_matters_now():
    f = flow()
    assert "ブロックや削除は、証拠を保存してから" in f.text("ja", "dont.now")
    assert "Block or delete only after saving" in f.text("en", "dont.now")
    # The list does not assume that they already sent something ("any more").
    assert "これ以上送らない" not in f.text("ja", "dont.now")


# ---- notes on the lines -----------------------------------------------------------------------

# Where a state shows or names one of these lines, its text also says the note that matters.
NOTES = {
    "police9110": {"ja": "通話料", "en": "charged"},
    "kokoro": {"ja": "通話料", "en": "charged"},
    "houterasu_victim": {"ja": "通話料", "en": "charged"},
    "minna_jinken": {"ja": "通話料", "en": "charged"},
    "childline": {"ja": "18歳まで", "en": "up to 18"},
    "jinken110": {"ja": "IP電話", "en": "IP phones"},
    "jido189": {"ja": "IP電話", "en": "IP phones"},
    "safeline": {"ja": "メールアドレス", "en": "e-mail address"},
}


def test_lines_come_with_the_note_that_matters():
    f = flow()
    missing = []
    for state in f.states.values():
        for locale in LOCALES:
            for again in visits(state):
                text = state_text(f, state, locale, again)
                for rid, note in NOTES.items():
                    res = f.resources[rid]
                    named = (res.tel and res.tel in text) or res.field("name", locale, f.default_locale) in text
                    if (rid in state.links or named) and note[locale] not in text:
                        missing.append(f"{state.name} [{locale}{', again' if again else ''}]: {rid} without {note[locale]!r}")
    assert not missing, "\n".join(missing)


# ---- verified dates ---------------------------------------------------------------------------


def test_verified_dates_are_the_dates_of_the_sources_not_of_the_copy():
    data = yaml.safe_load((FLOWS / "resources.yaml").read_text(encoding="utf-8"))["resources"]
    if FACTS.exists():
        text = FACTS.read_text(encoding="utf-8")
        newest = max(dt.date.fromisoformat(d) for d in re.findall(r"\b20\d\d-\d\d-\d\d\b", text))
    else:
        newest = dt.date(2025, 12, 18)  # the newest source FACTS.md cites (NPA figures, jiji)
    for rid, entry in data.items():
        verified = entry["verified"]
        assert verified <= newest, f"{rid}: verified {verified} is later than any source in FACTS.md"
        years = [int(y) for y in re.findall(r"\b(20\d\d)\b", str(entry["source"]))]
        if verified != dt.date(2000, 1, 1):
            # A dated entry names the year of its source, and `verified` is in one of them.
            assert verified.year in years, f"{rid}: verified {verified} but the source says {entry['source']!r}"
        else:
            assert "no source date" in str(entry["source"]), f"{rid}: 2000-01-01 needs 'no source date' in source"


# ---- repeats, and the answer in another language ----------------------------------------------


def test_a_long_state_seen_before_says_a_shorter_version():
    # Issue 14, fix 9: never the same long text a third time.
    f = flow()
    missing, not_shorter = [], []
    for state in f.states.values():
        first = state_text(f, state, "ja")
        if len(state.say) < 2 and len(first) <= MAX_BUBBLE["ja"]:
            continue
        if state.moves_on and not state.say_again and len(state.say) < 2:
            continue
        if not state.say_again:
            missing.append(state.name)
            continue
        for locale in LOCALES:
            if len(state_text(f, state, locale, again=True)) >= len(state_text(f, state, locale)):
                not_shorter.append(f"{state.name} [{locale}]")
    # The states a person does not come back to with the same long text: the ones that end the
    # conversation, and the answers that are already the short step of a longer path.
    exempt = {"goodbye", "forget_done", "friend_help", "ev_dont_delete", "other_language", "crisis_more",
              "crisis_more_adult", "ev_deleted"}
    assert not [m for m in missing if m not in exempt], missing
    assert not not_shorter, not_shorter


def test_a_repeat_is_said_the_second_time_and_an_emergency_keeps_its_numbers():
    for locale in LOCALES:
        session, turn = walk(["start", "tap:threat"], locale)
        assert "dont.now" in [r.key for r in turn.replies]
        session, turn = walk(["tap:menu", "tap:dont"], locale, session)
        assert [r.key for r in turn.replies] == ["dont.again"]
        # A crisis a second time: 119, 110 and the lines again, not the whole text.
        crisis = "しにたい" if locale == "ja" else "i want to die"
        session, turn = walk([crisis, "tap:back", crisis], locale, session)
        text = "\n".join(r.text for r in turn.replies)
        assert turn.session.state == "crisis" and "crisis.hear" not in [r.key for r in turn.replies]
        assert {"119", "110"} <= phone_numbers(text) and "0120-279-338" in text


def test_the_answer_in_another_language_is_the_same_in_both_locale_files():
    f = flow()
    for key in f.states["other_language"].say:
        ja, en = f.text("ja", key), f.text("en", key)
        assert ja == en, key
        assert re.search("[\u3040-\u30ff]", ja) and re.search("[A-Za-z]{3}", ja), key
