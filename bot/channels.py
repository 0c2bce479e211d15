"""What happens to a chat when a platform says it is gone or has moved: the same rules everywhere.

Adapters (and the delivery service, from a send's error) report events here; this module is the
only place that turns a chat's digest off for such a reason or re-keys it. Each change is logged
once: a chat reported gone again (a second failed send, a duplicate event) changes nothing and
logs nothing, so a platform that keeps answering 403 cannot flood the log.

Adapters also say here what a chat and its server are called (`named`), for the operator's
`arxiv-digest channels`; a name is written only when it changed.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.models import Channel, InactiveReason
from bot.ports import Store, StoreError

log = logging.getLogger(__name__)

#: The longest chat or server name kept (Telegram allows 128 characters, Discord 100).
MAX_NAME = 128
#: Names remembered as written, so that each command does not write its chat's name again.
_MAX_REMEMBERED = 50_000
# Bidirectional overrides and isolates: they would reorder what an operator's terminal shows.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_name(name: str | None) -> str | None:
    """A platform's chat or server name fit for a terminal table: one line, no control characters."""
    if name is None:
        return None
    text = name.encode("utf-8", "replace").decode("utf-8")
    text = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    text = " ".join(_BIDI_CONTROLS.sub("", text).split())
    if len(text) > MAX_NAME:
        text = text[: MAX_NAME - 1] + "…"
    return text or None


class ChannelRegistry:
    """Applies the platform-neutral chat rules to the store."""

    def __init__(self, store: Store, *, on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self._store = store
        self._on_change = on_change
        self._names: dict[tuple[str, str], tuple[str | None, str | None]] = {}  # as last written

    async def named(self, platform: str, chat_id: str, title: str | None, server_name: str | None) -> None:
        """The platform says what a chat (and its server) is called: remember it for the operator.

        Written only for a stored chat and only when it changed (a chat's every command costs nothing
        more); None leaves a stored name alone. A failure to write is logged, never raised: a name is
        not worth a command's answer.
        """
        key = (platform, chat_id)
        names = (clean_name(title), clean_name(server_name))
        if names == (None, None) or self._names.get(key) == names:
            return
        try:
            stored = await self._store.set_channel_names(platform, chat_id, *names)
        except StoreError as error:
            log.warning("could not record the name of %s chat %s: %s", platform, chat_id, error)
            return
        if stored:  # a chat not stored yet (no /start or /subscribe) is named once it is
            if len(self._names) >= _MAX_REMEMBERED:
                self._names.clear()
            self._names[key] = names

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
        await self._store.set_channel_active(channel.id, False, reason=InactiveReason.GONE)
        log.warning(
            "%s chat %s is gone (%s); its daily digest is turned off",
            channel.platform,
            channel.chat_id,
            reason,
        )
        await self._changed()
        return replace(channel, active=False, inactive_reason=InactiveReason.GONE)

    async def _changed(self) -> None:
        """Tell the scheduler that the set of chats changed."""
        if self._on_change is not None:
            await self._on_change()
