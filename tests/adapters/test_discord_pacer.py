"""The Discord adapter's own pacer against the fake's global limit (Discord's 50 requests/s a bot).

Every other test builds the adapter with `messages_per_second=0` (no pacing, for speed); here the
pacer is ON at its default (`MESSAGES_PER_SECOND`, 40/s) and a burst of sends must never reach the
fake's global limit, while the same burst unpaced does: so a broken pacer fails this file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from adapters.discord.adapter import MESSAGES_PER_SECOND, DiscordAdapter
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.models import Channel
from bot.platforms.port import OutgoingMessage
from storage.sqlite_store import SqliteStore
from tests.fakes.discord_faults import GLOBAL_LIMIT_PER_SECOND
from tests.fakes.discord_server import FakeDiscord

GUILD = 900000000000000001
CHANNELS = [900000000000000011 + number for number in range(6)]
BURST = 54  # more than the global limit allows within a second (and 1.3 s at the pace)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord (its global limit on, as always) with one guild of six text channels."""
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD, [(channel_id, f"papers-{n}") for n, channel_id in enumerate(CHANNELS)])
    try:
        yield server
    finally:
        await server.close()
    assert server.validation_errors == []


async def burst(fake: FakeDiscord, store: SqliteStore, messages_per_second: float) -> float:
    """Send BURST messages at once (spread over the channels) through a running adapter; the seconds."""
    commands = CommandService(store, ("cs.CV",))
    adapter = DiscordAdapter(
        fake.token,
        commands,
        ChannelRegistry(store),
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_id=GUILD,
        guild_ready_timeout=0.05,
        messages_per_second=messages_per_second,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    try:
        await fake.wait_ready()
        channels = [Channel("discord", str(channel_id), active=True) for channel_id in CHANNELS]
        started = time.monotonic()
        await asyncio.gather(
            *(
                adapter.send(channels[number % len(channels)], OutgoingMessage(text=f"message {number}"))
                for number in range(BURST)
            )
        )
        took = time.monotonic() - started
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    assert sum(len(fake.channel_messages(channel_id)) for channel_id in CHANNELS) == BURST
    return took


async def test_the_pacer_keeps_a_burst_below_discords_global_limit(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """Paced at 40/s, 54 sends at once never pass 50 in any second: the fake answers no 429."""
    took = await burst(fake, store, MESSAGES_PER_SECOND)
    assert fake.global_rate_limited_count == 0
    assert fake.rate_limited_count == 0
    assert fake.global_window_peak <= MESSAGES_PER_SECOND + 2  # the pace, plus login's requests
    assert took >= (BURST - 1) / MESSAGES_PER_SECOND * 0.95


async def test_without_the_pacer_the_same_burst_hits_the_global_429(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """The control: unpaced, the burst passes 50 within a second and gets global 429s, which discord.py
    sleeps off (every message still arrives) — what a broken pacer would do to a fan-out."""
    await burst(fake, store, 0)
    assert fake.global_rate_limited_count > 0
    assert fake.global_window_peak == GLOBAL_LIMIT_PER_SECOND
