"""The core's vocabulary: papers, announcements, topics, channels and digests.

Plain frozen dataclasses with no I/O, shared by the core, the adapters and the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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


class Style(StrEnum):
    """How a chat's digest pages show each paper (`/settings style`)."""

    COMPACT = "compact"  # linked title, first authors, category and type, matched keywords, a TL;DR
    FULL = "full"  # the whole block: every author, categories, the abstract (collapsed on Telegram)
    TITLES = "titles"  # a linked title per line


class InactiveReason(StrEnum):
    """Why a chat's daily digest is off (`Channel.inactive_reason`), as `arxiv-digest channels` shows it."""

    GONE = "gone"  # the bot was removed from the chat or the server, or the chat was deleted
    UNSUBSCRIBED = "unsubscribed"  # its admins sent /unsubscribe
    DEACTIVATED = "deactivated"  # the operator ran `arxiv-digest channels --deactivate`


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
    notify_empty: bool = True  # post a short line on announcement days with no match
    topics: tuple[Topic, ...] = ()
    # The newest announcement this channel's digest is done for; later ones are still to deliver.
    done_up_to: dt.date | None = None
    style: Style = Style.COMPACT  # how the digest's pages show papers
    send_file: bool = False  # also send the day's Markdown file (silently) with each digest
    # Where in the chat digests go: a Telegram forum topic (`message_thread_id`); None: the chat itself.
    thread_id: str | None = None
    own_thread: bool = False  # Discord: post each day's digest into a thread of its own
    ranking: bool = True  # order each topic's papers by what the chat's votes taught (/settings ranking)
    # What the platform last called the chat and its server (for `arxiv-digest channels`); None: not yet
    # told. Recorded through `ChannelRegistry.named`; `save_channel` leaves them alone.
    title: str | None = None
    server_name: str | None = None
    # Why the daily digest is off (None while it is on, or when nobody said why). Kept by the store.
    inactive_reason: InactiveReason | None = None
    # The operator stopped the chat (`arxiv-digest channels --block`): no digest, whatever `active` says
    # and whatever its admins do, until `--unblock`. Only `Store.set_channel_blocked` changes it.
    blocked: bool = False


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


@dataclass(frozen=True, slots=True)
class ViewEntry:
    """One paper of a stored digest view, in the digest's order.

    `topic` is the section the paper is shown under (the first topic that matched it), `also_in` the
    chat's other topics that matched it, and `matched` the keywords of `topic` that matched it.
    """

    arxiv_id: str
    topic: str
    also_in: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()


class ViewKind(StrEnum):
    """Why a digest view exists."""

    DAILY = "daily"  # a chat's daily digest of one announcement (at most one per chat and date)
    ON_DEMAND = "on_demand"  # a /digest answer


@dataclass(frozen=True, slots=True)
class DigestView:
    """A digest as stored before its message is sent, so that its pages can be turned later.

    Buttons carry only the view's id and a page number; the papers are looked up in the stored
    announcement, so pages keep working after a restart for as long as the announcement is kept.
    The counts are the digest's as it was built: a digest resumed after a crash says the same.
    """

    platform: str
    chat_id: str
    announcement_date: dt.date
    entries: tuple[ViewEntry, ...]
    announced_count: int  # papers announced in the watched categories
    topics: tuple[str, ...] = ()  # the digest's topic names, in order
    style: Style = Style.COMPACT  # the style its message was sent in
    kind: ViewKind = ViewKind.DAILY
    request_key: str = ""  # ON_DEMAND: what was asked (the keywords, or "" for the chat's filters)
    created_at: dt.datetime | None = None  # UTC-aware; set by the store
    id: int | None = None  # the store's key; None until stored
    # The adapter's reference to the message showing it (opaque to the core), once sent.
    message_ref: str | None = None
    followers_sent: bool = False  # what follows the page (the Markdown file) is out too

    @property
    def matched_count(self) -> int:
        """How many papers the digest holds."""
        return len(self.entries)

    @property
    def paper_ids(self) -> tuple[str, ...]:
        """The papers, in digest order."""
        return tuple(entry.arxiv_id for entry in self.entries)


class Vote(StrEnum):
    """One member's vote on a paper in one chat."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class VoteTally:
    """A paper's votes in one chat: every member's count, one vote each."""

    up: int = 0
    down: int = 0

    @property
    def net(self) -> int:
        """Up votes minus down votes."""
        return self.up - self.down


NO_VOTES = VoteTally()


@dataclass(frozen=True, slots=True)
class VotedPaper:
    """A paper a chat voted on, with the chat's tally and when its votes last changed (UTC-aware)."""

    paper: Paper
    tally: VoteTally
    last_voted_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A paper one user saved with 🔖 (for that user, whatever chat the press came from)."""

    paper: Paper
    saved_at: dt.datetime  # UTC-aware
    announcement_date: dt.date  # the announcement the paper was saved from


@dataclass(frozen=True, slots=True)
class LoadedView:
    """A digest view with its papers (same order as its entries): what an adapter renders pages of.

    A paper the store no longer has (its announcement pruned) is left out of `papers` and `entries`.
    """

    view: DigestView
    entries: tuple[ViewEntry, ...]
    papers: tuple[Paper, ...]
    # The chat's votes on the view's papers (papers without votes left out), shown on the page.
    tallies: Mapping[str, VoteTally] = field(default_factory=dict)
    votes: bool = False  # the page offers 👍/👎 (the operator's RANKING is on); 🔖 is always offered

    @property
    def matched_count(self) -> int:
        """How many papers the digest held when it was built."""
        return self.view.matched_count
