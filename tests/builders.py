"""The tests' small factories for the core's values: papers, announcements, digests, topics, channels, clocks.

Every default is plausible and valid; keyword arguments override any field. A test file that needs other
defaults binds them once (`functools.partial`), instead of copying the factory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.models import Announcement, AnnounceType, Channel, Digest, Paper, Topic, TopicDigest

DAY = dt.date(2025, 11, 26)  # the announcements' default day
ANCHOR_DAY = dt.date(2025, 11, 12)  # the anchor's recorded listing: the digests' default day
THREE_AUTHORS = ("Ada Lovelace", "Alan Turing", "Grace Hopper")


def arxiv_id_of(number_or_id: int | str) -> str:
    """An arXiv id: a number n stands for 2511.nnnnn, a string is the id itself."""
    return f"2511.{number_or_id:05d}" if isinstance(number_or_id, int) else number_or_id


def make_paper(number_or_id: int | str = 1, title: str | None = None, **fields: Any) -> Paper:
    """A new version-1 paper (cs.CL, cs.LG; a non-ASCII author) named after its id; `fields` override any."""
    arxiv_id = arxiv_id_of(number_or_id)
    values: dict[str, Any] = {
        "version": 1,
        "abstract": f"Abstract of {arxiv_id}.",
        "authors": ("Ada Lovelace", "Émilie du Châtelet"),
        "categories": ("cs.CL", "cs.LG"),
        "announce_type": AnnounceType.NEW,
    }
    values.update(fields)
    return Paper(arxiv_id=arxiv_id, title=title if title is not None else f"Title of {arxiv_id}", **values)


def make_announcement(
    date: dt.date = DAY,
    papers: Sequence[Paper] | None = None,
    *,
    categories: tuple[str, ...] = ("cs.CL",),
    **extra: Any,
) -> Announcement:
    """An announcement of these papers; by default three (a new, a cross-list and a replacement)."""
    if papers is None:
        papers = (
            make_paper("2511.00003"),
            make_paper("2511.00001", announce_type=AnnounceType.CROSS),
            make_paper("2510.09999", version=3, announce_type=AnnounceType.REPLACE),
        )
    return Announcement(date=date, categories=categories, papers=tuple(papers), **extra)


def make_listed_paper(number: int = 1, **fields: Any) -> Paper:
    """A paper as the formatters get them: a numbered vision-and-language title, three authors, cs.CV+CL."""
    fields.setdefault("title", f"Paper number {number}: grounding vision and language")
    fields.setdefault("authors", THREE_AUTHORS)
    fields.setdefault("categories", ("cs.CV", "cs.CL"))
    return make_paper(number, **fields)


def make_digest(
    *sections: tuple[str, Sequence[Paper]], date: dt.date = ANCHOR_DAY, announced: int = 496
) -> Digest:
    """A digest with one section per (topic name, papers), out of `announced` papers that day."""
    return Digest(
        date=date,
        topics=tuple(
            TopicDigest(topic=Topic(name=name, keywords=("x",)), papers=tuple(papers))
            for name, papers in sections
        ),
        announced_count=announced,
    )


def one_topic(*papers: Paper) -> Digest:
    """A digest of one topic, 'MLLM', with these papers."""
    return make_digest(("MLLM", papers))


def default_topics() -> tuple[Topic, ...]:
    """Two topics: 'llm' (with an exclude, cs.CL only) and 'vision' (two categories, new papers only)."""
    return (
        Topic("llm", ("large language model", "LLM"), excludes=("survey",), categories=("cs.CL",)),
        Topic(
            "vision",
            ("diffusion",),
            categories=("cs.CV", "eess.IV"),
            announce_types=frozenset({AnnounceType.NEW}),
        ),
    )


def make_channel(chat_id: str = "-100", *, platform: str = "telegram", **fields: Any) -> Channel:
    """An active channel with the two `default_topics` unless told otherwise."""
    values: dict[str, Any] = {"active": True, "topics": default_topics()}
    values.update(fields)
    return Channel(platform=platform, chat_id=chat_id, **values)


class SettableClock:
    """A clock the test sets or moves by hand; it never moves on its own."""

    def __init__(self, now: dt.datetime) -> None:
        """Start at `now`."""
        self.now = now

    def __call__(self) -> dt.datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a `timedelta(**delta)`."""
        self.now += dt.timedelta(**delta)
