"""Due times of digests in each channel's time zone, and parsing what users type."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.schedule import (
    ScheduleError,
    arxiv_day_end,
    available_at,
    due_at,
    next_announcement_date,
    parse_time_of_day,
    parse_timezone,
    watch_window,
)

UTC = dt.UTC


def test_announcement_available_at_midnight_eastern() -> None:
    """An announcement dated Wed 12 Nov 2025 is readable from 05:00 UTC (midnight EST)."""
    assert available_at(dt.date(2025, 11, 12)) == dt.datetime(2025, 11, 12, 5, 0, tzinfo=UTC)
    assert available_at(dt.date(2025, 7, 2)) == dt.datetime(2025, 7, 2, 4, 0, tzinfo=UTC)


def test_berlin_morning_in_winter_is_seven_utc() -> None:
    """08:00 Europe/Berlin in November is 07:00 UTC on the announcement's date."""
    assert due_at(dt.date(2025, 11, 12), dt.time(8, 0), "Europe/Berlin") == dt.datetime(
        2025, 11, 12, 7, 0, tzinfo=UTC
    )


def test_berlin_morning_in_summer_is_six_utc() -> None:
    """08:00 Europe/Berlin in July is 06:00 UTC."""
    assert due_at(dt.date(2025, 7, 2), dt.time(8, 0), "Europe/Berlin") == dt.datetime(
        2025, 7, 2, 6, 0, tzinfo=UTC
    )


def test_time_before_availability_moves_to_next_day() -> None:
    """08:00 Tokyo comes before the feed switches (14:00 JST), so the digest is due the next morning."""
    due = due_at(dt.date(2025, 11, 12), dt.time(8, 0), "Asia/Tokyo")
    assert due == dt.datetime(2025, 11, 12, 23, 0, tzinfo=UTC)
    assert due > available_at(dt.date(2025, 11, 12))


def test_no_delivery_time_means_as_soon_as_available() -> None:
    """Without a delivery time a digest is due the moment the announcement is available."""
    assert due_at(dt.date(2025, 11, 12), None, "UTC") == available_at(dt.date(2025, 11, 12))


@pytest.mark.parametrize(
    ("text", "expected"), [("08:00", dt.time(8)), ("7:30", dt.time(7, 30)), ("23.59", dt.time(23, 59))]
)
def test_parse_time_of_day(text: str, expected: dt.time) -> None:
    """Usual ways of writing a time of day are understood."""
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("text", ["24:00", "8", "noon", "12:60", "", "1" * 500])
def test_bad_time_is_a_clear_error(text: str) -> None:
    """Anything that is not HH:MM is refused with a short message."""
    with pytest.raises(ScheduleError) as caught:
        parse_time_of_day(text)
    assert len(str(caught.value)) < 100


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "../../etc/passwd", "", "Europe/" + "x" * 100, "/etc/localtime"]
)
def test_bad_timezone_is_a_clear_error(name: str) -> None:
    """Unknown or path-like time zone names are refused."""
    with pytest.raises(ScheduleError):
        parse_timezone(name)


def test_known_timezone() -> None:
    """IANA names are accepted."""
    assert parse_timezone(" Europe/Berlin ").key == "Europe/Berlin"


def test_next_announcement_date_skips_weekends() -> None:
    """After a Friday the next dated announcement is Monday's."""
    assert next_announcement_date(dt.date(2025, 11, 14)) == dt.date(2025, 11, 17)
    assert next_announcement_date(dt.date(2025, 11, 12)) == dt.date(2025, 11, 13)


def test_timezone_folder_name_is_a_clear_error() -> None:
    """A zone-database folder such as "Europe" is refused like any unknown name."""
    with pytest.raises(ScheduleError):
        parse_timezone("Europe")


def test_watch_window_brackets_midnight_eastern_in_either_season() -> None:
    """The watch for Wed 12 Nov 2025 runs 04:55–05:30 UTC (EST); for Wed 2 Jul 2025 an hour earlier (EDT)."""
    lead, span = dt.timedelta(minutes=5), dt.timedelta(minutes=30)
    assert watch_window(dt.date(2025, 11, 12), lead, span) == (
        dt.datetime(2025, 11, 12, 4, 55, tzinfo=UTC),
        dt.datetime(2025, 11, 12, 5, 30, tzinfo=UTC),
    )
    assert watch_window(dt.date(2025, 7, 2), lead, span) == (
        dt.datetime(2025, 7, 2, 3, 55, tzinfo=UTC),
        dt.datetime(2025, 7, 2, 4, 30, tzinfo=UTC),
    )


def test_arxiv_day_end_follows_daylight_saving() -> None:
    """Sat 1 Nov 2025 (EDT) ends at 04:00 UTC; Sun 2 Nov, the day clocks fall back, is 25 h long."""
    assert arxiv_day_end(dt.date(2025, 11, 1)) == dt.datetime(2025, 11, 2, 4, 0, tzinfo=UTC)
    assert arxiv_day_end(dt.date(2025, 11, 2)) == dt.datetime(2025, 11, 3, 5, 0, tzinfo=UTC)
