"""Retrying what may pass: a back-off policy, waits that a stop event cuts short, and which errors help.

One policy for every start-up connection the bot makes (Telegram, Discord): try, and on a failure
that may pass (the network is not up yet, a 5xx, a rate limit) wait 1, 2, 4 … up to 30 s between
attempts, for about two minutes in all, then give up with one line. A stop event (SIGTERM) ends the
waiting, and an attempt in progress, at once. Which errors are worth retrying is the caller's call:
an adapter knows its library's errors and raises `RetryableError` for those that may pass; anything
else ends the attempts at once. The core imports no platform library; `is_unreachable` looks only at
the standard library's socket errors under whatever an HTTP library wrapped them in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class RetryableError(Exception):
    """An attempt failed in a way that may pass; `retry_after` when the other side said how long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetriesExhaustedError(Exception):
    """Every attempt the policy allows failed; the message says what, how often and the last error."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: `first`, then `factor` times longer each time, at most `cap` seconds.

    A wait that would end more than `budget` seconds after the first attempt started is not begun:
    the attempts stop there. The defaults try at 0, 1, 3, 7, 15, 31, 61, 91 and 121 s (when each
    attempt fails at once): nine attempts in about two minutes.
    """

    first: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    budget: float = 150.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure (1, 2, …)."""
        return min(self.first * self.factor ** max(failures - 1, 0), self.cap)

    def delays(self) -> Iterator[float]:
        """The waits the budget allows when every attempt fails at once (for documentation and tests)."""
        spent, failures = 0.0, 1
        while spent + (wait := self.delay(failures)) <= self.budget:
            yield wait
            spent += wait
            failures += 1


#: The start-up policy of the chat adapters: waits of 1, 2, 4, 8, 16, 30, 30, 30 s, about two minutes.
STARTUP_BACKOFF = Backoff()


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; True if it was set."""
    if stop.is_set():
        return True
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Run `work` unless `stop` is set first, which cancels it: (stopped, its result).

    The work's own exception propagates; if both end at once, the work's outcome wins.
    """
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # cancelled from outside: take the work down with us
        task.cancel()
        raise
    finally:
        stopping.cancel()
    if task.done():
        return False, task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception as error:  # it failed while being stopped: nobody waits for its outcome now
        log.debug("stopped work ended with %r", error)
    return True, None


async def keep_trying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    backoff: Backoff = STARTUP_BACKOFF,
    between: Callable[[], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """`attempt()` until it succeeds; None if `stop` was set first.

    A `RetryableError` is logged (WARNING, once per attempt, saying when the next one comes) and
    retried after the back-off (or the `retry_after` it carries, if longer); `between` runs after each
    failure (to close a half-open client). Any other exception ends it at once. When the budget is
    spent, RetriesExhaustedError says how many attempts failed over how long, and the last error.
    """
    started = clock()
    failures = 0
    while True:
        try:
            stopped, result = await unless_stopped(stop, attempt())
        except RetryableError as error:
            failures += 1
            elapsed = clock() - started
            wait = max(backoff.delay(failures), error.retry_after or 0.0)
            if between is not None:
                await between()
            if elapsed + wait > backoff.budget:
                raise RetriesExhaustedError(
                    f"{what}: gave up after {failures} attempt{'s' if failures != 1 else ''} "
                    f"in {math.ceil(elapsed)} s: {error}"
                ) from None
            log.warning("%s: %s (attempt %d); trying again in %.3g s", what, error, failures, wait)
            if await sleep_unless_stopped(stop, wait):
                return None
            continue
        if stopped:
            return None
        if failures:
            log.info("%s: reached after %d failed attempt(s)", what, failures)
        return result


#: Connection errors that no retry in the next few seconds will fix: the name does not resolve, or
#: nothing listens at the address. (A timeout or a reset may pass, and is not among them.)
_UNREACHABLE = (socket.gaierror, ConnectionRefusedError)


def is_unreachable(error: BaseException) -> str | None:
    """Why `error` means the host cannot be reached right now ("name resolution failed" …), else None.

    Looks through the chain of causes and the `reason`/arguments HTTP libraries keep the socket's
    error in (httpx, requests/urllib3 and aiohttp all wrap it).
    """
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "the host name does not resolve (offline, or no DNS?)"
        if isinstance(current, ConnectionRefusedError):
            return "the connection was refused (nothing listens there)"
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        os_error = getattr(current, "os_error", None)  # aiohttp's ClientConnectorError
        pending.append(os_error)
        text = str(current).lower()
        if "name or service not known" in text or "nodename nor servname" in text:
            return "the host name does not resolve (offline, or no DNS?)"
        if "connection refused" in text:
            return "the connection was refused (nothing listens there)"
    return None


__all__ = [
    "STARTUP_BACKOFF",
    "Backoff",
    "RetriesExhaustedError",
    "RetryableError",
    "is_unreachable",
    "keep_trying",
    "sleep_unless_stopped",
    "unless_stopped",
]
