"""What every chat adapter does the same way: connect, answer commands, stop within a grace.

- `connect_with_retries`: the start-up connection policy (retry what may pass, refuse at once what will not).
- `CommandsInFlight`: the command handlers running now, so that stopping lets them answer for a short
  grace (`STOP_GRACE`) and then cuts them off.
- `answer_or_apologise`: a core call whose unexpected failure is logged and answered with `APOLOGY`.
- `reply_messages`: a `CommandReply` as the platform's messages: its text in pieces, or the first page
  of the digest view it carries (one paged message).

An adapter supplies only what is its platform's: the library's errors, its markup and its limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from bot.commands.values import CommandReply
from bot.models import LoadedView
from bot.platforms.port import AdapterUnreachableError
from bot.retry import STARTUP_BACKOFF, Backoff, RetriesExhaustedError, keep_trying

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M")

APOLOGY = "Something went wrong on my side; please try again later."
STOP_GRACE = 1.5  # seconds the commands in hand may take to answer once stopping; then they are cut off


async def connect_with_retries(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    backoff: Backoff = STARTUP_BACKOFF,
    between: Callable[[], Awaitable[None]] | None = None,
) -> T | None:
    """An adapter's start-up connection, the same policy on every platform; None if stopped first.

    `attempt` raises `bot.retry.RetryableError` for what may pass (the adapter classifies its own
    library's errors) and AdapterStartupError for what will not (a rejected token: at once). Retries
    follow `backoff` (about two minutes in all), each logged; then AdapterUnreachableError.
    """
    try:
        return await keep_trying(what, attempt, stop, backoff=backoff, between=between)
    except RetriesExhaustedError as error:
        raise AdapterUnreachableError(f"cannot reach {error}") from None


class CommandsInFlight:
    """The command handlers running now; stopping gives them `grace` seconds, then cuts them off."""

    def __init__(self, platform_title: str, grace: float = STOP_GRACE) -> None:
        """`platform_title` names the platform in the log line ("Telegram")."""
        self._title = platform_title
        self.grace = grace
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def idle(self) -> bool:
        """Whether no tracked command handler is running now."""
        return all(task.done() for task in self._tasks)

    def track(self) -> None:
        """Count the running command handler (the current task) as in flight until it ends."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def finish(self) -> None:
        """Let the commands in hand answer for the grace; cancel the rest and wait until they ended."""
        tasks = {task for task in self._tasks if not task.done()}
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=self.grace)
        for task in stuck:
            task.cancel()
        if stuck:
            await asyncio.wait(stuck)
            log.warning("stopping: %d %s command(s) were cut off", len(stuck), self._title)


async def answer_or_apologise(work: Awaitable[CommandReply], what: str) -> CommandReply:
    """The core's reply; an unexpected failure is logged (`what` failed) and answered with APOLOGY."""
    try:
        return await work
    except Exception:
        log.exception("%s failed", what)
        return CommandReply(APOLOGY, ok=False)


def reply_messages(
    reply: CommandReply,
    *,
    text: Callable[[str], Sequence[M]],
    view: Callable[[LoadedView], M],
) -> list[M]:
    """A command's reply as the platform's messages, in order.

    A reply carrying a digest view is that view's one paged message (`view` renders its first page,
    whose header says what the text would); otherwise the reply's text in pieces (`text` splits it
    under the platform's limit).
    """
    if reply.view is not None:
        return [view(reply.view)]
    return list(text(reply.text))
