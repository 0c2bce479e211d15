"""Numbered schema migrations: `storage/migrations/<engine>/V{n}__{name}.sql`, applied at start-up.

Each file is read with `importlib.resources` (so it works from a wheel or a zip), applied in its own
transaction and recorded in `schema_migrations` with a checksum. A database that records a migration this
code does not know was written by a newer version and is refused, untouched. The `migrations/` folder
next to this module holds only those SQL files (no Python), so `storage.migrations` is always this module.
The files are the same numbered changes for each engine (`sqlite/`, `postgresql/`), in each one's SQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import logging
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import aiosqlite

from bot.ports import StoreError

log = logging.getLogger(__name__)

_MIGRATION_FILE = re.compile(r"V(?P<version>[1-9][0-9]*)__(?P<name>[A-Za-z0-9_]+)\.sql")
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})

SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


class MigrationError(StoreError):
    """A schema migration is malformed or failed (and was rolled back)."""


class SchemaTooNewError(MigrationError):
    """The database was migrated by a newer version of the bot than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema migration: `V{version}__{name}.sql` and its SQL text."""

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        """The migration's file stem, e.g. `V1__initial`."""
        return f"V{self.version}__{self.name}"

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, to notice a file edited after it was applied."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self) -> list[str]:
        """The SQL split into single statements (comments and string literals respected)."""
        statements: list[str] = []
        start = 0
        for match in re.finditer(";", self.sql):
            candidate = self.sql[start : match.end()]
            if sqlite3.complete_statement(candidate):
                statements.append(candidate.strip())
                start = match.end()
        if _LEADING_COMMENTS.sub("", self.sql[start:]).strip():
            raise MigrationError(f"migration {self.label} ends with an unterminated statement")
        for statement in statements:
            body = _LEADING_COMMENTS.sub("", statement)
            first_word = body.split(None, 1)[0].rstrip(";").upper() if body else ""
            if first_word in _TRANSACTION_WORDS:
                raise MigrationError(
                    f"migration {self.label} must not manage transactions ({first_word}); the runner does"
                )
        return [statement for statement in statements if _LEADING_COMMENTS.sub("", statement) != ";"]


def load_migrations(root: Traversable | None = None, *, engine: str = "sqlite") -> list[Migration]:
    """The migration files shipped in `storage/migrations/<engine>/`, by number (works from a wheel or a zip).

    Each engine has its own files, numbered alike: V3 is the same change of the schema in SQLite's
    SQL and in PostgreSQL's, so `db status` and `db copy` can compare versions across engines.
    """
    if root is not None:
        directory = root
    else:
        directory = importlib.resources.files("storage").joinpath("migrations").joinpath(engine)
    migrations: list[Migration] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named V<number>__<name>.sql")
        migrations.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    check_numbering(migrations)
    return migrations


def check_numbering(migrations: Sequence[Migration]) -> None:
    """Migrations must be numbered 1, 2, 3, … without gaps or duplicates."""
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps or duplicates, found {versions}")


async def apply_migrations(
    db: aiosqlite.Connection, migrations: Sequence[Migration], *, now: str, where: str = "the database"
) -> list[int]:
    """Apply the migrations not yet recorded in `schema_migrations`, each in a transaction; return them.

    `db` must be in autocommit mode (`isolation_level=None`). Refuses, changing nothing, a database
    that records a migration this code does not know.
    """
    ordered = sorted(migrations, key=lambda migration: migration.version)
    check_numbering(ordered)
    await db.execute(SCHEMA_MIGRATIONS)
    applied = {
        int(row[0]): str(row[1])
        for row in await db.execute_fetchall("SELECT version, checksum FROM schema_migrations")
    }
    refuse_a_newer_schema(applied, ordered, where=where)
    done: list[int] = []
    for migration in ordered:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                log.warning("migration %s was edited after it was applied to %s", migration.label, where)
            continue
        if await _apply_one(db, migration, now=now):
            log.info("applied migration %s to %s", migration.label, where)
            done.append(migration.version)
    return done


def refuse_a_newer_schema(applied: Iterable[int], known: Sequence[Migration], *, where: str) -> None:
    """Raise `SchemaTooNewError` when the database records a migration this code does not know."""
    versions = {migration.version for migration in known}
    unknown = sorted(set(applied) - versions)
    if unknown:
        newest = max(versions, default=0)
        raise SchemaTooNewError(
            f"{where} has schema migration(s) {', '.join(f'V{v}' for v in unknown)} that this version of "
            f"arxiv-digest-bot does not know (it knows up to V{newest}): it was written by a newer version. "
            "Upgrade the bot or restore a backup; nothing was changed."
        )


async def _apply_one(db: aiosqlite.Connection, migration: Migration, *, now: str) -> bool:
    """Run one migration and record it, in one transaction; False if another process just did."""
    statements = migration.statements()
    await db.execute("BEGIN IMMEDIATE")
    try:
        recorded = await db.execute_fetchall(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
        )
        if list(recorded):
            await db.execute("COMMIT")
            return False
        for statement in statements:
            await db.execute(statement)
        violations = list(await db.execute_fetchall("PRAGMA foreign_key_check"))
        if violations:
            raise MigrationError(
                f"migration {migration.label} leaves {len(violations)} foreign key violation(s); rolled back"
            )
        await db.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
            (migration.version, migration.name, migration.checksum, now),
        )
        await db.execute("COMMIT")
    except sqlite3.Error as error:
        await rollback(db)
        raise MigrationError(f"migration {migration.label} failed and was rolled back: {error}") from error
    except BaseException:
        await rollback(db)
        raise
    return True


async def rollback(db: aiosqlite.Connection) -> None:
    """Roll back the open transaction, if any (queued after every statement already issued)."""
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open (BEGIN itself failed)
        await db.execute("ROLLBACK")


__all__ = [
    "SCHEMA_MIGRATIONS",
    "Migration",
    "MigrationError",
    "SchemaTooNewError",
    "apply_migrations",
    "check_numbering",
    "load_migrations",
    "refuse_a_newer_schema",
    "rollback",
]
