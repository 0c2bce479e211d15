"""The SQLite store's shared plumbing: the connection, its lock and clock, its transactions, its values.

One aiosqlite connection in autocommit mode; every write is an explicit `BEGIN IMMEDIATE … COMMIT`
(rolled back on any error or cancellation), and every multi-statement read runs in one snapshot
transaction. An `asyncio.Lock` keeps coroutines from interleaving inside each other's transactions —
they share the connection, so without it a reader could see another coroutine's uncommitted rows.

Each section of the store (`storage.sqlite_announcements`, `storage.sqlite_channels`,
`storage.sqlite_feedback`, `storage.sqlite_ledger`, `storage.sqlite_reports`, `storage.sqlite_views`)
is a subclass of `SqliteBase`;
`storage.sqlite_store.SqliteStore` joins them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiosqlite

from bot.ports import StoreError
from storage.errors import sqlite_problem
from storage.migrations import rollback as _rollback

Clock = Callable[[], dt.datetime]

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000  # read as sqlite_base.BUSY_TIMEOUT_MS everywhere, so one patch changes it all


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


class SqliteBase:
    """The connection every section of the SQLite store shares, and its transactions."""

    def __init__(
        self, db: aiosqlite.Connection, *, path: pathlib.Path | None = None, clock: Clock | None = None
    ) -> None:
        """Wrap an open, migrated connection in autocommit mode."""
        self._db: aiosqlite.Connection | None = db
        self._lock = asyncio.Lock()
        self._clock: Clock = clock or utc_now
        self.path = path

    def _now(self) -> str:
        """The clock's time as an ISO timestamp."""
        return timestamp(self._clock())

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


def plain_date(value: dt.date) -> dt.date:
    """The calendar date of a date (or of a datetime passed by mistake)."""
    return dt.date(value.year, value.month, value.day)


def date_text(value: dt.date) -> str:
    """A date as stored: YYYY-MM-DD."""
    return plain_date(value).isoformat()


def timestamp(value: dt.datetime) -> str:
    """A moment as stored: ISO 8601 in UTC, to the second."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def json_text(values: Iterable[str]) -> str:
    """A list of strings as a JSON array."""
    return json.dumps(list(values), ensure_ascii=False)


def load_strings(text: str) -> tuple[str, ...]:
    """A JSON array of strings back as a tuple."""
    return tuple(str(value) for value in json.loads(text))
