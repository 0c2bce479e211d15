"""Reading each announcement once: poll the feed, store what is new, recover days missed while down.

The service fetches one feed for every category anyone watches (the defaults plus the categories
the topics of active channels name), stores a complete announcement once per date (adding the
papers of a category a chat subscribed to after it was stored), and records the outcome of every
check as a typed `FeedCheck` record for /status. Trouble with arXiv never raises
out of it: it becomes an "error" outcome with a one-line message, and the next poll tries again.
Store errors do propagate (a disk problem should be seen), except in `run`, which logs them and
keeps going. Once `run`'s stop event is set, a request to arXiv in progress (or waiting for the gate
or a back-off) is abandoned at once; nothing is recorded for it, and the next start asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from bot.categories import normalise_category
from bot.feeds import ArxivError, NoAnnouncement
from bot.models import Announcement, FeedCheck
from bot.ports import Store
from bot.retry import unless_stopped
from bot.sources import ArxivSource, arxiv_today, is_announcement_day

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Literal["new", "extended", "unchanged", "no_announcement", "error"]
NO_ANNOUNCEMENT_KEY = "ingest:no_announcement:"  # + ISO date: a weekday known to have no announcement
MAX_RECOVERY_DAYS = 7


def _utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def _papers(count: int) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} paper{'' if count == 1 else 's'}"


class _Stopped(Exception):
    """`run` was told to stop while arXiv was being asked: the answer is no longer awaited."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one check of the feed found."""

    outcome: Outcome
    announcement: Announcement | None
    message: str


class IngestService:
    """Keeps the store's announcements in step with arXiv."""

    def __init__(
        self,
        store: Store,
        source: ArxivSource,
        default_categories: Sequence[str],
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        recovery_days: int = MAX_RECOVERY_DAYS,
        retention_days: int = 14,
    ) -> None:
        """`clock` returns an aware datetime; `recovery_days` (0–7) bounds the API recovery."""
        if not 0 <= recovery_days <= MAX_RECOVERY_DAYS:
            raise ValueError(f"recovery_days must be between 0 and {MAX_RECOVERY_DAYS}")
        if retention_days < 1:
            raise ValueError("retention_days must be positive")
        self.store = store
        self.source = source
        self.default_categories = tuple(default_categories)
        self.clock = clock
        self.recovery_days = recovery_days
        self.retention_days = retention_days
        self._stop: asyncio.Event | None = None  # set by `run`: arXiv's answers are not awaited past it

    def today(self) -> dt.date:
        """Today's date in US Eastern time: the label of the feed rss.arxiv.org shows now."""
        return arxiv_today(self.clock())

    async def categories(self) -> list[str]:
        """Every category to fetch: the defaults plus those the active channels' topics name, sorted.

        A code arXiv does not know is left out (with a warning): one bad category would turn the whole
        combined feed into arXiv's error feed.
        """
        wanted: set[str] = set()
        for code in (*self.default_categories, *await self.store.subscribed_categories()):
            known = normalise_category(code)
            if known is None:
                log.warning("ignoring unknown arXiv category %r", code[:40])
            else:
                wanted.add(known)
        return sorted(wanted)

    async def ingest_once(self) -> IngestResult:
        """Fetch the current feed once and store it if it is a new announcement."""
        categories = await self.categories()
        try:
            found = await self._ask(self.source.fetch_feed(categories))
        except ArxivError as error:
            result = IngestResult("error", None, _one_line(error))
            log.warning("feed check failed: %s", result.message)
            await self._record(result, date=None, papers=0)
            return result

        if isinstance(found, NoAnnouncement):
            result = IngestResult("no_announcement", None, found.reason)
            log.info("feed check: %s", found.reason)
            if found.date is not None and is_announcement_day(found.date):
                await self.store.set_state(NO_ANNOUNCEMENT_KEY + found.date.isoformat(), found.reason)
            await self._record(result, date=found.date, papers=0)
            return result

        stored_categories = await self.store.announcement_categories(found.date)
        missing = sorted(set(found.categories) - set(stored_categories or ()))
        day = found.date.isoformat()
        if stored_categories is None and await self.store.save_announcement(found):
            result = IngestResult(
                "new", found, f"stored the announcement of {day}: {_papers(len(found.papers))}"
            )
            log.info("feed check: %s", result.message)
        elif stored_categories is not None and missing:
            # A chat subscribed to a category after this announcement was stored: add its papers.
            added = await self.store.extend_announcement(found)
            message = f"added {_papers(added)} of {', '.join(missing)} to the announcement of {day}"
            result = IngestResult("extended", found, message)
            log.info("feed check: %s", result.message)
        else:  # already stored (perhaps just now, by another process)
            result = IngestResult("unchanged", found, f"announcement of {day} already stored")
            log.debug("feed check: %s", result.message)
        await self._record(result, date=found.date, papers=len(found.papers))
        return result

    async def _feed_settled(self, today: dt.date) -> bool:
        """Whether the feed cannot change before midnight ET.

        True when today's announcement is stored for every category now wanted, or on a weekend day
        whose empty feed was already seen. A weekday's empty feed is checked again: the mailing may
        only be late. A category subscribed after today's announcement was stored makes the next check
        fetch the feed again, to add that category's papers.
        """
        stored_categories = await self.store.announcement_categories(today)
        if stored_categories is not None:
            return set(await self.categories()) <= set(stored_categories)
        if is_announcement_day(today):
            return False
        last = await self.last_check()
        return last is not None and last.outcome == "no_announcement" and last.date == today

    async def _record(self, result: IngestResult, *, date: dt.date | None, papers: int) -> None:
        """Remember the outcome of the last check for /status."""
        await self.store.record_feed_check(
            FeedCheck(
                checked_at=self.clock().astimezone(dt.UTC),
                outcome=result.outcome,
                date=date,
                message=result.message,
                papers=papers,
            )
        )

    async def last_check(self) -> FeedCheck | None:
        """The outcome of the last check as recorded (for /status), or None before the first."""
        return await self.store.last_feed_check()

    async def missing_days(self, today: dt.date) -> list[dt.date]:
        """Announcement days before `today` within `recovery_days` that are neither stored nor known empty.

        Empty on a first start (nothing stored at all): there is nothing the bot missed.
        """
        if self.recovery_days == 0:
            return []
        first = today - dt.timedelta(days=self.recovery_days)
        if not await self.store.announcement_dates(since=dt.date.min):
            return []
        stored = set(await self.store.announcement_dates(since=first))
        missing: list[dt.date] = []
        for offset in range(self.recovery_days, 0, -1):
            day = today - dt.timedelta(days=offset)
            if not is_announcement_day(day) or day in stored:
                continue
            if await self.store.get_state(NO_ANNOUNCEMENT_KEY + day.isoformat()) is not None:
                continue
            missing.append(day)
        return missing

    async def recover_missed(self, today: dt.date) -> list[dt.date]:
        """Rebuild, through the API, the announcement days missed before `today`; return those stored.

        `today` is the current US Eastern date (its own announcement comes from the feed). A day the
        API has nothing for is remembered as a holiday. The first failure ends the recovery (logged);
        the next start-up or daily tick tries again.
        """
        return [announcement.date for announcement in await self._recover(today)]

    async def _recover(self, today: dt.date) -> list[Announcement]:
        """`recover_missed`, returning the stored announcements themselves."""
        recovered: list[Announcement] = []
        missing = await self.missing_days(today)
        if not missing:
            return recovered
        categories = await self.categories()
        for day in missing:
            try:
                announcement = await self._ask(self.source.fetch_day_via_api(categories, day))
            except ArxivError as error:
                log.warning("recovering %s failed: %s", day.isoformat(), _one_line(error))
                break
            if not announcement.papers:
                reason = f"the arXiv API has no new submissions for {day.isoformat()} (holiday?)"
                log.info("%s", reason)
                await self.store.set_state(NO_ANNOUNCEMENT_KEY + day.isoformat(), reason)
                continue
            if await self.store.save_announcement(announcement):
                log.info("recovered %s through the API: %d papers", day.isoformat(), len(announcement.papers))
                recovered.append(announcement)
        return recovered

    async def _ask(self, request: Awaitable[T]) -> T:
        """Await a request to arXiv; under `run`, give it up as soon as the stop event is set."""
        if self._stop is None:
            return await request
        stopped, result = await unless_stopped(self._stop, request)
        if stopped:
            raise _Stopped
        return cast(T, result)  # not stopped: the request's own result

    async def prune(self, today: dt.date) -> int:
        """Forget announcements older than the retention period."""
        removed = await self.store.prune_announcements(before=today - dt.timedelta(days=self.retention_days))
        if removed:
            log.info("pruned %d announcements older than %d days", removed, self.retention_days)
        return removed

    async def run(
        self,
        stop: asyncio.Event,
        interval: float,
        on_new: Callable[[Announcement], Awaitable[None]] | None = None,
    ) -> None:
        """Recover and ingest at start-up, then check every `interval` seconds until `stop` is set.

        `on_new` is awaited for every newly stored announcement (recovered ones first, oldest first).
        Once a day (US Eastern) old announcements are pruned and missed days are looked for again.
        """
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._stop = stop
        daily_done: dt.date | None = None
        while not stop.is_set():
            today = self.today()
            if daily_done != today:
                await self._guarded(self._daily(today, on_new), "daily recovery and pruning")
                daily_done = today
            if stop.is_set():
                break
            await self._guarded(self._check(today, on_new), "feed check")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _daily(self, today: dt.date, on_new: Callable[[Announcement], Awaitable[None]] | None) -> None:
        """Recover missed days (announcing each), then prune."""
        for announcement in await self._recover(today):
            await self._announce(announcement, on_new)
        await self.prune(today)

    async def _check(self, today: dt.date, on_new: Callable[[Announcement], Awaitable[None]] | None) -> None:
        """One feed check, announcing a new announcement; skipped when the feed cannot have news."""
        if await self._feed_settled(today):
            log.debug("feed check skipped: nothing new before midnight US Eastern")
            return
        result = await self.ingest_once()
        if result.outcome in ("new", "extended") and result.announcement is not None:
            await self._announce(result.announcement, on_new)

    @staticmethod
    async def _announce(
        announcement: Announcement, on_new: Callable[[Announcement], Awaitable[None]] | None
    ) -> None:
        """Hand a new announcement to the callback; its failure is logged, not fatal."""
        if on_new is None:
            return
        try:
            await on_new(announcement)
        except Exception:
            log.exception("handling the new announcement of %s failed", announcement.date.isoformat())

    @staticmethod
    async def _guarded(work: Awaitable[None], what: str) -> None:
        """Run one step of the loop; an unexpected error is logged and the loop goes on."""
        try:
            await work
        except _Stopped:
            log.info("stopping: the %s in progress was abandoned", what)
        except Exception:
            log.exception("%s failed; trying again later", what)


def _one_line(error: BaseException) -> str:
    """An exception as a single line of at most 300 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:299] + "…"
