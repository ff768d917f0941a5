"""People writing to the bot through LINE's webhook, as LINE sends it: every event signed, one
chat's events one after another (the next only once the previous was acknowledged), and a
delivery that was not acknowledged with 2xx in time sent again with ``isRedelivery`` (same
``webhookEventId``, same reply token) after a pause that grows. What each person should get back
is what the engine itself answers to the same inputs (``expected_answers``)."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass, field

import aiohttp

from bot.channels.line.fake import make_text, new_user_id, sign, webhook_body
from bot.channels.line.render import build_messages
from bot.engine import UserInput, load_bundle, step

from .stack import ROOT, SECRET, Stack

# A story first, then numbers for the choices shown (as scale_test.py).
SCRIPT = ["インスタで知り合った人に動画を送ったら学校にばらすって言われた", "1", "1", "2", "1", "1", "3", "1", "2", "1",
          "1", "2", "1", "1", "2"]
LINE_TIMEOUT = 2.0                 # seconds LINE waits for the acknowledgement
REDELIVERY_PAUSES = (1.0, 2.0, 4.0)  # then every 4 s: shorter than LINE's, so that a scenario stays short


def texts(messages: list[dict]) -> tuple[str, ...]:
    """What a turn says, as compared: its text messages (as scale_test.py compares)."""
    return tuple(m.get("text", "") for m in messages if m.get("type") == "text")


def expected_answers(turns: int) -> list[tuple[str, ...]]:
    """The engine's answer to each input of the script, in order (the same for everyone)."""
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", dt.date.today())
    flow = bundle.flow()
    now = dt.datetime.now(dt.timezone.utc)
    session, out = None, []
    for t in range(turns):
        turn = step(flow, session, UserInput.typed(SCRIPT[t % len(SCRIPT)]), now)
        session = turn.session
        out.append(texts(build_messages(turn.replies, turn.session.state)))
    return out


@dataclass
class Sent:
    """One event: when it was first sent, when the bot acknowledged it, how often it was refused."""
    user: str
    turn: int
    event_id: str = ""
    token: str = ""
    first_sent: float = 0.0
    acked_at: float | None = None
    attempts: int = 0
    refused: int = 0


@dataclass
class Load:
    stack: Stack
    users: int
    turns: int
    seconds: float                       # how long the writing lasts, about
    give_up_after: float = 120.0         # stop redelivering an event this long after it was first sent
    people: list[str] = field(default_factory=list)
    events: dict[str, list[Sent]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.people = [new_user_id() for _ in range(self.users)]
        self.events = {u: [] for u in self.people}

    async def run(self) -> None:
        gap = self.seconds / self.turns
        timeout = aiohttp.ClientTimeout(total=LINE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
            await asyncio.gather(*(self._person(http, u, random.uniform(0, gap), gap) for u in self.people))

    async def _person(self, http: aiohttp.ClientSession, user: str, offset: float, gap: float) -> None:
        await asyncio.sleep(offset)
        for t in range(self.turns):
            started = time.monotonic()
            sent = Sent(user, t)
            self.events[user].append(sent)
            if not await self._until_acked(http, sent):
                return   # LINE gave up on this event; the person's next ones would come out of order
            await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))

    async def _until_acked(self, http: aiohttp.ClientSession, sent: Sent) -> bool:
        token = self.stack.line.issue_reply_token(sent.user)
        event = make_text(sent.user, SCRIPT[sent.turn % len(SCRIPT)], reply_token=token)
        sent.event_id, sent.token, sent.first_sent = event["webhookEventId"], token, time.time()
        give_up = time.monotonic() + self.give_up_after
        while True:
            event["deliveryContext"] = {"isRedelivery": sent.attempts > 0}
            body = webhook_body([event])
            headers = {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": sign(SECRET, body),
                       "User-Agent": "LineBotWebhook/2.0"}
            sent.attempts += 1
            try:
                async with http.post(f"http://127.0.0.1:{self.stack.web.port}/line/webhook", data=body,
                                     headers=headers) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        sent.acked_at = time.time()
                        return True
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            sent.refused += 1
            if time.monotonic() > give_up:
                return False
            await asyncio.sleep(REDELIVERY_PAUSES[min(sent.refused, len(REDELIVERY_PAUSES)) - 1])

