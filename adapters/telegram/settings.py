"""Telegram's own settings: the bot token and the Bot API server, read like every other setting."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator

from bot.settings import EnvSettings, blank_is_none


class TelegramSettings(EnvSettings):
    """TELEGRAM_BOT_TOKEN (unset: no Telegram) and TELEGRAM_API_URL. See `.env.example`."""

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`TELEGRAM_BOT_TOKEN=` (empty) means no token."""
        return blank_is_none(value)

    @field_validator("telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """An http(s) URL (a self-hosted Bot API server, or a test's fake)."""
        if not value.strip().lower().startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be a URL starting with https:// (or wss:// for the gateway)")
        return value.strip()
