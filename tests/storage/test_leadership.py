"""Roles held by one process at a time: on SQLite (a file lock), on PostgreSQL (an advisory lock)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from bot.leadership import while_holding
from bot.ports import INGEST_ROLE, TELEGRAM_UPDATES_ROLE, Leadership
from storage.leadership import FileLeadership, PostgresLeadership
from storage.postgres_base import LOCK_NAMESPACE, lock_key


async def holds_within(leadership: Leadership, role: str, seconds: float) -> bool:
    """Whether `leadership` gets `role` within `seconds` (released again at once)."""
    try:
        async with asyncio.timeout(seconds), leadership.hold(role):
            return True
    except TimeoutError:
        return False


def contender(database: Path) -> FileLeadership:
    """One process's roles on the database file, trying often."""
    return FileLeadership(database, retry_interval=0.02)


@contextlib.asynccontextmanager
async def holding(leadership: Leadership, role: str) -> AsyncIterator[asyncio.Event]:
    """Hold `role` for the block."""
    async with leadership.hold(role) as lost:
        yield lost


async def test_a_file_role_is_one_holders_until_it_lets_go_then_the_waiter_takes_it(tmp_path: Path) -> None:
    """Two processes' worth of FileLeadership on one database: one holds, the other waits, then takes over."""
    database = tmp_path / "bot.db"
    first, second = (
        contender(database),
        contender(database),
    )
    async with holding(first, INGEST_ROLE) as lost:
        assert not await holds_within(second, INGEST_ROLE, 0.2)
        assert await holds_within(second, TELEGRAM_UPDATES_ROLE, 0.2)  # roles are independent
        assert not lost.is_set()
    assert await holds_within(second, INGEST_ROLE, 0.5)
    assert (tmp_path / "bot.db.ingest.lock").exists()


async def test_while_holding_runs_the_work_in_one_process_at_a_time_and_hands_over(tmp_path: Path) -> None:
    """The second contender's work starts only after the first stops, after the settle time."""
    database = tmp_path / "bot.db"
    started: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()

    def worker(name: str) -> Callable[[asyncio.Event], Awaitable[None]]:
        async def work(until: asyncio.Event) -> None:
            started.append((name, loop.time()))
            await until.wait()

        return work

    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(
        while_holding(
            contender(database),
            INGEST_ROLE,
            stop_first,
            worker("first"),
            settle=0.3,
        )
    )
    await asyncio.sleep(0.1)
    second = asyncio.create_task(
        while_holding(
            contender(database),
            INGEST_ROLE,
            stop_second,
            worker("second"),
            settle=0.3,
        )
    )
    await asyncio.sleep(0.5)  # the second has waited longer than a first try takes
    assert [name for name, _ in started] == ["first"]  # took it at once: no settle
    stopped_at = loop.time()
    stop_first.set()
    await asyncio.wait_for(first, 2)
    async with asyncio.timeout(3):
        while len(started) < 2:
            await asyncio.sleep(0.02)
    assert started[1][0] == "second"
    assert started[1][1] - stopped_at >= 0.3  # took over: waited the settle time first
    stop_second.set()
    await asyncio.wait_for(second, 2)


async def test_stop_ends_waiting_for_a_role_at_once(tmp_path: Path) -> None:
    """A process waiting for a role another holds stops promptly; its work never ran."""
    database = tmp_path / "bot.db"
    ran: list[str] = []

    async def work(until: asyncio.Event) -> None:
        ran.append("ran")

    async with holding(FileLeadership(database), INGEST_ROLE):
        stop = asyncio.Event()
        waiting = asyncio.create_task(while_holding(FileLeadership(database), INGEST_ROLE, stop, work))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(waiting, 1)
    assert ran == []


@pytest.mark.postgresql_only
async def test_a_postgres_role_is_taken_over_when_its_holders_connection_dies(
    postgres_schema_url: str,
) -> None:
    """Its holder's backend killed (as if its process died): it learns it lost the role; another takes it."""
    first = PostgresLeadership(postgres_schema_url, retry_interval=0.05, check_interval=0.2)
    second = PostgresLeadership(postgres_schema_url, retry_interval=0.05, check_interval=0.2)
    async with holding(first, INGEST_ROLE) as lost:
        assert not await holds_within(second, INGEST_ROLE, 0.5)
        assert await holds_within(second, TELEGRAM_UPDATES_ROLE, 2)
        admin = await asyncpg.connect(postgres_schema_url)
        try:
            schema = await admin.fetchval("SELECT current_schema()")
            killed = await admin.fetchval(  # the backend holding this schema's ingest lock, no other
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 AND objsubid = 2",
                LOCK_NAMESPACE & 0xFFFFFFFF,
                lock_key(f"role:{INGEST_ROLE}:{schema}") & 0xFFFFFFFF,
            )
        finally:
            await admin.close()
        assert killed == 1
        await asyncio.wait_for(lost.wait(), 3)
        assert await holds_within(second, INGEST_ROLE, 2)


@pytest.mark.postgresql_only
async def test_postgres_roles_of_two_schemas_are_two_roles(postgres_schema_url: str) -> None:
    """Deployments in different schemas of one database do not wait on each other."""
    from tests.conftest import new_postgres_schema

    async with new_postgres_schema() as other_url:
        first = PostgresLeadership(postgres_schema_url, retry_interval=0.05)
        async with holding(first, INGEST_ROLE):
            assert await holds_within(PostgresLeadership(other_url, retry_interval=0.05), INGEST_ROLE, 2)
            assert not await holds_within(
                PostgresLeadership(postgres_schema_url, retry_interval=0.05), INGEST_ROLE, 0.3
            )
