"""The healthcheck's feed half: is the latest announcement due by now in, or being awaited by a live bot?

Real SQLite store; `now` is given, so weekends, holidays and the hour after midnight US Eastern are
tried without waiting. (2025-11-14 is a Friday, 2025-11-17 a Monday; US Eastern is UTC-5 then.)
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.commands.status import FeedHealth, due_announcement, feed_health, gather_status
from bot.models import FeedCheck
from bot.ports import NO_ANNOUNCEMENT_KEY
from bot.schedule import ARXIV_TZ
from storage.sqlite_store import SqliteStore
from tests.builders import make_announcement, make_paper

FRIDAY = dt.date(2025, 11, 14)
MONDAY = dt.date(2025, 11, 17)


def eastern(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in US Eastern time, as UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), ARXIV_TZ).astimezone(dt.UTC)


async def health(
    store: SqliteStore, now: dt.datetime, *, checked_at: dt.datetime | None, outcome: str = "unchanged"
) -> FeedHealth:
    """The feed's health at `now`, after a last check at `checked_at` (None: no check ever)."""
    if checked_at is not None:
        await store.record_feed_check(FeedCheck(checked_at, outcome, message="x"))
    report = await gather_status(store, now)
    return await feed_health(store, report, poll_interval=600)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (eastern(MONDAY, 0, 30), FRIDAY),  # Monday's feed changed half an hour ago: within the grace
        (eastern(MONDAY, 1, 30), MONDAY),
        (eastern(dt.date(2025, 11, 15), 12), FRIDAY),  # Saturday
        (eastern(dt.date(2025, 11, 16), 23, 59), FRIDAY),  # Sunday night
        (eastern(dt.date(2025, 11, 19), 18), dt.date(2025, 11, 19)),  # a Wednesday evening
    ],
)
def test_the_announcement_due_is_the_latest_weekday_whose_feed_changed_an_hour_ago(
    now: dt.datetime, due: dt.date
) -> None:
    """The due announcement: the latest Monday–Friday date whose feed changed (midnight US Eastern)
    at least an hour ago; on a weekend that is Friday's."""
    assert due_announcement(now) == due


async def test_a_weekend_after_fridays_announcement_is_healthy(store: SqliteStore) -> None:
    """Friday's announcement stored, the last check Friday 00:02 ET: fine all weekend (not a flat 24 h)."""
    await store.save_announcement(make_announcement(FRIDAY, [make_paper(1)]))
    result = await health(store, eastern(dt.date(2025, 11, 16), 23), checked_at=eastern(FRIDAY, 0, 2))
    assert result.ok
    assert (result.due, result.arrived) == (FRIDAY, True)


async def test_mondays_announcement_unread_an_hour_after_midnight_is_a_problem(store: SqliteStore) -> None:
    """Monday 01:30 ET, Friday's announcement the latest and the last check on Saturday: the bot has
    not read Monday's feed."""
    await store.save_announcement(make_announcement(FRIDAY, [make_paper(1)]))
    result = await health(store, eastern(MONDAY, 1, 30), checked_at=eastern(dt.date(2025, 11, 15), 10))
    assert (result.due, result.arrived, result.problem) == (MONDAY, False, "not_read_since")
    assert result.due_since == eastern(MONDAY, 0)


async def test_a_late_announcement_is_fine_while_the_bot_keeps_checking(store: SqliteStore) -> None:
    """arXiv late on Monday: a check that read the feed after midnight, 20 min ago, is a live bot; one
    three hours ago (the bot checks at least hourly while waiting) is not."""
    await store.save_announcement(make_announcement(FRIDAY, [make_paper(1)]))
    now = eastern(MONDAY, 4)
    fresh = await health(store, now, checked_at=now - dt.timedelta(minutes=20))
    assert fresh.ok
    assert not fresh.arrived
    stale = await health(store, now, checked_at=eastern(MONDAY, 0, 10))
    assert stale.problem == "awaited_unchecked"
    assert stale.awaited_within == dt.timedelta(hours=2)


async def test_a_failed_last_check_and_no_check_at_all_are_problems(store: SqliteStore) -> None:
    """The last check after midnight failed ("error"), or no check was ever recorded: problems."""
    now = eastern(MONDAY, 3)
    assert (await health(store, now, checked_at=None)).problem == "never_checked"
    failed = await health(store, now, checked_at=now - dt.timedelta(minutes=5), outcome="error")
    assert failed.problem == "not_read_since"


async def test_a_holiday_seen_empty_counts_as_arrived(store: SqliteStore) -> None:
    """A weekday the bot found without an announcement (a holiday) is no problem, however old the check."""
    await store.set_state(NO_ANNOUNCEMENT_KEY + MONDAY.isoformat(), "no announcement (holiday)")
    result = await health(store, eastern(MONDAY, 22), checked_at=eastern(MONDAY, 0, 31))
    assert result.ok
    assert result.arrived


async def test_the_due_announcement_stored_is_healthy_whatever_the_last_check_says(
    store: SqliteStore,
) -> None:
    """Monday's announcement is in: a later failed check (arXiv down in the afternoon) is no problem."""
    await store.save_announcement(make_announcement(MONDAY, [make_paper(1)]))
    result = await health(store, eastern(MONDAY, 15), checked_at=eastern(MONDAY, 14), outcome="error")
    assert result.ok
