"""What the operator sees of a chat in the store: its names, why it is off, and the operator's block."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import pytest

from bot.models import Channel, InactiveReason, Topic
from storage.sqlite_store import SqliteStore
from tests.builders import make_channel
from tests.storage.conftest import raw

pytestmark = pytest.mark.both_engines


async def stored(store: SqliteStore, chat_id: str = "-100", **fields: Any) -> Channel:
    """Save a channel; return it with its id."""
    channel = await store.save_channel(make_channel(chat_id, **fields))
    assert channel.id is not None
    return channel


async def test_names_are_recorded_for_stored_chats_only_and_none_keeps_them(store: SqliteStore) -> None:
    """`set_channel_names` names a stored chat (True), not an unknown one (False); None keeps a name."""
    channel = await stored(store, platform="discord", server_id="9")
    assert await store.set_channel_names("discord", "-100", "papers", "Lab server")
    assert not await store.set_channel_names("discord", "-999", "x", "y")
    assert await store.set_channel_names("discord", "-100", "renamed", None)
    again = await store.get_channel("discord", "-100")
    assert again is not None
    assert (again.title, again.server_name) == ("renamed", "Lab server")
    # A save of a copy that knows no names (every command's) leaves them alone.
    await store.save_channel(dataclasses.replace(channel, timezone="Europe/Berlin"))
    after = await store.get_channel("discord", "-100")
    assert after is not None
    assert (after.title, after.server_name, after.timezone) == ("renamed", "Lab server", "Europe/Berlin")


async def test_a_blocked_chat_is_no_chat_a_digest_goes_to(store: SqliteStore) -> None:
    """A blocked chat keeps `active`, but `list_channels()` and `subscribed_categories` leave it out;
    unblocked, it is back as it was."""
    kept = await stored(store, "-1", topics=(Topic("T", ("x",), categories=("cs.RO",)),))
    blocked = await stored(store, "-2", topics=(Topic("T", ("x",), categories=("math.PR",)),))
    assert blocked.id is not None
    await store.set_channel_blocked(blocked.id, True)
    assert [c.chat_id for c in await store.list_channels()] == ["-1"]
    assert await store.subscribed_categories() == {"cs.RO"}
    everyone = {c.chat_id: c for c in await store.list_channels(active_only=False)}
    assert everyone["-2"].blocked
    assert everyone["-2"].active
    assert not everyone["-1"].blocked
    await store.set_channel_blocked(blocked.id, False)
    assert [c.chat_id for c in await store.list_channels()] == ["-1", "-2"]
    assert kept.id is not None


async def test_no_copy_of_a_channel_lifts_the_block(store: SqliteStore) -> None:
    """Saving a channel (what /subscribe and every setting do), even a copy saying blocked=False and
    active=True, leaves the operator's block on."""
    channel = await stored(store, active=False)
    assert channel.id is not None
    await store.set_channel_blocked(channel.id, True)
    await store.save_channel(dataclasses.replace(channel, active=True, blocked=False))
    after = await store.get_channel("telegram", "-100")
    assert after is not None
    assert after.blocked
    assert after.active
    assert await store.list_channels() == []


async def test_why_a_chat_is_off_is_kept_until_it_is_on_again(store: SqliteStore) -> None:
    """`set_channel_active(False, reason=…)` keeps why; a save that leaves it off keeps it; turning the
    digest on (a save, or `set_channel_active(True)`) clears it."""
    channel = await stored(store)
    assert channel.id is not None
    assert channel.inactive_reason is None
    await store.set_channel_active(channel.id, False, reason=InactiveReason.GONE)
    off = await store.get_channel("telegram", "-100")
    assert off is not None
    assert (off.active, off.inactive_reason) == (False, InactiveReason.GONE)
    await store.save_channel(dataclasses.replace(off, timezone="Asia/Tokyo"))
    still = await store.get_channel("telegram", "-100")
    assert still is not None
    assert still.inactive_reason == InactiveReason.GONE
    await store.save_channel(dataclasses.replace(still, active=True))
    on = await store.get_channel("telegram", "-100")
    assert on is not None
    assert (on.active, on.inactive_reason) == (True, None)
    await store.set_channel_active(channel.id, False, reason=InactiveReason.UNSUBSCRIBED)
    await store.set_channel_active(channel.id, True, reason=InactiveReason.UNSUBSCRIBED)
    back = await store.get_channel("telegram", "-100")
    assert back is not None
    assert (back.active, back.inactive_reason) == (True, None)


async def test_a_moved_chat_merged_onto_a_blocked_one_stays_blocked(store: SqliteStore) -> None:
    """A group upgraded onto a chat id the operator blocked: the merged channel is blocked, and keeps
    the other's title when it had none."""
    moved = await stored(store, "-1")
    target = await stored(store, "-1002")
    assert target.id is not None
    await store.set_channel_blocked(target.id, True)
    await store.set_channel_names("telegram", "-1002", "Supergroup", None)
    merged = await store.move_channel("telegram", "-1", "-1002")
    assert merged is not None
    assert merged.id == moved.id
    assert (merged.blocked, merged.title) == (True, "Supergroup")


@pytest.mark.sqlite_only
async def test_the_schema_refuses_an_unknown_reason_and_a_block_that_is_no_flag(store: SqliteStore) -> None:
    """V6's CHECKs: inactive_reason is one of gone, unsubscribed, deactivated; blocked is 0 or 1."""
    await stored(store)
    assert store.path is not None
    with raw(store.path) as db:
        for statement in (
            "UPDATE channels SET inactive_reason = 'bored'",
            "UPDATE channels SET blocked = 2",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                db.execute(statement)
        db.execute("UPDATE channels SET inactive_reason = 'deactivated'")
