"""The SQLite store against real files: migrations, announcements, channels, the ledger, state."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.resources
import pathlib
import sqlite3
from typing import Any

import pytest

from bot.models import AnnounceType, Channel, DeliveryResult, FeedCheck, Style, Topic, Vote
from bot.ports import PrunedAnnouncementError, Store, StoreError
from storage.migrations import Migration, MigrationError, SchemaTooNewError, load_migrations
from storage.sqlite_store import SqliteStore, open_store
from tests.builders import DAY, SettableClock, make_announcement, make_channel, make_paper
from tests.storage.conftest import Peek, raw, rows

pytestmark = pytest.mark.both_engines

TABLES = {
    "announcement_papers",
    "channel_claims",
    "bookmarks",
    "digest_views",
    "delivery_results",
    "feed_checks",
    "announcements",
    "channels",
    "deliveries",
    "papers",
    "schema_migrations",
    "state",
    "topics",
    "vote_versions",
    "votes",
}


def table_names(path: pathlib.Path) -> set[str]:
    """The tables in the file."""
    return {name for (name,) in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


async def stored_channel(store: SqliteStore, chat_id: str = "-100", **extra: Any) -> Channel:
    """Save a channel and return it with its id."""
    channel = await store.save_channel(make_channel(chat_id, **extra))
    assert channel.id is not None
    return channel


def channel_id(channel: Channel) -> int:
    """The stored channel's id."""
    assert channel.id is not None
    return channel.id


# -- the port --------------------------------------------------------------------------------------
async def test_store_satisfies_the_port(store: SqliteStore) -> None:
    """SqliteStore can stand wherever the core expects a `Store` (mypy --strict checks this line)."""
    port: Store = store
    assert await port.get_state("nothing") is None


# -- opening and migrations ------------------------------------------------------------------------
async def test_migrations_create_the_schema_from_empty(db_path: pathlib.Path, clock: SettableClock) -> None:
    """Opening a missing file creates its directory, every table, and records each migration once."""
    assert not db_path.parent.exists()
    store = await open_store(db_path, clock=clock)
    await store.close()
    assert table_names(db_path) >= TABLES
    shipped = load_migrations()
    recorded = rows(
        db_path, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    )
    assert recorded == [(m.version, m.name, m.checksum, "2025-11-27T12:00:00+00:00") for m in shipped]
    assert recorded[0][:2] == (1, "initial")


async def test_second_startup_is_a_noop(db_path: pathlib.Path, clock: SettableClock) -> None:
    """Opening an up-to-date file again applies nothing and keeps every row."""
    async with await open_store(db_path, clock=clock) as store:
        await store.save_announcement(make_announcement())
        await store.set_state("k", "v")
    before = rows(db_path, "SELECT * FROM schema_migrations")
    schema_before = rows(db_path, "SELECT sql FROM sqlite_master ORDER BY name")
    clock.advance(days=1)
    async with await open_store(db_path, clock=clock) as store:
        assert await store.get_announcement(DAY) == make_announcement()
        assert await store.get_state("k") == "v"
    assert rows(db_path, "SELECT * FROM schema_migrations") == before
    assert rows(db_path, "SELECT sql FROM sqlite_master ORDER BY name") == schema_before


async def test_restart_loses_nothing(db_path: pathlib.Path, clock: SettableClock) -> None:
    """Announcements, channels with topics, the ledger and state all survive close and reopen."""
    channel = make_channel(delivery_time=dt.time(8, 30), timezone="Europe/Berlin", done_up_to=DAY)
    async with await open_store(db_path, clock=clock) as store:
        await store.save_announcement(make_announcement())
        saved = await store.save_channel(channel)
        cid = channel_id(saved)
        await store.record_delivery(cid, DAY, "2511.00001")
        await store.reserve_deliveries(cid, DAY, ["2511.00003"])
        await store.set_state("feed:last_check", "2025-11-27T01:00:00+00:00")
    async with await open_store(db_path, clock=clock) as store:
        assert await store.get_announcement(DAY) == make_announcement()
        assert await store.get_channel("telegram", "-100") == dataclasses.replace(channel, id=cid)
        assert await store.delivered_ids(cid) == {"2511.00001"}
        assert await store.reserve_deliveries(cid, DAY, ["2511.00001", "2511.00003"]) == ["2511.00003"]
        assert await store.get_state("feed:last_check") == "2025-11-27T01:00:00+00:00"


NEXT_VERSION = len(load_migrations()) + 1  # a migration this build does not ship


@pytest.mark.sqlite_only
async def test_wal_mode_is_on(store: SqliteStore, db_path: pathlib.Path) -> None:
    """The file is in write-ahead-log mode, so readers never block the writer."""
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.sqlite_only
async def test_foreign_keys_are_enforced(store: SqliteStore, db_path: pathlib.Path) -> None:
    """A ledger row for a channel that does not exist is refused, and nothing is stored."""
    with pytest.raises(sqlite3.IntegrityError):
        await store.reserve_deliveries(42, DAY, ["2511.00001"])
    assert rows(db_path, "SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.sqlite_only
async def test_a_writer_waits_for_another_process_lock(store: SqliteStore, db_path: pathlib.Path) -> None:
    """The busy timeout makes a write wait for another connection's write lock instead of failing."""
    with raw(db_path) as other:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        await store.set_state("k", "v")
        assert not other.in_transaction
    assert await store.get_state("k") == "v"


async def test_unknown_future_migration_is_refused_and_data_kept(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """A file migrated by a newer version is refused with a clear error and left untouched."""
    async with await open_store(db_path, clock=clock) as store:
        await store.save_announcement(make_announcement())
        await store.save_channel(make_channel())
        await store.set_vote("telegram", "-100", "u1", "2511.00003", DAY, Vote.UP, clock())
        await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, clock())
    with raw(db_path) as connection:
        connection.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from_the_future', 'x', '2026-01-01T00:00:00+00:00')",
            (NEXT_VERSION,),
        )
    before = {table: rows(db_path, f"SELECT * FROM {table}") for table in TABLES}
    with pytest.raises(SchemaTooNewError, match=rf"V{NEXT_VERSION} .*newer version.*nothing was changed"):
        await open_store(db_path, clock=clock)
    assert {table: rows(db_path, f"SELECT * FROM {table}") for table in TABLES} == before


async def test_a_later_migration_applies_on_top_of_existing_data(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """A new numbered migration runs once on an existing file, keeping its rows."""
    async with await open_store(db_path, clock=clock) as store:
        await store.set_state("k", "v")
    v2 = Migration(
        NEXT_VERSION,
        "state_note",
        "-- V9__state_note: a test column.\nALTER TABLE state ADD COLUMN note TEXT;\n",
    )
    for _ in range(2):
        async with await open_store(db_path, clock=clock, migrations=[*load_migrations(), v2]) as store:
            assert await store.get_state("k") == "v"
    assert rows(db_path, "SELECT version, name FROM schema_migrations ORDER BY version") == [
        *((m.version, m.name) for m in load_migrations()),
        (NEXT_VERSION, "state_note"),
    ]
    assert rows(db_path, "SELECT key, value, note FROM state") == [("k", "v", None)]


async def test_a_failing_migration_is_rolled_back(db_path: pathlib.Path, clock: SettableClock) -> None:
    """A migration that fails half-way leaves neither its first statements nor a record behind."""
    async with await open_store(db_path, clock=clock) as store:
        await store.set_state("k", "v")
    broken = Migration(
        NEXT_VERSION, "broken", "CREATE TABLE extra (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    with pytest.raises(
        MigrationError, match=rf"V{NEXT_VERSION}__broken failed and was rolled back: no such table"
    ):
        await open_store(db_path, clock=clock, migrations=[*load_migrations(), broken])
    assert "extra" not in table_names(db_path)
    assert rows(db_path, "SELECT version FROM schema_migrations") == [(m.version,) for m in load_migrations()]
    async with await open_store(db_path, clock=clock) as store:
        assert await store.get_state("k") == "v"


def test_shipped_migrations_are_numbered_and_explain_themselves() -> None:
    """Every shipped migration is V1..Vn, starts with a header comment naming it, and splits cleanly."""
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        assert migration.sql.startswith(f"-- {migration.label}:")
        assert migration.statements()
    folder = importlib.resources.files("storage").joinpath("migrations").joinpath("sqlite")
    assert {entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")} == {
        f"{m.label}.sql" for m in migrations
    }


def test_badly_named_or_numbered_migration_files_are_refused(tmp_path: pathlib.Path) -> None:
    """A file not named V<n>__<name>.sql, or a gap in the numbers, is a clear error."""
    (tmp_path / "V1__first.sql").write_text("-- V1__first: x.\nCREATE TABLE a (x INTEGER);\n")
    (tmp_path / "V3__third.sql").write_text("-- V3__third: x.\nCREATE TABLE c (x INTEGER);\n")
    with pytest.raises(MigrationError, match=r"without gaps"):
        load_migrations(tmp_path)
    (tmp_path / "2_second.sql").write_text("CREATE TABLE b (x INTEGER);\n")
    with pytest.raises(MigrationError, match=r"'2_second.sql' is not named"):
        load_migrations(tmp_path)


def test_a_migration_may_not_manage_its_own_transaction() -> None:
    """BEGIN/COMMIT inside a migration file is refused: the runner owns the transaction."""
    with pytest.raises(MigrationError, match=r"must not manage transactions \(COMMIT\)"):
        Migration(2, "x", "CREATE TABLE a (x INTEGER);\n-- done\nCOMMIT;\n").statements()
    with pytest.raises(MigrationError, match=r"unterminated"):
        Migration(2, "x", "CREATE TABLE a (x INTEGER)\n").statements()
    text = (
        "-- ; in a comment\nCREATE TABLE a (x TEXT DEFAULT ';');\n/* ; */ CREATE INDEX i ON a (x);\n-- end\n"
    )
    assert len(Migration(2, "x", text).statements()) == 2


async def test_a_file_that_is_not_a_database_is_a_clear_error(db_path: pathlib.Path) -> None:
    """Opening some other file fails with a one-line StoreError naming the file, not a traceback."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database, just some text that is long enough" * 20)
    with pytest.raises(StoreError, match=r"bot.sqlite3 is not an SQLite database \(wrong file\?\)"):
        await open_store(db_path)


async def test_a_closed_store_says_so(db_path: pathlib.Path) -> None:
    """Closing twice is harmless; using a closed store raises StoreError."""
    store = await open_store(db_path)
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_state("k")


# -- announcements ---------------------------------------------------------------------------------
@pytest.mark.sqlite_only
async def test_an_announcement_round_trips(store: SqliteStore) -> None:
    """A stored announcement comes back equal: order, announce types, versions, DOI, source and all."""
    papers = (
        make_paper("2511.00009", doi="10.1000/xyz", journal_ref="Nature 1 (2025)"),
        make_paper("hep-th/9901001", announce_type=AnnounceType.REPLACE_CROSS, version=4, categories=()),
        make_paper("2511.00002", announce_type=AnnounceType.CROSS),
        make_paper("2511.00001", announce_type=AnnounceType.NEW, authors=()),
    )
    announcement = make_announcement(papers=papers, categories=("cs.CL", "cs.CV"), source="api")
    assert await store.save_announcement(announcement) is True
    assert await store.get_announcement(DAY) == announcement
    assert await store.get_announcement(DAY + dt.timedelta(days=1)) is None


async def test_saving_the_same_date_twice_returns_false(store: SqliteStore, peek: Peek) -> None:
    """The second save of a date returns False and stores nothing of the second version."""
    assert await store.save_announcement(make_announcement()) is True
    other = make_announcement(papers=(make_paper("2511.77777"),))
    assert await store.save_announcement(other) is False
    assert await store.get_announcement(DAY) == make_announcement()
    assert await peek("SELECT count(*) FROM papers WHERE arxiv_id = '2511.77777'") == [(0,)]


async def test_extending_an_announcement_appends_only_the_papers_it_lacks(
    store: SqliteStore, peek: Peek
) -> None:
    """A wider feed of the same day adds its new papers after the old ones; listed ones stay as they were."""
    first = make_announcement(categories=("cs.CL",))
    assert await store.save_announcement(first)
    assert await store.announcement_categories(DAY) == ("cs.CL",)
    wider = make_announcement(
        papers=(
            make_paper("2511.00050", categories=("math.CO",)),
            make_paper("2511.00001", version=2, announce_type=AnnounceType.NEW),  # already listed
            make_paper("2511.00051", categories=("math.CO", "cs.CL")),
        ),
        categories=("cs.CL", "math.CO"),
    )
    assert await store.extend_announcement(wider) == 2
    stored = await store.get_announcement(DAY)
    assert stored is not None
    assert [p.arxiv_id for p in stored.papers] == [
        *(p.arxiv_id for p in first.papers),
        "2511.00050",
        "2511.00051",
    ]
    assert stored.papers[1] == first.papers[1]  # version and announce type as first announced
    assert stored.categories == ("cs.CL", "math.CO")
    assert await peek("SELECT paper_count FROM announcements") == [(5,)]
    assert await store.extend_announcement(wider) == 0  # a second time adds nothing
    assert await store.extend_announcement(make_announcement(DAY + dt.timedelta(days=1))) == 0
    assert await store.announcement_categories(DAY + dt.timedelta(days=1)) is None


async def test_a_replacement_updates_the_paper_but_not_the_old_announcement(
    store: SqliteStore, peek: Peek
) -> None:
    """A paper re-announced as v2 is stored once as v2; the earlier day still lists it as v1, new."""
    first = make_announcement(DAY, (make_paper("2511.00001", version=1, title="Old title"),))
    second = make_announcement(
        DAY + dt.timedelta(days=1),
        (make_paper("2511.00001", version=2, title="New title", announce_type=AnnounceType.REPLACE),),
    )
    await store.save_announcement(first)
    await store.save_announcement(second)
    assert await peek("SELECT arxiv_id, version, title FROM papers") == [("2511.00001", 2, "New title")]
    old = await store.get_announcement(DAY)
    assert old is not None
    assert (old.papers[0].version, old.papers[0].announce_type) == (1, AnnounceType.NEW)
    new = await store.get_announcement(DAY + dt.timedelta(days=1))
    assert new is not None
    assert (new.papers[0].version, new.papers[0].announce_type) == (2, AnnounceType.REPLACE)


async def test_a_recovered_older_day_does_not_downgrade_a_paper(store: SqliteStore, peek: Peek) -> None:
    """Saving an earlier day (API recovery) after a later one keeps the paper row at its newest version."""
    await store.save_announcement(
        make_announcement(DAY, (make_paper("2511.00001", version=2, title="v2", doi="10.1/x"),))
    )
    await store.save_announcement(
        make_announcement(DAY - dt.timedelta(days=1), (make_paper("2511.00001", version=1, title="v1"),))
    )
    assert await peek("SELECT version, title, doi FROM papers") == [(2, "v2", "10.1/x")]


async def test_a_paper_listed_twice_is_stored_once(store: SqliteStore) -> None:
    """A feed that lists a paper twice is stored with its first occurrence only."""
    papers = (make_paper("a"), make_paper("b"), make_paper("a", announce_type=AnnounceType.CROSS))
    await store.save_announcement(make_announcement(papers=papers))
    stored = await store.get_announcement(DAY)
    assert stored is not None
    assert [(p.arxiv_id, p.announce_type) for p in stored.papers] == [("a", "new"), ("b", "new")]


@pytest.mark.sqlite_only
async def test_a_failed_save_stores_nothing(store: SqliteStore, db_path: pathlib.Path) -> None:
    """When a row is refused half-way, the whole announcement is rolled back and can be saved later."""
    bad = make_announcement(papers=(make_paper("2511.00001"), make_paper("2511.00002", version=0)))
    with pytest.raises(sqlite3.IntegrityError):
        await store.save_announcement(bad)
    assert await store.get_announcement(DAY) is None
    assert rows(db_path, "SELECT count(*) FROM papers") == [(0,)]
    assert await store.save_announcement(make_announcement()) is True


async def test_latest_announcement_and_dates(store: SqliteStore) -> None:
    """The latest announcement is the newest date; dates since a day come oldest first."""
    assert await store.latest_announcement() is None
    days = [DAY - dt.timedelta(days=n) for n in (0, 5, 1)]
    for day in days:
        await store.save_announcement(make_announcement(day))
    assert await store.latest_announcement() == make_announcement(DAY)
    assert await store.announcement_dates(DAY - dt.timedelta(days=1)) == [DAY - dt.timedelta(days=1), DAY]
    assert await store.announcement_dates(DAY + dt.timedelta(days=1)) == []


async def test_prune_drops_old_days_their_ledger_and_papers_but_keeps_what_a_kept_day_lists(
    store: SqliteStore, peek: Peek
) -> None:
    """Pruning drops old days, the papers and ledger rows only they listed; a paper still listed stays."""
    old_day, recent = dt.date(2025, 10, 1), dt.date(2025, 11, 20)
    await store.save_announcement(make_announcement(old_day, (make_paper("old-only"), make_paper("both"))))
    await store.save_announcement(make_announcement(recent, (make_paper("both", version=2),)))
    cid = channel_id(await stored_channel(store))
    await store.record_delivery(cid, old_day, "old-only")
    await store.record_delivery(cid, old_day, "both")
    await store.reserve_deliveries(cid, old_day, ["old-pending"])
    assert await store.prune_announcements(dt.date(2025, 11, 1)) == 1
    assert await store.announcement_dates(dt.date(2000, 1, 1)) == [recent]
    assert await peek("SELECT arxiv_id FROM papers") == [("both",)]
    # The replacement announced again on a kept day is still known as sent: it is not sent twice.
    assert await peek("SELECT arxiv_id, status FROM deliveries") == [("both", "sent")]
    assert await store.reserve_deliveries(cid, recent, ["both"]) == []
    assert await store.get_announcement(recent) == make_announcement(recent, (make_paper("both", version=2),))


async def test_an_announcement_before_the_pruned_horizon_is_refused_so_nothing_is_sent_twice(
    store: SqliteStore,
) -> None:
    """Once a day's ledger is pruned, storing that day again is a clear error, and the horizon only grows."""
    old_day = dt.date(2025, 10, 1)
    await store.save_announcement(make_announcement(old_day))
    await store.prune_announcements(dt.date(2025, 11, 1))
    assert await store.save_announcement(make_announcement(old_day)) is True  # no ledger went: no horizon
    await store.record_delivery(channel_id(await stored_channel(store)), old_day, "2511.00001")
    await store.prune_announcements(dt.date(2025, 11, 1))
    with pytest.raises(
        PrunedAnnouncementError, match=r"2025-10-01 .*pruned before 2025-11-01.*RETENTION_DAYS"
    ):
        await store.save_announcement(make_announcement(old_day))
    assert await store.announcement_dates(dt.date(2000, 1, 1)) == []
    await store.record_delivery(channel_id(await stored_channel(store)), dt.date(2025, 10, 5), "x")
    await store.prune_announcements(dt.date(2025, 10, 15))  # an earlier cutoff leaves the horizon alone
    with pytest.raises(PrunedAnnouncementError):
        await store.save_announcement(make_announcement(dt.date(2025, 10, 20)))
    assert await store.save_announcement(make_announcement(dt.date(2025, 11, 1))) is True


async def test_prune_never_drops_the_last_fourteen_days(store: SqliteStore, clock: SettableClock) -> None:
    """Asking to prune everything before today still keeps the announcements of the last 14 days."""
    today = clock().date()
    for days_ago in (20, 14, 13, 0):
        await store.save_announcement(make_announcement(today - dt.timedelta(days=days_ago)))
    assert await store.prune_announcements(today + dt.timedelta(days=1)) == 1
    assert await store.announcement_dates(dt.date(2000, 1, 1)) == [
        today - dt.timedelta(days=14),
        today - dt.timedelta(days=13),
        today,
    ]


# -- channels and topics ---------------------------------------------------------------------------
async def test_save_channel_inserts_then_updates_by_platform_and_chat(store: SqliteStore) -> None:
    """Saving the same (platform, chat) again keeps the id and replaces settings and topics, in order."""
    first = await stored_channel(store, delivery_time=dt.time(7, 0))
    topics = (Topic("z-last", ("zeta",)), Topic("a-first", ("alpha",), categories=("math.AG",)))
    changed: dict[str, Any] = {
        "delivery_time": None,
        "active": False,
        "notify_empty": False,
        "style": Style.TITLES,
        "send_file": True,
        "topics": topics,
    }
    second = await store.save_channel(make_channel(**changed))
    assert second.id == first.id
    assert second == make_channel(id=first.id, **changed)
    assert await store.get_channel("telegram", "-100") == second
    assert await store.get_channel("discord", "-100") is None


async def test_save_channel_keeps_delivery_time_to_the_minute(store: SqliteStore, peek: Peek) -> None:
    """A delivery time is stored as HH:MM and comes back without seconds."""
    saved = await stored_channel(store, delivery_time=dt.time(8, 5, 59))
    assert saved.delivery_time == dt.time(8, 5)
    assert await peek("SELECT delivery_time FROM channels") == [("08:05",)]


async def test_duplicate_topic_names_are_refused(store: SqliteStore) -> None:
    """Two topics with one name in a channel raise ValueError and leave the stored channel as it was."""
    before = await stored_channel(store)
    with pytest.raises(ValueError, match="two topics named 'llm'"):
        await store.save_channel(make_channel(topics=(Topic("llm", ("a",)), Topic("llm", ("b",)))))
    assert await store.get_channel("telegram", "-100") == before


async def test_list_channels_filters_by_activity_and_platform(store: SqliteStore) -> None:
    """list_channels returns active channels by default, all on request, and one platform's if asked."""
    on = await stored_channel(store, "1")
    off = await stored_channel(store, "2", active=False)
    discord = await stored_channel(store, "3", platform="discord", topics=())
    assert await store.list_channels() == [on, discord]
    assert await store.list_channels(active_only=False) == [on, off, discord]
    assert await store.list_channels(active_only=False, platform="telegram") == [on, off]
    assert await store.list_channels(platform="discord") == [discord]


async def test_subscribed_categories_come_from_active_channels_only(store: SqliteStore) -> None:
    """The union of explicit topic categories of active channels; inactive channels don't count."""
    await stored_channel(store, "1")
    await stored_channel(store, "2", topics=(Topic("t", ("x",), categories=("cs.CL", "stat.ML")),))
    await stored_channel(store, "3", active=False, topics=(Topic("t", ("x",), categories=("q-bio.NC",)),))
    assert await store.subscribed_categories() == {"cs.CL", "cs.CV", "eess.IV", "stat.ML"}


async def test_move_channel_keeps_id_topics_and_ledger(store: SqliteStore) -> None:
    """A re-keyed channel keeps its id, settings, topics and ledger; the old chat id is gone."""
    before = await stored_channel(store, "-100", delivery_time=dt.time(9, 0))
    await store.record_delivery(channel_id(before), DAY, "2511.00001")
    moved = await store.move_channel("telegram", "-100", "-1009999")
    assert moved == dataclasses.replace(before, chat_id="-1009999")
    assert await store.get_channel("telegram", "-100") is None
    assert await store.get_channel("telegram", "-1009999") == moved
    assert await store.delivered_ids(channel_id(before)) == {"2511.00001"}
    assert await store.record_delivery(channel_id(before), DAY, "2511.00001") is False


async def test_move_channel_of_unknown_or_already_moved_chat(store: SqliteStore) -> None:
    """Moving an unknown chat returns None; repeating a finished move returns the moved channel."""
    assert await store.move_channel("telegram", "-1", "-2") is None
    await stored_channel(store, "-1")
    moved = await store.move_channel("telegram", "-1", "-2")
    assert moved is not None
    assert await store.move_channel("telegram", "-1", "-2") == moved
    assert await store.move_channel("telegram", "-2", "-2") == moved


async def test_move_channel_onto_an_existing_chat_merges_into_the_moved_one(
    store: SqliteStore, peek: Peek
) -> None:
    """Moving onto a stored chat keeps the moved channel; the other's extra topics and ledger join it."""
    moved = await stored_channel(store, "-1", active=False, style=Style.FULL)
    target_topics = (Topic("llm", ("other",)), Topic("robots", ("robot",)))
    target = await stored_channel(store, "-2", active=True, topics=target_topics)
    mid, tid = channel_id(moved), channel_id(target)
    await store.reserve_deliveries(mid, DAY, ["both-pending-here", "only-moved"])
    await store.record_delivery(tid, DAY, "both-pending-here")
    await store.record_delivery(tid, DAY, "only-target")
    await store.reserve_deliveries(tid, DAY, ["pending-target"])
    merged = await store.move_channel("telegram", "-1", "-2")
    assert merged == dataclasses.replace(
        moved, chat_id="-2", active=True, topics=(*moved.topics, Topic("robots", ("robot",)))
    )
    assert await store.list_channels(active_only=False) == [merged]
    assert await peek("SELECT channel_id, arxiv_id, status FROM deliveries ORDER BY arxiv_id") == [
        (mid, "both-pending-here", "sent"),
        (mid, "only-moved", "pending"),
        (mid, "only-target", "sent"),
        (mid, "pending-target", "pending"),
    ]


# -- the delivery ledger ---------------------------------------------------------------------------
async def test_the_ledger_refuses_a_second_delivery(store: SqliteStore) -> None:
    """Once a paper is sent to a channel, record_delivery says False and reserve never returns it."""
    cid = channel_id(await stored_channel(store))
    assert await store.record_delivery(cid, DAY, "2511.00001") is True
    assert await store.record_delivery(cid, DAY + dt.timedelta(days=1), "2511.00001") is False
    assert await store.reserve_deliveries(cid, DAY, ["2511.00001"]) == []
    assert await store.delivered_ids(cid, ["2511.00001", "2511.00002"]) == {"2511.00001"}


async def test_record_delivery_refuses_a_pending_paper_too(store: SqliteStore) -> None:
    """record_delivery returns False and changes nothing when the paper is already pending."""
    cid = channel_id(await stored_channel(store))
    await store.reserve_deliveries(cid, DAY, ["p"])
    assert await store.record_delivery(cid, DAY, "p") is False
    assert await store.delivered_ids(cid) == set()


async def test_two_channels_have_independent_ledgers(store: SqliteStore) -> None:
    """A paper sent to one channel is still deliverable to another."""
    one = channel_id(await stored_channel(store, "1"))
    two = channel_id(await stored_channel(store, "2", platform="discord"))
    await store.record_delivery(one, DAY, "p")
    assert await store.reserve_deliveries(two, DAY, ["p"]) == ["p"]
    assert await store.delivered_ids(two) == set()
    assert await store.delivered_ids(one) == {"p"}


async def test_reserve_returns_new_ids_in_order_without_duplicates(store: SqliteStore) -> None:
    """reserve_deliveries answers in the given order, each id once, leaving out sent ones."""
    cid = channel_id(await stored_channel(store))
    await store.record_delivery(cid, DAY, "b")
    assert await store.reserve_deliveries(cid, DAY, ["c", "b", "a", "c", "d"]) == ["c", "a", "d"]
    assert await store.reserve_deliveries(cid, DAY, []) == []


async def test_pending_rows_come_back_after_a_crash(db_path: pathlib.Path, clock: SettableClock) -> None:
    """Papers reserved but never confirmed are reserved again after a restart; confirm marks them sent."""
    async with await open_store(db_path, clock=clock) as store:
        cid = channel_id(await stored_channel(store))
        assert await store.reserve_deliveries(cid, DAY, ["a", "b"]) == ["a", "b"]
        await store.confirm_deliveries(cid, ["a"])
    clock.advance(minutes=5)
    async with await open_store(db_path, clock=clock) as store:
        assert await store.reserve_deliveries(cid, DAY, ["a", "b", "c"]) == ["b", "c"]
        await store.confirm_deliveries(cid, ["b", "c", "never-reserved"])
        assert await store.delivered_ids(cid) == {"a", "b", "c"}
        assert await store.reserve_deliveries(cid, DAY, ["a", "b", "c"]) == []
    assert rows(db_path, "SELECT arxiv_id, sent_at FROM deliveries ORDER BY arxiv_id") == [
        ("a", "2025-11-27T12:00:00+00:00"),
        ("b", "2025-11-27T12:05:00+00:00"),
        ("c", "2025-11-27T12:05:00+00:00"),
    ]


async def test_release_drops_only_pending_rows(store: SqliteStore) -> None:
    """release_deliveries forgets pending papers (they can be reserved again) but never sent ones."""
    cid = channel_id(await stored_channel(store))
    await store.record_delivery(cid, DAY, "sent")
    await store.reserve_deliveries(cid, DAY, ["pending"])
    await store.release_deliveries(cid, ["sent", "pending", "unknown"])
    assert await store.delivered_ids(cid) == {"sent"}
    assert await store.record_delivery(cid, DAY, "pending") is True


async def test_thousands_of_ids_work(store: SqliteStore) -> None:
    """Reserving, confirming, querying and releasing 5,000 ids at once works and keeps order."""
    cid = channel_id(await stored_channel(store))
    ids = [f"2511.{n:05d}" for n in range(5000)]
    assert await store.reserve_deliveries(cid, DAY, ids) == ids
    await store.confirm_deliveries(cid, ids[::2])
    assert await store.delivered_ids(cid, ids) == set(ids[::2])
    assert await store.reserve_deliveries(cid, DAY, list(reversed(ids))) == list(reversed(ids[1::2]))
    await store.release_deliveries(cid, ids)
    assert await store.reserve_deliveries(cid, DAY, ids) == ids[1::2]


@pytest.mark.sqlite_only
async def test_deleting_a_channel_row_removes_its_topics_and_ledger(
    store: SqliteStore, db_path: pathlib.Path
) -> None:
    """Topics and ledger rows belong to their channel (ON DELETE CASCADE)."""
    cid = channel_id(await stored_channel(store))
    await store.record_delivery(cid, DAY, "p")
    with raw(db_path) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("DELETE FROM channels WHERE id = ?", (cid,))
    assert rows(db_path, "SELECT count(*) FROM topics") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM deliveries") == [(0,)]


# -- state -----------------------------------------------------------------------------------------
async def test_state_is_saved_and_overwritten(store: SqliteStore) -> None:
    """set_state stores a value that get_state returns; a second set replaces it."""
    assert await store.get_state("delivery:last:1") is None
    await store.set_state("delivery:last:1", '{"result": "ok"}')
    await store.set_state("delivery:last:1", '{"result": "failed"}')
    assert await store.get_state("delivery:last:1") == '{"result": "failed"}'


# -- concurrency -----------------------------------------------------------------------------------
@pytest.mark.sqlite_only
async def test_concurrent_writers_do_not_corrupt_or_double_insert(
    store: SqliteStore, db_path: pathlib.Path
) -> None:
    """Many coroutines saving and reserving at once: one save per date wins, each ledger row exists once."""
    cid = channel_id(await stored_channel(store))
    ids = [f"p{n}" for n in range(300)]
    saves = [store.save_announcement(make_announcement(DAY - dt.timedelta(days=n % 3))) for n in range(12)]
    reserves = [store.reserve_deliveries(cid, DAY, ids[n * 20 : n * 20 + 100]) for n in range(10)]
    channels = [store.save_channel(make_channel(f"c{n % 4}")) for n in range(8)]
    saved, reserved, _, _ = await asyncio.gather(
        asyncio.gather(*saves),
        asyncio.gather(*reserves),
        asyncio.gather(*channels),
        store.set_state("k", "v"),
    )
    assert sorted(saved) == [False] * 9 + [True] * 3
    assert {arxiv_id for batch in reserved for arxiv_id in batch} == set(ids[:280])
    assert rows(db_path, "SELECT count(*), count(DISTINCT arxiv_id) FROM deliveries") == [(280, 280)]
    assert rows(db_path, "SELECT count(*) FROM announcement_papers") == [(9,)]
    assert len(await store.list_channels()) == 5
    assert rows(db_path, "SELECT count(*) FROM topics") == [(10,)]
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]


async def test_a_reader_never_sees_a_half_written_announcement(store: SqliteStore) -> None:
    """Reads racing a large save see either nothing or the whole announcement."""
    papers = tuple(make_paper(f"2511.{n:05d}") for n in range(2000))
    big = make_announcement(papers=papers)
    save = asyncio.create_task(store.save_announcement(big))
    seen = []
    while not save.done():
        seen.append(await store.get_announcement(DAY))
    await save
    assert all(s is None or s == big for s in seen)
    assert await store.get_announcement(DAY) == big


async def test_a_cancelled_save_is_all_or_nothing(store: SqliteStore) -> None:
    """Cancelling a save mid-way leaves the announcement whole or absent, and the store usable."""
    papers = tuple(make_paper(f"2511.{n:05d}") for n in range(2000))
    big = make_announcement(papers=papers)
    save = asyncio.create_task(store.save_announcement(big))
    for _ in range(3):
        await asyncio.sleep(0)
    save.cancel()
    with pytest.raises(asyncio.CancelledError):
        await save
    assert await store.get_announcement(DAY) in (None, big)
    await store.set_state("after", "cancel")
    assert await store.get_state("after") == "cancel"


async def test_delivery_cursor_never_moves_backwards(store: SqliteStore) -> None:
    """Saving a stale copy of a channel (or an older date) cannot move its delivery cursor back."""
    channel = await stored_channel(store)
    await store.set_done_up_to(channel_id(channel), DAY)
    stale = dataclasses.replace(channel, done_up_to=None, timezone="Europe/Berlin")
    saved = await store.save_channel(stale)
    assert saved.done_up_to == DAY
    assert saved.timezone == "Europe/Berlin"
    await store.set_done_up_to(channel_id(channel), DAY - dt.timedelta(days=3))
    reloaded = await store.get_channel(channel.platform, channel.chat_id)
    assert reloaded is not None
    assert reloaded.done_up_to == DAY
    newer = await store.save_channel(dataclasses.replace(saved, done_up_to=DAY + dt.timedelta(days=1)))
    assert newer.done_up_to == DAY + dt.timedelta(days=1)


async def test_set_channel_active_keeps_topics(store: SqliteStore) -> None:
    """Turning the digest off touches nothing else of the channel."""
    channel = await stored_channel(store)
    await store.set_channel_active(channel_id(channel), False)
    reloaded = await store.get_channel(channel.platform, channel.chat_id)
    assert reloaded is not None
    assert reloaded.active is False
    assert reloaded.topics == channel.topics


# -- typed records for /status, servers ---------------------------------------------------------------------
async def test_feed_check_and_delivery_result_round_trip(store: SqliteStore) -> None:
    """The last feed check and a channel's last delivery result come back as they were recorded."""
    assert await store.last_feed_check() is None
    check = FeedCheck(
        checked_at=dt.datetime(2025, 11, 12, 1, 0, tzinfo=dt.UTC),
        outcome="new",
        date=DAY,
        message="stored",
        papers=3,
    )
    await store.record_feed_check(check)
    later = dataclasses.replace(check, outcome="error", date=None, message="arXiv answered 503", papers=0)
    await store.record_feed_check(later)
    assert await store.last_feed_check() == later
    cid = channel_id(await store.save_channel(make_channel()))
    assert await store.last_delivery_result(cid) is None
    result = DeliveryResult(cid, dt.datetime(2025, 11, 12, 7, 0, tzinfo=dt.UTC), DAY, "ok", 5)
    await store.record_delivery_result(result)
    assert await store.last_delivery_result(cid) == result


async def test_v2_carries_the_json_state_of_v1_over(db_path: pathlib.Path, clock: SettableClock) -> None:
    """Upgrading a V1 file turns its JSON feed check and delivery results into typed rows, losing none."""
    async with await open_store(db_path, clock=clock, migrations=load_migrations()[:1]) as old:
        with raw(db_path) as connection:  # V1's columns: the store's own INSERT writes V2's too
            connection.execute(
                "INSERT INTO channels (platform, chat_id, timezone, active, max_inline_papers, notify_empty,"
                " created_at, updated_at) VALUES ('telegram', '5', 'UTC', 1, 30, 1, 'x', 'x')"
            )
            connection.commit()
        cid = int(rows(db_path, "SELECT id FROM channels")[0][0])
        await old.set_state(
            "ingest:last_check",
            '{"checked_at": "2025-11-12T01:00:00+00:00", "date": "2025-11-12", "outcome": "new",'
            ' "message": "", "papers": 7}',
        )
        await old.set_state(
            f"delivery:last:{cid}",
            '{"at": "2025-11-12T07:00:00+00:00", "date": "2025-11-12", "result": "ok", "papers": 4}',
        )
        await old.set_state("delivery:last:999", "{not json")
    async with await open_store(db_path, clock=clock) as store:
        assert await store.last_feed_check() == FeedCheck(
            dt.datetime(2025, 11, 12, 1, 0, tzinfo=dt.UTC), "new", dt.date(2025, 11, 12), "", 7
        )
        assert await store.last_delivery_result(cid) == DeliveryResult(
            cid, dt.datetime(2025, 11, 12, 7, 0, tzinfo=dt.UTC), dt.date(2025, 11, 12), "ok", 4
        )
        assert await store.get_state("ingest:last_check") is None
        assert await store.get_state("delivery:last:999") == "{not json"  # unreadable: left, not lost


async def test_channels_know_their_server(store: SqliteStore) -> None:
    """A channel keeps its server; a later save without one keeps it; a server lists its channels."""
    first = await store.save_channel(Channel("discord", "11", server_id="900", active=True))
    await store.save_channel(Channel("discord", "12", server_id="900"))
    await store.save_channel(Channel("discord", "13", server_id="901"))
    again = await store.save_channel(dataclasses.replace(first, server_id=None, timezone="Asia/Tokyo"))
    assert again.server_id == "900"
    assert [c.chat_id for c in await store.channels_of_server("discord", "900")] == ["11", "12"]
    assert await store.channels_of_server("telegram", "900") == []


def test_a_schema_too_new_is_a_store_error() -> None:
    """A database written by a newer version is refused as a StoreError (the CLI's exit status 6)."""
    assert issubclass(SchemaTooNewError, StoreError)


async def test_a_version_2_database_keeps_each_channels_cursor_under_its_new_name(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """Upgrading a file made before V3 (the cursor column was last_digest_date) keeps every cursor."""
    before_v3 = [migration for migration in load_migrations() if migration.version < 3]
    async with await open_store(db_path, clock=clock, migrations=before_v3):
        pass
    with raw(db_path) as db:
        db.execute(
            "INSERT INTO channels (platform, chat_id, timezone, active, max_inline_papers, notify_empty,"
            " last_digest_date, created_at, updated_at)"
            " VALUES ('telegram', '42', 'UTC', 1, 30, 1, '2025-11-12', '2025-11-12T00:00:00Z',"
            " '2025-11-12T00:00:00Z')"
        )
    async with await open_store(db_path, clock=clock) as store:
        channel = await store.get_channel("telegram", "42")
    assert channel is not None
    assert (channel.done_up_to, channel.active) == (dt.date(2025, 11, 12), True)
    assert rows(db_path, "SELECT max(version) FROM schema_migrations") == [(len(load_migrations()),)]


async def test_a_version_3_database_loses_max_inline_papers_and_keeps_its_channels(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """Upgrading a file made before V4 drops channels.max_inline_papers; settings and topics stay."""
    before_v4 = [migration for migration in load_migrations() if migration.version < 4]
    async with await open_store(db_path, clock=clock, migrations=before_v4):
        pass
    with raw(db_path) as db:
        db.execute(
            "INSERT INTO channels (platform, chat_id, timezone, delivery_time, active, max_inline_papers,"
            " notify_empty, done_up_to, created_at, updated_at, server_id)"
            " VALUES ('discord', '7', 'Europe/Berlin', '08:00', 1, 0, 0, '2025-11-12', 'x', 'x', '900')"
        )
        db.execute(
            "INSERT INTO topics (channel_id, position, name, keywords, excludes, categories, announce_types)"
            " VALUES (1, 0, 'MLLM', '[\"vlm\"]', '[]', '[\"cs.CV\"]', '[\"new\"]')"
        )
    async with await open_store(db_path, clock=clock) as store:
        channel = await store.get_channel("discord", "7")
        assert channel == Channel(
            "discord",
            "7",
            id=1,
            server_id="900",
            timezone="Europe/Berlin",
            delivery_time=dt.time(8, 0),
            active=True,
            notify_empty=False,
            topics=(
                Topic("MLLM", ("vlm",), categories=("cs.CV",), announce_types=frozenset({AnnounceType.NEW})),
            ),
            done_up_to=dt.date(2025, 11, 12),
        )
        changed = dataclasses.replace(channel, style=Style.FULL, send_file=True)
        assert await store.save_channel(changed) == changed  # the upgraded table takes the new settings
    assert "max_inline_papers" not in [column[1] for column in rows(db_path, "PRAGMA table_info(channels)")]


# -- claims on a chat's delivery (several processes) -----------------------------------------------
async def test_a_chat_is_claimed_by_one_process_until_its_claim_runs_out(store: SqliteStore) -> None:
    """Another process's live claim refuses; the holder may renew; an expired claim is anyone's."""
    cid = channel_id(await stored_channel(store))
    now = dt.datetime(2025, 11, 27, 12, 0, tzinfo=dt.UTC)
    lease = dt.timedelta(seconds=20)
    assert await store.claim_channel(cid, "a", now, now + lease) is True
    assert await store.claim_channel(cid, "b", now + dt.timedelta(seconds=19), now + lease * 2) is False
    assert await store.claim_channel(cid, "a", now + dt.timedelta(seconds=5), now + lease * 2) is True
    assert await store.claim_channel(cid, "b", now + dt.timedelta(seconds=30), now + lease * 3) is False
    assert await store.claim_channel(cid, "b", now + lease * 2, now + lease * 3) is True  # a's ran out
    await store.release_channel(cid, "a")  # not a's any more: left alone
    assert await store.claim_channel(cid, "a", now + lease * 2, now + lease * 3) is False
    await store.release_channel(cid, "b")
    assert await store.claim_channel(cid, "a", now + lease * 2, now + lease * 3) is True


async def test_concurrent_claims_on_one_chat_give_it_to_exactly_one(store: SqliteStore) -> None:
    """Ten claims at once: one wins."""
    cid = channel_id(await stored_channel(store))
    now = dt.datetime(2025, 11, 27, 12, 0, tzinfo=dt.UTC)
    results = await asyncio.gather(
        *(store.claim_channel(cid, f"p{n}", now, now + dt.timedelta(seconds=20)) for n in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]
