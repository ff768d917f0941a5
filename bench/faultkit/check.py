"""Each person's answers against the engine's, and the one line a scenario prints."""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.channels.line.fake import LineStandIn

from .load import Load, texts

GOAL_WAIT = 10.0   # seconds: every answer within this long of the fault ending


@dataclass
class Result:
    name: str
    sent: int = 0
    acked: int = 0
    refused: int = 0          # webhook deliveries not acknowledged with 2xx in time (each attempt)
    answered: int = 0
    by_push: int = 0
    lost: int = 0             # acknowledged, never answered
    duplicated: int = 0       # an answer received more often than the engine gave it
    out_of_order: int = 0     # an answer received after the answer to a later message
    notices: int = 0          # messages that answer no input (the safety message while the database is down)
    longest_wait: float = 0.0  # seconds from acknowledgement (or the fault's end, if later) to answer
    skipped: str = ""
    error: str = ""           # the scenario itself broke (its figures mean nothing)
    problems: list[str] = field(default_factory=list)
    timelines: dict[str, dict] = field(default_factory=dict)   # per person: what was sent and received, for the logs

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or (not self.error and self.lost == 0 and self.duplicated == 0 and self.out_of_order == 0
                                      and self.acked == self.sent and self.longest_wait <= GOAL_WAIT)

    def line(self) -> str:
        if self.skipped:
            return f"{self.name:<24} skipped: {self.skipped}"
        if self.error:
            return f"{self.name:<24} ERROR {self.error}"
        return (f"{self.name:<24} {'ok  ' if self.ok else 'MISS'} sent {self.sent} acknowledged {self.acked} "
                f"refused {self.refused} answered {self.answered} (by push {self.by_push}) lost {self.lost} "
                f"duplicated {self.duplicated} out of order {self.out_of_order} notices {self.notices} "
                f"longest wait after the fault {self.longest_wait:.1f} s")


def check(name: str, load: Load, line: LineStandIn, expected: list[tuple[str, ...]], fault_end: float) -> Result:
    """Match each person's deliveries, in the order LINE accepted them, to the answers the engine
    gives to the messages the bot acknowledged. A reply answers the event its token came with; a
    push takes the first answer not yet received that equals it, among the messages already sent
    by then (the engine repeats itself: a late copy of turn 2's answer must not pass for the answer
    to turn 13, not written yet, and turn 3 then for out of order). A delivery that finds no
    unreceived answer is a duplicate when it equals one of the engine's answers, else a notice
    (the safety message while the database is down)."""
    r = Result(name)
    answer_set = set(expected)
    for person, (user, events) in enumerate(load.events.items()):
        r.sent += len(events)
        r.refused += sum(e.refused for e in events)
        acked = [e for e in events if e.acked_at is not None]
        r.acked += len(acked)
        want = [expected[e.turn] for e in acked]
        got_at: list[float | None] = [None] * len(want)
        latest = -1
        received = []
        by_token = {e.token: i for i, e in enumerate(acked)}
        for d in line.delivered_to(user):
            said = texts(d.messages)
            if d.reply_token in by_token:
                j = by_token[d.reply_token]
                j = j if want[j] == said and got_at[j] is None else None
            else:
                j = next((i for i, w in enumerate(want)
                          if w == said and got_at[i] is None and acked[i].first_sent <= d.at), None)
            if j is None:
                duplicate = said in answer_set
                r.duplicated += duplicate
                r.notices += not duplicate
                received.append((round(d.at - fault_end, 2), d.kind, "duplicate" if duplicate else "notice"))
                continue
            got_at[j] = d.at
            r.answered += 1
            r.by_push += d.kind == "push"
            if j < latest:
                r.out_of_order += 1
            latest = max(latest, j)
            r.longest_wait = max(r.longest_wait, d.at - max(acked[j].acked_at, fault_end))
            received.append((round(d.at - fault_end, 2), d.kind, j))
        r.lost += sum(1 for t in got_at if t is None)
        # Times in seconds from the fault's end; the person is a number, never the user id.
        r.timelines[f"person{person}"] = {
            "sent": [(e.turn, round(e.first_sent - fault_end, 2), e.acked_at and round(e.acked_at - fault_end, 2),
                      e.refused) for e in events],
            "received": received}
    orphans = sum(1 for d in line.deliveries if d.user not in load.events)
    if orphans:
        r.problems.append(f"{orphans} deliveries to nobody who wrote")
        r.duplicated += orphans
    return r
