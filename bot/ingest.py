"""Reading each announcement once: watch the feed when it is due to change, store what is new.

The service fetches one feed for every category anyone watches (the defaults plus the categories
the topics of active channels name), stores a complete announcement once per date (adding the
papers of a category a chat subscribed to after it was stored), and records the outcome of every
check as a typed `FeedCheck` record for /status. Trouble with arXiv never raises
out of it: it becomes an "error" outcome with a one-line message (and the error itself, for the
CLI's exit status), and the next poll tries again.
Store errors do propagate (a disk problem should be seen), except in `run`, which logs them and
keeps going. Once `run`'s stop event is set, a request to arXiv in progress (or waiting for the gate
or a back-off) is abandoned at once; nothing is recorded for it, and the next start asks again.

## When `run` asks (`plan`)

rss.arxiv.org switches its feed at about midnight US Eastern on announcement dates (Mon–Fri: the
Sun–Thu evenings' mailings). `run` watches closely around that moment and rests otherwise:

- **watch**: from `Watch.lead` (5 min) before the next awaited announcement's expected change to
  `Watch.span` (30 min) after it, while that announcement is not stored: one check every
  `Watch.interval` (60 s; the poll interval if that is shorter). A change is seen within a minute.
- **late**: today's announcement is still not in after the window (a late mailing, arXiv in trouble):
  every poll interval (`ARXIV_POLL_INTERVAL`, 600 s by default).
- **rest**: today's announcement is stored: no request until the next window opens (the loop still
  looks every poll interval, without asking arXiv, so a newly watched category is noticed: **extend**
  checks every poll interval until its papers are added).
- **quiet**: a day without an announcement (Saturday, Sunday, a holiday whose empty feed was seen,
  once its watch is over: the mailing may only be late): one check an hour (`Watch.rare`), so a
  surprise is still caught. Until that day's feed has been seen (or after an error), **unsettled**:
  every poll interval.
- **budget**: at most `Watch.daily_requests` (60) feed requests per US Eastern date, counted in the
  store (a restart does not reset it). When what is left would not last the day at one check an
  hour, checks become hourly (**rationed**); once it is spent, none until midnight US Eastern
  (**spent**). A check arXiv fails is retried inside the source (`ARXIV_MAX_RETRIES`), so the last
  check of a spent day may overshoot by its retries.

A normal announcement day takes about seven requests (five lead checks, the one that sees the change,
and at most one more); a weekend day about 24; a holiday or a day whose feed never changes at most 60. Every
check is one request, whatever the number of channels; the gate (bot.gate) keeps any two arXiv
requests at least 3 s apart. The clock and the sleep are injected, so a day runs in a test in
milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from bot.arxiv_client.source import ArxivSource
from bot.categories import normalise_category
from bot.clock import Clock, Sleep, utc_now
from bot.feeds import ArxivError, NoAnnouncement
from bot.models import Announcement, FeedCheck
from bot.ports import NO_ANNOUNCEMENT_KEY, REQUESTS_KEY, PrunedAnnouncementError, Store, StoreError
from bot.retry import unless_stopped
from bot.schedule import (
    ARXIV_TZ,
    arxiv_day_end,
    arxiv_today,
    is_announcement_day,
    next_announcement_date,
    watch_window,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Literal["new", "extended", "unchanged", "no_announcement", "error", "refused"]
Phase = Literal["watch", "late", "extend", "rest", "quiet", "unsettled", "rationed", "spent"]
MAX_RECOVERY_DAYS = 7


def _papers(count: int) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} paper{'' if count == 1 else 's'}"


class _Stopped(Exception):
    """`run` was told to stop while arXiv was being asked: the answer is no longer awaited."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one check of the feed found; `error` is what arXiv raised, for an "error" outcome."""

    outcome: Outcome
    announcement: Announcement | None
    message: str
    error: ArxivError | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    """How closely `run` watches the feed (seconds), and how many feed requests a day it may make."""

    lead: float = 300.0  # the watch starts this long before an announcement's expected change
    span: float = 1800.0  # … and ends this long after it, if the announcement has not come
    interval: float = 60.0  # between checks in the window (the poll interval, if shorter)
    rare: float = 3600.0  # between checks on a day without an announcement, once its feed was seen
    daily_requests: int = 60  # feed requests per US Eastern date, at most

    def __post_init__(self) -> None:
        """Refuse values that would make the loop spin or never watch."""
        if min(self.lead, self.span) < 0 or min(self.interval, self.rare) <= 0 or self.daily_requests < 1:
            raise ValueError("watch lead and span must not be negative, intervals and the budget positive")

    def budget_warning(self, poll_interval: float) -> str | None:
        """One line when `poll_interval` would spend the day's feed requests within the watch itself.

        Under a minute, the poll interval also paces the watch around an announcement (lead + span);
        if that alone takes more than `daily_requests`, a late announcement would be checked only
        hourly afterwards (rationed). None when the interval leaves the budget room.
        """
        pace = min(self.interval, poll_interval)
        needed = math.ceil((self.lead + self.span) / pace)
        if needed <= self.daily_requests:
            return None
        enough = math.ceil((self.lead + self.span) / self.daily_requests)
        minutes = round((self.lead + self.span) / 60)
        return (
            f"ARXIV_POLL_INTERVAL={poll_interval:g} spends the day's {self.daily_requests} feed requests "
            f"within the {minutes}-minute watch around the announcement ({needed} checks), so a late "
            f"announcement is checked hourly at best; use {enough} or more"
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """What `run` does now: whether to check the feed, and how long to wait before looking again."""

    phase: Phase
    check: bool
    wait: float  # seconds
    awaited: dt.date  # the next announcement date not in the store yet


class IngestService:
    """Keeps the store's announcements in step with arXiv."""

    def __init__(
        self,
        store: Store,
        source: ArxivSource,
        default_categories: Sequence[str],
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        recovery_days: int = MAX_RECOVERY_DAYS,
        retention_days: int = 14,
        watch: Watch | None = None,
        refuse_before: dt.date | None = None,
    ) -> None:
        """`clock` returns an aware datetime and `sleep` waits seconds of it (`run`'s pauses: tests
        pass both to simulate days); `recovery_days` (0–7) bounds the API recovery; `watch` how
        closely the feed is watched (see the module docstring); `refuse_before`: a new announcement
        older than this date is not stored (`ingest_once`)."""
        if not 0 <= recovery_days <= MAX_RECOVERY_DAYS:
            raise ValueError(f"recovery_days must be between 0 and {MAX_RECOVERY_DAYS}")
        if retention_days < 1:
            raise ValueError("retention_days must be positive")
        self.store = store
        self.source = source
        self.default_categories = tuple(default_categories)
        self.clock = clock
        self.sleep = sleep
        self.watch = watch or Watch()
        self.recovery_days = recovery_days
        self.retention_days = retention_days
        self.refuse_before = refuse_before
        # The announcement last refused as older than the ledger keeps, and the store's words (said once).
        self._refusal: tuple[dt.date, str] | None = None
        self._stop: asyncio.Event | None = None  # set by `run`: arXiv's answers are not awaited past it
        self._phase: tuple[Phase, dt.date] | None = None  # the last plan's, to log changes once

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
        """Fetch the current feed once and store it if it is a new announcement.

        A new announcement dated before `refuse_before` is not stored (outcome "refused", not recorded
        as a feed check: `arxiv-digest fetch` asks so for one outside RETENTION_DAYS). One older than
        the store's ledger keeps is refused by the store (`PrunedAnnouncementError`): outcome
        "refused", with the store's words, recorded as a failed check ("error").
        """
        oldest = self.refuse_before
        categories = await self.categories()
        try:
            found = await self._ask(self.source.fetch_feed(categories))
        except ArxivError as error:
            result = IngestResult("error", None, _one_line(error), error)
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
        if stored_categories is None and oldest is not None and found.date < oldest:
            message = f"the announcement of {day} is older than {oldest.isoformat()}: not stored"
            log.info("feed check: %s", message)
            return IngestResult("refused", found, message)
        if stored_categories is None and await self._save(found):
            result = IngestResult(
                "new", found, f"stored the announcement of {day}: {_papers(len(found.papers))}"
            )
            log.info("feed check: %s", result.message)
        elif stored_categories is None and self._refusal is not None and self._refusal[0] == found.date:
            result = IngestResult("refused", found, self._refusal[1])
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

    # -- when to ask ---------------------------------------------------------------------------------

    async def plan(self, interval: float) -> Plan:
        """Whether to check the feed now and how long to wait afterwards (see the module docstring).

        `interval` is the poll interval (ARXIV_POLL_INTERVAL): the pace outside the watch window while
        something is awaited, and the longest wait before the loop looks again.
        """
        now = self.clock()
        today = arxiv_today(now)
        awaited = await self._awaited(today, now)
        start, end = self._window(awaited)
        until_midnight = (arxiv_day_end(today) - now).total_seconds()
        until_start = (start - now).total_seconds()
        last = await self.last_check()
        since = _since(last, today, now)

        def wait(*limits: float) -> float:
            """At most the poll interval, and never past midnight US Eastern (the day's state changes)."""
            return max(min(interval, until_midnight, *limits), 0.001)

        if start <= now <= end:
            plan = Plan("watch", True, wait(self.watch.interval), awaited)
        elif awaited == today:  # due since midnight and past its window: late
            plan = Plan("late", True, wait(), awaited)
        elif (stored := await self.store.announcement_categories(today)) is not None:
            if set(await self.categories()) <= set(stored):
                plan = Plan("rest", False, wait(until_start), awaited)
            else:  # a chat started watching a category after today's announcement was stored
                plan = Plan("extend", True, wait(until_start), awaited)
        elif _seen_quiet(last, today):
            due = since >= self.watch.rare
            plan = Plan("quiet", due, wait(until_start, self.watch.rare - (0 if due else since)), awaited)
        else:
            plan = Plan("unsettled", True, wait(until_start), awaited)
        return await self._within_budget(plan, today, since, until_midnight, interval)

    async def _awaited(self, today: dt.date, now: dt.datetime) -> dt.date:
        """The next announcement date not stored: today if it is one, else a later one.

        A weekday whose feed came empty (a holiday, by the look of it) stays awaited until its watch
        ends, in case the mailing was only late.
        """
        day = today
        if not is_announcement_day(day) or (
            now > self._window(day)[1] and await self.store.get_state(NO_ANNOUNCEMENT_KEY + day.isoformat())
        ):
            day = next_announcement_date(day)
        for _ in range(MAX_RECOVERY_DAYS):  # a future date is stored only if arXiv switched early
            if await self.store.announcement_categories(day) is None:
                break
            day = next_announcement_date(day)
        return day

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The watch around the expected change to this date's announcement."""
        return watch_window(day, dt.timedelta(seconds=self.watch.lead), dt.timedelta(seconds=self.watch.span))

    async def _within_budget(
        self, plan: Plan, today: dt.date, since: float, until_midnight: float, interval: float
    ) -> Plan:
        """The plan, slowed to one check an hour when the day's budget runs low, or stopped when spent."""
        if not plan.check:
            return plan
        left = self.watch.daily_requests - await self.requests_on(today)
        if left <= 0:
            return Plan("spent", False, max(min(interval, until_midnight), 0.001), plan.awaited)
        if plan.phase == "quiet" or left > math.ceil(until_midnight / self.watch.rare):
            return plan
        due = since >= self.watch.rare
        pause = min(interval, until_midnight, self.watch.rare - (0 if due else since))
        return Plan("rationed", due, max(pause, 0.001), plan.awaited)

    async def requests_on(self, day: dt.date) -> int:
        """Feed requests `run` made on this US Eastern date (as counted in the store)."""
        value = await self.store.get_state(REQUESTS_KEY)
        date, _, count = (value or "").partition(" ")
        return int(count) if date == day.isoformat() and count.isdigit() else 0

    async def _count_requests(self, day: dt.date, made: int) -> None:
        """Add a check's requests to the day's count."""
        if made > 0:
            total = await self.requests_on(day) + made
            await self.store.set_state(REQUESTS_KEY, f"{day.isoformat()} {total}")

    def _log_phase(self, plan: Plan) -> None:
        """Say at INFO when the loop starts watching, resting, …; not at every wake-up."""
        if self._phase == (plan.phase, plan.awaited):
            return
        self._phase = (plan.phase, plan.awaited)
        start, _ = self._window(plan.awaited)
        opens = start.astimezone(ARXIV_TZ).strftime("%a %d %b %H:%M")
        awaited = plan.awaited.isoformat()
        text = {
            "watch": f"watching the feed for the announcement of {awaited}",
            "late": f"the announcement of {awaited} is late: checking every poll interval",
            "extend": "a newly watched category: fetching today's feed again",
            "rest": f"today's announcement is stored; next checks from {opens} US Eastern ({awaited})",
            "quiet": f"no announcement today; checking hourly, watching from {opens} US Eastern",
            "unsettled": "a day without an announcement: checking the feed",
            "rationed": "today's feed request budget is nearly spent: checking hourly",
            "spent": "today's feed request budget is spent: next check after midnight US Eastern",
        }[plan.phase]
        log.info("feed watch: %s", text)

    async def _record(self, result: IngestResult, *, date: dt.date | None, papers: int) -> None:
        """Remember the outcome of the last check for /status."""
        await self.store.record_feed_check(
            FeedCheck(
                checked_at=self.clock().astimezone(dt.UTC),
                # A refused announcement is recorded as a failed check: nothing usable was stored.
                outcome="error" if result.outcome == "refused" else result.outcome,
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
            if await self._save(announcement):
                log.info("recovered %s through the API: %d papers", day.isoformat(), len(announcement.papers))
                recovered.append(announcement)
        return recovered

    async def _save(self, announcement: Announcement) -> bool:
        """Store a new announcement; False if stored already or older than the ledger keeps (said once)."""
        try:
            return await self.store.save_announcement(announcement)
        except PrunedAnnouncementError as error:
            if self._refusal is None or self._refusal[0] != announcement.date:
                log.warning("%s", error)
            self._refusal = (announcement.date, str(error))
            return False

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
            log.info(
                "pruned %d announcement%s older than %d days",
                removed,
                "" if removed == 1 else "s",
                self.retention_days,
            )
        return removed

    async def run(
        self,
        stop: asyncio.Event,
        interval: float,
        on_new: Callable[[Announcement], Awaitable[None]] | None = None,
    ) -> None:
        """Recover at start-up, then check the feed as `plan` says until `stop` is set.

        `interval` is the poll interval (see `plan`). `on_new` is awaited for every newly stored
        announcement (recovered ones first, oldest first). Once a day (US Eastern) old announcements
        are pruned and missed days are looked for again.
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
            pause = await self._step(today, interval, on_new)
            await unless_stopped(stop, self.sleep(pause))

    async def _step(
        self, today: dt.date, interval: float, on_new: Callable[[Announcement], Awaitable[None]] | None
    ) -> float:
        """One turn of the loop: check the feed if the plan says so; return the seconds to wait."""
        try:
            plan = await self.plan(interval)
            self._log_phase(plan)
            if plan.check:
                await self._guarded(self._check(today, on_new), "feed check")
                plan = await self.plan(interval)
                self._log_phase(plan)
        except Exception:
            log.exception("planning the next feed check failed; trying again later")
            return interval
        return plan.wait

    async def _daily(self, today: dt.date, on_new: Callable[[Announcement], Awaitable[None]] | None) -> None:
        """Recover missed days (announcing each), then prune."""
        for announcement in await self._recover(today):
            await self._announce(announcement, on_new)
        await self.prune(today)

    async def _check(self, today: dt.date, on_new: Callable[[Announcement], Awaitable[None]] | None) -> None:
        """One feed check, counted against the day's budget; a new announcement is handed on."""
        before = self.source.gate.requests
        try:
            result = await self.ingest_once()
        finally:
            await self._count_requests(today, self.source.gate.requests - before)
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
        except StoreError as error:  # the database is away (a server restarting): said in one line
            log.error("%s failed: %s; trying again later", what, error)
        except Exception:
            log.exception("%s failed; trying again later", what)


def _since(last: FeedCheck | None, today: dt.date, now: dt.datetime) -> float:
    """Seconds since the last check if it was made today (US Eastern), else infinity."""
    if last is None or arxiv_today(last.checked_at) != today:
        return math.inf
    return max((now - last.checked_at).total_seconds(), 0.0)


def _seen_quiet(last: FeedCheck | None, today: dt.date) -> bool:
    """Whether today's last check saw a feed with nothing to wait for on a day without an announcement.

    An empty feed dated today, or an announcement (stored by that check, or before). An error, or an
    empty feed of another date (stale), does not count.
    """
    if last is None or arxiv_today(last.checked_at) != today or last.outcome == "error":
        return False
    return last.outcome != "no_announcement" or last.date == today


def _one_line(error: BaseException) -> str:
    """An exception as a single line of at most 300 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:299] + "…"
