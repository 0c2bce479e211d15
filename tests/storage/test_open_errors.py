"""Database trouble is one StoreError line naming the file and what to do, and nothing stored is lost.

Real files under tmp_path. The tests run as root (CI too), and root ignores file modes, so the permission
tests fork a child that drops to an unprivileged uid and calls `open_store` there; they are skipped, with
that reason, when the suite does not run as root.
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
import sqlite3
import stat
import tempfile
import warnings

import pytest

import storage.sqlite_base
from bot.ports import StoreError
from storage.errors import (
    DamagedDatabaseError,
    DatabaseFullError,
    DatabaseLockedError,
    DatabasePermissionError,
    DatabasePlaceError,
    NotADatabaseError,
)
from storage.migrations import Migration, load_migrations
from storage.sqlite_store import SqliteStore, open_store
from tests.storage.conftest import raw, rows

#: The unprivileged user the permission tests run `open_store` as ("nobody" on most systems).
NOBODY = 65534


def digest(path: pathlib.Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: pathlib.Path) -> list[str]:
    """The names in the file's directory that start with its name (the file and any -wal/-shm/-journal)."""
    return sorted(entry.name for entry in path.parent.iterdir() if entry.name.startswith(path.name))


async def refused(path: pathlib.Path, kind: type[StoreError] = StoreError) -> str:
    """Open `path`, expect a one-line `kind` naming the file, return its message."""
    try:
        store = await open_store(path)
    except kind as error:
        message = str(error)
    else:
        await store.close()  # an open store's thread would keep pytest from exiting
        pytest.fail(f"open_store({path}) did not refuse the file")
    assert "\n" not in message
    assert str(path) in message
    return message


async def make_database(path: pathlib.Path) -> None:
    """A real bot database at `path`, with one state row in it."""
    store = await open_store(path)
    await store.set_state("kept", "yes")
    await store.close()


# -- files that are not the bot's database ---------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        b"this is a text file, not a database\n" * 40,
        b"short\n",
        bytes(range(256)) * 32,
        b"SQLite format 3\x00" + b"not really" * 100,
    ],
    ids=["text", "short", "binary", "fake-header"],
)
async def test_a_junk_file_is_refused_by_name_and_left_byte_for_byte(
    tmp_path: pathlib.Path, content: bytes
) -> None:
    """A file that is not an SQLite database: "… is not an SQLite database (wrong file?)", bytes unchanged."""
    path = tmp_path / "arxiv-digest.db"
    path.write_bytes(content)
    message = await refused(path, NotADatabaseError)
    assert f"{path} is not an SQLite database (wrong file?)" in message
    assert "left untouched" in message
    assert path.read_bytes() == content
    assert siblings(path) == ["arxiv-digest.db"]  # no -wal, -shm or -journal left beside it


async def test_another_programs_sqlite_file_is_refused_before_anything_writes(tmp_path: pathlib.Path) -> None:
    """An SQLite file of another program is refused, naming its tables; not even WAL mode is switched on."""
    path = tmp_path / "photos.db"
    with raw(path) as other:
        other.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT)")
        other.execute("INSERT INTO albums (title) VALUES ('holidays')")
    before = digest(path)
    message = await refused(path, NotADatabaseError)
    assert "another program's SQLite database" in message
    assert "albums" in message
    assert digest(path) == before
    assert rows(path, "PRAGMA journal_mode") == [("delete",)]
    assert rows(path, "SELECT title FROM albums") == [("holidays",)]


async def test_a_rails_style_schema_migrations_table_is_not_taken_for_ours(tmp_path: pathlib.Path) -> None:
    """A `schema_migrations` table without this bot's columns is another program's, and refused untouched."""
    path = tmp_path / "app.db"
    with raw(path) as other:
        other.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")
        other.execute("INSERT INTO schema_migrations VALUES ('20240101000000')")
    before = digest(path)
    await refused(path, NotADatabaseError)
    assert digest(path) == before


async def test_a_damaged_database_is_reported_as_such_and_left_alone(tmp_path: pathlib.Path) -> None:
    """A bot database whose first page is overwritten: "is damaged", restore a backup; the bytes stay."""
    path = tmp_path / "bot.db"
    await make_database(path)
    damaged = bytearray(path.read_bytes())
    damaged[100:4096] = b"\xa5" * (4096 - 100)
    path.write_bytes(bytes(damaged))
    message = await refused(path, DamagedDatabaseError)
    assert "is damaged" in message
    assert "backup" in message
    assert path.read_bytes() == bytes(damaged)


# -- paths that are no place for a database ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["x.db", "sub/x.db"])
async def test_a_path_under_proc_is_refused_as_a_pseudo_file_system(name: str) -> None:
    """`/proc/x.db` (the issue's command) says /proc is a kernel pseudo-file system, and what to set."""
    if not pathlib.Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    message = await refused(pathlib.Path("/proc") / name, DatabasePlaceError)
    assert "kernel pseudo-file system" in message
    assert "DATABASE_URL" in message


async def test_a_directory_is_not_a_database_file(tmp_path: pathlib.Path) -> None:
    """DATABASE_URL naming a directory says so and suggests a file inside it."""
    message = await refused(tmp_path, DatabasePlaceError)
    assert "is a directory" in message
    assert f"sqlite:///{tmp_path / 'arxiv-digest.db'}" in message


async def test_a_device_is_not_a_database_file() -> None:
    """/dev/null is refused (SQLite would happily "store" everything into it and lose it)."""
    null = pathlib.Path("/dev/null")
    if not null.exists() or not stat.S_ISCHR(null.stat().st_mode):
        pytest.skip("no /dev/null character device here")
    message = await refused(null, DatabasePlaceError)
    assert "character device" in message


async def test_a_file_where_the_directory_should_be_is_named(tmp_path: pathlib.Path) -> None:
    """A parent path that is a file: the message names that file, and it is left as it was."""
    blocker = tmp_path / "data"
    blocker.write_text("notes")
    message = await refused(blocker / "sub" / "x.db", DatabasePlaceError)
    assert f"{blocker} is a file, not a directory" in message
    assert blocker.read_text() == "notes"


# -- locks and a full disk -------------------------------------------------------------------------------
async def test_a_lock_held_beyond_the_busy_timeout_is_named_and_loses_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock past the busy timeout: "locked by another process"."""
    path = tmp_path / "bot.db"
    await make_database(path)
    monkeypatch.setattr(storage.sqlite_base, "BUSY_TIMEOUT_MS", 200)
    with raw(path) as other:
        other.execute("BEGIN IMMEDIATE")
        message = await refused(path, DatabaseLockedError)
        other.execute("ROLLBACK")
    assert "locked by another process (waited 0.2 s)" in message
    store = await open_store(path)
    try:
        assert await store.get_state("kept") == "yes"
    finally:
        await store.close()


async def test_a_full_disk_during_a_migration_is_named_and_rolled_back(tmp_path: pathlib.Path) -> None:
    """SQLITE_FULL (here from max_page_count) while migrating: "no space left", the stored rows kept."""
    path = tmp_path / "bot.db"
    await make_database(path)
    shipped = load_migrations()
    filler = Migration(
        len(shipped) + 1,
        "fill_the_disk",
        "PRAGMA max_page_count = 1;\nCREATE TABLE big (b BLOB);\nINSERT INTO big VALUES (zeroblob(99999));\n",
    )
    try:
        store = await open_store(path, migrations=[*shipped, filler])
    except DatabaseFullError as error:
        message = str(error)
    else:
        await store.close()
        pytest.fail("the migration filled no disk")
    assert f"no space left for the database {path}" in message
    assert rows(path, "SELECT value FROM state WHERE key = 'kept'") == [("yes",)]
    assert rows(path, "SELECT max(version) FROM schema_migrations") == [(len(shipped),)]


async def test_a_full_disk_while_running_is_a_store_error(store: SqliteStore) -> None:
    """A write that fails with SQLITE_FULL after start-up is the same one-line DatabaseFullError."""
    await store.set_state("small", "kept")
    page_count = rows(store.path, "PRAGMA page_count")[0][0] if store.path else 0
    await store._connection().execute(f"PRAGMA max_page_count = {page_count:d}")
    with pytest.raises(DatabaseFullError, match="no space left for the database"):
        await store.set_state("big", "x" * 200_000)
    assert await store.get_state("small") == "kept"
    assert await store.get_state("big") is None


async def test_a_constraint_error_is_not_dressed_up_as_file_trouble(store: SqliteStore) -> None:
    """Errors of the SQL itself keep their type: only trouble with the file becomes a StoreError."""
    with pytest.raises(sqlite3.IntegrityError):
        await store.reserve_deliveries(4242, dt.date(2025, 11, 26), ["2511.00001"])


# -- permissions, as an unprivileged user ------------------------------------------------------------------
@pytest.fixture
def shared_dir() -> collections.abc.Iterator[pathlib.Path]:
    """A root-owned directory every user can reach (tmp_path's parents are 0700), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("permission tests switch to another uid, which needs root (CI runs as root)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="arxiv-digest-perm-"))
    try:
        base.chmod(0o755)
        for ancestor in base.parents:
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                pytest.skip(f"{ancestor} cannot be traversed by other users")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def open_as(uid: int, path: pathlib.Path, timeout: float = 30.0) -> tuple[str, str]:
    """Call `open_store(path)` in a forked child running as `uid`; (error class name or "ok", message)."""
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
                """Open and close the store; the outcome as one line."""
                try:
                    store = await open_store(path, migrations=migrations)
                except StoreError as error:
                    return f"{type(error).__name__}\t{error}"
                await store.close()
                return "ok\t"

            os.write(writer, asyncio.run(attempt()).encode())
            status = 0
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.write(writer, f"crash\t{type(error).__name__}: {error}".encode())
        finally:
            os._exit(status)
    os.close(writer)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([reader], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"open_store as uid {uid} did not finish within {timeout} s")
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    kind, _, message = b"".join(chunks).decode().partition("\t")
    return kind, message


def make_database_as_root(path: pathlib.Path) -> None:
    """A real bot database owned by root (created in this process, which runs as root)."""
    asyncio.run(make_database(path))


def test_the_unprivileged_child_can_open_a_directory_it_owns(shared_dir: pathlib.Path) -> None:
    """Control: the child mechanism works, so the refusals below come from permissions alone."""
    own = shared_dir / "own"
    own.mkdir()
    os.chown(own, NOBODY, NOBODY)
    assert open_as(NOBODY, own / "arxiv-digest.db") == ("ok", "")
    assert (own / "arxiv-digest.db").stat().st_uid == NOBODY


def test_a_root_owned_directory_names_the_uid_and_the_chown(shared_dir: pathlib.Path) -> None:
    """The Docker case (a root-owned /data bind mount): the uid, `chown <uid> <dir>`, DATABASE_URL."""
    data = shared_dir / "data"
    data.mkdir()
    path = data / "arxiv-digest.db"
    kind, message = open_as(NOBODY, path)
    assert kind == DatabasePermissionError.__name__, message
    assert f"cannot create the database {path}" in message
    assert f"not writable by uid {NOBODY} (owned by uid 0, mode 0755)" in message
    assert f"chown {NOBODY} {data}" in message
    assert "DATABASE_URL" in message
    assert "\n" not in message
    assert not path.exists()


def test_a_directory_that_cannot_be_created_names_the_parent(shared_dir: pathlib.Path) -> None:
    """A missing directory under a root-owned one: "cannot create the directory", which parent, the chown."""
    path = shared_dir / "data" / "arxiv-digest.db"
    kind, message = open_as(NOBODY, path)
    assert kind == DatabasePermissionError.__name__, message
    assert f"cannot create the directory {path.parent}" in message
    assert f"{shared_dir} is not writable by uid {NOBODY}" in message
    assert f"mkdir -p {path.parent} && chown {NOBODY} {path.parent}" in message
    assert f"chown {NOBODY} {shared_dir}`" not in message  # never the parent itself


def test_a_read_only_database_file_is_named_before_the_first_write(shared_dir: pathlib.Path) -> None:
    """A root-owned 0644 file in a writable directory opens read-only in SQLite: refused at open, kept."""
    data = shared_dir / "data"
    data.mkdir()
    path = data / "arxiv-digest.db"
    make_database_as_root(path)
    data.chmod(0o777)
    before = digest(path)
    kind, message = open_as(NOBODY, path)
    assert kind == DatabasePermissionError.__name__, message
    assert f"the database {path} is read-only for uid {NOBODY} (owned by uid 0, mode 0644)" in message
    assert f"chown {NOBODY} {path}" in message
    assert digest(path) == before
    assert rows(path, "SELECT value FROM state WHERE key = 'kept'") == [("yes",)]


def test_a_root_owned_database_in_a_root_owned_directory_asks_for_both(shared_dir: pathlib.Path) -> None:
    """A database and its directory both root-owned: `chown <uid> <dir> <db>`, never -R; data kept."""
    data = shared_dir / "data"
    data.mkdir()
    path = data / "arxiv-digest.db"
    make_database_as_root(path)
    kind, message = open_as(NOBODY, path)
    assert kind == DatabasePermissionError.__name__, message
    assert f"chown {NOBODY} {data} {path}" in message
    assert "-R" not in message
    assert rows(path, "SELECT value FROM state WHERE key = 'kept'") == [("yes",)]


def test_an_unreadable_database_file_says_cannot_read(shared_dir: pathlib.Path) -> None:
    """A root-owned 0600 file: "cannot read the database", permission denied for the uid."""
    data = shared_dir / "data"
    data.mkdir()
    path = data / "arxiv-digest.db"
    make_database_as_root(path)
    path.chmod(0o600)
    data.chmod(0o777)
    kind, message = open_as(NOBODY, path)
    assert kind == DatabasePermissionError.__name__, message
    assert f"cannot read the database {path}: permission denied for uid {NOBODY}" in message
