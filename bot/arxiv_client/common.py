"""What every request to arXiv shares: the User-Agent, the retry policy, Retry-After and the errors.

Every request goes through one `ArxivGate` (one request at a time, 3 s apart, `Retry-After` honoured
for everybody), carries the project's User-Agent and has a timeout. Failures that may pass (timeouts,
connection errors, 429, 5xx, a truncated or HTML body) are retried a bounded number of times with
exponential back-off, each attempt logged once at INFO; what will not pass (arXiv's own error feed)
is raised at once. A one-shot command (`preview`, `fetch`) uses `one_shot=True`: a host name that
does not resolve or a refused connection then fails at once, naming the sample listing shipped with
the package (`--feed sample`, bot.settings.SAMPLE_FEED) to try offline, instead of retrying for half
a minute; the long-running bot keeps retrying.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlparse

from bot.feeds import ArxivError
from bot.gate import ArxivGate
from bot.settings import SAMPLE_FEED_NAME

PROJECT_URL = "https://pypi.org/project/arxiv-digest-bot/"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0  # a Retry-After longer than 10 minutes is capped
MAX_BACKOFF = 300.0

#: Told about anything slower than a second (what is awaited, attempt n of m).
Progress = Callable[[str], None]


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


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """How every request to arXiv is made: through `gate`, with these timeouts and retries.

    `backoff` is the first retry's delay (doubled each time, capped at 5 minutes; the gate's interval
    comes on top). `one_shot`: fail at once when the host does not resolve or refuses.
    """

    gate: ArxivGate
    timeout: float
    max_retries: int
    backoff: float
    user_agent: str
    one_shot: bool

    @property
    def attempts(self) -> int:
        """How many times a request is tried in all."""
        return self.max_retries + 1

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, ...): backoff, 2×backoff, 4×..., capped."""
        return min(self.backoff * 2.0 ** (attempt - 1), MAX_BACKOFF)

    def unreachable(self, url: str, reason: str) -> ArxivUnreachableError:
        """The one-shot answer to an unresolvable or refusing host: say so, and how to try offline."""
        host = urlparse(url).netloc or url
        return ArxivUnreachableError(
            f"arXiv is unavailable: cannot reach {host}: {reason}; to try arxiv-digest offline, use "
            f"the listing it ships: --feed {SAMPLE_FEED_NAME}"
        )

    def retry_later(self, status: int, retry_after_header: str | None) -> str:
        """Honour a retryable answer's Retry-After through the gate (for every caller); describe it."""
        retry_after = parse_retry_after(retry_after_header)
        if retry_after:
            self.gate.defer(retry_after)
            return f"HTTP {status} (Retry-After {retry_after:.0f} s)"
        return f"HTTP {status}"


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


def one_line(error: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def attempts_text(count: int) -> str:
    """`1 attempt`, `5 attempts`."""
    return f"{count} attempt{'' if count == 1 else 's'}"
