"""Fixtures for adapter tests: the fake Telegram Bot API server and a real Bot aimed at it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import telegram

from tests.fakes.telegram_server import FakeTelegramServer


@pytest.fixture
async def telegram_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegramServer]:
    """A running fake Bot API on 127.0.0.1; closed afterwards, and no task started since may be left.

    httpx logs every request URL at INFO and Bot API URLs carry the token, so its logger is set to
    WARNING. `PTB_TIMEDELTA=true` opts into python-telegram-bot's timedelta durations: without it,
    merely creating a `RetryAfter` emits a PTBDeprecationWarning (an error under our warning filters).
    """
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    already_running = asyncio.all_tasks()
    server = FakeTelegramServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        httpx_logger.setLevel(level)
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leftover = [
        task for task in asyncio.all_tasks() - already_running if task is not current and not task.done()
    ]
    assert not leftover, f"tasks still running after the test: {leftover}"


@pytest.fixture
async def telegram_bot(telegram_server: FakeTelegramServer) -> AsyncIterator[telegram.Bot]:
    """A real, initialised `telegram.Bot` talking to the fake server (shut down afterwards)."""
    async with telegram_server.bot() as bot:
        yield bot
