"""Telegram: commands in, digests out, through python-telegram-bot (long polling).

Turns Telegram updates into core `CommandRequest`s, decides who is a chat admin, and delivers the
core's digests as HTML messages (plus a Markdown file for long digests) within Telegram's limits:
about 30 messages/s overall, 20/min into one group, 1/s into one chat, and a 429's `retry_after`.

Updates of one chat are handled in the order they arrived (a `/start` then `/subscribe` must not
race); different chats are handled concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    ChatMember,
    ChatMemberUpdated,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    BaseRateLimiter,
    BaseUpdateProcessor,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.markdown_output import render_markdown
from adapters.telegram.format import (
    TelegramMessage,
    digest_file_name,
    render_digest,
    render_empty_day,
    render_file_caption,
    render_plain_text,
    telegram_length,
)
from bot.channels import ChannelRegistry
from bot.commands.service import ADMIN_ONLY_MESSAGE, CommandService
from bot.commands.table import COMMANDS
from bot.commands.values import CommandReply, CommandRequest
from bot.models import Channel, Digest
from bot.platforms import (
    AdapterServices,
    AdapterStartupError,
    ChannelGoneError,
    ChannelMovedError,
    DeliveryError,
    OutgoingMessage,
    TemporaryDeliveryError,
    connect_with_retries,
)
from bot.ports import Store
from bot.retry import STARTUP_BACKOFF, Backoff, RetryableError, is_unreachable
from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CONFIG_FILE = 256 * 1024
ADMIN_CACHE_SECONDS = 60.0
ADMIN_CACHE_SIZE = 10_000
MAX_CONCURRENT_UPDATES = 64
STOP_GRACE = 1.5  # seconds the commands in hand may take to answer once stopping; then they are cut off
API_HINT = "check TELEGRAM_API_URL"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_RATE_LIMITED_ENDPOINTS = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "editMessageText",
    "copyMessage",
    "forwardMessage",
}
_ADMIN_ONLY = frozenset(info.name for info in COMMANDS if info.admin_only)
_KNOWN_COMMANDS = frozenset(info.name for info in COMMANDS)
# A 400 that means the bot cannot post into the chat at all (deleted, or its rights were taken away).
_GONE_PHRASES = (
    "chat not found",
    "peer_id_invalid",
    "group chat was deactivated",
    "chat_write_forbidden",
    "not enough rights to send",
    "have no rights to send",
    "need administrator rights",
    "chat_restricted",
)
# Bot API URLs carry the token: /bot<id>:<secret>/method and /file/bot<id>:<secret>/path.
_TOKEN_IN_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")


def _opt_into_timedelta() -> None:
    """Make python-telegram-bot 22 report durations as timedeltas.

    Without `PTB_TIMEDELTA`, merely constructing a `RetryAfter` (which the library does on every
    429) emits a PTBDeprecationWarning. The library reads the variable at each use. It is set when
    this module is imported (before any of the library's objects exist) and again whenever an
    adapter is built, in case something (a test's monkeypatch) removed it meanwhile; an explicit
    setting by the operator is left alone.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "true")


_opt_into_timedelta()


def _retry_seconds(error: RetryAfter) -> float:
    """A RetryAfter's wait in seconds (a timedelta with PTB_TIMEDELTA on, an int without)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def api_urls(api_url: str) -> tuple[str, str]:
    """(base_url, base_file_url) for python-telegram-bot from TELEGRAM_API_URL.

    TELEGRAM_API_URL is the server's root (`https://api.telegram.org`, or a self-hosted Bot API
    server); a URL that already ends in `/bot` (the form `ApplicationBuilder.base_url` takes) is
    accepted too.
    """
    root = api_url.rstrip("/").removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


class TokenRedactingFilter(logging.Filter):
    """Replaces the bot token in log records of the HTTP libraries (httpx logs every request URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def _scrub(self, text: str) -> str:
        """The text with the token (and any /bot<token> URL part) replaced."""
        return _TOKEN_IN_URL.sub(r"\1<token>", text.replace(self._token, "<token>"))

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


class QuietJsonErrorFilter(logging.Filter):
    """python-telegram-bot logs a non-JSON answer at ERROR with a traceback and the whole page.

    The adapter says what happened in one line itself ("answered with an HTML page …"), so the
    library's record is kept only for DEBUG logs, as one short line without the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Shorten (and, unless debugging, drop) the library's "Can not load invalid JSON data"."""
        if not str(record.msg).startswith("Can not load invalid JSON data"):
            return True
        record.msg = " ".join(record.getMessage().split())[:200]
        record.args = None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _guard_logs(token: str) -> None:
    """Keep the token out of the log lines that would carry it.

    httpx logs each request URL at INFO, and python-telegram-bot's Bot logs its API URLs at DEBUG
    when it is built. The CLI also sets httpx to WARNING; these filters hold whatever the logging
    configuration is. (httpcore logs no URLs.)
    """
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TokenRedactingFilter) for existing in logger.filters):
            logger.addFilter(TokenRedactingFilter(token))
    requests = logging.getLogger("telegram.request.BaseRequest")
    if not any(isinstance(existing, QuietJsonErrorFilter) for existing in requests.filters):
        requests.addFilter(QuietJsonErrorFilter())


# -- rate limiting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published limits; `padding` seconds are added to every window as a safety margin.

    The limiter counts windows from completions (see `TelegramRateLimiter`), which already leaves a
    round trip of slack, so the padding only needs to cover clock granularity. A count of 0 turns
    that limit off (tests that are not about limits).
    """

    overall_per_second: int = 30
    group_per_minute: int = 20
    chat_interval: float = 1.0
    padding: float = 0.02
    max_retries: int = 5

    @property
    def overall_window(self) -> float:
        """The window in which at most `overall_per_second` requests may reach Telegram."""
        return 1.0 + self.padding

    @property
    def overall_spacing(self) -> float:
        """Seconds between two request starts at the overall limit (an even pace, no bursts)."""
        return self.overall_window / self.overall_per_second if self.overall_per_second > 0 else 0.0


class _Slot:
    """One request in the overall window: pending until it completes, then stamped with that time."""

    __slots__ = ("done", "finished")

    def __init__(self) -> None:
        self.finished: float | None = None
        self.done = asyncio.Event()

    def finish(self, at: float) -> None:
        """The request is over (answered or failed)."""
        self.finished = at
        self.done.set()


class TelegramRateLimiter(BaseRateLimiter[int]):
    """Throttles every sending request so Telegram never has to answer 429; honours one if it does.

    Windows are counted from when a request *completed*, not when it was sent: Telegram saw it at
    some moment in between, so measuring from the completion can never under-count, however the
    network or a busy event loop delayed it. A request still in flight counts as in the window.

    - one chat: its requests run one at a time (in arrival order), each at least `chat_interval`
      (+ padding) after the previous one completed; a group's also at most `group_per_minute` per
      60 s (+ padding);
    - overall: at most `overall_per_second` requests per 1 s (+ padding), started at an even pace;
    - a 429 that still happens pauses that chat for its `retry_after` and the request is retried
      (up to `max_retries` times).
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._overall: list[_Slot] = []  # the requests that may still count in the overall window
        self._overall_lock = asyncio.Lock()  # requests take overall slots in arrival order
        self._last_start = -math.inf
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._chat_users: dict[str, int] = {}
        self._chat_done: dict[str, float] = {}  # when each chat's last request completed
        self._group_done: dict[str, deque[float]] = {}  # completions per group, last minute
        self._paused_until: dict[str, float] = {}  # a 429's retry_after, per chat
        self.waited = 0.0  # total seconds requests were held back, for reports
        self.retry_after_count = 0  # 429s Telegram answered despite the throttling

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    @staticmethod
    def is_group(chat: str) -> bool:
        """Groups, supergroups and channels (negative ids or @names) have the per-minute limit."""
        return chat.startswith(("-", "@"))

    async def _pause(self, seconds: float) -> None:
        """Sleep, and count it."""
        if seconds > 0:
            self.waited += seconds
            await self._sleep(seconds)

    def chat_ready_at(self, chat: str) -> float:
        """The earliest start of the chat's next request (its previous ones are all complete)."""
        limits = self.limits
        ready = max(
            self._chat_done.get(chat, -math.inf) + limits.chat_interval + limits.padding,
            self._paused_until.get(chat, -math.inf),
        )
        stamps = self._group_done.get(chat)
        if stamps is not None and limits.group_per_minute > 0:
            window = 60.0 + limits.padding
            while stamps and stamps[0] <= self._clock() - window:
                stamps.popleft()
            if len(stamps) >= limits.group_per_minute:
                ready = max(ready, stamps[-limits.group_per_minute] + window)
        return ready

    async def _wait_for_chat(self, chat: str) -> None:
        """Wait until the chat's own limits allow one more request."""
        while (wait := self.chat_ready_at(chat) - self._clock()) > 0:
            await self._pause(wait)

    async def _take_overall_slot(self) -> _Slot:
        """Wait for room in the overall window and the pace, then hold a slot until `finish`."""
        limits = self.limits
        if limits.overall_per_second <= 0:
            return _Slot()
        window = limits.overall_window
        async with self._overall_lock:
            while True:
                now = self._clock()
                self._overall = [
                    slot for slot in self._overall if slot.finished is None or slot.finished > now - window
                ]
                ready = self._last_start + limits.overall_spacing
                if len(self._overall) >= limits.overall_per_second:
                    finished = [slot.finished for slot in self._overall if slot.finished is not None]
                    if not finished:  # every slot is in flight: wait for the oldest to complete
                        await self._overall[0].done.wait()
                        continue
                    ready = max(ready, min(finished) + window)
                if ready > now:
                    await self._pause(ready - now)
                    continue
                slot = _Slot()
                self._overall.append(slot)
                self._last_start = now
                return slot

    def _completed(self, chat: str | None, slot: _Slot) -> None:
        """Stamp a finished request in every window it counts in."""
        now = self._clock()
        slot.finish(now)
        if chat is None:
            return
        self._chat_done[chat] = now
        if self.is_group(chat):
            self._group_done.setdefault(chat, deque()).append(now)
        if len(self._chat_done) > 2000:  # forget what can no longer hold any request back
            limits = self.limits
            horizon = now - limits.chat_interval - limits.padding
            group_horizon = now - 60.0 - limits.padding
            self._chat_done = {key: at for key, at in self._chat_done.items() if at > horizon}
            self._paused_until = {key: at for key, at in self._paused_until.items() if at > now}
            self._group_done = {
                key: stamps
                for key, stamps in self._group_done.items()
                if stamps and stamps[-1] > group_horizon
            }

    async def _send(self, chat: str | None, callback: Callable[[], Awaitable[Any]]) -> Any:
        """Send once the limits allow; retry after a 429."""
        for attempt in range(self.limits.max_retries + 1):
            if chat is not None:
                await self._wait_for_chat(chat)
            slot = await self._take_overall_slot()
            try:
                return await callback()
            except RetryAfter as error:
                self.retry_after_count += 1
                if attempt == self.limits.max_retries:
                    raise
                wait = _retry_seconds(error)
                log.warning("Telegram asked to wait %.1f s (chat %s)", wait, chat)
                if chat is not None:
                    self._paused_until[chat] = self._clock() + wait
                else:
                    await self._pause(wait)
            finally:
                self._completed(chat, slot)
        raise AssertionError("unreachable")

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Throttle sending endpoints per chat, group and overall; other endpoints pass straight through."""
        if endpoint not in _RATE_LIMITED_ENDPOINTS:
            return await callback(*args, **kwargs)

        def call() -> Awaitable[Any]:
            """The request itself."""
            return callback(*args, **kwargs)

        chat = str(data["chat_id"]) if data.get("chat_id") is not None else None
        if chat is None:
            result: bool | dict[str, Any] | list[dict[str, Any]] = await self._send(None, call)
            return result
        lock = self._chat_locks.setdefault(chat, asyncio.Lock())
        self._chat_users[chat] = self._chat_users.get(chat, 0) + 1
        try:
            async with lock:  # one request at a time per chat, in arrival order
                result = await self._send(chat, call)
                return result
        finally:
            self._chat_users[chat] -= 1
            if not self._chat_users[chat]:
                del self._chat_users[chat]
                del self._chat_locks[chat]


# -- update processing -----------------------------------------------------------------------------


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Processes one chat's updates in arrival order, and different chats' updates concurrently."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._users: dict[int | None, int] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handlers once the chat's earlier updates are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


# -- text helpers ----------------------------------------------------------------------------------


def _hard_split(line: str, limit: int) -> list[str]:
    """A line longer than `limit` UTF-16 units cut into pieces that fit."""
    if telegram_length(line) <= limit:
        return [line]
    parts: list[str] = []
    start = units = 0
    for index, char in enumerate(line):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            parts.append(line[start:index])
            start, units = index, 0
        units += width
    parts.append(line[start:])
    return parts


def _chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split plain text at line breaks into messages Telegram accepts (≤ `limit` UTF-16 units, not blank)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        for part in _hard_split(line, limit):
            candidate = f"{current}\n{part}" if current else part
            if telegram_length(candidate) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = part
    pieces.append(current)
    kept = [piece for piece in pieces if piece.strip()]
    return kept or ["…"]


def _is_parse_error(error: BadRequest) -> bool:
    """Whether Telegram rejected the message's HTML (worth sending again as plain text)."""
    return "parse entities" in error.message.lower()


def _is_gone(error: BadRequest) -> bool:
    """Whether a 400 means the bot cannot post into the chat at all."""
    text = error.message.lower()
    return any(phrase in text for phrase in _GONE_PHRASES)


def _not_the_bot_api(error: BaseException) -> str | None:
    """What the server answered instead of the Bot API's JSON ("an HTML page"), or None if it was JSON.

    python-telegram-bot keeps the JSON decoding error, and with it the body, in the chain of causes.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, json.JSONDecodeError):
            body = current.doc.lstrip().lower()
            if body.startswith(("<!doctype html", "<html")) or "<body" in body:
                return "an HTML page"
            return "something that is not JSON"
        current = current.__cause__ or current.__context__
    return None


def _startup_problem(error: TelegramError) -> str:
    """A start-up failure in one line, without the token (PTB's messages may quote it)."""
    reason = is_unreachable(error)
    if reason is not None:
        return f"cannot connect: {reason}"
    if isinstance(error, TimedOut):
        return "timed out"
    text = error.message.split(". Parsing the server response", 1)[0]
    other = _not_the_bot_api(error)
    if other is not None:
        text = f"{text} with {other}"
    return _TOKEN_IN_URL.sub(r"\1<token>", " ".join(text.split()))[:200]


def from_settings(
    settings: Settings, services: AdapterServices, options: Mapping[str, Any]
) -> TelegramAdapter | None:
    """The Telegram adapter when TELEGRAM_BOT_TOKEN is set (`options`: test hooks such as poll_timeout)."""
    if settings.telegram_bot_token is None:
        return None
    return TelegramAdapter(
        settings.telegram_bot_token.get_secret_value(),
        services.store,
        services.commands,
        api_url=settings.telegram_api_url,
        admin_user_ids=settings.admin_ids(PLATFORM),
        chats=services.chats,
        **options,
    )


class TelegramAdapter:
    """The Telegram side of the bot: a `ChatAdapter` for deliveries plus the command handlers."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        store: Store,
        commands: CommandService,
        *,
        api_url: str = "https://api.telegram.org",
        admin_user_ids: Collection[int] = (),
        rate_limits: RateLimits | None = None,
        poll_timeout: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        chats: ChannelRegistry | None = None,
        startup_backoff: Backoff = STARTUP_BACKOFF,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        """`startup_backoff`: how long start-up keeps trying to reach the Bot API (tests shorten it)."""
        _opt_into_timedelta()
        _guard_logs(token)
        self._store = store
        self._commands = commands
        self._chats = chats or ChannelRegistry(store)
        self._admin_user_ids = frozenset(admin_user_ids)
        self._poll_timeout = poll_timeout
        self._monotonic = monotonic
        self._admin_cache: dict[tuple[int, int], tuple[float, bool]] = {}
        self._ready = asyncio.Event()
        self._closing = False
        self._startup_backoff = startup_backoff
        self._stop_grace = stop_grace
        self._in_flight: set[asyncio.Task[Any]] = set()  # command handlers running now
        self.rate_limiter = TelegramRateLimiter(rate_limits)
        base_url, base_file_url = api_urls(api_url)
        self._api_root = base_url.removesuffix("/bot")
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .base_url(base_url)
            .base_file_url(base_file_url)
            .rate_limiter(self.rate_limiter)
            .concurrent_updates(PerChatUpdateProcessor())
            .build()
        )
        self._install_handlers()

    # -- the ChatAdapter port ---------------------------------------------------------------------
    def render_digest(self, digest: Digest, channel: Channel) -> list[OutgoingMessage]:
        """HTML messages for the digest; over the chat's limit, the whole digest also as a Markdown file."""
        messages, needs_file = render_digest(digest, max_inline_papers=channel.max_inline_papers)
        outgoing = [OutgoingMessage(text=message.text, paper_ids=message.paper_ids) for message in messages]
        if needs_file:
            inline = {paper_id for message in messages for paper_id in message.paper_ids}
            rest = tuple(paper.arxiv_id for paper in digest.papers if paper.arxiv_id not in inline)
            outgoing.append(
                OutgoingMessage(
                    text=render_file_caption(digest),
                    paper_ids=rest,
                    document_name=digest_file_name(digest),
                    document=render_markdown(digest).encode("utf-8"),
                )
            )
        return outgoing

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        return OutgoingMessage(text=render_empty_day(digest).text)

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Send one message, mapping Telegram's answers to the core's delivery errors.

        HTML that Telegram cannot parse is sent once more as plain text (the same words, no markup).
        """
        await self._ready.wait()
        if self._closing:
            raise TemporaryDeliveryError("the Telegram adapter is stopping")
        try:
            await self._send_one(channel.chat_id, message)
        except BadRequest as error:
            if not _is_parse_error(error):
                raise self._delivery_error(error) from error
            log.warning(
                "Telegram rejected a message to %s (%s); sending it as plain text",
                channel.chat_id,
                error.message,
            )
            plain = render_plain_text(TelegramMessage(text=message.text, paper_ids=message.paper_ids))
            try:
                await self._send_one(channel.chat_id, message, plain=plain)
            except TelegramError as second:
                raise self._delivery_error(second) from second
        except TelegramError as error:
            raise self._delivery_error(error) from error

    @staticmethod
    def _delivery_error(error: TelegramError) -> DeliveryError:
        """The core's view of a Telegram error."""
        if isinstance(error, ChatMigrated):
            return ChannelMovedError(str(error.new_chat_id))
        if isinstance(error, Forbidden):
            return ChannelGoneError(error.message)
        if isinstance(error, RetryAfter):
            return TemporaryDeliveryError(error.message, retry_after=_retry_seconds(error))
        if isinstance(error, BadRequest):  # a NetworkError subclass, but nothing a retry fixes
            return ChannelGoneError(error.message) if _is_gone(error) else DeliveryError(error.message)
        if isinstance(error, NetworkError):  # 5xx, timeouts, dropped connections
            return TemporaryDeliveryError(error.message)
        return DeliveryError(error.message)

    async def _send_one(
        self, chat_id: str | int, message: OutgoingMessage, *, plain: str | None = None
    ) -> None:
        """One sendMessage or sendDocument; `plain` sends that text without parse mode instead."""
        bot = self.application.bot
        parse_mode = None if plain is not None else ParseMode.HTML
        text = plain if plain is not None else message.text
        if message.document is not None:
            await bot.send_document(
                chat_id=chat_id,
                document=InputFile(message.document, filename=message.document_name or "digest.md"),
                caption=text if plain is None else _chunks(text, MAX_CAPTION)[0],
                parse_mode=parse_mode,
            )
            return
        await bot.send_message(
            chat_id=chat_id,
            text=text if plain is None else _chunks(text, MAX_TEXT)[0],
            parse_mode=parse_mode,
            link_preview_options=NO_PREVIEW,
        )

    # -- running ------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Poll for updates until `stop` is set; deliveries may be sent meanwhile.

        Start-up keeps trying to reach the Bot API through network trouble (see
        `bot.platforms.connect_with_retries`); a rejected token, or a server that is not the Bot API,
        raises AdapterStartupError at once. Returns once python-telegram-bot has stopped polling and
        closed its connections; commands still running `stop_grace` seconds after `stop` are cut off.
        """
        app = self.application
        try:
            started = await connect_with_retries(
                f"the Telegram Bot API at {self._api_root}",
                self._start_once,
                stop,
                backoff=self._startup_backoff,
                between=self._reset,
            )
        except BaseException:
            self._closing = True
            await self._reset()
            raise
        if started is None:  # stopped while still trying to connect
            self._closing = True
            await self._reset()
            log.info("Telegram adapter stopped before it connected")
            return
        assert app.updater is not None
        async with app:  # already initialised: this only shuts it down at the end
            await app.start()
            self._closing = False
            self._ready.set()
            log.info("Telegram adapter running as @%s", app.bot.username)
            try:
                await stop.wait()
            finally:
                self._closing = True  # a send still waiting for `_ready` must not hang
                await app.updater.stop()
                await self._finish_commands()
                await app.stop()
                log.info("Telegram adapter stopped")

    async def _start_once(self) -> bool:
        """One start-up attempt: getMe, the command list, the long poll; errors classified for retrying."""
        app = self.application
        try:
            await app.initialize()
            await app.bot.set_my_commands(
                [BotCommand(info.name, info.description[:256]) for info in COMMANDS]
            )
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=dt.timedelta(seconds=self._poll_timeout),
                allowed_updates=[Update.MESSAGE, Update.CHANNEL_POST, Update.MY_CHAT_MEMBER],
            )
        except InvalidToken as error:
            # PTB's message quotes the token; never pass it on.
            other = _not_the_bot_api(error)
            if other is not None:  # a 401/404 that is no Bot API answer: a proxy's or web server's page
                raise AdapterStartupError(
                    f"{self._api_root} answered with {other}, not the Bot API: {API_HINT}"
                ) from None
            raise AdapterStartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"
            ) from None
        except RetryAfter as error:
            raise RetryableError("asked to wait (429)", retry_after=_retry_seconds(error)) from None
        except (BadRequest, Forbidden) as error:  # NetworkError subclasses, but nothing a retry fixes
            raise AdapterStartupError(
                f"the Telegram Bot API at {self._api_root} refused to start: {_startup_problem(error)}"
            ) from None
        except NetworkError as error:  # no connection, timeouts, 5xx (an HTML 502 page included)
            raise RetryableError(_startup_problem(error)) from None
        except TelegramError as error:  # a 2xx answer that is not the Bot API's JSON, say
            other = _not_the_bot_api(error)
            if other is not None:
                raise AdapterStartupError(
                    f"{self._api_root} answered with {other}, not the Bot API: {API_HINT}"
                ) from None
            raise AdapterStartupError(
                f"the Telegram Bot API at {self._api_root} failed at start-up: {_startup_problem(error)}"
            ) from None
        return True

    async def _reset(self) -> None:
        """Undo a partial start-up (the Bot's HTTP clients exist even when getMe failed)."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await app.shutdown()  # nothing to do unless initialize() completed
        await app.bot.shutdown()

    def _track(self) -> None:
        """Count the running command handler as in flight until it ends."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _finish_commands(self) -> None:
        """Let the commands in hand answer for `stop_grace` seconds; cut off the rest."""
        tasks = {task for task in self._in_flight if not task.done()}
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=self._stop_grace)
        for task in stuck:
            task.cancel()
        if stuck:
            await asyncio.wait(stuck)
            log.warning("stopping: %d Telegram command(s) were cut off", len(stuck))

    def _install_handlers(self) -> None:
        """Route commands, config files, chat migrations and membership changes."""
        app = self.application
        messages = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        app.add_handler(MessageHandler(messages & filters.StatusUpdate.MIGRATE, self._on_migrate))
        config_files = filters.Document.FileExtension("yml") | filters.Document.FileExtension("yaml")
        app.add_handler(MessageHandler(messages & config_files, self._on_config_file))
        app.add_handler(MessageHandler(messages & filters.COMMAND, self._on_command))
        app.add_handler(ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self._on_error)

    # -- handlers --------------------------------------------------------------------------------------
    async def _is_admin(self, message: Message) -> bool:
        """May the sender change this chat's settings?"""
        chat = message.chat
        user = message.from_user
        if user is not None and user.id in self._admin_user_ids:
            return True
        if chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
            return True  # one's own chat; in a channel only its admins can post
        if message.sender_chat is not None:
            # An anonymous admin posts as the group itself; a linked channel or a user posting as
            # their own channel is not an admin of this group.
            return message.sender_chat.id == chat.id
        if user is None:
            return False
        key = (chat.id, user.id)
        now = self._monotonic()
        cached = self._admin_cache.get(key)
        if cached is not None and now - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        try:
            member = await message.get_bot().get_chat_member(chat.id, user.id)
        except TelegramError as error:
            log.warning("cannot check admin status in %s: %s", chat.id, error)
            return False
        is_admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
        if len(self._admin_cache) >= ADMIN_CACHE_SIZE:
            self._admin_cache = {
                k: v for k, v in self._admin_cache.items() if now - v[0] < ADMIN_CACHE_SECONDS
            }
        self._admin_cache[key] = (now, is_admin)
        return is_admin

    @staticmethod
    def _parse_command(message: Message, bot_username: str) -> tuple[str, str, bool] | None:
        """(command, argument text, addressed to this bot by name) of a message; None if not for this bot.

        A command is a `bot_command` entity at offset 0 of the text (or of a document's caption);
        `/cmd@otherbot` belongs to another bot.
        """
        text = message.text if message.text is not None else message.caption or ""
        entities = message.entities if message.text is not None else message.caption_entities
        if not entities or entities[0].type != MessageEntityType.BOT_COMMAND or entities[0].offset != 0:
            return None
        length = entities[0].length  # UTF-16 units; a command is ASCII, so also characters
        head = text[1:length]
        name, at, addressee = head.partition("@")
        if at and addressee.lower() != bot_username.lower():
            return None
        return name.lower(), text[length:].strip(), bool(at)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Run a command and answer in the chat."""
        self._track()
        message = update.effective_message
        if message is None:
            return
        parsed = self._parse_command(message, context.bot.username)
        if parsed is None:
            return
        name, args, addressed = parsed
        if name not in _KNOWN_COMMANDS and message.chat.type != ChatType.PRIVATE and not addressed:
            return  # in a group, `/foo` without a bot name may well be another bot's command
        request = CommandRequest(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            command=name,
            args=args,
            user_id=str(message.from_user.id) if message.from_user else None,
            is_admin=name in _ADMIN_ONLY and await self._is_admin(message),
        )
        try:
            reply = await self._commands.handle(request)
        except Exception:
            log.exception("/%s in Telegram chat %s failed", name, message.chat.id)
            reply = CommandReply("Something went wrong on my side; please try again later.", ok=False)
        await self._answer(message, reply)

    async def _answer(self, message: Message, reply: CommandReply) -> None:
        """Send a command's reply: plain text, or a digest if there is one."""
        chat_id = message.chat.id
        bot = message.get_bot()
        if reply.digest is None or not reply.digest.topics:
            for piece in _chunks(reply.text):
                await bot.send_message(chat_id=chat_id, text=piece, link_preview_options=NO_PREVIEW)
            return
        digest = reply.digest
        if digest.matched_count == 0:
            await self._send_one(chat_id, OutgoingMessage(text=render_empty_day(digest).text))
            return
        channel = await self._store.get_channel(PLATFORM, str(chat_id))
        holder = channel or Channel(platform=PLATFORM, chat_id=str(chat_id))
        for outgoing in self.render_digest(digest, holder):
            try:
                await self._send_one(chat_id, outgoing)
            except BadRequest as error:
                if not _is_parse_error(error):
                    raise
                log.warning("Telegram rejected a digest message (%s); sending plain text", error.message)
                plain = render_plain_text(TelegramMessage(text=outgoing.text, paper_ids=outgoing.paper_ids))
                await self._send_one(chat_id, outgoing, plain=plain)

    async def _on_config_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A YAML config sent to the chat replaces its topics (admins only)."""
        self._track()
        message = update.effective_message
        if message is None or message.document is None:
            return
        if message.chat.type != ChatType.PRIVATE:
            parsed = self._parse_command(message, context.bot.username)
            if parsed is None or parsed[0] not in {"topics", "import"}:
                return  # in groups only a file captioned /topics (or /import) is meant for the bot
        request = CommandRequest(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            command="topics",
            user_id=str(message.from_user.id) if message.from_user else None,
            is_admin=await self._is_admin(message),
        )
        if not request.is_admin:
            await self._answer(message, CommandReply(ADMIN_ONLY_MESSAGE, ok=False))
            return  # refused before anything is downloaded
        if message.document.file_size is not None and message.document.file_size > MAX_CONFIG_FILE:
            await self._answer(
                message, CommandReply(f"That file is larger than {MAX_CONFIG_FILE // 1024} KiB.", ok=False)
            )
            return
        telegram_file = await message.document.get_file()
        data = bytes(await telegram_file.download_as_bytearray())
        reply = await self._commands.import_config(request, data)
        await self._answer(message, reply)

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: keep its settings under the new id."""
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None:
            return
        await self._chats.chat_moved(PLATFORM, str(message.chat.id), str(message.migrate_to_chat_id))

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was removed from a chat: stop delivering there."""
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None:
            return
        if change.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
            await self._chats.chat_gone(PLATFORM, str(change.chat.id), "the bot was removed from the chat")

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's error (never with a token) and keep running."""
        error = context.error
        if isinstance(error, Forbidden | ChatMigrated):
            log.warning("cannot answer in a Telegram chat: %s", error)
            return
        log.error("error while handling a Telegram update: %s", error, exc_info=error)
