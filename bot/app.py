"""Wiring of the long-lived bot: settings in, store opened, adapters started, all run together.

The only core module (with `bot.cli`) that imports adapters and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

from bot.commands import CommandService
from bot.delivery import AdapterStartupError, ChatAdapter, Clock, DeliveryService, utc_now
from bot.gate import ArxivGate
from bot.ingest import IngestService
from bot.models import Announcement
from bot.settings import Settings
from bot.sources import ArxivSource
from storage.sqlite_store import open_store

if TYPE_CHECKING:
    from adapters.telegram_adapter import RateLimits

log = logging.getLogger(__name__)

NO_ADAPTER_MESSAGE = (
    "arxiv-digest: no chat adapter to run: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN "
    "(or try `arxiv-digest preview -k WORDS`, which needs no token)"
)
DISCORD_MISSING_MESSAGE = (
    "arxiv-digest: DISCORD_BOT_TOKEN is set, but this version has no Discord adapter yet; "
    "set TELEGRAM_BOT_TOKEN to run the Telegram bot"
)


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock = utc_now,
    delivery_tick: float = 30.0,
    telegram_poll_timeout: float = 30.0,
    telegram_rate_limits: RateLimits | None = None,
) -> None:
    """Run ingest, delivery and every adapter with a token until `stop` is set.

    `clock` drives ingest, scheduling and commands alike (tests move it). On `stop`, ingest and
    delivery finish first (a delivery round starts no new chat once stopping), and only then do the
    adapters stop, so no message is cut off halfway and no send waits on a stopped adapter.
    """
    from adapters.telegram_adapter import TelegramAdapter

    if settings.telegram_bot_token is None:
        raise StartupError(DISCORD_MISSING_MESSAGE if settings.discord_bot_token else NO_ADAPTER_MESSAGE)
    if settings.discord_bot_token is not None:
        log.warning("DISCORD_BOT_TOKEN is set, but this version has no Discord adapter yet; ignoring it")

    store = await open_store(settings.database_path)
    source = ArxivSource(
        rss_url=settings.arxiv_rss_url,
        api_url=settings.arxiv_api_url,
        gate=ArxivGate(min_interval=settings.arxiv_request_interval),
        timeout=settings.arxiv_timeout,
        max_retries=settings.arxiv_max_retries,
    )
    wake = asyncio.Event()

    async def schedule_changed() -> None:
        """A chat changed its settings: let the delivery loop look again."""
        wake.set()

    async def announcement_stored(announcement: Announcement) -> None:
        """A new announcement is in: deliver what is due."""
        log.info("announcement %s stored: %d papers", announcement.date, len(announcement.papers))
        wake.set()

    commands = CommandService(store, settings.default_categories, clock=clock, on_change=schedule_changed)
    telegram = TelegramAdapter(
        settings.telegram_bot_token.get_secret_value(),
        store,
        commands,
        api_url=settings.telegram_api_url,
        admin_user_ids=settings.admin_user_ids,
        rate_limits=telegram_rate_limits,
        poll_timeout=telegram_poll_timeout,
    )
    adapters: dict[str, ChatAdapter] = {telegram.platform: telegram}
    delivery = DeliveryService(
        store, adapters, settings.default_categories, clock=clock, retention_days=settings.retention_days
    )
    ingest = IngestService(
        store,
        source,
        settings.default_categories,
        clock=clock,
        recovery_days=settings.recovery_days,
        retention_days=settings.retention_days,
    )
    adapters_stop = asyncio.Event()

    async def run_core() -> None:
        """Ingest and delivery until `stop`; then let the adapters stop."""
        try:
            async with asyncio.TaskGroup() as core:
                core.create_task(ingest.run(stop, settings.arxiv_poll_interval, on_new=announcement_stored))
                core.create_task(delivery.run(stop, wake, tick=delivery_tick))
        finally:
            adapters_stop.set()

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(telegram.run(adapters_stop))
            tasks.create_task(run_core())
    finally:
        await source.aclose()
        await store.close()


async def run_bot(settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the exit status."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await serve(settings, stop)
    except StartupError as error:
        print(str(error), file=sys.stderr)
        return 2
    except ExceptionGroup as group:
        startup = group.subgroup(AdapterStartupError)
        if startup is None:
            raise
        for failure in startup.exceptions:
            print(f"arxiv-digest: {failure}", file=sys.stderr)
        return 2
    return 0
