"""Ingesting announcements into the real SQLite store, from the fake arXiv over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.arxiv_client.common import ArxivUnavailableError
from bot.arxiv_client.source import ArxivSource
from bot.feeds import ArxivFeedError, parse_feed
from bot.ingest import IngestService
from bot.models import Announcement, AnnounceType, Channel, Paper, Topic
from bot.ports import NO_ANNOUNCEMENT_KEY
from tests.fakes.arxiv_server import FIXTURES, FakeArxiv, Reply

SourceFactory = Callable[..., ArxivSource]
SAMPLE = "rss/all-archives-2024-11-28-sample.xml"
TESTING_PAGE = "q_testing_s0_m10_bc5a6c384fe9.json"
EMPTY_PAGE = "id_0000.0000_s0_m100_8b51d9633a68.json"
DEFAULTS = ("cs.AI", "cs.CL")
# Thu 28 Nov 2024, noon US Eastern: the day of the recorded feed.
THURSDAY_NOON = dt.datetime(2024, 11, 28, 17, 0, tzinfo=dt.UTC)


def fixed_clock(moment: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that always says `moment`."""
    return lambda: moment


def tiny_announcement(date: dt.date) -> Announcement:
    """A stored-before announcement of one paper."""
    paper = Paper(
        arxiv_id=f"{date:%y%m}.0{date:%d}01",
        version=1,
        title="Earlier paper",
        abstract="Something.",
        authors=("A. Author",),
        categories=("cs.AI",),
        announce_type=AnnounceType.NEW,
    )
    return Announcement(date=date, categories=DEFAULTS, papers=(paper,))


async def last_check(store: Any) -> dict[str, Any]:
    """The recorded outcome of the last feed check, as a dict of its fields."""
    check = await store.last_feed_check()
    assert check is not None
    value = dataclasses.asdict(check)
    value["date"] = check.date.isoformat() if check.date else None
    value["checked_at"] = check.checked_at.isoformat(timespec="seconds")
    return value


def service(store: Any, source: ArxivSource, **options: Any) -> IngestService:
    """An IngestService on Thursday noon ET unless told otherwise."""
    options.setdefault("clock", fixed_clock(THURSDAY_NOON))
    return IngestService(store, source, DEFAULTS, **options)


async def test_same_announcement_twice_is_stored_once(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """The first check stores the announcement ("new"); the same feed again is "unchanged"."""
    arxiv_server.default_rss = Reply.feed(SAMPLE)
    ingest = service(store, make_source())

    first = await ingest.ingest_once()
    assert first.outcome == "new"
    assert first.announcement is not None
    assert first.announcement.date == dt.date(2024, 11, 28)
    second = await ingest.ingest_once()
    assert second.outcome == "unchanged"

    assert await store.announcement_dates(since=dt.date(2024, 1, 1)) == [dt.date(2024, 11, 28)]
    stored = await store.get_announcement(dt.date(2024, 11, 28))
    assert stored is not None
    assert len(stored.papers) == 20
    assert await last_check(store) == {
        "checked_at": "2024-11-28T17:00:00+00:00",
        "date": "2024-11-28",
        "outcome": "unchanged",
        "message": "announcement of 2024-11-28 already stored",
        "papers": 20,
    }
    assert [request.path for request in arxiv_server.requests] == ["/rss/cs.AI+cs.CL"] * 2


async def test_a_feed_older_than_the_pruned_ledger_is_refused_with_one_warning(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed dated before the ledger's horizon is not stored again (its chats had it): one warning."""
    arxiv_server.default_rss = Reply.feed(SAMPLE)
    first = service(store, make_source())
    assert (await first.ingest_once()).outcome == "new"
    channel = await store.save_channel(Channel("telegram", "-1", topics=(Topic("all", ("the",)),)))
    await store.record_delivery(channel.id, dt.date(2024, 11, 28), "2411.00001")
    later = service(store, make_source(), clock=fixed_clock(THURSDAY_NOON + dt.timedelta(days=40)))
    await store.prune_announcements(dt.date(2024, 12, 1))  # the store's clock is today's: 40 days is old
    caplog.set_level(logging.WARNING, logger="bot.ingest")
    for _ in range(2):
        result = await later.ingest_once()
        assert result.outcome == "refused"  # not "already stored": it was not
        assert "older than the delivery ledger keeps" in result.message
    check = await store.last_feed_check()
    assert (check.outcome, check.date) == ("error", dt.date(2024, 11, 28))  # nothing usable was stored
    assert "older than the delivery ledger keeps" in check.message
    assert await store.announcement_dates(dt.date(2000, 1, 1)) == []
    warnings = [record.getMessage() for record in caplog.records if record.name == "bot.ingest"]
    assert len(warnings) == 1
    assert "older than the delivery ledger keeps" in warnings[0]


async def test_no_announcement_day_stores_nothing(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """An empty weekday feed is "no_announcement", stores nothing and is remembered as a day without one."""
    arxiv_server.queue_rss(Reply.feed("rss/empty-feed.xml"))
    ingest = service(store, make_source())
    result = await ingest.ingest_once()
    assert result.outcome == "no_announcement"
    assert result.announcement is None
    assert "holiday" in result.message
    assert await store.announcement_dates(since=dt.date(2024, 1, 1)) == []
    assert (await last_check(store))["outcome"] == "no_announcement"
    assert await store.get_state(NO_ANNOUNCEMENT_KEY + "2024-11-28") is not None


async def test_error_feed_is_an_error_outcome(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """arXiv's error feed does not raise: the outcome is "error" with arXiv's words on one line."""
    arxiv_server.default_rss = Reply.feed("rss/error-feed.xml")
    result = await service(store, make_source()).ingest_once()
    assert result.outcome == "error"
    assert "Bad archive 'astroph'" in result.message
    assert "\n" not in result.message
    assert (await last_check(store))["outcome"] == "error"


async def test_truncated_feed_is_an_error_and_nothing_is_stored(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """A feed that stays truncated is retried, then reported as "error"; no partial announcement is stored."""
    arxiv_server.default_rss = Reply.truncated(SAMPLE, keep=0.8)
    result = await service(store, make_source(max_retries=1)).ingest_once()
    assert result.outcome == "error"
    assert "broken feed" in result.message
    assert len(arxiv_server.requests) == 2
    assert await store.announcement_dates(since=dt.date(2024, 1, 1)) == []


async def test_an_error_outcome_carries_what_arxiv_raised(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """An "error" outcome keeps arXiv's exception: ArxivFeedError for its error feed, else unavailable."""
    arxiv_server.queue_rss(Reply.feed("rss/error-feed.xml"), Reply.error(503), Reply.error(503))
    ingest = service(store, make_source(max_retries=1))
    refused = await ingest.ingest_once()
    assert isinstance(refused.error, ArxivFeedError)
    assert refused.message == " ".join(str(refused.error).split())
    unavailable = await ingest.ingest_once()
    assert isinstance(unavailable.error, ArxivUnavailableError)
    assert unavailable.outcome == "error"
    arxiv_server.queue_rss(Reply.feed(SAMPLE))
    assert (await ingest.ingest_once()).error is None


async def test_subscribed_categories_join_the_one_request(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """Categories named by active channels' topics are fetched with the defaults in a single request."""
    topic = Topic(name="robots", keywords=("robot",), categories=("cs.RO", "cs.CL"))
    await store.save_channel(Channel(platform="test", chat_id="1", active=True, topics=(topic,)))
    arxiv_server.queue_rss(Reply.feed(SAMPLE))
    result = await service(store, make_source()).ingest_once()
    assert result.outcome == "new"
    assert result.announcement is not None
    assert result.announcement.categories == ("cs.AI", "cs.CL", "cs.RO")
    assert [request.path for request in arxiv_server.requests] == ["/rss/cs.AI+cs.CL+cs.RO"]


async def test_a_category_subscribed_after_the_announcement_is_added_to_it(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """Today's announcement was stored for the defaults; a chat adds cs.RO: the next check adds its papers."""
    full = parse_feed((FIXTURES / SAMPLE).read_bytes(), list(DEFAULTS))
    assert isinstance(full, Announcement)
    await store.save_announcement(replace(full, papers=full.papers[:5]))
    arxiv_server.default_rss = Reply.feed(SAMPLE)
    ingest = service(store, make_source())
    assert (await ingest.ingest_once()).outcome == "unchanged"  # nothing new asked for

    topic = Topic(name="robots", keywords=("robot",), categories=("cs.RO",))
    await store.save_channel(Channel(platform="test", chat_id="1", active=True, topics=(topic,)))
    extended = await ingest.ingest_once()
    assert extended.outcome == "extended"
    assert extended.message == "added 15 papers of cs.RO to the announcement of 2024-11-28"
    stored = await store.get_announcement(dt.date(2024, 11, 28))
    assert stored is not None
    assert [p.arxiv_id for p in stored.papers] == [p.arxiv_id for p in full.papers]
    assert stored.categories == ("cs.AI", "cs.CL", "cs.RO")
    assert (await ingest.ingest_once()).outcome == "unchanged"
    assert [request.path for request in arxiv_server.requests] == [
        "/rss/cs.AI+cs.CL",
        "/rss/cs.AI+cs.CL+cs.RO",
        "/rss/cs.AI+cs.CL+cs.RO",
    ]


async def test_run_rests_once_stored_until_a_chat_wants_another_category(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """Once today's announcement is stored the loop rests; a newly wanted category makes it poll again."""
    arxiv_server.default_rss = Reply.feed(SAMPLE)
    ingest = service(store, make_source())
    stop = asyncio.Event()
    extended: list[dt.date] = []

    async def on_new(announcement: Announcement) -> None:
        """Note each announcement handed on; stop once the extended one comes."""
        extended.append(announcement.date)
        if len(extended) == 2:
            stop.set()

    loop = asyncio.create_task(ingest.run(stop, interval=0.05, on_new=on_new))
    await asyncio.sleep(0.5)
    assert len(arxiv_server.of_kind("rss")) == 1  # stored at once, then resting
    topic = Topic(name="robots", keywords=("robot",), categories=("cs.RO",))
    await store.save_channel(Channel(platform="test", chat_id="1", active=True, topics=(topic,)))
    await asyncio.wait_for(loop, timeout=5)
    assert extended == [dt.date(2024, 11, 28)] * 2
    assert [request.path for request in arxiv_server.of_kind("rss")] == [
        "/rss/cs.AI+cs.CL",
        "/rss/cs.AI+cs.CL+cs.RO",
    ]


async def test_missed_day_is_recovered_through_the_api(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """Missed weekdays are rebuilt from the API; one the API has nothing for is remembered as a holiday."""
    await store.save_announcement(tiny_announcement(dt.date(2024, 11, 26)))
    # Mon 25th: the API has nothing (asked twice); Wed 27th: the recorded page.
    arxiv_server.queue_api(Reply.api(EMPTY_PAGE), Reply.api(EMPTY_PAGE))
    arxiv_server.use_api_entries(TESTING_PAGE)
    ingest = service(store, make_source(), recovery_days=3)

    assert await ingest.missing_days(dt.date(2024, 11, 28)) == [dt.date(2024, 11, 25), dt.date(2024, 11, 27)]
    assert await ingest.recover_missed(dt.date(2024, 11, 28)) == [dt.date(2024, 11, 27)]

    recovered = await store.get_announcement(dt.date(2024, 11, 27))
    assert recovered is not None
    assert recovered.source == "api"
    assert len(recovered.papers) == 10
    assert await store.get_state(NO_ANNOUNCEMENT_KEY + "2024-11-25") is not None
    queries = [request.query["search_query"] for request in arxiv_server.of_kind("api")]
    assert len(queries) == 3
    assert "submittedDate:[202411211900 TO 202411221859]" in queries[0]  # Mon's: Thu 14:00 – Fri 14:00 ET
    assert "submittedDate:[202411251900 TO 202411261859]" in queries[2]  # Wed's: Mon 14:00 – Tue 14:00 ET
    assert queries[0].startswith("(cat:cs.AI OR cat:cs.CL) AND ")

    assert await ingest.recover_missed(dt.date(2024, 11, 28)) == []  # nothing left: no more requests
    assert len(arxiv_server.of_kind("api")) == 3


async def test_first_start_recovers_nothing(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """With nothing stored yet there is nothing the bot missed: no API requests."""
    ingest = service(store, make_source())
    assert await ingest.recover_missed(dt.date(2024, 11, 28)) == []
    assert arxiv_server.requests == []


async def test_failed_recovery_does_not_raise(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An API that keeps failing ends the recovery with a warning, nothing stored, nothing raised."""
    await store.save_announcement(tiny_announcement(dt.date(2024, 11, 26)))
    arxiv_server.queue_api(Reply.error(503), Reply.error(503))
    ingest = service(store, make_source(max_retries=1), recovery_days=3)
    with caplog.at_level(logging.WARNING, logger="bot.ingest"):
        assert await ingest.recover_missed(dt.date(2024, 11, 28)) == []
    assert "recovering 2024-11-25 failed" in caplog.text
    assert len(arxiv_server.of_kind("api")) == 2  # the first day's two attempts, then it stopped


async def test_run_recovers_ingests_prunes_and_then_rests(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """Start-up recovers, then ingests (past one failed check), calls on_new once each, prunes, then rests."""
    await store.save_announcement(tiny_announcement(dt.date(2024, 11, 1)))
    await store.save_announcement(tiny_announcement(dt.date(2024, 11, 26)))
    arxiv_server.use_api_entries(TESTING_PAGE)
    arxiv_server.queue_rss(Reply.error(500), Reply.feed(SAMPLE))
    ingest = service(store, make_source(max_retries=0), recovery_days=3)
    announced: list[tuple[dt.date, str]] = []
    stop = asyncio.Event()

    async def on_new(announcement: Announcement) -> None:
        """Collect what is announced."""
        announced.append((announcement.date, announcement.source))
        if len(announced) == 3:
            asyncio.get_running_loop().call_later(0.5, stop.set)

    await asyncio.wait_for(ingest.run(stop, interval=0.05, on_new=on_new), timeout=10)

    assert announced == [
        (dt.date(2024, 11, 25), "api"),
        (dt.date(2024, 11, 27), "api"),
        (dt.date(2024, 11, 28), "rss"),
    ]
    assert len(arxiv_server.of_kind("rss")) == 2  # the failed check, the good one, then rest
    dates = await store.announcement_dates(since=dt.date(2024, 1, 1))
    assert dates == [dt.date(2024, 11, d) for d in (25, 26, 27, 28)]  # the 1st was pruned


async def test_run_survives_a_failing_callback(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An on_new that raises is logged; the announcement stays stored and the loop ends cleanly on stop."""
    arxiv_server.default_rss = Reply.feed(SAMPLE)
    ingest = service(store, make_source())
    stop = asyncio.Event()

    async def on_new(announcement: Announcement) -> None:
        """Fail, and ask the loop to stop."""
        stop.set()
        raise RuntimeError("delivery exploded")

    with caplog.at_level(logging.ERROR, logger="bot.ingest"):
        await asyncio.wait_for(ingest.run(stop, interval=0.05, on_new=on_new), timeout=5)
    assert "handling the new announcement of 2024-11-28 failed" in caplog.text
    assert await store.announcement_dates(since=dt.date(2024, 1, 1)) == [dt.date(2024, 11, 28)]


async def test_weekend_empty_feed_is_checked_once(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """On a Saturday, once the empty feed has been seen, the loop stops asking until the date changes."""
    saturday = (
        (FIXTURES / "rss" / "empty-feed.xml").read_bytes().replace(b"Thu, 28 Nov 2024", b"Sat, 30 Nov 2024")
    )
    arxiv_server.default_rss = Reply(body=saturday)
    clock = fixed_clock(dt.datetime(2024, 11, 30, 17, 0, tzinfo=dt.UTC))
    ingest = service(store, make_source(), clock=clock)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.6, stop.set)
    await asyncio.wait_for(ingest.run(stop, interval=0.05), timeout=5)
    assert len(arxiv_server.requests) == 1
    assert (await last_check(store))["outcome"] == "no_announcement"


def test_recovery_days_are_bounded(make_source: SourceFactory) -> None:
    """More than 7 recovery days is refused (the API recovery is a short catch-up, not a backfill)."""
    with pytest.raises(ValueError, match="recovery_days"):
        IngestService(object(), make_source(), DEFAULTS, recovery_days=8)  # type: ignore[arg-type]


async def test_stop_abandons_a_feed_request_in_progress(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """SIGTERM while arXiv takes its time: run() returns at once and records no check for it."""
    arxiv_server.default_rss = Reply.slow(10.0)
    ingest = service(store, make_source(timeout=30.0))
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop, interval=60))
    while not arxiv_server.requests:
        await asyncio.sleep(0.01)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5
    assert await store.last_feed_check() is None


async def test_stop_abandons_an_api_recovery_in_progress(
    arxiv_server: FakeArxiv, make_source: SourceFactory, store: Any
) -> None:
    """SIGTERM during a slow API recovery at start-up: run() returns at once; nothing is stored."""
    await store.save_announcement(tiny_announcement(dt.date(2024, 11, 26)))
    arxiv_server.queue_api(Reply(status=200, body=b"", delay=10.0))
    ingest = service(store, make_source(timeout=30.0), recovery_days=3)
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop, interval=60))
    while not arxiv_server.of_kind("api"):
        await asyncio.sleep(0.01)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5
    assert await store.announcement_dates(since=dt.date(2024, 1, 1)) == [dt.date(2024, 11, 26)]
