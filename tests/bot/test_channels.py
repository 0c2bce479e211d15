"""The platform-neutral chat rules: gone chats turned off once, moved chats keep their settings."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.channels import ChannelRegistry, clean_name
from bot.models import Channel, InactiveReason, Topic

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


async def test_a_gone_chat_says_why_it_is_off(store: Any) -> None:
    """A chat reported gone is off with the reason `gone`, which `arxiv-digest channels` shows."""
    await store.save_channel(Channel("telegram", "7", active=True, topics=(TOPIC,)))
    turned = await ChannelRegistry(store).gone(Channel("telegram", "7"), "kicked")
    assert turned.inactive_reason == InactiveReason.GONE
    stored = await store.get_channel("telegram", "7")
    assert stored is not None
    assert (stored.active, stored.inactive_reason) == (False, InactiveReason.GONE)


class NamingStore:
    """The real store, counting `set_channel_names` calls."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.writes = 0

    async def set_channel_names(self, *args: Any) -> bool:
        """Count, then write through."""
        self.writes += 1
        return bool(await self.store.set_channel_names(*args))

    def __getattr__(self, name: str) -> Any:
        """Everything else as the store does it."""
        return getattr(self.store, name)


async def test_names_are_written_once_a_chat_is_stored_and_again_only_when_they_change(store: Any) -> None:
    """`named` for a chat not stored yet writes nothing lasting and tries again next time; once stored,
    the same names are written once, a rename once more."""
    counting = NamingStore(store)
    chats = ChannelRegistry(counting)
    await chats.named("discord", "5", "papers", "Lab")
    await store.save_channel(Channel("discord", "5", server_id="9", active=True, topics=(TOPIC,)))
    for _ in range(3):
        await chats.named("discord", "5", "papers", "Lab")
    assert counting.writes == 2  # the unknown chat, then the stored one once
    await chats.named("discord", "5", "robots", "Lab")
    assert counting.writes == 3
    await chats.named("discord", "5", None, None)  # the platform said nothing: nothing to write
    assert counting.writes == 3
    stored = await store.get_channel("discord", "5")
    assert stored is not None
    assert (stored.title, stored.server_name) == ("robots", "Lab")


async def test_a_name_is_made_fit_for_a_terminal(store: Any) -> None:
    """Control characters (an escape sequence's ESC) and line breaks become spaces, bidirectional
    overrides are dropped, whitespace collapses, and a name is cut at 128 characters."""
    await store.save_channel(Channel("telegram", "-9", active=True, topics=(TOPIC,)))
    await ChannelRegistry(store).named("telegram", "-9", "Lab\x1b[31m\u202e news\n\tfeed " + "x" * 200, None)
    stored = await store.get_channel("telegram", "-9")
    assert stored is not None
    assert stored.title is not None
    assert stored.title.startswith("Lab [31m news feed xxx")  # the escape itself is gone
    assert "\x1b" not in stored.title
    assert "\u202e" not in stored.title
    assert len(stored.title) == 128
    assert stored.title.endswith("…")
    assert clean_name(" \x00 ") is None
