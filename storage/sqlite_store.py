"""The SQLite store: everything the bot remembers, in one file, behind `bot.ports.Store`.

`open_store` opens and migrates the file; `SqliteStore` joins the store's sections, each with its own
SQL: `storage.announcements`, `storage.channels`, `storage.feedback`,
`storage.ledger`, `storage.reports` and `storage.views`, over the connection and
transactions of `storage.sqlite_base`.

The schema lives in numbered migration files (`storage/migrations/sqlite/V{n}__{name}.sql`), applied at
start-up by `storage.migrations`. A database written by a newer version
is refused, untouched.
"""

from __future__ import annotations

import logging
import pathlib
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Literal, overload

import aiosqlite

from bot.ports import StoreError
from storage import sqlite_base
from storage.announcements import AnnouncementsSection
from storage.base import Clock, Connection, timestamp, utc_now
from storage.channels import ChannelsSection
from storage.errors import (
    NotADatabaseError,
    mkdir_problem,
    place_problem,
    sqlite_problem,
)
from storage.feedback import FeedbackSection
from storage.ledger import LedgerSection
from storage.migrations import (
    Migration,
    MigrationError,
    SchemaTooNewError,
    apply_migrations,
    load_migrations,
)
from storage.reports import ReportsSection
from storage.sqlite_base import SqliteBase
from storage.views import ViewsSection

if TYPE_CHECKING:
    from bot.ports import Store

log = logging.getLogger(__name__)


@overload
async def open_store(
    path: pathlib.Path | str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
    read_only: Literal[False] = False,
) -> SqliteStore: ...


@overload
async def open_store(
    path: pathlib.Path | str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
    read_only: Literal[True],
) -> ReadOnlySqliteStore: ...


async def open_store(
    path: pathlib.Path | str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
    read_only: bool = False,
) -> SqliteStore:
    """Open (creating it and its directory if needed) the database at `path`, migrate it, return the store.

    With `read_only`, see `open_read_only`: nothing is created, migrated or written.

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
    if read_only:
        return await open_read_only(path, clock=clock, migrations=known)
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
    now = timestamp((clock or utc_now)())
    try:
        db.row_factory = sqlite3.Row
        await db.execute(
            f"PRAGMA busy_timeout = {sqlite_base.BUSY_TIMEOUT_MS:d}"
        )  # an int constant, not a value
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
            problem = sqlite_problem(path, cause, waited_s=sqlite_base.BUSY_TIMEOUT_MS / 1000)
            if problem is not None:
                raise problem from error
        if isinstance(error, sqlite3.Error):
            raise _problem(path, error) from error
        raise
    log.debug("opened the database %s", path)
    return SqliteStore(db, path=path, clock=clock)


async def open_read_only(
    path: pathlib.Path | str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
) -> ReadOnlySqliteStore:
    """Open the existing database at `path` for reading only (`arxiv-digest status`, the healthcheck).

    Nothing is created (no file, no directory), migrated or written, so it works on a file this process
    may only read and in a read-only directory. SQLite's `mode=ro` reads a WAL database through its
    `-wal` and `-shm` files while a writer has them open; when there is no `-wal` file (no process has
    the database open), it is opened `immutable`, so that SQLite creates no `-wal`/`-shm` files either
    (they would belong to this process's user and could keep the bot from opening its own database).

    A database whose schema is older than this version's migrations is not refused: the store's
    `schema_version` says how far it is, and `needs_migration` is true (its tables may lack columns
    this version reads). One written by a newer version, a file that is not an SQLite database or is
    another program's, and a file that does not exist are refused, each with one `StoreError` line.
    """
    path = pathlib.Path(path)
    known = list(migrations) if migrations is not None else load_migrations()
    place = place_problem(path)
    if place is not None:
        raise place
    if not path.exists():
        raise StoreError(f"no database at {path}")
    wal = path.with_name(path.name + "-wal")
    uri = path.absolute().as_uri() + "?mode=ro"
    attempts = [uri, uri + "&immutable=1"] if wal.exists() else [uri + "&immutable=1"]
    failure: sqlite3.Error | None = None
    for attempt in attempts:
        try:
            db = await aiosqlite.connect(attempt, uri=True, isolation_level=None)
        except sqlite3.Error as error:
            failure = error
            continue
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {sqlite_base.BUSY_TIMEOUT_MS:d}")
            await _refuse_a_foreign_file(db, path)
            applied = await _applied_versions(db)
        except sqlite3.Error as error:
            await db.close()
            failure = error
            continue
        except BaseException:
            await db.close()
            raise
        newest = max((migration.version for migration in known), default=0)
        unknown = sorted(applied - {migration.version for migration in known})
        if unknown:
            await db.close()
            raise SchemaTooNewError(
                f"the database {path} has schema migration(s) {', '.join(f'V{v}' for v in unknown)} that "
                f"this version of arxiv-digest-bot does not know (it knows up to V{newest}): it was "
                "written by a newer version. Upgrade the bot; nothing was changed."
            )
        log.debug("opened the database %s read-only (schema V%d)", path, max(applied, default=0))
        store = ReadOnlySqliteStore(db, path=path, clock=clock)
        store.schema_version = max(applied, default=0)
        store.latest_version = newest
        return store
    assert failure is not None
    raise _problem(path, failure) from failure


async def _applied_versions(db: aiosqlite.Connection) -> set[int]:
    """The migrations the file records (none for a file without `schema_migrations`: a new one)."""
    tables = await db.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    if not list(tables):
        return set()
    return {int(row[0]) for row in await db.execute_fetchall("SELECT version FROM schema_migrations")}


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
    problem = sqlite_problem(path, error, waited_s=sqlite_base.BUSY_TIMEOUT_MS / 1000)
    return problem if problem is not None else StoreError(f"cannot use the database {path}: {error}")


class SqliteStore(
    AnnouncementsSection,
    ChannelsSection,
    FeedbackSection,
    LedgerSection,
    ReportsSection,
    ViewsSection,
    SqliteBase,
):
    """`bot.ports.Store` over one SQLite file; build it with `open_store`."""

    async def close(self) -> None:
        """Release the connection (after any transaction in progress); closing twice is harmless."""
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await db.close()


class ReadOnlySqliteStore(SqliteStore):
    """A `SqliteStore` opened with `open_read_only`: every read works, every write is refused at once.

    `schema_version` is the newest migration the file records, `latest_version` the newest this
    version of the bot knows; when the first is lower, `needs_migration` (reads may then fail).
    """

    schema_version: int = 0
    latest_version: int = 0

    @property
    def needs_migration(self) -> bool:
        """Whether the file's schema is older than this version's (the next `run` migrates it)."""
        return self.schema_version < self.latest_version

    def _write(self) -> AbstractAsyncContextManager[Connection]:
        """Refused: this store was opened read-only."""
        raise StoreError(f"the database {self.path} was opened read-only: nothing can be written to it")


__all__ = [
    "ReadOnlySqliteStore",
    "SqliteStore",
    "open_read_only",
    "open_store",
]


if TYPE_CHECKING:

    def _satisfies_the_port(store: SqliteStore) -> Store:
        """mypy proves here that `SqliteStore` implements `bot.ports.Store`."""
        return store
