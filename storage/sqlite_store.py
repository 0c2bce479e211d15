"""The SQLite store: everything the bot remembers, in one file, behind `bot.ports.Store`.

One aiosqlite connection in autocommit mode; every write is an explicit `BEGIN IMMEDIATE … COMMIT`
(rolled back on any error or cancellation), and every multi-statement read runs in one snapshot
transaction. An `asyncio.Lock` keeps coroutines from interleaving inside each other's transactions —
they share the connection, so without it a reader could see another coroutine's uncommitted rows.

The schema lives in numbered migration files (`storage/migrations/V{n}__{name}.sql`), applied at
start-up by `storage.migrations`. A database written by a newer version
is refused, untouched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING

import aiosqlite

from bot.models import (
    ANNOUNCE_TYPE_ORDER,
    Announcement,
    AnnounceType,
    Channel,
    DeliveryResult,
    FeedCheck,
    Paper,
    Topic,
)
from bot.ports import StoreError
from storage.errors import (
    NotADatabaseError,
    mkdir_problem,
    place_problem,
    sqlite_problem,
)
from storage.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    load_migrations,
)
from storage.migrations import rollback as _rollback

if TYPE_CHECKING:
    from bot.ports import Store

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000
#: Announcements younger than this are never pruned, whatever `before` says: a bot that was down
#: for a while must still find the days it has to catch up on.
MIN_RETENTION = dt.timedelta(days=14)
# Ids per IN-list: far below SQLite's variable limit (999 before 3.32, 32766 after).
_CHUNK = 500

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

_UPSERT_CHANNEL = """
INSERT INTO channels (platform, chat_id, timezone, delivery_time, active, max_inline_papers, notify_empty,
                      done_up_to, created_at, updated_at, server_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (platform, chat_id) DO UPDATE SET
    -- A copy that does not know its server (an older caller) leaves the stored one alone.
    server_id = coalesce(excluded.server_id, channels.server_id),
    timezone = excluded.timezone,
    delivery_time = excluded.delivery_time,
    active = excluded.active,
    max_inline_papers = excluded.max_inline_papers,
    notify_empty = excluded.notify_empty,
    -- The delivery cursor only moves forward: a stale copy of a channel cannot un-deliver a day.
    done_up_to = CASE
        WHEN channels.done_up_to IS NULL OR excluded.done_up_to > channels.done_up_to
        THEN excluded.done_up_to
        ELSE channels.done_up_to
    END,
    updated_at = excluded.updated_at
"""

_INSERT_TOPIC = """
INSERT INTO topics (channel_id, position, name, keywords, excludes, categories, announce_types)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

# Moving a channel onto a chat id that already has a channel: the kept channel's pending rows
# become sent where the other one already sent that paper, then the other's rows it lacks move over.
_MERGE_SENT = """
UPDATE deliveries
   SET status = 'sent',
       sent_at = (SELECT other.sent_at FROM deliveries AS other
                   WHERE other.channel_id = ? AND other.arxiv_id = deliveries.arxiv_id)
 WHERE channel_id = ? AND status = 'pending'
   AND EXISTS (SELECT 1 FROM deliveries AS other
                WHERE other.channel_id = ? AND other.arxiv_id = deliveries.arxiv_id AND other.status = 'sent')
"""
_MERGE_MISSING = """
UPDATE deliveries SET channel_id = ?
 WHERE channel_id = ?
   AND NOT EXISTS (SELECT 1 FROM deliveries AS kept
                    WHERE kept.channel_id = ? AND kept.arxiv_id = deliveries.arxiv_id)
"""


def _utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


async def open_store(
    path: pathlib.Path | str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
) -> SqliteStore:
    """Open (creating it and its directory if needed) the database at `path`, migrate it, return the store.

    `clock` stamps the rows' *_at columns (default: now, UTC); `migrations` replaces the shipped
    migration files (tests only).

    Any trouble with the file is one `StoreError` (see `storage.errors`) whose one-line message names
    the file and what to do: a directory that cannot be created or written (saying which uid needs it),
    a path on /proc or a directory, a file that is not an SQLite database or not this bot's, a read-only
    or damaged file, a lock held by another process beyond the busy timeout, a full disk. A file that
    is not the bot's database is refused before anything is written to it, so it stays byte for byte
    as it was.
    """
    path = pathlib.Path(path)
    known = list(migrations) if migrations is not None else load_migrations()
    place = place_problem(path)
    if place is not None:
        raise place
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise mkdir_problem(path, error) from error
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as error:
        raise _problem(path, error) from error
    now = _timestamp((clock or _utc_now)())
    try:
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")  # an int constant, not a value
        await _refuse_a_foreign_file(db, path)  # reads only: before WAL mode rewrites the header
        mode = [row[0] for row in await db.execute_fetchall("PRAGMA journal_mode = WAL")]
        if mode != ["wal"]:
            log.warning("the database %s is not in WAL mode (journal_mode=%s)", path, mode)
        await db.execute("PRAGMA foreign_keys = ON")
        await apply_migrations(db, known, now=now, where=f"the database {path}")
        # A file this process may only read opens read-only and would fail at its first write: find out
        # now, with a write that changes nothing (BEGIN IMMEDIATE alone succeeds on a read-only WAL file).
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("DELETE FROM schema_migrations WHERE 0")
        await db.execute("ROLLBACK")
    except BaseException as error:
        await db.close()
        cause = error.__cause__ if isinstance(error, MigrationError) else error
        if isinstance(cause, sqlite3.Error):
            problem = sqlite_problem(path, cause, waited_s=BUSY_TIMEOUT_MS / 1000)
            if problem is not None:
                raise problem from error
        if isinstance(error, sqlite3.Error):
            raise _problem(path, error) from error
        raise
    log.debug("opened the database %s", path)
    return SqliteStore(db, path=path, clock=clock)


async def _refuse_a_foreign_file(db: aiosqlite.Connection, path: pathlib.Path) -> None:
    """Refuse another program's SQLite file: tables, but no `schema_migrations` of this bot's."""
    tables = [
        str(row[0])
        for row in await db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
            " ORDER BY name"
        )
    ]
    if not tables:
        return  # a new file
    if "schema_migrations" in tables:
        columns = {str(row[1]) for row in await db.execute_fetchall("PRAGMA table_info(schema_migrations)")}
        if {"version", "name", "checksum", "applied_at"} <= columns:
            return
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    raise NotADatabaseError(
        f"{path} is another program's SQLite database, not arxiv-digest-bot's (wrong file?): it has the "
        f"tables {shown} and was left untouched; set DATABASE_URL to the bot's database, or to a new file"
    )


def _problem(path: pathlib.Path, error: sqlite3.Error) -> StoreError:
    """The one-line StoreError for an SQLite failure on the file (the error's own text if nothing better)."""
    problem = sqlite_problem(path, error, waited_s=BUSY_TIMEOUT_MS / 1000)
    return problem if problem is not None else StoreError(f"cannot use the database {path}: {error}")


class SqliteStore:
    """`bot.ports.Store` over one SQLite file; build it with `open_store`."""

    def __init__(
        self, db: aiosqlite.Connection, *, path: pathlib.Path | None = None, clock: Clock | None = None
    ) -> None:
        """Wrap an open, migrated connection in autocommit mode."""
        self._db: aiosqlite.Connection | None = db
        self._lock = asyncio.Lock()
        self._clock: Clock = clock or _utc_now
        self.path = path

    async def __aenter__(self) -> SqliteStore:
        """Use the store as an async context manager that closes it."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        await self.close()

    async def close(self) -> None:
        """Release the connection (after any transaction in progress); closing twice is harmless."""
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await db.close()

    # -- plumbing ----------------------------------------------------------------------------------
    def _now(self) -> str:
        """The clock's time as an ISO timestamp."""
        return _timestamp(self._clock())

    def _connection(self) -> aiosqlite.Connection:
        """The open connection, or a clear error once the store is closed."""
        if self._db is None:
            raise StoreError("the store is closed")
        return self._db

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the lock and one transaction (IMMEDIATE for writes); commit, or roll back on any error."""
        async with self._lock:
            db = self._connection()
            try:
                await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield db
                await db.execute("COMMIT")
            except BaseException as error:
                await _rollback(db)
                # Trouble with the file itself (disk full, locked too long, made read-only, damaged) is a
                # one-line StoreError; an error of the SQL (a constraint) stays what it is.
                if isinstance(error, sqlite3.Error) and self.path is not None:
                    problem = sqlite_problem(self.path, error, waited_s=BUSY_TIMEOUT_MS / 1000)
                    if problem is not None:
                        raise problem from error
                raise

    def _write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """A write transaction (see `_transaction`)."""
        return self._transaction(write=True)

    def _read(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """A read snapshot (see `_transaction`)."""
        return self._transaction(write=False)

    # -- announcements -------------------------------------------------------------------------------
    async def save_announcement(self, announcement: Announcement) -> bool:
        """Store a complete announcement and its papers; False when that date was already stored."""
        day = _date_text(announcement.date)
        papers = _unique_papers(announcement.papers, day)
        now = self._now()
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO announcements (date, categories, source, paper_count, stored_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (date) DO NOTHING",
                (day, _json(announcement.categories), announcement.source, len(papers), now),
            )
            if cursor.rowcount == 0:
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
            rows = await db.execute_fetchall(
                "SELECT categories FROM announcements WHERE date = ?", (_date_text(date),)
            )
        for (categories,) in rows:
            return _load_strings(categories)
        return None

    async def extend_announcement(self, announcement: Announcement) -> int:
        """Add to a stored announcement the papers it lacks (a chat asked for more categories).

        The papers already listed keep their place, version and announce type; the new ones follow in
        feed order. The stored categories become the union. Returns how many papers were added; 0 when
        the date is not stored.
        """
        day = _date_text(announcement.date)
        now = self._now()
        async with self._write() as db:
            rows = list(
                await db.execute_fetchall("SELECT categories FROM announcements WHERE date = ?", (day,))
            )
            if not rows:
                return 0
            known = await db.execute_fetchall(
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
            categories = sorted({*_load_strings(rows[0][0]), *announcement.categories})
            await db.execute(
                "UPDATE announcements SET categories = ?, paper_count = paper_count + ? WHERE date = ?",
                (_json(categories), len(added), day),
            )
        if added:
            log.info("added %d papers to the announcement of %s", len(added), day)
        return len(added)

    async def get_announcement(self, date: dt.date) -> Announcement | None:
        """The stored announcement of that date."""
        async with self._read() as db:
            return await _load_announcement(db, _date_text(date))

    async def latest_announcement(self) -> Announcement | None:
        """The most recent stored announcement."""
        async with self._read() as db:
            rows = list(await db.execute_fetchall("SELECT max(date) FROM announcements"))
            latest = rows[0][0] if rows else None
            return None if latest is None else await _load_announcement(db, str(latest))

    async def announcement_dates(self, since: dt.date) -> list[dt.date]:
        """Dates of stored announcements on or after `since`, oldest first."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT date FROM announcements WHERE date >= ? ORDER BY date", (_date_text(since),)
            )
        return [dt.date.fromisoformat(row[0]) for row in rows]

    async def prune_announcements(self, before: dt.date) -> int:
        """Forget announcements older than `before` (the ledger is kept); return how many.

        Never forgets one younger than `MIN_RETENTION` by the store's clock. Papers that no remaining
        announcement lists go too; `deliveries` rows are never touched.
        """
        floor = self._clock().date() - MIN_RETENTION
        cutoff = _plain_date(before)
        if cutoff > floor:
            log.warning("not pruning announcements after %s (kept at least %s)", floor, MIN_RETENTION)
            cutoff = floor
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM announcements WHERE date < ?", (cutoff.isoformat(),))
            pruned = cursor.rowcount
            papers = await db.execute(
                "DELETE FROM papers WHERE NOT EXISTS"
                " (SELECT 1 FROM announcement_papers AS ap WHERE ap.arxiv_id = papers.arxiv_id)"
            )
        if pruned:
            log.debug("pruned %d announcement(s) before %s and %d paper(s)", pruned, cutoff, papers.rowcount)
        return pruned

    # -- channels and their topics ---------------------------------------------------------------------
    async def save_channel(self, channel: Channel) -> Channel:
        """Insert or update a channel by (platform, chat_id), topics included; return it with its id.

        `channel.id` is ignored (the key is platform and chat id); the channel's topics are replaced
        by `channel.topics`, in that order. `delivery_time` is kept to the minute.
        """
        _check_topic_names(channel.topics)
        now = self._now()
        async with self._write() as db:
            await db.execute(
                _UPSERT_CHANNEL,
                (
                    channel.platform,
                    channel.chat_id,
                    channel.timezone,
                    _time_text(channel.delivery_time),
                    int(channel.active),
                    channel.max_inline_papers,
                    int(channel.notify_empty),
                    None if channel.done_up_to is None else _date_text(channel.done_up_to),
                    now,
                    now,
                    channel.server_id,
                ),
            )
            rows = list(
                await db.execute_fetchall(
                    "SELECT id FROM channels WHERE platform = ? AND chat_id = ?",
                    (channel.platform, channel.chat_id),
                )
            )
            channel_id = int(rows[0][0])
            await _replace_topics(db, channel_id, channel.topics)
            stored = await _load_channel(db, channel.platform, channel.chat_id)
        assert stored is not None
        return stored

    async def set_channel_active(self, channel_id: int, active: bool) -> None:
        """Turn a channel's daily digest on or off, leaving its other settings and topics alone."""
        async with self._write() as db:
            await db.execute(
                "UPDATE channels SET active = ?, updated_at = ? WHERE id = ?",
                (int(active), self._now(), channel_id),
            )

    async def set_done_up_to(self, channel_id: int, announcement_date: dt.date) -> None:
        """Record that a channel's digest of this announcement is done (never moves backwards)."""
        day = _date_text(announcement_date)
        async with self._write() as db:
            await db.execute(
                "UPDATE channels SET done_up_to = ?, updated_at = ?"
                " WHERE id = ? AND (done_up_to IS NULL OR done_up_to < ?)",
                (day, self._now(), channel_id, day),
            )

    async def get_channel(self, platform: str, chat_id: str) -> Channel | None:
        """The channel, with its topics."""
        async with self._read() as db:
            return await _load_channel(db, platform, chat_id)

    async def list_channels(self, *, active_only: bool = True, platform: str | None = None) -> list[Channel]:
        """Channels (with topics), optionally only those with the daily digest on, or of one platform."""
        params = (int(active_only), platform, platform)
        async with self._read() as db:
            channel_rows = await db.execute_fetchall(
                "SELECT c.* FROM channels AS c"
                " WHERE (? = 0 OR c.active = 1) AND (? IS NULL OR c.platform = ?)"
                " ORDER BY c.id",
                params,
            )
            topic_rows = await db.execute_fetchall(
                "SELECT t.* FROM topics AS t JOIN channels AS c ON c.id = t.channel_id"
                " WHERE (? = 0 OR c.active = 1) AND (? IS NULL OR c.platform = ?)"
                " ORDER BY t.channel_id, t.position",
                params,
            )
        topics: dict[int, list[Topic]] = {}
        for row in topic_rows:
            topics.setdefault(int(row["channel_id"]), []).append(_topic_from_row(row))
        return [_channel_from_row(row, topics.get(int(row["id"]), [])) for row in channel_rows]

    async def channels_of_server(self, platform: str, server_id: str) -> list[Channel]:
        """Every stored channel of one server (a Discord guild), active or not."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT chat_id FROM channels WHERE platform = ? AND server_id = ? ORDER BY id",
                (platform, server_id),
            )
            channels = [await _load_channel(db, platform, str(row[0])) for row in rows]
        return [channel for channel in channels if channel is not None]

    async def move_channel(self, platform: str, old_chat_id: str, new_chat_id: str) -> Channel | None:
        """Re-key a channel whose chat id changed (a Telegram group upgraded to a supergroup).

        The channel keeps its id, settings, topics and ledger. If the old chat id is unknown but the
        new one is stored (the move already happened), that channel is returned; if neither, None.
        If both are stored, they merge into the moved channel: its id and settings win, except that
        the digest stays on if either had it on; the other's topics with names it lacks are appended;
        the ledgers are united (a paper sent by either counts as sent), so nothing is posted twice.
        """
        if old_chat_id == new_chat_id:
            return await self.get_channel(platform, old_chat_id)
        now = self._now()
        async with self._write() as db:
            moved = await _load_channel(db, platform, old_chat_id)
            existing = await _load_channel(db, platform, new_chat_id)
            if moved is None:
                return existing
            assert moved.id is not None
            if existing is None:
                await db.execute(
                    "UPDATE channels SET chat_id = ?, updated_at = ? WHERE id = ?",
                    (new_chat_id, now, moved.id),
                )
                log.info(
                    "%s channel %d moved from chat %s to %s", platform, moved.id, old_chat_id, new_chat_id
                )
            else:
                assert existing.id is not None
                await db.execute(_MERGE_SENT, (existing.id, moved.id, existing.id))
                await db.execute(_MERGE_MISSING, (moved.id, existing.id, moved.id))
                await db.execute("DELETE FROM channels WHERE id = ?", (existing.id,))
                names = {topic.name for topic in moved.topics}
                topics = moved.topics + tuple(t for t in existing.topics if t.name not in names)
                await db.execute(
                    "UPDATE channels SET chat_id = ?, active = ?, updated_at = ? WHERE id = ?",
                    (new_chat_id, int(moved.active or existing.active), now, moved.id),
                )
                await _replace_topics(db, moved.id, topics)
                log.warning(
                    "%s channel %d moved from chat %s onto %s, which was channel %d: merged into %d",
                    platform,
                    moved.id,
                    old_chat_id,
                    new_chat_id,
                    existing.id,
                    moved.id,
                )
            return await _load_channel(db, platform, new_chat_id)

    async def subscribed_categories(self) -> set[str]:
        """Categories named explicitly by the topics of active channels."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT t.categories FROM topics AS t JOIN channels AS c ON c.id = t.channel_id"
                " WHERE c.active = 1"
            )
        return {category for row in rows for category in _load_strings(row[0])}

    # -- the delivery ledger ---------------------------------------------------------------------------
    async def reserve_deliveries(
        self, channel_id: int, announcement_date: dt.date, arxiv_ids: Sequence[str]
    ) -> list[str]:
        """Mark these papers pending for the channel; return, in the given order, those now pending.

        Papers already sent are left out; papers left pending by an interrupted run are returned again.
        """
        ids = _unique(arxiv_ids)
        if not ids:
            return []
        day, now = _date_text(announcement_date), self._now()
        async with self._write() as db:
            await db.executemany(
                "INSERT INTO deliveries (channel_id, arxiv_id, announcement_date, status, reserved_at)"
                " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (channel_id, arxiv_id) DO NOTHING",
                [(channel_id, arxiv_id, day, now) for arxiv_id in ids],
            )
            pending = await _select_ids(
                db,
                "SELECT arxiv_id FROM deliveries WHERE channel_id = ? AND status = 'pending'",
                channel_id,
                ids,
            )
        return [arxiv_id for arxiv_id in ids if arxiv_id in pending]

    async def confirm_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Mark pending papers as sent."""
        ids = _unique(arxiv_ids)
        if not ids:
            return
        now = self._now()
        async with self._write() as db:
            cursor = await db.executemany(
                "UPDATE deliveries SET status = 'sent', sent_at = ?"
                " WHERE channel_id = ? AND arxiv_id = ? AND status = 'pending'",
                [(now, channel_id, arxiv_id) for arxiv_id in ids],
            )
        if cursor.rowcount != len(ids):
            log.debug("confirmed %d of %d papers for channel %d", cursor.rowcount, len(ids), channel_id)

    async def release_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Drop pending rows whose message surely never reached the platform."""
        ids = _unique(arxiv_ids)
        if not ids:
            return
        async with self._write() as db:
            await db.executemany(
                "DELETE FROM deliveries WHERE channel_id = ? AND arxiv_id = ? AND status = 'pending'",
                [(channel_id, arxiv_id) for arxiv_id in ids],
            )

    async def record_delivery(self, channel_id: int, announcement_date: dt.date, arxiv_id: str) -> bool:
        """Record one paper as sent; False (and nothing changed) if the ledger already holds it."""
        now = self._now()
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO deliveries"
                " (channel_id, arxiv_id, announcement_date, status, reserved_at, sent_at)"
                " VALUES (?, ?, ?, 'sent', ?, ?) ON CONFLICT (channel_id, arxiv_id) DO NOTHING",
                (channel_id, arxiv_id, _date_text(announcement_date), now, now),
            )
        return cursor.rowcount == 1

    async def delivered_ids(self, channel_id: int, arxiv_ids: Sequence[str] | None = None) -> set[str]:
        """Papers already sent to the channel (among `arxiv_ids`, or all)."""
        query = "SELECT arxiv_id FROM deliveries WHERE channel_id = ? AND status = 'sent'"
        async with self._read() as db:
            if arxiv_ids is None:
                return {str(row[0]) for row in await db.execute_fetchall(query, (channel_id,))}
            return await _select_ids(db, query, channel_id, _unique(arxiv_ids))

    # -- what ingest and delivery report to /status ---------------------------------------------------
    async def record_feed_check(self, check: FeedCheck) -> None:
        """Remember the last feed check (replacing the one before)."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO feed_checks (id, checked_at, outcome, date, message, papers)"
                " VALUES (1, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at,"
                " outcome = excluded.outcome, date = excluded.date, message = excluded.message,"
                " papers = excluded.papers",
                (
                    _timestamp(check.checked_at),
                    check.outcome,
                    None if check.date is None else _date_text(check.date),
                    check.message,
                    check.papers,
                ),
            )

    async def last_feed_check(self) -> FeedCheck | None:
        """The last feed check recorded, or None before the first."""
        async with self._read() as db:
            rows = list(await db.execute_fetchall("SELECT * FROM feed_checks WHERE id = 1"))
        if not rows:
            return None
        row = rows[0]
        return FeedCheck(
            checked_at=_load_timestamp(row["checked_at"]),
            outcome=row["outcome"],
            date=None if row["date"] is None else dt.date.fromisoformat(row["date"]),
            message=row["message"],
            papers=int(row["papers"]),
        )

    async def record_delivery_result(self, result: DeliveryResult) -> None:
        """Remember a channel's last delivery result (replacing its previous one)."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO delivery_results (channel_id, delivered_at, announcement_date, result, papers)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (channel_id) DO UPDATE SET delivered_at = excluded.delivered_at,"
                " announcement_date = excluded.announcement_date, result = excluded.result,"
                " papers = excluded.papers",
                (
                    result.channel_id,
                    _timestamp(result.delivered_at),
                    _date_text(result.announcement_date),
                    result.result,
                    result.papers,
                ),
            )

    async def last_delivery_result(self, channel_id: int) -> DeliveryResult | None:
        """A channel's last delivery result, or None before its first delivery."""
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT * FROM delivery_results WHERE channel_id = ?", (channel_id,)
                )
            )
        if not rows:
            return None
        row = rows[0]
        return DeliveryResult(
            channel_id=int(row["channel_id"]),
            delivered_at=_load_timestamp(row["delivered_at"]),
            announcement_date=dt.date.fromisoformat(row["announcement_date"]),
            result=row["result"],
            papers=int(row["papers"]),
        )

    # -- small state ---------------------------------------------------------------------------------------
    async def get_state(self, key: str) -> str | None:
        """A value saved with `set_state`."""
        async with self._read() as db:
            rows = list(await db.execute_fetchall("SELECT value FROM state WHERE key = ?", (key,)))
        return str(rows[0][0]) if rows else None

    async def set_state(self, key: str, value: str) -> None:
        """Save a small value under a key."""
        now = self._now()
        async with self._write() as db:
            await db.execute(
                "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, now),
            )


# -- helpers: SQL ----------------------------------------------------------------------------------
async def _select_ids(db: aiosqlite.Connection, query: str, channel_id: int, ids: Sequence[str]) -> set[str]:
    """Run `query … AND arxiv_id IN (…)` over `ids` in chunks below SQLite's variable limit."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        placeholders = ", ".join("?" * len(chunk))  # only placeholders are formatted in, never values
        rows = await db.execute_fetchall(f"{query} AND arxiv_id IN ({placeholders})", (channel_id, *chunk))
        found.update(str(row[0]) for row in rows)
    return found


async def _load_announcement(db: aiosqlite.Connection, day: str) -> Announcement | None:
    """Rebuild one announcement: its papers in feed order, each as announced that day."""
    rows = list(
        await db.execute_fetchall("SELECT categories, source FROM announcements WHERE date = ?", (day,))
    )
    if not rows:
        return None
    paper_rows = await db.execute_fetchall(
        "SELECT p.arxiv_id, ap.version, p.title, p.abstract, p.authors, p.categories, ap.announce_type,"
        " p.doi, p.journal_ref"
        " FROM announcement_papers AS ap JOIN papers AS p ON p.arxiv_id = ap.arxiv_id"
        " WHERE ap.announcement_date = ? ORDER BY ap.position",
        (day,),
    )
    papers = tuple(
        Paper(
            arxiv_id=row["arxiv_id"],
            version=int(row["version"]),
            title=row["title"],
            abstract=row["abstract"],
            authors=_load_strings(row["authors"]),
            categories=_load_strings(row["categories"]),
            announce_type=AnnounceType(row["announce_type"]),
            doi=row["doi"],
            journal_ref=row["journal_ref"],
        )
        for row in paper_rows
    )
    return Announcement(
        date=dt.date.fromisoformat(day),
        categories=_load_strings(rows[0]["categories"]),
        papers=papers,
        source=str(rows[0]["source"]),
    )


async def _load_channel(db: aiosqlite.Connection, platform: str, chat_id: str) -> Channel | None:
    """One channel with its topics, or None."""
    rows = list(
        await db.execute_fetchall(
            "SELECT * FROM channels WHERE platform = ? AND chat_id = ?", (platform, chat_id)
        )
    )
    if not rows:
        return None
    topic_rows = await db.execute_fetchall(
        "SELECT * FROM topics WHERE channel_id = ? ORDER BY position", (rows[0]["id"],)
    )
    return _channel_from_row(rows[0], [_topic_from_row(row) for row in topic_rows])


async def _replace_topics(db: aiosqlite.Connection, channel_id: int, topics: Sequence[Topic]) -> None:
    """Replace a channel's topics with these, in this order."""
    await db.execute("DELETE FROM topics WHERE channel_id = ?", (channel_id,))
    await db.executemany(
        _INSERT_TOPIC,
        [
            (
                channel_id,
                position,
                topic.name,
                _json(topic.keywords),
                _json(topic.excludes),
                _json(topic.categories),
                _json(str(t) for t in sorted(topic.announce_types, key=ANNOUNCE_TYPE_ORDER.__getitem__)),
            )
            for position, topic in enumerate(topics)
        ],
    )


# -- helpers: conversions --------------------------------------------------------------------------
def _channel_from_row(row: sqlite3.Row, topics: Sequence[Topic]) -> Channel:
    """A `Channel` from a `channels` row and its topics."""
    return Channel(
        platform=row["platform"],
        chat_id=row["chat_id"],
        id=int(row["id"]),
        server_id=row["server_id"],
        timezone=row["timezone"],
        delivery_time=None if row["delivery_time"] is None else dt.time.fromisoformat(row["delivery_time"]),
        active=bool(row["active"]),
        max_inline_papers=int(row["max_inline_papers"]),
        notify_empty=bool(row["notify_empty"]),
        topics=tuple(topics),
        done_up_to=None if row["done_up_to"] is None else dt.date.fromisoformat(row["done_up_to"]),
    )


def _topic_from_row(row: sqlite3.Row) -> Topic:
    """A `Topic` from a `topics` row."""
    return Topic(
        name=row["name"],
        keywords=_load_strings(row["keywords"]),
        excludes=_load_strings(row["excludes"]),
        categories=_load_strings(row["categories"]),
        announce_types=frozenset(AnnounceType(value) for value in _load_strings(row["announce_types"])),
    )


def _check_topic_names(topics: Sequence[Topic]) -> None:
    """Topic names must be unique within a channel."""
    seen: set[str] = set()
    for topic in topics:
        if topic.name in seen:
            raise ValueError(f"a channel cannot have two topics named {topic.name!r}")
        seen.add(topic.name)


def _paper_row(paper: Paper, now: str) -> tuple[object, ...]:
    """The parameters of `_UPSERT_PAPER` for one paper."""
    return (
        paper.arxiv_id,
        paper.version,
        paper.title,
        paper.abstract,
        _json(paper.authors),
        _json(paper.categories),
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


def _unique(values: Iterable[str]) -> list[str]:
    """The values in order, each once."""
    return list(dict.fromkeys(values))


def _chunks(values: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _plain_date(value: dt.date) -> dt.date:
    """The calendar date of a date (or of a datetime passed by mistake)."""
    return dt.date(value.year, value.month, value.day)


def _date_text(value: dt.date) -> str:
    """A date as stored: YYYY-MM-DD."""
    return _plain_date(value).isoformat()


def _time_text(value: dt.time | None) -> str | None:
    """A local delivery time as stored: HH:MM."""
    return None if value is None else f"{value.hour:02d}:{value.minute:02d}"


def _timestamp(value: dt.datetime) -> str:
    """A moment as stored: ISO 8601 in UTC, to the second."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _load_timestamp(text: str) -> dt.datetime:
    """A stored moment, UTC-aware (a value without an offset is taken as UTC)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _json(values: Iterable[str]) -> str:
    """A list of strings as a JSON array."""
    return json.dumps(list(values), ensure_ascii=False)


def _load_strings(text: str) -> tuple[str, ...]:
    """A JSON array of strings back as a tuple."""
    return tuple(str(value) for value in json.loads(text))


__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIN_RETENTION",
    "SqliteStore",
    "open_store",
]


if TYPE_CHECKING:

    def _satisfies_the_port(store: SqliteStore) -> Store:
        """mypy proves here that `SqliteStore` implements `bot.ports.Store`."""
        return store
