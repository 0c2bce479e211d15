"""The `arxiv-digest` command: preview, fetch and run.

Exit statuses: 0 done; 2 bad usage, setting or filter; 3 no announcement today (weekend, holiday);
4 arXiv answered with an error (e.g. an unknown category); 5 arXiv unreachable or its answer broken;
1 anything unexpected (logged).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from adapters.markdown_output import render_json, render_markdown, render_text, render_topic_markdown
from bot.app import run_bot
from bot.categories import UnknownCategoryError, expand_categories
from bot.digests import build_digest
from bot.feeds import ArxivFeedError, BrokenFeedError, NoAnnouncement
from bot.gate import ArxivGate
from bot.ingest import IngestService
from bot.matching import QuerySyntaxError, validate_topic
from bot.models import Announcement, Digest, Topic
from bot.settings import Settings, SettingsError, load_settings
from bot.sources import ArxivSource, ArxivUnavailableError
from bot.topic_config import TopicConfigError, load_topic_config
from storage.sqlite_store import open_store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_ANNOUNCEMENT = 3
EXIT_ARXIV_ERROR = 4
EXIT_UNAVAILABLE = 5


class CommandError(Exception):
    """A one-line answer for the user, with the exit status to leave with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


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
        raise CommandError(str(error), EXIT_USAGE) from None
    topics: list[Topic] = []
    if args.config:
        try:
            topics = load_topic_config(Path(args.config))
        except TopicConfigError as error:
            raise CommandError(f"{args.config}: {error}", EXIT_USAGE) from None
        if categories:
            topics = [Topic(t.name, t.keywords, t.excludes, categories, t.announce_types) for t in topics]
    keywords = _split_terms(args.keywords)
    excludes = _split_terms(args.exclude)
    if keywords:
        name = ", ".join(keywords) if len(", ".join(keywords)) <= 60 else "Keywords"
        topics.append(
            Topic(name=name, keywords=tuple(keywords), excludes=tuple(excludes), categories=categories)
        )
    elif excludes and topics:
        topics = [
            Topic(t.name, t.keywords, t.excludes + tuple(excludes), t.categories, t.announce_types)
            for t in topics
        ]
    elif excludes:
        raise CommandError("--exclude needs --keywords or --config: say what to look for", EXIT_USAGE)
    if not topics:
        raise CommandError("say what to look for: --keywords/-k WORDS or --config FILE", EXIT_USAGE)
    for topic in topics:
        try:
            validate_topic(topic)
        except QuerySyntaxError as error:
            raise CommandError(f"bad filter in topic {topic.name!r}: {error}", EXIT_USAGE) from None
    fetch_categories = set(categories or settings.default_categories)
    for topic in topics:
        fetch_categories.update(topic.categories)
    return topics, tuple(sorted(fetch_categories))


def _make_source(settings: Settings, rss_url: str | None = None) -> ArxivSource:
    """The arXiv source with the process's politeness gate."""
    return ArxivSource(
        rss_url=rss_url or settings.arxiv_rss_url,
        api_url=settings.arxiv_api_url,
        gate=ArxivGate(min_interval=settings.arxiv_request_interval),
        timeout=settings.arxiv_timeout,
        max_retries=settings.arxiv_max_retries,
    )


def _progress(message: str) -> None:
    """Tell a person at a terminal what is slow; stay quiet in pipes."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


async def _fetch_announcement(source: ArxivSource, categories: tuple[str, ...], label: str) -> Announcement:
    """The current announcement, or a CommandError saying why there is none."""
    _progress(f"Fetching {'+'.join(categories)} from {label} …")
    try:
        outcome = await source.fetch_feed(categories)
    except ArxivFeedError as error:
        raise CommandError(str(error), EXIT_ARXIV_ERROR) from None
    except BrokenFeedError as error:
        raise CommandError(f"the feed is broken: {error}", EXIT_UNAVAILABLE) from None
    except ArxivUnavailableError as error:
        raise CommandError(f"arXiv is unavailable: {error}", EXIT_UNAVAILABLE) from None
    finally:
        await source.aclose()
    if isinstance(outcome, NoAnnouncement):
        when = f" on {outcome.date.isoformat()}" if outcome.date else ""
        raise CommandError(f"no announcement{when}: {outcome.reason}", EXIT_NO_ANNOUNCEMENT)
    return outcome


def _safe_filename(name: str) -> str:
    """A file name for a topic, like the anchor's hot_topic/{topic}.md."""
    cleaned = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._")
    return (cleaned or "topic")[:80]


def _write_topic_files(directory: Path, digest: Digest, out: TextIO) -> None:
    """One Markdown file per topic, like the anchor's hot_topic/{topic}.md."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for section in digest.topics:
            path = directory / f"{_safe_filename(section.topic.name)}.md"
            path.write_text(render_topic_markdown(section, digest), encoding="utf-8")
            print(f"{path}: {len(section.papers)} papers", file=out)
    except OSError as error:
        raise CommandError(f"cannot write to {directory}: {error.strerror or error}", EXIT_USAGE) from None


async def _preview(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest preview`: print (or write) a digest; needs no token and no database."""
    topics, categories = _preview_topics(args, settings)
    source = _make_source(settings, args.feed)
    announcement = await _fetch_announcement(source, categories, args.feed or settings.arxiv_rss_url)
    digest = build_digest(announcement, topics, settings.default_categories)
    if args.output:
        _write_topic_files(Path(args.output), digest, out)
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
    store = await open_store(settings.database_path)
    source = _make_source(settings, args.feed)
    try:
        service = IngestService(store, source, settings.default_categories)
        result = await service.ingest_once()
    finally:
        await source.aclose()
        await store.close()
    print(result.message, file=out)
    return {
        "new": EXIT_OK,
        "extended": EXIT_OK,
        "unchanged": EXIT_OK,
        "no_announcement": EXIT_NO_ANNOUNCEMENT,
    }.get(result.outcome, EXIT_UNAVAILABLE)


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest run`: the long-lived bot."""
    return await run_bot(settings)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="arxiv-digest",
        description="Post each day's matching arXiv papers to Telegram and Discord, or preview them here.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    preview = commands.add_parser(
        "preview", help="print today's digest for some keywords (no token, no database)"
    )
    preview.add_argument(
        "--feed", metavar="URL|PATH", help="feed base URL, or a saved feed file (default: live)"
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
    preview.add_argument("--output", metavar="DIR", help="write one Markdown file per topic into DIR")

    fetch = commands.add_parser("fetch", help="store the current announcement in the database")
    fetch.add_argument(
        "--feed", metavar="URL|PATH", help="feed base URL, or a saved feed file (default: live)"
    )

    commands.add_parser("run", help="run the bot (needs TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN)")
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
    except SettingsError as error:
        print(f"arxiv-digest: {error}", file=sys.stderr)
        return EXIT_USAGE
    # One-shot commands answer in one line; their retries and warnings are only logged when asked for.
    quiet = args.command != "run" and settings.log_level in {"INFO", "WARNING"}
    configure_logging("ERROR" if quiet else settings.log_level)
    handler = {"preview": _preview, "fetch": _fetch, "run": _run}[args.command]
    try:
        return asyncio.run(handler(args, settings, out))
    except CommandError as error:
        print(f"arxiv-digest: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("unexpected error")
        print("arxiv-digest: unexpected error (see the log above)", file=sys.stderr)
        return EXIT_INTERNAL
