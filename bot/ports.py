"""The ports the core needs from the outside: a store, and (later) chat adapters.

The core depends only on these protocols; `storage/` and `adapters/` implement them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from bot.models import Announcement, Channel, DeliveryResult, DigestView, FeedCheck, Paper


class StoreError(Exception):
    """The database cannot be opened or used; the message says what to do, in one line.

    Every store raises a subclass of it for trouble with its database (a path, permissions, a file
    that is not its own, a lock held too long, a full disk), so callers catch this one class.
    """


# Small state that ingest writes and /status (or `arxiv-digest status`) reads, under these keys.
NO_ANNOUNCEMENT_KEY = "ingest:no_announcement:"  # + ISO date: a weekday known to have no announcement
REQUESTS_KEY = "ingest:feed_requests"  # "<ISO date> <n>": feed requests made on that US Eastern date


class Store(Protocol):
    """Everything the bot must remember across restarts."""

    async def close(self) -> None:
        """Release the connection."""

    # -- announcements -------------------------------------------------------------------------
    async def save_announcement(self, announcement: Announcement) -> bool:
        """Store a complete announcement and its papers; False when that date was already stored."""

    async def announcement_categories(self, date: dt.date) -> tuple[str, ...] | None:
        """The categories a stored announcement was fetched for; None when that date is not stored."""

    async def extend_announcement(self, announcement: Announcement) -> int:
        """Add to a stored announcement the papers it lacks; return how many were added."""

    async def get_announcement(self, date: dt.date) -> Announcement | None:
        """The stored announcement of that date."""

    async def latest_announcement(self) -> Announcement | None:
        """The most recent stored announcement."""

    async def announcement_dates(self, since: dt.date) -> list[dt.date]:
        """Dates of stored announcements on or after `since`, oldest first."""

    async def announcement_stored_at(self, date: dt.date) -> dt.datetime | None:
        """When the announcement of that date was stored (UTC, to the second); None when it is not."""

    async def prune_announcements(self, before: dt.date) -> int:
        """Forget announcements older than `before`, and their digest views (the ledger is kept)."""

    async def get_papers(self, date: dt.date, arxiv_ids: Sequence[str]) -> list[Paper]:
        """These papers as the announcement of `date` has them, in the given order; unknown ones left out."""

    # -- digest views: a digest stored before its paged message is sent -------------------------------
    async def save_view(self, view: DigestView) -> DigestView:
        """Store a new view and return it with its id and time.

        A DAILY view for a (platform, chat, date) that already has one is not stored twice: the one
        already stored is returned instead.
        """

    async def get_view(self, view_id: int) -> DigestView | None:
        """The view with this id, or None (never stored, or pruned)."""

    async def daily_view(self, platform: str, chat_id: str, date: dt.date) -> DigestView | None:
        """The chat's DAILY view of that announcement, if one was stored."""

    async def recent_view(
        self, platform: str, chat_id: str, date: dt.date, request_key: str, *, since: dt.datetime
    ) -> DigestView | None:
        """The newest sent ON_DEMAND view of this request, created at or after `since`."""

    async def set_view_message(self, view_id: int, message_ref: str) -> None:
        """Remember the adapter's reference to the message showing a view."""

    # -- channels and their topics ------------------------------------------------------------
    async def save_channel(self, channel: Channel) -> Channel:
        """Insert or update a channel by (platform, chat_id), topics included; return it with its id."""

    async def set_channel_active(self, channel_id: int, active: bool) -> None:
        """Turn a channel's daily digest on or off, leaving its other settings and topics alone."""

    async def set_done_up_to(self, channel_id: int, announcement_date: dt.date) -> None:
        """Record that a channel's digest of this announcement is done (never moves backwards)."""

    async def get_channel(self, platform: str, chat_id: str) -> Channel | None:
        """The channel, with its topics."""

    async def list_channels(self, *, active_only: bool = True, platform: str | None = None) -> list[Channel]:
        """Channels (with topics), optionally only those with the daily digest on, or of one platform."""

    async def channels_of_server(self, platform: str, server_id: str) -> list[Channel]:
        """Every stored channel of one server (a Discord guild), active or not."""

    async def move_channel(self, platform: str, old_chat_id: str, new_chat_id: str) -> Channel | None:
        """Re-key a channel whose chat id changed (a Telegram group upgraded to a supergroup)."""

    async def subscribed_categories(self) -> set[str]:
        """Categories named explicitly by the topics of active channels."""

    # -- the delivery ledger: one row per (channel, paper), ever --------------------------------
    async def reserve_deliveries(
        self, channel_id: int, announcement_date: dt.date, arxiv_ids: Sequence[str]
    ) -> list[str]:
        """Mark these papers pending for the channel; return, in the given order, those now pending.

        Papers already sent are left out; papers left pending by an interrupted run are returned again.
        """

    async def confirm_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Mark pending papers as sent."""

    async def release_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Drop pending rows whose message surely never reached the platform."""

    async def record_delivery(self, channel_id: int, announcement_date: dt.date, arxiv_id: str) -> bool:
        """Record one paper as sent; False (and nothing changed) if the ledger already holds it."""

    async def delivered_ids(self, channel_id: int, arxiv_ids: Sequence[str] | None = None) -> set[str]:
        """Papers already sent to the channel (among `arxiv_ids`, or all)."""

    # -- what ingest and delivery report to /status -----------------------------------------------
    async def record_feed_check(self, check: FeedCheck) -> None:
        """Remember the last feed check (replacing the one before)."""

    async def last_feed_check(self) -> FeedCheck | None:
        """The last feed check recorded, or None before the first."""

    async def record_delivery_result(self, result: DeliveryResult) -> None:
        """Remember a channel's last delivery result (replacing its previous one)."""

    async def last_delivery_result(self, channel_id: int) -> DeliveryResult | None:
        """A channel's last delivery result, or None before its first delivery."""

    # -- small state: days known to have no announcement, ... -----------------------------------------
    async def get_state(self, key: str) -> str | None:
        """A value saved with `set_state`."""

    async def set_state(self, key: str, value: str) -> None:
        """Save a small value under a key."""
