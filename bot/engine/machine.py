"""The one place that uses `transitions`, and the one place that says where a move leads.

A machine is built per loaded flow version, once. Triggers are named after how the person moved
(``Triggers``): ``choice:<id>``, ``intent:<name>``, ``interrupt:<name>``, ``auto`` (say, then
move on), ``branch:<value>`` and ``branch:*``, ``model:crisis``, ``other_language``. A turn asks
``resolve(state, trigger)`` and goes where the machine's transition goes; the compiled states
keep their YAML targets only to describe the flow, never to decide a move.

The per-turn path reads the built machine's transitions; it never builds a machine, attaches a
model per person or fires an event (PLATFORMS.md: a resident model costs ~29 KiB and makes
``machine.models`` grow; firing an event costs ~7 µs a move, reading its transition well under
one: measured in ``bench/engine_bench.py``).
"""
from __future__ import annotations

from transitions import Machine

from .flow import RESUME


def _named(kind: str):
    """``Triggers.choice("done")`` is ``"choice:done"``."""
    return staticmethod(lambda name: f"{kind}:{name}")


class Triggers:
    """Trigger names, built in one place so a turn and the compiler always agree."""

    AUTO = "auto"
    BRANCH_DEFAULT = "branch:*"
    RESTART = "restart"
    MODEL_CRISIS = "model:crisis"
    MODEL_EMERGENCY = "model:emergency"
    OTHER_LANGUAGE = "other_language"
    choice = _named("choice")        # a button, tapped or typed
    intent = _named("intent")        # words typed: a state's route or the flow's intents
    interrupt = _named("interrupt")  # tried first, from every state
    branch = _named("branch")        # an automatic move on a variable's value


class FlowMachine:
    """A `transitions` machine of a flow's states (plus ``@resume``: "back to where they were")."""

    def __init__(self, states: list[str], edges: list[tuple[str, str, str]]):
        """``edges`` are (trigger, source, dest); source "*" means every state of the flow."""
        self.states = list(states)
        self.machine = Machine(
            model=None,
            states=self.states + [RESUME],
            transitions=[{"trigger": t, "source": self.states if s == "*" else s, "dest": d} for t, s, d in edges],
            initial=None,
            auto_transitions=False,
            send_event=False,
        )
        self._events = self.machine.events
        # Each trigger's transitions by source, as the machine holds them (its own dicts, not a copy).
        self._by_trigger = {trigger: event.transitions for trigger, event in self._events.items()}

    def resolve(self, source: str, trigger: str) -> str | None:
        """Where ``trigger`` leads from ``source`` (``@resume`` for "back"), or None: no such move."""
        by_source = self._by_trigger.get(trigger)
        found = by_source.get(source) if by_source is not None else None  # .get: the defaultdict must not grow
        return found[0].dest if found else None

    def edges(self) -> list[tuple[str, str, str]]:
        """(source, trigger, dest) of every move, the first of each (source, trigger) only."""
        return [(source, trigger, found[0].dest)
                for trigger, event in self._events.items() for source, found in event.transitions.items() if found]

    def successors(self, state: str) -> set[str]:
        return {dest for source, _, dest in self.edges() if source == state}
