"""Fixtures shared by every test: no test may reach a real host."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import Clock
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.arxiv_server import FakeArxiv

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


@pytest.fixture
async def store(db_path: Path, store_clock: Clock | None) -> AsyncIterator[SqliteStore]:
    """The real SQLite store on `db_path`, migrated as in production (`open_store`), closed afterwards."""
    opened = await open_store(db_path, clock=store_clock)
    try:
        yield opened
    finally:
        await opened.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests first, so that under xdist the longest ones never trail alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
