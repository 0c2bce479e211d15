"""Talking to arXiv over real HTTP to the fake server: feed, retries, Retry-After, API recovery."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.arxiv_client.api import api_day_query, split_arxiv_id
from bot.arxiv_client.common import (
    USER_AGENT,
    ArxivUnavailableError,
    ArxivUnreachableError,
    parse_retry_after,
)
from bot.arxiv_client.source import ArxivSource
from bot.feeds import ArxivFeedError, BrokenFeedError, NoAnnouncement
from bot.gate import ArxivGate
from bot.main.progress import terminal_progress
from bot.models import Announcement, AnnounceType
from bot.schedule import submission_window
from bot.settings import SAMPLE_FEED
from tests.bot.conftest import TIME_SCALE
from tests.fakes.arxiv_server import FIXTURES, FakeArxiv, RecordedRequest, Reply, recorded_api_body
from tests.test_cli import arxiv_digest

SourceFactory = Callable[..., ArxivSource]
SAMPLE = "rss/all-archives-2024-11-28-sample.xml"
TESTING_PAGE = "q_testing_s0_m10_bc5a6c384fe9.json"
SCALED_INTERVAL = 3.0 / TIME_SCALE  # the fast gate's 3 s in real seconds
UTC = dt.UTC


def gaps(requests: list[RecordedRequest]) -> list[float]:
    """Seconds from the end of each answer to the arrival of the next request, as the server saw them."""
    return [later.started - earlier.finished for earlier, later in itertools.pairwise(requests)]


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- RSS ----------------------------------------------------------------------------------------------


async def test_several_categories_go_in_one_request(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """cs.CV, cs.CL (and a duplicate) are fetched once, as `/rss/cs.CL+cs.CV`, and parsed."""
    arxiv_server.queue_rss(Reply.feed(SAMPLE))
    result = await make_source().fetch_feed(["cs.CV", "cs.CL", "cs.CV"])
    assert isinstance(result, Announcement)
    assert result.date == dt.date(2024, 11, 28)
    assert result.categories == ("cs.CL", "cs.CV")
    assert len(result.papers) == 20
    assert [request.path for request in arxiv_server.requests] == ["/rss/cs.CL+cs.CV"]


async def test_user_agent_names_the_project(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """Every feed request says it is arxiv-digest-bot, with its version and where it lives."""
    arxiv_server.queue_rss(Reply.feed("rss/empty-feed.xml"))
    await make_source().fetch_feed(["cs.CL"])
    agent = arxiv_server.requests[0].headers["User-Agent"]
    assert agent == USER_AGENT
    assert agent.startswith("arxiv-digest-bot/")
    assert "(+https://" in agent


async def test_no_announcement_day(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """An empty feed (weekend, holiday) comes back as NoAnnouncement after one request."""
    arxiv_server.queue_rss(Reply.feed("rss/empty-feed.xml"))
    result = await make_source().fetch_feed(["cs.CL"])
    assert isinstance(result, NoAnnouncement)
    assert result.date == dt.date(2024, 11, 28)
    assert len(arxiv_server.requests) == 1


async def test_error_feed_is_raised_without_retrying(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """arXiv's error feed raises ArxivFeedError at once: asking again would not help."""
    arxiv_server.default_rss = Reply.feed("rss/error-feed.xml")
    with pytest.raises(ArxivFeedError, match="Bad archive"):
        await make_source().fetch_feed(["astroph"])
    assert len(arxiv_server.requests) == 1


async def test_truncated_feed_is_retried(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A truncated body is not an announcement: it is fetched again, gate interval kept."""
    arxiv_server.queue_rss(Reply.truncated(SAMPLE), Reply.feed(SAMPLE))
    result = await make_source().fetch_feed(["cs.CL"])
    assert isinstance(result, Announcement)
    assert len(result.papers) == 20
    assert len(arxiv_server.requests) == 2
    assert gaps(arxiv_server.requests)[0] >= SCALED_INTERVAL


async def test_truncated_feed_every_time_gives_up(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """A feed that stays truncated raises ArxivUnavailableError after 1 + max_retries requests."""
    arxiv_server.default_rss = Reply.truncated(SAMPLE, keep=0.7)
    with pytest.raises(ArxivUnavailableError, match="after 3 attempts: broken feed: not well-formed"):
        await make_source(max_retries=2).fetch_feed(["cs.CL"])
    assert len(arxiv_server.requests) == 3


async def test_html_page_is_retried_then_given_up(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """A maintenance page in HTML is retried and then reported as unavailable, naming the HTML."""
    arxiv_server.default_rss = Reply.html()
    with pytest.raises(ArxivUnavailableError, match="HTML page"):
        await make_source(max_retries=1).fetch_feed(["cs.CL"])
    assert len(arxiv_server.requests) == 2


@pytest.mark.slow
async def test_retry_after_is_honoured(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A 503 with `Retry-After: 4` delays the next request by 4 s (real time, real 3 s gate)."""
    arxiv_server.queue_rss(Reply.error(503, retry_after="4"), Reply.feed("rss/empty-feed.xml"))
    source = make_source(gate=ArxivGate())
    result = await source.fetch_feed(["cs.CL"])
    assert isinstance(result, NoAnnouncement)
    assert len(arxiv_server.requests) == 2
    assert gaps(arxiv_server.requests)[0] >= 4.0


async def test_429_without_retry_after_backs_off(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """429s without Retry-After are retried with exponential back-off (4 s, then 8 s, gate time)."""
    arxiv_server.queue_rss(Reply.error(429), Reply.error(429), Reply.feed("rss/empty-feed.xml"))
    result = await make_source(backoff=4.0).fetch_feed(["cs.CL"])
    assert isinstance(result, NoAnnouncement)
    first, second = gaps(arxiv_server.requests)
    assert first >= 4.0 / TIME_SCALE
    assert second >= 8.0 / TIME_SCALE


async def test_server_errors_give_up_after_the_retries(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """Persistent 502s end in ArxivUnavailableError naming the status, after 1 + max_retries requests."""
    arxiv_server.default_rss = Reply.error(502)
    with pytest.raises(ArxivUnavailableError, match="after 2 attempts: HTTP 502"):
        await make_source(max_retries=1).fetch_feed(["cs.CL"])
    assert len(arxiv_server.requests) == 2


async def test_not_found_is_not_retried(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A 404 (a wrong ARXIV_RSS_URL) is reported at once."""
    arxiv_server.default_rss = Reply(status=404, body=b"nope", content_type="text/plain")
    with pytest.raises(ArxivUnavailableError, match="HTTP 404"):
        await make_source().fetch_feed(["cs.CL"])
    assert len(arxiv_server.requests) == 1


async def test_timeout_is_retried(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A server slower than the 0.3 s client timeout is asked again; the second answer is used."""
    arxiv_server.queue_rss(Reply.slow(2.0), Reply.feed(SAMPLE))
    started = time.monotonic()
    result = await make_source(timeout=0.3).fetch_feed(["cs.CL"])
    assert isinstance(result, Announcement)
    assert len(arxiv_server.requests) == 2
    assert time.monotonic() - started < 1.9  # gave up on the slow answer well before it came


async def test_timeouts_every_time_give_up(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A server that never answers in time ends in ArxivUnavailableError saying so."""
    arxiv_server.default_rss = Reply.slow(2.0)
    with pytest.raises(ArxivUnavailableError, match=r"timed out after 0\.3 s"):
        await make_source(timeout=0.3, max_retries=1).fetch_feed(["cs.CL"])


async def test_connection_refused_gives_up(
    make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """For the long-running bot, nobody listening is retried, each attempt logged once at INFO."""
    source = make_source(rss_url=f"http://127.0.0.1:{free_port()}/rss", max_retries=2)
    with (
        caplog.at_level(logging.INFO, logger="bot.arxiv_client.rss"),
        pytest.raises(
            ArxivUnavailableError, match="after 3 attempts: cannot connect: the connection was refused"
        ),
    ):
        await source.fetch_feed(["cs.CL"])
    attempts = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.arxiv_client.rss" and r.levelno == logging.INFO
    ]
    assert len(attempts) == 3, attempts
    assert "(attempt 1 of 3); trying again" in attempts[0]
    assert "(attempt 2 of 3); trying again" in attempts[1]
    assert attempts[2].endswith("(attempt 3 of 3)")


@pytest.mark.parametrize("where", ["dns", "refused"])
async def test_one_shot_fails_at_once_on_dns_or_refused_and_names_the_sample(
    make_source: SourceFactory, where: str
) -> None:
    """`one_shot`: an unresolvable or refusing host fails on the first attempt, pointing at SAMPLE_FEED."""
    host = "rss.arxiv.invalid" if where == "dns" else f"127.0.0.1:{free_port()}"
    source = make_source(rss_url=f"http://{host}/rss", max_retries=4, backoff=2.0, one_shot=True)
    started = time.monotonic()
    with pytest.raises(ArxivUnreachableError) as caught:
        await source.fetch_feed(["cs.CL"])
    assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert message.startswith(f"arXiv is unavailable: cannot reach {host}: ")
    assert ("does not resolve" if where == "dns" else "connection was refused") in message
    assert message.endswith("--feed sample")
    assert source.gate.requests == 1  # asked once, not retried
    assert "\n" not in message


async def test_one_shot_still_retries_a_server_error(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """`one_shot` gives up only on what retrying cannot fix: a 503 is still asked again."""
    arxiv_server.queue_rss(Reply.error(503), Reply.feed(SAMPLE))
    result = await make_source(one_shot=True).fetch_feed(["cs.CL"])
    assert isinstance(result, Announcement)
    assert len(arxiv_server.requests) == 2


@pytest.mark.slow
async def test_progress_tells_what_is_awaited_when_it_takes_over_a_second(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """A retry wait and an answer slower than 1 s are reported (what, attempt n of m); a quick one is not."""
    arxiv_server.queue_rss(Reply.error(500), Reply.slow(1.3, SAMPLE))
    heard: list[str] = []
    source = make_source(backoff=2.0, progress=heard.append)
    result = await source.fetch_feed(["cs.CL"])
    assert isinstance(result, Announcement)
    host = arxiv_server.rss_url.split("/")[2]
    assert len(heard) == 2, heard
    assert re.fullmatch(rf"{host}: HTTP 500; trying again in \d+ s \(attempt 2 of 3\) …", heard[0])
    assert heard[1] == f"waiting for {host} to answer (attempt 2 of 3) …"
    heard.clear()
    arxiv_server.queue_rss(Reply.feed(SAMPLE))
    await source.fetch_feed(["cs.CL"])
    assert heard == []


@pytest.mark.parametrize(
    ("setting", "tty", "shown"), [("1", False, True), ("0", True, False), ("", False, False)]
)
def test_terminal_progress_only_on_a_terminal_unless_forced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str, tty: bool, shown: bool
) -> None:
    """Progress goes to stderr at a terminal; ARXIV_DIGEST_PROGRESS=1 forces it on, 0 off."""
    monkeypatch.setenv("ARXIV_DIGEST_PROGRESS", setting)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    report = terminal_progress()
    assert (report is not None) == shown
    if report is not None:
        report("waiting for rss.arxiv.org to answer (attempt 1 of 5) …")
        assert (
            capsys.readouterr().err
            == "arxiv-digest: waiting for rss.arxiv.org to answer (attempt 1 of 5) …\n"
        )


async def test_the_shipped_sample_is_the_anchor_listing(make_source: SourceFactory) -> None:
    """SAMPLE_FEED (gzip, package data) reads as the anchor's listing: 2025-11-12, every paper of it."""
    assert SAMPLE_FEED.is_file()
    assert (
        gzip.decompress(SAMPLE_FEED.read_bytes())
        == (FIXTURES / "anchor/listing-2025-11-12.rss.xml").read_bytes()
    )
    result = await make_source(rss_url=str(SAMPLE_FEED)).fetch_feed(["cs.CV", "cs.CL"])
    assert isinstance(result, Announcement)
    assert result.date == dt.date(2025, 11, 12)
    assert len(result.papers) > 200
    assert 'bot = ["data/*.rss.xml.gz"]' in (Path(__file__).parents[2] / "pyproject.toml").read_text()


async def test_a_truncated_gzip_feed_is_broken(make_source: SourceFactory, tmp_path: Path) -> None:
    """A .gz feed file cut short is a BrokenFeedError, not a traceback."""
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(SAMPLE_FEED.read_bytes()[:5000])
    with pytest.raises(BrokenFeedError, match="not a complete gzip file"):
        await make_source(rss_url=str(cut)).fetch_feed(["cs.CL"])


async def test_an_offline_preview_fails_in_a_second_and_the_sample_it_names_works(tmp_path: Path) -> None:
    """`preview` offline (arxiv.invalid) exits 5 at once in one line; the `--feed` it suggests answers."""
    started = time.monotonic()
    run = await arxiv_digest(
        "preview", "-k", "MLLM", cwd=tmp_path, env={"ARXIV_RSS_URL": "http://rss.arxiv.invalid/rss"}
    )
    took = time.monotonic() - started
    assert run.status == 5
    assert len(run.err.strip().splitlines()) == 1
    assert "cannot reach rss.arxiv.invalid: the host name does not resolve" in run.err
    assert took < 5.0  # process start included; it was 31 s of retries before
    suggested = run.err.strip().rsplit("--feed ", 1)[1]
    retry = await arxiv_digest("preview", "--feed", suggested, "-k", "MLLM", "--format", "json", cwd=tmp_path)
    assert retry.status == 0, retry.err
    assert '"date": "2025-11-12"' in retry.out


@pytest.mark.slow
async def test_progress_lines_are_forced_in_a_pipe_by_the_environment(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    """ARXIV_DIGEST_PROGRESS=1: a `preview` whose answer takes over a second says what it waits for."""
    arxiv_server.default_rss = Reply.slow(1.3, SAMPLE)
    env = {"ARXIV_RSS_URL": arxiv_server.rss_url, "ARXIV_DIGEST_PROGRESS": "1"}
    run = await arxiv_digest("preview", "-k", "x", cwd=tmp_path, env=env)
    assert run.status == 0, run.err
    assert "to answer (attempt 1 of 5) …" in run.err
    quiet = await arxiv_digest(
        "preview", "-k", "x", cwd=tmp_path, env={"ARXIV_RSS_URL": arxiv_server.rss_url}
    )
    assert "to answer" not in quiet.err


@pytest.mark.parametrize("as_url", [False, True])
async def test_local_feed_file_is_replayed_without_network(
    arxiv_server: FakeArxiv, make_source: SourceFactory, as_url: bool
) -> None:
    """ARXIV_RSS_URL may name a saved feed (path or file:// URL): read directly, no request, no gate."""
    path = FIXTURES / SAMPLE
    source = make_source(rss_url=path.as_uri() if as_url else str(path))
    result = await source.fetch_feed(["cs.CL"])
    assert isinstance(result, Announcement)
    assert len(result.papers) == 20
    assert arxiv_server.requests == []
    assert source.gate.requests == 0


async def test_missing_local_feed_file(make_source: SourceFactory, tmp_path: Path) -> None:
    """A local feed file that is not there is ArxivUnavailableError naming it."""
    with pytest.raises(ArxivUnavailableError, match="cannot read feed file"):
        await make_source(rss_url=str(tmp_path / "missing.xml")).fetch_feed(["cs.CL"])


# -- API ----------------------------------------------------------------------------------------------


def test_submission_windows_follow_the_14h_eastern_cutoff() -> None:
    """Wed's label covers Mon 14:00–Tue 14:00 ET, Mon's Thu–Fri, Tue's Fri–Mon; EST and EDT alike."""
    assert submission_window(dt.date(2025, 11, 12)) == (
        dt.datetime(2025, 11, 10, 19, tzinfo=UTC),
        dt.datetime(2025, 11, 11, 19, tzinfo=UTC),
    )
    assert submission_window(dt.date(2025, 11, 10)) == (  # Monday
        dt.datetime(2025, 11, 6, 19, tzinfo=UTC),
        dt.datetime(2025, 11, 7, 19, tzinfo=UTC),
    )
    assert submission_window(dt.date(2025, 11, 11)) == (  # Tuesday
        dt.datetime(2025, 11, 7, 19, tzinfo=UTC),
        dt.datetime(2025, 11, 10, 19, tzinfo=UTC),
    )
    assert submission_window(dt.date(2025, 7, 2)) == (  # summer time: 14:00 EDT is 18:00 UTC
        dt.datetime(2025, 6, 30, 18, tzinfo=UTC),
        dt.datetime(2025, 7, 1, 18, tzinfo=UTC),
    )


def test_api_day_query() -> None:
    """The day query ORs the categories and bounds submittedDate (inclusive) in UTC."""
    assert api_day_query(["cs.CV", "cs.AI", "cs.CV"], dt.date(2025, 11, 12)) == (
        "(cat:cs.AI OR cat:cs.CV) AND submittedDate:[202511101900 TO 202511111859]"
    )


async def test_missed_day_is_rebuilt_from_api_pages(
    arxiv_server: FakeArxiv, make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API pages (4 entries each here) make an `api` announcement: new if primary is asked, else cross."""
    monkeypatch.setattr("bot.arxiv_client.api.API_PAGE_SIZE", 4)
    arxiv_server.use_api_entries(TESTING_PAGE)
    day = dt.date(2025, 11, 12)
    result = await make_source().fetch_day_via_api(["cs.SE", "cs.LG"], day)

    assert (result.date, result.source, result.categories) == (day, "api", ("cs.LG", "cs.SE"))
    assert len(result.papers) == 10
    assert {paper.version for paper in result.papers} == {1}
    by_id = {paper.arxiv_id: paper for paper in result.papers}
    assert by_id["2202.12139"].announce_type is AnnounceType.NEW  # primary cs.SE
    assert by_id["2202.12139"].categories == ("cs.SE", "cs.LG")
    assert by_id["2202.12139"].doi == "10.1109/ICSTW55395.2022.00035"
    assert by_id["2202.12139"].authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
    for paper in result.papers:
        expected = AnnounceType.NEW if paper.categories[0] in {"cs.SE", "cs.LG"} else AnnounceType.CROSS
        assert paper.announce_type is expected
        assert "\n" not in paper.abstract
    types = [paper.announce_type for paper in result.papers]
    assert types == sorted(types, key=lambda kind: kind is not AnnounceType.NEW)

    api = arxiv_server.of_kind("api")
    assert [request.query["start"] for request in api] == ["0", "4", "8"]
    assert api[0].query["search_query"] == api_day_query(["cs.SE", "cs.LG"], day)
    assert api[0].query["sortBy"] == "submittedDate"
    assert {request.headers["User-Agent"] for request in api} == {USER_AGENT}
    assert min(gaps(api)) >= SCALED_INTERVAL


async def test_api_503_is_retried_with_retry_after(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """The API's 503 + Retry-After is honoured (gate time) and the request repeated."""
    arxiv_server.queue_api(Reply.error(503, retry_after="6"))
    arxiv_server.use_api_entries(TESTING_PAGE)
    result = await make_source().fetch_day_via_api(["cs.LG"], dt.date(2025, 11, 12))
    assert len(result.papers) == 10
    api = arxiv_server.of_kind("api")
    assert len(api) == 2
    assert gaps(api)[0] >= 6.0 / TIME_SCALE


async def test_truncated_api_page_is_refetched(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """A cut-off API page is not silently parsed as fewer papers: it is fetched again."""
    _, body = recorded_api_body(TESTING_PAGE)
    arxiv_server.queue_api(Reply(body=body[: len(body) // 2], content_type="application/atom+xml"))
    arxiv_server.use_api_entries(TESTING_PAGE)
    result = await make_source().fetch_day_via_api(["cs.LG"], dt.date(2025, 11, 12))
    assert len(result.papers) == 10
    assert len(arxiv_server.of_kind("api")) == 2


async def test_empty_api_answer_is_asked_twice(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """No results for a day is confirmed with a second query before it counts as a day without papers."""
    result = await make_source().fetch_day_via_api(["cs.LG"], dt.date(2025, 12, 25))
    assert result.papers == ()
    assert len(arxiv_server.of_kind("api")) == 2


async def test_api_deadline_bounds_the_whole_call(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """An API that hangs is given up at the overall deadline, not after the per-request timeout."""
    arxiv_server.queue_api(Reply(body=b"", delay=5.0))
    started = time.monotonic()
    with pytest.raises(ArxivUnavailableError):
        await make_source(timeout=30.0, api_deadline=0.5).fetch_day_via_api(["cs.LG"], dt.date(2025, 11, 12))
    assert time.monotonic() - started < 2.0


async def test_api_error_entry_is_a_feed_error(arxiv_server: FakeArxiv, make_source: SourceFactory) -> None:
    """The API's HTTP 400 error entry becomes ArxivFeedError with arXiv's words, not retried."""
    arxiv_server.queue_api(Reply.api("id_abc_s0_m100_b79c8dcf6bc3.json"))
    with pytest.raises(ArxivFeedError, match="incorrect id format for abc"):
        await make_source().fetch_day_via_api(["cs.LG"], dt.date(2025, 11, 12))
    assert len(arxiv_server.of_kind("api")) == 1


@pytest.mark.slow
async def test_gate_spaces_rss_and_api_requests_together(
    arxiv_server: FakeArxiv, make_source: SourceFactory
) -> None:
    """With the real 3 s gate, RSS and API requests of one process are never closer than 3 s."""
    arxiv_server.default_rss = Reply.feed("rss/empty-feed.xml")
    arxiv_server.use_api_entries(TESTING_PAGE)
    source = make_source(gate=ArxivGate())
    await source.fetch_feed(["cs.CL"])
    await source.fetch_day_via_api(["cs.LG"], dt.date(2025, 11, 12))
    await source.fetch_feed(["cs.CV"])
    assert [request.kind for request in arxiv_server.requests] == ["rss", "api", "rss"]
    assert all(gap >= 3.0 for gap in gaps(arxiv_server.requests))


# -- helpers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("4", 4.0),
        ("0", 0.0),
        ("86400", 600.0),  # capped at 10 minutes
        ("Wed, 12 Nov 2025 12:00:30 GMT", 30.0),
        ("Wed, 12 Nov 2025 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    """Retry-After in seconds or as an HTTP date, never negative, capped at 10 minutes."""
    now = dt.datetime(2025, 11, 12, 12, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2511.08585", ("2511.08585", None)),
        ("2511.08585v2", ("2511.08585", 2)),
        ("arXiv:2511.08585", ("2511.08585", None)),
        ("https://arxiv.org/abs/2511.08585v1", ("2511.08585", 1)),
        ("https://arxiv.org/pdf/2511.08585v3.pdf", ("2511.08585", 3)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("math.GT/0309136v2", ("math.GT/0309136", 2)),
        ("abc", None),
        ("2511.085", None),
    ],
)
def test_split_arxiv_id(text: str, expected: tuple[str, int | None] | None) -> None:
    """Ids are recognised in their usual spellings; anything else is None."""
    assert split_arxiv_id(text) == expected


def test_backoff_doubles_and_is_capped(make_source: SourceFactory) -> None:
    """Retry n waits backoff × 2^(n-1), at most 5 minutes."""
    source = make_source(backoff=2.0)
    assert [source.backoff_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert source.backoff_delay(20) == 300.0
