"""Fixtures shared by every test: no test may reach a real host."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import Clock
from storage.open import open_database
from storage.sqlite_store import SqliteStore
from tests.fakes.arxiv_server import FakeArxiv

#: A PostgreSQL server for the tests (`.ci/start-postgres` starts one): with it, the store tests and the
#: end-to-end tests that take a store run on both engines, their ids saying which ([sqlite], [postgresql]).
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
ENGINES = ("sqlite", "postgresql") if POSTGRES_URL else ("sqlite",)

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make name resolution of any host but loopback fail, so no test escapes to the internet."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host) if host is not None else ""
        if name not in _LOCAL_HOSTS and not name.startswith("127."):
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
async def arxiv_server() -> AsyncIterator[FakeArxiv]:
    """A fake arXiv (RSS and API) on 127.0.0.1, on a free port."""
    fake = FakeArxiv()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database file lives (its directory does not exist yet)."""
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def store_clock() -> Clock | None:
    """What stamps the store's rows: real time, unless a test module overrides this fixture."""
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests marked `both_engines` that take a database once per engine (unless `sqlite_only`)."""
    if "engine" not in metafunc.fixturenames:
        return
    both = metafunc.definition.get_closest_marker("both_engines") is not None
    if both and metafunc.definition.get_closest_marker("sqlite_only") is None:
        metafunc.parametrize("engine", ENGINES, ids=list(ENGINES))


@pytest.fixture
def engine() -> str:
    """The database engine of a test that runs on one only: SQLite."""
    return "sqlite"


@pytest.fixture
async def database_url(engine: str, db_path: Path) -> AsyncIterator[str]:
    """DATABASE_URL of the test's own, empty database: a new SQLite file, or a new PostgreSQL schema."""
    if engine == "sqlite":
        yield f"sqlite:///{db_path}"
        return
    async with new_postgres_schema() as url:
        yield url


@contextlib.asynccontextmanager
async def new_postgres_schema(owner: str | None = None) -> AsyncIterator[str]:
    """A new schema on the tests' server (dropped afterwards): the URL whose search_path names it."""
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        # Generated names, not input.
        await admin.execute(f'CREATE SCHEMA "{schema}"' + (f' AUTHORIZATION "{owner}"' if owner else ""))
        try:
            yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}search_path={schema}"
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_schema_url() -> AsyncIterator[str]:
    """A URL of a new, empty schema on the tests' PostgreSQL server (`postgresql_only` tests).

    Without a server such a test is skipped, unless REQUIRE_POSTGRES is set (as `.ci/run` does):
    then it fails, so CI never passes by skipping them.
    """
    if not POSTGRES_URL:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("REQUIRE_POSTGRES is set but TEST_DATABASE_URL names no PostgreSQL server")
        pytest.skip('needs a PostgreSQL server: eval "$(.ci/start-postgres)" sets TEST_DATABASE_URL')
    async with new_postgres_schema() as url:
        yield url


@pytest.fixture
async def store(database_url: str, store_clock: Clock | None) -> AsyncIterator[SqliteStore]:
    """The real store of `database_url`, migrated as in production (`open_database`), closed afterwards.

    SQLite (on `db_path`) unless the test is marked `both_engines`: then also PostgreSQL, when there is
    one. (Typed as the SQLite store, which most tests use; both implement `bot.ports.Store` alike.)
    """
    opened: Any = await open_database(database_url, clock=store_clock)
    try:
        yield opened
    finally:
        await opened.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests first, so that under xdist the longest ones never trail alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
