"""The conversation tests in tests/conversations/ pass and visit every state of every flow.

The same files run with ``python -m bot test --min-coverage 100``; this makes pytest (and CI)
run them too, and name each failure with its file, line, locale and step.
"""
from __future__ import annotations

from bot.convtest import default_files, run_files

from .helpers import ROOT, bundle


def test_conversations_pass_in_every_locale_and_visit_every_state():
    b = bundle()
    assert not b.errors, b.errors
    files = default_files(ROOT)
    assert any(p.name == "first_contact.yaml" for p in files)
    report = run_files(b, files)
    assert not report.failures, "\n".join(str(f) for f in report.failures)
    coverage = report.coverage(b)
    print(f"\n{report.conversations} conversations, {report.steps} steps; coverage {coverage}")
    assert coverage["first_contact"] == 100.0, report.unvisited(b)["first_contact"]


def test_every_resting_state_is_left_for_a_person_in_some_conversation():
    # "talk to a person from every state": the files have one conversation per state that taps
    # talk_to_person there. This keeps that list complete when a state is added.
    text = "".join(p.read_text(encoding="utf-8") for p in default_files(ROOT))
    f = bundle().flow("first_contact")
    missing = [s.name for s in f.states.values()
               if not s.moves_on and s.name != f.human_state and f"- name: a person from {s.name}" not in text]
    assert not missing, f"add a conversation 'a person from <state>' for: {missing}"
