"""Telegram's rate limits, kept by the client: python-telegram-bot's `BaseRateLimiter` for the Bot API.

Telegram allows about 30 messages/s overall, 20/min into one group and 1/s into one chat, and answers
429 with a `retry_after` beyond them. `TelegramRateLimiter` spaces every sending request so that 429s
do not happen, and honours one if it still does. (python-telegram-bot keeps its own `AIORateLimiter`
in one module the same way.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

_RATE_LIMITED_ENDPOINTS = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "editMessageText",
    "copyMessage",
    "forwardMessage",
}


def opt_into_timedelta() -> None:
    """Make python-telegram-bot 22 report durations as timedeltas.

    Without `PTB_TIMEDELTA`, merely constructing a `RetryAfter` (which the library does on every
    429) emits a PTBDeprecationWarning. The library reads the variable at each use. It is set when
    this module is imported (before any of the library's objects exist) and again whenever an
    adapter is built, in case something (a test's monkeypatch) removed it meanwhile; an explicit
    setting by the operator is left alone.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "true")


opt_into_timedelta()


def retry_seconds(error: RetryAfter) -> float:
    """A RetryAfter's wait in seconds (a timedelta with PTB_TIMEDELTA on, an int without)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published limits; `padding` seconds are added to every window as a safety margin.

    The limiter counts windows from completions (see `TelegramRateLimiter`), which already leaves a
    round trip of slack, so the padding only needs to cover clock granularity. A count of 0 turns
    that limit off (tests that are not about limits).
    """

    overall_per_second: int = 30
    group_per_minute: int = 20
    chat_interval: float = 1.0
    padding: float = 0.02
    max_retries: int = 5

    @property
    def overall_window(self) -> float:
        """The window in which at most `overall_per_second` requests may reach Telegram."""
        return 1.0 + self.padding

    @property
    def overall_spacing(self) -> float:
        """Seconds between two request starts at the overall limit (an even pace, no bursts)."""
        return self.overall_window / self.overall_per_second if self.overall_per_second > 0 else 0.0


class _Slot:
    """One request in the overall window: pending until it completes, then stamped with that time."""

    __slots__ = ("done", "finished")

    def __init__(self) -> None:
        self.finished: float | None = None
        self.done = asyncio.Event()

    def finish(self, at: float) -> None:
        """The request is over (answered or failed)."""
        self.finished = at
        self.done.set()


# `rate_limit_args` of a request that answers someone now (a command's reply): it goes before the
# chat's queued deliveries, so a digest being sent delays an answer by one message at most.
ANSWER_PRIORITY = 1


class _Outranked(Exception):
    """A request waiting out its chat's interval gives its turn to a more urgent one that queued."""


class _ChatTurns:
    """A chat's requests, one at a time: the highest priority first, then in arrival order.

    The request holding the turn may still be waiting out the chat's interval; a more urgent
    request queuing meanwhile sets `outranked`, and the holder steps back (see `_wait_for_chat`).
    """

    __slots__ = ("busy", "holder", "outranked", "users", "waiting")

    def __init__(self) -> None:
        self.busy = False
        self.holder = 0  # the priority of the request holding the turn
        self.outranked = asyncio.Event()
        self.users = 0  # requests holding or waiting for a turn (the entry is dropped at 0)
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap of (-priority, order, turn)

    async def acquire(self, priority: int, order: int) -> None:
        """Wait for this request's turn."""
        if not self.busy and not self.waiting:
            self.busy, self.holder = True, priority
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (-priority, order, turn))
        if self.busy and priority > self.holder:
            self.outranked.set()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the turn came just as the request was cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the turn to the next waiting request, if any."""
        self.outranked.clear()
        while self.waiting:
            negative, _, turn = heapq.heappop(self.waiting)
            if not turn.done():
                self.holder = -negative
                turn.set_result(None)
                return
        self.busy = False


class TelegramRateLimiter(BaseRateLimiter[int]):
    """Throttles every sending request so Telegram never has to answer 429; honours one if it does.

    Windows are counted from when a request *completed*, not when it was sent: Telegram saw it at
    some moment in between, so measuring from the completion can never under-count, however the
    network or a busy event loop delayed it. A request still in flight counts as in the window.

    - one chat: its requests run one at a time (in arrival order, except that a request sent with
      `rate_limit_args=ANSWER_PRIORITY`, a command's answer, goes before queued deliveries), each at
      least `chat_interval` (+ padding) after the previous one completed; a group's also at most
      `group_per_minute` per 60 s (+ padding);
    - overall: at most `overall_per_second` requests per 1 s (+ padding), started at an even pace;
    - a 429 that still happens pauses that chat for its `retry_after` and the request is retried
      (up to `max_retries` times).
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._overall: list[_Slot] = []  # the requests that may still count in the overall window
        self._overall_lock = asyncio.Lock()  # requests take overall slots in arrival order
        self._last_start = -math.inf
        self._chat_turns: dict[str, _ChatTurns] = {}
        self._arrivals = itertools.count()
        self._chat_done: dict[str, float] = {}  # when each chat's last request completed
        self._group_done: dict[str, deque[float]] = {}  # completions per group, last minute
        self._paused_until: dict[str, float] = {}  # a 429's retry_after, per chat
        self.waited = 0.0  # total seconds requests were held back, for reports
        self.retry_after_count = 0  # 429s Telegram answered despite the throttling

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    @staticmethod
    def is_group(chat: str) -> bool:
        """Groups, supergroups and channels (negative ids or @names) have the per-minute limit."""
        return chat.startswith(("-", "@"))

    async def _pause(self, seconds: float) -> None:
        """Sleep, and count it."""
        if seconds > 0:
            self.waited += seconds
            await self._sleep(seconds)

    def chat_ready_at(self, chat: str) -> float:
        """The earliest start of the chat's next request (its previous ones are all complete)."""
        limits = self.limits
        ready = max(
            self._chat_done.get(chat, -math.inf) + limits.chat_interval + limits.padding,
            self._paused_until.get(chat, -math.inf),
        )
        stamps = self._group_done.get(chat)
        if stamps is not None and limits.group_per_minute > 0:
            window = 60.0 + limits.padding
            while stamps and stamps[0] <= self._clock() - window:
                stamps.popleft()
            if len(stamps) >= limits.group_per_minute:
                ready = max(ready, stamps[-limits.group_per_minute] + window)
        return ready

    async def _wait_for_chat(self, chat: str, turns: _ChatTurns | None = None) -> None:
        """Wait until the chat's limits allow one more request (_Outranked: a more urgent one queued)."""
        while (wait := self.chat_ready_at(chat) - self._clock()) > 0:
            if turns is None:
                await self._pause(wait)
                continue
            if turns.outranked.is_set():
                raise _Outranked
            pause = asyncio.ensure_future(self._pause(wait))
            urgent = asyncio.ensure_future(turns.outranked.wait())
            try:
                await asyncio.wait({pause, urgent}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pause, urgent):
                    task.cancel()
                await asyncio.gather(pause, urgent, return_exceptions=True)
            if urgent.done() and not urgent.cancelled():
                raise _Outranked

    async def _take_overall_slot(self) -> _Slot:
        """Wait for room in the overall window and the pace, then hold a slot until `finish`."""
        limits = self.limits
        if limits.overall_per_second <= 0:
            return _Slot()
        window = limits.overall_window
        async with self._overall_lock:
            while True:
                now = self._clock()
                self._overall = [
                    slot for slot in self._overall if slot.finished is None or slot.finished > now - window
                ]
                ready = self._last_start + limits.overall_spacing
                if len(self._overall) >= limits.overall_per_second:
                    finished = [slot.finished for slot in self._overall if slot.finished is not None]
                    if not finished:  # every slot is in flight: wait for the oldest to complete
                        await self._overall[0].done.wait()
                        continue
                    ready = max(ready, min(finished) + window)
                if ready > now:
                    await self._pause(ready - now)
                    continue
                slot = _Slot()
                self._overall.append(slot)
                self._last_start = now
                return slot

    def _completed(self, chat: str | None, slot: _Slot) -> None:
        """Stamp a finished request in every window it counts in."""
        now = self._clock()
        slot.finish(now)
        if chat is None:
            return
        self._chat_done[chat] = now
        if self.is_group(chat):
            self._group_done.setdefault(chat, deque()).append(now)
        if len(self._chat_done) > 2000:  # forget what can no longer hold any request back
            limits = self.limits
            horizon = now - limits.chat_interval - limits.padding
            group_horizon = now - 60.0 - limits.padding
            self._chat_done = {key: at for key, at in self._chat_done.items() if at > horizon}
            self._paused_until = {key: at for key, at in self._paused_until.items() if at > now}
            self._group_done = {
                key: stamps
                for key, stamps in self._group_done.items()
                if stamps and stamps[-1] > group_horizon
            }

    async def _send(
        self, chat: str | None, callback: Callable[[], Awaitable[Any]], turns: _ChatTurns | None = None
    ) -> Any:
        """Send once the limits allow; retry after a 429."""
        for attempt in range(self.limits.max_retries + 1):
            if chat is not None:
                await self._wait_for_chat(chat, turns)
            slot = await self._take_overall_slot()
            try:
                return await callback()
            except RetryAfter as error:
                self.retry_after_count += 1
                if attempt == self.limits.max_retries:
                    raise
                wait = retry_seconds(error)
                log.warning("Telegram asked to wait %.1f s (chat %s)", wait, chat)
                if chat is not None:
                    self._paused_until[chat] = self._clock() + wait
                else:
                    await self._pause(wait)
            finally:
                self._completed(chat, slot)
        raise AssertionError("unreachable")

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Throttle sending endpoints per chat, group and overall; other endpoints pass straight through."""
        if endpoint not in _RATE_LIMITED_ENDPOINTS:
            return await callback(*args, **kwargs)

        def call() -> Awaitable[Any]:
            """The request itself."""
            return callback(*args, **kwargs)

        chat = str(data["chat_id"]) if data.get("chat_id") is not None else None
        if chat is None:
            result: bool | dict[str, Any] | list[dict[str, Any]] = await self._send(None, call)
            return result
        turns = self._chat_turns.setdefault(chat, _ChatTurns())
        turns.users += 1
        priority, order = rate_limit_args or 0, next(self._arrivals)
        holding = False
        try:
            while True:  # one request at a time per chat
                await turns.acquire(priority, order)
                holding = True
                try:
                    result = await self._send(chat, call, turns)
                    return result
                except _Outranked:
                    holding = False
                    turns.release()  # to the more urgent request; this one keeps its place
        finally:
            if holding:
                turns.release()
            turns.users -= 1
            if not turns.users:
                del self._chat_turns[chat]
