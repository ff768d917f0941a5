"""The turn planner (``bot.turns.plan``) is pure: every rule of a turn is checked here without a
database, on the mini flow. The writer and the hooks are checked end to end in
tests/test_runtime*.py and tests/handoff/."""
import dataclasses
from types import SimpleNamespace

import pytest

from bot.engine import HUMAN_CHOICE_ID
from bot.envelope import InboundEvent
from bot.reload import BundleHolder
from bot.turns.plan import BACK_TO_BOT, ENGINE, LEAVE, RELAY, Limits, handoff_route, leaves_queue, plan_turn, utc
from bot.engine import step
from tests.conftest import MINI

NOW = 1_700_000_000.0
TZ = "Asia/Tokyo"


@pytest.fixture(scope="module")
def flow():
    return BundleHolder(MINI / "flows", MINI / "locales", "mini").flow


def ev(kind="text", text="", choice="", origin=None):
    return InboundEvent("web", "e1", "U1", kind, text=text, choice=choice, origin=origin)


def conv(in_handoff=False, last_active_at=NOW - 60):
    return SimpleNamespace(id="c" * 32, in_handoff=in_handoff, last_active_at=last_active_at)


def handoff(status="queued"):
    return SimpleNamespace(id="h" * 32, status=status)


def at(flow, state, *moves):
    """A session that reached ``state`` (through the engine, as a person would)."""
    session = step(flow, None, ev("start").to_input(), utc(NOW - 120)).session
    for m in moves:
        session = step(flow, session, m.to_input(), utc(NOW - 90)).session
    assert session.state == state
    return session


def plan(flow, event, c=None, session=None, h=None, limits=None):
    return plan_turn(flow, 7, "p" * 64, event, c, session, h, NOW, limits or Limits(TZ))


def test_a_first_message_plans_a_new_conversation_its_reply_and_the_days_figure(flow):
    p = plan(flow, ev("start"))
    assert p.new_conversation and len(p.conversation_id) == 32
    assert p.session.state == "welcome"
    [(cid, out)] = p.replies
    assert cid == p.conversation_id and out.replies[0].key == "welcome.hello" and out.meta["inbox_id"] == 7
    assert p.figures == {("2023-11-15", "conversations"): 1.0, ("2023-11-15", "reached:welcome"): 1.0}
    # The same day again: no second "conversations", and a tag already reached counts once.
    again = plan(flow, ev("start"), conv(last_active_at=NOW - 60), p.session)
    assert again.figures == {} and not again.new_conversation
    assert (p.open_handoff, p.relay, p.leave, p.forget, p.in_handoff) == (None, None, None, None, None)
    assert p.hooks() == []


def test_asking_for_a_person_opens_a_handoff_with_the_context_and_no_identity(flow):
    session = at(flow, "welcome")
    p = plan(flow, ev("tap", choice="person"), conv(), session)
    assert not p.new_conversation and p.conversation_id == "c" * 32
    assert p.in_handoff is True and p.open_handoff is not None
    assert p.open_handoff.context["state"] == "person" and "U1" not in str(p.open_handoff.context)
    assert ("2023-11-15", "asked_person") in p.figures
    assert p.hooks() == [("on_queued", p.open_handoff.id)]


def test_a_full_address_gets_no_handoff_but_the_refusal_and_the_bot_goes_on(flow):
    session = at(flow, "welcome")
    limits = Limits(TZ, may_open_handoff=False, safety_text=lambda locale: "SAFE")
    p = plan(flow, ev("tap", choice="person", origin="o1"), conv(), session, limits=limits)
    assert p.refused and p.open_handoff is None and p.in_handoff is None
    keys = [r.key for _, out in p.replies for r in out.replies]
    assert keys[0] == "shell.safety_message" and "welcome.hello" in keys
    assert p.session.state == flow.handoff_return
    # Without an address (LINE, Discord) the limit does not apply.
    assert plan(flow, ev("tap", choice="person"), conv(), session, limits=limits).open_handoff is not None


def test_during_a_handoff_a_message_goes_to_the_transcript_and_the_engine_does_not_run(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    p = plan(flow, ev("text", "hello there"), conv(in_handoff=True), session, handoff())
    assert p.matched is None and p.replies == [] and p.session == session
    assert (p.relay.text, p.relay.is_crisis, p.relay.bot_text) == ("hello there", False, None)
    assert p.hooks() == [("on_person_message", "h" * 32, "hello there", False, None)]


def test_crisis_words_during_a_handoff_mark_the_handoff_and_the_session(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    words = next(t for t in ("死にたい", "I want to die", "消えたい") if any(
        it.name == "crisis" for it in flow.matching_interrupts(t)))
    p = plan(flow, ev("text", words), conv(in_handoff=True), session, handoff("live"))
    assert p.relay.is_crisis and "crisis" in p.session.risk
    assert p.hooks() == [("on_person_message", "h" * 32, words, True, None)]


def test_an_image_during_a_handoff_is_never_taken_and_gets_the_fixed_answer(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    p = plan(flow, ev("media"), conv(in_handoff=True), session, handoff())
    assert p.relay.text == "[media]" and p.relay.bot_text
    [(_, out)] = p.replies
    assert out.replies[0].key == flow.texts.media and out.replies[0].text == p.relay.bot_text


def test_a_tap_on_the_human_states_own_choice_while_queued_leaves_the_queue_and_the_bot_answers(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    p = plan(flow, ev("tap", choice="back"), conv(in_handoff=True), session, handoff())
    assert p.leave == "h" * 32 and p.in_handoff is False and p.relay is None
    assert p.session.state == "welcome" and p.hooks() == [("on_closed", "h" * 32, "person_left")]
    # Once a counsellor has it, the same tap is for the counsellor.
    live = plan(flow, ev("tap", choice="back"), conv(in_handoff=True), session, handoff("live"))
    assert live.leave is None and live.relay.text == "[back]"


def test_the_back_to_the_bot_button_leaves_the_queue_and_the_bot_picks_up_where_a_counsellor_hands_back(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    p = plan(flow, ev("tap", choice=BACK_TO_BOT), conv(in_handoff=True), session, handoff())
    assert p.leave == "h" * 32 and p.in_handoff is False
    assert p.session.state == flow.handoff_return
    assert [r.key for _, out in p.replies for r in out.replies][0] == "welcome.hello"


def test_forget_me_during_a_handoff_forgets_and_answers_under_an_id_that_links_to_nothing(flow):
    session = at(flow, "person", ev("tap", choice="person"))
    words = "forget me"
    assert handoff_route(flow, session, "live", ev("text", words)) == ENGINE
    p = plan(flow, ev("text", words), conv(in_handoff=True), session, handoff("live"))
    assert p.forget == "flow" and p.session is None and p.figures == {}
    [(cid, out)] = p.replies
    assert cid != "c" * 32 and out.replies[0].key == "forget.done"
    assert p.hooks() == [("on_closed", "h" * 32, "forgotten")]


def test_an_unfollow_forgets_at_once_and_sends_nothing(flow):
    p = plan(flow, ev("forget"), conv(in_handoff=True), at(flow, "welcome"), handoff())
    assert p.forget == "unfollow" and p.replies == [] and p.session is None and p.matched is None
    assert plan(flow, ev("forget")).forget == "unfollow"  # someone never seen: their tombstones only


def test_the_one_rule_for_leaving_the_queue(flow):
    assert leaves_queue(flow, "queued", None, "ja", "", BACK_TO_BOT)
    assert leaves_queue(flow, "queued", None, "ja", f"  {BACK_TO_BOT.upper()} ", None)  # the button's words typed
    assert leaves_queue(flow, "queued", "person", "ja", "", "back")
    assert not leaves_queue(flow, "queued", "person", "ja", "", HUMAN_CHOICE_ID)  # asks for a person again
    assert not leaves_queue(flow, "queued", "welcome", "ja", "", "back")          # not the human state's
    assert not leaves_queue(flow, "live", None, "ja", "", BACK_TO_BOT)            # a counsellor has it
    assert not leaves_queue(flow, "queued", None, "ja", "hello", None)
    assert handoff_route(flow, None, None, ev("text", "hi")) == LEAVE               # the handoff is gone
    assert handoff_route(flow, None, "queued", ev("text", "hi")) == RELAY


def test_a_text_the_bot_reads_is_kept_numbered_a_tap_is_not_and_an_expired_session_starts_afresh(flow):
    c = SimpleNamespace(id="c" * 32, in_handoff=False, last_active_at=NOW - 60, said_count=4)
    session = at(flow, "welcome")
    p = plan(flow, ev("text", "写真を晒すと言われた"), c, session)
    assert (p.said, p.said_count, p.said_reset) == ("写真を晒すと言われた", 5, False)
    tap = plan(flow, ev("tap", choice="threatened"), c, session)
    assert (tap.said, tap.said_count, tap.said_reset) == (None, 4, False)
    first = plan(flow, ev("text", "こんにちは"))
    assert (first.said, first.said_count, first.said_reset) == ("こんにちは", 1, False)
    # Past the flow's expiry the engine starts a new session: what was kept goes.
    stale = dataclasses.replace(session, last_active_at=NOW - flow.expiry_seconds - 60,
                                started_at=NOW - flow.expiry_seconds - 120)
    again = plan(flow, ev("text", "また来た"), c, stale)
    assert (again.said, again.said_count, again.said_reset) == ("また来た", 5, True)


def test_relayed_text_is_the_transcripts_and_crisis_words_while_waiting_are_a_trigger(flow):
    session = at(flow, "welcome")
    p = plan(flow, ev("text", "もう死にたい"), conv(in_handoff=True), session, handoff())
    assert p.said is None and p.relay.is_crisis
    assert p.relay.trigger == ("relay:crisis", "welcome", "死にたい") and p.session.triggers == (p.relay.trigger,)
    calm = plan(flow, ev("text", "まだですか"), conv(in_handoff=True), session, handoff())
    assert calm.relay.trigger is None and calm.session.triggers == ()
