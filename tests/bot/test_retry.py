"""The shared retry policy: back-off waits, the budget, stop events, and which errors mean "unreachable"."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
import requests

from bot.retry import (
    STARTUP_BACKOFF,
    Backoff,
    RetriesExhaustedError,
    RetryableError,
    is_unreachable,
    keep_trying,
    unless_stopped,
)


def test_the_startup_policy_tries_nine_times_in_about_two_minutes() -> None:
    """Waits of 1, 2, 4, 8, 16 and then 30 s, none ending past the budget: attempts up to 121 s."""
    waits = list(STARTUP_BACKOFF.delays())
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert sum(waits) == 121


async def test_keep_trying_retries_what_may_pass_and_gives_up_with_the_last_error() -> None:
    """RetryableError is retried on the back-off; when the budget is spent, one line with the count."""
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError(f"HTTP 503 (call {calls})")

    with pytest.raises(RetriesExhaustedError) as caught:
        await keep_trying("the test API", attempt, asyncio.Event(), backoff=Backoff(0.01, 2, 0.04, 0.2))
    assert calls >= 4
    assert str(caught.value).startswith(f"the test API: gave up after {calls} attempts in ")
    assert str(caught.value).endswith(f"HTTP 503 (call {calls})")


async def test_keep_trying_ends_at_once_on_anything_else_and_on_success() -> None:
    """A refusal (any other exception) is not retried; a success after failures is returned."""
    outcomes: list[object] = [RetryableError("down"), "up"]

    async def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    assert await keep_trying("x", flaky, asyncio.Event(), backoff=Backoff(0.01)) == "up"

    async def refused() -> None:
        raise ValueError("token rejected")

    with pytest.raises(ValueError, match="token rejected"):
        await keep_trying("x", refused, asyncio.Event(), backoff=Backoff(0.01))


async def test_a_stop_cancels_the_attempt_in_progress() -> None:
    """`unless_stopped`: the work is cancelled as soon as the stop event is set."""
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await unless_stopped(stop, forever()) == (True, None)
    assert time.monotonic() - started < 0.5
    assert cancelled.is_set()


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_is_found_under_what_http_libraries_wrap_it_in() -> None:
    """DNS failures and refused connections are recognised through httpx and requests; a timeout is not."""
    with pytest.raises(httpx.ConnectError) as dns:
        httpx.get("http://arxiv.invalid/")
    assert is_unreachable(dns.value) == "the host name does not resolve (offline, or no DNS?)"
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert is_unreachable(refused.value) == "the connection was refused (nothing listens there)"
    assert is_unreachable(httpx.ReadTimeout("timed out")) is None
