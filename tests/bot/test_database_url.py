"""DATABASE_URL: the forms each engine takes, and a password that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.database_url import POSTGRESQL, SQLITE, DatabaseUrlError, parse_database_url, redact


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///arxiv-digest.db", Path("arxiv-digest.db")),
        ("sqlite:////data/bot.db", Path("/data/bot.db")),
    ],
)
def test_sqlite_urls_name_a_file(url: str, path: Path) -> None:
    """Three slashes: relative; four: absolute."""
    parsed = parse_database_url(url)
    assert (parsed.engine, parsed.path) == (SQLITE, path)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://digest:s3cret@db.internal:5432/arxiv",
        "postgres://digest@db.internal/arxiv",
        "postgresql://digest@/arxiv?host=/run/postgresql",
    ],
)
def test_both_usual_postgresql_forms_are_taken(url: str) -> None:
    """A host and port with a password, or a Unix socket directory in `host=`."""
    parsed = parse_database_url(url)
    assert (parsed.engine, parsed.url, parsed.path) == (POSTGRESQL, url, None)


def test_the_password_never_shows_in_the_url_a_log_or_error_prints() -> None:
    """`shown` (what logs and errors print) hides the password, in the authority or the query."""
    assert parse_database_url("postgresql://digest:s3cret@db:5432/arxiv").shown == (
        "postgresql://digest:***@db:5432/arxiv"
    )
    assert redact("postgresql://digest@/arxiv?host=/run/pg&password=s3cret") == (
        "postgresql://digest@/arxiv?host=/run/pg&password=***"
    )
    with pytest.raises(DatabaseUrlError) as caught:
        parse_database_url("postgresql://digest:s3cret@db:notaport/arxiv")
    assert "s3cret" not in str(caught.value)
    assert "postgresql://digest:***@db:notaport/arxiv" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/x", "must be sqlite:///path/to/file.db or postgresql://"),
        ("sqlite://relative.db", "three slashes"),
        ("postgresql://digest:pw@db:5432/", "names no database"),
        ("postgresql://digest@/arxiv", "names no server"),
    ],
)
def test_a_url_no_engine_can_use_says_which_forms_work(url: str, says: str) -> None:
    """One message, naming the forms that work."""
    with pytest.raises(DatabaseUrlError, match=says):
        parse_database_url(url)
