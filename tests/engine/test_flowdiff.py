"""The plain-words diff between two versions (issue 17): states and buttons added and removed,
texts changed per locale, in English and Japanese, and the YAML diff."""
from __future__ import annotations

from bot.engine.flowdiff import compare
from bot.engine.flowfiles import FlowFiles

from .helpers import MINI

NEW_STATE = """  aftercare:
    tags: [evidence]
    say: [evidence.keep]
    choices:
      - {id: done, label: choice.done, target: goodbye}
"""


def test_states_buttons_and_texts_in_plain_words():
    old = FlowFiles.read(MINI / "flows", MINI / "locales")
    flow = old.flow.replace("      - {id: person, label: choice.person, target: person}\n    routes:",
                            "      - {id: later, label: choice.done, target: aftercare}\n    routes:", 1)
    flow = flow.replace("  person:\n", NEW_STATE + "  person:\n", 1)
    locales = dict(old.locales)
    locales["en.yaml"] = locales["en.yaml"].replace("It is not your fault.", "None of this is your fault.")
    new = FlowFiles(old.flow_file, flow, old.resources, locales)
    diff = compare(old, new)
    assert diff.states_added == ["aftercare"] and diff.states_removed == []
    assert diff.buttons_added == [("welcome", "later", "aftercare"), ("aftercare", "done", "goodbye")]
    assert diff.buttons_removed == [("welcome", "person", "person")]
    assert diff.texts == {"en": {"changed": ["reassure.not_your_fault"], "added": [], "removed": []}}
    assert diff.files == ["flows/mini.yaml", "locales/en.yaml"]
    words = diff.words("en")
    assert "states added: aftercare" in words
    assert "buttons removed: welcome: person → person" in words
    assert "texts changed (en): reassure.not_your_fault" in words
    assert "増えた状態: aftercare" in diff.words("ja")
    assert "+None of this" not in diff.yaml and "+    not_your_fault: None of this is your fault." in diff.yaml
    assert compare(old, old).words("ja") == ["変更はありません"] and compare(old, old).yaml == ""
