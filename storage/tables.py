"""The bot's tables as such, on either engine: for the operator's `db` commands (copy, status, upgrade).

The store's sections (`storage.announcements`, …) never touch a table directly through this module;
it is for moving and counting whole tables. `TABLES` lists every table a deployment's data lives in,
in foreign-key order (a table after every table it references), each with the primary key its rows
are read in. `open_raw` opens a database as it is, without migrating anything: SQLite read-only (a
`file:…?mode=ro` URI) unless asked to write, PostgreSQL over one plain connection.
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
import asyncpg

from bot.database_url import POSTGRESQL, DatabaseUrl
from bot.ports import StoreError
from storage import sqlite_base
from storage.errors import NotADatabaseError, sqlite_problem
from storage.postgres_errors import postgres_problem


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the deployment's data and the columns its rows are ordered by."""

    name: str
    key: tuple[str, ...]
    #: The column PostgreSQL generates (an identity) and SQLite numbers itself (its rowid), if any.
    identity: str | None = None


#: Every table a deployment keeps, parents before children (what `db copy` moves, in this order).
TABLES: tuple[Table, ...] = (
    Table("papers", ("arxiv_id",)),
    Table("announcements", ("date",)),
    Table("announcement_papers", ("announcement_date", "position")),
    Table("channels", ("id",), identity="id"),
    Table("topics", ("id",), identity="id"),
    Table("deliveries", ("channel_id", "arxiv_id")),
    Table("state", ("key",)),
    Table("feed_checks", ("id",)),
    Table("delivery_results", ("channel_id",)),
    Table("digest_views", ("id",), identity="id"),
    Table("votes", ("platform", "chat_id", "user_id", "arxiv_id")),
    Table("vote_versions", ("platform", "chat_id")),
    # PostgreSQL's `bookmarks.rowid` is SQLite's implicit rowid (the order of equal saved_at): kept too.
    Table("bookmarks", ("platform", "user_id", "arxiv_id"), identity="rowid"),
)

#: Tables that are not data to move: the schema's own record, and running processes' leases.
NOT_COPIED: dict[str, str] = {
    "schema_migrations": "the target's own, from its migrations",
    "channel_claims": "leases of running processes, which expire by themselves",
}

#: SQLite tables whose implicit rowid is a column of PostgreSQL's table.
_SQLITE_ROWID_TABLES = frozenset({"bookmarks"})


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """A row of `schema_migrations`."""

    version: int
    name: str
    checksum: str
    applied_at: str


class RawDatabase:
    """A database opened as it is (no migration): its tables, counts, rows, and plain statements."""

    engine: str
    shown: str

    async def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    async def table_names(self) -> set[str]:
        """The names of the tables that exist."""
        raise NotImplementedError

    async def columns(self, table: str) -> list[str]:
        """The table's columns, in order (SQLite's rowid included where PostgreSQL has it as a column)."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query (SQL with `?` placeholders)."""
        raise NotImplementedError

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (SQL with `?` placeholders)."""
        raise NotImplementedError

    def stream(self, sql: str, batch: int) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of one query in batches of at most `batch`, never all at once (inside a transaction)."""
        raise NotImplementedError

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows with these columns (explicit ids included)."""
        raise NotImplementedError

    async def begin(self, *, write: bool) -> None:
        """Start a transaction: a consistent snapshot to read, or a write that other writers wait for."""
        raise NotImplementedError

    async def commit(self) -> None:
        """Commit the transaction."""
        raise NotImplementedError

    async def rollback(self) -> None:
        """Roll the transaction back (harmless when none is open)."""
        raise NotImplementedError

    async def count(self, table: str) -> int:
        """The number of rows of a table."""
        rows = await self.fetchall(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - a known table name
        return int(rows[0][0])

    async def applied_migrations(self) -> list[AppliedMigration] | None:
        """The rows of `schema_migrations` by version; None when the database has no such table."""
        if "schema_migrations" not in await self.table_names():
            return None
        rows = await self.fetchall(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        )
        return [AppliedMigration(int(v), str(n), str(c), str(a)) for v, n, c, a in rows]

    async def refuse_a_foreign_database(self) -> list[AppliedMigration]:
        """The applied migrations; a `NotADatabaseError` when the database is not the bot's."""
        applied = await self.applied_migrations()
        if applied is not None:
            return applied
        names = sorted(await self.table_names())
        if names:
            listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise NotADatabaseError(
                f"{self.shown} is another program's database, not arxiv-digest-bot's (it has the tables "
                f"{listed}); nothing was changed"
            )
        raise NotADatabaseError(f"{self.shown} holds no arxiv-digest-bot database yet (no tables)")


class SqliteRaw(RawDatabase):
    """An SQLite file through one aiosqlite connection in autocommit mode."""

    engine = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: pathlib.Path) -> None:
        """Wrap an open connection to `path`."""
        self._db = db
        self.path = path
        self.shown = str(path)

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    async def table_names(self) -> set[str]:
        """The tables of the file (not SQLite's own)."""
        rows = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
        )
        return {str(row[0]) for row in rows}

    async def columns(self, table: str) -> list[str]:
        """The table's columns; `rowid` first for a table whose rowid PostgreSQL keeps as a column."""
        rows = await self.fetchall("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))
        names = [str(row[0]) for row in rows]
        return (["rowid", *names] if table in _SQLITE_ROWID_TABLES else names) if names else []

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        return [tuple(row) for row in await self._db.execute_fetchall(sql, params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        await self._db.execute(sql, params)

    async def stream(self, sql: str, batch: int) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of one query in batches (one statement stepped through, never all at once)."""
        async with self._db.execute(sql) as cursor:
            while rows := await cursor.fetchmany(batch):
                yield [tuple(row) for row in rows]

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (SQLite takes an explicit rowid like any column)."""
        names = ", ".join(f'"{column}"' for column in columns)
        marks = ", ".join("?" for _ in columns)
        await self._db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)  # noqa: S608

    async def begin(self, *, write: bool) -> None:
        """BEGIN IMMEDIATE (other writers wait) or a deferred BEGIN (one snapshot for every read)."""
        await self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    async def commit(self) -> None:
        """COMMIT."""
        await self._db.execute("COMMIT")

    async def rollback(self) -> None:
        """ROLLBACK, if a transaction is open."""
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")


class PostgresRaw(RawDatabase):
    """A PostgreSQL database (its current schema) through one asyncpg connection."""

    engine = POSTGRESQL

    def __init__(self, connection: asyncpg.Connection, shown: str, schema: str) -> None:
        """Wrap an open connection; `shown` is its URL without the password."""
        self._connection = connection
        self._transaction: Any = None
        self.shown = shown
        self.schema = schema

    async def close(self) -> None:
        """Close the connection."""
        await self._connection.close()

    async def table_names(self) -> set[str]:
        """The tables of the connection's current schema."""
        rows = await self.fetchall(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {str(row[0]) for row in rows}

    async def columns(self, table: str) -> list[str]:
        """The table's columns, in order."""
        rows = await self.fetchall(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [str(row[0]) for row in rows]

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        from storage.postgres_base import numbered

        return [tuple(row) for row in await self._connection.fetch(numbered(sql), *params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        from storage.postgres_base import numbered

        await self._connection.execute(numbered(sql), *params)

    async def stream(self, sql: str, batch: int) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of one query in batches, through a server-side cursor (needs the transaction)."""
        cursor = await self._connection.cursor(sql)
        while rows := await cursor.fetch(batch):
            yield [tuple(row) for row in rows]

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows through COPY (explicit identity values are taken: GENERATED BY DEFAULT).

        A value PostgreSQL's column cannot take (SQLite keeps text in an INTEGER column) is one
        `StoreError` naming the table.
        """
        try:
            await self._connection.copy_records_to_table(
                table, records=rows, columns=list(columns), schema_name=self.schema
            )
        except (TypeError, ValueError, asyncpg.DataError) as error:
            first = str(error).strip().splitlines()
            raise StoreError(
                f"the copy failed and was rolled back: a row of {table} does not fit {self.shown}'s column "
                f"types ({first[0] if first else type(error).__name__}); fix it in the source first"
            ) from None

    async def begin(self, *, write: bool) -> None:
        """A write transaction holding the deployment's write lock, or a read-only snapshot."""
        from storage.postgres_base import LOCK_NAMESPACE, lock_key

        if write:
            self._transaction = self._connection.transaction()
            await self._transaction.start()
            await self._connection.execute(
                "SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, lock_key(f"writes:{self.schema}")
            )
        else:
            self._transaction = self._connection.transaction(isolation="repeatable_read", readonly=True)
            await self._transaction.start()

    async def commit(self) -> None:
        """COMMIT."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.commit()

    async def rollback(self) -> None:
        """ROLLBACK, if a transaction is open."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None and not self._connection.is_closed():
            await transaction.rollback()

    async def move_identity_past_max(self, table: str, column: str) -> None:
        """Let the identity of `table.column` continue after the largest value copied in."""
        await self.execute(
            f'SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max("{column}"), 0) + 1, false)'  # noqa: S608
            f' FROM "{table}"',
            (f'"{self.schema}"."{table}"', column),
        )


def sqlite_file_uri(path: pathlib.Path, *, read_only: bool) -> str:
    """The `file:` URI of a path (percent-encoded), read-only (`mode=ro`) or read-write (`mode=rw`)."""
    return f"{path.absolute().as_uri()}?mode={'ro' if read_only else 'rw'}"


class MissingDatabaseError(StoreError):
    """The SQLite file a command should read does not exist (and is not created)."""


async def open_raw(target: DatabaseUrl, *, write: bool = False, look: bool = False) -> RawDatabase:
    """Open a database without migrating or creating anything (SQLite read-only unless `write`).

    `look` (`db status`, `db upgrade --dry-run`): when no process has the SQLite file open (there is
    no `-wal` file), open it `immutable`, as `arxiv-digest status` does, so that not even the `-wal`
    and `-shm` files are created (they would belong to this user). A copy never does: it needs
    SQLite's locking, to read one consistent snapshot.
    """
    if target.engine == POSTGRESQL:
        return await _open_postgres(target)
    assert target.path is not None
    path = target.path
    if not path.exists():
        raise MissingDatabaseError(
            f"no database at {path}: `arxiv-digest run` or `arxiv-digest fetch` creates one "
            "(or check the URL)"
        )
    uri = sqlite_file_uri(path, read_only=not write)
    in_use = path.with_name(path.name + "-wal").exists()
    attempts = (
        [uri] if write or not look else ([uri, f"{uri}&immutable=1"] if in_use else [f"{uri}&immutable=1"])
    )
    failure: sqlite3.Error | None = None
    for attempt in attempts:
        try:
            db = await aiosqlite.connect(attempt, uri=True, isolation_level=None)
        except sqlite3.Error as error:
            failure = error
            continue
        try:
            await db.execute(f"PRAGMA busy_timeout = {sqlite_base.BUSY_TIMEOUT_MS:d}")
            if write:
                await db.execute("PRAGMA foreign_keys = ON")
            raw = SqliteRaw(db, path)
            await raw.table_names()  # reads the header: "not a database" shows here
        except sqlite3.Error as error:
            await db.close()
            failure = error
            continue
        return raw
    assert failure is not None
    raise sqlite_error(path, failure) from None


def sqlite_error(path: pathlib.Path, error: sqlite3.Error) -> StoreError:
    """The one-line StoreError for an SQLite failure on the file."""
    problem = sqlite_problem(path, error, waited_s=sqlite_base.BUSY_TIMEOUT_MS / 1000)
    return problem if problem is not None else StoreError(f"cannot use the database {path}: {error}")


async def _open_postgres(target: DatabaseUrl) -> PostgresRaw:
    """One connection to the database (and schema) of the URL."""
    from storage.postgres_store import CONNECT_TIMEOUT

    shown = target.shown
    try:
        connection = await asyncpg.connect(target.url, timeout=CONNECT_TIMEOUT, command_timeout=600)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise postgres_error(shown, error) from None
    except ValueError as error:
        raise StoreError(f"cannot use the database URL {shown}: {error}") from None
    schema = str(await connection.fetchval("SELECT current_schema()") or "")
    if not schema:
        await connection.close()
        raise NotADatabaseError(f"{shown} has no schema (its search_path names none that exists)")
    return PostgresRaw(connection, shown, schema)


def postgres_error(shown: str, error: BaseException) -> StoreError:
    """The one-line StoreError for a PostgreSQL failure (the driver's first line if nothing better)."""
    problem = postgres_problem(shown, error)
    if problem is not None:
        return problem
    text = str(error).strip().splitlines()
    return StoreError(f"{shown}: {text[0] if text else type(error).__name__}")


__all__ = [
    "NOT_COPIED",
    "TABLES",
    "AppliedMigration",
    "MissingDatabaseError",
    "PostgresRaw",
    "RawDatabase",
    "SqliteRaw",
    "Table",
    "open_raw",
    "postgres_error",
    "sqlite_error",
    "sqlite_file_uri",
]
