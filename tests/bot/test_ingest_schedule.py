"""When `IngestService.run` asks arXiv: close watch around the expected change, rest otherwise.

Whole days are simulated: the ingest's clock and sleep, and the gate's, are one simulated clock that
a sleep moves on at once, so a day takes well under a second. The fake arXiv is the real HTTP one on
127.0.0.1; its feed changes when the simulated clock passes a chosen instant, and it notes the
simulated time of every request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web

from bot.arxiv_client.source import ArxivSource
from bot.gate import ArxivGate
from bot.ingest import IngestService, Plan, Watch
from bot.models import Announcement, Channel, Topic
from bot.schedule import ARXIV_TZ, arxiv_today, watch_window
from tests.fakes.arxiv_server import FIXTURES, FakeArxiv, Reply

DEFAULTS = ("cs.AI", "cs.CL")
SAMPLE = (FIXTURES / "rss" / "all-archives-2024-11-28-sample.xml").read_bytes()
EMPTY = (FIXTURES / "rss" / "empty-feed.xml").read_bytes()
SAMPLE_DAY = b"Thu, 28 Nov 2024"  # how the recorded feeds name their date
WED, THU, FRI, SAT = (dt.date(2024, 11, day) for day in (27, 28, 29, 30))
SUN, MON = dt.date(2024, 12, 1), dt.date(2024, 12, 2)


def eastern(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A US Eastern wall time, as an aware UTC datetime."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ARXIV_TZ).astimezone(dt.UTC)


def dated(feed: bytes, day: dt.date) -> Reply:
    """A recorded feed re-dated to `day` (what rss.arxiv.org would label it)."""
    return Reply(body=feed.replace(SAMPLE_DAY, f"{day:%a, %d %b %Y}".encode()))


class SimTime:
    """A simulated clock: `sleep` moves it on at once; the run stops when it passes `stop_at`."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self.stop = asyncio.Event()
        self.stop_at: dt.datetime | None = None
        self.sleeps: list[float] = []

    def __call__(self) -> dt.datetime:
        """The simulated time (aware, UTC)."""
        return self.now

    def monotonic(self) -> float:
        """The simulated time in seconds, for the gate."""
        return self.now.timestamp()

    async def sleep(self, seconds: float) -> None:
        """Move the clock on by `seconds` and let other tasks run once."""
        self.sleeps.append(seconds)
        self.now += dt.timedelta(seconds=seconds)
        if self.stop_at is not None and self.now >= self.stop_at:
            self.stop.set()
        await asyncio.sleep(0)


class SwitchingArxiv(FakeArxiv):
    """The fake arXiv whose feed follows a timetable of simulated instants; requests noted in sim time."""

    def __init__(self, time: SimTime) -> None:
        super().__init__()
        self.time = time
        self.timetable: list[tuple[dt.datetime, Reply]] = []  # (from when, the feed), in order
        self.times: list[dt.datetime] = []

    def feed_from(self, when: dt.datetime, reply: Reply) -> None:
        """Serve `reply` from the simulated instant `when` on."""
        self.timetable.append((when, reply))
        self.timetable.sort(key=lambda entry: entry[0])

    async def _rss(self, request: web.Request) -> web.Response:
        """The feed of the current simulated instant."""
        self.times.append(self.time.now)
        current = [reply for when, reply in self.timetable if when <= self.time.now]
        self.default_rss = current[-1] if current else Reply(status=503)
        return await super()._rss(request)

    def per_day(self) -> Counter[dt.date]:
        """Requests per US Eastern date."""
        return Counter(arxiv_today(moment) for moment in self.times)


@pytest.fixture
def sim() -> SimTime:
    """Simulated time starting on Wednesday 27 Nov 2024, noon US Eastern."""
    return SimTime(eastern(WED, 12))


@pytest.fixture
async def arxiv(sim: SimTime) -> AsyncIterator[SwitchingArxiv]:
    """The switching fake on 127.0.0.1."""
    fake = SwitchingArxiv(sim)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def source(arxiv: SwitchingArxiv, sim: SimTime) -> AsyncIterator[ArxivSource]:
    """A source aimed at the fake, its gate on simulated time (3 s between requests)."""
    gate = ArxivGate(3.0, clock=sim.monotonic, sleep=sim.sleep)
    made = ArxivSource(arxiv.rss_url, arxiv.api_url, gate=gate, timeout=5, max_retries=0, backoff=0)
    try:
        yield made
    finally:
        await made.aclose()


class Announced:
    """An `on_new` that notes when (simulated) each announcement was handed on."""

    def __init__(self, time: SimTime) -> None:
        self.time = time
        self.seen: list[tuple[dt.date, dt.datetime]] = []

    async def __call__(self, announcement: Announcement) -> None:
        """Note it."""
        self.seen.append((announcement.date, self.time.now))


async def simulate(
    store: Any,
    source: ArxivSource,
    sim: SimTime,
    until: dt.datetime,
    *,
    interval: float = 600.0,
    watch: Watch | None = None,
) -> Announced:
    """Run the ingest on simulated time until `until`; what it announced, and when."""
    announced = Announced(sim)
    ingest = IngestService(store, source, DEFAULTS, clock=sim, sleep=sim.sleep, recovery_days=0, watch=watch)
    sim.stop = asyncio.Event()
    sim.stop_at = until
    await asyncio.wait_for(ingest.run(sim.stop, interval, on_new=announced), timeout=30)
    return announced


def thursday_timetable(arxiv: SwitchingArxiv, change: dt.datetime) -> None:
    """Wednesday's announcement until `change`, Thursday's from then on."""
    arxiv.feed_from(eastern(WED, 0), dated(SAMPLE, WED))
    arxiv.feed_from(change, dated(SAMPLE, THU))


@pytest.mark.parametrize("late_by", [0, 40, 59, 61, 600], ids=lambda s: f"change+{s}s")
async def test_the_change_is_seen_within_two_minutes_with_few_requests(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime, late_by: int
) -> None:
    """The feed switches at about midnight ET: seen within 2 min, stored once, ≤ 60 requests that day."""
    change = eastern(THU, 0) + dt.timedelta(seconds=late_by)
    thursday_timetable(arxiv, change)
    announced = await simulate(store, source, sim, until=eastern(THU, 23, 50))

    assert [day for day, _ in announced.seen] == [WED, THU]
    seen = announced.seen[1][1]
    assert dt.timedelta(0) <= seen - change <= dt.timedelta(minutes=2)
    assert seen - change <= dt.timedelta(seconds=61)  # one watch interval, and the request itself
    per_day = arxiv.per_day()
    assert per_day[THU] <= 60
    assert per_day[THU] <= late_by // 60 + 2  # one a minute after midnight until it is seen, no more
    assert per_day[WED] <= 1 + 6  # Wednesday's own, then the lead checks from 23:55
    assert min(b - a for a, b in pairwise(arxiv.times)) >= dt.timedelta(seconds=3)
    assert all(t < eastern(THU, 0, 30) for t in arxiv.times if arxiv_today(t) == THU)  # rests once stored
    assert await store.announcement_dates(since=WED) == [WED, THU]


async def test_no_request_while_resting_except_in_the_window(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """Once Wednesday's is stored, the next request is at 23:55 ET; then one a minute until the change."""
    thursday_timetable(arxiv, eastern(THU, 0, 2, 30))
    await simulate(store, source, sim, until=eastern(THU, 12))
    assert arxiv.times[0] == eastern(WED, 12)
    later = arxiv.times[1:]
    assert later[0] == eastern(WED, 23, 55)
    assert [b - a for a, b in pairwise(later)] == [dt.timedelta(seconds=60)] * (len(later) - 1)
    assert later[-1] == eastern(THU, 0, 3)  # the first check after 00:02:30
    assert len(later) == 9


async def test_a_weekend_takes_a_check_an_hour(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """Friday's stored; Saturday's and Sunday's empty feeds are checked hourly; Monday's is caught."""
    sim.now = eastern(FRI, 12)
    arxiv.feed_from(eastern(FRI, 0), dated(SAMPLE, FRI))
    arxiv.feed_from(eastern(SAT, 0), dated(EMPTY, SAT))
    arxiv.feed_from(eastern(SUN, 0), dated(EMPTY, SUN))
    monday = eastern(MON, 0, 0, 20)
    arxiv.feed_from(monday, dated(SAMPLE, MON))
    announced = await simulate(store, source, sim, until=eastern(MON, 12))

    assert [day for day, _ in announced.seen] == [FRI, MON]
    assert announced.seen[1][1] - monday <= dt.timedelta(minutes=2)
    per_day = arxiv.per_day()
    assert per_day[FRI] == 1
    assert per_day[SAT] <= 25
    assert per_day[SUN] <= 25 + 6
    saturday = [t for t in arxiv.times if arxiv_today(t) == SAT]
    assert min(b - a for a, b in pairwise(saturday)) >= dt.timedelta(hours=1)
    assert await store.announcement_dates(since=FRI) == [FRI, MON]


async def test_a_holiday_is_watched_to_the_end_of_the_window_then_checked_hourly(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """Thursday's feed is empty at midnight (a holiday, or late): watched to 00:30 ET, then hourly."""
    arxiv.feed_from(eastern(WED, 0), dated(SAMPLE, WED))
    arxiv.feed_from(eastern(THU, 0), dated(EMPTY, THU))
    await simulate(store, source, sim, until=eastern(FRI, 0, 0, 1))
    thursday = [t for t in arxiv.times if arxiv_today(t) == THU]
    watched = [t for t in thursday if t <= eastern(THU, 0, 30)]
    assert watched == [eastern(THU, 0, minute) for minute in range(31)]
    hourly = [t for t in thursday if eastern(THU, 0, 30) < t < eastern(THU, 23, 55)]
    assert hourly == [eastern(THU, hour, 30) for hour in range(1, 24)]
    assert len(thursday) == 31 + 23 + 5 <= 60  # and Friday's lead checks from 23:55
    assert await store.announcement_dates(since=WED) == [WED]


async def test_an_empty_weekday_feed_then_a_late_mailing_is_caught_at_watch_pace(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """Empty at midnight, Thursday's announcement at 00:10:30 ET: seen at 00:11, within the window."""
    arxiv.feed_from(eastern(WED, 0), dated(SAMPLE, WED))
    arxiv.feed_from(eastern(THU, 0), dated(EMPTY, THU))
    arxiv.feed_from(eastern(THU, 0, 10, 30), dated(SAMPLE, THU))
    announced = await simulate(store, source, sim, until=eastern(THU, 12))
    assert announced.seen[1] == (THU, eastern(THU, 0, 11))


async def test_a_feed_that_never_changes_costs_at_most_60_requests_a_day(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """arXiv keeps Wednesday's feed all Thursday: watch, then every poll interval, then hourly: ≤ 60."""
    arxiv.feed_from(eastern(WED, 0), dated(SAMPLE, WED))
    await simulate(store, source, sim, until=eastern(FRI, 0, 0, 1))
    per_day = arxiv.per_day()
    assert 50 <= per_day[THU] <= 60
    thursday = [t for t in arxiv.times if arxiv_today(t) == THU]
    assert min(b - a for a, b in pairwise(thursday)) == dt.timedelta(seconds=60)
    assert max(b - a for a, b in pairwise(thursday)) == dt.timedelta(hours=1)


async def test_a_small_budget_is_never_exceeded(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """With a budget of 12 requests a day and a stuck feed, Thursday gets 12 requests, then none."""
    arxiv.feed_from(eastern(WED, 0), dated(SAMPLE, WED))
    await simulate(store, source, sim, until=eastern(THU, 23, 59), watch=Watch(daily_requests=12))
    assert arxiv.per_day()[THU] == 12


async def test_a_restart_in_the_window_watches_on_and_stores_once(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """Stopped at 00:00:10 ET and started again at 00:00:25: the change at 00:00:40 is seen, stored once."""
    change = eastern(THU, 0, 0, 40)
    thursday_timetable(arxiv, change)
    first = await simulate(store, source, sim, until=eastern(THU, 0, 0, 10))
    assert [day for day, _ in first.seen] == [WED]
    sim.now = eastern(THU, 0, 0, 25)  # the restart takes a while
    second = await simulate(store, source, sim, until=eastern(THU, 6))

    assert [day for day, _ in second.seen] == [THU]
    assert second.seen[0][1] - change <= dt.timedelta(minutes=2)
    assert arxiv.times.count(eastern(THU, 0, 0, 25)) == 1  # it looked at once on starting
    assert await store.announcement_dates(since=WED) == [WED, THU]
    ingest = IngestService(store, source, DEFAULTS, clock=sim)
    assert await ingest.requests_on(THU) == arxiv.per_day()[THU]  # the budget survived the restart


@pytest.mark.parametrize("channels", [1, 300])
async def test_one_request_per_check_whatever_the_number_of_channels(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime, channels: int
) -> None:
    """1 or 300 channels (with their own categories): the same requests at the same instants."""
    for number in range(channels):
        topic = Topic(name="t", keywords=("robot",), categories=("cs.RO",) if number % 2 == 0 else ())
        await store.save_channel(Channel(platform="test", chat_id=str(number), active=True, topics=(topic,)))
    thursday_timetable(arxiv, eastern(THU, 0, 1))
    await simulate(store, source, sim, until=eastern(THU, 12))
    assert {request.path for request in arxiv.requests} == {"/rss/cs.AI+cs.CL+cs.RO"}
    assert [t - eastern(WED, 0) for t in arxiv.times] == [
        dt.timedelta(hours=12),
        *(dt.timedelta(hours=23, minutes=55 + n) for n in range(7)),
    ]


async def test_a_short_poll_interval_also_shortens_the_watch(
    store: Any, source: ArxivSource, arxiv: SwitchingArxiv, sim: SimTime
) -> None:
    """ARXIV_POLL_INTERVAL=20: checks every 20 s in the window (and the day's budget still holds)."""
    change = eastern(THU, 0, 0, 50)
    thursday_timetable(arxiv, change)
    sim.now = eastern(WED, 22)  # the loop wakes every 20 s while resting: start late in the day
    announced = await simulate(store, source, sim, until=eastern(THU, 2), interval=20)
    assert announced.seen[1][1] - change <= dt.timedelta(seconds=21)
    window = [t for t in arxiv.times if t >= eastern(WED, 23, 55)]
    assert {b - a for a, b in pairwise(window)} == {dt.timedelta(seconds=20)}


# -- the plan at chosen instants ------------------------------------------------------------------------


async def plan_at(store: Any, source: ArxivSource, moment: dt.datetime, interval: float = 600) -> Plan:
    """The ingest's plan at `moment`."""
    return await IngestService(store, source, DEFAULTS, clock=lambda: moment).plan(interval)


async def store_day(store: Any, day: dt.date) -> None:
    """Store the sample announcement under `day`."""
    from bot.feeds import parse_feed

    parsed = parse_feed(dated(SAMPLE, day).body, list(DEFAULTS))
    assert isinstance(parsed, Announcement)
    await store.save_announcement(parsed)


async def test_plan_rests_until_the_window_then_watches(store: Any, source: ArxivSource) -> None:
    """Wednesday's stored: rest (waking at most every poll interval), watch from 23:55 ET for Thursday."""
    await store_day(store, WED)
    noon = await plan_at(store, source, eastern(WED, 12))
    assert (noon.phase, noon.check, noon.wait, noon.awaited) == ("rest", False, 600, THU)
    before = await plan_at(store, source, eastern(WED, 23, 54))
    assert (before.phase, before.check, before.wait) == ("rest", False, 60)
    lead = await plan_at(store, source, eastern(WED, 23, 55))
    assert (lead.phase, lead.check, lead.wait, lead.awaited) == ("watch", True, 60, THU)
    after = await plan_at(store, source, eastern(THU, 0, 31))
    assert (after.phase, after.check, after.wait) == ("late", True, 600)
    await store_day(store, THU)
    stored = await plan_at(store, source, eastern(THU, 0, 31))
    assert (stored.phase, stored.check, stored.awaited) == ("rest", False, FRI)


async def test_plan_for_a_friday_waits_for_monday(store: Any, source: ArxivSource) -> None:
    """Friday's stored: the next awaited date is Monday, watched from Sunday 23:55 ET."""
    await store_day(store, FRI)
    plan = await plan_at(store, source, eastern(FRI, 18))
    assert (plan.phase, plan.awaited) == ("rest", MON)
    start, end = watch_window(MON, dt.timedelta(minutes=5), dt.timedelta(minutes=30))
    assert (start, end) == (eastern(SUN, 23, 55), eastern(MON, 0, 30))
    watching = await plan_at(store, source, eastern(SUN, 23, 58))
    assert (watching.phase, watching.awaited) == ("watch", MON)


async def test_plan_extends_a_stored_day_for_a_new_category(store: Any, source: ArxivSource) -> None:
    """A chat starts watching cs.RO after Wednesday's was stored: check every poll interval again."""
    await store_day(store, WED)
    topic = Topic(name="robots", keywords=("robot",), categories=("cs.RO",))
    await store.save_channel(Channel(platform="test", chat_id="1", active=True, topics=(topic,)))
    plan = await plan_at(store, source, eastern(WED, 15))
    assert (plan.phase, plan.check, plan.wait) == ("extend", True, 600)


async def test_an_early_feed_moves_the_watch_to_the_next_date(store: Any, source: ArxivSource) -> None:
    """Thursday's feed came at 23:58 ET on Wednesday and is stored: no more watching for it."""
    await store_day(store, WED)
    await store_day(store, THU)
    plan = await plan_at(store, source, eastern(WED, 23, 59))
    assert (plan.phase, plan.check, plan.awaited) == ("rest", False, FRI)


def test_watch_refuses_values_that_would_spin() -> None:
    """A zero interval or budget is refused."""
    for bad in ({"interval": 0}, {"rare": 0}, {"daily_requests": 0}, {"lead": -1}):
        with pytest.raises(ValueError, match="watch"):
            Watch(**bad)


@pytest.mark.parametrize(("poll_interval", "warned"), [(3, True), (30, True), (35, False), (600, False)])
def test_a_poll_interval_that_spends_the_budget_within_the_watch_is_warned_about(
    poll_interval: float, warned: bool
) -> None:
    """Under a minute the poll interval paces the 35-minute watch: at 30 s that is 70 of the 60 requests."""
    warning = Watch().budget_warning(poll_interval)
    assert (warning is not None) is warned
    if warning:
        assert warning.startswith(f"ARXIV_POLL_INTERVAL={poll_interval} spends the day's 60 feed requests")
        assert warning.endswith("use 35 or more")
        assert "\n" not in warning
