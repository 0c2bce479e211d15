"""Fixtures for the core's tests: the fake arXiv server, gates on compressed time, sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.arxiv_client.source import ArxivSource
from bot.gate import ArxivGate
from tests.fakes.arxiv_server import FakeArxiv

# A compressed clock for the gate: its logic runs unchanged, one gate-second lasts 1/TIME_SCALE s.
TIME_SCALE = 20.0


def scaled_gate(min_interval: float = 3.0) -> ArxivGate:
    """A gate whose seconds last 1/TIME_SCALE real seconds (3 s between requests → 0.15 s)."""

    def clock() -> float:
        """Scaled monotonic time."""
        return time.monotonic() * TIME_SCALE

    async def sleep(seconds: float) -> None:
        """Sleep scaled seconds."""
        await asyncio.sleep(seconds / TIME_SCALE)

    return ArxivGate(min_interval, clock=clock, sleep=sleep)


@pytest.fixture
def fast_gate() -> ArxivGate:
    """An ArxivGate on compressed time (see TIME_SCALE)."""
    return scaled_gate()


@pytest.fixture
async def make_source(
    arxiv_server: FakeArxiv, fast_gate: ArxivGate
) -> AsyncIterator[Callable[..., ArxivSource]]:
    """Build ArxivSources aimed at the fake (fast gate, 2 s timeout, 2 retries, no back-off by default)."""
    made: list[ArxivSource] = []

    def build(**overrides: Any) -> ArxivSource:
        """An ArxivSource; keyword arguments override the test defaults."""
        options: dict[str, Any] = {
            "rss_url": arxiv_server.rss_url,
            "api_url": arxiv_server.api_url,
            "gate": fast_gate,
            "timeout": 2.0,
            "max_retries": 2,
            "backoff": 0.0,
            "api_deadline": 10.0,
        }
        options.update(overrides)
        source = ArxivSource(**options)
        made.append(source)
        return source

    yield build
    for source in made:
        await source.aclose()
