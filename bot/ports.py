"""The ports the core needs from the outside: a store, and (later) chat adapters.

The core depends only on these protocols; `storage/` and `adapters/` implement them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from bot.models import (
    Announcement,
    Bookmark,
    Channel,
    DeliveryResult,
    Digest,
    DigestView,
    FeedCheck,
    InactiveReason,
    Paper,
    Vote,
    VotedPaper,
    VoteTally,
)


class StoreError(Exception):
    """The database cannot be opened or used; the message says what to do, in one line.

    Every store raises a subclass of it for trouble with its database (a path, permissions, a file
    that is not its own, a lock held too long, a full disk), so callers catch this one class.
    """


class PrunedAnnouncementError(StoreError):
    """An announcement older than the ledger's horizon: its deliveries were pruned, so it is refused.

    Storing it again could send its papers a second time to the chats that had them.
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

    async def set_view_followers_sent(self, view_id: int) -> None:
        """Record that the paper-less messages after a view's page (the file) were sent."""

    # -- feedback: votes per chat, member and paper; bookmarks per user --------------------------------
    async def set_vote(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        arxiv_id: str,
        announcement_date: dt.date,
        vote: Vote | None,
        at: dt.datetime,
    ) -> None:
        """Set (or, with None, remove) one member's vote on a paper in a chat; bump the chat's vote version.

        A member has one vote per paper and chat: a new vote replaces the old one. A voted paper is
        kept when its announcement is pruned (the chat's model is rebuilt from its votes).
        """

    async def user_vote(self, platform: str, chat_id: str, user_id: str, arxiv_id: str) -> Vote | None:
        """The member's current vote on the paper in that chat, if any."""

    async def vote_tallies(
        self, platform: str, chat_id: str, arxiv_ids: Sequence[str]
    ) -> dict[str, VoteTally]:
        """The chat's tallies of these papers; papers without votes are left out."""

    async def chat_votes(self, platform: str, chat_id: str) -> list[VotedPaper]:
        """Every paper the chat has votes on (net zero included), with its tally, oldest vote first."""

    async def vote_version(self, platform: str, chat_id: str) -> int:
        """A number that grows with every vote change in the chat; 0 before the first."""

    async def voting_chats(self) -> list[tuple[str, str]]:
        """Every (platform, chat_id) with at least one vote."""

    async def toggle_bookmark(
        self, platform: str, user_id: str, arxiv_id: str, announcement_date: dt.date, at: dt.datetime
    ) -> bool:
        """Save the paper for the user, or unsave it if saved; True when it is saved now."""

    async def bookmarks(self, platform: str, user_id: str) -> list[Bookmark]:
        """The user's bookmarks, newest first (kept when their announcements are pruned)."""

    async def recent_papers(self, since: dt.date, limit: int) -> list[Paper]:
        """Up to `limit` papers of the announcements on or after `since`, newest announcement first."""

    # -- channels and their topics ------------------------------------------------------------
    async def save_channel(self, channel: Channel) -> Channel:
        """Insert or update a channel by (platform, chat_id), topics included; return it with its id."""

    async def set_channel_active(
        self, channel_id: int, active: bool, *, reason: InactiveReason | None = None
    ) -> None:
        """Turn a channel's daily digest on or off, leaving its other settings and topics alone.

        `reason` says why it goes off (kept until it is turned on again); turning it on clears it.
        """

    async def set_channel_blocked(self, channel_id: int, blocked: bool) -> None:
        """Block (or unblock) a channel: a blocked one gets no digest, whatever its `active` flag says."""

    async def set_channel_names(
        self, platform: str, chat_id: str, title: str | None, server_name: str | None
    ) -> bool:
        """Record what the platform calls a stored chat and its server; False when no such chat is stored."""

    async def set_done_up_to(self, channel_id: int, announcement_date: dt.date) -> None:
        """Record that a channel's digest of this announcement is done (never moves backwards)."""

    async def get_channel(self, platform: str, chat_id: str) -> Channel | None:
        """The channel, with its topics."""

    async def list_channels(self, *, active_only: bool = True, platform: str | None = None) -> list[Channel]:
        """Channels (with topics), optionally only those a digest goes to (on and not blocked), or of one
        platform."""

    async def channels_of_server(self, platform: str, server_id: str) -> list[Channel]:
        """Every stored channel of one server (a Discord guild), active or not."""

    async def move_channel(self, platform: str, old_chat_id: str, new_chat_id: str) -> Channel | None:
        """Re-key a channel whose chat id changed (a Telegram group upgraded to a supergroup)."""

    async def subscribed_categories(self) -> set[str]:
        """Categories named explicitly by the topics of active channels (blocked ones left out)."""

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

    async def claim_channel(self, channel_id: int, holder: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Claim a channel's delivery for one process until `until`; False while another's claim runs."""

    async def release_channel(self, channel_id: int, holder: str) -> None:
        """Give up this holder's claim on the channel."""

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


# -- the learned order: the port bot.ranking implements ---------------------------------------------
@dataclass(frozen=True, slots=True)
class WeightedTerm:
    """A term (a word, `au:Name` or `cat:cs.RO`) of a paper, and how much it moved the paper's score."""

    term: str
    weight: float


@dataclass(frozen=True, slots=True)
class WeightedVote:
    """A paper the chat voted on, and how much it weighs for the paper being explained."""

    voted: VotedPaper
    weight: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a paper scores what it does for one chat (`/why`)."""

    trained: bool  # False: the chat has not enough votes yet, the order is the listing's
    liked: int  # papers the chat liked (net 👍) and disliked (net 👎)
    disliked: int
    score: float = 0.0  # the model's probability that the chat likes the paper
    raised: tuple[WeightedTerm, ...] = ()  # the terms that raised it most, strongest first
    lowered: tuple[WeightedTerm, ...] = ()
    votes: tuple[WeightedVote, ...] = field(default=())  # the chat's votes that weigh most for it


class Ranker(Protocol):
    """A per-chat order learned from the chat's votes; it never drops or adds a paper.

    It sees new votes through the store's `vote_version`, so a vote recorded by any process is
    learned from before the chat's next digest.
    """

    async def rank(self, platform: str, chat_id: str, digest: Digest) -> Digest:
        """The digest, each topic's papers in the chat's learned order (without enough votes: as listed)."""

    async def explain(self, platform: str, chat_id: str, paper: Paper) -> Explanation:
        """Why the paper scores what it does for the chat."""


#: The deployment-wide roles (`Leadership.hold`): one process at a time fetches arXiv and fans out the
#: digests, one polls Telegram's getUpdates.
INGEST_ROLE = "ingest"
TELEGRAM_UPDATES_ROLE = "telegram-updates"


class Leadership(Protocol):
    """Roles that exactly one process of a deployment holds at a time, handed over when it dies."""

    def hold(self, role: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """Wait until this process holds `role`, then hold it until the block ends.

        The event yielded is set if the role is lost while held (the database connection that held it
        broke): the block must then stop its work promptly, since another process may take over.
        """
        ...
