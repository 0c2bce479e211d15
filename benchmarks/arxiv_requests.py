"""arXiv politeness and latency: a simulated day of the ingest at default settings, 1 and 10,000 channels.

    python benchmarks/arxiv_requests.py [--channels 10000] [--change-after 40] [--feed PATH]

The real `IngestService` (default settings: ARXIV_POLL_INTERVAL 600 s, ARXIV_REQUEST_INTERVAL 3 s,
the default categories, the watch of bot/ingest.py), `ArxivSource`, `ArxivGate`, `DeliveryService`
and `SqliteStore` (a temporary file) run against the fake arXiv (tests/fakes/arxiv_server.py) on
127.0.0.1, on a simulated clock: every sleep of the ingest and the gate moves it on at once, and the
real time spent working (HTTP, SQLite, matching, delivering) is added to it, so a day takes seconds.

The day: Tuesday 11 Nov 2025 12:00 US Eastern to Wednesday 12:00. Tuesday's announcement (the real
1,504-paper all-archives day of 2024-11-28, re-dated) is already stored and every channel has had
its digest, as for a bot that has been running. The fake's feed shows Tuesday's announcement until
Wednesday 00:00 ET plus `--change-after` seconds, then Wednesday's (1,504 other papers: the same day's
copies with distinct ids, as in benchmarks/matching.py). On a new announcement the ingest's `on_new`
runs a delivery round at once (as `wake` does in bot/main/app.py) through a no-op chat adapter that notes
the simulated instant of every channel's first and last message. The channels (1, then `--channels`)
each have one realistic topic (benchmarks/_common.py; two thirds name categories of their own, which
join the one feed request).

Every request to the fake arXiv counts, the feed's (RSS) and the API's alike: the bot starts at Tuesday
12:00 ET, and its start-up recovery (RECOVERY_DAYS 7) asks the API for the days before Tuesday that are
not in the store (10 requests, 3 s apart, through the same gate), then the feed watch begins. Reported:
requests in the day (RSS + API), the smallest gap between any two of them (simulated seconds, from the
fake's arrivals; the gate guarantees ≥ 3 s), feed requests per feed check, whether 1 and 10,000
channels made the same requests (RSS and API) at the same instants (within 5 s: real work, more of it
with more channels, adds to the clock), and the latency from the feed changing to the first and the
last channel's digest; then the worst first latency over other instants of the change within the watch
(00:00–00:29 ET; a change after the watch ends at 00:30 is seen within ARXIV_POLL_INTERVAL instead).
The adapter sends nothing anywhere, so the last latency is the first plus delivery's own work
(matching, ledger, rendering) for every channel; a real platform adds its rate limits (at Telegram's 30
messages/s, 10,000 chats take at least 333 s: benchmarks/fanout_telegram.py).

Then, with 1 channel, the days that cost the most requests: a Saturday (empty feed), a holiday (an
empty feed on a weekday) and a day whose feed never changes (arXiv stuck): requests on that US Eastern
date.

Ends with one line:
`arxiv: <n> requests (<r> RSS + <a> API) with 1 channel, <n> (<r> RSS + <a> API) with 10000 channels;
min gap <s> s over all of them; <n> requests/day; latency first <s> s, last <s> s`
and exits 1 if a target is missed: more than 60 requests a day, RSS and API (any scenario), a gap
under 3 s between any two requests,
requests that differ between 1 and 10,000 channels, a first digest later than 120 s, or a channel
without its digest.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import _common
from aiohttp import web

from bot.arxiv_client.source import ArxivSource
from bot.delivery import DeliveryService
from bot.feeds import parse_feed
from bot.gate import ArxivGate
from bot.ingest import IngestService
from bot.models import Announcement, Channel, Digest, LoadedView, Paper
from bot.platforms.port import OutgoingMessage
from bot.schedule import ARXIV_TZ, arxiv_today
from bot.settings import Settings
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply

MAX_PER_DAY = 60
MIN_GAP = 3.0
MAX_FIRST_LATENCY = 120.0
# Other instants of the change (seconds after midnight ET), 1 channel: the worst first latency of them.
SWEEP = (0.0, 1.0, 30.0, 59.0, 61.0, 119.0, 300.0, 900.0, 1740.0)
TUESDAY, WEDNESDAY = dt.date(2025, 11, 11), dt.date(2025, 11, 12)


def eastern(day: dt.date, hour: int = 0, minute: int = 0, second: float = 0.0) -> dt.datetime:
    """A US Eastern wall time as an aware UTC datetime."""
    moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ARXIV_TZ)
    return (moment + dt.timedelta(seconds=second)).astimezone(dt.UTC)


class SimClock:
    """Simulated time: sleeps jump at once; real time spent working is added on top."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.jumped = 0.0
        self.real0 = time.perf_counter()
        self.stop = asyncio.Event()
        self.stop_at = start

    def restart(self, start: dt.datetime, stop_at: dt.datetime) -> None:
        """Begin a simulation at `start` (now), to end at `stop_at`."""
        self.start, self.jumped, self.real0 = start, 0.0, time.perf_counter()
        self.stop, self.stop_at = asyncio.Event(), stop_at

    def seconds(self) -> float:
        """Simulated seconds since the start."""
        return self.jumped + (time.perf_counter() - self.real0)

    def __call__(self) -> dt.datetime:
        """The simulated time (aware, UTC): the ingest's and delivery's clock."""
        return self.start + dt.timedelta(seconds=self.seconds())

    def monotonic(self) -> float:
        """The simulated time in seconds: the gate's clock."""
        return self.seconds()

    async def sleep(self, seconds: float) -> None:
        """Jump `seconds` ahead; set `stop` once past the end."""
        self.jumped += max(seconds, 0.0)
        if self() >= self.stop_at:
            self.stop.set()
        await asyncio.sleep(0)


class TimetableArxiv(FakeArxiv):
    """The fake arXiv serving, at each simulated instant, the feed of its timetable; arrivals noted."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__()
        self.clock = clock
        self.timetable: list[tuple[dt.datetime, Reply]] = []
        self.arrivals: list[tuple[dt.datetime, str]] = []  # (simulated instant, "rss" or "api")

    def reset(self, timetable: Sequence[tuple[dt.datetime, Reply]]) -> None:
        """A new timetable (from when, which feed), and no arrivals."""
        self.timetable = sorted(timetable, key=lambda entry: entry[0])
        self.arrivals = []
        self.requests.clear()

    async def _rss(self, request: web.Request) -> web.Response:
        """The feed of the current simulated instant."""
        now = self.clock()
        self.arrivals.append((now, "rss"))
        current = [reply for when, reply in self.timetable if when <= now]
        self.default_rss = current[-1] if current else Reply.error(503)
        return await super()._rss(request)

    async def _api(self, request: web.Request) -> web.Response:
        """The API (start-up recovery, catch-up): noted like the feed, answered by the fake."""
        self.arrivals.append((self.clock(), "api"))
        return await super()._api(request)


@dataclasses.dataclass
class NoOpAdapter:
    """A chat adapter that sends nothing and notes each channel's first and last message (simulated)."""

    clock: SimClock
    platform: str = "telegram"
    first: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    last: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    messages: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing to connect."""
        await stop.wait()

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """One message carrying every paper."""
        return [OutgoingMessage(text="digest", paper_ids=tuple(p.arxiv_id for p in view.papers))]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The no-match line."""
        return OutgoingMessage(text="nothing matched")

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Note the instant."""
        now = self.clock()
        self.first.setdefault(channel.chat_id, now)
        self.last[channel.chat_id] = now
        self.messages += 1


@dataclasses.dataclass
class DayRun:
    """What one simulated day showed."""

    arrivals: list[tuple[dt.datetime, str]]  # every request, RSS and API, in order
    paths: set[str]
    checks: int
    first: dict[str, dt.datetime]
    last: dict[str, dt.datetime]
    announced: list[dt.date]
    real_s: float

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests (RSS and API alike: the gate spaces them all)."""
        return [(b - a).total_seconds() for (a, _), (b, _) in pairwise(self.arrivals)]

    def on(self, day: dt.date) -> int:
        """Requests (RSS and API) on a US Eastern date."""
        return sum(1 for moment, _ in self.arrivals if arxiv_today(moment) == day)

    def of_kind(self, kind: str) -> list[dt.datetime]:
        """The instants of the requests of one kind ("rss" or "api")."""
        return [moment for moment, which in self.arrivals if which == kind]

    def split(self) -> str:
        """ "R RSS + A API"."""
        return f"{len(self.of_kind('rss'))} RSS + {len(self.of_kind('api'))} API"


def feed(day: dt.date, papers: Sequence[Paper]) -> Reply:
    """An rss.arxiv.org feed of these papers dated `day`."""
    return Reply(body=_common.feed_xml(day, papers))


def empty(day: dt.date) -> Reply:
    """rss.arxiv.org's empty feed of a day without an announcement."""
    stamp = f"{day:%a, %d %b %Y} 00:00:00 -0500"
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<rss version=\"2.0\"><channel><title>updates</title>"
        f"<pubDate>{stamp}</pubDate><skipDays><day>Saturday</day><day>Sunday</day></skipDays>"
        "</channel></rss>"
    )
    return Reply(body=body.encode())


async def seed(store: SqliteStore, count: int, topics: Sequence[Any], last_digest: dt.date) -> None:
    """`count` active channels, one topic each, their digest of `last_digest` done."""
    for number in range(count):
        await store.save_channel(
            Channel(
                "telegram",
                str(100_000 + number),
                active=True,
                topics=(topics[number],),
                done_up_to=last_digest,
            )
        )


async def simulate(
    arxiv: TimetableArxiv,
    clock: SimClock,
    store: SqliteStore,
    start: dt.datetime,
    end: dt.datetime,
    *,
    deliver: bool = True,
) -> DayRun:
    """Run the ingest (and delivery on each new announcement) from `start` to `end`, simulated."""
    settings = Settings(_env_file=None, arxiv_rss_url=arxiv.rss_url, arxiv_api_url=arxiv.api_url)
    gate = ArxivGate(settings.arxiv_request_interval, clock=clock.monotonic, sleep=clock.sleep)
    source = ArxivSource(
        rss_url=settings.arxiv_rss_url,
        api_url=settings.arxiv_api_url,
        gate=gate,
        timeout=settings.arxiv_timeout,
        max_retries=settings.arxiv_max_retries,
    )
    adapter = NoOpAdapter(clock)

    async def no_sleep(seconds: float) -> None:
        """Delivery's retries (none expected) take no time."""

    delivery = DeliveryService(
        store, {"telegram": adapter}, settings.default_categories, clock=clock, sleep=no_sleep
    )
    announced: list[dt.date] = []

    async def on_new(announcement: Announcement) -> None:
        """Deliver at once, as bot.main.app's `wake` makes the delivery loop do."""
        announced.append(announcement.date)
        if deliver:
            report = await delivery.deliver_due()
            failed = [o for o in report.outcomes if o.result not in ("ok", "empty")]
            if failed:
                raise SystemExit(f"{len(failed)} channels failed: {failed[0].result}")

    ingest = IngestService(
        store,
        source,
        settings.default_categories,
        clock=clock,
        sleep=clock.sleep,
        recovery_days=settings.recovery_days,
        retention_days=settings.retention_days,
    )
    checks = 0
    ingest_once = ingest.ingest_once

    async def counted() -> Any:
        """One feed check, counted."""
        nonlocal checks
        checks += 1
        return await ingest_once()

    ingest.ingest_once = counted  # type: ignore[method-assign]
    clock.restart(start, end)
    started = time.perf_counter()
    try:
        await ingest.run(clock.stop, settings.arxiv_poll_interval, on_new=on_new)
    finally:
        await source.aclose()
    return DayRun(
        arrivals=list(arxiv.arrivals),
        paths={request.path for request in arxiv.requests},
        checks=checks,
        first=adapter.first,
        last=adapter.last,
        announced=announced,
        real_s=time.perf_counter() - started,
    )


async def announcement_day(
    arxiv: TimetableArxiv,
    clock: SimClock,
    folder: Path,
    channels: int,
    topics: Sequence[Any],
    tuesday: Sequence[Paper],
    wednesday: Sequence[Paper],
    change: dt.datetime,
) -> tuple[DayRun, float]:
    """The day around Wednesday's announcement with `channels` channels; (the run, seeding seconds)."""
    store = await open_store(folder / f"day-{channels}-{change.timestamp():.0f}.db")
    try:
        seeding = time.perf_counter()
        await seed(store, channels, topics, TUESDAY)
        categories = sorted(
            {*Settings(_env_file=None).default_categories, *await store.subscribed_categories()}
        )
        parsed = parse_feed(_common.feed_xml(TUESDAY, tuesday), categories)
        assert isinstance(parsed, Announcement)
        await store.save_announcement(parsed)
        seeded = time.perf_counter() - seeding
        arxiv.reset([(eastern(TUESDAY), feed(TUESDAY, tuesday)), (change, feed(WEDNESDAY, wednesday))])
        run = await simulate(arxiv, clock, store, eastern(TUESDAY, 12), eastern(WEDNESDAY, 12))
    finally:
        await store.close()
    return run, seeded


async def costly_day(
    arxiv: TimetableArxiv,
    clock: SimClock,
    folder: Path,
    name: str,
    day: dt.date,
    timetable: list[tuple[dt.datetime, Reply]],
    stored: Sequence[tuple[dt.date, Sequence[Paper]]],
    topics: Sequence[Any],
) -> tuple[int, list[float]]:
    """Requests on US Eastern date `day` (1 channel), simulated from noon the day before to its end,
    and the gaps between all requests of the run."""
    store = await open_store(folder / f"{name}.db")
    try:
        await seed(store, 1, topics, stored[-1][0])
        for date, papers in stored:
            parsed = parse_feed(_common.feed_xml(date, papers), ["cs.AI"])
            assert isinstance(parsed, Announcement)
            await store.save_announcement(parsed)
        arxiv.reset(timetable)
        before = day - dt.timedelta(days=1)
        run = await simulate(
            arxiv, clock, store, eastern(before, 12), eastern(day + dt.timedelta(days=1)), deliver=False
        )
    finally:
        await store.close()
    return run.on(day), run.gaps()


def latency(run: DayRun, change: dt.datetime) -> tuple[float, float]:
    """Seconds from the change to the first channel's first message and to the last channel's last."""
    if not run.first:
        return float("nan"), float("nan")
    first = (min(run.first.values()) - change).total_seconds()
    last = (max(run.last.values()) - change).total_seconds()
    return first, last


async def run(options: argparse.Namespace) -> int:
    """Simulate, report, judge."""
    real = _common.real_day(options.feed)
    tuesday = list(real.papers)
    wednesday = _common.doubled(tuesday)[len(tuesday) :]
    vocab = _common.Vocabulary.of(tuesday)
    topics = _common.realistic_topics(vocab, max(options.channels, 1), seed=options.seed)
    change = eastern(WEDNESDAY, second=options.change_after)

    clock = SimClock(eastern(TUESDAY, 12))
    arxiv = TimetableArxiv(clock)
    await arxiv.start()
    try:
        with tempfile.TemporaryDirectory(prefix="arxiv-requests-") as name:
            folder = Path(name)
            one, _ = await announcement_day(arxiv, clock, folder, 1, topics, tuesday, wednesday, change)
            many, seeded_s = await announcement_day(
                arxiv, clock, folder, options.channels, topics, tuesday, wednesday, change
            )
            swept = []
            sweep_gaps: list[float] = []
            for offset in SWEEP:
                moment = eastern(WEDNESDAY, second=offset)
                day, _ = await announcement_day(arxiv, clock, folder, 1, topics, tuesday, wednesday, moment)
                swept.append((offset, latency(day, moment)[0], len(day.arrivals)))
                sweep_gaps += day.gaps()
            saturday = dt.date(2025, 11, 15)
            weekend, weekend_gaps = await costly_day(
                arxiv,
                clock,
                folder,
                "saturday",
                saturday,
                [
                    (
                        eastern(saturday - dt.timedelta(days=1)),
                        feed(saturday - dt.timedelta(days=1), tuesday),
                    ),
                    (eastern(saturday), empty(saturday)),
                ],
                [(saturday - dt.timedelta(days=1), tuesday)],
                topics,
            )
            holiday_day = dt.date(2025, 11, 27)  # Thanksgiving, a Thursday
            holiday, holiday_gaps = await costly_day(
                arxiv,
                clock,
                folder,
                "holiday",
                holiday_day,
                [
                    (
                        eastern(holiday_day - dt.timedelta(days=1)),
                        feed(holiday_day - dt.timedelta(days=1), tuesday),
                    ),
                    (eastern(holiday_day), empty(holiday_day)),
                ],
                [(holiday_day - dt.timedelta(days=1), tuesday)],
                topics,
            )
            stuck, stuck_gaps = await costly_day(
                arxiv,
                clock,
                folder,
                "stuck",
                WEDNESDAY,
                [(eastern(TUESDAY), feed(TUESDAY, tuesday))],
                [(TUESDAY, tuesday)],
                topics,
            )
    finally:
        await arxiv.close()

    first_1, _ = latency(one, change)
    first_n, last_n = latency(many, change)
    gaps = one.gaps() + many.gaps() + sweep_gaps + weekend_gaps + holiday_gaps + stuck_gaps
    min_gap = min(gaps) if gaps else float("inf")
    # The same requests at about the same instants (real work, more with more channels, adds to the clock).
    drift = max(
        (abs((a - b).total_seconds()) for (a, _), (b, _) in zip(one.arrivals, many.arrivals, strict=False)),
        default=0,
    )
    kinds_match = [kind for _, kind in one.arrivals] == [kind for _, kind in many.arrivals]
    same_instants = len(one.arrivals) == len(many.arrivals) and kinds_match and drift <= 5.0
    api_gaps = [(b - a).total_seconds() for a, b in pairwise(one.of_kind("api"))]
    missing = options.channels - len(many.first)
    per_day = len(many.arrivals)

    def instants(day: DayRun) -> str:
        """The request instants in US Eastern time, compactly (API requests marked)."""
        return ", ".join(
            f"{t.astimezone(ARXIV_TZ):%H:%M:%S}" + (" API" if kind == "api" else "")
            for t, kind in day.arrivals
        )

    rows = [
        (
            "requests in the day (1 channel)",
            f"{len(one.arrivals)} ({one.split()})",
            f"at {instants(one)} ET; the API ones are start-up recovery (RECOVERY_DAYS "
            f"{Settings(_env_file=None).recovery_days}: the days before Tuesday not in the store)",
        ),
        (
            f"requests in the day ({options.channels} channels)",
            f"{len(many.arrivals)} ({many.split()})",
            f"same requests at the same instants (± {drift:.1f} s)"
            if same_instants
            else f"DIFFERENT: {instants(many)}",
        ),
        (
            "feed requests per feed check",
            f"{len(one.of_kind('rss')) / max(one.checks, 1):.2f} / "
            f"{len(many.of_kind('rss')) / max(many.checks, 1):.2f}",
            f"{one.checks} / {many.checks} checks (1 / {options.channels} channels); one feed URL each",
        ),
        (
            "smallest gap between two requests",
            f"{min_gap:.2f} s",
            "simulated seconds, RSS and API alike, over every run here; the gate keeps ≥ 3 s; "
            f"between the API requests: {min(api_gaps, default=float('nan')):.2f}–"
            f"{max(api_gaps, default=float('nan')):.2f} s",
        ),
        ("feed change", f"{change.astimezone(ARXIV_TZ):%a %H:%M:%S} ET", "Wednesday's announcement appears"),
        ("latency to the first digest (1 channel)", f"{first_1:.1f} s", "feed change → the chat's message"),
        (
            f"latency to the first / last digest ({options.channels} channels)",
            f"{first_n:.1f} s / {last_n:.1f} s",
            "no-op adapter: the last is the first plus delivery's own work for every channel",
        ),
        ("channels that got the digest", f"{len(many.first)} of {options.channels}", ""),
        (
            "worst first latency, change 0 s – 29 min after midnight",
            f"{max(latency for _, latency, _ in swept):.1f} s",
            "1 channel; change at +"
            + ", +".join(f"{offset:g} s: {latency:.1f} s ({count} req)" for offset, latency, count in swept),
        ),
        ("Saturday (empty feed): requests that day", str(weekend), "hourly checks"),
        ("holiday (empty weekday feed): requests that day", str(holiday), "watch, then hourly"),
        ("feed never changes: requests that day", str(stuck), "watch, late checks, then the budget"),
        (
            "real time",
            f"{one.real_s:.1f} s / {many.real_s:.1f} s",
            f"per simulated day, 1 / {options.channels} channels (seeding them took {seeded_s:.1f} s more)",
        ),
    ]
    _common.print_table("arXiv politeness and latency (a simulated day at default settings)", rows)

    problems = []
    for label, count in (
        ("the announcement day (1 channel)", len(one.arrivals)),
        (f"the announcement day ({options.channels} channels)", per_day),
        ("a Saturday", weekend),
        ("a holiday", holiday),
        ("a day the feed never changes", stuck),
    ):
        if count > MAX_PER_DAY:
            problems.append(f"{count} requests on {label} (target ≤ {MAX_PER_DAY})")
    if min_gap < MIN_GAP:
        problems.append(f"two requests {min_gap:.1f} s apart (target ≥ {MIN_GAP:.0f} s)")
    if not same_instants or one.checks != many.checks:
        problems.append(f"1 channel made {len(one.arrivals)} requests, {options.channels} made {per_day}")
    worst = max([first_1, first_n, *(latency for _, latency, _ in swept)])
    if not worst <= MAX_FIRST_LATENCY:  # (NaN: no digest at all)
        problems.append(f"a first digest {worst:.1f} s after the change (target ≤ 120 s)")
    if any(count > MAX_PER_DAY for _, _, count in swept):
        problems.append("more than 60 requests in a day with the change at another instant")
    if missing:
        problems.append(f"{missing} channels got no digest")
    if WEDNESDAY not in many.announced:
        problems.append("Wednesday's announcement was never stored")
    if problems:
        print("TARGETS MISSED: " + "; ".join(problems), file=sys.stderr)
    print(
        f"arxiv: {len(one.arrivals)} requests ({one.split()}) with 1 channel, {per_day} ({many.split()}) "
        f"with {options.channels} channels; min gap {min_gap:.2f} s over all of them; "
        f"{per_day} requests/day; latency first {first_n:.1f} s, last {last_n:.1f} s"
    )
    return 1 if problems else 0


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument(
        "--change-after", type=float, default=40.0, help="seconds after midnight ET the feed changes"
    )
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=11)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
