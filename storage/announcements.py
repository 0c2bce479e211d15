"""The store's announcements: each weekday's papers as the feed listed them, and their pruning."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from bot.models import Announcement, AnnounceType, Paper
from bot.ports import PrunedAnnouncementError
from storage.base import Connection, Row, StoreBase, date_text, json_text, load_strings, plain_date

log = logging.getLogger(__name__)

#: Announcements younger than this are never pruned, whatever `before` says: a bot that was down
#: for a while must still find the days it has to catch up on.
MIN_RETENTION = dt.timedelta(days=14)

#: The state key of the ledger's horizon: the ledger holds no delivery of an announcement before it.
PRUNED_BEFORE_KEY = "store:pruned_before"

_UPSERT_PAPER = """
INSERT INTO papers (arxiv_id, version, title, abstract, authors, categories, doi, journal_ref, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (arxiv_id) DO UPDATE SET
    version = excluded.version,
    title = excluded.title,
    abstract = excluded.abstract,
    authors = excluded.authors,
    categories = excluded.categories,
    doi = COALESCE(excluded.doi, papers.doi),
    journal_ref = COALESCE(excluded.journal_ref, papers.journal_ref),
    updated_at = excluded.updated_at
WHERE excluded.version >= papers.version
"""


class AnnouncementsSection(StoreBase):
    """Announcements and their papers."""

    async def save_announcement(self, announcement: Announcement) -> bool:
        """Store a complete announcement and its papers; False when that date was already stored.

        Raises `PrunedAnnouncementError` for a date before the ledger's horizon (see `prune_announcements`).
        """
        day = date_text(announcement.date)
        papers = _unique_papers(announcement.papers, day)
        now = self._now()
        async with self._write() as db:
            await _refuse_before_the_horizon(db, day)
            inserted = await db.execute(
                "INSERT INTO announcements (date, categories, source, paper_count, stored_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (date) DO NOTHING",
                (day, json_text(announcement.categories), announcement.source, len(papers), now),
            )
            if inserted == 0:
                log.debug("announcement %s is already stored", day)
                return False
            await db.executemany(_UPSERT_PAPER, [_paper_row(p, now) for p in papers])
            await db.executemany(
                "INSERT INTO announcement_papers"
                " (announcement_date, position, arxiv_id, version, announce_type) VALUES (?, ?, ?, ?, ?)",
                [(day, i, p.arxiv_id, p.version, str(p.announce_type)) for i, p in enumerate(papers)],
            )
        log.info("stored the announcement of %s: %d papers", day, len(papers))
        return True

    async def announcement_categories(self, date: dt.date) -> tuple[str, ...] | None:
        """The categories a stored announcement was fetched for; None when that date is not stored."""
        async with self._read() as db:
            rows = await db.fetchall(
                "SELECT categories FROM announcements WHERE date = ?", (date_text(date),)
            )
        for (categories,) in rows:
            return load_strings(categories)
        return None

    async def extend_announcement(self, announcement: Announcement) -> int:
        """Add to a stored announcement the papers it lacks (a chat asked for more categories).

        The papers already listed keep their place, version and announce type; the new ones follow in
        feed order. The stored categories become the union. Returns how many papers were added; 0 when
        the date is not stored.
        """
        day = date_text(announcement.date)
        now = self._now()
        async with self._write() as db:
            rows = list(await db.fetchall("SELECT categories FROM announcements WHERE date = ?", (day,)))
            if not rows:
                return 0
            known = await db.fetchall(
                "SELECT arxiv_id, position FROM announcement_papers WHERE announcement_date = ?", (day,)
            )
            listed = {arxiv_id for arxiv_id, _ in known}
            next_position = max((position for _, position in known), default=-1) + 1
            added = [p for p in _unique_papers(announcement.papers, day) if p.arxiv_id not in listed]
            await db.executemany(_UPSERT_PAPER, [_paper_row(p, now) for p in added])
            await db.executemany(
                "INSERT INTO announcement_papers"
                " (announcement_date, position, arxiv_id, version, announce_type) VALUES (?, ?, ?, ?, ?)",
                [
                    (day, next_position + i, p.arxiv_id, p.version, str(p.announce_type))
                    for i, p in enumerate(added)
                ],
            )
            categories = sorted({*load_strings(rows[0][0]), *announcement.categories})
            await db.execute(
                "UPDATE announcements SET categories = ?, paper_count = paper_count + ? WHERE date = ?",
                (json_text(categories), len(added), day),
            )
        if added:
            log.info("added %d papers to the announcement of %s", len(added), day)
        return len(added)

    async def get_announcement(self, date: dt.date) -> Announcement | None:
        """The stored announcement of that date."""
        async with self._read() as db:
            return await _load_announcement(db, date_text(date))

    async def latest_announcement(self) -> Announcement | None:
        """The most recent stored announcement."""
        async with self._read() as db:
            rows = list(await db.fetchall("SELECT max(date) FROM announcements"))
            latest = rows[0][0] if rows else None
            return None if latest is None else await _load_announcement(db, str(latest))

    async def announcement_dates(self, since: dt.date) -> list[dt.date]:
        """Dates of stored announcements on or after `since`, oldest first."""
        async with self._read() as db:
            rows = await db.fetchall(
                "SELECT date FROM announcements WHERE date >= ? ORDER BY date", (date_text(since),)
            )
        return [dt.date.fromisoformat(row[0]) for row in rows]

    async def announcement_stored_at(self, date: dt.date) -> dt.datetime | None:
        """When the announcement of that date was stored (UTC, to the second); None when it is not."""
        async with self._read() as db:
            rows = list(
                await db.fetchall("SELECT stored_at FROM announcements WHERE date = ?", (date_text(date),))
            )
        if not rows:
            return None
        stored = dt.datetime.fromisoformat(str(rows[0][0]))
        return stored if stored.tzinfo is not None else stored.replace(tzinfo=dt.UTC)

    async def prune_announcements(self, before: dt.date) -> int:
        """Forget announcements older than `before`, their digest views and their ledger.

        Never forgets one younger than `MIN_RETENTION` by the store's clock. Papers that no remaining
        announcement lists go too, unless a vote or a bookmark names them; `votes` and `bookmarks`
        rows are never touched. The ledger keeps every paper a remaining announcement lists (a
        replacement announced again later is still known as sent), and once ledger rows went the
        cutoff becomes the ledger's horizon: an announcement before it is never stored again
        (`PrunedAnnouncementError`), so exactly-once holds for every announcement the store can hold.
        """
        floor = self._clock().date() - MIN_RETENTION
        cutoff = plain_date(before)
        if cutoff > floor:
            log.warning("not pruning announcements after %s (kept at least %s)", floor, MIN_RETENTION)
            cutoff = floor
        async with self._write() as db:
            pruned = await db.execute("DELETE FROM announcements WHERE date < ?", (cutoff.isoformat(),))
            ledger = await db.execute(
                "DELETE FROM deliveries WHERE announcement_date < ?"
                " AND NOT EXISTS"
                " (SELECT 1 FROM announcement_papers AS ap WHERE ap.arxiv_id = deliveries.arxiv_id)",
                (cutoff.isoformat(),),
            )
            if ledger:  # a ledger left whole guards every day still: no horizon needed
                await db.execute(
                    "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET value = excluded.value, updated_at = excluded.updated_at"
                    " WHERE excluded.value > state.value",
                    (PRUNED_BEFORE_KEY, cutoff.isoformat(), self._now()),
                )
            # A view's pages show its announcement's papers: it goes with it.
            await db.execute("DELETE FROM digest_views WHERE announcement_date < ?", (cutoff.isoformat(),))
            # A paper a chat voted on (its model is rebuilt from its votes) or a user saved (/saved
            # lists it) stays, whatever announcement listed it.
            papers = await db.execute(
                "DELETE FROM papers"
                " WHERE NOT EXISTS"
                " (SELECT 1 FROM announcement_papers AS ap WHERE ap.arxiv_id = papers.arxiv_id)"
                " AND NOT EXISTS (SELECT 1 FROM votes AS v WHERE v.arxiv_id = papers.arxiv_id)"
                " AND NOT EXISTS (SELECT 1 FROM bookmarks AS b WHERE b.arxiv_id = papers.arxiv_id)"
            )
        if pruned or ledger:
            log.debug(
                "pruned %d announcement(s) before %s, %d paper(s) and %d ledger row(s)",
                pruned,
                cutoff,
                papers,
                ledger,
            )
        return pruned


async def _refuse_before_the_horizon(db: Connection, day: str) -> None:
    """Raise `PrunedAnnouncementError` for a date whose ledger was pruned."""
    rows = await db.fetchall("SELECT value FROM state WHERE key = ?", (PRUNED_BEFORE_KEY,))
    if rows and day < str(rows[0][0]):
        raise PrunedAnnouncementError(
            f"the announcement of {day} is older than the delivery ledger keeps (pruned before "
            f"{rows[0][0]}, RETENTION_DAYS): refused, so that no chat gets its papers twice"
        )


async def _load_announcement(db: Connection, day: str) -> Announcement | None:
    """Rebuild one announcement: its papers in feed order, each as announced that day."""
    rows = list(await db.fetchall("SELECT categories, source FROM announcements WHERE date = ?", (day,)))
    if not rows:
        return None
    paper_rows = await db.fetchall(
        "SELECT p.arxiv_id, ap.version, p.title, p.abstract, p.authors, p.categories, ap.announce_type,"
        " p.doi, p.journal_ref"
        " FROM announcement_papers AS ap JOIN papers AS p ON p.arxiv_id = ap.arxiv_id"
        " WHERE ap.announcement_date = ? ORDER BY ap.position",
        (day,),
    )
    papers = tuple(paper_from_row(row) for row in paper_rows)
    return Announcement(
        date=dt.date.fromisoformat(day),
        categories=load_strings(rows[0]["categories"]),
        papers=papers,
        source=str(rows[0]["source"]),
    )


def paper_from_row(row: Row) -> Paper:
    """A paper as one announcement lists it (a row of papers joined with announcement_papers)."""
    return Paper(
        arxiv_id=row["arxiv_id"],
        version=int(row["version"]),
        title=row["title"],
        abstract=row["abstract"],
        authors=load_strings(row["authors"]),
        categories=load_strings(row["categories"]),
        announce_type=AnnounceType(row["announce_type"]),
        doi=row["doi"],
        journal_ref=row["journal_ref"],
    )


def _paper_row(paper: Paper, now: str) -> tuple[object, ...]:
    """The parameters of `_UPSERT_PAPER` for one paper."""
    return (
        paper.arxiv_id,
        paper.version,
        paper.title,
        paper.abstract,
        json_text(paper.authors),
        json_text(paper.categories),
        paper.doi,
        paper.journal_ref,
        now,
    )


def _unique_papers(papers: Iterable[Paper], day: str) -> list[Paper]:
    """The papers in feed order, each id once (the first occurrence wins)."""
    unique: dict[str, Paper] = {}
    for paper in papers:
        if paper.arxiv_id in unique:
            log.warning("announcement %s lists %s twice; keeping the first", day, paper.arxiv_id)
            continue
        unique[paper.arxiv_id] = paper
    return list(unique.values())
