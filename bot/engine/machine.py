"""The one place that uses `transitions`: a machine per loaded flow version, built once.

Triggers are named after how the person moved: ``choice:<id>``, ``intent:<name>``,
``interrupt:<name>``, ``auto`` (say, then move on) and ``branch:<value>``. The per-turn path only
looks transitions up in the built machine; it never builds a machine or attaches a model per
person (PLATFORMS.md: a resident model costs ~29 KiB and makes ``machine.models`` grow).
"""
from __future__ import annotations

from transitions import Machine


class FlowMachine:
    def __init__(self, states: list[str], edges: list[tuple[str, str, str]]):
        """``edges`` are (trigger, source, dest); source "*" means every state."""
        self.machine = Machine(
            model=None,
            states=states,
            transitions=[{"trigger": t, "source": s, "dest": d} for t, s, d in edges],
            initial=None,
            auto_transitions=False,
            send_event=False,
        )
        # A flat lookup table read off the built machine, so a turn costs dict look-ups.
        self._table: dict[tuple[str, str], str] = {}
        for trigger, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                if transitions:
                    self._table[(trigger, source)] = transitions[0].dest

    def resolve(self, source: str, trigger: str) -> str | None:
        return self._table.get((trigger, source))

    def edges(self) -> list[tuple[str, str, str]]:
        return [(source, trigger, dest) for (trigger, source), dest in self._table.items()]

    def successors(self, state: str) -> set[str]:
        return {dest for (_, source), dest in self._table.items() if source == state}
