"""The `arxiv-digest` command: preview, fetch, run, status and channels.

Exit statuses: 0 done; 2 bad usage, setting or filter (a missing feed file, an unknown channel id);
3 no announcement today (weekend, holiday); 4 arXiv answered with an error (e.g. an unknown
category); 5 arXiv unreachable or its answer broken (for `run`: also Telegram or Discord unreachable
through the start-up retries); 6 the database cannot be used (or does not exist
yet, for `status` and `channels`); 1 anything unexpected (logged). Every error is one line on stderr,
`arxiv-digest: ...`, and the same condition gives the same status in every command.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import re
import sys
import threading
import tomllib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from pydantic_settings import BaseSettings

from adapters.markdown_output import render_json, render_markdown, render_text, render_topic_markdown
from bot.arxiv_client.common import ArxivUnavailableError
from bot.arxiv_client.source import ArxivSource
from bot.categories import UnknownCategoryError, expand_categories
from bot.commands.status import gather_status
from bot.digests import build_digest
from bot.feeds import ArxivError, ArxivFeedError, BrokenFeedError, NoAnnouncement
from bot.gate import ArxivGate
from bot.ingest import IngestService
from bot.main.app import run_bot
from bot.main.platforms import enabling_settings, load_platform_settings
from bot.main.progress import tell_terminal, terminal_progress
from bot.matching import validate_topic
from bot.models import Announcement, Channel, Digest, Topic
from bot.ports import Store, StoreError
from bot.query import QuerySyntaxError
from bot.settings import Settings, SettingsError, check_feed_location, load_settings, local_feed_file
from bot.topic_config import TopicConfigError, load_topic_config
from storage.sqlite_store import open_store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_ANNOUNCEMENT = 3
EXIT_ARXIV_ERROR = 4
EXIT_UNAVAILABLE = 5
EXIT_DATABASE = 6  # the database cannot be used: a path, permission or "not an SQLite database" problem

PACKAGE = "arxiv-digest-bot"


class ExitError(Exception):
    """A one-line answer for the user, with the exit status to leave with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _plural(count: int, word: str) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def project_version() -> str:
    """The installed version, or the source tree's pyproject.toml version when not installed."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parents[2] / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def configure_logging(level: str) -> None:
    """Configure logging once for the process; keep tokens (in Bot API URLs) out of the log."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # httpx logs every request URL at INFO, and a Bot API URL contains the bot token.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "discord.gateway"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _split_terms(values: Sequence[str] | None) -> list[str]:
    """Keywords from repeated options, each possibly comma-separated (quoted commas stay)."""
    terms: list[str] = []
    for value in values or []:
        terms.extend(part.strip() for part in _split_commas(value) if part.strip())
    return terms


def _split_commas(text: str) -> list[str]:
    """Split on commas that are not inside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _preview_topics(args: argparse.Namespace, settings: Settings) -> tuple[list[Topic], tuple[str, ...]]:
    """The topics to preview and the categories to fetch."""
    try:
        categories = expand_categories(args.categories or ())
    except UnknownCategoryError as error:
        raise ExitError(str(error), EXIT_USAGE) from None
    topics: list[Topic] = []
    if args.config:
        try:
            topics = load_topic_config(Path(args.config))
        except TopicConfigError as error:
            raise ExitError(str(error), EXIT_USAGE) from None
        if categories:
            topics = [Topic(t.name, t.keywords, t.excludes, categories, t.announce_types) for t in topics]
    keywords = _split_terms(args.keywords)
    excludes = _split_terms(args.exclude)
    if keywords:
        name = ", ".join(keywords) if len(", ".join(keywords)) <= 60 else "Keywords"
        # Next to --config (and without -c), a -k topic watches the config's categories, like its topics.
        watched = categories or (topics[0].categories if topics else ())
        topics.append(
            Topic(name=name, keywords=tuple(keywords), excludes=tuple(excludes), categories=watched)
        )
    elif excludes and topics:
        topics = [
            Topic(t.name, t.keywords, t.excludes + tuple(excludes), t.categories, t.announce_types)
            for t in topics
        ]
    elif excludes:
        raise ExitError("--exclude needs --keywords or --config: say what to look for", EXIT_USAGE)
    if not topics:
        raise ExitError("say what to look for: --keywords/-k WORDS or --config FILE", EXIT_USAGE)
    for topic in topics:
        try:
            validate_topic(topic)
        except QuerySyntaxError as error:
            raise ExitError(f"bad filter in topic {topic.name!r}: {error}", EXIT_USAGE) from None
    fetch_categories = set(categories or settings.default_categories)
    for topic in topics:
        fetch_categories.update(topic.categories)
    return topics, tuple(sorted(fetch_categories))


def _make_source(settings: Settings, rss_url: str | None = None) -> ArxivSource:
    """The arXiv source with the process's politeness gate.

    One-shot: a host that does not resolve or refuses fails at once (naming the shipped sample
    listing) instead of being retried; slow waits are reported on a terminal (`terminal_progress`).
    """
    return ArxivSource(
        rss_url=rss_url or settings.arxiv_rss_url,
        api_url=settings.arxiv_api_url,
        gate=ArxivGate(min_interval=settings.arxiv_request_interval),
        timeout=settings.arxiv_timeout,
        max_retries=settings.arxiv_max_retries,
        one_shot=True,
        progress=terminal_progress(),
    )


def _unreadable(path: Path) -> str | None:
    """Why a feed file cannot be read, or None when it can."""
    try:
        with path.open("rb"):
            return None
    except IsADirectoryError:
        return "it is a directory, not a feed file"
    except OSError as error:
        return error.strerror or str(error)


def _feed_location(args: argparse.Namespace, settings: Settings) -> str:
    """Where the feed comes from (--feed, else ARXIV_RSS_URL); a file that cannot be read is bad usage."""
    if args.feed is not None:
        try:
            location = check_feed_location(args.feed)
        except ValueError as error:
            raise ExitError(f"--feed {args.feed}: {error}", EXIT_USAGE) from None
        origin = ""
    else:
        location, origin = settings.arxiv_rss_url, " (ARXIV_RSS_URL)"
    path = local_feed_file(location)
    problem = None if path is None else _unreadable(path)
    if problem:
        raise ExitError(f"cannot read the feed file {path}{origin}: {problem}", EXIT_USAGE)
    return location


def _arxiv_failure(error: ArxivError, location: str) -> ExitError:
    """The one-line answer and exit status for trouble with arXiv: the same in `preview` and `fetch`."""
    if isinstance(error, ArxivFeedError):
        return ExitError(str(error), EXIT_ARXIV_ERROR)
    if isinstance(error, BrokenFeedError):
        path = local_feed_file(location)
        return ExitError(f"{'the feed' if path is None else path} is broken: {error}", EXIT_UNAVAILABLE)
    if isinstance(error, ArxivUnavailableError):
        return ExitError(str(error), EXIT_UNAVAILABLE)  # its message says what was unavailable
    return ExitError(f"arXiv: {error}", EXIT_UNAVAILABLE)


async def _fetch_announcement(
    source: ArxivSource, categories: tuple[str, ...], location: str
) -> Announcement:
    """The current announcement, or a ExitError saying why there is none."""
    tell_terminal(f"Fetching {'+'.join(categories)} from {location} …")
    try:
        outcome = await source.fetch_feed(categories)
    except ArxivError as error:
        raise _arxiv_failure(error, location) from None
    finally:
        await source.aclose()
    if isinstance(outcome, NoAnnouncement):
        raise ExitError(outcome.reason, EXIT_NO_ANNOUNCEMENT)  # the reason names the day
    return outcome


def _safe_filename(name: str) -> str:
    """A file name for a topic, like the anchor's hot_topic/{topic}.md."""
    cleaned = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._")
    return (cleaned or "topic")[:80]


#: What `--output DIR` writes per topic, by `--format` (default Markdown, the anchor's hot_topic/ files).
_TOPIC_FILES: dict[str, tuple[str, Callable[[Digest], str]]] = {
    "markdown": (".md", lambda digest: render_topic_markdown(digest.topics[0], digest)),
    "json": (".json", lambda digest: render_json(digest) + "\n"),
    "text": (".txt", render_text),
}


def _write_topic_files(directory: Path, digest: Digest, out: TextIO, output_format: str) -> None:
    """One file per topic in the chosen format, like the anchor's hot_topic/{topic}.md."""
    suffix, render = _TOPIC_FILES[output_format]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for section in digest.topics:
            path = directory / f"{_safe_filename(section.topic.name)}{suffix}"
            path.write_text(render(replace(digest, topics=(section,))), encoding="utf-8")
            print(f"{path}: {_plural(len(section.papers), 'paper')}", file=out)
    except OSError as error:
        raise ExitError(f"cannot write to {directory}: {error.strerror or error}", EXIT_USAGE) from None


async def _preview(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest preview`: print (or write) a digest; needs no token and no database."""
    topics, categories = _preview_topics(args, settings)
    location = _feed_location(args, settings)
    source = _make_source(settings, location)
    announcement = await _fetch_announcement(source, categories, location)
    digest = build_digest(announcement, topics, settings.default_categories)
    if args.output:
        _write_topic_files(Path(args.output), digest, out, args.format or "markdown")
        return EXIT_OK
    output_format = args.format or ("text" if out.isatty() else "markdown")
    if output_format == "json":
        print(render_json(digest), file=out)
    elif output_format == "markdown":
        print(render_markdown(digest), file=out, end="")
    else:
        print(render_text(digest), file=out, end="")
    return EXIT_OK


async def _fetch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest fetch`: ingest the current announcement into the store and say what was stored."""
    location = _feed_location(args, settings)
    store = await open_store(settings.database_path)
    source = _make_source(settings, location)
    try:
        service = IngestService(store, source, settings.default_categories)
        result = await service.ingest_once()
    finally:
        await source.aclose()
        await store.close()
    if result.outcome == "no_announcement":
        raise ExitError(result.message, EXIT_NO_ANNOUNCEMENT)
    if result.error is not None:  # arXiv's error feed (4) or no usable answer (5), as in `preview`
        raise _arxiv_failure(result.error, location)
    if result.outcome == "error":
        raise ExitError(result.message, EXIT_UNAVAILABLE)
    print(result.message, file=out)
    return EXIT_OK


def _first_store_error(group: BaseExceptionGroup[BaseException]) -> StoreError | None:
    """The first StoreError anywhere in an exception group (the bot's tasks fail together)."""
    for error in group.exceptions:
        if isinstance(error, StoreError):
            return error
        if isinstance(error, BaseExceptionGroup) and (found := _first_store_error(error)) is not None:
            return found
    return None


async def _run(
    args: argparse.Namespace, settings: Settings, out: TextIO, platform_settings: Mapping[str, BaseSettings]
) -> int:
    """`arxiv-digest run`: the long-lived bot; a database it cannot use is one line and status 6."""
    try:
        return await run_bot(settings, platform_settings=platform_settings)
    except ExceptionGroup as group:
        failure = _first_store_error(group)
        if failure is None:
            raise
        _, rest = group.split(StoreError)
        if rest is not None:
            log.error("other failures beside the database error", exc_info=rest)
        raise failure from None


# -- what an operator looks at: status and channels (the database only; no token, no network) ----------


async def _open_existing_store(settings: Settings) -> Store:
    """The store, when its file exists; never creates one (a healthcheck must not create files)."""
    path = settings.database_path
    if not path.exists():
        raise ExitError(
            f"no database at {path} yet: `arxiv-digest run` or `arxiv-digest fetch` creates it "
            "(DATABASE_URL names it)",
            EXIT_DATABASE,
        )
    return await open_store(path)


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


async def _status_lines(store: Store, path: Path, now: dt.datetime) -> list[str]:
    """What an operator looks at first when a user says "no digest today"."""
    lines = [f"database: {path}"]
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
        papers = _plural(report.latest_papers or 0, "paper")
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
            problems.append(f"{_plural(len(failed), 'channel')} failed: {_some(failed)}")
        if gone:
            problems.append(f"{_plural(len(gone), 'channel')} gone: {_some(gone)}")
        summary = "; ".join(problems) or "no failures"
        lines.append(f"last delivery: {_ago(newest, now)}; last results: {summary}")
    return lines


async def _status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest status`: the bot's state from the database alone (exit 0 when it can be read)."""
    store = await _open_existing_store(settings)
    try:
        lines = await _status_lines(store, settings.database_path, dt.datetime.now(dt.UTC))
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


async def _channels(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
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


async def _settled(command: Coroutine[None, None, int]) -> int:
    """Run a command; when the database failed, let aiosqlite's worker threads finish first.

    A failed `aiosqlite.connect()` stops its worker thread without waiting for it; when the event loop
    closes first (a one-shot command ends right there), that thread dies with a traceback on stderr.
    """
    try:
        return await command
    except StoreError:
        for thread in threading.enumerate():
            if thread.is_alive() and thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join, 2.0)
        raise


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="arxiv-digest",
        description="Post each day's matching arXiv papers to Telegram and Discord, or preview them here.",
    )
    parser.add_argument("--version", action="version", version=f"arxiv-digest {project_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    preview = commands.add_parser(
        "preview", help="print today's digest for some keywords (no token, no database)"
    )
    preview.add_argument(
        "--feed",
        metavar="URL|PATH",
        help="feed base URL, a saved feed file, or `sample` for the listing shipped with the package"
        " (default: live)",
    )
    preview.add_argument(
        "-c", "--categories", action="append", metavar="CATS", help="arXiv categories, e.g. cs.CV,cs.CL"
    )
    preview.add_argument("-k", "--keywords", action="append", metavar="WORDS", help="keywords (repeatable)")
    preview.add_argument(
        "-x", "--exclude", action="append", metavar="WORDS", help="excluded words (repeatable)"
    )
    preview.add_argument("--config", metavar="FILE", help="topics from an awesome-daily-AI-arxiv YAML config")
    preview.add_argument("--format", choices=["markdown", "json", "text"], help="default: text on a terminal")
    preview.add_argument(
        "--output", metavar="DIR", help="write one file per topic into DIR, in --format (default Markdown)"
    )

    fetch = commands.add_parser("fetch", help="store the current announcement in the database")
    fetch.add_argument(
        "--feed",
        metavar="URL|PATH",
        help="feed base URL, a saved feed file, or `sample` for the listing shipped with the package"
        " (default: live)",
    )

    commands.add_parser("run", help=f"run the bot (needs {enabling_settings()})")
    commands.add_parser(
        "status",
        help="the last feed check, announcement, channels and deliveries, from the database only",
    )
    channels = commands.add_parser("channels", help="list the subscribed chats, or turn one off or on")
    switch = channels.add_mutually_exclusive_group()
    switch.add_argument("--deactivate", type=int, metavar="ID", help="turn off this chat's daily digest")
    switch.add_argument("--activate", type=int, metavar="ID", help="turn on this chat's daily digest")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of `arxiv-digest` and `python -m bot`; returns the exit status."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings()
        platform_settings = load_platform_settings(settings)
    except SettingsError as error:
        print(f"arxiv-digest: {error}", file=sys.stderr)
        return EXIT_USAGE
    # One-shot commands answer in one line; their retries and warnings are only logged when asked for.
    quiet = args.command != "run" and settings.log_level in {"INFO", "WARNING"}
    configure_logging("ERROR" if quiet else settings.log_level)
    handlers: dict[str, Callable[[argparse.Namespace, Settings, TextIO], Coroutine[Any, Any, int]]] = {
        "preview": _preview,
        "fetch": _fetch,
        "run": lambda args, settings, out: _run(args, settings, out, platform_settings),
        "status": _status,
        "channels": _channels,
    }
    handler = handlers[args.command]
    try:
        return asyncio.run(_settled(handler(args, settings, out)))
    except ExitError as error:
        print(f"arxiv-digest: {error}", file=sys.stderr)
        return error.status
    except StoreError as error:
        print(f"arxiv-digest: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing to report. Point stdout at /dev/null so Python's
        # final flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception:
        log.exception("unexpected error")
        print("arxiv-digest: unexpected error (see the log above)", file=sys.stderr)
        return EXIT_INTERNAL
