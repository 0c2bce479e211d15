"""Everything the bot asks arXiv: the daily RSS feed, a missed day through the API, id look-ups.

Every request goes through one `ArxivGate` (one request at a time, 3 s apart, `Retry-After` honoured
for everybody), carries the project's User-Agent and has a timeout. Failures that may pass (timeouts,
connection errors, 429, 5xx, a truncated or HTML body) are retried a bounded number of times with
exponential back-off, each attempt logged once at INFO; what will not pass (arXiv's own error feed)
is raised at once. A one-shot command (`preview`, `fetch`) builds its source with `one_shot=True`: a
host name that does not resolve or a refused connection then fails at once, naming the sample listing
shipped with the package (`--feed sample`, bot.settings.SAMPLE_FEED) to try offline, instead of
retrying for half a minute; the long-running bot keeps retrying. A `progress` callback hears about
anything slower than a second (what is awaited, attempt n of m); `terminal_progress()` is the one the
CLI passes.

## Recovering a missed day through the API

rss.arxiv.org only ever shows the current announcement. A day missed while the bot was down is
rebuilt from the query API (`fetch_day_via_api`):

- arXiv's cut-off is 14:00 US Eastern: papers submitted between 14:00 on one working day and 14:00
  on the next are mailed at 20:00 that evening and labelled with the following date by rss.arxiv.org
  (the Tuesday 20:00 mailing is "Wednesday"). Monday's label covers Thursday 14:00 – Friday 14:00,
  Tuesday's covers Friday 14:00 – Monday 14:00. The query is
  `(cat:A OR cat:B ...) AND submittedDate:[start TO end]` over that window, in UTC.
- What it can see: new submissions of the window whose categories (primary or cross-list, as given
  at submission) include an asked category. Those whose primary category is asked are marked `new`,
  the others `cross` — what the day's feed would have called them. Version is 1 (the announced one);
  title and abstract are the *current* version's, with whitespace collapsed (the API wraps lines).
- What it cannot see: replacements (`replace`, `replace-cross`) announced that day, and cross-lists
  added later to older papers; papers held for moderation and announced on a later day than their
  window (they are missing, or appear in the wrong day); arXiv holidays — the API does not know the
  mailing calendar, so a holiday's window comes back as a day of its own whose papers arXiv actually
  announced with the next mailing (every paper still arrives once; the date label is off by a day).
  An empty answer (asked twice, the API is known to return empty pages now and then) is treated as
  "no announcement that day".

The `arxiv` package is synchronous and sets no timeout: it runs in a worker thread with its
`requests.Session` replaced by a wrapper that takes the gate for each request (through the event
loop), sets our User-Agent and a per-request timeout, retries, checks that the body is complete XML,
and gives up at an overall deadline (`asyncio.wait_for` cannot stop a thread, so the wrapper checks
the deadline itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import gzip
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import arxiv
import httpx
import requests
from lxml import etree

from bot.categories import feed_path
from bot.feeds import ArxivError, ArxivFeedError, BrokenFeedError, NoAnnouncement, parse_feed, xml_problem
from bot.gate import ArxivGate, GateTimeoutError
from bot.models import Announcement, AnnounceType, Paper
from bot.retry import is_unreachable
from bot.schedule import ARXIV_TZ
from bot.settings import SAMPLE_FEED_NAME, local_feed_file

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_RSS_URL = "https://rss.arxiv.org/rss"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
PROJECT_URL = "https://pypi.org/project/arxiv-digest-bot/"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0  # a Retry-After longer than 10 minutes is capped
MAX_BACKOFF = 300.0
API_PAGE_SIZE = 2000  # the API's limit per call
API_MAX_RESULTS = 30_000  # far above any day; bounds a runaway query
CUTOFF = dt.time(14, 0)  # arXiv's daily submission cut-off, US Eastern
PROGRESS_AFTER = 1.0  # seconds of waiting before a person at a terminal is told what is slow
#: The anchor day's listing (cs.AI, cs.CL, cs.CV, cs.LG, cs.MA, cs.RO; 496 papers; 2025-11-12), shipped
#: with the package so `--feed` can be tried offline. A `.gz` feed file is read decompressed.
PROGRESS_ENV = "ARXIV_DIGEST_PROGRESS"  # 1: progress lines even without a terminal; 0: never

Progress = Callable[[str], None]


def terminal_progress() -> Progress | None:
    """A progress reporter writing to stderr when it is a terminal (or `ARXIV_DIGEST_PROGRESS=1`)."""
    wanted = os.environ.get(PROGRESS_ENV, "").strip()
    if wanted == "0" or (wanted != "1" and not sys.stderr.isatty()):
        return None

    def report(message: str) -> None:
        """One line on stderr, at once."""
        print(f"arxiv-digest: {message}", file=sys.stderr, flush=True)

    return report


def _version() -> str:
    """The installed project's version."""
    try:
        return metadata.version("arxiv-digest-bot")
    except metadata.PackageNotFoundError:
        return "0.0.0"


USER_AGENT = f"arxiv-digest-bot/{_version()} (+{PROJECT_URL})"


class ArxivUnavailableError(ArxivError):
    """arXiv could not be reached or kept failing after the allowed retries."""


class ArxivUnreachableError(ArxivUnavailableError):
    """A one-shot request found arXiv's host unresolvable or refusing: no retry would help soon."""


# -- arXiv's calendar -------------------------------------------------------------------------------


EASTERN = ARXIV_TZ  # tzdata ships the time-zone database where the system has none


def arxiv_today(now: dt.datetime) -> dt.date:
    """The date in US Eastern time: the label of the feed rss.arxiv.org shows at `now` (aware)."""
    return now.astimezone(EASTERN).date()


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

    The label's mailing went out at 20:00 ET the evening before; it holds what was submitted from 14:00
    ET on the working day before the mailing's last working day, up to 14:00 ET on that day. Holidays
    are not known (see the module docstring).
    """
    end_day = announcement_date - dt.timedelta(days=1)  # the mailing's evening
    while end_day.weekday() >= 5:  # the Sunday mailing closes on Friday
        end_day -= dt.timedelta(days=1)
    start_day = _previous_working_day(end_day)
    start = dt.datetime.combine(start_day, CUTOFF, EASTERN)
    end = dt.datetime.combine(end_day, CUTOFF, EASTERN)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def api_day_query(categories: Iterable[str], announcement_date: dt.date) -> str:
    """The API query for the new submissions behind one announcement date (both bounds inclusive)."""
    start, end = submission_window(announcement_date)
    last = end - dt.timedelta(minutes=1)
    cats = " OR ".join(f"cat:{category}" for category in sorted(set(categories)))
    return f"({cats}) AND submittedDate:[{start:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


# -- HTTP helpers -------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _retry_later(gate: ArxivGate, status: int, retry_after_header: str | None) -> str:
    """Honour a retryable answer's Retry-After through the gate (for every caller); describe it."""
    retry_after = parse_retry_after(retry_after_header)
    if retry_after:
        gate.defer(retry_after)
        return f"HTTP {status} (Retry-After {retry_after:.0f} s)"
    return f"HTTP {status}"


def _one_line(error: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


_ID_RE = re.compile(
    r"\A(?P<id>\d{4}\.\d{4,5}|[a-zA-Z][a-zA-Z\-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<version>\d+))?\Z"
)


def split_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """(`2511.08585`, 2) from `2511.08585v2`, an abs URL or `arXiv:` form; None if it is no arXiv id."""
    value = text.strip()
    value = re.sub(r"\A(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:)", "", value, flags=re.I)
    value = value.removesuffix(".pdf")
    match = _ID_RE.match(value)
    if not match:
        return None
    return match["id"], int(match["version"]) if match["version"] else None


# -- the API in a worker thread -----------------------------------------------------------------------


class _Abandoned(Exception):
    """The API call ran past its deadline or was given up by the event loop's side."""


class _ApiGaveUp(Exception):
    """The API kept failing; the message says how."""


class _ApiRejected(Exception):
    """The API refused the query (a 4xx other than 429); asking again will not help."""


class _GatedSession:
    """What the `arxiv` package sees as its `requests.Session`: every request goes through our gate.

    Used from the worker thread only. It sets our User-Agent (replacing the package's), a per-request
    timeout, retries with back-off, and refuses an incomplete XML body (the package's own parser
    recovers silently from a truncated page, which would lose papers unnoticed).
    """

    def __init__(self, source: ArxivSource, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """`deadline` is on `time.monotonic()`."""
        self._source = source
        self._loop = loop
        self._deadline = deadline
        self.abandoned = threading.Event()
        self._session = requests.Session()
        self.requests = 0

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def _remaining(self) -> float:
        """Seconds left before the deadline; raises _Abandoned when none."""
        remaining = self._deadline - time.monotonic()
        if self.abandoned.is_set() or remaining <= 0:
            raise _Abandoned("the API call ran out of time")
        return remaining

    def get(self, url: str, **kwargs: Any) -> Any:
        """GET through the gate (the only method the `arxiv` package calls)."""
        return self.request("GET", url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request with our headers, timeout, gate and retries."""
        source = self._source
        headers = {
            k: v for k, v in dict(kwargs.pop("headers", None) or {}).items() if k.lower() != "user-agent"
        }
        headers["User-Agent"] = source.user_agent
        kwargs.pop("timeout", None)
        problem = "no attempt made"
        attempts = source.max_retries + 1
        for attempt in range(source.max_retries + 1):
            if attempt:
                source.gate.defer(source.backoff_delay(attempt))
            remaining = self._remaining()
            try:
                with source.gate.slot_blocking(self._loop, timeout=remaining):
                    timeout = min(source.timeout, self._remaining())
                    self.requests += 1
                    log.debug("arXiv API request %s", url)
                    response = self._session.request(method, url, headers=headers, timeout=timeout, **kwargs)
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        problem = _retry_later(source.gate, status, response.headers.get("Retry-After"))
                        log.info("arXiv API answered %s (attempt %d of %d)", problem, attempt + 1, attempts)
                        continue
                    if status != 200:
                        raise _ApiRejected(
                            f"arXiv API answered HTTP {status}: {_api_error_text(response.content)}"
                        )
                    _check_complete_xml(response.content)
                    return response
            except GateTimeoutError as error:
                raise _Abandoned(str(error)) from None
            except BrokenFeedError as error:
                problem = str(error)
            except requests.Timeout:
                problem = f"timed out after {source.timeout:g} s"
            except requests.RequestException as error:
                reason = is_unreachable(error)
                if reason is not None and source.one_shot:
                    raise _ApiGaveUp(str(source._unreachable(url, reason))) from None
                problem = f"cannot connect: {reason}" if reason else f"connection error: {_one_line(error)}"
            log.info("arXiv API request failed (attempt %d of %d): %s", attempt + 1, attempts, problem)
        raise _ApiGaveUp(f"arXiv API unavailable after {_attempts(attempts)}: {problem}")


def _check_complete_xml(body: bytes) -> None:
    """Raise BrokenFeedError unless the body is a complete XML document."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as error:
        raise BrokenFeedError(
            f"incomplete API response (truncated XML?): {xml_problem(error)[:200]}"
        ) from None


def _api_error_text(body: bytes) -> str:
    """The `<summary>` of the API's error entry, if any."""
    try:
        root = etree.fromstring(
            body, parser=etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
        )
    except etree.XMLSyntaxError:
        return "no details"
    if root is None:
        return "no details"
    summary = root.findtext(".//{http://www.w3.org/2005/Atom}summary")
    return " ".join((summary or "no details").split())[:200]


# -- the source ---------------------------------------------------------------------------------------


class ArxivSource:
    """arXiv as the bot sees it: the current announcement, a past day through the API, look-ups by id."""

    def __init__(
        self,
        rss_url: str = DEFAULT_RSS_URL,
        api_url: str = DEFAULT_API_URL,
        *,
        gate: ArxivGate | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        user_agent: str = USER_AGENT,
        client: httpx.AsyncClient | None = None,
        backoff: float = 2.0,
        api_deadline: float = 600.0,
        one_shot: bool = False,
        progress: Progress | None = None,
    ) -> None:
        """`rss_url` may also be a local file (a path or `file://` URL) replayed instead of the network.

        `backoff` is the first retry's delay (doubled each time, capped at 5 minutes; the gate's
        interval comes on top); `api_deadline` bounds a whole API call, all pages and retries included.
        An injected `client` stays the caller's to close. `one_shot`: fail at once when the host does
        not resolve or refuses (a command a person waits for); `progress`: told about slow waits.
        """
        if timeout <= 0 or max_retries < 0 or backoff < 0 or api_deadline <= 0:
            raise ValueError(
                "timeout and api_deadline must be positive, max_retries and backoff not negative"
            )
        self.rss_url = rss_url.rstrip("/")
        self.api_url = api_url
        self.gate = gate or ArxivGate()
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.user_agent = user_agent
        self.backoff = float(backoff)
        self.api_deadline = float(api_deadline)
        self._client = client
        self._owns_client = client is None
        self.local_feed = local_feed_file(rss_url)
        self.one_shot = one_shot
        self._progress = progress

    def _report(self, message: str) -> None:
        """Tell the progress reporter, if there is one."""
        if self._progress is not None:
            self._progress(message)

    def _unreachable(self, url: str, reason: str) -> ArxivUnreachableError:
        """The one-shot answer to an unresolvable or refusing host: say so, and how to try offline."""
        host = urlparse(url).netloc or url
        return ArxivUnreachableError(
            f"arXiv is unavailable: cannot reach {host}: {reason}; to try arxiv-digest offline, use "
            f"the listing it ships: --feed {SAMPLE_FEED_NAME}"
        )

    async def __aenter__(self) -> ArxivSource:
        """Use as `async with ArxivSource(...) as source:`."""
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Close the HTTP client if this source made it."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this source made it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use: one connection, our User-Agent."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers={"User-Agent": self.user_agent},
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                follow_redirects=True,
            )
            self._owns_client = True
        return self._client

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, ...): backoff, 2×backoff, 4×..., capped."""
        return min(self.backoff * 2.0 ** (attempt - 1), MAX_BACKOFF)

    def feed_url(self, categories: Iterable[str]) -> str:
        """`{rss_url}/cs.CL+cs.CV`: one feed for all categories, sorted and de-duplicated."""
        cats = sorted(set(categories))
        if not cats:
            raise ValueError("at least one category is needed")
        return f"{self.rss_url}/{feed_path(cats)}"  # a whole archive by its name: see feed_path

    # -- RSS ------------------------------------------------------------------------------------------

    async def fetch_feed(self, categories: Sequence[str]) -> Announcement | NoAnnouncement:
        """The current announcement for these categories, in one request.

        Raises ArxivFeedError for arXiv's error feed (no retry) and ArxivUnavailableError once the
        retries are spent (timeouts, connection errors, 429/5xx, truncated or HTML bodies).
        """
        cats = sorted(set(categories))
        if self.local_feed is not None:
            return await self._read_local(cats, self.local_feed)
        url = self.feed_url(cats)
        client = self._http()
        host = urlparse(url).netloc or url
        attempts = self.max_retries + 1
        problem = "no attempt made"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self.gate.defer(self.backoff_delay(attempt - 1))
                if (wait := self.gate.delay()) >= PROGRESS_AFTER:
                    self._report(
                        f"{host}: {problem}; trying again in {math.ceil(wait)} s "
                        f"(attempt {attempt} of {attempts}) …"
                    )
            try:
                async with self.gate.slot():
                    log.debug("arXiv RSS request %s", url)
                    slow = self._slow(f"waiting for {host} to answer (attempt {attempt} of {attempts}) …")
                    try:
                        response = await client.get(
                            url, headers={"User-Agent": self.user_agent}, timeout=self.timeout
                        )
                    finally:
                        slow.cancel()
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        problem = _retry_later(self.gate, status, response.headers.get("Retry-After"))
                        self._log_attempt(problem, attempt, attempts)
                        continue
                    if status != 200:
                        raise ArxivUnavailableError(f"arXiv RSS answered HTTP {status} for {url}")
                    body = response.content
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout:g} s"
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
                raise ArxivUnavailableError(f"bad arXiv RSS URL {url!r}: {_one_line(error)}") from None
            except httpx.HTTPError as error:
                reason = is_unreachable(error)
                if reason is not None and self.one_shot:
                    raise self._unreachable(url, reason) from None
                problem = f"cannot connect: {reason}" if reason else f"connection error: {_one_line(error)}"
            else:
                try:
                    return parse_feed(body, cats)
                except BrokenFeedError as error:
                    problem = f"broken feed: {error}"
            self._log_attempt(problem, attempt, attempts)
        raise ArxivUnavailableError(f"arXiv RSS unavailable after {_attempts(attempts)}: {problem}")

    def _log_attempt(self, problem: str, attempt: int, attempts: int) -> None:
        """One INFO line per failed attempt (the caller reports the final failure)."""
        more = "; trying again" if attempt < attempts else ""
        log.info("arXiv RSS: %s (attempt %d of %d)%s", problem, attempt, attempts, more)

    def _slow(self, message: str) -> asyncio.TimerHandle:
        """Tell the progress reporter `message` if what follows takes over a second; cancel when done."""
        return asyncio.get_running_loop().call_later(PROGRESS_AFTER, self._report, message)

    async def _read_local(self, cats: list[str], path: Path) -> Announcement | NoAnnouncement:
        """Replay a saved feed file (no network, no gate); a gzip file is read decompressed."""
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as error:
            raise ArxivUnavailableError(f"cannot read feed file {path}: {error.strerror or error}") from None
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise BrokenFeedError(f"not a complete gzip file: {_one_line(error)}") from None
        return parse_feed(data, cats)

    # -- API ------------------------------------------------------------------------------------------

    async def fetch_day_via_api(self, categories: Sequence[str], date: dt.date) -> Announcement:
        """Rebuild a past announcement's new submissions from the API (see the module docstring)."""
        cats = sorted(set(categories))
        if not cats:
            raise ValueError("at least one category is needed")
        query = api_day_query(cats, date)
        log.info("recovering %s through the arXiv API: %s", date.isoformat(), query)
        search = arxiv.Search(
            query=query,
            max_results=API_MAX_RESULTS,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        results = await self._run_api(search)
        if not results:  # the API sometimes answers an empty page by mistake: ask once more
            log.info("the API found nothing for %s; asking once more", date.isoformat())
            results = await self._run_api(search)
        wanted = set(cats)
        papers: list[Paper] = []
        seen: set[str] = set()
        for result in results:
            paper = _paper_from_result(result, wanted=wanted, as_announced=True)
            if paper is not None and paper.arxiv_id not in seen:
                seen.add(paper.arxiv_id)
                papers.append(paper)
        papers.sort(key=lambda paper: paper.announce_type != AnnounceType.NEW)  # new first, stable
        return Announcement(date=date, categories=tuple(cats), papers=tuple(papers), source="api")

    async def lookup(self, ids: Sequence[str]) -> list[Paper]:
        """Papers by id (`2511.08585`, `2511.08585v2`, `hep-th/9901001`), in the given order.

        Unknown ids are left out; a malformed id raises ValueError naming it, before any request.
        """
        wanted: dict[str, str] = {}  # unversioned id -> what is asked for
        bad: list[str] = []
        for raw in ids:
            found = split_arxiv_id(raw)
            if found is None:
                bad.append(raw.strip()[:40])
                continue
            arxiv_id, version = found
            wanted.setdefault(arxiv_id, f"{arxiv_id}v{version}" if version else arxiv_id)
        if bad:
            raise ValueError(f"not an arXiv id: {', '.join(bad)}")
        if not wanted:
            return []
        search = arxiv.Search(id_list=list(wanted.values()), max_results=len(wanted))
        results = await self._run_api(search)
        by_id: dict[str, Paper] = {}
        for result in results:
            paper = _paper_from_result(result, wanted=None, as_announced=False)
            if paper is not None:
                by_id.setdefault(paper.arxiv_id, paper)
        return [by_id[arxiv_id] for arxiv_id in wanted if arxiv_id in by_id]

    async def _run_api(self, search: Any) -> list[Any]:
        """Run an `arxiv` search in a worker thread, every request through our gate; bounded in time."""
        loop = asyncio.get_running_loop()
        session = _GatedSession(self, loop, deadline=time.monotonic() + self.api_deadline)
        client = arxiv.Client(page_size=API_PAGE_SIZE, delay_seconds=0, num_retries=0)
        client.query_url_format = self.api_url.replace("{", "{{").replace("}", "}}") + "?{}"
        client._session.close()
        client._session = session

        def work() -> list[Any]:
            """Collect every page (runs in the worker thread)."""
            try:
                return list(client.results(search))
            finally:
                session.close()

        try:
            return await asyncio.wait_for(_in_daemon_thread(work), self.api_deadline)
        except TimeoutError:
            session.abandoned.set()
            raise ArxivUnavailableError(
                f"arXiv API call gave no answer within {self.api_deadline:g} s"
            ) from None
        except asyncio.CancelledError:
            session.abandoned.set()
            raise
        except _Abandoned as error:
            raise ArxivUnavailableError(f"arXiv API call gave up: {error}") from None
        except _ApiGaveUp as error:
            raise ArxivUnavailableError(str(error)) from None
        except _ApiRejected as error:
            raise ArxivFeedError(str(error)) from None
        except arxiv.ArxivError as error:  # an unexpectedly empty later page, a non-200 it saw
            raise ArxivUnavailableError(f"arXiv API failed: {_one_line(error)}") from None


def _in_daemon_thread(work: Callable[[], list[Any]]) -> asyncio.Future[list[Any]]:
    """Run `work` in a daemon thread; its result (or error) completes the returned future.

    Not `asyncio.to_thread`: the default executor's threads are joined when the loop closes, so an
    API call abandoned at SIGTERM (in the middle of a slow request) would hold up the exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[Any]] = loop.create_future()

    def settle(result: list[Any] | None, error: BaseException | None) -> None:
        """Complete the future on the loop, unless it was given up."""
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or [])

    def run() -> None:
        """The thread's body."""
        result: list[Any] | None = None
        error: BaseException | None = None
        try:
            result = work()
        except BaseException as raised:  # handed to the awaiting side, whatever it is
            error = raised
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for the answer any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="arxiv-api", daemon=True).start()
    return future


def _paper_from_result(result: Any, *, wanted: set[str] | None, as_announced: bool) -> Paper | None:
    """An `arxiv.Result` as a Paper; None for the API's error entries.

    `as_announced` (a recovered day): version 1, `new` when the primary category is wanted else
    `cross`. Otherwise (a look-up): the current version, `new` for v1 else `replace`.
    """
    found = split_arxiv_id(str(result.entry_id))
    if found is None:
        log.warning("skipping API entry with an unexpected id %r", str(result.entry_id)[:80])
        return None
    arxiv_id, version = found
    primary = str(result.primary_category or "")
    categories = [primary] if primary else []
    categories += [str(category) for category in result.categories if category and category != primary]
    if as_announced:
        shown_version = 1
        is_primary = wanted is None or primary in wanted
        announce_type = AnnounceType.NEW if is_primary else AnnounceType.CROSS
    else:
        shown_version = version or 1
        announce_type = AnnounceType.NEW if shown_version == 1 else AnnounceType.REPLACE
    return Paper(
        arxiv_id=arxiv_id,
        version=shown_version,
        title=" ".join(str(result.title).split()),
        abstract=" ".join(str(result.summary).split()),
        authors=tuple(str(author.name).strip() for author in result.authors if str(author.name).strip()),
        categories=tuple(categories),
        announce_type=announce_type,
        doi=(str(result.doi).strip() or None) if result.doi else None,
        journal_ref=(" ".join(str(result.journal_ref).split()) or None) if result.journal_ref else None,
    )


def make_source(settings: Settings, *, gate: ArxivGate | None = None) -> ArxivSource:
    """An ArxivSource from the bot's Settings (for the wiring in bot.main.app)."""
    return ArxivSource(
        rss_url=settings.arxiv_rss_url,
        api_url=settings.arxiv_api_url,
        gate=gate or ArxivGate(settings.arxiv_request_interval),
        timeout=settings.arxiv_timeout,
        max_retries=settings.arxiv_max_retries,
    )


__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_RSS_URL",
    "EASTERN",
    "USER_AGENT",
    "ArxivError",
    "ArxivFeedError",
    "ArxivSource",
    "ArxivUnavailableError",
    "BrokenFeedError",
    "api_day_query",
    "arxiv_today",
    "is_announcement_day",
    "make_source",
    "parse_retry_after",
    "split_arxiv_id",
    "submission_window",
]


def _attempts(count: int) -> str:
    """`1 attempt`, `5 attempts`."""
    return f"{count} attempt{'' if count == 1 else 's'}"
