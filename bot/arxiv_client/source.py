"""`ArxivSource`: arXiv as the rest of the bot sees it — today's feed, and a missed day through the API.

One `RequestPolicy` (gate, User-Agent, timeout, retries, one-shot) serves both clients, so RSS and API
requests of one process share the gate's spacing and its Retry-After.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import TracebackType

import httpx

from bot.arxiv_client.api import ApiClient
from bot.arxiv_client.common import USER_AGENT, Progress, RequestPolicy
from bot.arxiv_client.rss import RssClient
from bot.feeds import NoAnnouncement
from bot.gate import ArxivGate
from bot.models import Announcement

DEFAULT_RSS_URL = "https://rss.arxiv.org/rss"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"


class ArxivSource:
    """The current announcement (`fetch_feed`) and a past day rebuilt through the API."""

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
        self.policy = RequestPolicy(
            gate=gate or ArxivGate(),
            timeout=float(timeout),
            max_retries=int(max_retries),
            backoff=float(backoff),
            user_agent=user_agent,
            one_shot=one_shot,
        )
        self.rss = RssClient(rss_url, self.policy, client=client, progress=progress)
        self.api = ApiClient(api_url, self.policy, deadline=api_deadline)

    @property
    def gate(self) -> ArxivGate:
        """The politeness gate every request of this source goes through."""
        return self.policy.gate

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, ...): backoff, 2×backoff, 4×..., capped."""
        return self.policy.backoff_delay(attempt)

    async def fetch_feed(self, categories: Sequence[str]) -> Announcement | NoAnnouncement:
        """The current announcement for these categories, in one request (see RssClient.fetch_feed)."""
        return await self.rss.fetch_feed(categories)

    async def fetch_day_via_api(self, categories: Sequence[str], date: dt.date) -> Announcement:
        """Rebuild a past announcement's new submissions from the API (see bot.arxiv_client.api)."""
        return await self.api.fetch_day_via_api(categories, date)

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
        await self.rss.aclose()
