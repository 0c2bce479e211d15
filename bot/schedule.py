"""When announcements appear and when each channel's digest is due, in the channel's own time zone."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import zoneinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ARXIV_TZ = ZoneInfo("America/New_York")  # tzdata ships the database where the system has none
UTC = dt.UTC
CUTOFF = dt.time(14, 0)  # arXiv's daily submission cut-off, US Eastern

_TIME = re.compile(r"^(\d{1,2})[:.h](\d{2})$")


class ScheduleError(ValueError):
    """A time or time zone a user typed cannot be used; the message says why."""


def parse_time_of_day(text: str) -> dt.time:
    """`08:00`, `8:00`, `8.00` or `8h00` → a time; raises ScheduleError otherwise."""
    match = _TIME.match(text.strip())
    if not match:
        raise ScheduleError(f"{text.strip()[:20]!r} is not a time: use HH:MM, e.g. 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ScheduleError(f"{text.strip()!r} is not a time of day: use 00:00 to 23:59")
    return dt.time(hour, minute)


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone (`Europe/Berlin`, `UTC`); raises ScheduleError naming it otherwise."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 64 or ".." in cleaned or cleaned.startswith("/"):
        raise ScheduleError(f"{cleaned[:64]!r} is not an IANA time zone, e.g. Europe/Berlin")
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder name such as "Europe"
        raise ScheduleError(f"{cleaned!r} is not an IANA time zone, e.g. Europe/Berlin") from None


# -- arXiv's calendar -------------------------------------------------------------------------------


def arxiv_today(now: dt.datetime) -> dt.date:
    """The date in US Eastern time: the label of the feed rss.arxiv.org shows at `now` (aware)."""
    return now.astimezone(ARXIV_TZ).date()


def is_announcement_day(date: dt.date) -> bool:
    """Whether rss.arxiv.org labels an announcement with this date (Mon–Fri; holidays aside)."""
    return date.weekday() < 5


def _previous_working_day(day: dt.date) -> dt.date:
    """The last Monday–Friday strictly before `day`."""
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def submission_window(announcement_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of the submissions announced under this rss.arxiv.org date.

    arXiv's cut-off is 14:00 US Eastern: papers submitted between 14:00 on one working day and 14:00
    on the next are mailed at 20:00 that evening and labelled with the following date by
    rss.arxiv.org (the Tuesday 20:00 mailing is "Wednesday"). Monday's label covers Thursday 14:00 –
    Friday 14:00, Tuesday's covers Friday 14:00 – Monday 14:00. Holidays are not known: a holiday's
    window comes out as a day of its own.
    """
    end_day = announcement_date - dt.timedelta(days=1)  # the mailing's evening
    while end_day.weekday() >= 5:  # the Sunday mailing closes on Friday
        end_day -= dt.timedelta(days=1)
    start_day = _previous_working_day(end_day)
    start = dt.datetime.combine(start_day, CUTOFF, ARXIV_TZ)
    end = dt.datetime.combine(end_day, CUTOFF, ARXIV_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def available_at(announcement_date: dt.date) -> dt.datetime:
    """When an announcement can be read: midnight US Eastern of its date, when rss.arxiv.org switches."""
    return dt.datetime.combine(announcement_date, dt.time(0, 0), tzinfo=ARXIV_TZ).astimezone(UTC)


def due_at(announcement_date: dt.date, delivery_time: dt.time | None, timezone: str) -> dt.datetime:
    """When a channel's digest of this announcement is due (UTC).

    Without a delivery time: as soon as the announcement is available. With one: its first occurrence
    in the channel's time zone at or after the announcement became available.
    """
    start = available_at(announcement_date)
    if delivery_time is None:
        return start
    zone = ZoneInfo(timezone)
    local_start = start.astimezone(zone)
    candidate = dt.datetime.combine(local_start.date(), delivery_time, tzinfo=zone)
    if candidate < local_start:
        candidate = dt.datetime.combine(local_start.date() + dt.timedelta(days=1), delivery_time, tzinfo=zone)
    # A wall time skipped by a DST change resolves forward, which zoneinfo's fold rules already give.
    return candidate.astimezone(UTC)


def next_announcement_date(after: dt.date) -> dt.date:
    """The next weekday (Mon–Fri) after a date: the next date an rss.arxiv.org announcement may carry."""
    day = after + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def arxiv_day_end(date: dt.date) -> dt.datetime:
    """The end of a US Eastern day (midnight there, UTC): when rss.arxiv.org's date label moves on."""
    return available_at(date + dt.timedelta(days=1))


def watch_window(
    announcement_date: dt.date, lead: dt.timedelta, span: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end] (UTC) of the close watch for an announcement: from `lead` before to `span` after.

    The change is expected when the announcement becomes available (`available_at`: midnight US
    Eastern of its date, when rss.arxiv.org switches its feed).
    """
    change = available_at(announcement_date)
    return change - lead, change + span


@functools.lru_cache(maxsize=1)
def zone_names() -> dict[str, str]:
    """Every IANA time zone name by its lower-case spelling, in alphabetical order of the names."""
    return {name.lower(): name for name in sorted(zoneinfo.available_timezones())}


@functools.lru_cache(maxsize=1)
def _zones_by_place() -> dict[str, tuple[str, ...]]:
    """Every IANA zone name by its last part in lower case (`berlin` → Europe/Berlin), sorted."""
    places: dict[str, list[str]] = {}
    for name in zone_names().values():
        places.setdefault(name.rsplit("/", 1)[-1].lower(), []).append(name)
    return {place: tuple(names) for place, names in places.items()}


def zone_suggestions(text: str, limit: int = 3) -> list[str]:
    """The zone names a typed name that is no zone probably meant (for a "did you mean …?").

    A city or the last part of a zone name, any case, spaces for underscores (`Berlin`, `new york`),
    then close spellings of a whole name or of a city (`Europe/Berln`, `Berlim`). Empty when nothing is near.
    """
    typed = "_".join(text.strip().lower().split())
    if not typed or len(typed) > 64:
        return []
    places = _zones_by_place()
    found = list(places.get(typed.rsplit("/", 1)[-1], ()))
    if not found:
        close = difflib.get_close_matches(typed, zone_names(), n=limit, cutoff=0.8)
        found = [zone_names()[name] for name in close]
    if not found:
        for place in difflib.get_close_matches(typed.rsplit("/", 1)[-1], places, n=limit, cutoff=0.8):
            found.extend(places[place])
    return found[:limit]
