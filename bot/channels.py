"""What happens to a chat when a platform says it is gone or has moved: the same rules everywhere.

Adapters (and the delivery service, from a send's error) report events here; this module is the
only place that turns a chat's digest off for such a reason or re-keys it. Each change is logged
once: a chat reported gone again (a second failed send, a duplicate event) changes nothing and
logs nothing, so a platform that keeps answering 403 cannot flood the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.models import Channel
from bot.ports import Store

log = logging.getLogger(__name__)


class ChannelRegistry:
    """Applies the platform-neutral chat rules to the store."""

    def __init__(self, store: Store, *, on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self._store = store
        self._on_change = on_change

    async def gone_by_id(self, platform: str, chat_id: str, reason: str) -> bool:
        """The bot can no longer post into this chat: turn its daily digest off; True if it was on."""
        channel = await self._store.get_channel(platform, chat_id)
        if channel is None:
            return False
        return await self._turn_off(channel, reason) is not None

    async def gone(self, channel: Channel, reason: str) -> Channel:
        """`chat_gone` for a channel in hand; returns it as it now is (inactive)."""
        stored = await self._store.get_channel(channel.platform, channel.chat_id)
        turned_off = await self._turn_off(stored or channel, reason)
        return replace(turned_off or stored or channel, active=False)

    async def server_left(self, platform: str, server_id: str, reason: str) -> int:
        """The bot left (or was removed from) a server: turn off every channel of it; how many were on."""
        count = 0
        for channel in await self._store.channels_of_server(platform, server_id):
            if await self._turn_off(channel, reason) is not None:
                count += 1
        if count:
            log.info("%s server %s: %d channel(s) turned off (%s)", platform, server_id, count, reason)
        return count

    async def moved(self, platform: str, old_chat_id: str, new_chat_id: str) -> Channel | None:
        """The chat has a new id: keep its settings, topics and ledger under the new one."""
        moved = await self._store.move_channel(platform, old_chat_id, new_chat_id)
        log.info("%s chat %s moved to %s", platform, old_chat_id, new_chat_id)
        await self._changed()
        return moved

    async def _turn_off(self, channel: Channel, reason: str) -> Channel | None:
        """Deactivate an active stored channel and log it; None when there was nothing to do."""
        if channel.id is None or not channel.active:
            return None
        await self._store.set_channel_active(channel.id, False)
        log.warning(
            "%s chat %s is gone (%s); its daily digest is turned off",
            channel.platform,
            channel.chat_id,
            reason,
        )
        await self._changed()
        return replace(channel, active=False)

    async def _changed(self) -> None:
        """Tell the scheduler that the set of chats changed."""
        if self._on_change is not None:
            await self._on_change()
