"""One politeness gate for every request the process makes to arXiv (RSS, API, listing pages).

arXiv asks for at most one request every 3 seconds and one connection at a time. The gate enforces
both, for the whole process:

- requests are serialised: `slot()` is held for the whole request, body included, so no two run at
  once;
- the interval is measured from the *end* of the previous request to the *start* of the next one.
  That is stricter than measuring start-to-start (a slow 20-second response is still followed by a
  3-second pause), so the server never sees two requests closer than `min_interval`, however long
  either took;
- `defer(seconds)` pushes the next slot out, for a `Retry-After` or a back-off, and it applies to
  every caller, not only the one that was told to wait.

The `arxiv` package is synchronous and runs in a worker thread; `slot_blocking(loop)` lets such a
thread take the same gate through the event loop (`asyncio.run_coroutine_threadsafe`).

The clock and the sleep function are injectable so tests can run the gate's logic on compressed or
virtual time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

log = logging.getLogger(__name__)

MIN_INTERVAL = 3.0  # arXiv's terms of use: no more than one request every three seconds


class GateTimeoutError(TimeoutError):
    """A slot could not be had before the caller's deadline."""


class ArxivGate:
    """Serialises requests to arXiv and keeps at least `min_interval` seconds between them."""

    def __init__(
        self,
        min_interval: float = MIN_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`clock` returns seconds (monotonic); `sleep` waits that many seconds of the same clock."""
        if not math.isfinite(min_interval) or min_interval < MIN_INTERVAL:
            raise ValueError(
                f"min_interval must be at least {MIN_INTERVAL} seconds (arXiv's terms), got {min_interval}"
            )
        self.min_interval = float(min_interval)
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._state_lock = threading.Lock()  # defer() may be called from a worker thread
        self._next_start = -math.inf  # the earliest time the next request may start
        self.requests = 0  # slots granted so far (for /status and tests)

    @property
    def busy(self) -> bool:
        """Whether a request holds the gate right now."""
        return self._lock.locked()

    def delay(self) -> float:
        """Seconds until the next slot could start (0 when it could start now)."""
        with self._state_lock:
            return max(0.0, self._next_start - self._clock())

    def defer(self, seconds: float) -> None:
        """Let no request start within `seconds` from now (Retry-After, back-off); never shortens a wait."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        with self._state_lock:
            self._next_start = max(self._next_start, self._clock() + seconds)
        log.debug("arXiv gate deferred by %.1f s", seconds)

    async def _acquire(self) -> None:
        """Take the gate: wait for the lock, then until the interval (and any deferral) has passed."""
        await self._lock.acquire()
        try:
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
        except BaseException:
            self._lock.release()
            raise
        self.requests += 1

    def _release(self) -> None:
        """Free the gate; the next request may start `min_interval` seconds from now."""
        with self._state_lock:
            self._next_start = max(self._next_start, self._clock() + self.min_interval)
        self._lock.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold the gate for one request (send it and read its body inside the block)."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire_within(self, seconds: float | None) -> None:
        """`_acquire`, given up after `seconds` (None: no limit); a cancelled wait never holds the lock."""
        try:
            async with asyncio.timeout(None if seconds is None else max(0.0, seconds)):
                await self._acquire()
        except TimeoutError:
            raise GateTimeoutError(f"no arXiv request slot within {seconds:.1f} s") from None

    async def _release_async(self) -> None:
        """`_release` scheduled on the loop (the lock belongs to the loop)."""
        self._release()

    @contextmanager
    def slot_blocking(self, loop: asyncio.AbstractEventLoop, timeout: float | None = None) -> Iterator[None]:
        """`slot()` for a worker thread: acquire through `loop`, which must be running in another thread.

        Raises GateTimeoutError when no slot is free within `timeout` seconds. The deadline is kept on
        the loop's side, so a slot is either granted to this thread or not at all (never leaked).
        """
        if self._on_loop_thread(loop):
            raise RuntimeError("slot_blocking() on the event loop's own thread would deadlock; use slot()")
        acquire = self._acquire_within(timeout)
        try:
            granted = asyncio.run_coroutine_threadsafe(acquire, loop)
        except RuntimeError:  # the loop is closed: the process is stopping, and nobody waits for us
            acquire.close()
            raise GateTimeoutError("no arXiv request slot: the event loop is closed") from None
        granted.result()
        try:
            yield
        finally:
            release = self._release_async()
            try:
                released = asyncio.run_coroutine_threadsafe(release, loop)
            except RuntimeError:  # closed meanwhile (a request abandoned at shutdown): nothing to free
                release.close()
            else:
                with contextlib.suppress(concurrent.futures.CancelledError):
                    released.result()

    @staticmethod
    def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the caller runs on the loop's thread (blocking there would deadlock)."""
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False
