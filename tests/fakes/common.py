"""What the fake servers share: uploaded files, a queue of injected faults, change signals, a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

FaultT = TypeVar("FaultT")

# (method, target) -> whether a fault applies; the target is what the fake keys faults by (a chat, a path).
Selector = Callable[[str, str | None], bool]


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class _FaultRule(Generic[FaultT]):
    """An injected fault: which requests it hits and how many more times (None: until cleared)."""

    fault: FaultT
    applies: Selector
    remaining: int | None


class FaultQueue(Generic[FaultT]):
    """Injected faults in the order they were added; the first that applies to a request answers it."""

    def __init__(self) -> None:
        """No faults yet."""
        self._rules: list[_FaultRule[FaultT]] = []

    def add(self, fault: FaultT, applies: Selector, times: int | None = 1) -> None:
        """Answer the next `times` requests (None: every one, until cleared) that `applies` accepts."""
        self._rules.append(_FaultRule(fault, applies, times))

    def take(self, method: str, target: str | None) -> FaultT | None:
        """The fault for this request, if any, used up one time."""
        for rule in self._rules:
            if rule.applies(method, target):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        self._rules.clear()


class Changes:
    """Wakes whoever waits for a fake's state to change (a request recorded, an update queued, closing)."""

    def __init__(self) -> None:
        """Nothing has changed yet."""
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> None:
        """Sleep until the next change, or at most `timeout` seconds."""
        event = self._event
        if timeout is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    async def until(self, predicate: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
        """Wait until `predicate()` holds, or raise TimeoutError saying what was awaited."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what()}")
            await self.wait(remaining)


async def serve_on_free_port(runner: web.AppRunner) -> str:
    """Set up `runner` and serve it on a free port of 127.0.0.1; its base URL (`http://127.0.0.1:PORT`)."""
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}"
