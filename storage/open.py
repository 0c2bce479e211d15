"""Open the store DATABASE_URL names, on whichever engine it names."""

from __future__ import annotations

from bot.database_url import POSTGRESQL, DatabaseUrl, parse_database_url
from bot.ports import Leadership, Store
from storage.base import Clock


async def open_database(
    url: str | DatabaseUrl, *, clock: Clock | None = None, read_only: bool = False
) -> Store:
    """The migrated store of `url`: an SQLite file, or a PostgreSQL database (a `StoreError` if not).

    `read_only` (for `status`): nothing is created, migrated or written, and every write is refused.
    """
    target = parse_database_url(url) if isinstance(url, str) else url
    if target.engine == POSTGRESQL:
        from storage.postgres_store import open_postgres_store

        return await open_postgres_store(target.url, clock=clock, read_only=read_only)
    from storage.sqlite_store import open_read_only, open_store

    assert target.path is not None
    if read_only:
        return await open_read_only(target.path, clock=clock)
    return await open_store(target.path, clock=clock)


def open_leadership(url: str | DatabaseUrl) -> Leadership:
    """How the processes sharing `url`'s database take turns at a role (see `storage.leadership`)."""
    target = parse_database_url(url) if isinstance(url, str) else url
    from storage.leadership import FileLeadership, PostgresLeadership

    if target.engine == POSTGRESQL:
        return PostgresLeadership(target.url)
    assert target.path is not None
    return FileLeadership(target.path)
