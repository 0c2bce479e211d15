"""The bot's settings: environment variables and an optional `.env`, built once at start-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.categories import normalise_categories

log = logging.getLogger(__name__)

MIN_ARXIV_INTERVAL = 3.0  # arXiv's terms: at most one request every 3 seconds


class SettingsError(Exception):
    """A setting has a bad value; the message names it in one line."""


class Settings(BaseSettings):
    """Every setting of the bot. See `.env.example` and the README's settings table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

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
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    discord_bot_token: SecretStr | None = None
    admin_user_ids: Annotated[tuple[int, ...], NoDecode] = ()

    @field_validator("default_categories", mode="before")
    @classmethod
    def _split_categories(cls, value: Any) -> Any:
        """Accept `cs.AI,cs.CL` (commas or spaces) and check each code."""
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not value:
            raise ValueError("needs at least one category, e.g. cs.AI,cs.CL")
        return normalise_categories(value)

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """Accept `123,456`."""
        if isinstance(value, str):
            parts = value.replace(",", " ").split()
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("must be numeric Telegram user ids, comma-separated")
            return tuple(int(part) for part in parts)
        return value

    @field_validator("telegram_bot_token", "discord_bot_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`TELEGRAM_BOT_TOKEN=` (empty) means no token."""
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        """Only SQLite for now: `sqlite:///relative.db` or `sqlite:////absolute/path.db`."""
        if not value.startswith("sqlite:///") or len(value) == len("sqlite:///"):
            raise ValueError("only sqlite is supported for now, e.g. sqlite:///arxiv-digest.db")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        """One of Python's logging level names."""
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def database_path(self) -> Path:
        """The SQLite file named by DATABASE_URL."""
        return Path(self.database_url.removeprefix("sqlite:///"))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; a bad value raises SettingsError naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"bad setting {name}: {message}") from None
