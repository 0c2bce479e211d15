"""`arxiv-digest db copy | status | upgrade` as an operator runs them: a real process, real databases."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from storage.migrations import load_migrations
from storage.sqlite_store import open_store
from tests.conftest import new_postgres_schema
from tests.storage.test_db_copy import fill_a_deployment
from tests.storage.test_inspection import OLD_CHANNEL
from tests.test_cli import arxiv_digest

PASSWORD_URL = os.environ.get("TEST_DATABASE_PASSWORD_URL", "")


def snapshot(directory: Path) -> dict[str, str]:
    """Every file of the directory with a hash of its bytes: what "nothing changed" compares."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


async def make_v4_database(path: Path) -> None:
    """A database an older bot left: migrations V1-V4 only, one chat in it."""
    async with await open_store(path, migrations=load_migrations()[:4]):
        pass
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(OLD_CHANNEL)


@pytest.mark.slow
async def test_status_and_a_dry_run_read_an_old_database_without_changing_a_byte(tmp_path: Path) -> None:
    """db status and upgrade --dry-run show V5 and V6 pending with their files; no byte, no file changes."""
    data = tmp_path / "data"
    data.mkdir()
    await make_v4_database(data / "bot.db")
    env = {"DATABASE_URL": f"sqlite:///{data / 'bot.db'}"}
    before = snapshot(data)

    status = await arxiv_digest("db", "status", cwd=tmp_path, env=env)
    assert status.status == 0, status.err
    assert "schema: V4, 2 migration(s) pending" in status.out
    assert "V5__votes_and_bookmarks  (storage/migrations/sqlite/V5__votes_and_bookmarks.sql)" in status.out
    assert "  V4__paged_digests  " in status.out  # applied, with its date
    assert "channels                1" in status.out
    as_json = json.loads((await arxiv_digest("db", "status", "--json", cwd=tmp_path, env=env)).out)
    assert (as_json["version"], as_json["code_version"], as_json["state"]) == (4, 6, "pending")
    assert [m["name"] for m in as_json["pending"]] == ["votes_and_bookmarks", "retention_blocks_and_claims"]
    assert as_json["tables"]["channels"]["rows"] == 1
    assert "votes" not in as_json["tables"]  # not created yet, and not by a look
    assert as_json["size_bytes"] == sum(as_json["sizes"].values()) > 0

    dry = await arxiv_digest("db", "upgrade", "--dry-run", cwd=tmp_path, env=env)
    assert dry.status == 0, dry.err
    assert dry.out.splitlines() == [
        f"{data / 'bot.db'} is at V4; `db upgrade` would apply:",
        "  V5__votes_and_bookmarks  (storage/migrations/sqlite/V5__votes_and_bookmarks.sql)",
        "  V6__retention_blocks_and_claims  (storage/migrations/sqlite/V6__retention_blocks_and_claims.sql)",
        "dry run: nothing was changed",
    ]
    assert snapshot(data) == before
    with contextlib.closing(sqlite3.connect(f"file:{data / 'bot.db'}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone() == (4,)

    upgrade = await arxiv_digest("db", "upgrade", cwd=tmp_path, env=env)
    assert upgrade.status == 0, upgrade.err
    lines = upgrade.out.splitlines()
    assert [line.split(" (")[0] for line in lines[:2]] == [
        "applied V5__votes_and_bookmarks",
        "applied V6__retention_blocks_and_claims",
    ]
    assert lines[2] == f"{data / 'bot.db'} is up to date (V6)"
    again = await arxiv_digest("db", "upgrade", "--dry-run", cwd=tmp_path, env=env)
    assert "is up to date (V6): nothing to apply" in again.out


async def test_status_of_a_missing_file_is_status_6_and_creates_nothing(tmp_path: Path) -> None:
    """db status never creates a database: a missing file is one line and exit 6, as for `status`."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    run = await arxiv_digest("db", "status", cwd=tmp_path, env=env)
    assert run.status == 6
    assert run.err.startswith("arxiv-digest: no database at ")
    assert len(run.err.splitlines()) == 1
    assert not (tmp_path / "none.db").exists()


@pytest.mark.slow
async def test_a_database_newer_than_the_code_is_said_clearly_and_not_upgraded(tmp_path: Path) -> None:
    """A V7 this code does not know: status says NEWER, upgrade refuses in one line, nothing changes."""
    path = tmp_path / "bot.db"
    async with await open_store(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "INSERT INTO schema_migrations VALUES (7, 'from_the_future', 'x', '2027-01-01T00:00:00+00:00')"
        )
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    status = await arxiv_digest("db", "status", cwd=tmp_path, env=env)
    assert "schema: V7, NEWER than this code" in status.out
    assert "V7__from_the_future" in status.out
    assert "unknown to this code" in status.out
    before = snapshot(tmp_path)
    for args in (("db", "upgrade", "--dry-run"), ("db", "upgrade")):
        run = await arxiv_digest(*args, cwd=tmp_path, env=env)
        assert run.status == 6
        assert "newer version" in run.err
        assert len(run.err.splitlines()) == 1
    assert snapshot(tmp_path) == before


@pytest.mark.slow
async def test_copy_to_postgresql_prints_the_counts_and_never_the_password(
    tmp_path: Path,
    postgres_schema_url: str,  # a server is there (else skipped, or failed in CI)
) -> None:
    """db copy to a password URL: a table of equal counts; a second copy is refused (exit 2); no password."""
    if not PASSWORD_URL:
        pytest.fail("TEST_DATABASE_PASSWORD_URL is not set (.ci/start-postgres sets it)")
    password = urlsplit(PASSWORD_URL).password
    assert password
    source = tmp_path / "bot.db"
    async with await open_store(source) as store:
        await fill_a_deployment(store)
    async with new_postgres_schema(owner="arxiv_digest") as socket_url:
        target = f"{PASSWORD_URL}?search_path={socket_url.rsplit('search_path=', 1)[1]}"
        copy = await arxiv_digest("db", "copy", f"sqlite:///{source}", target, cwd=tmp_path)
        assert copy.status == 0, copy.err
        assert copy.out.splitlines()[0] == f"copied {source} to {target.replace(password, '***')}"
        counts = {line.split()[0]: line.split()[1:] for line in copy.out.splitlines()[2:15]}
        assert counts["deliveries"] == ["18", "18"]
        assert counts["channels"] == ["3", "3"]
        assert "all 13 tables match" in copy.out

        status = await arxiv_digest("db", "status", target, cwd=tmp_path)
        assert status.status == 0, status.err
        assert "engine: postgresql" in status.out
        assert "schema: V6, up to date" in status.out
        assert "the whole database" in status.out

        refused = await arxiv_digest("db", "copy", f"sqlite:///{source}", target, cwd=tmp_path)
        assert refused.status == 2
        assert refused.err.startswith("arxiv-digest: the target ")
        assert "is not empty: papers (12 rows)" in refused.err
        assert len(refused.err.splitlines()) == 1
        for run in (copy, status, refused):
            assert password not in run.out + run.err
