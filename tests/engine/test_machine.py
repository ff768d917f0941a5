"""The flow's machine is the one source of where a move leads."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from bot.engine import UserInput, step
from bot.engine.compile import machine_edges
from bot.engine.flow import FlowDoc, RESUME
from bot.engine.machine import FlowMachine, Triggers
from bot.engine.yamlsource import read_yaml

from .helpers import MINI, NIGHT, mini_bundle

FLOW = mini_bundle().flow("mini")
DOC = FlowDoc.model_validate(read_yaml(MINI / "flows" / "mini.yaml").data)


def _rewired(trigger: str, source: str, dest: str):
    """The mini flow with one move of its machine leading elsewhere, the YAML left as it is."""
    edges = [(t, s, dest if (t, s) == (trigger, source) else d) for t, s, d in machine_edges(DOC)]
    if (trigger, source) not in {(t, s) for t, s, _ in machine_edges(DOC)}:
        edges.insert(0, (trigger, source, dest))
    return dataclasses.replace(FLOW, machine=FlowMachine(list(FLOW.states), edges))


def test_every_kind_of_move_goes_where_the_machine_says_not_where_the_yaml_said():
    start = step(FLOW, None, UserInput("start", locale_hint="ja"), NIGHT).session
    # a tapped choice, a typed choice, a route, a global intent, an interrupt, an automatic move, a branch
    cases = [
        (Triggers.choice("threatened"), "welcome", UserInput.tapped("threatened"), "goodbye"),
        (Triggers.choice("threatened"), "welcome", UserInput.typed("脅されている"), "goodbye"),
        (Triggers.intent("threat_spread"), "welcome", UserInput.typed("晒すって言われた"), "goodbye"),
        (Triggers.intent("evidence_question"), "welcome", UserInput.typed("証拠"), "goodbye"),
        (Triggers.interrupt("crisis"), "welcome", UserInput.typed("死にたい"), "goodbye"),
        (Triggers.choice("talk_to_person"), "welcome", UserInput.tapped("talk_to_person"), "goodbye"),
    ]
    for trigger, source, user_input, dest in cases:
        assert step(FLOW, start, user_input, NIGHT).session.state != dest
        turn = step(_rewired(trigger, source, dest), start, user_input, NIGHT)
        assert turn.session.state == dest, (trigger, turn.matched)
    auto = step(_rewired(Triggers.AUTO, "reassure", "law_u16"), start, UserInput.tapped("threatened"), NIGHT)
    assert auto.entered == ("reassure", "law_u16")
    branch = step(_rewired(Triggers.branch("u16"), "law", "evidence"), start, UserInput.tapped("age_u16"), NIGHT)
    assert branch.entered[-1] == "evidence"


def test_the_machine_and_the_compiled_description_agree():
    machine = FLOW.machine
    for state in FLOW.states.values():
        for choice in state.choices:
            assert machine.resolve(state.name, choice.trigger) == choice.target
        for route in state.routes:
            assert machine.resolve(state.name, route.trigger) == route.target
        if state.next:
            assert machine.resolve(state.name, Triggers.AUTO) == state.next
        for it in FLOW.interrupts:
            assert machine.resolve(state.name, it.trigger) == it.target
    assert machine.resolve("welcome", "choice:no_such_choice") is None
    assert machine.resolve("no_such_state", Triggers.AUTO) is None


def test_back_from_a_detour_is_the_machines_resume_state():
    machine = FlowMachine(["a", "b"], [("choice:back", "b", RESUME), ("choice:go", "a", "b")])
    assert machine.resolve("b", "choice:back") == RESUME
    assert machine.successors("a") == {"b"}


def test_the_turn_never_reads_a_yaml_target():
    # Where a move leads is asked of the machine only; the compiled targets describe the flow.
    tree = ast.parse((Path(__file__).resolve().parents[2] / "bot" / "engine" / "turn.py").read_text(encoding="utf-8"))
    read = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not read & {"target", "next", "branch_cases", "branch_default", "model_crisis", "model_emergency",
                       "other_language", "resume_dest"}
