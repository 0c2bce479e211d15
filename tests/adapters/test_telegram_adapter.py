"""The Telegram adapter's parts: rate limiter, update ordering, command parsing, admin checks, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Chat, Message, MessageEntity, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from adapters.telegram.adapter import TelegramAdapter, api_urls
from adapters.telegram.errors import delivery_error
from adapters.telegram.format import split_text, telegram_length
from adapters.telegram.logs import TokenRedactingFilter
from adapters.telegram.ratelimit import ANSWER_PRIORITY, RateLimits, TelegramRateLimiter
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import PerChatUpdateProcessor, UpdateKind
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.commands.table import PRIVATE_TEXT_HINT
from bot.main.app import run_bot
from bot.platforms.port import (
    AdapterStartupError,
    AdapterUnreachableError,
    ChannelGoneError,
    ChannelMovedError,
    DeliveryError,
    TemporaryDeliveryError,
)
from bot.retry import Backoff
from bot.settings import Settings
from storage.sqlite_store import SqliteStore
from tests.builders import make_announcement, make_paper
from tests.citations import parsed_bibtex
from tests.fakes.arxiv_server import FIXTURES
from tests.fakes.telegram_model import Fault
from tests.fakes.telegram_server import FakeTelegramServer

BOT_NAME = "arxiv_digest_test_bot"
QUICK = Backoff(first=0.05, factor=2.0, cap=0.2, budget=1.0)  # start-up retries on a short leash
LIMITS = RateLimits()
PAD = LIMITS.padding


# -- the rate limiter on a fake clock ---------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when the limiter sleeps (or a fake request takes time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        """The current fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Jump ahead instead of waiting."""
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    """A fresh fake clock."""
    return FakeTime()


@pytest.fixture
def limiter(fake_time: FakeTime) -> TelegramRateLimiter:
    """A limiter with Telegram's limits on the fake clock."""
    return TelegramRateLimiter(LIMITS, clock=fake_time.clock, sleep=fake_time.sleep)


async def send(
    limiter: TelegramRateLimiter,
    fake_time: FakeTime,
    chat: int | str | None,
    *,
    endpoint: str = "sendMessage",
    takes: float = 0.0,
    fail_with: list[Exception] | None = None,
) -> float:
    """One request through the limiter; returns the fake time at which it reached 'Telegram'."""
    started: list[float] = []

    async def callback() -> dict[str, Any]:
        started.append(fake_time.now)
        fake_time.now += takes
        if fail_with:
            raise fail_with.pop(0)
        return {"ok": True}

    data = {} if chat is None else {"chat_id": chat}
    await limiter.process_request(callback, (), {}, endpoint, data, None)
    return started[-1]


async def test_one_chat_gets_one_message_per_second(
    limiter: TelegramRateLimiter, fake_time: FakeTime
) -> None:
    """Into one private chat, each message starts (1 s + padding) after the previous one completed."""
    first = await send(limiter, fake_time, 42, takes=0.2)
    second = await send(limiter, fake_time, 42, takes=0.2)
    third = await send(limiter, fake_time, 42)
    assert second == pytest.approx(first + 0.2 + 1 + PAD)
    assert third == pytest.approx(second + 0.2 + 1 + PAD)
    other = await send(limiter, fake_time, 43)  # another chat only waits for the overall pace
    assert other - third == pytest.approx(LIMITS.overall_spacing)


async def test_a_group_gets_20_messages_a_minute(limiter: TelegramRateLimiter, fake_time: FakeTime) -> None:
    """Into one group, at most 20 messages in any minute (plus padding), each also 1 s apart."""
    starts = [await send(limiter, fake_time, -100500) for _ in range(21)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= 1 + PAD - 1e-9
    assert starts[20] - starts[0] >= 60 + PAD - 1e-9
    assert starts[19] - starts[0] < 21  # the first 20 only needed the 1/s pace


async def test_overall_30_per_second_at_an_even_pace(
    limiter: TelegramRateLimiter, fake_time: FakeTime
) -> None:
    """Across chats: an even pace of 30 per (1 s + padding), never 31 within a window."""
    starts = [await send(limiter, fake_time, 5000 + n) for n in range(91)]
    spacing = LIMITS.overall_spacing
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) == pytest.approx(spacing)
    assert all(starts[i + 30] - starts[i] >= 1 + PAD - 1e-9 for i in range(len(starts) - 30))
    assert starts[-1] - starts[0] == pytest.approx(90 * spacing)


async def test_windows_count_from_completion_not_from_sending(
    limiter: TelegramRateLimiter, fake_time: FakeTime
) -> None:
    """Slow requests push the window: the 31st starts a full window after the 1st *completed*."""
    first = await send(limiter, fake_time, 1, takes=0.5)
    starts = [first] + [await send(limiter, fake_time, 2 + n) for n in range(30)]
    assert starts[30] >= first + 0.5 + 1 + PAD - 1e-9


async def test_a_429_pauses_the_chat_and_the_request_is_retried(
    limiter: TelegramRateLimiter, fake_time: FakeTime
) -> None:
    """Telegram's retry_after is waited out for that chat, then the same request goes again."""
    started = await send(limiter, fake_time, 42, fail_with=[RetryAfter(dt.timedelta(seconds=7))])
    assert limiter.retry_after_count == 1
    assert started >= 1000 + 7
    with pytest.raises(RetryAfter):
        await send(limiter, fake_time, 43, fail_with=[RetryAfter(dt.timedelta(seconds=1))] * 6)
    assert limiter.retry_after_count == 7  # max_retries=5: six answers, then it gives up


async def test_other_endpoints_are_not_throttled(limiter: TelegramRateLimiter, fake_time: FakeTime) -> None:
    """getUpdates, getChatMember and friends pass straight through."""
    for _ in range(50):
        await send(limiter, fake_time, 42, endpoint="getChatMember")
    assert fake_time.slept == []


async def test_requests_into_one_chat_run_one_at_a_time_in_order(fake_time: FakeTime) -> None:
    """Concurrent sends into one chat go in arrival order, each after the previous one completed."""
    limiter = TelegramRateLimiter(LIMITS, clock=fake_time.clock, sleep=fake_time.sleep)
    order: list[int] = []

    async def one(number: int) -> None:
        async def callback() -> bool:
            order.append(number)
            await asyncio.sleep(0)  # other tasks run while this request is "in flight"
            return True

        await limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": 42}, None)

    await asyncio.gather(*(one(number) for number in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_an_answer_goes_before_a_chats_queued_deliveries(fake_time: FakeTime) -> None:
    """An answer (ANSWER_PRIORITY) passes deliveries waiting out the chat's interval, keeping pace."""
    held = (
        asyncio.Event()
    )  # sleeps jump the clock, then wait here: the file is mid-interval when the answer comes

    async def sleep(seconds: float) -> None:
        fake_time.now += seconds
        await held.wait()

    limiter = TelegramRateLimiter(LIMITS, clock=fake_time.clock, sleep=sleep)
    order: list[tuple[str, float]] = []

    async def one(name: str, priority: int | None) -> None:
        async def callback() -> bool:
            order.append((name, fake_time.now))
            await asyncio.sleep(0)
            return True

        await limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": 42}, priority)

    page = asyncio.create_task(one("page", None))
    await asyncio.sleep(0)
    file = asyncio.create_task(one("file", None))  # waits out the 1 s after the page
    await asyncio.sleep(0)
    answer = asyncio.create_task(one("answer", ANSWER_PRIORITY))
    for _ in range(5):
        await asyncio.sleep(0)
    held.set()
    await asyncio.gather(page, file, answer)
    assert [name for name, _ in order] == ["page", "answer", "file"]
    times = [at for _, at in order]
    assert all(later - earlier >= 1 + PAD - 1e-9 for earlier, later in itertools.pairwise(times))


# -- update ordering -----------------------------------------------------------------------------------


def message_update(update_id: int, chat_id: int) -> Update:
    """An update with a text message in a chat."""
    chat = Chat(chat_id, "private" if chat_id > 0 else "supergroup")
    message = Message(update_id, dt.datetime.now(dt.UTC), chat, text="hi")
    return Update(update_id, message=message)


async def test_updates_of_one_chat_are_processed_in_order_chats_concurrently() -> None:
    """PerChatUpdateProcessor: one chat's updates in arrival order; another chat is not held up."""
    processor = PerChatUpdateProcessor(16)
    log: list[tuple[str, int, int]] = []
    slow_started = asyncio.Event()
    release = asyncio.Event()

    async def handle(update_id: int, chat_id: int, slow: bool = False) -> None:
        log.append(("start", chat_id, update_id))
        if slow:
            slow_started.set()
            await release.wait()
        await asyncio.sleep(0)
        log.append(("end", chat_id, update_id))

    async with processor:
        tasks = [
            asyncio.create_task(processor.process_update(message_update(1, 7), handle(1, 7, slow=True))),
            asyncio.create_task(processor.process_update(message_update(2, 7), handle(2, 7))),
            asyncio.create_task(processor.process_update(message_update(3, 8), handle(3, 8))),
        ]
        await slow_started.wait()
        await asyncio.sleep(0.01)
        assert ("end", 8, 3) in log  # chat 8 went ahead while chat 7's first update was still busy
        assert ("start", 7, 2) not in log  # chat 7's second update waits for its first
        release.set()
        await asyncio.gather(*tasks)
    seven = [entry for entry in log if entry[1] == 7]
    assert seven == [("start", 7, 1), ("end", 7, 1), ("start", 7, 2), ("end", 7, 2)]


async def test_reads_overlap_changes_wait_for_everything_before_and_presses_for_nothing() -> None:
    """Reads run side by side; a change waits for them; a read after a change waits; presses never."""
    kinds = {
        1: UpdateKind.READ,
        2: UpdateKind.READ,
        3: UpdateKind.CHANGE,
        4: UpdateKind.READ,
        5: UpdateKind.FREE,
    }
    processor = PerChatUpdateProcessor(16, classify=lambda update: kinds[update.update_id])  # type: ignore[attr-defined]
    started: list[int] = []
    finish = {number: asyncio.Event() for number in kinds}

    async def handle(number: int) -> None:
        started.append(number)
        await finish[number].wait()

    async with processor:
        tasks = [
            asyncio.create_task(processor.process_update(message_update(n, 7), handle(n))) for n in kinds
        ]
        await asyncio.sleep(0.01)
        assert sorted(started) == [1, 2, 5]  # two reads together, the press regardless
        finish[1].set()
        await asyncio.sleep(0.01)
        assert 3 not in started  # the change waits for the second read too
        finish[2].set()
        await asyncio.sleep(0.01)
        assert 3 in started
        assert 4 not in started  # the read after the change waits for it
        finish[3].set()
        await asyncio.sleep(0.01)
        assert 4 in started
        for event in finish.values():
            event.set()
        await asyncio.gather(*tasks)


# -- command parsing and text chunks -------------------------------------------------------------------


def command_message(
    text: str, *, entity_length: int | None = None, offset: int = 0, caption: bool = False
) -> Message:
    """A message whose text (or caption) starts with a bot_command entity, as Telegram marks it."""
    length = entity_length if entity_length is not None else len(text.split()[0]) if text else 0
    entities = (
        (MessageEntity(MessageEntity.BOT_COMMAND, offset, length),) if text.lstrip().startswith("/") else ()
    )
    chat = Chat(1, "private")
    now = dt.datetime.now(dt.UTC)
    if caption:
        return Message(1, now, chat, caption=text, caption_entities=entities)
    return Message(1, now, chat, text=text, entities=entities)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", ("start", "", False)),
        ("/Digest diffusion, GAN", ("digest", "diffusion, GAN", False)),
        (f"/digest@{BOT_NAME} VLM", ("digest", "VLM", True)),
        ("/digest@Arxiv_Digest_Test_Bot", ("digest", "", True)),  # usernames are case-insensitive
        ("/digest@otherbot", None),
        ("/subscribe 🤖 robots, =VLA", ("subscribe", "🤖 robots, =VLA", False)),
        ("/subscribe\nVLM,\nMLLM", ("subscribe", "VLM,\nMLLM", False)),
        ("hello there", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str, bool] | None) -> None:
    """A command is the bot_command entity at offset 0; /cmd@otherbot is another bot's."""
    assert TelegramAdapter._parse_command(command_message(text), BOT_NAME) == expected


def test_parse_command_needs_the_entity_at_offset_zero() -> None:
    """A command word later in the text (entity at offset 6) is not a command to run."""
    chat = Chat(1, "private")
    message = Message(
        1, dt.datetime.now(dt.UTC), chat, text="hello /start", entities=(MessageEntity("bot_command", 6, 6),)
    )
    assert TelegramAdapter._parse_command(message, BOT_NAME) is None


def test_parse_command_reads_a_documents_caption() -> None:
    """A file captioned /topics carries its command in caption_entities."""
    parsed = TelegramAdapter._parse_command(command_message(f"/topics@{BOT_NAME}", caption=True), BOT_NAME)
    assert parsed == ("topics", "", True)


def test_chunks_split_at_lines_within_telegrams_limit() -> None:
    """Long replies split at line breaks; every piece ≤ 4096 UTF-16 units; nothing lost."""
    lines = [f"line {n}: " + "word " * 30 for n in range(200)]
    text = "\n".join(lines)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(telegram_length(piece) <= 4096 for piece in pieces)
    assert "\n".join(pieces) == text


def test_chunks_cut_overlong_lines_and_count_emoji_as_two() -> None:
    """A single line longer than a message is cut; astral emoji count as 2 units, as Telegram counts."""
    emoji = "📚" * 3000  # 6000 UTF-16 units in one line
    pieces = split_text(emoji)
    assert [telegram_length(piece) for piece in pieces] == [4096, 6000 - 4096]
    assert "".join(pieces) == emoji
    assert split_text("x" * 5000, limit=1024)[0] == "x" * 1024


def test_chunks_never_send_an_empty_message() -> None:
    """Blank text (Telegram refuses it) becomes a single ellipsis; blank pieces are dropped."""
    assert split_text("") == ["…"]
    assert split_text("\n\n  \n") == ["…"]
    assert all(piece.strip() for piece in split_text("a\n\n\n" + "b" * 4096))


# -- URLs, logs and errors -------------------------------------------------------------------------


def test_api_urls_accept_the_root_or_the_bot_form() -> None:
    """TELEGRAM_API_URL may be the server root or already end in /bot (python-telegram-bot's base_url)."""
    expected = ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")
    assert api_urls("http://127.0.0.1:8081") == expected
    assert api_urls("http://127.0.0.1:8081/") == expected
    assert api_urls("http://127.0.0.1:8081/bot") == expected


def test_token_filter_redacts_urls_and_the_token_itself() -> None:
    """A log record carrying the token (in a URL or alone) is rewritten, never dropped."""
    token = "123456789:AAE-secret_token"
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: POST %s %s",
        (f"http://h/bot{token}/getMe", "200"),
        None,
    )
    assert TokenRedactingFilter(token).filter(record)
    assert record.getMessage() == "HTTP Request: POST http://h/bot<token>/getMe 200"
    other = logging.LogRecord("httpx", logging.INFO, __file__, 1, "/bot987:other-token/x", None, None)
    TokenRedactingFilter(token).filter(other)
    assert "other-token" not in other.getMessage()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ChatMigrated(-1001234), ChannelMovedError),
        (Forbidden("Forbidden: bot was blocked by the user"), ChannelGoneError),
        (BadRequest("Bad Request: chat not found"), ChannelGoneError),
        (BadRequest("Bad Request: not enough rights to send text messages to the chat"), ChannelGoneError),
        (BadRequest("Bad Request: message is too long"), DeliveryError),
        (RetryAfter(dt.timedelta(seconds=3)), TemporaryDeliveryError),
        (NetworkError("Internal Server Error (500)"), TemporaryDeliveryError),
        (TimedOut(), TemporaryDeliveryError),
    ],
)
def test_telegram_errors_map_to_delivery_errors(error: Exception, expected: type[DeliveryError]) -> None:
    """Each Telegram answer becomes the delivery error bot.delivery acts on (a 400 is never retried as-is)."""
    mapped = delivery_error(error)  # type: ignore[arg-type]
    assert type(mapped) is expected
    if isinstance(mapped, ChannelMovedError):
        assert mapped.new_chat_id == "-1001234"
    if isinstance(error, RetryAfter):
        assert isinstance(mapped, TemporaryDeliveryError)
        assert mapped.retry_after == 3


# -- the adapter against the fake Bot API ---------------------------------------------------------------


class Monotonic:
    """A settable monotonic clock for the admin cache."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def running(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> AsyncIterator[tuple[TelegramAdapter, Monotonic]]:
    """The adapter polling the fake server (no rate limits to wait for); stopped afterwards."""
    monotonic = Monotonic()
    adapter = TelegramAdapter(
        telegram_server.token,
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=telegram_server.url,
        rate_limits=RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=0.0, padding=0.0),
        poll_timeout=1.0,
        monotonic=monotonic,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await telegram_server.wait_for_call("getUpdates")
    try:
        yield adapter, monotonic
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_admin_status_is_asked_once_a_minute_per_user(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer
) -> None:
    """getChatMember is cached for 60 s per (chat, user); a promotion shows after the cache expires."""
    _, monotonic = running
    group = -100777
    telegram_server.add_chat(group, "supergroup")
    telegram_server.set_admins(group, [7])
    wait: Callable[[int], Any] = lambda count: telegram_server.wait_for_call(  # noqa: E731
        "sendMessage", chat_id=group, ok=True, count=count
    )
    telegram_server.push_message(group, "/keywords add a", from_user=7)
    telegram_server.push_message(group, "/keywords add b", from_user=7)
    telegram_server.push_message(group, "/keywords add c", from_user=8)
    await wait(3)
    assert len(telegram_server.calls_to("getChatMember")) == 2  # user 7 once, user 8 once
    telegram_server.set_admins(group, [7, 8])  # user 8 is promoted
    telegram_server.push_message(group, "/keywords add d", from_user=8)
    await wait(4)
    assert "admin" in telegram_server.sent_texts(group)[3].lower()  # still the cached answer
    monotonic.now += 61
    telegram_server.push_message(group, "/keywords add d", from_user=8)
    await wait(5)
    assert len(telegram_server.calls_to("getChatMember")) == 3
    assert telegram_server.sent_texts(group)[4].startswith("Keywords")
    assert "a, b, d" in telegram_server.sent_texts(group)[4]


async def test_commands_in_a_channel_and_unknown_ones_in_groups(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer
) -> None:
    """A channel post's command is answered in the channel; a group's unknown /command is left alone."""
    telegram_server.push_message(-100900, "/frobnicate", chat_type="supergroup")
    telegram_server.push_message(-100900, f"/frobnicate@{BOT_NAME}", chat_type="supergroup")
    telegram_server.push_message(-100901, "/help", chat_type="channel")
    telegram_server.push_message(55, "/frobnicate")
    (unknown,) = await telegram_server.wait_for_call("sendMessage", chat_id=-100900, ok=True)
    assert "/frobnicate" in unknown.params["text"]
    (help_reply,) = await telegram_server.wait_for_call("sendMessage", chat_id=-100901, ok=True)
    assert "/subscribe" in help_reply.params["text"]
    await telegram_server.wait_for_call("sendMessage", chat_id=55, ok=True)  # private chats hear about typos
    assert len(telegram_server.calls_to("sendMessage", chat_id=-100900)) == 1


async def test_a_rejected_token_is_a_one_line_startup_error_without_the_token(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """Telegram's 401 at start-up becomes AdapterStartupError; the token appears nowhere in it."""
    adapter = TelegramAdapter(
        "1:wrong-secret",
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=telegram_server.url,
    )
    with pytest.raises(AdapterStartupError) as caught:
        await adapter.run(asyncio.Event())
    assert "wrong-secret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# -- start-up: retried through network trouble, refused at once otherwise ---------------------------------


def free_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def startup_adapter(store: SqliteStore, api_url: str, token: str, **options: Any) -> TelegramAdapter:
    """An adapter with quick start-up retries (no rate limits to wait for)."""
    return TelegramAdapter(
        token,
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=api_url,
        rate_limits=options.pop(
            "rate_limits",
            RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=0.0, padding=0.0),
        ),
        poll_timeout=1.0,
        startup_backoff=options.pop("startup_backoff", QUICK),
        **options,
    )


async def test_startup_retries_a_failing_bot_api_and_then_serves(
    telegram_server: FakeTelegramServer, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 502 pages and a dropped connection at getMe are retried (each logged once); then it polls."""
    telegram_server.fail(Fault.bad_gateway(), method="getMe", times=2)
    telegram_server.fail(Fault.dropped(), method="getMe", times=1)
    adapter = startup_adapter(store, telegram_server.url, telegram_server.token)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="bot.retry"):
        task = asyncio.create_task(adapter.run(stop))
        try:
            await telegram_server.wait_for_call("getUpdates", timeout=10)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert [call.status for call in telegram_server.calls_to("getMe")][:2] == [502, 502]
    assert telegram_server.calls_to("getMe")[-1].ok
    retried = [record.getMessage() for record in caplog.records if record.name == "bot.retry"]
    assert len(retried) == 3, retried
    assert "attempt 1" in retried[0]
    assert "Bad Gateway (502) with an HTML page" in retried[0]
    assert all(telegram_server.token.split(":")[1] not in line for line in retried)


async def test_a_proxys_html_404_is_named_as_such_not_as_a_bad_token(
    telegram_server: FakeTelegramServer, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """An HTML 404 page at getMe is "answered with an HTML page … check TELEGRAM_API_URL", at once."""
    page = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1>nginx</body></html>"
    telegram_server.fail(Fault(404, raw_body=page), method="getMe", times=None)
    adapter = startup_adapter(store, telegram_server.url, telegram_server.token)
    with pytest.raises(AdapterStartupError) as caught:
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    message = str(caught.value)
    assert "answered with an HTML page, not the Bot API: check TELEGRAM_API_URL" in message
    assert not [record for record in caplog.records if record.exc_info]  # PTB's traceback is dropped
    assert "TOKEN" not in message
    assert telegram_server.token.split(":")[1] not in message
    assert not isinstance(caught.value, AdapterUnreachableError)
    assert len(telegram_server.calls_to("getMe")) == 1  # not retried
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_a_200_that_is_not_json_is_reported_without_a_traceback(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A 200 answer with an HTML body (a captive portal, a web server) is one line, not retried."""
    telegram_server.fail(Fault(200, raw_body=b"<html><body>Welcome!</body></html>"), method="getMe")
    adapter = startup_adapter(store, telegram_server.url, telegram_server.token)
    with pytest.raises(AdapterStartupError, match="answered with an HTML page, not the Bot API"):
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)


async def test_a_rejected_token_is_not_retried(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """Telegram's 401 (JSON) ends start-up after one getMe, naming TELEGRAM_BOT_TOKEN."""
    adapter = startup_adapter(store, telegram_server.url, "1:wrong-secret")
    with pytest.raises(AdapterStartupError, match="TELEGRAM_BOT_TOKEN"):
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    assert len(telegram_server.calls_to("getMe")) == 1


@pytest.mark.parametrize(
    ("where", "reason"),
    [("refused", "connection was refused"), ("dns", "host name does not resolve")],
)
async def test_an_unreachable_bot_api_is_given_up_after_the_budget_in_one_line(
    store: SqliteStore, where: str, reason: str
) -> None:
    """Refused connections or a name that does not resolve: retried for the budget, then one line."""
    url = f"http://127.0.0.1:{free_port()}" if where == "refused" else "http://api.telegram.invalid"
    adapter = startup_adapter(store, url, "1:secret")
    started = time.monotonic()
    with pytest.raises(AdapterUnreachableError) as caught:
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    took = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"cannot reach the Telegram Bot API at {url}: gave up after ")
    assert reason in message
    assert "\n" not in message
    assert "secret" not in message
    assert 0.3 <= took < 3.0  # QUICK's waits (0.05 + 0.1 + 0.2 + 0.2 …) up to its 1 s budget


async def test_stop_during_the_startup_retries_returns_promptly(store: SqliteStore) -> None:
    """SIGTERM (the stop event) while waiting to retry ends run() at once, without an error."""
    adapter = startup_adapter(
        store, f"http://127.0.0.1:{free_port()}", "1:secret", startup_backoff=Backoff(first=30.0)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await asyncio.sleep(0.3)  # the first attempt failed; now waiting 30 s for the next
    assert not task.done()
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("case", ["unreachable", "html-404"])
async def test_run_bot_exits_5_when_unreachable_and_2_when_refused(
    tmp_path: Path, telegram_server: FakeTelegramServer, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """`run` gives up on a Bot API it cannot reach with status 5, on a wrong URL's page with 2; one line."""
    if case == "unreachable":
        api_url, status, fragment = f"http://127.0.0.1:{free_port()}", 5, "cannot reach the Telegram Bot API"
    else:
        page = b"<html><body>404 Not Found</body></html>"
        telegram_server.fail(Fault(404, raw_body=page), method="getMe", times=None)
        api_url, status, fragment = telegram_server.url, 2, "answered with an HTML page"
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        arxiv_rss_url=str(FIXTURES / "rss" / "empty-feed.xml"),
        recovery_days=0,
    )
    telegram = TelegramSettings(
        _env_file=None,
        telegram_bot_token=telegram_server.token,
        telegram_api_url=api_url,
    )
    got = await asyncio.wait_for(
        run_bot(
            settings,
            platform_settings={"telegram": telegram},
            adapter_options={"telegram": {"startup_backoff": QUICK, "poll_timeout": 1.0}},
        ),
        10,
    )
    err = capsys.readouterr().err
    assert got == status
    assert err.startswith("arxiv-digest: ")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


async def test_stopping_cuts_off_a_long_command_answer_after_the_grace(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """Answers still waiting at 1 message/s when stopping are cut off after `stop_grace`; run() ends."""
    adapter = startup_adapter(
        store,
        telegram_server.url,
        telegram_server.token,
        rate_limits=RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=1.0),
        stop_grace=0.3,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await telegram_server.wait_for_call("getUpdates")
    for _ in range(7):  # seven answers into one chat, one a second
        telegram_server.push_message(77, "/status")
    await telegram_server.wait_for_call("sendMessage", chat_id=77, ok=True, count=2, timeout=10)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 1.5
    assert len(telegram_server.calls_to("sendMessage", chat_id=77)) < 7


async def test_plain_text_gets_a_hint_in_private_only_and_a_failed_download_one_line(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer
) -> None:
    """Plain text: a hint in private chats only; a config file that cannot be fetched: a one-line answer."""
    telegram_server.push_message(-100911, "hello everyone", chat_type="supergroup")
    telegram_server.push_message(56, "hello?")
    (hint,) = await telegram_server.wait_for_call("sendMessage", chat_id=56, ok=True)
    assert hint.params["text"] == PRIVATE_TEXT_HINT
    telegram_server.fail(Fault.server_error(), method="getFile", times=None)
    telegram_server.push_message(56, document=("config.yml", b"MLLM:\n  filters: [VLM]\n"))
    answers = await telegram_server.wait_for_call("sendMessage", chat_id=56, ok=True, count=2)
    assert answers[1].params["text"].startswith("I could not fetch that file from Telegram")
    assert telegram_server.calls_to("sendMessage", chat_id=-100911) == []


async def test_answers_in_a_forum_topic_stay_in_it_and_reply_to_the_asker(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer
) -> None:
    """A command in a forum topic is answered in that topic, as a reply to the command."""
    forum = -100912
    telegram_server.add_forum(forum)
    topic = telegram_server.add_forum_topic(forum, "Papers")
    asked = telegram_server.push_message(forum, "/help", message_thread_id=topic)["message"]
    (answer,) = await telegram_server.wait_for_call("sendMessage", chat_id=forum, ok=True)
    assert answer.params["message_thread_id"] == topic
    assert answer.params["reply_parameters"]["message_id"] == asked["message_id"]


# -- private answers and files (/saved, /export) ---------------------------------------------------------
SAVED_ON = dt.date(2025, 11, 13)


async def _bookmarked(store: SqliteStore, user_id: int) -> None:
    """An announcement with one paper, which the user saved with 🔖."""
    paper = make_paper("2511.00001", "Diffusion & Friends")
    await store.save_announcement(make_announcement(SAVED_ON, [paper], categories=("cs.CV",)))
    at = dt.datetime(2025, 11, 13, 12, 0, tzinfo=dt.UTC)
    assert await store.toggle_bookmark("telegram", str(user_id), paper.arxiv_id, SAVED_ON, at)


async def test_saved_in_a_group_goes_to_the_askers_private_chat(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """/saved in a group: the list goes to the user's private chat (its id is the user's), and the group
    gets one line replying to the command; nothing of the list is posted in the group."""
    group, user = -100920, 4242
    await _bookmarked(store, user)
    asked = telegram_server.push_message(group, "/saved", from_user=user, chat_type="supergroup")["message"]
    (listing,) = await telegram_server.wait_for_call("sendMessage", chat_id=user, ok=True)
    assert "Diffusion & Friends — https://arxiv.org/abs/2511.00001" in listing.params["text"]
    (notice,) = await telegram_server.wait_for_call("sendMessage", chat_id=group, ok=True)
    assert notice.params["text"] == "🔖 I sent you your bookmarks privately."
    assert notice.params["reply_parameters"]["message_id"] == asked["message_id"]


async def test_saved_in_a_group_when_the_user_never_started_the_bot_is_a_hint(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """Telegram refuses a private message (403: the user never opened a chat with the bot): the group gets
    one line saying how (open a chat with @bot, press Start, send the command again)."""
    group, user = -100921, 4243
    await _bookmarked(store, user)
    refusal = Fault(403, "Forbidden: bot can't initiate conversation with a user")
    telegram_server.fail(refusal, method="sendDocument", chat_id=user, times=None)
    telegram_server.push_message(group, "/export ris", from_user=user, chat_type="supergroup")
    (hint,) = await telegram_server.wait_for_call("sendMessage", chat_id=group, ok=True)
    assert hint.params["text"] == (
        f"I can't message you privately yet: open a chat with @{BOT_NAME}, press Start,"
        " then send /export ris again."
    )
    assert telegram_server.sent_documents(group) == []


async def test_export_in_a_private_chat_is_a_document_with_a_caption(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """/export bibtex in the private chat: the .bib file itself (sendDocument, checked against the Bot API
    spec by the fake) with a one-line caption; the file parses with a real BibTeX reader."""
    user = 4244
    await _bookmarked(store, user)
    telegram_server.push_message(user, "/export bibtex")
    (call,) = await telegram_server.wait_for_call("sendDocument", chat_id=user, ok=True)
    assert call.params["caption"].startswith("🔖 Your 1 bookmark as BibTeX")
    (document,) = telegram_server.sent_documents(user)
    assert re.fullmatch(r"arxiv-bookmarks-\d{4}-\d{2}-\d{2}\.bib", document.filename), document.filename
    [entry] = parsed_bibtex(document.data.decode())
    assert entry["eprint"] == "2511.00001"
    assert telegram_server.take_violations() == []


async def test_a_commands_chat_title_is_recorded_for_the_operator(
    running: tuple[TelegramAdapter, Monotonic], telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """After a command the chat's title (a private chat: the user's name) is in the store, for
    `arxiv-digest channels`; the chat's /subscribe names it at once."""
    telegram_server.push_message(55, "/subscribe diffusion")
    await telegram_server.wait_for_call("sendMessage", chat_id=55, ok=True)
    channel = await store.get_channel("telegram", "55")
    assert channel is not None
    assert (channel.title, channel.server_name) == ("User 55", None)
