"""`arxiv-digest preview` and `fetch`: today's announcement from arXiv (or a saved feed), shown or stored."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from adapters.markdown_output import render_json, render_markdown, render_text, render_topic_markdown
from bot.arxiv_client.common import ArxivUnavailableError
from bot.arxiv_client.source import ArxivSource
from bot.categories import UnknownCategoryError, expand_categories
from bot.commands.wording import plural
from bot.digests import build_digest
from bot.exports import BIBTEX_SUFFIX, RIS_SUFFIX, render_bibtex, render_ris
from bot.feeds import ArxivError, ArxivFeedError, BrokenFeedError, NoAnnouncement
from bot.gate import ArxivGate
from bot.ingest import IngestResult, IngestService
from bot.main.exits import (
    EXIT_ARXIV_ERROR,
    EXIT_NO_ANNOUNCEMENT,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ExitError,
)
from bot.main.progress import tell_terminal, terminal_progress
from bot.matching import validate_topic
from bot.models import Announcement, Digest, Topic
from bot.query import QuerySyntaxError
from bot.schedule import arxiv_today
from bot.settings import Settings, check_feed_location, local_feed_file
from bot.topic_config import TopicConfigError, load_topic_config
from storage.open import open_database

log = logging.getLogger(__name__)


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
    "bibtex": (BIBTEX_SUFFIX, lambda digest: render_bibtex(digest.papers)),
    "ris": (RIS_SUFFIX, lambda digest: render_ris(digest.papers)),
}


def _write_topic_files(directory: Path, digest: Digest, out: TextIO, output_format: str) -> None:
    """One file per topic in the chosen format, like the anchor's hot_topic/{topic}.md."""
    suffix, render = _TOPIC_FILES[output_format]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for section in digest.topics:
            path = directory / f"{_safe_filename(section.topic.name)}{suffix}"
            path.write_text(render(replace(digest, topics=(section,))), encoding="utf-8")
            print(f"{path}: {plural(len(section.papers), 'paper')}", file=out)
    except OSError as error:
        raise ExitError(f"cannot write to {directory}: {error.strerror or error}", EXIT_USAGE) from None


async def run_preview(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
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
    elif output_format == "bibtex":
        print(render_bibtex(digest.papers), file=out, end="")
    elif output_format == "ris":
        print(render_ris(digest.papers), file=out, end="")
    else:
        print(render_text(digest), file=out, end="")
    return EXIT_OK


def _refusal(result: IngestResult, oldest: dt.date | None, retention_days: int) -> str:
    """Why `fetch` stored nothing, and what to do, in one line."""
    found = result.announcement
    if oldest is not None and found is not None and found.date < oldest:
        return (
            f"the announcement of {found.date.isoformat()} is older than RETENTION_DAYS={retention_days} "
            f"keeps (before {oldest.isoformat()}): not stored, since no chat would get it and the bot "
            "would prune it at once; add --force to store it anyway"
        )
    return f"{result.message}; nothing was stored (--force cannot change that)"


async def run_fetch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`arxiv-digest fetch`: ingest the current announcement into the store and say what was stored.

    Into a database that serves chats, an announcement older than RETENTION_DAYS is refused unless
    `--force` (no chat would get it, and the next pruning would drop it); one older than the ledger
    keeps is refused by the store whatever the options.
    """
    location = _feed_location(args, settings)
    store = await open_database(settings.database)
    source = _make_source(settings, location)
    oldest: dt.date | None = None
    try:
        if not args.force and await store.list_channels(active_only=False):
            oldest = arxiv_today(dt.datetime.now(dt.UTC)) - dt.timedelta(days=settings.retention_days)
        service = IngestService(
            store,
            source,
            settings.default_categories,
            retention_days=settings.retention_days,
            refuse_before=oldest,
        )
        result = await service.ingest_once()
    finally:
        await source.aclose()
        await store.close()
    if result.outcome == "refused":
        raise ExitError(_refusal(result, oldest, settings.retention_days), EXIT_USAGE)
    if result.outcome == "no_announcement":
        raise ExitError(result.message, EXIT_NO_ANNOUNCEMENT)
    if result.error is not None:  # arXiv's error feed (4) or no usable answer (5), as in `preview`
        raise _arxiv_failure(result.error, location)
    if result.outcome == "error":
        raise ExitError(result.message, EXIT_UNAVAILABLE)
    print(result.message, file=out)
    return EXIT_OK
