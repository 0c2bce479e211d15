"""`arxiv-digest db copy`: move a whole deployment from one database to another (SQLite ↔ PostgreSQL).

What `copy_database` does, in order:

1. Reads the source as it is (SQLite read-only): it must be the bot's database at exactly the schema
   version of this code (older: `db upgrade` it first; newer: upgrade the bot).
2. Migrates the target to the current schema (as every start does), then, in one write transaction on
   it (holding the deployment's write lock, so a bot started on it meanwhile waits), refuses it unless
   every table is empty.
3. Copies every table of `storage.tables.TABLES` in foreign-key order, ids included, streaming each in
   batches from one consistent snapshot of the source (millions of ledger rows never sit in memory).
4. Moves PostgreSQL's identity sequences past the largest id copied in, checks foreign keys (SQLite),
   counts every table on both sides, and commits only when every count matches; otherwise nothing
   stays on the target.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from bot.database_url import DatabaseUrl, parse_database_url
from bot.ports import StoreError
from storage.migrations import load_migrations
from storage.open import open_database
from storage.tables import (
    TABLES,
    PostgresRaw,
    RawDatabase,
    SqliteRaw,
    Table,
    open_raw,
    postgres_error,
    sqlite_error,
)

log = logging.getLogger(__name__)

#: Rows read and written at a time.
BATCH_ROWS = 5_000


class CopyRefusedError(StoreError):
    """The copy was not started: the target is not empty, the source is at another schema version, …."""


class CopyMismatchError(StoreError):
    """The target's counts did not match the source's after the copy; the target was rolled back."""


@dataclass(frozen=True, slots=True)
class TableCount:
    """How many rows a table has on each side after the copy."""

    table: str
    source: int
    target: int


#: Told each table's name and the rows copied so far, after each batch.
Progress = Callable[[str, int], None]


async def copy_database(
    source_url: str | DatabaseUrl,
    target_url: str | DatabaseUrl,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> list[TableCount]:
    """Copy every table of the source into the empty target; the per-table counts, all matching.

    Raises `CopyRefusedError` before changing anything on the target's data (a target that is not empty,
    a source at another schema version, the same database twice), `CopyMismatchError` when the counts
    differ after the copy (the target rolled back), and another `StoreError` for a database that
    cannot be used.
    """
    source_db = parse_database_url(source_url) if isinstance(source_url, str) else source_url
    target_db = parse_database_url(target_url) if isinstance(target_url, str) else target_url
    if _same_database(source_db, target_db):
        raise CopyRefusedError(f"the source and the target are the same database ({source_db.shown})")
    source = await open_raw(source_db)
    try:
        await _check_the_source(source)
        return await _copy_into(source, target_db, batch_rows=batch_rows, progress=progress)
    finally:
        await source.close()


def _same_database(source: DatabaseUrl, target: DatabaseUrl) -> bool:
    """Whether both URLs name one database (one SQLite file, or one PostgreSQL URL)."""
    if source.path is not None and target.path is not None:
        return source.path.absolute().resolve() == target.path.absolute().resolve()
    return source.url == target.url


async def _check_the_source(source: RawDatabase) -> None:
    """The source must be the bot's database at exactly this code's schema version."""
    applied = await source.refuse_a_foreign_database()
    known = load_migrations(engine=source.engine)
    versions = {migration.version for migration in applied}
    newest = max((migration.version for migration in known), default=0)
    unknown = sorted(versions - {migration.version for migration in known})
    if unknown:
        raise CopyRefusedError(
            f"the source {source.shown} has schema migration(s) {', '.join(f'V{v}' for v in unknown)} that "
            f"this version of arxiv-digest-bot does not know (it knows up to V{newest}): copy it with the "
            "newer version that wrote it"
        )
    missing = [migration.label for migration in known if migration.version not in versions]
    if missing:
        raise CopyRefusedError(
            f"the source {source.shown} is at an older schema (it lacks {', '.join(missing)}): run "
            "`arxiv-digest db upgrade SOURCE_URL` first"
        )


async def _copy_into(
    source: RawDatabase, target_db: DatabaseUrl, *, batch_rows: int, progress: Progress | None
) -> list[TableCount]:
    """Copy in one transaction on the migrated target; commit only when every count matches."""
    await _open_store_and_close(target_db)
    target = await open_raw(target_db, write=True)
    try:
        await target.begin(write=True)
        await source.begin(write=False)
        try:
            await _refuse_a_target_with_rows(target)
            columns = await _matching_columns(source, target)
            for table in TABLES:
                await _copy_table(source, target, table, columns[table.name], batch_rows, progress)
            if isinstance(target, PostgresRaw):
                for table in TABLES:
                    if table.identity is not None:
                        await target.move_identity_past_max(table.name, table.identity)
            if isinstance(target, SqliteRaw):
                violations = await target.fetchall("PRAGMA foreign_key_check")
                if violations:
                    raise CopyMismatchError(
                        f"the copy into {target.shown} breaks {len(violations)} foreign key(s) "
                        f"(first in {violations[0][0]}); nothing was kept"
                    )
            counts = [
                TableCount(table.name, await source.count(table.name), await target.count(table.name))
                for table in TABLES
            ]
            wrong = [count for count in counts if count.source != count.target]
            if wrong:
                listed = ", ".join(f"{c.table} {c.source} → {c.target}" for c in wrong)
                raise CopyMismatchError(
                    f"the row counts differ after the copy into {target.shown} ({listed}); nothing was kept"
                )
            await target.commit()
        except BaseException:
            await target.rollback()
            raise
        finally:
            await source.rollback()  # the read snapshot
    except sqlite3.Error as error:
        where = target if isinstance(target, SqliteRaw) else source
        assert isinstance(where, SqliteRaw)
        raise _copy_failed(sqlite_error(where.path, error)) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        where = target if isinstance(target, PostgresRaw) else source
        raise _copy_failed(postgres_error(where.shown, error)) from None
    finally:
        await target.close()
    return counts


def _copy_failed(error: StoreError) -> StoreError:
    """The error of a copy that failed midway: the target holds nothing of it."""
    return StoreError(f"the copy failed and was rolled back: {error}")


async def _open_store_and_close(target_db: DatabaseUrl) -> None:
    """Open the target as the bot does (creating an SQLite file, migrating), then close it."""
    store = await open_database(target_db)
    await store.close()


async def _refuse_a_target_with_rows(target: RawDatabase) -> None:
    """`db copy` fills an empty database only: it never merges into, or overwrites, a deployment."""
    holding = [(table.name, await target.count(table.name)) for table in TABLES]
    full = [(name, rows) for name, rows in holding if rows]
    if full:
        listed = ", ".join(f"{name} ({rows} rows)" for name, rows in full[:4])
        more = f" and {len(full) - 4} more tables" if len(full) > 4 else ""
        raise CopyRefusedError(
            f"the target {target.shown} is not empty: {listed}{more}; db copy fills an empty database only "
            "(give it a new database, file or schema); nothing was changed"
        )


async def _matching_columns(source: RawDatabase, target: RawDatabase) -> dict[str, list[str]]:
    """Each table's columns, which must be the same on both sides (whatever their order)."""
    found: dict[str, list[str]] = {}
    for table in TABLES:
        ours, theirs = await source.columns(table.name), await target.columns(table.name)
        if set(ours) != set(theirs):
            raise CopyRefusedError(
                f"the table {table.name} has other columns on {source.shown} ({', '.join(ours) or 'none'}) "
                f"than on {target.shown} ({', '.join(theirs) or 'none'}): not copied"
            )
        found[table.name] = ours
    return found


async def _copy_table(
    source: RawDatabase,
    target: RawDatabase,
    table: Table,
    columns: list[str],
    batch_rows: int,
    progress: Progress | None,
) -> None:
    """Stream one table's rows by primary key into the target, a batch at a time."""
    names = ", ".join(f'"{column}"' for column in columns)
    order = ", ".join(f'"{column}"' for column in table.key)
    copied = 0
    query = f'SELECT {names} FROM "{table.name}" ORDER BY {order}'  # noqa: S608 - known names
    async for rows in source.stream(query, batch_rows):
        await target.insert(table.name, columns, rows)
        copied += len(rows)
        if progress is not None:
            progress(table.name, copied)
    log.info("copied %s rows of %s", copied, table.name)


__all__ = ["BATCH_ROWS", "CopyMismatchError", "CopyRefusedError", "TableCount", "copy_database"]
