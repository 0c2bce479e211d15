"""The time the core runs on: injected everywhere, so tests move it instead of waiting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[object]]  # asyncio.sleep, or a test's simulated one


def utc_now() -> dt.datetime:
    """The current time, UTC-aware."""
    return dt.datetime.now(dt.UTC)
