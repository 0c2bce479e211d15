"""The SQLite engine of the store: one connection, its lock, its transactions.

One aiosqlite connection in autocommit mode; every write is an explicit `BEGIN IMMEDIATE … COMMIT`
(rolled back on any error or cancellation), and every multi-statement read runs in one snapshot
transaction. An `asyncio.Lock` keeps coroutines from interleaving inside each other's transactions —
they share the connection, so without it a reader could see another coroutine's uncommitted rows.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import aiosqlite

from storage.base import Clock, Connection, Row, StoreBase, closed_store, utc_now
from storage.errors import sqlite_problem
from storage.migrations import rollback as _rollback

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000  # read as sqlite_base.BUSY_TIMEOUT_MS everywhere, so one patch changes it all


class SqliteConnection:
    """`storage.base.Connection` over an aiosqlite connection (whose SQL already takes `?`)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        """Wrap the connection a transaction holds."""
        self._db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        await self._db.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one query; all its rows (sqlite3.Row)."""
        return cast(list[Row], list(await self._db.execute_fetchall(sql, params)))


class SqliteBase(StoreBase):
    """The connection every section of the SQLite store shares, and its transactions."""

    def __init__(
        self, db: aiosqlite.Connection, *, path: pathlib.Path | None = None, clock: Clock | None = None
    ) -> None:
        """Wrap an open, migrated connection in autocommit mode."""
        self._db: aiosqlite.Connection | None = db
        self._lock = asyncio.Lock()
        self._clock = clock or utc_now
        self.path = path

    def _connection(self) -> aiosqlite.Connection:
        """The open connection, or a clear error once the store is closed."""
        if self._db is None:
            raise closed_store()
        return self._db

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[Connection]:
        """Hold the lock and one transaction (IMMEDIATE for writes); commit, or roll back on any error."""
        async with self._lock:
            db = self._connection()
            try:
                await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield SqliteConnection(db)
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

    def _write(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction (see `_transaction`)."""
        return self._transaction(write=True)

    def _read(self) -> AbstractAsyncContextManager[Connection]:
        """A read snapshot (see `_transaction`)."""
        return self._transaction(write=False)
