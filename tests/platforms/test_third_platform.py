"""A third platform from the test tree alone, registered through `serve(platforms=...)`.

The console platform (`tests.platforms.console`) runs through the real wiring: the real
CommandService, DeliveryService and SQLite store, and the fake arXiv on 127.0.0.1. Nothing in the
core, the settings or the CLI names it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.main.app import StartupError, serve
from bot.main.platforms import PLATFORMS
from bot.platforms.port import OutgoingMessage
from bot.settings import Settings
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.platforms.console import CONSOLE, MAX_MESSAGE, Console, ConsoleSettings
from tests.test_telegram_e2e import (
    ANCHOR_FEED,
    ANNOUNCED,
    EMPTY_FEED,
    MLLM_KEYWORDS,
    Clock,
    ids_in,
    mllm_ids,
    until,
)

CHAT = "alice"


@pytest.fixture
def settings(tmp_path: Path, arxiv_server: FakeArxiv) -> Settings:
    """The core's settings (no .env) aimed at the fake arXiv."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        arxiv_rss_url=arxiv_server.rss_url,
        arxiv_api_url=arxiv_server.api_url,
        arxiv_poll_interval=3,
        arxiv_timeout=10,
        arxiv_max_retries=0,
        recovery_days=0,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SqliteStore]:
    """A second connection to the bot's database, for reading the channel and the ledger."""
    opened = await open_store(settings.database_path)
    try:
        yield opened
    finally:
        await opened.close()


def turned(console: Console, index: int, before: OutgoingMessage) -> bool:
    """Whether the chat's message `index` is no longer `before`."""
    return console.posted[CHAT][index] is not before


async def paged_ids(console: Console, index: int) -> list[str]:
    """Every paper the chat's message `index` shows, pressing "next" until it is back on its first page."""
    first = console.posted[CHAT][index].text
    seen: list[str] = []
    for _ in range(50):
        message = console.posted[CHAT][index]
        seen.extend(ids_in(message.text))
        assert isinstance(message.payload, tuple)
        console.press(CHAT, index, message.payload[1])
        await until(partial(turned, console, index, message), what="the page turn")
        if console.posted[CHAT][index].text == first:
            return seen
    raise AssertionError("the pages never came round to the first")


@pytest.mark.slow
async def test_a_third_platform_registered_from_the_tests_gets_commands_and_the_daily_digest(
    settings: Settings, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """/start, /subscribe, the daily digest as one paged message, /digest; pages turn in place."""
    console = Console()
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=dt.UTC))
    stop = asyncio.Event()
    bot = asyncio.create_task(
        serve(
            settings,
            stop,
            platforms=(*PLATFORMS, CONSOLE),
            platform_settings={"console": ConsoleSettings(_env_file=None, console_token="on")},
            clock=clock,
            delivery_tick=0.05,
            adapter_options={"console": {"console": console}},
        )
    )
    try:
        await until(lambda: len(arxiv_server.of_kind("rss")) >= 1, what="the first feed check")
        console.type(CHAT, "/start")
        await until(lambda: len(console.posted[CHAT]) >= 1, what="the /start reply")
        console.type(CHAT, f"/subscribe {MLLM_KEYWORDS}")
        await until(lambda: len(console.posted[CHAT]) >= 2, what="the /subscribe reply")
        start_reply, subscribe_reply = (message.text for message in console.posted[CHAT])
        assert "arXiv" in start_reply
        assert "Subscribed" in subscribe_reply

        arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)

        async def digest_done() -> bool:
            channel = await store.get_channel("console", CHAT)
            return channel is not None and channel.done_up_to == ANNOUNCED

        await until(digest_done, timeout=15, what="the digest of 2025-11-12")
        assert len(console.posted[CHAT]) == 3  # /start, /subscribe, and the digest: one message
        shown = await paged_ids(console, 2)
        assert len(shown) == len(set(shown))  # each paper on exactly one page
        assert set(shown) == mllm_ids()
        assert len(console.posted[CHAT]) == 3  # turning pages posted nothing
        assert all(len(message.text) <= MAX_MESSAGE for message in console.posted[CHAT])
        channel = await store.get_channel("console", CHAT)
        assert channel is not None
        assert channel.id is not None
        assert await store.delivered_ids(channel.id) == mllm_ids()

        console.type(CHAT, "/digest")
        await until(lambda: len(console.posted[CHAT]) == 4, what="the /digest reply")
        assert set(await paged_ids(console, 3)) == mllm_ids()
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await bot


async def test_without_a_configured_platform_the_message_names_every_registered_token(
    settings: Settings,
) -> None:
    """No platform configured: the one line names each registered platform's token, the third one too."""
    with pytest.raises(StartupError) as two:
        await serve(settings, asyncio.Event(), platform_settings={})
    assert str(two.value) == (
        "arxiv-digest: no chat adapter to run: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN "
        "(or try `arxiv-digest preview -k WORDS`, which needs no token)"
    )
    with pytest.raises(StartupError) as three:
        await serve(
            settings,
            asyncio.Event(),
            platforms=(*PLATFORMS, CONSOLE),
            platform_settings={"console": ConsoleSettings(_env_file=None)},
        )
    assert "set TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN and/or CONSOLE_TOKEN (" in str(three.value)
