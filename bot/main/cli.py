"""The `arxiv-digest` command: the parser, logging, `run`, and the one place errors become exit statuses.

Exit statuses: 0 done; 2 bad usage, setting or filter (a missing feed file, an unknown channel id, an
announcement `fetch` refuses);
3 no announcement today (weekend, holiday); 4 arXiv answered with an error (e.g. an unknown
category); 5 arXiv unreachable or its answer broken (for `run`: also Telegram or Discord unreachable
through the start-up retries); 6 the database cannot be used (or does not exist
yet, for `status` and `channels`, or needs migrating, for `status`); 7 `status` found the bot not doing
its job; 1 anything unexpected (logged). Every error is one line on stderr,
`arxiv-digest: ...`, and the same condition gives the same status in every command.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from pydantic_settings import BaseSettings

from bot.main.app import run_bot
from bot.main.exits import (
    EXIT_DATABASE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    ExitError,
)
from bot.main.fetching import run_fetch, run_preview
from bot.main.operator import manage_channels, show_status
from bot.main.platforms import enabling_settings, load_platform_settings
from bot.ports import StoreError
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

PACKAGE = "arxiv-digest-bot"


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
    # httpx logs every request URL at INFO, and a Bot API URL contains the bot token; the arxiv
    # library logs each full query URL and page at INFO, which says nothing the bot's own lines don't.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "discord.gateway", "arxiv"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # aiosqlite logs every statement it runs at DEBUG: LOG_LEVEL=DEBUG is for the bot's own lines.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


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
    preview.add_argument(
        "--format",
        choices=["markdown", "json", "text", "bibtex", "ris"],
        help="default: text on a terminal; bibtex and ris: one citation per paper, for Zotero and LaTeX",
    )
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
    fetch.add_argument(
        "--force",
        action="store_true",
        help="store an announcement older than RETENTION_DAYS even into a database that serves chats",
    )

    commands.add_parser("run", help=f"run the bot (needs {enabling_settings()})")
    status = commands.add_parser(
        "status",
        help="the last feed check, announcement, channels and deliveries, from the database only;"
        " exit 7 when the bot is not doing its job",
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for monitoring")
    channels = commands.add_parser(
        "channels", help="list the subscribed chats, turn one off or on, or block one"
    )
    switch = channels.add_mutually_exclusive_group()
    switch.add_argument("--deactivate", type=int, metavar="ID", help="turn off this chat's daily digest")
    switch.add_argument("--activate", type=int, metavar="ID", help="turn on this chat's daily digest")
    switch.add_argument(
        "--block",
        type=int,
        metavar="ID",
        help="stop this chat until --unblock, whatever its admins do (no digest, no change)",
    )
    switch.add_argument("--unblock", type=int, metavar="ID", help="lift the operator's block of this chat")
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
        "preview": run_preview,
        "fetch": run_fetch,
        "run": lambda args, settings, out: _run(args, settings, out, platform_settings),
        "status": show_status,
        "channels": manage_channels,
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
