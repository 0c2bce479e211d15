"""The PostgreSQL store: everything the bot remembers, on a server, behind `bot.ports.Store`.

`open_postgres_store` connects (a pool through asyncpg), migrates with the PostgreSQL migration
files (`storage/migrations/postgresql/`, numbered like SQLite's) and returns a `PostgresStore`: the
same sections as `storage.sqlite_store.SqliteStore` (`storage.announcements`, …), over the pool and
transactions of `storage.postgres_base`. Several processes may open one database at once; they
migrate one after the other (an advisory lock), and a database written by a newer version is refused,
untouched. The store lives in the connection's current schema (`public`, unless the URL says
`?options=-csearch_path%3Dname` or `?search_path=name`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.database_url import redact
from storage.announcements import AnnouncementsSection
from storage.base import Clock, timestamp, utc_now
from storage.channels import ChannelsSection
from storage.errors import NotADatabaseError
from storage.feedback import FeedbackSection
from storage.ledger import LedgerSection
from storage.migrations import (
    SCHEMA_MIGRATIONS,
    Migration,
    MigrationError,
    check_numbering,
    load_migrations,
    refuse_a_newer_schema,
)
from storage.postgres_base import LOCK_NAMESPACE, PostgresBase, lock_key
from storage.postgres_errors import postgres_problem
from storage.reports import ReportsSection
from storage.views import ViewsSection

if TYPE_CHECKING:
    from bot.ports import Store

log = logging.getLogger(__name__)

#: Seconds to wait for the server at start-up before saying it cannot be reached.
CONNECT_TIMEOUT = 10.0
#: Connections per process: writes take turns anyway; a few let reads (pages, /digest) run beside them.
POOL_SIZE = 4


async def open_postgres_store(
    url: str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
    pool_size: int = POOL_SIZE,
    read_only: bool = False,
) -> PostgresStore:
    """Connect to the database at `url`, migrate it, return the store.

    `read_only` (for `status`, which a user without write privileges may run): nothing is migrated or
    written; the schema must be the bot's, and every write is refused with a `StoreError`.

    Any trouble reaching or using the server is one `StoreError` naming the URL without its password:
    a server that is down or unreachable, a wrong password, a database that does not exist, a missing
    privilege, a schema holding another program's tables, a schema written by a newer version.
    """
    shown = redact(url)
    known = list(migrations) if migrations is not None else load_migrations(engine="postgresql")
    try:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=pool_size, timeout=CONNECT_TIMEOUT, command_timeout=120
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        problem = postgres_problem(shown, error)
        if problem is None:
            raise
        raise problem from None
    except ValueError as error:  # the driver's own check of the URL (an unknown parameter, a bad port)
        raise MigrationError(f"cannot use DATABASE_URL {shown}: {error}") from None
    try:
        async with pool.acquire() as connection:
            schema = str(await connection.fetchval("SELECT current_schema()") or "")
            if not schema:
                raise NotADatabaseError(
                    f"{shown} has no schema to keep the bot's tables in (its search_path names none "
                    "that exists): create one, or fix the URL's search_path"
                )
            if read_only:
                await _check_readable(connection, known, shown=shown)
            else:
                now = timestamp((clock or utc_now)())
                await _migrate(connection, known, schema=schema, shown=shown, now=now)
    except BaseException as error:
        await pool.close()
        if isinstance(error, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
            problem = postgres_problem(shown, error)
            if problem is not None:
                raise problem from None
        raise
    log.debug("opened the database %s (schema %s)", shown, schema)
    return PostgresStore(pool, shown=shown, schema=schema, clock=clock, read_only=read_only)


async def _migrate(
    connection: asyncpg.Connection | PoolConnectionProxy,
    known: Sequence[Migration],
    *,
    schema: str,
    shown: str,
    now: str,
) -> list[int]:
    """Apply the migrations this schema lacks, one transaction each, one process at a time."""
    ordered = sorted(known, key=lambda migration: migration.version)
    check_numbering(ordered)
    where = f"the database {shown}"
    done: list[int] = []
    async with connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, lock_key(f"migrations:{schema}")
        )
        await _refuse_a_foreign_schema(connection, shown)
        await connection.execute(SCHEMA_MIGRATIONS)
        applied = {
            int(row["version"]): str(row["checksum"])
            for row in await connection.fetch("SELECT version, checksum FROM schema_migrations")
        }
        refuse_a_newer_schema(applied, ordered, where=where)
        for migration in ordered:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning("migration %s was edited after it was applied to %s", migration.label, where)
                continue
            migration.statements()  # refuses a file that manages its own transactions
            try:
                async with connection.transaction():  # a savepoint: one migration fails alone
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                        " VALUES ($1, $2, $3, $4)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                        now,
                    )
            except asyncpg.PostgresError as error:
                if postgres_problem(shown, error) is not None:
                    raise
                raise MigrationError(
                    f"migration {migration.label} failed and was rolled back: {error}"
                ) from None
            log.info("applied migration %s to %s", migration.label, where)
            done.append(migration.version)
    return done


async def _check_readable(connection: PoolConnectionProxy, known: Sequence[Migration], *, shown: str) -> None:
    """A schema the bot migrated (by this version or an older one), for reading only."""
    await _refuse_a_foreign_schema(connection, shown)
    present = await connection.fetchval(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
    )
    if not present:
        raise NotADatabaseError(
            f"{shown} holds no arxiv-digest-bot data yet: `arxiv-digest run` (or `db upgrade`) creates it"
        )
    applied = [int(row["version"]) for row in await connection.fetch("SELECT version FROM schema_migrations")]
    refuse_a_newer_schema(applied, known, where=f"the database {shown}")


async def _refuse_a_foreign_schema(connection: asyncpg.Connection | PoolConnectionProxy, shown: str) -> None:
    """Refuse a schema holding another program's tables: tables, but no `schema_migrations` of the bot's."""
    tables = [
        str(row["table_name"])
        for row in await connection.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    ]
    if not tables or "schema_migrations" in tables:
        return
    listed = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    raise NotADatabaseError(
        f"{shown} holds another program's tables ({listed}), not arxiv-digest-bot's, and was left "
        "untouched: give the bot a database (or a schema) of its own"
    )


class PostgresStore(
    AnnouncementsSection,
    ChannelsSection,
    FeedbackSection,
    LedgerSection,
    ReportsSection,
    ViewsSection,
    PostgresBase,
):
    """`bot.ports.Store` over one PostgreSQL database; build it with `open_postgres_store`."""

    async def close(self) -> None:
        """Close the pool (after the transactions in progress); closing twice is harmless."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


__all__ = ["PostgresStore", "open_postgres_store"]


if TYPE_CHECKING:

    def _satisfies_the_port(store: PostgresStore) -> Store:
        """mypy proves here that `PostgresStore` implements `bot.ports.Store`."""
        return store
