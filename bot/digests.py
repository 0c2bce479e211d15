"""Building digests: one matching pass over an announcement serves every channel."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from bot.matching import Matcher
from bot.models import ANNOUNCE_TYPE_ORDER, Announcement, Channel, Digest, Paper, Topic, TopicDigest

log = logging.getLogger(__name__)


def effective_categories(topic: Topic, default_categories: Sequence[str]) -> tuple[str, ...]:
    """The categories a topic watches: its own, or the defaults when it names none."""
    return topic.categories or tuple(default_categories)


def announced_count(announcement: Announcement, categories: Collection[str]) -> int:
    """How many of the announcement's papers fall in any of these categories."""
    wanted = set(categories)
    return sum(1 for paper in announcement.papers if wanted.intersection(paper.categories))


def _digest_order(papers: Sequence[Paper], indices: Sequence[int]) -> tuple[Paper, ...]:
    """New papers first, then cross-lists, replacements and cross-listed replacements; feed order within."""
    ordered = sorted(indices, key=lambda index: (ANNOUNCE_TYPE_ORDER[papers[index].announce_type], index))
    return tuple(papers[index] for index in ordered)


def build_digests(
    announcement: Announcement,
    channels: Sequence[Channel],
    default_categories: Sequence[str],
) -> list[Digest]:
    """One digest per channel (same order), from a single compiled matcher over all their topics."""
    all_topics: list[Topic] = []
    owners: list[int] = []
    for position, channel in enumerate(channels):
        searching = [topic for topic in channel.topics if topic.keywords]  # an empty topic matches nothing
        all_topics.extend(searching)
        owners.extend([position] * len(searching))
    matcher = Matcher.compile(all_topics, default_categories)
    matches = matcher.match(announcement.papers)

    sections: list[list[TopicDigest]] = [[] for _ in channels]
    for topic, owner, indices in zip(all_topics, owners, matches, strict=True):
        sections[owner].append(TopicDigest(topic=topic, papers=_digest_order(announcement.papers, indices)))

    digests = []
    # Most chats watch the same few category sets: count each set's papers once, not once per chat.
    counts: dict[tuple[str, ...], int] = {}
    for position, channel in enumerate(channels):
        watched = tuple(
            sorted(
                {
                    category
                    for topic in channel.topics
                    for category in effective_categories(topic, default_categories)
                }
            )
        )
        if watched not in counts:
            counts[watched] = announced_count(announcement, watched)
        digests.append(
            Digest(
                date=announcement.date,
                topics=tuple(sections[position]),
                announced_count=counts[watched],
                categories=watched,
            )
        )
    return digests


def build_digest(
    announcement: Announcement,
    topics: Sequence[Topic],
    default_categories: Sequence[str],
) -> Digest:
    """The digest of these topics for one announcement (an ad-hoc or preview digest)."""
    holder = Channel(platform="preview", chat_id="preview", topics=tuple(topics))
    return build_digests(announcement, [holder], default_categories)[0]
