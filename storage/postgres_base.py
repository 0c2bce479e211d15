"""The PostgreSQL engine of the store: a connection pool, its transactions, the sections' SQL as asyncpg's.

The sections write their SQL once with `?` placeholders (`storage.base`); here each is rewritten to
asyncpg's `$1, $2, …` once and cached. Transactions mirror SQLite's, so the sections behave the same
on both engines:

- a write takes a transaction-scoped advisory lock first (`pg_advisory_xact_lock`), so writes of
  every process of the deployment run one at a time, as SQLite's `BEGIN IMMEDIATE` makes them: a
  section may read and then write in one transaction without another process changing what it read;
- a read is a `REPEATABLE READ READ ONLY` transaction: one snapshot, like SQLite's `BEGIN`.

The lock's key is derived from the database schema the store lives in, so two deployments in two
schemas of one database (the tests) do not wait on each other.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.ports import StoreError
from storage.base import Clock, Connection, Row, StoreBase, closed_store, utc_now
from storage.postgres_errors import postgres_problem

#: The first key of every advisory lock the bot takes (the second names the lock): "arXD".
LOCK_NAMESPACE = 0x61725844  # "arXD"

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.DOTALL)
_ROWS_CHANGED = re.compile(r"(\d+)\s*$")


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """The SQL with each `?` placeholder (outside literals and comments) as `$1`, `$2`, …."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _TOKENS.sub(number, sql)


def lock_key(name: str) -> int:
    """A signed 32-bit advisory lock key for a name (a schema, a role)."""
    value = zlib.crc32(name.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


class PostgresConnection:
    """`storage.base.Connection` over one asyncpg connection inside a transaction."""

    def __init__(self, connection: asyncpg.Connection | PoolConnectionProxy) -> None:
        """Wrap the connection a transaction holds."""
        self._connection = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (from the command tag, `UPDATE 3`)."""
        status = await self._connection.execute(numbered(sql), *params)
        found = _ROWS_CHANGED.search(status or "")
        return int(found.group(1)) if found else 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters (one round trip for all)."""
        batch = [tuple(row) for row in rows]
        if batch:
            await self._connection.executemany(numbered(sql), batch)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one query; all its rows (asyncpg Records: by position or by name)."""
        return cast(list[Row], await self._connection.fetch(numbered(sql), *params))


class PostgresBase(StoreBase):
    """The pool every section of the PostgreSQL store shares, and its transactions."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        shown: str,
        schema: str,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> None:
        """Wrap an open pool on a migrated database; `shown` names it in errors (no password)."""
        self.read_only = read_only
        self._pool: asyncpg.Pool | None = pool
        self._clock = clock or utc_now
        self.shown = shown
        self.schema = schema
        self._write_lock = lock_key(f"writes:{schema}")

    def _open_pool(self) -> asyncpg.Pool:
        """The open pool, or a clear error once the store is closed."""
        if self._pool is None:
            raise closed_store()
        return self._pool

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[Connection]:
        """One pooled connection and one transaction; commit, or roll back on any error."""
        pool = self._open_pool()
        if write and self.read_only:
            raise StoreError(f"{self.shown} was opened read-only: nothing can be written")
        try:
            async with pool.acquire() as connection:
                if write:
                    transaction = connection.transaction()
                else:
                    transaction = connection.transaction(isolation="repeatable_read", readonly=True)
                async with transaction:
                    if write:
                        await connection.execute(
                            "SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, self._write_lock
                        )
                    yield PostgresConnection(connection)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
            problem = postgres_problem(self.shown, error)
            if problem is not None:
                raise problem from error
            raise

    def _write(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction (see `_transaction`)."""
        return self._transaction(write=True)

    def _read(self) -> AbstractAsyncContextManager[Connection]:
        """A read snapshot (see `_transaction`)."""
        return self._transaction(write=False)
