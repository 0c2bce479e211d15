"""A third platform from the test tree alone, registered through `serve(platforms=...)`.

The console platform (`tests.platforms.console`) runs through the real wiring: the real
CommandService, DeliveryService and SQLite store, and the fake arXiv on 127.0.0.1. Nothing in the
core, the settings or the CLI names it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.main.app import StartupError, serve
from bot.main.platforms import PLATFORMS
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


def posted_ids(console: Console, start: int = 0) -> tuple[list[str], set[str]]:
    """Papers in the chat's messages since `start` (in order, repeats kept) and in its attached files."""
    messages = console.posted[CHAT][start:]
    inline = [paper for message in messages if message.document is None for paper in ids_in(message.text)]
    in_files = {
        paper
        for message in messages
        if message.document is not None
        for paper in ids_in(message.document.decode("utf-8"))
    }
    return inline, in_files


async def test_a_third_platform_registered_from_the_tests_gets_commands_and_the_daily_digest(
    settings: Settings, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """/start, /subscribe, the announcement's digest by the delivery loop; /digest keeps /settings max."""
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
        inline, in_file = posted_ids(console, start=2)
        assert len(inline) == len(set(inline)) == 30  # the chat's default limit, the rest in the file
        assert in_file == mllm_ids()
        assert all(len(message.text) <= MAX_MESSAGE for message in console.posted[CHAT])
        channel = await store.get_channel("console", CHAT)
        assert channel is not None
        assert channel.id is not None
        assert await store.delivered_ids(channel.id) == mllm_ids()

        before = len(console.posted[CHAT])
        console.type(CHAT, "/settings max 5")
        await until(lambda: len(console.posted[CHAT]) > before, what="the /settings reply")
        assert console.posted[CHAT][-1].text.startswith("Up to 5 papers come as messages")
        before = len(console.posted[CHAT])
        console.type(CHAT, "/digest")
        await until(lambda: any(m.document for m in console.posted[CHAT][before:]), what="the /digest file")
        inline, in_file = posted_ids(console, start=before)
        assert (
            len(inline) == 5
        )  # the chat's new limit reached the reply without the adapter reading the store
        assert in_file == mllm_ids()
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
