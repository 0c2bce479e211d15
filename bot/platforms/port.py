"""The port every chat platform implements: render and send digests, run until told to stop.

The core knows platforms only through `ChatAdapter`; a platform (Telegram, Discord, or a third one)
is one package in `adapters/` that implements it and describes itself with a
`bot.platforms.spec.PlatformSpec`, and one line of the registry in `bot.main.platforms`. The rules that
hold on every platform — a chat that is gone is turned off once, a chat that moved keeps its
settings, the bot removed from a server turns that server's channels off — are the core's
(`bot.channels.ChannelRegistry`); adapters report such events, they do not write to the store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from bot.models import Channel, Digest, LoadedView


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One platform message, already formatted, and the papers whose delivery it completes.

    `payload` is the adapter's own rendering (Discord's embeds, say), opaque to the core; `text`
    is what a platform with plain messages sends, and a readable summary for logs otherwise.
    """

    text: str
    paper_ids: tuple[str, ...] = ()
    document_name: str | None = None  # set: send `document` as a file, with `text` as its caption
    document: bytes | None = None
    payload: object = None
    silent: bool = False  # sent without a notification (Telegram disable_notification, Discord's flag)


class DeliveryError(Exception):
    """A message could not be delivered."""


class ChannelGoneError(DeliveryError):
    """The chat is gone for the bot (blocked, kicked, deleted): stop delivering there."""


class ChannelMovedError(DeliveryError):
    """The chat has a new id (a Telegram group became a supergroup)."""

    def __init__(self, new_chat_id: str) -> None:
        super().__init__(f"chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class TemporaryDeliveryError(DeliveryError):
    """Worth trying again later (network trouble, 5xx, rate limit); `retry_after` if the platform said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AdapterStartupError(Exception):
    """An adapter cannot start (e.g. its token is rejected); the message says why in one line.

    It names the setting to fix (TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN, …); the process exits 2.
    """


class AdapterUnreachableError(AdapterStartupError):
    """The platform could not be reached within the start-up retries; the process exits 5.

    The network is down at boot, or the platform's servers keep failing: a supervisor that restarts
    the process (Docker's `restart: unless-stopped`) tries again later.
    """


class ChatAdapter(Protocol):
    """What the core needs from a chat platform: a lifecycle, and digests rendered and sent."""

    platform: str  # the `Channel.platform` value this adapter serves: "telegram", "discord", ...

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve commands until `stop` is set, then disconnect cleanly.

        Start-up connects through `bot.platforms.lifecycle.connect_with_retries`: network trouble
        is retried for a while (AdapterUnreachableError when it never passes), a refusal (a
        rejected token) raises AdapterStartupError at once, and `stop` set meanwhile makes it
        return promptly. While it runs, `send` may be called at any time; a send that waits for a
        connection must not hang once `stop` is set. Stopping is bounded: commands still running
        after a short grace are cut off (`bot.platforms.lifecycle.CommandsInFlight`).
        """

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """The messages that carry this stored digest to this channel, in the channel's style.

        The first is the digest's one paged message: its first page, with the buttons that turn
        pages (they name only `view.view.id` and a page), and `paper_ids` naming every paper of the
        view, since every page is a tap away. A second, silent message with the Markdown file follows
        when `channel.send_file` is on. Nothing else.
        """

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The short line for an announcement day with no match."""

    async def send(self, channel: Channel, message: OutgoingMessage) -> str | None:
        """Send one message; return the adapter's reference to it (for a later "it's up there").

        Raises ChannelGoneError, ChannelMovedError or TemporaryDeliveryError. Posts into
        `channel.thread_id` when set (a Telegram forum topic), or into a thread of its own when
        `channel.own_thread` (Discord), as the platform has them.
        """
