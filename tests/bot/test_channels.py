"""The platform-neutral chat rules: gone chats turned off once, moved chats keep their settings."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.channels import ChannelRegistry
from bot.models import Channel, Topic

TOPIC = Topic("Papers", ("diffusion",))


class Changes:
    """Counts the registry's change notifications."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        """One notification."""
        self.count += 1


async def test_a_gone_chat_is_turned_off_and_logged_once(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Reporting a chat gone twice turns it off once, logs one warning and notifies once."""
    saved = await store.save_channel(Channel("discord", "10", active=True, topics=(TOPIC,)))
    changes = Changes()
    chats = ChannelRegistry(store, on_change=changes)
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        assert await chats.gone_by_id("discord", "10", "403 Missing Access") is True
        assert await chats.gone_by_id("discord", "10", "403 Missing Access") is False
    stored = await store.get_channel("discord", "10")
    assert stored is not None
    assert not stored.active
    assert stored.topics == saved.topics  # the filters are kept
    assert [r.getMessage() for r in caplog.records].count(
        "discord chat 10 is gone (403 Missing Access); its daily digest is turned off"
    ) == 1
    assert changes.count == 1


async def test_an_unknown_chat_reported_gone_changes_nothing(store: Any) -> None:
    """A chat the store never saw is not created by a 'gone' report."""
    assert await ChannelRegistry(store).gone_by_id("telegram", "404", "kicked") is False
    assert await store.list_channels(active_only=False) == []


async def test_leaving_a_server_turns_off_only_its_channels(store: Any) -> None:
    """Removing the bot from one server turns off that server's channels, no other server's, no DM."""
    await store.save_channel(Channel("discord", "1", server_id="900", active=True, topics=(TOPIC,)))
    await store.save_channel(Channel("discord", "2", server_id="900", active=True, topics=(TOPIC,)))
    await store.save_channel(Channel("discord", "3", server_id="901", active=True, topics=(TOPIC,)))
    await store.save_channel(Channel("discord", "4", active=True, topics=(TOPIC,)))
    assert await ChannelRegistry(store).server_left("discord", "900", "removed") == 2
    active = {channel.chat_id for channel in await store.list_channels(active_only=True)}
    assert active == {"3", "4"}


async def test_a_moved_chat_keeps_its_settings(store: Any) -> None:
    """A chat re-keyed to a new id keeps its store id, topics and time zone."""
    saved = await store.save_channel(
        Channel("telegram", "-5", active=True, timezone="Europe/Berlin", topics=(TOPIC,))
    )
    moved = await ChannelRegistry(store).moved("telegram", "-5", "-1005")
    assert moved is not None
    assert (moved.id, moved.chat_id, moved.timezone, moved.topics) == (
        saved.id,
        "-1005",
        "Europe/Berlin",
        (TOPIC,),
    )
    assert await store.get_channel("telegram", "-5") is None
