"""The fault suite's harness (``bench/faults.py``) counts what it says: a tiny run of the real
server against a stand-in LINE that doubles one message finds exactly that one duplicate, and
the check itself tells lost, duplicated, out-of-order answers and notices apart."""
from __future__ import annotations

from bench.faultkit.check import check
from bench.faultkit.load import Load, Sent
from bench.faultkit.scenarios import Options, Scenario, run_scenario
from bot.channels.line.fake import Delivery, LineStandIn


class DoublingStandIn(LineStandIn):
    """LINE that delivers the first message it accepts twice (as a bot that sent it twice)."""

    def record_delivery(self, *args) -> None:
        super().record_delivery(*args)
        if len(self.deliveries) == 1:
            super().record_delivery(*args)


async def test_a_tiny_run_on_the_real_server_finds_the_one_doubled_message(tmp_path):
    tiny = Scenario("tiny", "no fault", "sqlite", False, None, 0.0, fault_at=0.0, after=2.0)
    opts = Options(users=2, seconds_per_turn=0.5, drain=20.0, logs=tmp_path, line_factory=DoublingStandIn)
    r = await run_scenario(tiny, opts)
    assert r.sent == r.acked == r.answered == 8, r.line()
    assert (r.duplicated, r.lost, r.out_of_order, r.notices) == (1, 0, 0, 0), r.line()
    assert not r.ok and "duplicated 1 " in r.line()


def _load(turns: int) -> Load:
    load = Load(stack=None, users=1, turns=turns, seconds=1.0)
    [user] = load.people
    load.events[user] = [Sent(user, t, acked_at=100.0 + t) for t in range(turns)]
    return load


def _delivered(line: LineStandIn, user: str, *answers: str, at: float = 110.0, kind: str = "reply") -> None:
    for i, text in enumerate(answers):
        line.deliveries.append(Delivery(kind, user, [{"type": "text", "text": text}], at + i))


def test_the_check_tells_duplicates_losses_disorder_and_notices_apart():
    expected = [("a",), ("b",), ("c",), ("d",)]
    load, line = _load(4), LineStandIn()
    [user] = load.people
    # b before a (one out of order), a again (a duplicate), a text that answers nothing, no d
    _delivered(line, user, "b", "a", "a", "safety", "c")
    r = check("x", load, line, expected, fault_end=0.0)
    assert (r.answered, r.duplicated, r.out_of_order, r.notices, r.lost) == (3, 1, 1, 1, 1)


def test_the_wait_counts_from_the_fault_end_when_the_ack_came_before_it():
    expected = [("a",), ("b",)]
    load, line = _load(2), LineStandIn()
    [user] = load.people
    _delivered(line, user, "a", at=130.0)            # acked at 100, fault over at 120: waited 10 s
    _delivered(line, user, "b", at=135.0, kind="push")  # acked at 101: waited 15 s
    r = check("x", load, line, expected, fault_end=120.0)
    assert (r.answered, r.by_push, r.lost) == (2, 1, 0)
    assert r.longest_wait == 15.0 and not r.ok


def test_a_late_copy_of_an_answer_the_engine_repeats_later_is_a_duplicate_not_disorder():
    expected = [("a",), ("b",), ("c",), ("a",)]   # the engine says "a" again at turn 3
    load, line = _load(4), LineStandIn()
    [user] = load.people
    for t, e in enumerate(load.events[user]):
        e.first_sent = 100.0 + 10 * t
    _delivered(line, user, "a", at=101.0)
    _delivered(line, user, "b", at=111.0)
    _delivered(line, user, "a", at=115.0, kind="push")   # before turn 3 was written: a copy of turn 0's
    _delivered(line, user, "c", at=121.0)
    _delivered(line, user, "a", at=131.0)
    r = check("x", load, line, expected, fault_end=0.0)
    assert (r.answered, r.duplicated, r.out_of_order, r.lost) == (4, 1, 0, 0)


def test_a_reply_is_the_answer_to_its_own_event_whatever_came_before_it():
    expected = [("a",), ("b",), ("a",)]
    load, line = _load(3), LineStandIn()
    [user] = load.people
    first, _, third = load.events[user]
    first.token, third.token = "t0", "t2"
    line.deliveries.append(Delivery("reply", user, [{"type": "text", "text": "a"}], 101.0, "t0"))
    line.deliveries.append(Delivery("push", user, [{"type": "text", "text": "a"}], 102.0))   # a copy of turn 0's
    _delivered(line, user, "b", at=103.0, kind="push")
    line.deliveries.append(Delivery("reply", user, [{"type": "text", "text": "a"}], 104.0, "t2"))
    r = check("x", load, line, expected, fault_end=0.0)
    assert (r.answered, r.duplicated, r.out_of_order, r.lost, r.by_push) == (3, 1, 0, 0, 1)


def test_a_pushed_copy_of_an_answer_is_a_duplicate_even_when_a_later_message_gets_the_same_answer():
    # turns 0 and 1 answered by reply; then by push: a copy of turn 1's answer, turn 2's, turn 3's
    # (which the engine words as turn 1's): one duplicate, nothing out of order
    expected = [("a",), ("b",), ("c",), ("b",)]
    load, line = _load(4), LineStandIn()
    [user] = load.people
    for t, e in enumerate(load.events[user][:2]):
        e.token = f"t{t}"
        line.deliveries.append(Delivery("reply", user, [{"type": "text", "text": "ab"[t]}], 101.0 + t, e.token))
    _delivered(line, user, "b", "c", "b", at=110.0, kind="push")
    r = check("x", load, line, expected, fault_end=0.0)
    assert (r.answered, r.duplicated, r.out_of_order, r.lost, r.by_push) == (4, 1, 0, 0, 2)
