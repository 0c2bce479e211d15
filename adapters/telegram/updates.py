"""The order Telegram updates are handled in: one chat's changes in arrival order, nothing else waits.

What must stay ordered is what a chat *changes*: `/start` then `/subscribe`, or `/keywords add` twice,
must run one after the other, and a read sent after a change (`/subscribe x` then `/digest`) must
see it. Nothing need wait for a read, though, and reads need not wait for one another: a `/status`
or a page turn while a `/digest` is being answered must not queue behind it (the issue: "a digest
being sent never delays another command in the same chat by more than a second"). So each update
is one of three kinds (`UpdateKind`), as the adapter classifies it:

- CHANGE: waits for everything of the chat before it (changes and reads: answers come in the order
  asked), and is waited for by everything after it;
- READ: waits for the chat's earlier changes only, so reads overlap one another;
- FREE: waits for nothing (a button press: it reads a stored view and edits one message).

Different chats never wait for each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT_UPDATES = 64


class UpdateKind(Enum):
    """How an update is ordered among its chat's others (see the module docstring)."""

    CHANGE = "change"
    READ = "read"
    FREE = "free"


def _every_update_changes(update: object) -> UpdateKind:
    """The strictest order: every update of a chat after the one before."""
    return UpdateKind.CHANGE


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Orders each chat's changes, lets reads and presses through; different chats run concurrently."""

    def __init__(
        self,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
        classify: Callable[[object], UpdateKind] = _every_update_changes,
    ) -> None:
        """`classify` tells each update's kind (by default every update is a change: strict order)."""
        super().__init__(max_concurrent_updates)
        self._classify = classify
        # Per chat: the completion of its latest change, and of the reads that arrived since.
        self._last_change: dict[int | None, asyncio.Event] = {}
        self._reads: dict[int | None, set[asyncio.Event]] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handlers once what it must wait for is done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        kind = self._classify(update)
        if kind is UpdateKind.FREE:
            await coroutine
            return
        earlier = self._last_change.get(key)
        done = asyncio.Event()
        if kind is UpdateKind.READ:
            self._reads.setdefault(key, set()).add(done)
            waits = [earlier] if earlier is not None else []
        else:
            waits = [*([earlier] if earlier is not None else []), *self._reads.pop(key, set())]
            self._last_change[key] = done
        try:
            await _after(waits, coroutine)
        finally:
            done.set()
            if self._last_change.get(key) is done:
                del self._last_change[key]
            reads = self._reads.get(key)
            if reads is not None:
                reads.discard(done)
                if not reads:
                    del self._reads[key]


async def _after(earlier: list[asyncio.Event], coroutine: Awaitable[Any]) -> None:
    """Await `coroutine` once every `earlier` event is set; closed unawaited if cancelled while waiting."""
    if earlier:
        try:
            for event in earlier:
                await event.wait()
        except BaseException:
            close = getattr(coroutine, "close", None)
            if close is not None:
                close()
            raise
    await coroutine
