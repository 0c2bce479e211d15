"""What every section of the store shares, whatever the engine: its transactions, its clock, its values.

Each section (`storage.announcements`, `storage.channels`, `storage.feedback`, `storage.ledger`,
`storage.reports`, `storage.views`) is a subclass of `StoreBase` and writes its SQL once, for both
engines: `?` placeholders, `ON CONFLICT`, `RETURNING`, dates and moments as ISO text, flags as 0/1.
An engine (`storage.sqlite_base`, `storage.postgres_base`) supplies the transactions, each yielding a
`Connection`; `storage.sqlite_store.SqliteStore` and `storage.postgres_store.PostgresStore` join the
sections over their engine.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, Self

from bot.ports import StoreError

Clock = Callable[[], dt.datetime]


class Row(Protocol):
    """A result row: by position or by column name (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: int | str, /) -> Any:
        """The column at this position or of this name."""

    def __len__(self) -> int:
        """The number of columns."""

    def __iter__(self) -> Iterator[Any]:
        """The column values, in order."""

    def keys(self) -> Iterable[str]:
        """The column names."""


class Connection(Protocol):
    """One transaction's connection, the same few calls on every engine; SQL takes `?` placeholders."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one query; all its rows."""


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


class StoreBase:
    """The clock and the transactions every section of the store uses (an engine implements them)."""

    _clock: Clock

    def _now(self) -> str:
        """The clock's time as an ISO timestamp."""
        return timestamp(self._clock())

    def _write(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: committed at the end, rolled back on any error or cancellation."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the engine's connections; closing twice is harmless."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        """Use the store as an async context manager that closes it."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        await self.close()

    def _read(self) -> AbstractAsyncContextManager[Connection]:
        """A read-only snapshot: every query in it sees the same committed state."""
        raise NotImplementedError


def closed_store() -> StoreError:
    """The error of a call on a store that was closed."""
    return StoreError("the store is closed")


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
