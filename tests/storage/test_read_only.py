"""`open_store(path, read_only=True)`: every read works, nothing is created, migrated or written.

Real files under tmp_path. Root ignores file modes, so the tests of a file and a directory this process
may only read fork a child that drops to an unprivileged uid (as tests/storage/test_open_errors.py does);
they are skipped, with that reason, when the suite does not run as root.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import datetime as dt
import hashlib
import os
import pathlib
import select
import shutil
import signal
import stat
import tempfile
import warnings

import pytest

from bot.models import Channel, FeedCheck, Topic
from bot.ports import StoreError
from storage.migrations import SchemaTooNewError, load_migrations
from storage.sqlite_store import ReadOnlySqliteStore, open_store
from tests.storage.conftest import raw, rows

NOBODY = 65534


def fingerprint(directory: pathlib.Path) -> dict[str, str]:
    """Every file of a directory by name, with the SHA-256 of its bytes."""
    return {
        entry.name: hashlib.sha256(entry.read_bytes()).hexdigest()
        for entry in sorted(directory.iterdir())
        if entry.is_file()
    }


async def make_database(path: pathlib.Path) -> None:
    """A real bot database with a state row, a channel and a feed check; closed (no -wal left)."""
    store = await open_store(path)
    await store.set_state("kept", "yes")
    await store.save_channel(Channel("telegram", "-1", active=True, topics=(Topic("T", ("x",)),)))
    await store.record_feed_check(FeedCheck(dt.datetime(2025, 11, 27, 5, 1, tzinfo=dt.UTC), "new", papers=3))
    await store.close()


async def test_a_read_only_store_reads_everything_and_creates_nothing(tmp_path: pathlib.Path) -> None:
    """Opened read-only, the store answers reads; afterwards the directory holds the same bytes, and no
    -wal or -shm file was left behind (they would belong to the status command's user)."""
    path = tmp_path / "digest.db"
    await make_database(path)
    before = fingerprint(tmp_path)
    store = await open_store(path, read_only=True)
    try:
        assert isinstance(store, ReadOnlySqliteStore)
        assert (store.schema_version, store.needs_migration) == (len(load_migrations()), False)
        assert await store.get_state("kept") == "yes"
        assert [c.chat_id for c in await store.list_channels()] == ["-1"]
        check = await store.last_feed_check()
        assert check is not None
        assert check.papers == 3
    finally:
        await store.close()
    assert fingerprint(tmp_path) == before
    assert sorted(before) == ["digest.db"]


async def test_a_read_only_store_refuses_every_write_in_one_line(tmp_path: pathlib.Path) -> None:
    """A write on the read-only store is one StoreError line naming the file, and nothing changes."""
    path = tmp_path / "digest.db"
    await make_database(path)
    store = await open_store(path, read_only=True)
    try:
        with pytest.raises(StoreError) as refused:
            await store.set_state("kept", "no")
    finally:
        await store.close()
    assert str(path) in str(refused.value)
    assert "read-only" in str(refused.value)
    assert rows(path, "SELECT value FROM state WHERE key = 'kept'") == [("yes",)]


async def test_a_read_only_store_sees_what_a_running_bot_just_wrote(tmp_path: pathlib.Path) -> None:
    """While the bot holds the database (its -wal exists), the read-only store reads through the WAL:
    it sees the latest commit, and the bot goes on writing."""
    path = tmp_path / "digest.db"
    await make_database(path)
    writer = await open_store(path)
    try:
        await writer.set_state("kept", "newer")
        reader = await open_store(path, read_only=True)
        try:
            assert await reader.get_state("kept") == "newer"
            await writer.set_state("kept", "newest")
            assert await reader.get_state("kept") == "newest"
        finally:
            await reader.close()
        await writer.set_state("after", "ok")
    finally:
        await writer.close()
    assert rows(path, "SELECT value FROM state WHERE key = 'after'") == [("ok",)]


async def test_a_database_needing_migration_reports_its_version_untouched(tmp_path: pathlib.Path) -> None:
    """A database at V5 opened read-only by a version that knows more: not refused, not migrated;
    `schema_version` 5 and `needs_migration` say so, and the file stays byte for byte."""
    path = tmp_path / "digest.db"
    migrations = load_migrations()
    old = await open_store(path, migrations=migrations[:5])
    await old.close()
    before = fingerprint(tmp_path)
    store = await open_store(path, read_only=True)
    try:
        assert (store.schema_version, store.latest_version) == (5, len(migrations))
        assert store.needs_migration
    finally:
        await store.close()
    assert fingerprint(tmp_path) == before
    assert rows(path, "SELECT max(version) FROM schema_migrations") == [(5,)]


async def test_a_newer_schema_and_a_missing_file_are_refused(tmp_path: pathlib.Path) -> None:
    """A database written by a newer version is refused (SchemaTooNewError); a missing file is one
    StoreError line, and neither the file nor its directory is created."""
    path = tmp_path / "digest.db"
    await make_database(path)
    with raw(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'x', '2030-01-01T00:00:00+00:00')")
    with pytest.raises(SchemaTooNewError, match="V99"):
        await open_store(path, read_only=True)
    missing = tmp_path / "data" / "digest.db"
    with pytest.raises(StoreError, match="no database at"):
        await open_store(missing, read_only=True)
    assert not missing.parent.exists()


# -- a file and a directory this process may only read ----------------------------------------------------
@pytest.fixture
def shared_dir() -> collections.abc.Iterator[pathlib.Path]:
    """A root-owned 0755 directory every user can reach (tmp_path's parents are 0700), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("read-only tests switch to another uid, which needs root (CI runs as root)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="arxiv-digest-ro-"))
    try:
        base.chmod(0o755)
        for ancestor in base.parents:
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                pytest.skip(f"{ancestor} cannot be traversed by other users")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def read_as(uid: int, path: pathlib.Path, timeout: float = 30.0) -> str:
    """In a forked child running as `uid`, open `path` read-only and read the state row `kept`."""
    migrations = load_migrations()  # read now: the child may not be allowed to read the source tree
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads warns on Python 3.12+
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

            async def attempt() -> str:
                """Open read-only, read, close; the outcome as one line."""
                try:
                    store = await open_store(path, migrations=migrations, read_only=True)
                except StoreError as error:
                    return f"{type(error).__name__}: {error}"
                try:
                    return f"kept={await store.get_state('kept')}"
                finally:
                    await store.close()

            os.write(writer, asyncio.run(attempt()).encode())
            status = 0
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.write(writer, f"crash {type(error).__name__}: {error}".encode())
        finally:
            os._exit(status)
    os.close(writer)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([reader], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the read-only open as uid {uid} did not finish within {timeout} s")
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_a_file_and_directory_it_may_only_read_are_read(shared_dir: pathlib.Path) -> None:
    """A root-owned 0644 database in a root-owned 0755 directory, no -wal: an unprivileged reader reads
    it (SQLite could not create the -shm it would need, so the file is opened immutable)."""
    path = shared_dir / "arxiv-digest.db"
    asyncio.run(make_database(path))
    before = fingerprint(shared_dir)
    assert read_as(NOBODY, path) == "kept=yes"
    assert fingerprint(shared_dir) == before


def test_a_running_bots_database_is_read_by_another_user(shared_dir: pathlib.Path) -> None:
    """While a root writer holds the database (its root-owned -wal and -shm exist, read-only to others),
    an unprivileged reader sees its latest commit through them."""
    path = shared_dir / "arxiv-digest.db"
    asyncio.run(make_database(path))

    async def write_and_read() -> str:
        """Hold a writer open, commit, read as nobody meanwhile."""
        writer = await open_store(path)
        try:
            await writer.set_state("kept", "while running")
            return await asyncio.to_thread(read_as, NOBODY, path)
        finally:
            await writer.close()

    assert asyncio.run(write_and_read()) == "kept=while running"
