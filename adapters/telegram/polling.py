"""Long polling for Telegram updates, by the one process of a deployment that holds the role for it.

Telegram lets one consumer call `getUpdates` per token: a second one ends the first's long poll with
`409 Conflict`. So the adapter polls only while it holds `bot.ports.TELEGRAM_UPDATES_ROLE`
(`TelegramAdapter._take_updates`), and `UpdatePoller` is the loop it runs meanwhile. It is
python-telegram-bot's polling loop (`Updater.start_polling`) in the few lines the role needs: the poll in
flight is abandoned the moment the role is lost or the adapter stops (an event), and the closing
`getUpdates` that marks the last updates as read is sent only while the role is still held — after
losing it, that call would end the new holder's long poll with a 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from telegram import Bot
from telegram.error import Conflict, NetworkError, RetryAfter, TelegramError, TimedOut

from adapters.telegram.ratelimit import retry_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_PAUSE = 1.0  # seconds after a failed poll; doubled up to MAX_PAUSE while it keeps failing
MAX_PAUSE = 30.0


class UpdatePoller:
    """getUpdates in a loop into the application's update queue, until told to stop."""

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        *,
        timeout: float,
        allowed_updates: Sequence[str],
    ) -> None:
        """`timeout`: seconds each long poll waits for an update (Telegram holds the request that long)."""
        self._bot = bot
        self._queue = queue
        self._timeout = dt.timedelta(seconds=timeout)
        self._allowed = list(allowed_updates)
        self._offset = 0  # the next update id wanted; 0: whatever Telegram still holds
        self.polls = 0  # getUpdates calls made (for the logs and tests)

    async def poll(self, *until: asyncio.Event) -> None:
        """Take updates until one of `until` is set; the request in flight is abandoned at once then.

        Failures never end the loop: a 429 waits its `retry_after`, a timeout polls again, anything
        else (a network error, a 5xx, another consumer's 409) is logged and retried after a pause
        that grows from 1 s to 30 s.
        """
        pause = FIRST_PAUSE
        while not _any_set(until):
            wait = 0.0
            try:
                self.polls += 1
                updates = await _unless(
                    self._bot.get_updates(
                        offset=self._offset or None, timeout=self._timeout, allowed_updates=self._allowed
                    ),
                    until,
                )
            except RetryAfter as error:
                wait = retry_seconds(error)
            except TimedOut:
                continue
            except Conflict as error:
                log.warning(
                    "Telegram says another getUpdates consumer uses this token (%s): is a bot outside "
                    "this deployment running with it?",
                    error.message,
                )
                wait, pause = pause, min(pause * 2, MAX_PAUSE)
            except (NetworkError, TelegramError) as error:  # InvalidToken (a revoked token) too
                log.warning("polling Telegram for updates failed (%s); trying again in %.0f s", error, pause)
                wait, pause = pause, min(pause * 2, MAX_PAUSE)
            else:
                if updates is None:
                    return  # told to stop
                pause = FIRST_PAUSE
                for update in updates:
                    await self._queue.put(update)
                if updates:
                    self._offset = updates[-1].update_id + 1
            if wait > 0:
                await _unless(asyncio.sleep(wait), until)

    async def confirm(self) -> None:
        """Mark the updates taken so far as read (getUpdates with the next offset, no waiting).

        Only while the role is still held: another process's long poll would end with a 409.
        """
        if not self._offset:
            return
        try:
            await self._bot.get_updates(
                offset=self._offset, limit=1, timeout=dt.timedelta(0), allowed_updates=self._allowed
            )
        except TelegramError as error:
            log.warning("could not mark the last Telegram updates as read (%s): they may come again", error)


def _any_set(events: Sequence[asyncio.Event]) -> bool:
    """Whether one of the events is set."""
    return any(event.is_set() for event in events)


async def _unless(work: Awaitable[T], events: Sequence[asyncio.Event]) -> T | None:
    """The work's result, or None if one of `events` is set first (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if _any_set(events) or task.cancelled():
        if not task.cancelled():
            task.exception()  # retrieved, so an error of the abandoned work is not reported unawaited
        return None
    return task.result()
