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


def _assign(want: list, acked: list, deliveries: list) -> list[int | None]:
    """Which answer each delivery is (an index into ``want``), or None.

    A reply is the answer to the event whose token it used. A push, in the order LINE accepted
    them, is the earliest answer still missing (among the messages written by then) when it says
    that; else, when it says what an answer already received said, a copy of it (a duplicate);
    else the first missing answer it equals, further on (out of order). The engine repeats itself
    (turn 2 and turn 13 get the same text): a late copy of turn 2's answer must not pass for turn
    13's, or the answers to turns 3 to 12 would all count as out of order. Where a push could be
    either, it is counted as the duplicate: deliveries to one person go in order by design, and
    a copy is the known way for them to go wrong."""
    by_token = {e.token: i for i, e in enumerate(acked)}
    taken: list[int | None] = [None] * len(deliveries)
    claimed: set[int] = set()
    for n, d in enumerate(deliveries):
        j = by_token.get(d.reply_token)
        if j is not None and j not in claimed and want[j] == texts(d.messages):
            taken[n] = j
            claimed.add(j)
    for n, d in enumerate(deliveries):
        if taken[n] is not None or d.reply_token in by_token:
            continue
        said = texts(d.messages)
        missing = [i for i in range(len(want)) if i not in claimed and acked[i].first_sent <= d.at]
        if missing and want[missing[0]] == said:
            j = missing[0]
        elif any(want[i] == said for i in claimed):
            continue
        else:
            j = next((i for i in missing if want[i] == said), None)
        if j is not None:
            taken[n] = j
            claimed.add(j)
    return taken


def check(name: str, load: Load, line: LineStandIn, expected: list[tuple[str, ...]], fault_end: float) -> Result:
    """Each person's deliveries, in the order LINE accepted them, against the answers the engine
    gives to the messages the bot acknowledged (``_assign``). A delivery that is no missing answer
    is a duplicate when it equals one of the engine's answers, else a notice (the safety message
    while the database is down)."""
    r = Result(name)
    answer_set = set(expected)
    for person, (user, events) in enumerate(load.events.items()):
        r.sent += len(events)
        r.refused += sum(e.refused for e in events)
        acked = [e for e in events if e.acked_at is not None]
        r.acked += len(acked)
        want = [expected[e.turn] for e in acked]
        deliveries = line.delivered_to(user)
        latest, received, answered = -1, [], 0
        for d, j in zip(deliveries, _assign(want, acked, deliveries)):
            if j is None:
                duplicate = texts(d.messages) in answer_set
                r.duplicated += duplicate
                r.notices += not duplicate
                received.append((round(d.at - fault_end, 2), d.kind, "duplicate" if duplicate else "notice"))
                continue
            answered += 1
            r.by_push += d.kind == "push"
            if j < latest:
                r.out_of_order += 1
            latest = max(latest, j)
            r.longest_wait = max(r.longest_wait, d.at - max(acked[j].acked_at, fault_end))
            received.append((round(d.at - fault_end, 2), d.kind, j))
        r.answered += answered
        r.lost += len(want) - answered
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
