"""The politeness gate: one request at a time, 3 s from the end of one to the start of the next."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading

import pytest

from bot.gate import ArxivGate, GateTimeoutError


class VirtualTime:
    """A clock that only moves when the gate sleeps (or a test advances it)."""

    def __init__(self) -> None:
        """Start at an arbitrary point."""
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The current virtual time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def virtual_gate(min_interval: float = 3.0) -> tuple[ArxivGate, VirtualTime]:
    """A gate on virtual time."""
    time = VirtualTime()
    return ArxivGate(min_interval, clock=time.clock, sleep=time.sleep), time


@pytest.mark.parametrize("interval", [0.0, 1.0, 2.99, -3.0, math.nan])
def test_interval_below_three_seconds_is_refused(interval: float) -> None:
    """arXiv's terms ask for 3 s between requests: a shorter interval is a ValueError."""
    with pytest.raises(ValueError, match="at least 3"):
        ArxivGate(interval)


async def test_first_request_does_not_wait() -> None:
    """A fresh gate grants its first slot at once."""
    gate, time = virtual_gate()
    async with gate.slot():
        pass
    assert time.sleeps == []
    assert gate.requests == 1


async def test_interval_runs_from_the_end_of_the_previous_request() -> None:
    """A request that took 10 s is still followed by a full 3 s pause before the next one starts."""
    gate, time = virtual_gate()
    async with gate.slot():
        time.now += 10.0  # a slow response
    ended = time.now
    async with gate.slot():
        started = time.now
    assert started - ended == pytest.approx(3.0)


async def test_concurrent_requests_are_serialised_and_spaced() -> None:
    """Five concurrent callers never overlap, and each starts at least 3 s after the previous ended."""
    gate, time = virtual_gate()
    spans: list[tuple[float, float]] = []
    inside = 0

    async def request() -> None:
        """Take the gate, pretend the request takes 0.5 s."""
        nonlocal inside
        async with gate.slot():
            inside += 1
            assert inside == 1
            start = time.now
            await time.sleep(0.5)
            spans.append((start, time.now))
            inside -= 1

    await asyncio.gather(*(request() for _ in range(5)))
    assert len(spans) == 5
    for (_, previous_end), (next_start, _) in itertools.pairwise(spans):
        assert next_start - previous_end >= 3.0 - 1e-9


async def test_defer_pushes_the_next_slot_out_and_never_shortens() -> None:
    """`defer(10)` delays the next request by 10 s; a later, shorter deferral does not shorten it."""
    gate, time = virtual_gate()
    async with gate.slot():
        gate.defer(10.0)
    gate.defer(1.0)
    released = time.now
    async with gate.slot():
        assert time.now - released == pytest.approx(10.0)
    assert gate.delay() == pytest.approx(3.0)


async def test_failed_request_still_releases_and_spaces() -> None:
    """An exception inside the slot frees the gate, and the next request still waits the interval."""
    gate, time = virtual_gate()
    with pytest.raises(RuntimeError):
        async with gate.slot():
            raise RuntimeError("boom")
    assert not gate.busy
    before = time.now
    async with gate.slot():
        assert time.now - before == pytest.approx(3.0)


async def test_cancelled_waiter_does_not_hold_the_gate() -> None:
    """A caller cancelled while waiting for the gate leaves it free for the others."""
    gate = ArxivGate(3.0)  # real time: the waiter really waits
    async with gate.slot():
        pass
    waiter = asyncio.create_task(_take(gate))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not gate.busy


async def _take(gate: ArxivGate) -> None:
    """Take and release the gate."""
    async with gate.slot():
        pass


async def test_worker_thread_shares_the_gate_with_the_loop() -> None:
    """`slot_blocking` in a worker thread and `slot()` on the loop exclude each other, spacing kept."""
    gate, time = virtual_gate()
    loop = asyncio.get_running_loop()
    spans: list[tuple[str, float, float]] = []

    def in_thread() -> None:
        """Two requests from a worker thread."""
        for _ in range(2):
            with gate.slot_blocking(loop, timeout=5):
                start = time.now
                time.now += 0.25
                spans.append(("thread", start, time.now))

    async def on_loop() -> None:
        """Two requests from the loop."""
        for _ in range(2):
            async with gate.slot():
                start = time.now
                await time.sleep(0.25)
                spans.append(("loop", start, time.now))

    await asyncio.gather(asyncio.to_thread(in_thread), on_loop())
    assert sorted(kind for kind, _, _ in spans) == ["loop", "loop", "thread", "thread"]
    ordered = sorted(spans, key=lambda span: span[1])
    for (_, _, previous_end), (_, next_start, _) in itertools.pairwise(ordered):
        assert next_start - previous_end >= 3.0 - 1e-9
    assert gate.requests == 4


async def test_worker_thread_gives_up_at_its_timeout_without_leaking_the_gate() -> None:
    """A thread that cannot get a slot in time gets GateTimeoutError, and the gate stays usable."""
    gate, _ = virtual_gate()
    loop = asyncio.get_running_loop()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        """Hold the gate until told."""
        async with gate.slot():
            held.set()
            await release.wait()

    def try_slot(timeout: float) -> None:
        """Ask for a slot from a worker thread."""
        with gate.slot_blocking(loop, timeout=timeout):
            assert gate.busy

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(GateTimeoutError):
        await asyncio.to_thread(try_slot, 0.1)
    release.set()
    await task
    assert not gate.busy
    await asyncio.to_thread(try_slot, 5.0)
    assert not gate.busy
    assert gate.requests == 2  # the holder's and the last one: the timed-out attempt got none


async def test_blocking_slot_on_the_loop_thread_is_refused() -> None:
    """Calling `slot_blocking` on the event loop's own thread raises instead of deadlocking."""
    gate, _ = virtual_gate()
    with pytest.raises(RuntimeError, match="deadlock"), gate.slot_blocking(asyncio.get_running_loop()):
        pass


def test_a_worker_thread_outliving_its_event_loop_neither_hangs_nor_warns() -> None:
    """A request abandoned at shutdown: once the loop is closed, taking or freeing a slot just ends."""
    gate, _ = virtual_gate()
    loop = asyncio.new_event_loop()
    inside = threading.Event()
    leave = threading.Event()
    outcome: list[str] = []

    def request() -> None:
        """Take a slot, wait while the loop closes, free it, then try another."""
        with gate.slot_blocking(loop, timeout=5):
            inside.set()
            leave.wait(5)
        try:
            with gate.slot_blocking(loop, timeout=5):
                outcome.append("granted")
        except GateTimeoutError as error:
            outcome.append(str(error))

    worker = threading.Thread(target=request)

    async def start() -> None:
        """Run the worker until it holds a slot."""
        worker.start()
        while not inside.is_set():
            await asyncio.sleep(0.01)

    loop.run_until_complete(start())
    loop.close()
    leave.set()
    worker.join(5)
    assert not worker.is_alive()
    assert outcome == ["no arXiv request slot: the event loop is closed"]
