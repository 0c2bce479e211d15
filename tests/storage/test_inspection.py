"""`storage.inspection`: what `db status` and `db upgrade` read of a database, without changing it."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.ports import StoreError
from storage.inspection import inspect_database, newly_applied, upgrade_database
from storage.migrations import load_migrations
from storage.open import open_database
from storage.sqlite_store import open_store
from storage.tables import MissingDatabaseError
from tests.builders import make_channel

#: A chat and its topic as a V4 database holds them (the code of today writes V6's columns).
OLD_CHANNEL = (
    "INSERT INTO channels (id, platform, chat_id, timezone, active, notify_empty, created_at, updated_at)"
    " VALUES (1, 'telegram', '-1', 'UTC', 1, 0, '2025-11-26T08:00:00+00:00', '2025-11-26T08:00:00+00:00')"
)
OLD_TOPIC = (
    "INSERT INTO topics (channel_id, position, name, keywords, excludes, categories, announce_types)"
    " VALUES (1, 0, 'llm', '[\"LLM\"]', '[]', '[]', '[\"new\"]')"
)


async def test_an_old_sqlite_file_is_reported_with_its_pending_migrations_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    """A V4 file: V5 and V6 pending with their files, its rows counted, its bytes unchanged."""
    path = tmp_path / "old.db"
    async with await open_store(path, migrations=load_migrations()[:4]):
        pass
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(OLD_CHANNEL)
        db.execute(OLD_TOPIC)
    before = path.read_bytes()
    report = await inspect_database(f"sqlite:///{path}")
    assert (report.version, report.code_version, report.state) == (4, 6, "pending")
    assert [p.file for p in report.pending] == [
        "storage/migrations/sqlite/V5__votes_and_bookmarks.sql",
        "storage/migrations/sqlite/V6__retention_blocks_and_claims.sql",
    ]
    rows = {table.name: table.rows for table in report.tables}
    assert (rows["channels"], rows["topics"]) == (1, 1)
    assert "votes" not in rows
    assert report.sizes["old.db"] == len(before)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]  # no -wal, no -shm: opened immutable

    before_upgrade, after = await upgrade_database(f"sqlite:///{path}")
    assert [m.version for m in newly_applied(before_upgrade, after)] == [5, 6]
    assert after.state == "up to date"


async def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    """Looking never creates: a missing SQLite file is a MissingDatabaseError, and stays missing."""
    with pytest.raises(MissingDatabaseError, match="no database at"):
        await inspect_database(f"sqlite:///{tmp_path / 'none.db'}")
    assert list(tmp_path.iterdir()) == []


async def test_another_programs_file_is_refused(tmp_path: Path) -> None:
    """A file with tables but no schema_migrations is not the bot's: one StoreError naming its tables."""
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match=r"another program's database.*invoices"):
        await inspect_database(f"sqlite:///{path}")


async def test_an_empty_postgresql_schema_is_reported_empty_and_stays_empty(postgres_schema_url: str) -> None:
    """No tables yet: every migration pending, nothing created by looking; then sizes of each table."""
    report = await inspect_database(postgres_schema_url)
    assert (report.state, report.version, len(report.pending), report.tables) == ("empty", 0, 6, [])
    assert report.pending[0].file == "storage/migrations/postgresql/V1__initial.sql"
    connection = await asyncpg.connect(postgres_schema_url)
    try:
        assert (
            await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            == 0
        )
    finally:
        await connection.close()
    store = await open_database(postgres_schema_url)
    try:
        await store.save_channel(make_channel("-1"))
    finally:
        await store.close()
    report = await inspect_database(postgres_schema_url)
    assert report.state == "up to date"
    channels = next(table for table in report.tables if table.name == "channels")
    assert channels.rows == 1
    assert channels.bytes is not None
    assert channels.bytes > 0
    assert report.sizes["database"] >= report.size_bytes > 0
