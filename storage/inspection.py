"""`arxiv-digest db status` and `db upgrade`: a database's schema, rows and size, read without changing it.

`inspect_database` opens the database as it is (SQLite read-only through a `file:…?mode=ro` URI, and
`immutable` when no process has it open; a PostgreSQL connection in a read-only transaction): it never
migrates, never creates a file (not even SQLite's `-wal`/`-shm`) or a table.
`upgrade_database` applies the pending migrations the way every start does (`storage.open`), and says
which it applied.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import asyncpg

from bot.database_url import DatabaseUrl, parse_database_url
from bot.ports import StoreError
from storage.migrations import Migration, load_migrations
from storage.open import open_database
from storage.tables import (
    TABLES,
    AppliedMigration,
    MissingDatabaseError,
    PostgresRaw,
    RawDatabase,
    SqliteRaw,
    open_raw,
    postgres_error,
    sqlite_error,
)

#: What `db status` counts: the deployment's tables, and the running processes' claims.
COUNTED = (*(table.name for table in TABLES), "channel_claims")


@dataclass(frozen=True, slots=True)
class PendingMigration:
    """A migration this code has and the database lacks, with the file it comes from."""

    version: int
    name: str
    file: str

    @property
    def label(self) -> str:
        """`V6__retention_blocks_and_claims`."""
        return f"V{self.version}__{self.name}"


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table: its rows and (PostgreSQL) its bytes on disk with its indexes."""

    name: str
    rows: int
    bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DatabaseReport:
    """What `db status` shows of a database."""

    engine: str
    shown: str  # the path, or the URL without its password
    code_version: int  # the newest migration this code has
    applied: list[AppliedMigration]
    pending: list[PendingMigration]
    unknown: list[int]  # migrations the database has and this code does not: a newer bot wrote it
    edited: list[int]  # applied migrations whose file changed since (checksums differ)
    tables: list[TableInfo]
    size_bytes: int
    sizes: dict[str, int] = field(default_factory=dict)  # SQLite: each file; PostgreSQL: the database's
    schema: str | None = None  # PostgreSQL: the schema the bot's tables live in

    @property
    def version(self) -> int:
        """The newest migration applied (0 for none)."""
        return max((migration.version for migration in self.applied), default=0)

    @property
    def state(self) -> str:
        """`up to date`, `pending`, `newer` (written by a newer bot) or `empty` (no schema yet)."""
        if self.unknown:
            return "newer"
        if not self.applied:
            return "empty"
        return "pending" if self.pending else "up to date"


def migration_file(engine: str, migration: Migration) -> str:
    """Where a migration ships: `storage/migrations/sqlite/V1__initial.sql`."""
    return f"storage/migrations/{engine}/{migration.label}.sql"


async def inspect_database(url: str | DatabaseUrl) -> DatabaseReport:
    """The schema, rows and size of the database, read without changing anything.

    A missing SQLite file is a `MissingDatabaseError` (nothing is created); another program's
    database a `NotADatabaseError`; trouble reaching or reading it another one-line `StoreError`.
    """
    target = parse_database_url(url) if isinstance(url, str) else url
    raw = await open_raw(target, look=True)
    try:
        await raw.begin(write=False)
        try:
            return await _report(raw)
        finally:
            await raw.rollback()
    except sqlite3.Error as error:
        assert isinstance(raw, SqliteRaw)
        raise sqlite_error(raw.path, error) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise postgres_error(raw.shown, error) from None
    finally:
        await raw.close()


async def _report(raw: RawDatabase) -> DatabaseReport:
    """Everything `db status` says, read in one snapshot."""
    names = await raw.table_names()
    applied = [] if not names else await raw.refuse_a_foreign_database()
    known = load_migrations(engine=raw.engine)
    by_version = {migration.version: migration for migration in known}
    done = {migration.version: migration for migration in applied}
    pending = [
        PendingMigration(m.version, m.name, migration_file(raw.engine, m))
        for m in known
        if m.version not in done
    ]
    unknown = sorted(set(done) - set(by_version))
    edited = [v for v, m in done.items() if v in by_version and by_version[v].checksum != m.checksum]
    counted = [name for name in COUNTED if name in names]
    if isinstance(raw, PostgresRaw):
        tables = [
            TableInfo(name, await raw.count(name), int((await raw.fetchall(_TABLE_SIZE, (name,)))[0][0]))
            for name in counted
        ]
        database = int((await raw.fetchall("SELECT pg_database_size(current_database())"))[0][0])
        in_schema = int((await raw.fetchall(_SCHEMA_SIZE))[0][0])
        sizes = {"database": database, "schema": in_schema}
        size, schema = in_schema, raw.schema
    else:
        assert isinstance(raw, SqliteRaw)
        tables = [TableInfo(name, await raw.count(name)) for name in counted]
        sizes = {}
        for suffix in ("", "-wal", "-shm"):
            path = raw.path.with_name(raw.path.name + suffix)
            if path.exists():
                sizes[path.name] = path.stat().st_size
        size, schema = sum(sizes.values()), None
    return DatabaseReport(
        engine=raw.engine,
        shown=raw.shown,
        code_version=max(by_version, default=0),
        applied=applied,
        pending=pending,
        unknown=unknown,
        edited=sorted(edited),
        tables=tables,
        size_bytes=size,
        sizes=sizes,
        schema=schema,
    )


_TABLE_SIZE = "SELECT pg_total_relation_size(format('%I.%I', current_schema(), ?::text)::regclass)"
_SCHEMA_SIZE = (
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class AS c"
    " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')"
)


async def upgrade_database(url: str | DatabaseUrl) -> tuple[DatabaseReport | None, DatabaseReport]:
    """Apply the pending migrations as a start does; the database before (None: a new file) and after."""
    target = parse_database_url(url) if isinstance(url, str) else url
    try:
        before: DatabaseReport | None = await inspect_database(target)
    except MissingDatabaseError:
        before = None  # `run` would create it: so does `db upgrade`
    if before is not None:
        refuse_a_newer_database(before)
    store = await open_database(target)
    await store.close()
    return before, await inspect_database(target)


def newly_applied(before: DatabaseReport | None, after: DatabaseReport) -> list[AppliedMigration]:
    """The migrations `after` has that `before` had not."""
    had = {migration.version for migration in before.applied} if before is not None else set()
    return [migration for migration in after.applied if migration.version not in had]


def refuse_a_newer_database(report: DatabaseReport) -> None:
    """A `StoreError` when a newer version of the bot wrote this database (nothing may be applied)."""
    if report.unknown:
        raise StoreError(
            f"{report.shown} was written by a newer version of arxiv-digest-bot: it has "
            f"{', '.join(f'V{v}' for v in report.unknown)}, this version knows up to V{report.code_version}; "
            "upgrade the bot (nothing was changed)"
        )


__all__ = [
    "COUNTED",
    "DatabaseReport",
    "PendingMigration",
    "TableInfo",
    "inspect_database",
    "migration_file",
    "newly_applied",
    "refuse_a_newer_database",
    "upgrade_database",
]
