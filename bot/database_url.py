"""DATABASE_URL: which database the bot keeps everything in, and how to name it without its password.

Two engines: an SQLite file (the default, embedded, zero-setup) and a PostgreSQL server (several
processes, one deployment). The core only reads the URL; `storage` opens it.

- `sqlite:///relative/path.db` (three slashes) or `sqlite:////absolute/path.db` (four);
- `postgresql://user:password@host:5432/database` (also `postgres://`), or through a Unix socket:
  `postgresql://user@/database?host=/run/postgresql`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, urlsplit, urlunsplit

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

_POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseUrlError(ValueError):
    """DATABASE_URL names no database this bot can use; the message says the forms it takes."""


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A parsed DATABASE_URL: its engine and what that engine needs (never print `url` itself)."""

    engine: str  # SQLITE or POSTGRESQL
    url: str  # as given (with any password): only for the driver
    path: Path | None = None  # SQLite: the file

    @property
    def shown(self) -> str:
        """The URL as logs and errors show it: any password replaced by `***`."""
        return redact(self.url)


def parse_database_url(value: str) -> DatabaseUrl:
    """Parse DATABASE_URL, or raise `DatabaseUrlError` saying which forms are understood."""
    text = value.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == SQLITE:
        if not text.startswith("sqlite:///") or len(text) == len("sqlite:///"):
            raise DatabaseUrlError(
                "must name a file: sqlite:///relative/path.db (three slashes) or "
                "sqlite:////absolute/path.db (four)"
            )
        return DatabaseUrl(SQLITE, text, Path(text.removeprefix("sqlite:///")))
    if scheme in _POSTGRES_SCHEMES:
        return DatabaseUrl(POSTGRESQL, _checked_postgres(text))
    raise DatabaseUrlError(
        "must be sqlite:///path/to/file.db or postgresql://user:password@host:5432/database "
        "(or postgresql://user@/database?host=/run/postgresql for a Unix socket)"
    )


def _checked_postgres(text: str) -> str:
    """A PostgreSQL URL that names a database and a server (a host, or a socket directory)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise DatabaseUrlError(
            f"{redact(text)} is not a valid PostgreSQL URL: postgresql://user:password@host:5432/database"
        ) from None
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise DatabaseUrlError(
            f"{redact(text)} names no database: postgresql://user:password@host:5432/database"
        )
    socket_dirs = parse_qs(parts.query).get("host", [])
    if not parts.hostname and not socket_dirs:
        raise DatabaseUrlError(
            f"{redact(text)} names no server: give a host (postgresql://user@host/{database}) or a "
            f"socket directory (postgresql://user@/{database}?host=/run/postgresql)"
        )
    return text


def redact(url: str) -> str:
    """The URL with any password (in the authority or a `password=` query) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        if ":" in credentials:
            user = credentials.split(":", 1)[0]
            netloc = f"{user}:***@{host}"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={val}"
        for key, _, val in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))
