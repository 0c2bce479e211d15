"""Fixtures for the store tests: the store (tests/conftest.py) on a fake clock, raw looks at its file."""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.builders import SettableClock

Peek = Callable[..., Awaitable[list[tuple[Any, ...]]]]


@pytest.fixture
def clock() -> SettableClock:
    """A fake clock at 2025-11-27 12:00 UTC."""
    return SettableClock(dt.datetime(2025, 11, 27, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def store_clock(clock: SettableClock) -> SettableClock:
    """The store stamps its rows with the test's fake clock."""
    return clock


@contextlib.contextmanager
def raw(path: pathlib.Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to look at (or tamper with) the file behind the store's back."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def peek(store: Any) -> Peek:
    """Read rows through the store's own connection, on either engine (SQL with `?` placeholders)."""

    async def read(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with store._read() as db:
            return [tuple(row) for row in await db.fetchall(query, params)]

    return read


def rows(path: pathlib.Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of a query, read with a separate connection."""
    with raw(path) as connection:
        return connection.execute(query, params).fetchall()
