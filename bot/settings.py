"""The bot's settings: environment variables and an optional `.env`, built once at start-up.

These are the platform-free ones; each chat platform declares its own (its token, its API URL) in
its package (`adapters/telegram/settings.py`, …), read the same way from the same environment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote, urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.categories import expand_categories
from bot.database_url import DatabaseUrl, DatabaseUrlError, parse_database_url

log = logging.getLogger(__name__)

MIN_ARXIV_INTERVAL = 3.0  # arXiv's terms: at most one request every 3 seconds

S = TypeVar("S", bound=BaseSettings)


class SettingsError(Exception):
    """A setting has a bad value; the message names it in one line."""


#: The anchor day's listing (2025-11-12), shipped in the package to try the bot offline.
SAMPLE_FEED = Path(__file__).resolve().parent / "data" / "listing-2025-11-12.rss.xml.gz"
SAMPLE_FEED_NAME = "sample"  # `--feed sample` (or ARXIV_RSS_URL=sample) names SAMPLE_FEED


def check_feed_location(value: str) -> str:
    """A feed base URL (http/https), a `file://` URL or a plain path; ValueError saying what is accepted.

    The word `sample` stands for the listing shipped with the package (SAMPLE_FEED).
    """
    value = value.strip()
    if value == SAMPLE_FEED_NAME:
        return str(SAMPLE_FEED)
    parsed = urlparse(value)
    scheme = parsed.scheme.lower()
    if not value or (scheme in ("http", "https") and not parsed.netloc):
        raise ValueError("must be a URL like https://rss.arxiv.org/rss, or a saved feed file")
    if scheme not in ("", "http", "https", "file"):
        raise ValueError(
            f"{scheme}: URLs are not supported: use an http(s) URL such as https://rss.arxiv.org/rss, "
            "a file:// URL or a path to a saved feed file"
        )
    return value


def local_feed_file(location: str) -> Path | None:
    """The file a feed location names (a `file://` URL or a plain path); None for http(s)."""
    parsed = urlparse(location)
    if parsed.scheme.lower() in ("http", "https"):
        return None
    if parsed.scheme.lower() == "file":
        return Path(unquote(parsed.path))
    return Path(location)


def blank_is_none(value: Any) -> Any:
    """An empty setting (`TELEGRAM_BOT_TOKEN=`) means unset; other text is stripped."""
    if isinstance(value, str):
        return value.strip() or None
    return value


class EnvSettings(BaseSettings):
    """Settings read from the environment and an optional `.env`, names case-insensitive.

    Every settings class of the bot (the core's, each platform's) derives from it, so they all read
    the same sources the same way; a name one class does not know is left to the others.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )


class Settings(EnvSettings):
    """The platform-free settings of the bot. See `.env.example` and the README's settings table."""

    database_url: str = "sqlite:///arxiv-digest.db"
    arxiv_rss_url: str = "https://rss.arxiv.org/rss"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    default_categories: Annotated[tuple[str, ...], NoDecode] = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
    arxiv_poll_interval: float = Field(default=600.0, ge=MIN_ARXIV_INTERVAL)
    arxiv_request_interval: float = Field(default=MIN_ARXIV_INTERVAL, ge=MIN_ARXIV_INTERVAL)
    arxiv_timeout: float = Field(default=60.0, gt=0)
    arxiv_max_retries: int = Field(default=4, ge=0, le=10)
    recovery_days: int = Field(default=7, ge=0, le=7)
    retention_days: int = Field(default=14, ge=14)
    log_level: str = "INFO"
    # 👍/👎 on digest pages and each chat's learned order; off: neither, and numpy is never imported.
    ranking: bool = True
    # `platform:id` each, or a bare number; the wiring checks them against the registered platforms.
    admin_user_ids: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("default_categories", mode="before")
    @classmethod
    def _split_categories(cls, value: Any) -> Any:
        """Accept `cs.AI,cs.CL` (commas or spaces), `cs` or `cs.*` for a whole archive; check each code."""
        categories = expand_categories(value if isinstance(value, str) else [str(v) for v in value])
        if not categories:
            raise ValueError("needs at least one category, e.g. cs.AI,cs.CL")
        return categories

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """Accept `123, telegram:456, discord:80351110224678912`: comma- or space-separated entries."""
        parts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        return tuple(str(part).strip() for part in parts)

    @field_validator("arxiv_rss_url")
    @classmethod
    def _feed_location(cls, value: str) -> str:
        """An http(s) URL, a `file://` URL or a path (a saved feed replayed offline); no other scheme."""
        return check_feed_location(value)

    @field_validator("arxiv_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        """An http(s) URL: the API is only ever asked over the network."""
        parsed = urlparse(value.strip())
        if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http(s) URL such as https://export.arxiv.org/api/query")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        """An SQLite file (`sqlite:///path.db`) or a PostgreSQL server (`postgresql://…`)."""
        try:
            return parse_database_url(value).url
        except DatabaseUrlError as error:
            raise ValueError(str(error)) from None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        """One of Python's logging level names."""
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def database(self) -> DatabaseUrl:
        """DATABASE_URL parsed: its engine, and for SQLite its file."""
        return parse_database_url(self.database_url)

    @property
    def database_path(self) -> Path:
        """The SQLite file named by DATABASE_URL (SQLite only: see `database`)."""
        path = self.database.path
        if path is None:
            raise SettingsError(f"DATABASE_URL {self.database.shown} is not an SQLite file")
        return path


def load_settings(**overrides: Any) -> Settings:
    """Build the core's settings once; a bad value raises SettingsError naming the setting."""
    return build_settings(Settings, **overrides)


def build_settings(settings_class: type[S], **overrides: Any) -> S:
    """Build one settings class (the core's or a platform's); a bad value raises SettingsError naming it."""
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"bad setting {name}: {message}") from None
