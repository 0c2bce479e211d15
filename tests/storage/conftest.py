"""Fixtures for the store tests: a real SQLite file under tmp_path, migrated as in production."""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.models import Announcement, AnnounceType, Channel, Paper, Topic
from storage.sqlite_store import SqliteStore, open_store

DAY = dt.date(2025, 11, 26)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        """Start at `now`."""
        self.now = now

    def __call__(self) -> dt.datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a `timedelta(**delta)`."""
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2025-11-27 12:00 UTC."""
    return FakeClock(dt.datetime(2025, 11, 27, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """Where the test's database file lives (its directory does not exist yet)."""
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def store(db_path: pathlib.Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    """An open store on a fresh file, closed after the test."""
    opened = await open_store(db_path, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.contextmanager
def raw(path: pathlib.Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to look at (or tamper with) the file behind the store's back."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def rows(path: pathlib.Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of a query, read with a separate connection."""
    with raw(path) as connection:
        return connection.execute(query, params).fetchall()


def make_paper(
    arxiv_id: str = "2511.00001",
    *,
    version: int = 1,
    announce_type: AnnounceType = AnnounceType.NEW,
    title: str | None = None,
    **extra: Any,
) -> Paper:
    """A paper with plausible defaults."""
    fields: dict[str, Any] = {
        "abstract": f"Abstract of {arxiv_id}.",
        "authors": ("Ada Lovelace", "Émilie du Châtelet"),
        "categories": ("cs.CL", "cs.LG"),
    }
    fields.update(extra)
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title if title is not None else f"Title of {arxiv_id}",
        announce_type=announce_type,
        **fields,
    )


def make_announcement(
    date: dt.date = DAY, papers: tuple[Paper, ...] | None = None, **extra: Any
) -> Announcement:
    """An announcement of three papers (new, cross, replace) unless told otherwise."""
    if papers is None:
        papers = (
            make_paper("2511.00003"),
            make_paper("2511.00001", announce_type=AnnounceType.CROSS),
            make_paper("2510.09999", version=3, announce_type=AnnounceType.REPLACE),
        )
    return Announcement(date=date, categories=extra.pop("categories", ("cs.CL",)), papers=papers, **extra)


def make_channel(chat_id: str = "-100", *, platform: str = "telegram", **extra: Any) -> Channel:
    """An active channel with two topics unless told otherwise."""
    fields: dict[str, Any] = {
        "active": True,
        "topics": (
            Topic("llm", ("large language model", "LLM"), excludes=("survey",), categories=("cs.CL",)),
            Topic(
                "vision",
                ("diffusion",),
                categories=("cs.CV", "eess.IV"),
                announce_types=frozenset({AnnounceType.NEW}),
            ),
        ),
    }
    fields.update(extra)
    return Channel(platform=platform, chat_id=chat_id, **fields)
