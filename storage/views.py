"""The store's digest views: each chat's digest as built, so its pages can be turned later.

A view's entries are one JSON array (a few kilobytes for a large digest): a view is always read and
written whole, and nothing queries inside it. Topic names are stored once per view, entries refer to
them by index.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.models import DigestView, Paper, Style, ViewEntry, ViewKind
from storage.announcements import paper_from_row
from storage.base import Row, StoreBase, date_text, json_text, load_strings, timestamp

_INSERT_VIEW = """
INSERT INTO digest_views (platform, chat_id, announcement_date, kind, style, request_key,
                          announced_count, topics, entries, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
RETURNING id
"""
_SELECT_PAPERS = """
SELECT p.arxiv_id, ap.version, p.title, p.abstract, p.authors, p.categories, ap.announce_type,
       p.doi, p.journal_ref
  FROM announcement_papers AS ap JOIN papers AS p ON p.arxiv_id = ap.arxiv_id
 WHERE ap.announcement_date = ? AND ap.arxiv_id IN ({marks})
"""
_SQL_VARIABLES = 500  # ids per IN (...) query, well under SQLite's limit


def _entries_json(view: DigestView) -> str:
    """The entries as compact JSON, topics by their index in `view.topics`."""
    index = {name: position for position, name in enumerate(view.topics)}
    rows: list[list[Any]] = []
    for entry in view.entries:
        topic = index.get(entry.topic)
        if topic is None:  # a topic name the view does not list: keep it literally
            rows.append([entry.arxiv_id, entry.topic, list(entry.also_in), list(entry.matched)])
            continue
        also = [index.get(name, name) for name in entry.also_in]
        rows.append([entry.arxiv_id, topic, also, list(entry.matched)])
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _entries(text: str, topics: Sequence[str]) -> tuple[ViewEntry, ...]:
    """`_entries_json` read back."""

    def name(value: Any) -> str:
        return topics[value] if isinstance(value, int) and 0 <= value < len(topics) else str(value)

    return tuple(
        ViewEntry(
            arxiv_id=str(row[0]),
            topic=name(row[1]),
            also_in=tuple(name(value) for value in row[2]),
            matched=tuple(str(word) for word in row[3]),
        )
        for row in json.loads(text)
    )


def _view_from_row(row: Row) -> DigestView:
    """A stored view."""
    topics = load_strings(row["topics"])
    return DigestView(
        platform=row["platform"],
        chat_id=row["chat_id"],
        announcement_date=dt.date.fromisoformat(row["announcement_date"]),
        entries=_entries(row["entries"], topics),
        announced_count=int(row["announced_count"]),
        topics=topics,
        style=Style(row["style"]),
        kind=ViewKind(row["kind"]),
        request_key=row["request_key"],
        created_at=dt.datetime.fromisoformat(row["created_at"]),
        id=int(row["id"]),
        message_ref=row["message_ref"],
        followers_sent=bool(row["followers_sent"]),
    )


class ViewsSection(StoreBase):
    """Digest views, and the papers they show."""

    async def save_view(self, view: DigestView) -> DigestView:
        """Store a new view; a second daily view of one chat and date returns the stored one."""
        now = self._now()
        async with self._write() as db:
            inserted = await db.fetchall(
                _INSERT_VIEW,
                (
                    view.platform,
                    view.chat_id,
                    date_text(view.announcement_date),
                    view.kind.value,
                    view.style.value,
                    view.request_key,
                    view.announced_count,
                    json_text(view.topics),
                    _entries_json(view),
                    now,
                ),
            )
            if inserted:  # stored as given: no need to read it
                return replace(
                    view,
                    id=int(inserted[0][0]),
                    created_at=dt.datetime.fromisoformat(now),
                    message_ref=None,
                    followers_sent=False,
                )
            rows = await db.fetchall(  # the daily view of this chat and date exists already
                "SELECT * FROM digest_views WHERE platform = ? AND chat_id = ?"
                " AND announcement_date = ? AND kind = 'daily'",
                (view.platform, view.chat_id, date_text(view.announcement_date)),
            )
        return _view_from_row(next(iter(rows)))

    async def get_view(self, view_id: int) -> DigestView | None:
        """The view with this id, or None."""
        async with self._read() as db:
            rows = list(await db.fetchall("SELECT * FROM digest_views WHERE id = ?", (view_id,)))
        return _view_from_row(rows[0]) if rows else None

    async def daily_view(self, platform: str, chat_id: str, date: dt.date) -> DigestView | None:
        """The chat's daily view of that announcement, if stored."""
        async with self._read() as db:
            rows = list(
                await db.fetchall(
                    "SELECT * FROM digest_views WHERE platform = ? AND chat_id = ?"
                    " AND announcement_date = ? AND kind = 'daily'",
                    (platform, chat_id, date_text(date)),
                )
            )
        return _view_from_row(rows[0]) if rows else None

    async def recent_view(
        self, platform: str, chat_id: str, date: dt.date, request_key: str, *, since: dt.datetime
    ) -> DigestView | None:
        """The newest sent on-demand view of this request made at or after `since`."""
        async with self._read() as db:
            rows = list(
                await db.fetchall(
                    "SELECT * FROM digest_views WHERE platform = ? AND chat_id = ?"
                    " AND announcement_date = ? AND request_key = ? AND kind = 'on_demand'"
                    " AND message_ref IS NOT NULL AND created_at >= ?"
                    " ORDER BY created_at DESC, id DESC LIMIT 1",
                    (platform, chat_id, date_text(date), request_key, timestamp(since)),
                )
            )
        return _view_from_row(rows[0]) if rows else None

    async def set_view_message(self, view_id: int, message_ref: str) -> None:
        """Remember where a view's message is."""
        async with self._write() as db:
            await db.execute("UPDATE digest_views SET message_ref = ? WHERE id = ?", (message_ref, view_id))

    async def set_view_followers_sent(self, view_id: int) -> None:
        """Record that what follows a view's page was sent."""
        async with self._write() as db:
            await db.execute("UPDATE digest_views SET followers_sent = 1 WHERE id = ?", (view_id,))

    async def get_papers(self, date: dt.date, arxiv_ids: Sequence[str]) -> list[Paper]:
        """These papers as announced on `date`, in the given order; ids not announced then are left out."""
        found: dict[str, Paper] = {}
        wanted = list(dict.fromkeys(arxiv_ids))
        async with self._read() as db:
            for start in range(0, len(wanted), _SQL_VARIABLES):
                chunk = wanted[start : start + _SQL_VARIABLES]
                rows = await db.fetchall(
                    _SELECT_PAPERS.format(marks=", ".join("?" * len(chunk))), (date_text(date), *chunk)
                )
                for row in rows:
                    found[row["arxiv_id"]] = paper_from_row(row)
        return [found[arxiv_id] for arxiv_id in arxiv_ids if arxiv_id in found]
