"""Discord shards across processes: each adapter gets only its shards' servers (DMs: shard 0's), and any
of them delivers anywhere; the fake gateway routes as Discord does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest

from adapters.discord import DISCORD
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.settings import DiscordSettings
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.feedback import FeedbackService
from bot.models import Channel
from bot.platforms.port import OutgoingMessage
from bot.platforms.spec import AdapterServices
from storage.sqlite_store import SqliteStore
from tests.fakes.discord_model import DEFAULT_TOKEN
from tests.fakes.discord_server import FakeDiscord

# Discord routes a server's events to shard (server_id >> 22) % shard_count.
GUILD_0 = (1_000_000 << 22) | 17  # shard 0 of 2
GUILD_1 = (1_000_001 << 22) | 17  # shard 1 of 2
LATE_GUILD = (1_000_003 << 22) | 5  # shard 1 of 2, joined while running
CHANNEL_0 = 910000000000000010
CHANNEL_1 = 910000000000000011
LATE_CHANNEL = 910000000000000013


@dataclass
class ShardProcess:
    """One process's Discord adapter, running, and the interactions its client was handed."""

    adapter: DiscordAdapter
    stop: asyncio.Event
    task: asyncio.Task[None]
    interactions: list[int] = field(default_factory=list)

    @property
    def guilds(self) -> set[int]:
        """The servers this process's client knows."""
        return {guild.id for guild in self.adapter.client.guilds}


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The fake Discord with a server on each shard of 2; discord.py aimed at it for the whole test
    (several adapters in one test would otherwise restore each other's aim)."""
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD_0, [(CHANNEL_0, "papers")])
    server.add_guild(GUILD_1, [(CHANNEL_1, "papers")])
    server.aim(monkeypatch)
    try:
        yield server
    finally:
        await server.close()


async def start(fake: FakeDiscord, store: SqliteStore, ids: tuple[int, ...], count: int) -> ShardProcess:
    """Start an adapter running shards `ids` of `count`, and note each interaction its client dispatches."""
    commands = CommandService(store, ("cs.CV",))
    adapter = DiscordAdapter(
        fake.token,
        commands,
        ChannelRegistry(store),
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_id=None,
        guild_ready_timeout=0.05,
        messages_per_second=0,
        shards=(ids, count),
    )

    async def no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
        """Discord spaces a bot's IDENTIFYs 5 s apart; the fake does not ask for it."""

    adapter.client.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
    stop = asyncio.Event()
    process = ShardProcess(adapter, stop, asyncio.create_task(adapter.run(stop)))
    handler = adapter.client.on_interaction  # type: ignore[attr-defined]

    async def noted(interaction: discord.Interaction) -> None:
        """Note the interaction, then handle it as the adapter does."""
        process.interactions.append(interaction.id)
        await handler(interaction)

    adapter.client.on_interaction = noted  # type: ignore[attr-defined]
    for shard in ids:
        await fake.wait_ready(timeout=10, shard=shard)
    async with asyncio.timeout(5):
        while not adapter.client.is_ready():  # its GUILD_CREATEs read
            await asyncio.sleep(0.01)
    return process


async def stopped(*processes: ShardProcess) -> None:
    """Stop the processes and wait for their adapters to return."""
    for process in processes:
        process.stop.set()
    async with asyncio.timeout(10):
        for process in processes:
            await process.task


async def answered(fake: FakeDiscord, name: str = "help", **where: Any) -> int:
    """Send a slash command and wait for its answer; the interaction's id."""
    sent = await fake.send_interaction(name, **where)
    (first, *_) = await fake.wait_for_responses(sent.id)
    assert first["kind"] == "callback"
    return sent.id


async def test_two_processes_each_get_only_their_shards_servers(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """Shards 0 and 1 of 2 in two processes: each IDENTIFYs as its shard and knows only its servers; a
    command in shard 1's server is answered by the shard-1 process, a DM by shard 0's, a server joined
    later reaches only its shard; either process delivers into any channel (REST needs no shard)."""
    zero = await start(fake, store, (0,), 2)
    one = await start(fake, store, (1,), 2)
    try:
        assert sorted(payload["shard"] for payload in fake.identify_payloads) == [[0, 2], [1, 2]]
        assert fake.shards == [(0, 2), (1, 2)]
        assert (zero.guilds, one.guilds) == ({GUILD_0}, {GUILD_1})

        in_one = await answered(fake, guild_id=GUILD_1)
        in_zero = await answered(fake, guild_id=GUILD_0)
        in_dm = await answered(fake, user_id=1100000000000000777)
        assert one.interactions == [in_one]
        assert zero.interactions == [in_zero, in_dm]

        fake.add_guild(LATE_GUILD, [(LATE_CHANNEL, "late")])
        async with asyncio.timeout(5):
            while LATE_GUILD not in one.guilds:
                await asyncio.sleep(0.01)
        assert LATE_GUILD not in zero.guilds

        await one.adapter.send(
            Channel("discord", str(CHANNEL_0)), OutgoingMessage(text="from shard 1's process")
        )
        await zero.adapter.send(Channel("discord", str(LATE_CHANNEL)), OutgoingMessage(text="from shard 0's"))
        assert [m["body"]["content"] for m in fake.channel_messages(CHANNEL_0)] == ["from shard 1's process"]
        assert [m["body"]["content"] for m in fake.channel_messages(LATE_CHANNEL)] == ["from shard 0's"]
    finally:
        await stopped(zero, one)
    assert fake.validation_errors == []
    assert fake.failed_interactions() == []


async def test_one_process_running_every_shard_gets_every_server(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """DISCORD_SHARD_COUNT=2 without ids: one process runs both shards (an AutoShardedClient) and answers
    commands in both servers and DMs."""
    both = await start(fake, store, (0, 1), 2)
    try:
        assert isinstance(both.adapter.client, discord.AutoShardedClient)
        assert sorted(payload["shard"] for payload in fake.identify_payloads) == [[0, 2], [1, 2]]
        async with asyncio.timeout(5):
            while both.guilds != {GUILD_0, GUILD_1}:
                await asyncio.sleep(0.01)
        asked = [await answered(fake, guild_id=GUILD_1), await answered(fake, guild_id=GUILD_0)]
        asked.append(await answered(fake, user_id=1100000000000000777))
        assert both.interactions == asked
    finally:
        await stopped(both)


async def test_the_fake_gateway_refuses_an_invalid_shard_and_keeps_unsharded_clients_whole(
    fake: FakeDiscord,
) -> None:
    """IDENTIFY with shard [2, 2] is closed with 4010 (Invalid shard); a client without shards gets every
    server, as before sharding."""
    bad = discord.Client(intents=discord.Intents.none(), shard_id=2, shard_count=2)
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(bad.start(fake.token), 10)
    assert closed.value.code == 4010
    await bad.close()
    intents = discord.Intents.none()
    intents.guilds = True
    whole = discord.Client(intents=intents, guild_ready_timeout=0.05)
    async with fake.run_client(whole):
        assert {guild.id for guild in whole.guilds} == {GUILD_0, GUILD_1}
        assert fake.identify_payloads[-1].get("shard") is None


def test_the_shard_settings_reach_the_client(store: SqliteStore) -> None:
    """DISCORD_SHARD_COUNT/IDS through the platform's builder: one id is a Client with that shard, several
    an AutoShardedClient with those ids, none the unsharded Client."""
    commands = CommandService(store, ("cs.CV",))
    services = AdapterServices(commands, ChannelRegistry(store), commands.views, FeedbackService(store))

    def client(**shards: Any) -> discord.Client:
        """The client the builder makes for these settings."""
        settings = DiscordSettings(_env_file=None, discord_bot_token=DEFAULT_TOKEN, **shards)
        adapter = DISCORD.build(settings, services, {})
        assert isinstance(adapter, DiscordAdapter)
        return adapter.client

    one = client(discord_shard_count="4", discord_shard_ids="3")
    assert type(one) is discord.Client
    assert (one.shard_id, one.shard_count) == (3, 4)
    several = client(discord_shard_count="4", discord_shard_ids="0,2")
    assert isinstance(several, discord.AutoShardedClient)
    assert (several.shard_ids, several.shard_count) == ([0, 2], 4)
    every = client(discord_shard_count="2")
    assert isinstance(every, discord.AutoShardedClient)
    assert (every.shard_ids, every.shard_count) == ([0, 1], 2)
    unsharded = client()
    assert type(unsharded) is discord.Client
    assert (unsharded.shard_id, unsharded.shard_count) == (None, None)
