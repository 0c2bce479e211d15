"""The operator's commands as an operator runs them (a real process, real files): `status` as the
healthcheck (exit 7 when the bot is not doing its job, `--json`, read-only), `fetch` refusing what the
ledger cannot keep, `channels` with titles, servers, why a chat is off, and the operator's block."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from bot.models import Channel, DeliveryResult, FeedCheck, InactiveReason, Topic
from storage.migrations import load_migrations
from storage.sqlite_store import open_store
from tests.storage.test_read_only import NOBODY, shared_dir
from tests.test_cli import LISTING, arxiv_digest, make_operator_database, one_line_error

__all__ = ["shared_dir"]  # the fixture, used below

NOW = dt.datetime.now(dt.UTC)


def env_for(path: Path) -> dict[str, str]:
    """The settings of a command on this database (and no reachable arXiv)."""
    return {"DATABASE_URL": f"sqlite:///{path}", "ARXIV_RSS_URL": "http://127.0.0.1:9/rss"}


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file of a directory by name, with the SHA-256 of its bytes."""
    return {e.name: hashlib.sha256(e.read_bytes()).hexdigest() for e in sorted(directory.iterdir())}


async def checked_now(path: Path) -> None:
    """Record a feed check that read the feed just now (what a running bot keeps doing)."""
    store = await open_store(path)
    try:
        await store.record_feed_check(FeedCheck(NOW, "unchanged", dt.date(2025, 11, 12), "already stored", 2))
    finally:
        await store.close()


def columns(table: str) -> list[dict[str, str]]:
    """The rows of an aligned table as dicts, cut at the header's column starts (cells may hold spaces)."""
    header, *rows = table.splitlines()
    names = [
        "ID",
        "PLATFORM",
        "CHAT",
        "TITLE",
        "SERVER",
        "ACTIVE",
        "WHY",
        "TIME",
        "ZONE",
        "TOPICS",
        "DONE UP TO",
    ]
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, ends, strict=True)}
        for row in rows
    ]


# -- status --------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_status_json_is_one_object_with_the_same_facts_and_writes_nothing(tmp_path: Path) -> None:
    """A bot that checked the feed just now, one chat failing among others: `status` exits 0 and
    `status --json` prints one object (healthy, feed, announcement, channels, deliveries); neither run
    changes a byte of the database's directory or leaves a -wal/-shm file."""
    path = tmp_path / "digest.db"
    ids = await make_operator_database(path)
    await checked_now(path)
    before = fingerprint(tmp_path)
    text = await arxiv_digest("status", cwd=tmp_path, env=env_for(path))
    assert text.status == 0, text.out + text.err
    assert text.out.splitlines()[-1] == "health: ok"
    run = await arxiv_digest("status", "--json", cwd=tmp_path, env=env_for(path))
    assert run.status == 0, run.err
    assert fingerprint(tmp_path) == before
    [line] = run.out.splitlines()
    document = json.loads(line)
    assert set(document) == {
        "healthy",
        "problems",
        "database",
        "schema",
        "checked_at",
        "feed",
        "announcement",
        "channels",
        "deliveries",
    }
    assert (document["healthy"], document["problems"], document["database"]) == (True, [], str(path))
    latest = len(load_migrations())
    assert document["schema"] == {"version": latest, "latest": latest}
    feed = document["feed"]
    assert feed["ok"] is True
    assert feed["last_check"]["outcome"] == "unchanged"
    assert feed["last_check"]["announcement_date"] == "2025-11-12"
    assert set(feed) == {"ok", "last_check", "due_announcement", "due_since", "due_arrived"}
    assert feed["due_arrived"] is False
    assert document["announcement"] is None  # make_operator_database stores none
    assert document["channels"] == {
        "discord": {"active": 1, "inactive": 0, "blocked": 0},
        "telegram": {"active": 2, "inactive": 1, "blocked": 0},
    }
    deliveries = document["deliveries"]
    assert deliveries["ok"] is True
    assert deliveries["results"] == {"ok": 1, "failed": 1, "empty": 1}  # of the chats a digest goes to
    assert deliveries["failed"] == [
        {"id": ids["failed"], "platform": "telegram", "chat_id": "200", "announcement_date": "2025-11-12"}
    ]
    assert deliveries["gone"] == [
        {"id": ids["gone"], "platform": "telegram", "chat_id": "300", "active": False}
    ]


@pytest.mark.slow
async def test_status_exits_7_when_every_chat_a_digest_goes_to_fails(tmp_path: Path) -> None:
    """Every active, unblocked chat's last delivery failed (a blocked chat's or an inactive chat's good
    result does not count): exit 7, the health line says so, and the JSON names the problem too."""
    path = tmp_path / "digest.db"
    store = await open_store(path)
    try:
        topics = (Topic("T", ("x",)),)
        for chat, active, result in [("1", True, "failed"), ("2", True, "failed"), ("3", False, "ok")]:
            channel = await store.save_channel(Channel("telegram", chat, active=active, topics=topics))
            assert channel.id is not None
            await store.record_delivery_result(DeliveryResult(channel.id, NOW, dt.date(2025, 11, 12), result))
        blocked = await store.save_channel(Channel("telegram", "4", active=True, topics=topics))
        assert blocked.id is not None
        await store.set_channel_blocked(blocked.id, True)
        await store.record_delivery_result(DeliveryResult(blocked.id, NOW, dt.date(2025, 11, 12), "ok"))
    finally:
        await store.close()
    await checked_now(path)
    run = await arxiv_digest("status", cwd=tmp_path, env=env_for(path))
    assert run.status == 7, run.err
    health = run.out.splitlines()[-1]
    assert health.startswith(
        "health: FAILING: the last delivery failed for every chat a digest goes to (2 of 2: "
    )
    assert "telegram 1" in health
    assert "telegram 2" in health
    assert "channels: telegram 2 active, 1 inactive, 1 blocked" in run.out
    as_json = await arxiv_digest("status", "--json", cwd=tmp_path, env=env_for(path))
    assert as_json.status == 7
    document = json.loads(as_json.out)
    assert document["healthy"] is False
    assert document["feed"]["ok"] is True
    assert document["deliveries"]["ok"] is False
    [problem] = document["problems"]
    assert problem == health.removeprefix("health: FAILING: ")


async def test_status_reports_a_schema_needing_migration_and_leaves_it(tmp_path: Path) -> None:
    """A database at V5 (this version knows more): `status` says so in two lines and exits 6; it does
    not migrate it (status only reads), so the file is byte for byte as it was."""
    path = tmp_path / "digest.db"
    old = await open_store(path, migrations=load_migrations()[:5])
    await old.close()
    before = fingerprint(tmp_path)
    run = await arxiv_digest("status", cwd=tmp_path, env=env_for(path))
    assert run.status == 6, run.err
    latest = len(load_migrations())
    assert run.out.splitlines() == [
        f"database: {path}",
        f"schema: V5, this arxiv-digest reads V{latest}",
        f"health: FAILING: the database's schema is V5 and this arxiv-digest reads V{latest}: "
        "`arxiv-digest run` migrates it at start-up (status only reads)",
    ]
    assert fingerprint(tmp_path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone() == (5,)


# -- fetch ---------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_fetch_refuses_an_announcement_outside_retention_into_a_database_serving_chats(
    tmp_path: Path,
) -> None:
    """A database with chats: `fetch --feed FILE` of a year-old listing is refused in one line (why, and
    that --force stores it), exit 2, nothing stored; with --force it is stored."""
    path = tmp_path / "digest.db"
    await make_operator_database(path)
    refused = await arxiv_digest("fetch", "--feed", str(LISTING), cwd=tmp_path, env=env_for(path))
    assert refused.status == 2
    line = one_line_error(refused)
    assert "the announcement of 2025-11-12 is older than RETENTION_DAYS=14 keeps (before " in line
    assert line.endswith("add --force to store it anyway")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM announcements").fetchone() == (0,)
    forced = await arxiv_digest("fetch", "--feed", str(LISTING), "--force", cwd=tmp_path, env=env_for(path))
    assert forced.status == 0, forced.err
    assert forced.out.strip() == "stored the announcement of 2025-11-12: 496 papers"


async def test_fetch_before_the_pruned_ledger_is_one_line_even_with_force(tmp_path: Path) -> None:
    """The store refuses an announcement before the ledger's pruned horizon: `fetch --force` says so in
    one line (no traceback), exit 2, nothing stored."""
    path = tmp_path / "digest.db"
    await make_operator_database(path)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO state (key, value, updated_at)"
            " VALUES ('store:pruned_before', '2025-12-01', '2026-01-01')"
        )
    run = await arxiv_digest("fetch", "--feed", str(LISTING), "--force", cwd=tmp_path, env=env_for(path))
    assert run.status == 2
    line = one_line_error(run)
    assert "the announcement of 2025-11-12 is older than the delivery ledger keeps" in line
    assert line.endswith("nothing was stored (--force cannot change that)")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM announcements").fetchone() == (0,)


# -- channels ------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_channels_shows_titles_servers_and_why_and_blocks_a_chat(tmp_path: Path) -> None:
    """`channels` shows each chat's title, its server's name, and why it is off (gone, unsubscribed,
    deactivated, blocked); --block stops a chat until --unblock, and --deactivate records the operator."""
    path = tmp_path / "digest.db"
    ids = await make_operator_database(path)
    store = await open_store(path)
    try:
        await store.set_channel_names("telegram", "100", "Vision lab", None)
        await store.set_channel_names("discord", "400", "papers", "ML Reading Group")
        await store.set_channel_active(ids["gone"], False, reason=InactiveReason.GONE)
        await store.set_channel_active(ids["failed"], False, reason=InactiveReason.UNSUBSCRIBED)
    finally:
        await store.close()
    env = env_for(path)
    blocked = await arxiv_digest("channels", "--block", str(ids["ok"]), cwd=tmp_path, env=env)
    assert blocked.status == 0, blocked.err
    assert blocked.out.strip() == (
        f"channel #{ids['ok']} telegram 100 (Vision lab): blocked; it gets no digest, and its admins can "
        f"neither change it nor turn it back on, until `arxiv-digest channels --unblock {ids['ok']}`"
    )
    listing = await arxiv_digest("channels", cwd=tmp_path, env=env)
    assert listing.status == 0, listing.err
    rows = {row["ID"]: row for row in columns(listing.out)}
    assert {key: rows[str(ids["ok"])][key] for key in ("TITLE", "SERVER", "ACTIVE", "WHY")} == {
        "TITLE": "Vision lab",
        "SERVER": "-",
        "ACTIVE": "no",
        "WHY": "blocked",
    }
    assert (rows[str(ids["failed"])]["ACTIVE"], rows[str(ids["failed"])]["WHY"]) == ("no", "unsubscribed")
    assert (rows[str(ids["gone"])]["ACTIVE"], rows[str(ids["gone"])]["WHY"]) == ("no", "gone")
    discord = rows[str(ids["discord"])]
    assert (discord["TITLE"], discord["SERVER"], discord["ACTIVE"], discord["WHY"]) == (
        "papers",
        "ML Reading Group",
        "yes",
        "-",
    )
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT blocked, active FROM channels WHERE id = ?", (ids["ok"],)).fetchone() == (
            1,
            1,
        )

    again = await arxiv_digest("channels", "--block", str(ids["ok"]), cwd=tmp_path, env=env)
    assert again.out.strip().endswith(": was already blocked")
    unblocked = await arxiv_digest("channels", "--unblock", str(ids["ok"]), cwd=tmp_path, env=env)
    assert unblocked.out.strip().endswith("(Vision lab): unblocked; its daily digest is on again")
    off = await arxiv_digest("channels", "--deactivate", str(ids["discord"]), cwd=tmp_path, env=env)
    assert off.status == 0, off.err
    with sqlite3.connect(path) as db:
        assert db.execute(
            "SELECT blocked, active, inactive_reason FROM channels WHERE id IN (?, ?) ORDER BY id",
            (ids["ok"], ids["discord"]),
        ).fetchall() == [(0, 1, None), (0, 0, "deactivated")]
    unknown = await arxiv_digest("channels", "--unblock", "9999", cwd=tmp_path, env=env)
    assert unknown.status == 2
    assert "no channel with id 9999" in one_line_error(unknown)


# -- status on a database this process may only read ---------------------------------------------------------
def status_as(uid: int, directory: Path, *args: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """`arxiv-digest status ARGS` (bot.main.cli.main) in a forked child running as `uid`, in `directory`
    (the venv's interpreter is under /root, which other users cannot run): (exit status, stdout, stderr)."""
    import contextlib
    import io
    import os
    import select
    import signal
    import sys
    import warnings

    from bot.main import cli

    reader, writer = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads warns on Python 3.12+
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(reader)
            os.chdir(directory)
            os.environ.clear()
            os.environ.update(
                {"DATABASE_URL": f"sqlite:///{directory / 'arxiv-digest.db'}", "HOME": str(directory)}
            )
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err):
                sys.stderr = err
                status = cli.main(["status", *args], out=out)
            os.write(writer, json.dumps([status, out.getvalue(), err.getvalue()]).encode())
            code = 0
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.write(writer, json.dumps([-1, "", f"crash {type(error).__name__}: {error}"]).encode())
        finally:
            os._exit(code)
    os.close(writer)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([reader], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"status as uid {uid} did not finish within {timeout} s")
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    status, out, err = json.loads(b"".join(chunks).decode())
    return int(status), str(out), str(err)


def test_status_works_on_a_database_it_may_only_read(shared_dir: Path) -> None:
    """A root-owned 0644 database in a root-owned 0755 directory (an operator's read-only mount, or a
    healthcheck as another user): `status --json` as an unprivileged user reads it and reports, exit 0,
    and nothing in the directory changes."""
    import asyncio

    path = shared_dir / "arxiv-digest.db"

    async def prepare() -> None:
        """A served chat, an ok delivery, a fresh feed check."""
        await make_operator_database(path)
        await checked_now(path)

    asyncio.run(prepare())
    before = fingerprint(shared_dir)
    status, out, err = status_as(NOBODY, shared_dir, "--json")
    assert status == 0, out + err
    document = json.loads(out)
    assert document["healthy"] is True
    assert document["channels"]["telegram"] == {"active": 2, "inactive": 1, "blocked": 0}
    assert fingerprint(shared_dir) == before
