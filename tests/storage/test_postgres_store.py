"""The PostgreSQL store against a real server: both URL forms, errors in one line without the password.

Needs the server of TEST_DATABASE_URL (`.ci/start-postgres`); `.ci/run` sets REQUIRE_POSTGRES, so
there these tests fail rather than skip without one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.ports import StoreError
from storage.migrations import Migration, SchemaTooNewError, load_migrations
from storage.postgres_store import open_postgres_store
from tests.builders import DAY, make_announcement, make_channel
from tests.conftest import new_postgres_schema

pytestmark = pytest.mark.postgresql_only

PASSWORD_URL = os.environ.get("TEST_DATABASE_PASSWORD_URL", "")


async def test_a_new_schema_is_migrated_to_every_version_and_opens_again_unchanged(
    postgres_schema_url: str,
) -> None:
    """The first open applies V1..Vn; the next applies nothing and finds the rows."""
    store = await open_postgres_store(postgres_schema_url)
    await store.save_announcement(make_announcement(DAY))
    await store.close()
    again = await open_postgres_store(postgres_schema_url)
    try:
        assert await again.get_announcement(DAY) == make_announcement(DAY)
    finally:
        await again.close()
    connection = await asyncpg.connect(postgres_schema_url)
    try:
        versions = [
            row[0] for row in await connection.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    finally:
        await connection.close()
    assert versions == [m.version for m in load_migrations(engine="postgresql")]
    assert versions == [m.version for m in load_migrations(engine="sqlite")]  # numbered alike


def test_each_engines_migrations_are_the_same_numbered_changes() -> None:
    """V1..Vn on both engines, of the same names, each file saying what it is."""
    sqlite, postgres = load_migrations(engine="sqlite"), load_migrations(engine="postgresql")
    assert [m.label for m in postgres] == [m.label for m in sqlite]
    for migration in postgres:
        assert migration.sql.startswith(f"-- {migration.label}:")


async def test_a_host_and_password_url_works_and_a_wrong_password_is_one_line_without_it(
    postgres_schema_url: str,  # a server is there (else skipped, or failed in CI)
) -> None:
    """postgresql://user:password@127.0.0.1:port/db opens; a wrong password is refused, never shown."""
    if not PASSWORD_URL:
        pytest.fail("TEST_DATABASE_PASSWORD_URL is not set (.ci/start-postgres sets it)")
    async with new_postgres_schema(owner="arxiv_digest") as socket_url:
        schema = socket_url.rsplit("search_path=", 1)[1]
        store = await open_postgres_store(f"{PASSWORD_URL}?search_path={schema}")
        try:
            saved = await store.save_channel(make_channel("-7"))
            assert (await store.get_channel("telegram", "-7")) == saved
        finally:
            await store.close()
        password = urlsplit(PASSWORD_URL).password
        assert password
        wrong = PASSWORD_URL.replace(f":{password}@", ":not-the-password@")
        with pytest.raises(StoreError) as caught:
            await open_postgres_store(wrong)
        message = str(caught.value)
        assert "refused the password" in message
        assert "not-the-password" not in message
        assert "\n" not in message


@pytest.mark.usefixtures("postgres_schema_url")  # skipped with the others when PostgreSQL is absent
async def test_a_server_that_is_not_there_is_one_line_within_seconds() -> None:
    """Nothing listening: a StoreError naming the URL (password hidden) and what to check, at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await open_postgres_store(f"postgresql://digest:hunter2@127.0.0.1:{port}/arxiv")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(
        f"cannot reach the PostgreSQL server of postgresql://digest:***@127.0.0.1:{port}/arxiv"
    )
    assert "hunter2" not in message


async def test_a_database_that_does_not_exist_says_create_it(postgres_schema_url: str) -> None:
    """An unknown database name: create it, or fix DATABASE_URL."""
    missing = postgres_schema_url.replace("/arxiv_digest_test?", "/no_such_database?")
    with pytest.raises(StoreError, match=r"does not exist: create it"):
        await open_postgres_store(missing)


async def test_another_programs_schema_is_refused_untouched(postgres_schema_url: str) -> None:
    """Tables but no schema_migrations: refused, nothing created."""
    connection = await asyncpg.connect(postgres_schema_url)
    try:
        await connection.execute("CREATE TABLE invoices (id integer)")
        with pytest.raises(StoreError, match=r"another program's tables \(invoices\)"):
            await open_postgres_store(postgres_schema_url)
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        assert [row[0] for row in tables] == ["invoices"]
    finally:
        await connection.close()


async def test_a_schema_written_by_a_newer_version_is_refused(postgres_schema_url: str) -> None:
    """A recorded migration this code does not know: refused, nothing changed."""
    known = load_migrations(engine="postgresql")
    newer = [
        *known,
        Migration(len(known) + 1, "future", f"-- V{len(known) + 1}__future: x.\nCREATE TABLE f (x int);"),
    ]
    store = await open_postgres_store(postgres_schema_url, migrations=newer)
    await store.close()
    with pytest.raises(SchemaTooNewError, match=r"written by a newer version"):
        await open_postgres_store(postgres_schema_url)


async def test_processes_starting_together_migrate_once(postgres_schema_url: str) -> None:
    """Four stores opened at once on a new schema: each migration applied once, every store usable."""
    stores = await asyncio.gather(*(open_postgres_store(postgres_schema_url) for _ in range(4)))
    try:
        for n, store in enumerate(stores):
            await store.save_channel(make_channel(str(n)))
        assert len(await stores[0].list_channels()) == 4
    finally:
        for store in stores:
            await store.close()
    connection = await asyncpg.connect(postgres_schema_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == len(
            load_migrations(engine="postgresql")
        )
    finally:
        await connection.close()


async def test_a_closed_store_says_so(postgres_schema_url: str) -> None:
    """A call after close is a StoreError, not a driver error."""
    store = await open_postgres_store(postgres_schema_url)
    await store.close()
    await store.close()  # twice is harmless
    with pytest.raises(StoreError, match=r"closed"):
        await store.list_channels()


async def test_a_connection_the_server_dropped_is_one_line_and_the_next_call_reconnects(
    postgres_schema_url: str,
) -> None:
    """The server ends the store's connection (a restart): one call fails in one line at most."""
    store = await open_postgres_store(postgres_schema_url, pool_size=1)
    try:
        await store.save_channel(make_channel("-1"))
        async with store._read() as db:  # the pool's one connection
            (row,) = await db.fetchall("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(postgres_schema_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", row[0])
        finally:
            await admin.close()
        problem = ""
        try:  # the driver may notice the dead connection first and hand out a fresh one
            await store.list_channels()
        except StoreError as error:
            problem = str(error)
        assert problem == "" or ("connection to the PostgreSQL server" in problem and "\n" not in problem)
        assert [channel.chat_id for channel in await store.list_channels()] == ["-1"]
    finally:
        await store.close()


async def test_read_only_opens_without_migrating_or_writing_and_refuses_writes(
    postgres_schema_url: str,
) -> None:
    """`status`'s way in: an empty schema is "no data yet"; a migrated one reads, and refuses writes."""
    with pytest.raises(StoreError, match=r"no arxiv-digest-bot data yet"):
        await open_postgres_store(postgres_schema_url, read_only=True)
    connection = await asyncpg.connect(postgres_schema_url)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        assert tables == 0  # nothing was created
    finally:
        await connection.close()
    writer = await open_postgres_store(postgres_schema_url)
    await writer.save_channel(make_channel("-3"))
    await writer.close()
    reader = await open_postgres_store(postgres_schema_url, read_only=True)
    try:
        assert [channel.chat_id for channel in await reader.list_channels()] == ["-3"]
        with pytest.raises(StoreError, match=r"read-only"):
            await reader.save_channel(make_channel("-4"))
    finally:
        await reader.close()
