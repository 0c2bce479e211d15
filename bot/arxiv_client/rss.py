"""The daily feed from rss.arxiv.org, over httpx: one request for all categories, retried politely.

rss.arxiv.org only ever shows the current announcement (see bot.arxiv_client.api for a missed day).
`rss_url` may also be a local file (a path or `file://` URL), replayed instead of the network; a `.gz`
file is read decompressed. A `progress` callback hears about anything slower than a second (what is
awaited, attempt n of m); the CLI passes bot.main.progress.terminal_progress().
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bot.arxiv_client.common import (
    RETRY_STATUSES,
    ArxivUnavailableError,
    Progress,
    RequestPolicy,
    attempts_text,
    one_line,
)
from bot.categories import feed_path
from bot.feeds import BrokenFeedError, NoAnnouncement, parse_feed
from bot.models import Announcement
from bot.retry import is_unreachable
from bot.settings import local_feed_file

log = logging.getLogger(__name__)

PROGRESS_AFTER = 1.0  # seconds of waiting before a person at a terminal is told what is slow


class RssClient:
    """The current announcement of some categories, from rss.arxiv.org (or a saved feed file)."""

    def __init__(
        self,
        rss_url: str,
        policy: RequestPolicy,
        *,
        client: httpx.AsyncClient | None = None,
        progress: Progress | None = None,
    ) -> None:
        """An injected `client` stays the caller's to close; `progress` is told about slow waits."""
        self.rss_url = rss_url.rstrip("/")
        self.local_feed = local_feed_file(rss_url)
        self.policy = policy
        self._client = client
        self._owns_client = client is None
        self._progress = progress

    def _report(self, message: str) -> None:
        """Tell the progress reporter, if there is one."""
        if self._progress is not None:
            self._progress(message)

    async def aclose(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use: one connection, our User-Agent."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers={"User-Agent": self.policy.user_agent},
                timeout=self.policy.timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                follow_redirects=True,
            )
            self._owns_client = True
        return self._client

    def feed_url(self, categories: Iterable[str]) -> str:
        """`{rss_url}/cs.CL+cs.CV`: one feed for all categories, sorted and de-duplicated."""
        cats = sorted(set(categories))
        if not cats:
            raise ValueError("at least one category is needed")
        return f"{self.rss_url}/{feed_path(cats)}"  # a whole archive by its name: see feed_path

    async def fetch_feed(self, categories: Sequence[str]) -> Announcement | NoAnnouncement:
        """The current announcement for these categories, in one request.

        Raises ArxivFeedError for arXiv's error feed (no retry) and ArxivUnavailableError once the
        retries are spent (timeouts, connection errors, 429/5xx, truncated or HTML bodies).
        """
        cats = sorted(set(categories))
        if self.local_feed is not None:
            return await self._read_local(cats, self.local_feed)
        policy = self.policy
        url = self.feed_url(cats)
        client = self._http()
        host = urlparse(url).netloc or url
        attempts = policy.attempts
        problem = "no attempt made"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                policy.gate.defer(policy.backoff_delay(attempt - 1))
                if (wait := policy.gate.delay()) >= PROGRESS_AFTER:
                    self._report(
                        f"{host}: {problem}; trying again in {math.ceil(wait)} s "
                        f"(attempt {attempt} of {attempts}) …"
                    )
            try:
                async with policy.gate.slot():
                    log.debug("arXiv RSS request %s", url)
                    slow = self._slow(f"waiting for {host} to answer (attempt {attempt} of {attempts}) …")
                    try:
                        response = await client.get(
                            url, headers={"User-Agent": policy.user_agent}, timeout=policy.timeout
                        )
                    finally:
                        slow.cancel()
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        problem = policy.retry_later(status, response.headers.get("Retry-After"))
                        self._log_attempt(problem, attempt, attempts)
                        continue
                    if status != 200:
                        raise ArxivUnavailableError(f"arXiv RSS answered HTTP {status} for {url}")
                    body = response.content
            except httpx.TimeoutException:
                problem = f"timed out after {policy.timeout:g} s"
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
                raise ArxivUnavailableError(f"bad arXiv RSS URL {url!r}: {one_line(error)}") from None
            except httpx.HTTPError as error:
                reason = is_unreachable(error)
                if reason is not None and policy.one_shot:
                    raise policy.unreachable(url, reason) from None
                problem = f"cannot connect: {reason}" if reason else f"connection error: {one_line(error)}"
            else:
                try:
                    return parse_feed(body, cats)
                except BrokenFeedError as error:
                    problem = f"broken feed: {error}"
            self._log_attempt(problem, attempt, attempts)
        raise ArxivUnavailableError(f"arXiv RSS unavailable after {attempts_text(attempts)}: {problem}")

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
                raise BrokenFeedError(f"not a complete gzip file: {one_line(error)}") from None
        return parse_feed(data, cats)
