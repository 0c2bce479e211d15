"""Wiring of the long-lived bot: settings in, store opened, adapters started, all run together.

With `bot.main.cli` and `bot.main.platforms` (the registry), the only core modules that import
adapters and the store. No platform is named here: they come from the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings

from bot.arxiv_client.source import ArxivSource
from bot.channels import ChannelRegistry
from bot.clock import Clock, utc_now
from bot.commands.service import CommandService
from bot.delivery import DeliveryService
from bot.feedback import FeedbackService
from bot.gate import ArxivGate
from bot.ingest import IngestService, Watch
from bot.leadership import while_holding
from bot.main.platforms import PLATFORMS, no_adapter_message
from bot.models import Announcement
from bot.platforms.port import AdapterStartupError, AdapterUnreachableError, ChatAdapter
from bot.platforms.spec import AdapterServices, PlatformSpec, admin_ids
from bot.ports import INGEST_ROLE, Store
from bot.settings import Settings, SettingsError
from bot.views import ViewService
from storage.open import open_database, open_leadership

if TYPE_CHECKING:
    from bot.ranking import RankingService

log = logging.getLogger(__name__)

EXIT_UNREACHABLE = 5  # a chat platform could not be reached within the start-up retries


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    platform_settings: Mapping[str, BaseSettings],
    platforms: Sequence[PlatformSpec[Any]] = PLATFORMS,
    clock: Clock = utc_now,
    delivery_tick: float = 30.0,
    adapter_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Run ingest, delivery and the adapter of every configured platform until `stop` is set.

    `platforms` is the registry (a test may add one); `platform_settings` holds their settings by
    name (`bot.main.platforms.load_platform_settings`), and a platform without settings there stays
    off. `adapter_options` are test hooks by platform name. `clock` drives ingest, scheduling and
    commands alike (tests move it). On `stop`, ingest and delivery end first (an arXiv request is
    abandoned; a delivery round starts no chat, cuts the chats in progress before their next
    message and cancels a send still running after its grace), and only then do the adapters stop
    (their commands in hand get a grace too), so a stop takes a few seconds at most and no send
    waits on a stopped adapter.
    """
    options = adapter_options or {}
    configured = [
        (spec, platform_settings[spec.name])
        for spec in platforms
        if spec.name in platform_settings and spec.is_configured(platform_settings[spec.name])
    ]
    if not configured:
        raise StartupError(no_adapter_message(platforms))
    try:
        admins = admin_ids(settings.admin_user_ids, platforms)
    except SettingsError as error:
        raise StartupError(f"arxiv-digest: {error}") from None

    ingest_watch = Watch()
    store = await open_database(settings.database)
    # Several processes may share the database: one at a time fetches arXiv and fans out the
    # digests (Telegram's 30 messages/s per token is the deployment's, not a process's), one polls
    # Telegram; every process answers commands and button presses.
    leadership = open_leadership(settings.database)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
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

    warning = ingest_watch.budget_warning(settings.arxiv_poll_interval)
    if warning:
        log.warning("%s", warning)
    ranker = _ranker(settings, store, clock)
    views = ViewService(
        store, settings.default_categories, clock=clock, ranker=ranker, votes=ranker is not None
    )
    # Votes are taken when the pages offer them (the operator's RANKING); the ranker sees them
    # through the chat's vote version in the store.
    feedback = FeedbackService(store, votes=views.votes, clock=clock)
    try:
        commands = CommandService(
            store,
            settings.default_categories,
            clock=clock,
            on_change=schedule_changed,
            views=views,
            ranker=ranker,
        )
        chats = ChannelRegistry(store, on_change=schedule_changed)
        adapters: dict[str, ChatAdapter] = {}
        for spec, own_settings in configured:
            services = AdapterServices(
                commands=commands,
                channels=chats,
                views=commands.views,
                feedback=feedback,
                admin_user_ids=admins[spec.name],
                leadership=leadership,
            )
            adapter = spec.build(own_settings, services, options.get(spec.name, {}))
            adapters[adapter.platform] = adapter
        log.info("starting the %s adapter(s)", ", ".join(adapters))
        delivery = DeliveryService(
            store,
            adapters,
            settings.default_categories,
            clock=clock,
            retention_days=settings.retention_days,
            channels=chats,
            views=commands.views,
            claim_holder=holder,
        )
        ingest = IngestService(
            store,
            source,
            settings.default_categories,
            clock=clock,
            recovery_days=settings.recovery_days,
            retention_days=settings.retention_days,
            watch=ingest_watch,
        )
        adapters_stop = asyncio.Event()

        async def ingest_and_deliver(until: asyncio.Event) -> None:
            """Ingest and delivery while this process holds the ingest role (`until`: stop or lost)."""
            async with asyncio.TaskGroup() as core:
                core.create_task(ingest.run(until, settings.arxiv_poll_interval, on_new=announcement_stored))
                core.create_task(delivery.run(until, wake, tick=delivery_tick))

        async def run_core() -> None:
            """Ingest and delivery whenever this process leads, until `stop`; then let the adapters stop."""
            try:
                await while_holding(
                    leadership,
                    INGEST_ROLE,
                    stop,
                    ingest_and_deliver,
                    settle=settings.arxiv_request_interval,
                )
            finally:
                adapters_stop.set()

        async with asyncio.TaskGroup() as tasks:
            for adapter in adapters.values():
                tasks.create_task(adapter.run(adapters_stop), name=f"{adapter.platform} adapter")
            tasks.create_task(run_core(), name="ingest and delivery")
    finally:
        if ranker is not None:
            ranker.close()
        await source.aclose()
        await store.close()


def _ranker(settings: Settings, store: Store, clock: Clock) -> RankingService | None:
    """The learned order, when the operator has RANKING on: only then is bot.ranking (numpy) imported."""
    if not settings.ranking:
        return None
    from bot.ranking import RankingService

    return RankingService(store, clock=clock)


async def run_bot(
    settings: Settings,
    *,
    platform_settings: Mapping[str, BaseSettings],
    adapter_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the exit status (`adapter_options`: test hooks)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def stopping(signum: signal.Signals) -> None:
        """The first signal asks for a prompt, orderly stop."""
        if not stop.is_set():
            log.info("%s received: stopping", signum.name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopping, signum)
            handled.append(signum)
    try:
        await serve(settings, stop, platform_settings=platform_settings, adapter_options=adapter_options)
    except StartupError as error:
        print(str(error), file=sys.stderr)
        return 2
    except ExceptionGroup as group:
        startup = group.subgroup(AdapterStartupError)
        if startup is None:
            raise
        failures = _leaves(startup)
        for failure in failures:
            print(f"arxiv-digest: {failure}", file=sys.stderr)
        # Could not connect within the start-up retries: 5, like an unreachable arXiv (a supervisor
        # may try again later). Anything refused (a rejected token, a wrong URL): 2, fix a setting.
        if all(isinstance(failure, AdapterUnreachableError) for failure in failures):
            return EXIT_UNREACHABLE
        return 2
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return 0


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions of a (possibly nested) group, flattened."""
    leaves: list[BaseException] = []
    for error in group.exceptions:
        leaves.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return leaves
