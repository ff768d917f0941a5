"""LINE delivery: turns through the Messaging API (line-bot-sdk v3, async).

``LineChannel`` is the ``Channel`` the outbox sender calls, and makes the few other calls the
webhook needs (leave a group, the loading animation). Message building is in ``render.py``.

Delivery rules:

- A reply token is single use and valid for about a minute after LINE sent the event; while it
  is (``REPLY_TOKEN_TTL``, with a margin for the request itself) the turn goes as a reply, which
  is also free of LINE's monthly push quota. After that, or when LINE says the token is invalid
  (400 "Invalid reply token"), the same messages go by push with ``X-Line-Retry-Key`` set to the
  outbox row's retry key, so a retried push is delivered once (LINE answers 409 to a repeat).
- Except after an attempt whose outcome is unknown (``Outbound.may_have_arrived``: it timed out,
  got a 5xx, or its sender died): LINE refusing the token while it is still young
  (``REPLY_TOKEN_TTL``) means that attempt used it, so the row is sent; a push would say it twice.
- 429, 5xx, network errors and timeouts: ``DeliveryResult("retry", retry_after)``; the outbox
  retries with backoff. 5xx, timeouts and connections lost after sending may have reached LINE
  (``may_have_arrived``); 429 and a connection never made did not. A wrong access token (401/403) also retries, slowly, so nothing is lost
  while someone fixes the setting; other 4xx fail (the request itself is wrong).
- Loading animations never compete with replies: they have their own client and small pool
  (``LOADING_CONNECTIONS``), and are skipped while that pool is busy or LINE is slow. A request's
  timeout runs from when it is sent, not while it waits for a free connection (``SEND_TIMEOUT``).
- One client per process, built once. line-bot-sdk's aiohttp session trusts the environment,
  which makes aiohttp look up proxy variables and read ``~/.netrc`` on every request (about 30%
  of an echo bot's CPU, PLATFORMS.md); this channel gives the SDK a session that does not, and
  a bounded request timeout instead of the SDK's five minutes. Proxies are therefore not
  supported (none is needed to reach api.line.me from the platforms we deploy to).
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from bot.engine.model import Reply
from bot.envelope import DeliveryResult, Outbound

from .render import build_messages

if TYPE_CHECKING:
    from bot.engine.model import Flow
    from bot.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "line"
REPLY_TOKEN_TTL = 50.0          # seconds; LINE says "about a minute"; keep a margin
REQUEST_TIMEOUT = 10.0          # seconds per API call (the SDK's default is 300), once it is sent
CONNECT_TIMEOUT = 5.0           # seconds to open a new connection
CONNECTIONS = 32                # concurrent connections to the API for replies and pushes
LOADING_CONNECTIONS = 4         # ... and, apart, for loading animations
LOADING_TIMEOUT = 3.0           # an animation's answer (it is worth nothing once the reply is there)
SLOW_CALL = 2.0                 # a call taking longer says LINE is slow: no animations for SLOW_PAUSE
SLOW_PAUSE = 10.0
LOADING_DELAY = 1.0             # show the loading animation only when a turn takes longer
LOADING_SECONDS = 5             # LINE accepts 5..60, multiples of 5
MAX_PENDING_LOADING = 100       # people whose animation timer runs at once
LOADING_PER_SECOND = 10         # animations asked for per second at most: under a backlog they would
                                # take the API calls and the CPU the replies themselves need
AUTH_RETRY_AFTER = 60.0         # seconds, after a 401/403 (a bad or expired access token)
RETRY_KEY_NAMESPACE = uuid.UUID("5d0c3a4e-2f5b-4d7b-9a51-7c6f3f1a0b11")


def _timeout(read: float) -> aiohttp.ClientTimeout:
    """No ``total`` (it would include the wait for a free connection from the pool, which under a
    burst counted against the request itself); ``sock_read``: LINE's answer, from when it is sent."""
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=CONNECT_TIMEOUT, sock_read=read)


SEND_TIMEOUT = _timeout(REQUEST_TIMEOUT)
LOADING_REQUEST_TIMEOUT = _timeout(LOADING_TIMEOUT)


class _ReplyJSON(ReplyMessageRequest):
    """A reply request whose messages are already LINE JSON (built by ``line_messages``).

    The SDK's pydantic models cost 300-700 µs to build and serialise one turn with a Flex bubble
    and quick replies (measured; an echo's single text costs 50 µs). ``line_messages`` keeps
    LINE's limits itself and the contract tests check its output against messaging-api.yml,
    so the model only carries the JSON through the SDK's client unchanged.
    """

    def to_dict(self) -> dict:
        return {"replyToken": self.reply_token, "messages": self.messages}


class _PushJSON(PushMessageRequest):
    """A push request whose messages are already LINE JSON (see ``_ReplyJSON``)."""

    def to_dict(self) -> dict:
        return {"to": self.to, "messages": self.messages}


def _status_result(exc: ApiException) -> DeliveryResult:
    status = exc.status or 0
    reason = f"http_{status}"
    if status == 429 or status >= 500 or status == 0:
        # A 5xx may come after LINE accepted the request (seen: accept, then 500).
        return DeliveryResult("retry", _retry_after(exc), reason, may_have_arrived=status != 429)
    if status in (401, 403):
        return DeliveryResult("retry", AUTH_RETRY_AFTER, reason)
    return DeliveryResult("failed", None, reason)


def _retry_after(exc: ApiException) -> float | None:
    try:
        value = (exc.headers or {}).get("Retry-After")
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _is_invalid_reply_token(exc: ApiException) -> bool:
    body = exc.body or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return exc.status == 400 and "reply token" in body.lower()


def push_retry_key(retry_key: str) -> str:
    """A UUID for ``X-Line-Retry-Key``: the outbox row's key when it is one, else derived from it."""
    try:
        return str(uuid.UUID(retry_key))
    except (ValueError, AttributeError, TypeError):
        return str(uuid.uuid5(RETRY_KEY_NAMESPACE, str(retry_key)))


class LineChannel:
    """The LINE channel: ``deliver`` for the outbox, and the few calls the webhook needs."""

    name = CHANNEL

    def __init__(self, access_token: str, api_base_url: str = "https://api.line.me", *,
                 flow: Callable[[], "Flow"] | None = None, show_loading: bool = True):
        self._config = Configuration(access_token=access_token, host=api_base_url.rstrip("/"))
        self._flow = flow
        self.show_loading = show_loading
        self._api: AsyncMessagingApi | None = None
        self._client: AsyncApiClient | None = None
        self._loading_api: AsyncMessagingApi | None = None
        self._loading_client: AsyncApiClient | None = None
        self._loading_calls = 0          # animations asked for and not yet answered
        self._slow_until = 0.0           # time.monotonic() until which LINE counts as slow
        self._start_lock = asyncio.Lock()
        self._loading: dict[str, asyncio.TimerHandle] = {}
        self._loading_second = (0, 0)   # (second, animations asked for in it)
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def from_settings(cls, settings: "Settings", flow: Callable[[], "Flow"] | None = None,
                      show_loading: bool = True) -> "LineChannel":
        return cls(settings.line_channel_access_token.get_secret_value(), settings.line_api_base_url,
                   flow=flow, show_loading=show_loading)

    # ---- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the one API client of this process (idempotent; ``deliver`` calls it if needed)."""
        async with self._start_lock:
            if self._api is not None:
                return
            self._client = await self._new_client(CONNECTIONS, SEND_TIMEOUT)
            self._api = AsyncMessagingApi(self._client)
            self._loading_client = await self._new_client(LOADING_CONNECTIONS, LOADING_REQUEST_TIMEOUT)
            self._loading_api = AsyncMessagingApi(self._loading_client)

    async def _new_client(self, connections: int, timeout: aiohttp.ClientTimeout) -> AsyncApiClient:
        client = AsyncApiClient(self._config)
        rest = client.rest_client
        sdk_session = rest.pool_manager
        ctx = ssl.create_default_context(cafile=self._config.ssl_ca_cert)
        # Same connector as the SDK builds, but trust_env=False: no proxy/.netrc look-up per request.
        rest.pool_manager = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=ctx), trust_env=False, timeout=timeout)
        await sdk_session.close()
        return client

    async def close(self) -> None:
        for handle in self._loading.values():
            handle.cancel()
        self._loading.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in (self._client, self._loading_client):
            if client is not None:
                await client.close()
        self._client = self._api = self._loading_client = self._loading_api = None

    async def _messaging(self) -> AsyncMessagingApi:
        if self._api is None:
            await self.start()
        assert self._api is not None
        return self._api

    # ---- texts -------------------------------------------------------------------------------

    def text(self, locale: str | None, key: str) -> str:
        """A locale text (``shell.*`` or the flow's), in ``locale`` or the flow's default; "" if missing."""
        if self._flow is None:
            return ""
        flow = self._flow()
        text = flow.text(locale or flow.default_locale, key)
        return "" if text == key else text

    def _render(self, outbound: Outbound) -> list[dict]:
        meta = outbound.meta or {}
        locale = meta.get("locale")
        closed = ""
        if self._flow is not None and any(l.open_now is False for r in outbound.replies for l in r.links):
            closed = self.text(locale, self._flow().texts.closed_now)
        return build_messages(outbound.replies, meta.get("state"),
                              prompt=lambda: self.text(locale, "shell.line.choose"), closed_text=closed)

    # ---- delivery ----------------------------------------------------------------------------

    async def deliver(self, user_id: str, outbound: Outbound) -> DeliveryResult:
        """Send one outbox row: by reply while the token is fresh, else (or if LINE refuses it) by push."""
        self._cancel_loading(user_id)
        messages = self._render(outbound)
        if not messages:
            return DeliveryResult("sent", None, "empty")
        api = await self._messaging()
        token = outbound.reply_token
        if token and time.time() - outbound.received_at < REPLY_TOKEN_TTL:
            result = await self._reply(api, token, messages)
            if result is not None:
                return result
            # Refused while young (checked now, after the answer): used, not expired. After an
            # attempt whose outcome is unknown, that attempt used it.
            if outbound.may_have_arrived and time.time() - outbound.received_at < REPLY_TOKEN_TTL:
                log.info("line.reply_arrived_earlier")
                return DeliveryResult("sent", None, "reply_earlier")
        return await self._push(api, user_id, messages, push_retry_key(outbound.retry_key))

    async def _reply(self, api: AsyncMessagingApi, token: str, messages: list[dict]) -> DeliveryResult | None:
        """The result of a reply; None when LINE refused the token (used, or expired): push instead."""
        return await self._send("reply", api.reply_message(
            _ReplyJSON.construct(reply_token=token, messages=messages), _request_timeout=SEND_TIMEOUT))

    async def _push(self, api: AsyncMessagingApi, user_id: str, messages: list[dict], retry_key: str) -> DeliveryResult:
        result = await self._send("push", api.push_message(
            _PushJSON.construct(to=user_id, messages=messages), x_line_retry_key=retry_key,
            _request_timeout=SEND_TIMEOUT))
        assert result is not None  # only a reply can be refused
        return result

    async def _send(self, kind: str, call: Awaitable[Any]) -> DeliveryResult | None:
        started = time.monotonic()
        try:
            await call
        except ApiException as exc:
            if kind == "reply" and _is_invalid_reply_token(exc):
                log.info("line.reply_token_refused", extra={"status": exc.status})
                return None
            if kind == "push" and exc.status == 409:  # LINE already accepted a push with this retry key
                return DeliveryResult("sent", None, "push_duplicate")
            log.warning(f"line.{kind}_failed", extra={"status": exc.status})
            return _status_result(exc)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning(f"line.{kind}_failed", extra={"error": type(exc).__name__})
            # No connection made (refused, DNS, TLS, connect timeout): LINE never saw it.
            # Otherwise (a timeout, a connection lost mid-request) it may have.
            unsent = isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
            self._slow_until = time.monotonic() + SLOW_PAUSE
            return DeliveryResult("retry", None, "network", may_have_arrived=not unsent)
        finally:
            if time.monotonic() - started > SLOW_CALL:
                self._slow_until = time.monotonic() + SLOW_PAUSE
        return DeliveryResult("sent", None, kind)

    async def send_now(self, user_id: str | None, reply_token: str | None, received_at: float,
                       replies: tuple[Reply, ...], retry_key: str, locale: str | None = None) -> DeliveryResult:
        """Deliver outside the outbox: the safety message when the inbox is down, or to a group
        (``user_id`` None: by reply only, a group is never pushed to)."""
        outbound = Outbound(replies, reply_token, received_at, retry_key, "notice", {"locale": locale})
        if user_id is not None:
            return await self.deliver(user_id, outbound)
        if not reply_token:
            return DeliveryResult("failed", None, "no_reply_token")
        result = await self._reply(await self._messaging(), reply_token, self._render(outbound))
        return result or DeliveryResult("failed", None, "reply_token_refused")

    async def leave(self, kind: str, chat_id: str) -> bool:
        """Leave a group (``kind`` "group") or a room (``kind`` "room")."""
        api = await self._messaging()
        try:
            if kind == "group":
                await api.leave_group(chat_id, _request_timeout=SEND_TIMEOUT)
            else:
                await api.leave_room(chat_id, _request_timeout=SEND_TIMEOUT)
        except (ApiException, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("line.leave_failed", extra={"chat": kind, "status": getattr(exc, "status", None)})
            return False
        log.info("line.left", extra={"chat": kind})
        return True

    # ---- loading animation -------------------------------------------------------------------

    def expect_reply(self, user_id: str) -> None:
        """A turn for this person is on its way: show the loading animation if it is slow to come.

        LINE hides the animation when the bot's next message arrives, and shows it for at least
        five seconds otherwise; asking for it after the reply went out would leave a spinner
        with nothing behind it. So it is asked for only after ``LOADING_DELAY`` without a
        delivery to this person, and only where the sender runs in this process.
        """
        if not self.show_loading or user_id in self._loading or len(self._loading) >= MAX_PENDING_LOADING:
            return
        loop = asyncio.get_running_loop()
        self._loading[user_id] = loop.call_later(LOADING_DELAY, self._start_loading, user_id)

    def _cancel_loading(self, user_id: str) -> None:
        handle = self._loading.pop(user_id, None)
        if handle is not None:
            handle.cancel()

    def _start_loading(self, user_id: str) -> None:
        self._loading.pop(user_id, None)
        if self._loading_calls >= LOADING_CONNECTIONS or time.monotonic() < self._slow_until:
            return  # its pool is busy, or LINE is slow: the replies need LINE more than a spinner
        second, count = self._loading_second
        now = int(time.monotonic())
        if now != second:
            second, count = now, 0
        if count >= LOADING_PER_SECOND:
            return
        self._loading_second = (second, count + 1)
        self._loading_calls += 1
        self.spawn(self._show_loading(user_id))

    async def _show_loading(self, user_id: str) -> None:
        started = time.monotonic()
        try:
            await self._messaging()
            assert self._loading_api is not None
            await self._loading_api.show_loading_animation(
                ShowLoadingAnimationRequest(chatId=user_id, loadingSeconds=LOADING_SECONDS),
                _request_timeout=LOADING_REQUEST_TIMEOUT)
        except (ApiException, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.info("line.loading_failed", extra={"status": getattr(exc, "status", None)})
        finally:
            self._loading_calls -= 1
            if time.monotonic() - started > SLOW_CALL:
                self._slow_until = time.monotonic() + SLOW_PAUSE

    def spawn(self, coro: Any) -> asyncio.Task:
        """Run ``coro`` in the background, kept until done so that ``close`` can wait for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
