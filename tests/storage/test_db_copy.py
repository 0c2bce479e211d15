"""`storage.copy.copy_database`: a whole deployment from SQLite to PostgreSQL and back, row for row."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.models import DeliveryResult, DigestView, FeedCheck, ViewEntry, ViewKind, Vote
from bot.ports import Store, StoreError
from storage.copy import CopyMismatchError, CopyRefusedError, copy_database
from storage.inspection import inspect_database
from storage.migrations import load_migrations
from storage.open import open_database
from storage.sqlite_store import open_store
from storage.tables import NOT_COPIED, TABLES, SqliteRaw
from tests.builders import DAY, make_announcement, make_channel, make_paper

AT = dt.datetime(2025, 11, 26, 8, 0, tzinfo=dt.UTC)


async def fill_a_deployment(store: Store) -> None:
    """An announcement, three chats (topics, a server, one off), a ledger half sent, votes, bookmarks."""
    papers = [make_paper(n) for n in range(1, 13)]
    await store.save_announcement(make_announcement(DAY, papers))
    await store.save_announcement(make_announcement(DAY - dt.timedelta(days=1), papers[:3]))
    channels = [
        await store.save_channel(make_channel("-1001")),
        await store.save_channel(make_channel("555", platform="discord", server_id="777")),
        await store.save_channel(make_channel("-1002", active=False)),
    ]
    for channel in channels:
        assert channel.id is not None
        ids = [paper.arxiv_id for paper in papers[: 4 + channel.id]]
        pending = await store.reserve_deliveries(channel.id, DAY, ids)
        await store.confirm_deliveries(channel.id, pending[:3])  # the rest stays pending
        await store.record_delivery_result(DeliveryResult(channel.id, AT, DAY, "ok", 3))
    await store.record_feed_check(FeedCheck(AT, "new", DAY, "12 papers", 12))
    await store.set_state("no-announcement:2025-11-22", "weekend")
    for user, vote in (("u1", Vote.UP), ("u2", Vote.DOWN), ("u3", Vote.UP)):
        await store.set_vote("telegram", "-1001", user, papers[0].arxiv_id, DAY, vote, AT)
    await store.set_vote("discord", "555", "u9", papers[1].arxiv_id, DAY, Vote.DOWN, AT)
    for n in (3, 1, 2):  # saved in this order, two at the same moment: the rowid keeps them apart
        await store.toggle_bookmark("telegram", "u1", papers[n].arxiv_id, DAY, AT)
    await store.toggle_bookmark("discord", "u9", papers[5].arxiv_id, DAY, AT + dt.timedelta(minutes=1))
    view = await store.save_view(
        DigestView(
            "telegram",
            "-1001",
            DAY,
            (
                ViewEntry(papers[0].arxiv_id, "llm", ("vision",), ("LLM",)),
                ViewEntry(papers[1].arxiv_id, "llm"),
            ),
            announced_count=12,
            topics=("llm", "vision"),
        )
    )
    assert view.id is not None
    await store.set_view_message(view.id, "42")
    await store.save_view(
        DigestView(
            "discord", "555", DAY, (ViewEntry(papers[2].arxiv_id, "vision"),), 12, kind=ViewKind.ON_DEMAND
        )
    )


def every_row(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """`SELECT *` of every copied table, by primary key (bookmarks with their rowid)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = {}
        for table in TABLES:
            rowid = "rowid, " if table.name == "bookmarks" else ""
            order = ", ".join(table.key)
            rows[table.name] = db.execute(f"SELECT {rowid}* FROM {table.name} ORDER BY {order}").fetchall()
    return rows


def test_the_copy_knows_every_table_of_the_schema(tmp_path: Path) -> None:
    """Every table the migrations create is copied or deliberately left out (a new one fails here)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "schema.db")) as db:
        for migration in load_migrations():
            for statement in migration.statements():
                db.execute(statement)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables | {"schema_migrations"} == {table.name for table in TABLES} | set(NOT_COPIED)


async def test_a_round_trip_through_postgresql_gives_back_every_row(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """SQLite → PostgreSQL → SQLite: every table row for row, ids, rowids and the ledger's states included."""
    first, last = tmp_path / "first.db", tmp_path / "last.db"
    async with await open_store(first) as store:
        await fill_a_deployment(store)
        assert await store.list_channels(active_only=False)
    there = await copy_database(f"sqlite:///{first}", postgres_schema_url, batch_rows=2)
    back = await copy_database(postgres_schema_url, f"sqlite:///{last}", batch_rows=3)
    assert there == back
    counts = {count.table: count.source for count in there}
    assert (counts["deliveries"], counts["bookmarks"], counts["digest_views"]) == (5 + 6 + 7, 4, 2)
    assert all(count.source == count.target for count in there)
    original, returned = every_row(first), every_row(last)
    assert all(original[table.name] for table in TABLES), "the deployment fills every table"
    for table in TABLES:
        assert returned[table.name] == original[table.name], table.name
    statuses = {row[3] for row in original["deliveries"]}
    assert statuses == {"pending", "sent"}


async def test_the_postgresql_copy_goes_on_numbering_after_the_copied_ids(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """After a copy, a new chat, topic, view and bookmark on PostgreSQL get ids past the copied ones."""
    first = tmp_path / "first.db"
    async with await open_store(first) as store:
        await fill_a_deployment(store)
    await copy_database(f"sqlite:///{first}", postgres_schema_url)
    moved = await open_database(postgres_schema_url)
    try:
        added = await moved.save_channel(make_channel("-1003"))
        assert added.id == 4
        await moved.toggle_bookmark("telegram", "u1", "2511.00009", DAY, AT)
        view = await moved.save_view(DigestView("telegram", "-1003", DAY, (), 12))
        assert view.id == 3
        saved = await moved.bookmarks("telegram", "u1")
        assert [bookmark.paper.arxiv_id for bookmark in saved][:2] == ["2511.00009", "2511.00003"]
    finally:
        await moved.close()


async def test_a_target_that_holds_a_deployment_is_refused_and_left_as_it_was(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """db copy never merges: a target with a chat in it is refused, its rows untouched."""
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    async with await open_store(source) as store:
        await fill_a_deployment(store)
    async with await open_store(target) as store:
        await store.save_channel(make_channel("-4242"))
    before = every_row(target)
    with pytest.raises(CopyRefusedError, match=r"not empty: channels \(1 rows\), topics \(2 rows\)"):
        await copy_database(f"sqlite:///{source}", f"sqlite:///{target}")
    assert every_row(target) == before
    await copy_database(f"sqlite:///{source}", postgres_schema_url)
    with pytest.raises(CopyRefusedError, match="not empty: papers"):
        await copy_database(f"sqlite:///{source}", postgres_schema_url)


async def test_a_source_at_an_older_schema_is_refused_until_upgraded(tmp_path: Path) -> None:
    """A source that lacks a migration must be `db upgrade`d first; the target gets nothing."""
    source, target = tmp_path / "old.db", tmp_path / "target.db"
    async with await open_store(source, migrations=load_migrations()[:4]):
        pass
    with pytest.raises(CopyRefusedError, match=r"lacks V5__votes_and_bookmarks, V6__.*db upgrade"):
        await copy_database(f"sqlite:///{source}", f"sqlite:///{target}")
    assert not target.exists()


async def test_the_same_database_twice_is_refused(tmp_path: Path) -> None:
    """Copying a file onto itself is refused before anything is opened."""
    path = tmp_path / "one.db"
    with pytest.raises(CopyRefusedError, match="the same database"):
        await copy_database(f"sqlite:///{path}", f"sqlite:///{tmp_path}/../{tmp_path.name}/one.db")


async def test_a_count_that_differs_after_the_copy_fails_it_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row lost on the way (a target that drops one): the counts say so, and the target stays empty."""
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    async with await open_store(source) as store:
        await fill_a_deployment(store)
    insert = SqliteRaw.insert

    async def lossy(self: SqliteRaw, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        await insert(self, table, columns, rows[1:] if table == "deliveries" else rows)

    monkeypatch.setattr(SqliteRaw, "insert", lossy)
    with pytest.raises(CopyMismatchError, match=r"row counts differ .*deliveries 18 → 17.*nothing was kept"):
        await copy_database(f"sqlite:///{source}", f"sqlite:///{target}", batch_rows=100)
    assert all(not rows for rows in every_row(target).values())


async def test_a_value_postgresql_cannot_take_fails_the_copy_in_one_line_and_keeps_nothing(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """SQLite keeps text in an INTEGER column, PostgreSQL cannot: the table named, the target left empty."""
    source = tmp_path / "odd.db"
    async with await open_store(source) as store:
        await fill_a_deployment(store)
    with contextlib.closing(sqlite3.connect(source)) as db, db:
        db.execute("UPDATE papers SET version = 'two' WHERE arxiv_id = '2511.00005'")
    with pytest.raises(StoreError, match=r"rolled back: a row of papers does not fit") as caught:
        await copy_database(f"sqlite:///{source}", postgres_schema_url)
    assert "\n" not in str(caught.value)
    report = await inspect_database(postgres_schema_url)
    assert report.state == "up to date"
    assert all(table.rows == 0 for table in report.tables)
