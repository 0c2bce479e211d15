"""What a chat's filters would have matched: the /preview figures for its topics, and a flood warning.

/subscribe, /keywords, /exclude and /topics end with these lines, so a group sees a flood coming before
the first digest (`a` matches every paper under the substring rule) instead of after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.commands.editing import ChannelEditor
from bot.commands.wording import clip, listing
from bot.digests import build_digest
from bot.matching import Matcher
from bot.models import Announcement, Channel, Topic

MATCH_DAYS = 3  # the last few stored announcements
FLOOD_MIN_PAPERS = 20  # a day with fewer announced papers proves nothing about a flood
MAX_KEYWORDS_CHECKED = 200  # keywords tried one by one for the warning (a chat may hold 1000)


@dataclass(frozen=True, slots=True)
class DayCount:
    """One stored announcement: how many of the papers the chat watches its filters matched."""

    date: dt.date
    matched: int
    announced: int

    @property
    def flood(self) -> bool:
        """More than half of a real day's papers: each digest would be a flood."""
        return self.announced >= FLOOD_MIN_PAPERS and 2 * self.matched > self.announced


def short_day(date: dt.date) -> str:
    """`Tue 11 Nov`."""
    return f"{date:%a} {date.day} {date:%b}"


def flooding_keywords(
    announcement: Announcement, topics: Sequence[Topic], default_categories: Sequence[str], announced: int
) -> list[str]:
    """The keywords that alone match more than half of the announcement's `announced` papers."""
    singles = [
        replace(topic, name=keyword, keywords=(keyword,)) for topic in topics for keyword in topic.keywords
    ][:MAX_KEYWORDS_CHECKED]
    matches = Matcher.compile(singles, default_categories).match(announcement.papers)
    return list(
        dict.fromkeys(
            single.name for single, hits in zip(singles, matches, strict=True) if 2 * len(hits) > announced
        )
    )


async def recent_counts(editor: ChannelEditor, channel: Channel) -> tuple[list[DayCount], list[str]]:
    """The chat's matches on each of the last few stored announcements (newest first), and the
    keywords that alone flood the newest one."""
    topics = [topic for topic in channel.topics if topic.keywords]
    if not topics:
        return [], []
    dates = await editor.store.announcement_dates(dt.date.min)
    counts: list[DayCount] = []
    culprits: list[str] = []
    for date in reversed(dates[-MATCH_DAYS:]):
        announcement = await editor.store.get_announcement(date)
        if announcement is None:
            continue
        digest = build_digest(announcement, topics, editor.default_categories)
        counts.append(DayCount(date, digest.matched_count, digest.announced_count))
        if len(counts) == 1 and counts[0].flood:
            culprits = flooding_keywords(
                announcement, topics, editor.default_categories, digest.announced_count
            )
    return counts, culprits


def count_lines(counts: Sequence[DayCount], culprits: Sequence[str]) -> list[str]:
    """`Would have matched: Tue 11 Nov 34 of 496, …`, and a plain warning when that is a flood."""
    if not counts:
        return []
    days = ", ".join(f"{short_day(each.date)} {each.matched} of {each.announced}" for each in counts)
    lines = [f"Would have matched: {days}."]
    flooded = [each for each in counts if each.flood]
    if not flooded:
        return lines
    worst = max(flooded, key=lambda each: each.matched / each.announced)
    share = f"{worst.matched} of {worst.announced} papers on {short_day(worst.date)}"
    if culprits:
        named = listing([repr(clip(keyword, 40)) for keyword in culprits], 200)
        lines.append(
            f"⚠ That is more than half of the announced papers ({share}): each digest would be a flood. "
            f"{named} alone match{'es' if len(culprits) == 1 else ''} that much. A keyword matches inside "
            "words too (VLM matches LVLMs): =WORD matches the whole word only."
        )
    else:
        lines.append(
            f"⚠ That is more than half of the announced papers ({share}): each digest would be a flood. "
            "Try narrower keywords with /preview before adding them."
        )
    return lines


async def match_lines(editor: ChannelEditor, channel: Channel) -> list[str]:
    """The lines a filter command ends with: recent matches of the chat's filters, and any flood warning."""
    counts, culprits = await recent_counts(editor, channel)
    return count_lines(counts, culprits)
