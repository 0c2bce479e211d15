"""`arxiv-digest status` and `channels`: the database only (no token, no network)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TextIO

from bot.commands.status import gather_status
from bot.commands.wording import plural
from bot.main.exits import (
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_USAGE,
    ExitError,
)
from bot.models import Channel
from bot.ports import Store
from bot.settings import Settings
from storage.open import open_database

log = logging.getLogger(__name__)


async def _open_existing_store(settings: Settings) -> Store:
    """The store, when its file exists; never creates one (a healthcheck must not create files)."""
    if settings.database.path is None:  # a PostgreSQL server: nothing to create by connecting
        return await open_database(settings.database)
    path = settings.database.path
    if not path.exists():
        raise ExitError(
            f"no database at {path} yet: `arxiv-digest run` or `arxiv-digest fetch` creates it "
            "(DATABASE_URL names it)",
            EXIT_DATABASE,
        )
    return await open_database(settings.database)


def _ago(moment: dt.datetime, now: dt.datetime) -> str:
    """`2025-11-12 08:00 UTC (3 h ago)`."""
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        age = "just now"
    elif seconds < 3600:
        age = f"{seconds // 60:.0f} min ago"
    elif seconds < 2 * 86400:
        age = f"{seconds // 3600:.0f} h ago"
    else:
        age = f"{seconds // 86400:.0f} days ago"
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC ({age})"


def _channel_label(channel: Channel) -> str:
    """`#3 telegram 4242`."""
    return f"#{channel.id} {channel.platform} {channel.chat_id}"


def _some(labels: Sequence[str], limit: int = 5) -> str:
    """A few labels, then how many more."""
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


async def _status_lines(store: Store, where: str, now: dt.datetime) -> list[str]:
    """What an operator looks at first when a user says "no digest today"."""
    lines = [f"database: {where}"]
    report = await gather_status(store, now)  # the same report the chat's /status shows
    check = report.last_check
    if check is None:
        lines.append("last feed check: none yet")
    else:
        said = f": {check.message}" if check.message else ""
        lines.append(f"last feed check: {_ago(check.checked_at, now)}, {check.outcome}{said}")
    if report.latest_date is None:
        lines.append("last announcement: none stored yet")
    else:
        papers = plural(report.latest_papers or 0, "paper")
        lines.append(f"last announcement: {report.latest_date.isoformat()}, {papers}")

    channels = await store.list_channels(active_only=False)
    counts: dict[str, list[int]] = {}
    for channel in channels:
        counts.setdefault(channel.platform, [0, 0])[0 if channel.active else 1] += 1
    lines.append(
        "channels: "
        + (
            "; ".join(f"{name} {on} active, {off} inactive" for name, (on, off) in sorted(counts.items()))
            or "none yet"
        )
    )

    newest: dt.datetime | None = None
    failed: list[str] = []
    gone: list[str] = []
    for channel in channels:
        if channel.id is None:
            continue
        result = await store.last_delivery_result(channel.id)
        if result is None:
            continue
        newest = result.delivered_at if newest is None else max(newest, result.delivered_at)
        if result.result == "failed":
            failed.append(f"{_channel_label(channel)} ({result.announcement_date.isoformat()})")
        elif result.result == "gone":
            gone.append(_channel_label(channel) + ("" if channel.active else ", now off"))
    if newest is None:
        lines.append("last delivery: none yet")
    else:
        problems = []
        if failed:
            problems.append(f"{plural(len(failed), 'channel')} failed: {_some(failed)}")
        if gone:
            problems.append(f"{plural(len(gone), 'channel')} gone: {_some(gone)}")
        summary = "; ".join(problems) or "no failures"
        lines.append(f"last delivery: {_ago(newest, now)}; last results: {summary}")
    return lines


async def show_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest status`: the bot's state from the database alone (exit 0 when it can be read)."""
    store = await _open_existing_store(settings)
    try:
        where = str(settings.database.path or settings.database.shown)
        lines = await _status_lines(store, where, dt.datetime.now(dt.UTC))
    finally:
        await store.close()
    print("\n".join(lines), file=out)
    return EXIT_OK


def _channel_table(channels: Sequence[Channel]) -> str:
    """The subscribed chats as an aligned table."""
    rows = [("ID", "PLATFORM", "CHAT", "SERVER", "ACTIVE", "TIME", "ZONE", "TOPICS", "DONE UP TO")]
    for channel in channels:
        rows.append(
            (
                str(channel.id),
                channel.platform,
                channel.chat_id,
                channel.server_id or "-",
                "yes" if channel.active else "no",
                "-" if channel.delivery_time is None else channel.delivery_time.strftime("%H:%M"),
                channel.timezone,
                str(len(channel.topics)),
                "-" if channel.done_up_to is None else channel.done_up_to.isoformat(),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


async def manage_channels(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest channels`: list the subscribed chats, or turn one's daily digest off or on."""
    store = await _open_existing_store(settings)
    try:
        channels = await store.list_channels(active_only=False)
        wanted = args.deactivate if args.deactivate is not None else args.activate
        if wanted is None:
            print(_channel_table(channels) if channels else "no channels yet", file=out)
            return EXIT_OK
        channel = next((channel for channel in channels if channel.id == wanted), None)
        if channel is None or channel.id is None:
            raise ExitError(f"no channel with id {wanted}: `arxiv-digest channels` lists them", EXIT_USAGE)
        active = args.deactivate is None
        state = "on" if active else "off"
        if channel.active == active:
            print(f"channel {_channel_label(channel)}: its daily digest was already {state}", file=out)
        else:
            await store.set_channel_active(channel.id, active)
            print(f"channel {_channel_label(channel)}: daily digest turned {state}", file=out)
    finally:
        await store.close()
    return EXIT_OK
