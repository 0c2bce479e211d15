"""A missed day rebuilt through arXiv's query API (`ApiClient.fetch_day_via_api`).

rss.arxiv.org only ever shows the current announcement. A day missed while the bot was down is
rebuilt from the query API: `(cat:A OR cat:B ...) AND submittedDate:[start TO end]` over the day's
submission window (bot.schedule.submission_window: 14:00 to 14:00 US Eastern, in UTC).

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
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import arxiv
import requests
from lxml import etree

from bot.arxiv_client.common import (
    RETRY_STATUSES,
    ArxivUnavailableError,
    RequestPolicy,
    attempts_text,
    one_line,
)
from bot.feeds import ArxivFeedError, BrokenFeedError, xml_problem
from bot.gate import GateTimeoutError
from bot.models import Announcement, AnnounceType, Paper
from bot.retry import is_unreachable
from bot.schedule import submission_window

log = logging.getLogger(__name__)

API_PAGE_SIZE = 2000  # the API's limit per call
API_MAX_RESULTS = 30_000  # far above any day; bounds a runaway query

_ID_RE = re.compile(
    r"\A(?P<id>\d{4}\.\d{4,5}|[a-zA-Z][a-zA-Z\-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<version>\d+))?\Z"
)


def api_day_query(categories: Iterable[str], announcement_date: dt.date) -> str:
    """The API query for the new submissions behind one announcement date (both bounds inclusive)."""
    start, end = submission_window(announcement_date)
    last = end - dt.timedelta(minutes=1)
    cats = " OR ".join(f"cat:{category}" for category in sorted(set(categories)))
    return f"({cats}) AND submittedDate:[{start:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


def split_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """(`2511.08585`, 2) from `2511.08585v2`, an abs URL or `arXiv:` form; None if it is no arXiv id."""
    value = text.strip()
    value = re.sub(r"\A(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:)", "", value, flags=re.I)
    value = value.removesuffix(".pdf")
    match = _ID_RE.match(value)
    if not match:
        return None
    return match["id"], int(match["version"]) if match["version"] else None


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

    def __init__(self, policy: RequestPolicy, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """`deadline` is on `time.monotonic()`."""
        self._policy = policy
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
        policy = self._policy
        headers = {
            k: v for k, v in dict(kwargs.pop("headers", None) or {}).items() if k.lower() != "user-agent"
        }
        headers["User-Agent"] = policy.user_agent
        kwargs.pop("timeout", None)
        problem = "no attempt made"
        attempts = policy.attempts
        for attempt in range(attempts):
            if attempt:
                policy.gate.defer(policy.backoff_delay(attempt))
            remaining = self._remaining()
            try:
                with policy.gate.slot_blocking(self._loop, timeout=remaining):
                    timeout = min(policy.timeout, self._remaining())
                    self.requests += 1
                    log.debug("arXiv API request %s", url)
                    response = self._session.request(method, url, headers=headers, timeout=timeout, **kwargs)
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        problem = policy.retry_later(status, response.headers.get("Retry-After"))
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
                problem = f"timed out after {policy.timeout:g} s"
            except requests.RequestException as error:
                reason = is_unreachable(error)
                if reason is not None and policy.one_shot:
                    raise _ApiGaveUp(str(policy.unreachable(url, reason))) from None
                problem = f"cannot connect: {reason}" if reason else f"connection error: {one_line(error)}"
            log.info("arXiv API request failed (attempt %d of %d): %s", attempt + 1, attempts, problem)
        raise _ApiGaveUp(f"arXiv API unavailable after {attempts_text(attempts)}: {problem}")


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


class ApiClient:
    """arXiv's query API, for the new submissions behind a past announcement date."""

    def __init__(self, api_url: str, policy: RequestPolicy, *, deadline: float) -> None:
        """`deadline` bounds a whole API call in seconds, all pages and retries included."""
        self.api_url = api_url
        self.policy = policy
        self.deadline = float(deadline)

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
        results = await self._run(search)
        if not results:  # the API sometimes answers an empty page by mistake: ask once more
            log.info("the API found nothing for %s; asking once more", date.isoformat())
            results = await self._run(search)
        wanted = set(cats)
        papers: list[Paper] = []
        seen: set[str] = set()
        for result in results:
            paper = _paper_as_announced(result, wanted)
            if paper is not None and paper.arxiv_id not in seen:
                seen.add(paper.arxiv_id)
                papers.append(paper)
        papers.sort(key=lambda paper: paper.announce_type != AnnounceType.NEW)  # new first, stable
        return Announcement(date=date, categories=tuple(cats), papers=tuple(papers), source="api")

    async def _run(self, search: Any) -> list[Any]:
        """Run an `arxiv` search in a worker thread, every request through our gate; bounded in time."""
        loop = asyncio.get_running_loop()
        session = _GatedSession(self.policy, loop, deadline=time.monotonic() + self.deadline)
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
            return await asyncio.wait_for(_in_daemon_thread(work), self.deadline)
        except TimeoutError:
            session.abandoned.set()
            raise ArxivUnavailableError(f"arXiv API call gave no answer within {self.deadline:g} s") from None
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
            raise ArxivUnavailableError(f"arXiv API failed: {one_line(error)}") from None


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


def _paper_as_announced(result: Any, wanted: set[str]) -> Paper | None:
    """An `arxiv.Result` as the day's feed would have shown it; None for the API's error entries.

    Version 1 (the announced one); `new` when the primary category is wanted, else `cross`.
    """
    found = split_arxiv_id(str(result.entry_id))
    if found is None:
        log.warning("skipping API entry with an unexpected id %r", str(result.entry_id)[:80])
        return None
    arxiv_id, _ = found
    primary = str(result.primary_category or "")
    categories = [primary] if primary else []
    categories += [str(category) for category in result.categories if category and category != primary]
    return Paper(
        arxiv_id=arxiv_id,
        version=1,
        title=" ".join(str(result.title).split()),
        abstract=" ".join(str(result.summary).split()),
        authors=tuple(str(author.name).strip() for author in result.authors if str(author.name).strip()),
        categories=tuple(categories),
        announce_type=AnnounceType.NEW if primary in wanted else AnnounceType.CROSS,
        doi=(str(result.doi).strip() or None) if result.doi else None,
        journal_ref=(" ".join(str(result.journal_ref).split()) or None) if result.journal_ref else None,
    )
