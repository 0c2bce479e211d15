"""`arxiv-digest db copy | status | upgrade`: move a deployment to another database, look inside, upgrade.

- `db copy SOURCE_URL [TARGET_URL]`: every table, SQLite ↔ PostgreSQL, into an empty target, verified by
  counting each table on both sides (`storage.copy`); a per-table table of the counts.
- `db status [URL] [--json]`: the engine, the URL without its password, the schema's migrations (applied,
  pending, or a database newer than this code), each table's rows and the sizes; read-only.
- `db upgrade [URL] [--dry-run]`: apply the pending migrations (what every start does), or list them.

URL and TARGET_URL default to DATABASE_URL (which keeps a password off the command line). A password
in a URL is never printed: every URL is shown redacted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bot.database_url import DatabaseUrl, DatabaseUrlError, parse_database_url
from bot.main.exits import EXIT_OK, EXIT_USAGE, ExitError
from bot.settings import Settings
from storage.copy import CopyRefusedError, TableCount, copy_database
from storage.inspection import (
    DatabaseReport,
    inspect_database,
    migration_file,
    newly_applied,
    refuse_a_newer_database,
    upgrade_database,
)
from storage.migrations import load_migrations
from storage.tables import NOT_COPIED, MissingDatabaseError


def add_database_commands(commands: Any) -> None:
    """Add `db` and its subcommands to the parser's subcommands."""
    db = commands.add_parser("db", help="copy the database to another engine, show its schema, upgrade it")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    copy = actions.add_parser(
        "copy", help="copy a whole deployment into an empty database (SQLite <-> PostgreSQL), verified"
    )
    copy.add_argument("source", metavar="SOURCE_URL", help="e.g. sqlite:///arxiv-digest.db")
    copy.add_argument(
        "target",
        nargs="?",
        metavar="TARGET_URL",
        help="an empty database, e.g. postgresql://user@host/db (default: DATABASE_URL)",
    )
    status = actions.add_parser("status", help="engine, schema version and migrations, rows and sizes")
    status.add_argument("url", nargs="?", metavar="URL", help="the database (default: DATABASE_URL)")
    status.add_argument("--json", action="store_true", help="the same as one JSON object")
    upgrade = actions.add_parser("upgrade", help="apply the pending schema migrations (as every start does)")
    upgrade.add_argument("url", nargs="?", metavar="URL", help="the database (default: DATABASE_URL)")
    upgrade.add_argument("--dry-run", action="store_true", help="list what would be applied; change nothing")


async def run_database_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run `db copy`, `db status` or `db upgrade`."""
    if args.db_command == "copy":
        target = _url(args.target, "TARGET_URL") if args.target else settings.database
        return await _copy(_url(args.source, "SOURCE_URL"), target, out)
    database = _url(args.url, "URL") if args.url else settings.database
    if args.db_command == "status":
        report = await inspect_database(database)
        print(json.dumps(_as_json(report), indent=2) if args.json else "\n".join(_status(report)), file=out)
        return EXIT_OK
    return await _upgrade(database, dry_run=args.dry_run, out=out)


def _where(database: DatabaseUrl) -> str:
    """An SQLite file's path, or a PostgreSQL URL without its password."""
    return str(database.path) if database.path is not None else database.shown


def _url(value: str, name: str) -> DatabaseUrl:
    """A URL given on the command line, or bad usage saying the forms."""
    try:
        return parse_database_url(value)
    except DatabaseUrlError as error:
        raise ExitError(f"{name} {error}", EXIT_USAGE) from None


# -- copy --------------------------------------------------------------------------------------------
async def _copy(source: DatabaseUrl, target: DatabaseUrl, out: TextIO) -> int:
    """Copy, then print each table's counts on both sides."""
    show_progress = sys.stderr.isatty()

    def progress(table: str, rows: int) -> None:
        if rows % 100_000 < 5_000:
            print(f"\r{table}: {rows:,} rows", end="", file=sys.stderr, flush=True)

    try:
        counts = await copy_database(source, target, progress=progress if show_progress else None)
    except CopyRefusedError as error:
        raise ExitError(" ".join(str(error).split()), EXIT_USAGE) from None
    if show_progress:
        print("\r\033[K", end="", file=sys.stderr)
    print(f"copied {_where(source)} to {_where(target)}", file=out)
    print(_table(("TABLE", "SOURCE", "TARGET"), [_count_row(count) for count in counts]), file=out)
    for table, why in NOT_COPIED.items():
        print(f"not copied: {table} ({why})", file=out)
    total = sum(count.target for count in counts)
    print(f"all {len(counts)} tables match: {total:,} rows", file=out)
    return EXIT_OK


def _count_row(count: TableCount) -> tuple[str, str, str]:
    """One table's line."""
    return (count.table, f"{count.source:,}", f"{count.target:,}")


# -- status ------------------------------------------------------------------------------------------
def _schema_line(report: DatabaseReport) -> str:
    """What the schema's version means for this code."""
    known = f"this version of arxiv-digest-bot knows V1-V{report.code_version}"
    if report.state == "newer":
        return (
            f"schema: V{report.version}, NEWER than this code ({known}): a newer version wrote it; "
            "upgrade the bot before running it on this database"
        )
    if report.state == "empty":
        return "schema: none yet (an empty database); `arxiv-digest db upgrade` or the first start applies it"
    if report.state == "pending":
        return (
            f"schema: V{report.version}, {len(report.pending)} migration(s) pending ({known}); "
            "`arxiv-digest db upgrade` (or the next start) applies them"
        )
    return f"schema: V{report.version}, up to date"


def _status(report: DatabaseReport) -> list[str]:
    """`db status` as lines."""
    lines = [f"engine: {report.engine}", f"database: {report.shown}"]
    if report.schema is not None:
        lines.append(f"schema name: {report.schema}")
    lines.append(_schema_line(report))
    if report.applied:
        lines.append("applied migrations:")
        width = max(len(f"V{m.version}__{m.name}") for m in report.applied)
        for migration in report.applied:
            label = f"V{migration.version}__{migration.name}"
            notes = []
            if migration.version in report.unknown:
                notes.append("unknown to this code")
            if migration.version in report.edited:
                notes.append("its file changed since it was applied")
            suffix = f"  ({'; '.join(notes)})" if notes else ""
            lines.append(f"  {label.ljust(width)}  {migration.applied_at}{suffix}")
    lines.append("pending migrations:" if report.pending else "pending migrations: none")
    lines.extend(f"  {pending.label}  ({pending.file})" for pending in report.pending)
    if report.tables:
        heading: tuple[str, ...] = (
            ("TABLE", "ROWS", "SIZE") if report.engine != "sqlite" else ("TABLE", "ROWS")
        )
        rows = [
            (table.name, f"{table.rows:,}", *(() if table.bytes is None else (_size(table.bytes),)))
            for table in report.tables
        ]
        lines.append(_table(heading, rows))
    if report.engine == "sqlite":
        files = ", ".join(f"{name} {_size(size)}" for name, size in report.sizes.items())
        lines.append(f"size: {_size(report.size_bytes)} ({files})")
    else:
        lines.append(
            f"size: {_size(report.size_bytes)} in the schema's tables; the whole database "
            f"{_size(report.sizes['database'])}"
        )
    return lines


def _as_json(report: DatabaseReport) -> dict[str, Any]:
    """`db status --json`: every field, plus the version and its state."""
    data = dataclasses.asdict(report)
    data["database"] = data.pop("shown")
    data["schema_name"] = data.pop("schema")
    data["tables"] = {table.pop("name"): table for table in data["tables"]}
    data["version"] = report.version
    data["state"] = report.state
    return data


# -- upgrade -----------------------------------------------------------------------------------------
async def _upgrade(database: DatabaseUrl, *, dry_run: bool, out: TextIO) -> int:
    """Apply the pending migrations and name each; with `dry_run`, only name them."""
    where = _where(database)
    if dry_run:
        try:
            report = await inspect_database(database)
        except MissingDatabaseError:
            print(f"no database at {where} yet: `db upgrade` would create it and apply:", file=out)
            print("\n".join(_would_apply(database)), file=out)
            print("dry run: nothing was changed", file=out)
            return EXIT_OK
        refuse_a_newer_database(report)
        if not report.pending:
            print(f"{where} is up to date (V{report.version}): nothing to apply", file=out)
        else:
            at = f"is at V{report.version}" if report.applied else "has no schema yet"
            print(f"{where} {at}; `db upgrade` would apply:", file=out)
            print("\n".join(f"  {m.label}  ({m.file})" for m in report.pending), file=out)
        print("dry run: nothing was changed", file=out)
        return EXIT_OK
    before, after = await upgrade_database(database)
    done = newly_applied(before, after)
    if before is None:
        print(f"created the database {where}", file=out)
    for migration in done:
        print(f"applied V{migration.version}__{migration.name} ({migration.applied_at})", file=out)
    print(f"{where} is up to date (V{after.version})" + ("" if done else ": nothing to apply"), file=out)
    return EXIT_OK


def _would_apply(database: DatabaseUrl) -> list[str]:
    """Every migration of the engine, as a new database gets them."""
    engine = database.engine
    return [f"  {m.label}  ({migration_file(engine, m)})" for m in load_migrations(engine=engine)]


# -- output ------------------------------------------------------------------------------------------
def _table(heading: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned table: the first column left, the others right."""
    everything = [tuple(heading), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in everything if i < len(row)) for i in range(len(heading))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ).rstrip()
        for row in everything
    )


def _size(size: int) -> str:
    """Bytes as `141.2 MB`."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
