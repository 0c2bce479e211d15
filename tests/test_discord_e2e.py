"""The whole bot with Discord: `bot.main.app.serve` against the fake Discord and the fake arXiv on 127.0.0.1.

Real discord.py, real SQLite, real HTTP and websocket; an injected clock decides when a channel's
digest is due. What the bot sent is read back from the fake's records (every body validated against
Discord's OpenAPI spec) and from the store's delivery ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.settings import DiscordSettings
from bot.main.app import serve
from bot.settings import Settings
from storage.sqlite_store import SqliteStore
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.discord_faults import Fault
from tests.fakes.discord_model import MANAGE_CHANNELS
from tests.fakes.discord_openapi import embeds_total_length
from tests.fakes.discord_server import FakeDiscord
from tests.test_cli import arxiv_digest
from tests.test_telegram_e2e import (
    ANCHOR_FEED,
    ANNOUNCED,
    EMPTY_FEED,
    MLLM_KEYWORDS,
    Clock,
    mllm_ids,
    until,
)

UTC = dt.UTC
GUILD = 910000000000000001
PAPERS = 910000000000000011
ROBOTS = 910000000000000012


@pytest.fixture
async def discord_server() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with one guild of two text channels."""
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild(GUILD, [(PAPERS, "papers"), (ROBOTS, "robots")])
    try:
        yield fake
    finally:
        await fake.close()
    assert fake.validation_errors == []


@pytest.fixture
def settings(db_path: Path, discord_server: FakeDiscord, arxiv_server: FakeArxiv) -> Settings:
    """The core's settings aimed at the fake arXiv; RunningBot aims Discord's (only) at the fake Discord."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{db_path}",
        arxiv_rss_url=arxiv_server.rss_url,
        arxiv_api_url=arxiv_server.api_url,
        arxiv_poll_interval=3,
        arxiv_timeout=10,
        arxiv_max_retries=0,
        recovery_days=0,
    )


class RunningBot:
    """`serve()` in a task until the fake Discord has a ready gateway; stopped (promptly) on exit."""

    def __init__(self, settings: Settings, fake: FakeDiscord, clock: Clock) -> None:
        self.settings = settings
        self.fake = fake
        self.clock = clock
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningBot:
        """Start serving."""
        self.task = asyncio.create_task(
            serve(
                self.settings,
                self.stop,
                platform_settings={
                    "discord": DiscordSettings(
                        _env_file=None,
                        discord_bot_token=self.fake.token,
                        discord_api_url=self.fake.api_url,
                        discord_gateway_url=self.fake.gateway_url,
                        discord_guild_id=GUILD,
                    )
                },
                clock=self.clock,
                delivery_tick=0.05,
                adapter_options={"discord": {"guild_ready_timeout": 0.05, "messages_per_second": 0}},
            )
        )
        await self.fake.wait_ready(timeout=10)
        assert not self.task.done()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop and wait for serve() to return."""
        self.stop.set()
        assert self.task is not None
        async with asyncio.timeout(15):
            await self.task


async def command(fake: FakeDiscord, name: str, options: list[dict[str, Any]], **kw: Any) -> str:
    """An admin's slash command in #papers; the text of its first answer."""
    kw.setdefault("guild_id", GUILD)
    kw.setdefault("channel_id", PAPERS)
    kw.setdefault("permissions", MANAGE_CHANNELS)
    sent = await fake.send_interaction(name, options, **kw)
    (first, *_) = await fake.wait_for_responses(sent.id, timeout=10)
    return str((first.get("data") or {}).get("content") or "")


def option(name: str, value: Any, kind: int = 3) -> dict[str, Any]:
    """One option as Discord sends it."""
    return {"type": kind, "name": name, "value": value}


def paper_ids(message: dict[str, Any]) -> list[str]:
    """The papers a created message carries as embeds (from each embed's own url)."""
    return [e["url"].rsplit("/", 1)[-1] for e in message["body"].get("embeds", []) if "url" in e]


async def test_a_channel_gets_the_anchor_digest_at_its_local_time(
    settings: Settings,
    discord_server: FakeDiscord,
    arxiv_server: FakeArxiv,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An admin subscribes #papers to the MLLM keywords at 08:00 Berlin: at 08:00 it gets the 34 papers.

    Each paper exactly once, as embeds (after `/settings max:50`), every message within Discord's limits
    (≤ 10 embeds, ≤ 6000 characters across them, content ≤ 2000, each embed linking only its paper),
    no message pinging anyone; #robots, not subscribed, gets nothing.
    """
    caplog.set_level(logging.DEBUG)
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))  # 07:00 in Berlin
    async with RunningBot(settings, discord_server, clock):
        await until(lambda: len(arxiv_server.of_kind("rss")) >= 1, what="the first feed check")
        assert "Subscribed" in await command(discord_server, "subscribe", [option("keywords", MLLM_KEYWORDS)])
        assert "08:00 Europe/Berlin" in await command(
            discord_server, "time", [option("time", "08:00"), option("timezone", "Europe/Berlin")]
        )
        assert "50" in await command(discord_server, "settings", [option("max", 50, kind=4)])
        arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)
        await until(lambda: store.latest_announcement(), timeout=15, what="the anchor announcement")
        await asyncio.sleep(0.3)  # several delivery rounds: nothing is due before 08:00
        assert discord_server.channel_messages(PAPERS) == []
        clock.now = dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC)  # 08:00 in Berlin

        async def done() -> bool:
            channel = await store.get_channel("discord", str(PAPERS))
            return channel is not None and channel.done_up_to == ANNOUNCED

        await until(done, timeout=15, what="the digest of 2025-11-12")

    messages = discord_server.channel_messages(PAPERS)
    sent = Counter(paper for message in messages for paper in paper_ids(message))
    assert set(sent) == mllm_ids()
    assert set(sent.values()) == {1}
    assert "34 of" in messages[0]["body"]["content"]
    for message in messages:
        body = message["body"]
        embeds = body.get("embeds", [])
        assert len(embeds) <= 10
        assert embeds_total_length(embeds) <= 6000
        assert len(body.get("content") or "") <= 2000
        urls = [embed["url"] for embed in embeds if "url" in embed]
        assert len(urls) == len(set(urls))  # Discord would merge embeds that share a url
        assert body["allowed_mentions"] == {"parse": []}
        assert message["files"] == []
    assert discord_server.channel_messages(ROBOTS) == []
    channel = await store.get_channel("discord", str(PAPERS))
    assert channel is not None
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == mllm_ids()
    assert discord_server.token not in caplog.text


@pytest.mark.slow
async def test_faults_deliver_every_paper_exactly_once(
    settings: Settings, discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """429 (with rate-limit headers), 500 and a dropped gateway mid-run: the ledger has every paper once."""
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))
    async with RunningBot(settings, discord_server, clock):
        await until(lambda: len(arxiv_server.of_kind("rss")) >= 1, what="the first feed check")
        await command(discord_server, "subscribe", [option("keywords", MLLM_KEYWORDS)])
        await command(discord_server, "settings", [option("max", 50, kind=4)])
        path = rf"/channels/{PAPERS}/messages"
        discord_server.fail_next("POST", path, Fault.rate_limited(0.2))
        discord_server.fail_next("POST", path, Fault.server_error(500))
        discord_server.fail_next("POST", path, Fault.rate_limited(0.1))
        await discord_server.drop_gateway()
        arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)

        async def done() -> bool:
            channel = await store.get_channel("discord", str(PAPERS))
            return channel is not None and channel.done_up_to == ANNOUNCED

        await until(done, timeout=30, what="the digest despite the faults")
        await discord_server.wait_ready(timeout=10)
        assert "Last digest" in await command(discord_server, "status", [])

    messages = discord_server.channel_messages(PAPERS)
    sent = Counter(paper for message in messages for paper in paper_ids(message))
    assert set(sent) == mllm_ids()
    assert set(sent.values()) == {1}
    failed = [
        r for r in discord_server.requests_to("POST", rf"/channels/{PAPERS}/messages") if r.status >= 400
    ]
    assert len(failed) == 3
    channel = await store.get_channel("discord", str(PAPERS))
    assert channel is not None
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == mllm_ids()


async def test_a_rejected_discord_token_is_one_line_and_exit_2(
    tmp_path: Path, discord_server: FakeDiscord, arxiv_server: FakeArxiv
) -> None:
    """`run` with a Discord token the server rejects exits 2 with one line naming DISCORD_BOT_TOKEN."""
    env = {
        "DISCORD_BOT_TOKEN": "MTE.wrong.token-that-must-not-be-printed",
        "DISCORD_API_URL": discord_server.api_url,
        "DISCORD_GATEWAY_URL": discord_server.gateway_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "ARXIV_RSS_URL": arxiv_server.rss_url,
        "ARXIV_API_URL": arxiv_server.api_url,
        "RECOVERY_DAYS": "0",
    }
    run = await arxiv_digest("run", cwd=tmp_path, env=env)
    assert run.status == 2
    line = run.err.strip().splitlines()[-1]  # after the start-up log lines
    assert line.startswith("arxiv-digest: Discord rejected DISCORD_BOT_TOKEN")
    assert "Traceback" not in run.err
    assert "not installed" not in run.err  # no voice warnings: the bot has no voice
    assert "token-that-must-not-be-printed" not in run.err + run.out
