"""arXiv misbehaving under the running ingest (issue 8, faults, item 2), as one matrix of faults.

`IngestService.run` runs on simulated time: its clock and sleep, and the gate's, are one clock that a
sleep moves on at once. The fake arXiv is the real HTTP one on 127.0.0.1; it serves a timetable of
feeds (scripted faults first) and notes, at the simulated instant of every request, what the store
holds. For every fault: the loop keeps going, the store only ever holds complete announcements, each
failed check is one WARNING line (no traceback) naming what happened, besides the source's one INFO
line per failed attempt, a Retry-After is kept, and the next check stores the announcement once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web
from lxml import etree

from bot.arxiv_client.api import split_arxiv_id
from bot.arxiv_client.source import ArxivSource
from bot.feeds import parse_feed
from bot.gate import ArxivGate
from bot.ingest import IngestService
from bot.models import Announcement
from bot.schedule import ARXIV_TZ
from tests.fakes.arxiv_server import ATOM, FIXTURES, FakeArxiv, Reply, recorded_api_body

DEFAULTS = ("cs.AI", "cs.CL")
SAMPLE = (FIXTURES / "rss" / "all-archives-2024-11-28-sample.xml").read_bytes()
EMPTY = (FIXTURES / "rss" / "empty-feed.xml").read_bytes()
API_PAGE = "q_testing_s0_m10_bc5a6c384fe9.json"  # ten entries: what the API rebuilds a missed day from
MON, TUE, WED, THU, FRI = (dt.date(2024, 11, day) for day in (25, 26, 27, 28, 29))
TIMEOUT = 0.3  # real seconds: the client's timeout (the slow reply takes longer)
POLL = 600.0  # ARXIV_POLL_INTERVAL
Stored = dict[dt.date, tuple[str, tuple[str, ...]]]  # date -> (source, sorted paper ids)


def eastern(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A US Eastern wall time, as an aware UTC datetime."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ARXIV_TZ).astimezone(dt.UTC)


def feed_of(day: dt.date, template: bytes = SAMPLE) -> bytes:
    """The recorded feed re-dated to `day`, its paper ids made that day's own (2411.17700 -> 2411.87700)."""
    body = template.replace(b"Thu, 28 Nov 2024", f"{day:%a, %d %b %Y}".encode())
    return body.replace(b"2411.1", f"2411.{day.day % 10}".encode())


def complete(day: dt.date) -> tuple[str, tuple[str, ...]]:
    """What the store holds once `day`'s feed is stored: every paper of it."""
    parsed = parse_feed(feed_of(day), list(DEFAULTS))
    assert isinstance(parsed, Announcement)
    return "rss", tuple(sorted(paper.arxiv_id for paper in parsed.papers))


def api_complete() -> tuple[str, tuple[str, ...]]:
    """What the store holds once a day is rebuilt from the API page: every entry of it."""
    root = etree.fromstring(recorded_api_body(API_PAGE)[1])
    found = (split_arxiv_id(entry.findtext(f"{{{ATOM}}}id") or "") for entry in root.iter(f"{{{ATOM}}}entry"))
    return "api", tuple(sorted({parts[0] for parts in found if parts is not None}))


def cut_after_item(body: bytes, items: int) -> bytes:
    """The body cut right after its `items`-th `</item>`: well-formed so far, but no end of channel."""
    end = 0
    for _ in range(items):
        end = body.index(b"</item>", end) + len(b"</item>")
    return body[:end]


async def stored(store: Any) -> Stored:
    """Every stored announcement: its source and its sorted paper ids."""
    found: Stored = {}
    for day in await store.announcement_dates(since=dt.date(2024, 1, 1)):
        announcement = await store.get_announcement(day)
        found[day] = (announcement.source, tuple(sorted(paper.arxiv_id for paper in announcement.papers)))
    return found


async def store_feed(store: Any, *days: dt.date) -> None:
    """Store these days' feeds, as earlier checks would have."""
    for day in days:
        parsed = parse_feed(feed_of(day), list(DEFAULTS))
        assert isinstance(parsed, Announcement)
        assert await store.save_announcement(parsed)


class SimTime:
    """A simulated clock: `sleep` moves it on at once; the run stops once it passes `stop_at`."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self.stop = asyncio.Event()
        self.stop_at = start

    def __call__(self) -> dt.datetime:
        """The simulated time (aware, UTC)."""
        return self.now

    def monotonic(self) -> float:
        """The simulated time in seconds, for the gate."""
        return self.now.timestamp()

    async def sleep(self, seconds: float) -> None:
        """Move the clock on by `seconds` (at least a microsecond) and let other tasks run once."""
        self.now += dt.timedelta(seconds=max(seconds, 1e-6))
        if self.now >= self.stop_at:
            self.stop.set()
        await asyncio.sleep(0)


class FaultyArxiv(FakeArxiv):
    """The fake arXiv on simulated time: scripted replies first, else the feed of the timetable.

    Every request is noted with its kind and simulated instant, and with what the store held then.
    """

    def __init__(self, time: SimTime, store: Any) -> None:
        super().__init__()
        self.time = time
        self.store = store
        self.timetable: list[tuple[dt.datetime, Reply]] = []  # (from when, the feed)
        self.times: list[tuple[str, dt.datetime]] = []
        self.snapshots: list[Stored] = []

    def feed_from(self, when: dt.datetime, day: dt.date) -> None:
        """Serve `day`'s feed from the simulated instant `when` on."""
        self.timetable.append((when, Reply(body=feed_of(day))))
        self.timetable.sort(key=lambda entry: entry[0])

    def at(self, kind: str) -> list[dt.datetime]:
        """The simulated instants of the requests of one kind."""
        return [when for seen, when in self.times if seen == kind]

    async def _note(self, kind: str) -> None:
        """Note the request and what the store holds as it arrives."""
        self.times.append((kind, self.time.now))
        self.snapshots.append(await stored(self.store))

    async def _rss(self, request: web.Request) -> web.Response:
        """The scripted reply, or the timetable's feed of the current simulated instant."""
        await self._note("rss")
        current = [reply for when, reply in self.timetable if when <= self.time.now]
        self.default_rss = current[-1] if current else Reply.error(503)
        return await super()._rss(request)

    async def _api(self, request: web.Request) -> web.Response:
        """The scripted reply, or a page of the result set."""
        await self._note("api")
        return await super()._api(request)


@pytest.fixture
def sim() -> SimTime:
    """Simulated time starting on Thursday 28 Nov 2024, 00:01 US Eastern: in the watch window."""
    return SimTime(eastern(THU, 0, 1))


@pytest.fixture
async def arxiv(sim: SimTime, store: Any) -> AsyncIterator[FaultyArxiv]:
    """The faulty fake on 127.0.0.1, watching the test's store."""
    fake = FaultyArxiv(sim, store)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def make_source(arxiv: FaultyArxiv, sim: SimTime) -> AsyncIterator[Callable[[int], ArxivSource]]:
    """Sources aimed at the fake: a 3 s gate on simulated time, a short timeout, no back-off."""
    made: list[ArxivSource] = []

    def build(max_retries: int) -> ArxivSource:
        """A source retrying `max_retries` times."""
        gate = ArxivGate(3.0, clock=sim.monotonic, sleep=sim.sleep)
        source = ArxivSource(
            arxiv.rss_url,
            arxiv.api_url,
            gate=gate,
            timeout=TIMEOUT,
            max_retries=max_retries,
            backoff=0,
            api_deadline=10,
        )
        made.append(source)
        return source

    yield build
    for source in made:
        await source.aclose()


async def run_until(
    store: Any, source: ArxivSource, sim: SimTime, until: dt.datetime, *, recovery_days: int = 0
) -> list[tuple[dt.date, str]]:
    """Run the ingest loop on simulated time until `until`; the announcements it handed on, in order."""
    announced: list[tuple[dt.date, str]] = []

    async def on_new(announcement: Announcement) -> None:
        """Note the date and source of what is handed on."""
        announced.append((announcement.date, announcement.source))

    ingest = IngestService(store, source, DEFAULTS, clock=sim, sleep=sim.sleep, recovery_days=recovery_days)
    sim.stop = asyncio.Event()
    sim.stop_at = until
    await asyncio.wait_for(ingest.run(sim.stop, POLL, on_new=on_new), timeout=15)
    assert sim.now >= until  # the loop ran on until it was told to stop: nothing ended it early
    return announced


def _of_client(record: logging.LogRecord) -> bool:
    """Whether a log record comes from one of the arXiv clients."""
    return record.name.startswith("bot.arxiv_client.")


class Lines:
    """The log records of bot.ingest and the arXiv clients (bot.arxiv_client.*), sorted by what they say."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.records = [r for r in caplog.records if r.name == "bot.ingest" or _of_client(r)]

    def warnings(self) -> list[str]:
        """Messages at WARNING or above."""
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]

    def attempts(self, kind: str = "RSS") -> list[str]:
        """The source's INFO lines for failed attempts (`RSS` or `API`)."""
        prefixes = ("arXiv RSS: ",) if kind == "RSS" else ("arXiv API answered ", "arXiv API request failed")
        return [
            r.getMessage()
            for r in self.records
            if _of_client(r) and r.levelno == logging.INFO and r.getMessage().startswith(prefixes)
        ]

    def info(self, prefix: str) -> list[str]:
        """INFO lines of bot.ingest starting with `prefix`."""
        return [
            r.getMessage()
            for r in self.records
            if r.name == "bot.ingest" and r.levelno == logging.INFO and r.getMessage().startswith(prefix)
        ]

    def assert_no_traceback(self) -> None:
        """Nothing at ERROR, no record with a traceback, every message on one line."""
        assert [r.getMessage() for r in self.records if r.levelno >= logging.ERROR] == []
        assert [r.getMessage() for r in self.records if r.exc_info or r.exc_text] == []
        assert [r.getMessage() for r in self.records if "\n" in r.getMessage()] == []


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], Lines]:
    """INFO and above captured from every logger; call to read bot.ingest's and the arXiv clients' lines."""
    caplog.set_level(logging.INFO)
    return lambda: Lines(caplog)


# -- one fault at the first check of the watch window --------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One way arXiv misbehaves on a request."""

    reply: Reply
    says: str  # what the check's WARNING, and the failed attempt's INFO line, must name
    retry_after: float = 0.0  # the Retry-After sent: no request to arXiv may come sooner
    transient: bool = True  # retried inside the check (a transport fault); else it fails the check at once


THURSDAY = feed_of(THU)
FAULTS = {
    "429-retry-after": Fault(Reply.error(429, "120"), "HTTP 429 (Retry-After 120 s)", retry_after=120),
    "503-retry-after": Fault(Reply.error(503, "90"), "HTTP 503 (Retry-After 90 s)", retry_after=90),
    "500": Fault(Reply.error(500), "HTTP 500"),
    "slow": Fault(Reply(body=THURSDAY, delay=1.0), f"timed out after {TIMEOUT:g} s"),
    "truncated-half": Fault(Reply(body=THURSDAY[: len(THURSDAY) // 2]), "broken feed: not well-formed XML"),
    "truncated-after-an-item": Fault(
        Reply(body=cut_after_item(THURSDAY, 10)), "broken feed: not well-formed XML"
    ),
    "html-200": Fault(Reply.html(200), "broken feed: got an HTML page"),
    "html-502": Fault(Reply.html(502), "HTTP 502"),
    "error-feed": Fault(
        Reply.feed("rss/error-feed.xml"), "arXiv reports a feed error: Bad archive 'astroph'", transient=False
    ),
}
MATRIX = [
    pytest.param(fault, retries, id=f"{name}/{'next-check' if retries == 0 else 'retried'}")
    for name, fault in FAULTS.items()
    for retries in (0, 1)
]


@pytest.mark.parametrize(("fault", "retries"), MATRIX)
async def test_a_fault_then_the_next_try_stores_the_announcement_once(
    store: Any,
    arxiv: FaultyArxiv,
    make_source: Callable[[int], ArxivSource],
    sim: SimTime,
    logs: Callable[[], Lines],
    fault: Fault,
    retries: int,
) -> None:
    """A fault at 00:01 ET: loop goes on, nothing half-stored, one warning, Retry-After kept, stored once."""
    await store_feed(store, WED)
    arxiv.queue_rss(fault.reply)
    arxiv.feed_from(eastern(THU, 0), THU)
    announced = await run_until(store, make_source(retries), sim, until=eastern(THU, 2))

    in_check = fault.transient and retries > 0  # the source's own retry got the feed
    first, second = arxiv.at("rss")  # the fault, the good answer, then rest: no other request
    assert first == eastern(THU, 0, 1)
    pace = 3.0 if in_check else 60.0  # the gate's interval between attempts, or the watch's
    assert (second - first).total_seconds() == max(pace, fault.retry_after)
    assert second - first >= dt.timedelta(seconds=fault.retry_after)

    assert arxiv.snapshots == [{WED: complete(WED)}] * 2  # no part of Thursday before it is all in
    assert await stored(store) == {WED: complete(WED), THU: complete(THU)}
    assert announced == [(THU, "rss")]

    lines = logs()
    lines.assert_no_traceback()
    warnings = lines.warnings()
    assert len(warnings) == (0 if in_check else 1)
    for warning in warnings:
        assert warning.startswith("feed check failed: ")
        assert fault.says in warning
    attempts = lines.attempts()
    assert len(attempts) == (1 if fault.transient else 0)  # one per failed attempt, none for an error feed
    assert all(fault.says in attempt for attempt in attempts)
    assert lines.info("feed check: stored the announcement of 2024-11-28") == [
        "feed check: stored the announcement of 2024-11-28: 20 papers"
    ]


async def test_an_empty_feed_in_the_window_is_one_info_line_and_the_late_mailing_is_stored(
    store: Any,
    arxiv: FaultyArxiv,
    make_source: Callable[[int], ArxivSource],
    sim: SimTime,
    logs: Callable[[], Lines],
) -> None:
    """Thursday's feed empty at 00:01 ET: no warning, nothing stored, one INFO line; stored at 00:02."""
    await store_feed(store, WED)
    arxiv.queue_rss(Reply(body=feed_of(THU, EMPTY)))
    arxiv.feed_from(eastern(THU, 0), THU)
    announced = await run_until(store, make_source(1), sim, until=eastern(THU, 2))

    assert arxiv.at("rss") == [eastern(THU, 0, 1), eastern(THU, 0, 2)]  # not retried: a valid feed
    assert arxiv.snapshots == [{WED: complete(WED)}] * 2
    assert await stored(store) == {WED: complete(WED), THU: complete(THU)}
    assert announced == [(THU, "rss")]
    lines = logs()
    lines.assert_no_traceback()
    assert lines.warnings() == []
    assert lines.attempts() == []
    empty = lines.info("feed check: ")
    assert len(empty) == 2  # the empty feed, then the stored announcement
    assert empty[0].startswith("feed check: no announcement for Thursday 2024-11-28 (an arXiv holiday")
    assert empty[1] == "feed check: stored the announcement of 2024-11-28: 20 papers"


# -- the feed changing mid-cycle -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param(
            (Reply(body=feed_of(WED)), Reply.error(503, "90"), Reply(body=cut_after_item(THURSDAY, 5))),
            id="stale-503-truncated",
        ),
        pytest.param(
            (Reply(body=cut_after_item(THURSDAY, 5)), Reply(body=feed_of(WED)), Reply.error(503, "90")),
            id="truncated-stale-503",
        ),
    ],
)
async def test_the_feed_changing_between_checks_of_one_window_with_faults(
    store: Any,
    arxiv: FaultyArxiv,
    make_source: Callable[[int], ArxivSource],
    sim: SimTime,
    logs: Callable[[], Lines],
    replies: tuple[Reply, ...],
) -> None:
    """Stale, 503 and truncated answers across one watch: each failure one warning, Thursday stored once."""
    sim.now = eastern(WED, 23, 58)
    await store_feed(store, WED)
    arxiv.queue_rss(*replies)
    arxiv.feed_from(eastern(WED, 0), THU)  # once the script is spent, Thursday's: it has changed
    announced = await run_until(store, make_source(0), sim, until=eastern(THU, 2))

    times = arxiv.at("rss")
    assert len(times) == 4  # three troubled checks, the good one, then rest
    assert times[0] == eastern(WED, 23, 58)
    spacing = [(b - a).total_seconds() for a, b in pairwise(times)]
    after_503 = [reply.status for reply in replies].index(503)
    assert spacing[after_503] == 90  # the Retry-After, not the watch's 60 s
    assert all(gap == 60 for index, gap in enumerate(spacing) if index != after_503)

    assert all(snapshot == {WED: complete(WED)} for snapshot in arxiv.snapshots)  # Wednesday kept whole
    assert await stored(store) == {WED: complete(WED), THU: complete(THU)}
    assert announced == [(THU, "rss")]  # the stale Wednesday is not handed on again
    lines = logs()
    lines.assert_no_traceback()
    warnings = lines.warnings()
    assert len(warnings) == 2  # the 503 and the truncated feed; the stale feed is no failure
    assert sorted("HTTP 503 (Retry-After 90 s)" in w for w in warnings) == [False, True]
    assert sorted("broken feed" in w for w in warnings) == [False, True]
    assert len(lines.attempts()) == 2


@pytest.mark.parametrize(
    ("api_fails", "thursday_from", "wednesday"),
    [
        pytest.param(False, eastern(THU, 0, 2), api_complete(), id="api-then-stale-feed"),
        pytest.param(False, eastern(THU, 0), api_complete(), id="api-then-changed-feed"),
        pytest.param(True, eastern(THU, 0, 5), complete(WED), id="api-503-stale-feed-fills-in"),
    ],
)
async def test_the_feed_changing_around_the_api_recovery(
    store: Any,
    arxiv: FaultyArxiv,
    make_source: Callable[[int], ArxivSource],
    sim: SimTime,
    logs: Callable[[], Lines],
    api_fails: bool,
    thursday_from: dt.datetime,
    wednesday: tuple[str, tuple[str, ...]],
) -> None:
    """Down all Wednesday, up at 00:00 ET: Wednesday (API, or the stale feed) and Thursday, once each."""
    sim.now = eastern(THU, 0)
    await store_feed(store, MON, TUE)
    arxiv.use_api_entries(API_PAGE)
    if api_fails:
        arxiv.queue_api(Reply.error(503, "120"))
    arxiv.feed_from(eastern(WED, 0), WED)  # the feed still shows Wednesday's until `thursday_from`
    arxiv.feed_from(thursday_from, THU)
    announced = await run_until(store, make_source(0), sim, until=eastern(THU, 2), recovery_days=2)

    api, rss = arxiv.at("api"), arxiv.at("rss")
    assert api == [eastern(THU, 0)]  # one API request: the failure ends the recovery for the day
    gap = (rss[0] - api[0]).total_seconds()
    assert gap == (120 if api_fails else 3)  # the API's Retry-After holds for the feed too (one gate)
    assert [t for t in rss if t >= thursday_from] == [rss[-1]]  # Thursday stored at first sight, then rest

    final = {MON: complete(MON), TUE: complete(TUE), WED: wednesday, THU: complete(THU)}
    for snapshot in arxiv.snapshots:  # only whole announcements at any moment; never the two mixed
        assert {day: final[day] for day in snapshot} == snapshot
    assert await stored(store) == final
    assert announced == [(WED, wednesday[0]), (THU, "rss")]
    lines = logs()
    lines.assert_no_traceback()
    if api_fails:
        assert lines.warnings() == [
            "recovering 2024-11-27 failed: arXiv API unavailable after 1 attempt: "
            "HTTP 503 (Retry-After 120 s)"
        ]
        assert lines.attempts("API") == ["arXiv API answered HTTP 503 (Retry-After 120 s) (attempt 1 of 1)"]
    else:
        assert lines.warnings() == []
        assert lines.info("recovered 2024-11-27 through the API") == [
            "recovered 2024-11-27 through the API: 10 papers"
        ]


async def test_a_failed_api_recovery_is_retried_at_the_next_daily_tick(
    store: Any,
    arxiv: FaultyArxiv,
    make_source: Callable[[int], ArxivSource],
    sim: SimTime,
    logs: Callable[[], Lines],
) -> None:
    """The API fails at start-up and the feed has moved on: Wednesday is rebuilt at Friday 00:00 ET, once."""
    sim.now = eastern(THU, 0)
    await store_feed(store, MON, TUE)
    arxiv.use_api_entries(API_PAGE)
    arxiv.queue_api(Reply.error(503, "120"))
    arxiv.feed_from(eastern(THU, 0), THU)
    arxiv.feed_from(eastern(FRI, 0), FRI)
    announced = await run_until(store, make_source(0), sim, until=eastern(FRI, 1), recovery_days=2)

    assert arxiv.at("api") == [eastern(THU, 0), eastern(FRI, 0)]  # no hammering in between
    assert announced == [(THU, "rss"), (WED, "api"), (FRI, "rss")]
    assert await stored(store) == {
        MON: complete(MON),
        TUE: complete(TUE),
        WED: api_complete(),
        THU: complete(THU),
        FRI: complete(FRI),
    }
    lines = logs()
    lines.assert_no_traceback()
    assert len(lines.warnings()) == 1
