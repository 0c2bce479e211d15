"""Who may change a Discord channel's settings: Manage Channels in the channel, ADMIN_USER_IDS, one's DM.

The real discord.py runs against the fake Discord. Discord sends the member's resolved permissions in
the interaction, so there is no look-up that could fail: a member without Manage Channels (whatever
else they may do) is refused every change, privately, and the stored channel stays exactly as it was;
the commands open to everyone stay open, and so do the reads of the settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.models import Channel, Style, Topic
from storage.sqlite_store import SqliteStore
from tests.fakes.discord_model import ADMINISTRATOR, EVERYONE_PERMISSIONS, MANAGE_CHANNELS, MANAGE_GUILD
from tests.fakes.discord_server import FakeDiscord

GUILD = 900000000000000101
CHANNEL = 900000000000000111
# Everything a trusted member might have short of Manage Channels (Discord resolves Administrator
# into every bit, so an admin's payload always carries Manage Channels too).
ALMOST = EVERYONE_PERMISSIONS | MANAGE_GUILD
REFUSAL = "Only members who can Manage Channels here can change this channel's settings."


def text(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """String options as Discord sends them."""
    return [{"type": 3, "name": name, "value": value} for name, value in pairs]


def sub(name: str, options: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A sub-command with its options."""
    return [{"type": 1, "name": name, "options": options or []}]


SETTINGS_ALL = [
    {"type": 3, "name": "style", "value": "titles"},
    {"type": 5, "name": "file", "value": True},
    {"type": 3, "name": "empty", "value": "off"},
]
CHANGES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "subscribe": ("subscribe", text(("keywords", "GAN"))),
    "unsubscribe": ("unsubscribe", []),
    "keywords add": ("keywords", sub("add", text(("words", "GAN")))),
    "keywords set": ("keywords", sub("set", text(("words", "GAN")))),
    "keywords clear": ("keywords", sub("clear")),
    "exclude set": ("exclude", sub("set", text(("words", "survey")))),
    "exclude add": ("exclude", sub("add", text(("words", "survey")))),
    "categories": ("categories", text(("codes", "cs.LG"))),
    "time": ("time", text(("time", "09:00"), ("timezone", "Europe/Berlin"))),
    "settings style": ("settings", text(("style", "full"))),
    "settings file": ("settings", [{"type": 5, "name": "file", "value": True}]),
    "settings style, file and empty": ("settings", SETTINGS_ALL),
    "topics add": ("topics", sub("add", text(("name", "Robots"), ("keywords", "humanoid")))),
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with one guild of one text channel."""
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD, [(CHANNEL, "papers")])
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def adapter(fake: FakeDiscord, store: SqliteStore) -> AsyncIterator[DiscordAdapter]:
    """The adapter connected to the fake (commands synced to the guild); stopped afterwards."""
    running = DiscordAdapter(
        fake.token,
        CommandService(store, ("cs.CV", "cs.LG")),
        ChannelRegistry(store),
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_id=GUILD,
        guild_ready_timeout=0.05,
        messages_per_second=0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    await fake.wait_ready()
    try:
        yield running
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    assert fake.validation_errors == []


async def seeded(store: SqliteStore) -> Channel:
    """The channel, subscribed to 'diffusion' by an admin earlier."""
    return await store.save_channel(
        Channel(
            "discord",
            str(CHANNEL),
            server_id=str(GUILD),
            active=True,
            topics=(Topic("Papers", ("diffusion",)),),
        )
    )


async def responses(
    fake: FakeDiscord, name: str, options: list[dict[str, Any]], permissions: int
) -> list[Any]:
    """Run a slash command in the channel as a member with these permissions; every response to it."""
    sent = await fake.send_interaction(
        name, options, guild_id=GUILD, channel_id=CHANNEL, permissions=permissions
    )
    await fake.wait_for_responses(sent.id)
    await asyncio.sleep(0.1)  # room for a second, unexpected response
    return fake.responses(sent.id)


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_member_without_manage_channels_is_refused_every_change(
    change: str, adapter: DiscordAdapter, fake: FakeDiscord, store: SqliteStore
) -> None:
    """Without Manage Channels every admin-only command gets one private refusal; nothing is stored."""
    before = await seeded(store)
    name, options = CHANGES[change]
    (only,) = await responses(fake, name, options, ALMOST)
    assert only["ephemeral"]
    assert str(only["data"]["content"]).startswith(REFUSAL)
    assert await store.get_channel("discord", str(CHANNEL)) == before


@pytest.mark.parametrize("change", list(CHANGES))
async def test_manage_channels_may_make_every_change(
    change: str, adapter: DiscordAdapter, fake: FakeDiscord, store: SqliteStore
) -> None:
    """With Manage Channels in the channel each admin-only command reaches the core and is answered."""
    before = await seeded(store)
    name, options = CHANGES[change]
    answers = await responses(fake, name, options, MANAGE_CHANNELS)
    assert not any(REFUSAL in str((answer["data"] or {}).get("content")) for answer in answers)
    assert await store.get_channel("discord", str(CHANNEL)) != before


async def test_settings_with_every_option_changes_them_all_for_a_manager(
    adapter: DiscordAdapter, fake: FakeDiscord, store: SqliteStore
) -> None:
    """/settings style, file and empty together: a manager gets all three applied in one answer."""
    await seeded(store)
    (answer,) = await responses(fake, "settings", SETTINGS_ALL, MANAGE_CHANNELS | ADMINISTRATOR)
    assert not answer["ephemeral"]
    channel = await store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert (channel.style, channel.send_file, channel.notify_empty) == (Style.TITLES, True, False)


def settings_of(channel: Channel | None) -> Channel | None:
    """The channel without the names a command records for the operator (`arxiv-digest channels`)."""
    return None if channel is None else replace(channel, title=None, server_name=None)


READS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "keywords list": ("keywords", sub("list")),
    "exclude list": ("exclude", sub("list")),
    "topics list": ("topics", sub("list")),
    "categories": ("categories", []),
    "time": ("time", []),
    "settings": ("settings", []),
}


@pytest.mark.parametrize("read", list(READS))
async def test_a_member_without_rights_may_read_the_settings(
    read: str, adapter: DiscordAdapter, fake: FakeDiscord, store: SqliteStore
) -> None:
    """The list sub-commands and the option-less /categories, /time and /settings answer any member
    (the adapter passes `is_admin`, the core lets reads through); nothing is stored."""
    before = await seeded(store)
    name, options = READS[read]
    answers = await responses(fake, name, options, 0)
    assert answers
    assert not any(REFUSAL in str((answer["data"] or {}).get("content")) for answer in answers)
    assert settings_of(await store.get_channel("discord", str(CHANNEL))) == before


@pytest.mark.parametrize("name", ["help", "status"])
async def test_the_open_commands_answer_a_member_without_rights(
    name: str, adapter: DiscordAdapter, fake: FakeDiscord, store: SqliteStore
) -> None:
    """/help and /status answer a member with no rights at all, publicly."""
    before = await seeded(store)
    answers = await responses(fake, name, [], 0)
    assert answers
    assert not any(REFUSAL in str((answer["data"] or {}).get("content")) for answer in answers)
    assert not answers[0]["ephemeral"]
    assert settings_of(await store.get_channel("discord", str(CHANNEL))) == before
