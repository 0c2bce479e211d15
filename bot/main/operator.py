"""`arxiv-digest status` and `channels`: the database only (no token, no network).

`status` is also the container's healthcheck: it opens the database read-only (it never creates,
migrates or writes anything, so it works on a file it may only read), prints what an operator looks at
first, and exits 7 when the bot is not doing its job:

- the feed: the latest announcement due by now is neither stored nor known to be missing (a holiday),
  and no feed check has read the feed since it was due, or none for longer than the bot's slowest pace
  while one is awaited (see `bot.commands.status.FeedHealth`: a weekend is no failure);
- deliveries: every chat a digest goes to that has had a delivery had its last one fail.

`status --json` prints the same facts as one JSON object (documented in the README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.commands.status import FeedHealth, StatusReport, feed_health, gather_status
from bot.commands.wording import plural
from bot.main.exits import (
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
    ExitError,
)
from bot.models import Channel, DeliveryResult, InactiveReason
from bot.ports import Store
from bot.settings import Settings
from storage.open import open_database
from storage.sqlite_store import ReadOnlySqliteStore

log = logging.getLogger(__name__)

#: What `channels` shows in its WHY column for a chat that gets no digest.
WHY_OFF = {
    InactiveReason.GONE: "gone",
    InactiveReason.UNSUBSCRIBED: "unsubscribed",
    InactiveReason.DEACTIVATED: "deactivated",
}


def _check_exists(settings: Settings) -> None:
    """An SQLite file must exist: a healthcheck must not create files (a PostgreSQL server: nothing to
    create by connecting)."""
    path = settings.database.path
    if path is not None and not path.exists():
        raise ExitError(
            f"no database at {path} yet: `arxiv-digest run` or `arxiv-digest fetch` creates it "
            "(DATABASE_URL names it)",
            EXIT_DATABASE,
        )


async def _open_existing_store(settings: Settings) -> Store:
    """The store, migrated, when its file exists (never creates one)."""
    _check_exists(settings)
    return await open_database(settings.database)


async def _open_for_reading(settings: Settings) -> Store:
    """The store opened read-only, when its file exists: nothing is created, migrated or written."""
    _check_exists(settings)
    return await open_database(settings.database, read_only=True)


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


def _iso(moment: dt.datetime | None) -> str | None:
    """A moment as ISO 8601 UTC to the second, for the JSON."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _channel_label(channel: Channel) -> str:
    """`#3 telegram 4242`."""
    return f"#{channel.id} {channel.platform} {channel.chat_id}"


def _some(labels: Sequence[str], limit: int = 5) -> str:
    """A few labels, then how many more."""
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _served(channel: Channel) -> bool:
    """Whether a digest goes to this chat: on, and not blocked by the operator."""
    return channel.active and not channel.blocked


@dataclass
class OperatorStatus:
    """Everything `status` reports, read once; `problems` empty when the bot is doing its job."""

    database: str  # the file, or the PostgreSQL URL without its password
    now: dt.datetime
    schema_version: int | None  # the migration the database records (None: not known, on PostgreSQL)
    latest_version: int | None  # the newest this version knows
    report: StatusReport | None = None  # None: the schema needs migrating, nothing else was read
    feed: FeedHealth | None = None
    channels: list[Channel] = field(default_factory=list)
    results: dict[int, DeliveryResult] = field(default_factory=dict)  # each channel's last delivery
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Nothing is wrong."""
        return not self.problems

    def failed(self) -> list[Channel]:
        """The channels whose last delivery failed."""
        return [c for c in self.channels if c.id in self.results and self.results[c.id].result == "failed"]

    def gone(self) -> list[Channel]:
        """The channels whose last delivery found the chat gone."""
        return [c for c in self.channels if c.id in self.results and self.results[c.id].result == "gone"]


async def gather_operator_status(
    store: Store, where: str, now: dt.datetime, *, poll_interval: float
) -> OperatorStatus:
    """Read what `status` reports from a read-only store, and decide whether the bot does its job."""
    if isinstance(store, ReadOnlySqliteStore):
        status = OperatorStatus(where, now, store.schema_version, store.latest_version)
    else:
        status = OperatorStatus(where, now, None, None)
    if isinstance(store, ReadOnlySqliteStore) and store.needs_migration:
        status.problems.append(
            f"the database's schema is V{store.schema_version} and this arxiv-digest reads V"
            f"{store.latest_version}: `arxiv-digest run` migrates it at start-up (status only reads)"
        )
        return status
    report = await gather_status(store, now)  # the same report the chat's /status shows
    status.report = report
    status.feed = await feed_health(store, report, poll_interval=poll_interval)
    status.channels = await store.list_channels(active_only=False)
    for channel in status.channels:
        if channel.id is not None and (result := await store.last_delivery_result(channel.id)) is not None:
            status.results[channel.id] = result
    feed_problem = _feed_problem(status.feed, report, now)
    if feed_problem is not None:
        status.problems.append(feed_problem)
    delivery_problem = _delivery_problem(status)
    if delivery_problem is not None:
        status.problems.append(delivery_problem)
    return status


def _feed_problem(health: FeedHealth, report: StatusReport, now: dt.datetime) -> str | None:
    """What is wrong with the reading of the feed, in one line, or None."""
    if health.problem is None:
        return None
    due = (
        f"the announcement of {health.due.isoformat()} was due at 00:00 US Eastern, "
        f"{_ago(health.due_since, now)}"
    )
    check = report.last_check
    if health.problem == "never_checked" or check is None:
        return f"{due}, and no feed check was ever recorded: is `arxiv-digest run` running?"
    said = f": {check.message}" if check.message else ""
    last = f"the last one, {_ago(check.checked_at, now)}, {check.outcome}{said}"
    if health.problem == "not_read_since":
        return f"{due}, and no feed check has read the feed since ({last})"
    hours = health.awaited_within.total_seconds() / 3600
    return (
        f"{due}, is not in yet, and the last feed check was {_ago(check.checked_at, now)}: while it is "
        f"awaited the bot checks at least every {hours:g} h; is `arxiv-digest run` running?"
    )


def _delivery_problem(status: OperatorStatus) -> str | None:
    """One line when the last delivery failed for every chat a digest goes to (that had one), else None."""
    tried = [c for c in status.channels if _served(c) and c.id in status.results]
    failed = [c for c in tried if status.results[c.id or 0].result == "failed"]
    if not tried or len(failed) < len(tried):
        return None
    labels = [_channel_label(channel) for channel in failed]
    return (
        f"the last delivery failed for every chat a digest goes to ({len(failed)} of {len(tried)}: "
        f"{_some(labels)}); the bot's log says why"
    )


def _status_lines(status: OperatorStatus) -> list[str]:
    """What an operator looks at first when a user says "no digest today"."""
    now = status.now
    lines = [f"database: {status.database}"]
    report = status.report
    if report is None:
        lines.append(f"schema: V{status.schema_version}, this arxiv-digest reads V{status.latest_version}")
        lines.append("health: FAILING: " + "; ".join(status.problems))
        return lines
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

    counts = _channel_counts(status.channels)
    lines.append(
        "channels: "
        + (
            "; ".join(
                f"{name} {count['active']} active, {count['inactive']} inactive"
                + (f", {count['blocked']} blocked" if count["blocked"] else "")
                for name, count in counts.items()
            )
            or "none yet"
        )
    )

    failed = [
        f"{_channel_label(c)} ({status.results[c.id or 0].announcement_date.isoformat()})"
        for c in status.failed()
    ]
    gone = [_channel_label(c) + ("" if c.active else ", now off") for c in status.gone()]
    if not status.results:
        lines.append("last delivery: none yet")
    else:
        newest = max(result.delivered_at for result in status.results.values())
        problems = []
        if failed:
            problems.append(f"{plural(len(failed), 'channel')} failed: {_some(failed)}")
        if gone:
            problems.append(f"{plural(len(gone), 'channel')} gone: {_some(gone)}")
        summary = "; ".join(problems) or "no failures"
        lines.append(f"last delivery: {_ago(newest, now)}; last results: {summary}")
    lines.append("health: ok" if status.healthy else "health: FAILING: " + "; ".join(status.problems))
    return lines


def _channel_counts(channels: Sequence[Channel]) -> dict[str, dict[str, int]]:
    """Per platform (sorted): chats a digest goes to, chats that are off, chats the operator blocked."""
    counts: dict[str, dict[str, int]] = {}
    for channel in sorted(channels, key=lambda c: c.platform):
        count = counts.setdefault(channel.platform, {"active": 0, "inactive": 0, "blocked": 0})
        count["blocked" if channel.blocked else "active" if channel.active else "inactive"] += 1
    return counts


def _status_json(status: OperatorStatus) -> dict[str, Any]:
    """The `status --json` object (the README documents every key)."""
    document: dict[str, Any] = {
        "healthy": status.healthy,
        "problems": status.problems,
        "database": status.database,
        "schema": None
        if status.schema_version is None
        else {"version": status.schema_version, "latest": status.latest_version},
        "checked_at": _iso(status.now),
        "feed": None,
        "announcement": None,
        "channels": None,
        "deliveries": None,
    }
    report, health = status.report, status.feed
    if report is None or health is None:
        return document
    check = report.last_check
    document["feed"] = {
        "ok": health.ok,
        "last_check": None
        if check is None
        else {
            "at": _iso(check.checked_at),
            "outcome": check.outcome,
            "announcement_date": None if check.date is None else check.date.isoformat(),
            "message": check.message,
            "papers": check.papers,
        },
        "due_announcement": health.due.isoformat(),
        "due_since": _iso(health.due_since),
        "due_arrived": health.arrived,
    }
    if report.latest_date is not None:
        document["announcement"] = {"date": report.latest_date.isoformat(), "papers": report.latest_papers}
    document["channels"] = _channel_counts(status.channels)
    results = status.results
    outcomes: dict[str, int] = {}
    for channel in status.channels:
        if _served(channel) and channel.id in results:
            outcomes[results[channel.id].result] = outcomes.get(results[channel.id].result, 0) + 1
    document["deliveries"] = {
        "ok": _delivery_problem(status) is None,
        "last_at": _iso(max((result.delivered_at for result in results.values()), default=None)),
        "results": outcomes,
        "failed": [
            {
                "id": channel.id,
                "platform": channel.platform,
                "chat_id": channel.chat_id,
                "announcement_date": results[channel.id or 0].announcement_date.isoformat(),
            }
            for channel in status.failed()
        ],
        "gone": [
            {
                "id": channel.id,
                "platform": channel.platform,
                "chat_id": channel.chat_id,
                "active": channel.active,
            }
            for channel in status.gone()
        ],
    }
    return document


async def show_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest status`: the bot's state from the database alone, read-only.

    Exit 0 when the bot is doing its job, 7 when not, 6 when the database cannot be read (or needs
    migrating first).
    """
    store = await _open_for_reading(settings)
    try:
        status = await gather_operator_status(
            store,
            str(settings.database.path or settings.database.shown),
            dt.datetime.now(dt.UTC),
            poll_interval=settings.arxiv_poll_interval,
        )
    finally:
        await store.close()
    if getattr(args, "json", False):
        print(json.dumps(_status_json(status), ensure_ascii=False), file=out)
    else:
        print("\n".join(_status_lines(status)), file=out)
    if status.report is None:
        return EXIT_DATABASE
    return EXIT_OK if status.healthy else EXIT_UNHEALTHY


def _why(channel: Channel) -> str:
    """Why the chat gets no digest (`-` when it gets one, or when nobody said why)."""
    if channel.blocked:
        return "blocked"
    if channel.active or channel.inactive_reason is None:
        return "-"
    return WHY_OFF.get(channel.inactive_reason, str(channel.inactive_reason))


def _clip(text: str | None, limit: int) -> str:
    """A name for a table cell: `-` when unknown, shortened to `limit` characters."""
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server(channel: Channel) -> str:
    """The server's name (or its id while the name is unknown), `-` for a chat without a server."""
    if channel.server_id is None and channel.server_name is None:
        return "-"
    return _clip(channel.server_name or channel.server_id, 24)


def _channel_table(channels: Sequence[Channel]) -> str:
    """The subscribed chats as an aligned table."""
    rows = [
        ("ID", "PLATFORM", "CHAT", "TITLE", "SERVER", "ACTIVE", "WHY", "TIME", "ZONE", "TOPICS", "DONE UP TO")
    ]
    for channel in channels:
        rows.append(
            (
                str(channel.id),
                channel.platform,
                channel.chat_id,
                _clip(channel.title, 32),
                _server(channel),
                "yes" if _served(channel) else "no",
                _why(channel),
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


def _named(channel: Channel) -> str:
    """`#3 telegram 4242` with the chat's title, when known: `#3 telegram 4242 (Robots lab)`."""
    return _channel_label(channel) + (f" ({_clip(channel.title, 40)})" if channel.title else "")


async def _switch(store: Store, channel: Channel, args: argparse.Namespace) -> str:
    """Apply one of --deactivate, --activate, --block, --unblock to the channel; what it did, in one line."""
    assert channel.id is not None
    label = _named(channel)
    if args.block is not None or args.unblock is not None:
        blocked = args.block is not None
        if channel.blocked == blocked:
            return f"channel {label}: was already {'blocked' if blocked else 'not blocked'}"
        await store.set_channel_blocked(channel.id, blocked)
        if blocked:
            return (
                f"channel {label}: blocked; it gets no digest, and its admins can neither change it nor turn"
                f" it back on, until `arxiv-digest channels --unblock {channel.id}`"
            )
        if channel.active:
            return f"channel {label}: unblocked; its daily digest is on again"
        why = _why(channel)
        return f"channel {label}: unblocked; its daily digest stays off" + (f" ({why})" if why != "-" else "")
    active = args.deactivate is None
    state = "on" if active else "off"
    if channel.active == active:
        return f"channel {label}: its daily digest was already {state}"
    await store.set_channel_active(channel.id, active, reason=None if active else InactiveReason.DEACTIVATED)
    note = "; it stays blocked until `--unblock`" if channel.blocked else ""
    return f"channel {label}: daily digest turned {state}{note}"


async def manage_channels(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest channels`: list the subscribed chats; turn one's daily digest off or on; block one."""
    wanted = next(
        (value for value in (args.deactivate, args.activate, args.block, args.unblock) if value is not None),
        None,
    )
    store = await _open_existing_store(settings)
    try:
        channels = await store.list_channels(active_only=False)
        if wanted is None:
            print(_channel_table(channels) if channels else "no channels yet", file=out)
            return EXIT_OK
        channel = next((channel for channel in channels if channel.id == wanted), None)
        if channel is None or channel.id is None:
            raise ExitError(f"no channel with id {wanted}: `arxiv-digest channels` lists them", EXIT_USAGE)
        print(await _switch(store, channel, args), file=out)
    finally:
        await store.close()
    return EXIT_OK


__all__ = ["OperatorStatus", "gather_operator_status", "manage_channels", "show_status"]
