"""Roles one process of a deployment holds at a time: a lone process's, and running work while held."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.ports import Leadership

log = logging.getLogger(__name__)

# Taking a role within this many seconds means no other process held it: the first try succeeded
# (a try that fails waits a retry interval, 1 s or more, before the next).
_AT_ONCE = 0.25


class SoleProcess:
    """`bot.ports.Leadership` for a process alone on its database: it holds every role at once."""

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[asyncio.Event]:
        """Hold `role` at once; it is never lost."""
        yield asyncio.Event()


async def while_holding(
    leadership: Leadership,
    role: str,
    stop: asyncio.Event,
    work: Callable[[asyncio.Event], Awaitable[None]],
    *,
    settle: float = 0.0,
) -> None:
    """Run `work(until)` each time this process holds `role`, until `stop` is set.

    `until` is set when `stop` is, or when the role is lost: `work` must then return promptly, and
    the role is waited for again. Waiting for the role ends at once on `stop`. When this process had
    to wait for the role (another held it), `settle` seconds pass before `work` starts: arXiv must
    not be asked twice within 3 s across a failover. A role free at once starts `work` at once.
    """
    loop = asyncio.get_running_loop()

    async def turn(holding: asyncio.Event) -> None:
        asked = loop.time()
        async with leadership.hold(role) as lost:
            holding.set()
            waited = loop.time() - asked > _AT_ONCE
            until = asyncio.Event()
            relaying = asyncio.create_task(_first_of(stop, lost, then=until))
            try:
                if settle > 0 and waited:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until.wait(), timeout=settle)
                if not until.is_set():
                    await work(until)
            finally:
                relaying.cancel()
            if lost.is_set() and not stop.is_set():
                log.warning("lost the %s role: waiting to take it again", role)

    while not stop.is_set():
        holding = asyncio.Event()
        task = asyncio.create_task(turn(holding), name=f"the {role} role")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and not holding.is_set():
                task.cancel()  # still waiting for the role: stop waiting
            await asyncio.wait([task])  # work in progress ends by itself: `until` is set
        except BaseException:  # cancelled from outside (another task of the bot failed): end it all
            task.cancel()
            await asyncio.wait([task])
            raise
        finally:
            stopped.cancel()
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _first_of(*events: asyncio.Event, then: asyncio.Event) -> None:
    """Set `then` as soon as any of `events` is set."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    then.set()
