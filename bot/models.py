"""The core's vocabulary: papers, announcements, topics, channels and digests.

Plain frozen dataclasses with no I/O, shared by the core, the adapters and the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class AnnounceType(StrEnum):
    """How a paper appears in an announcement (rss.arxiv.org's `arxiv:announce_type`)."""

    NEW = "new"
    CROSS = "cross"
    REPLACE = "replace"
    REPLACE_CROSS = "replace-cross"


ALL_ANNOUNCE_TYPES: frozenset[AnnounceType] = frozenset(AnnounceType)
# The anchor scrapes arxiv.org/list/{cat}/new, which lists new papers, cross-lists and replacements.
DEFAULT_ANNOUNCE_TYPES: frozenset[AnnounceType] = ALL_ANNOUNCE_TYPES
# Digest order: the sections of arXiv's own /new listing.
ANNOUNCE_TYPE_ORDER: dict[AnnounceType, int] = {
    AnnounceType.NEW: 0,
    AnnounceType.CROSS: 1,
    AnnounceType.REPLACE: 2,
    AnnounceType.REPLACE_CROSS: 3,
}


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as announced: `arxiv_id` carries no version (`2511.07738`, `hep-th/9901001`)."""

    arxiv_id: str
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]  # primary category first
    announce_type: AnnounceType
    doi: str | None = None
    journal_ref: str | None = None

    @property
    def abs_url(self) -> str:
        """The paper's abstract page (unversioned, so it always shows the latest version)."""
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def primary_category(self) -> str | None:
        """The paper's primary category, if the source gave any."""
        return self.categories[0] if self.categories else None


@dataclass(frozen=True, slots=True)
class Announcement:
    """One arXiv announcement as a feed (or an API recovery) reported it.

    `date` is the announcement date the source states (rss.arxiv.org labels the Tuesday 20:00 ET
    mailing with Wednesday's date), never the wall clock. `categories` is what was asked for.
    """

    date: dt.date
    categories: tuple[str, ...]
    papers: tuple[Paper, ...]
    source: str = "rss"  # "rss" or "api" (a recovered day)

    def paper(self, arxiv_id: str) -> Paper | None:
        """The paper with this unversioned id, if announced here."""
        for paper in self.papers:
            if paper.arxiv_id == arxiv_id:
                return paper
        return None


@dataclass(frozen=True, slots=True)
class Topic:
    """A named filter: keyword expressions (any may match), exclusions (none may match), categories."""

    name: str
    keywords: tuple[str, ...]
    excludes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # empty: the settings' DEFAULT_CATEGORIES
    announce_types: frozenset[AnnounceType] = DEFAULT_ANNOUNCE_TYPES


@dataclass(frozen=True, slots=True)
class Channel:
    """A chat or channel on one platform that the bot posts to, with its delivery settings."""

    platform: str  # "telegram", "discord", ...
    chat_id: str
    id: int | None = None  # the store's key; None until stored
    # The server (Discord guild, Slack workspace) the chat belongs to; None for a DM or a Telegram chat.
    server_id: str | None = None
    timezone: str = "UTC"
    delivery_time: dt.time | None = None  # local time; None: as soon as the announcement is ingested
    active: bool = False  # the daily digest is on
    max_inline_papers: int = 30  # above this, the whole digest also goes as a Markdown file
    notify_empty: bool = True  # post a short line on announcement days with no match
    topics: tuple[Topic, ...] = ()
    # The newest announcement this channel's digest is done for; later ones are still to deliver.
    done_up_to: dt.date | None = None


@dataclass(frozen=True, slots=True)
class TopicDigest:
    """One topic's section of a digest: its matched papers in digest order."""

    topic: Topic
    papers: tuple[Paper, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """What one channel gets for one announcement, platform-neutral.

    Papers within a topic are ordered by announce type (new, cross, replace, replace-cross) and then
    by their order in the feed. `announced_count` counts the announcement's papers in the categories
    the digest's topics watch.
    """

    date: dt.date
    topics: tuple[TopicDigest, ...]
    announced_count: int
    categories: tuple[str, ...] = field(default=())

    @property
    def matched_count(self) -> int:
        """Distinct papers across all topics."""
        return len({paper.arxiv_id for section in self.topics for paper in section.papers})

    @property
    def papers(self) -> tuple[Paper, ...]:
        """Distinct papers across all topics, first appearance first."""
        seen: dict[str, Paper] = {}
        for section in self.topics:
            for paper in section.papers:
                seen.setdefault(paper.arxiv_id, paper)
        return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class FeedCheck:
    """What the ingest service's last look at arXiv came to (written by ingest, read by /status)."""

    checked_at: dt.datetime  # UTC-aware
    outcome: str  # new, extended, unchanged, no_announcement, error
    date: dt.date | None = None  # the announcement date the feed stated, when it stated one
    message: str = ""
    papers: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What a channel's last delivery came to (written by delivery, read by /status)."""

    channel_id: int
    delivered_at: dt.datetime  # UTC-aware
    announcement_date: dt.date
    result: str  # ok, empty, gone, failed
    papers: int = 0
