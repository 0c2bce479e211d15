"""Telegram's own settings: the bot token, the Bot API server and the webhook, read like every other setting.

A token is checked for its shape here, so a mistyped or truncated one is refused at start-up in one
line (exit 2) instead of after minutes of retries: @BotFather's tokens are the bot's numeric id, a colon
and a secret of 35 characters of `A-Za-z0-9_-` (at least 30 are asked for, in case Telegram lengthens or
shortens it a little). No message ever quotes the token.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from bot.settings import EnvSettings, blank_is_none

TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,}")
# Telegram's rule for a webhook's secret_token is 1-256 of these; a short one is guessable, so 16 or more.
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,256}")
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the ports Telegram posts a webhook's updates to
DEFAULT_WEBHOOK_PORT = 8443


def looks_like_token(token: str) -> bool:
    """Whether a token has the shape of @BotFather's `<bot id>:<secret>`."""
    return TOKEN_SHAPE.fullmatch(token) is not None


class TelegramSettings(EnvSettings):
    """TELEGRAM_BOT_TOKEN (unset: no Telegram), TELEGRAM_API_URL and the webhook's. See `.env.example`.

    With TELEGRAM_WEBHOOK_URL set, updates come through python-telegram-bot's webhook server (every
    process of a deployment takes them, behind the operator's load balancer) instead of long polling,
    and TELEGRAM_WEBHOOK_SECRET is required.
    """

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    telegram_webhook_listen: str = "0.0.0.0"  # noqa: S104 - the webhook server listens behind a proxy
    telegram_webhook_port: int = Field(default=DEFAULT_WEBHOOK_PORT, ge=1, le=65535)

    @field_validator("telegram_bot_token", "telegram_webhook_url", "telegram_webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`TELEGRAM_BOT_TOKEN=` (empty) means no token; the same for the webhook's settings."""
        return blank_is_none(value)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """A token shaped like @BotFather's (`123456789:AA…`, 35 characters after the colon)."""
        if value is not None and not looks_like_token(value.get_secret_value()):
            raise ValueError(
                "does not look like a Telegram bot token (digits, a colon, then about 35 letters, digits, "
                "_ or -): copy it again from @BotFather"
            )
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """An http(s) URL (a self-hosted Bot API server, or a test's fake)."""
        if not value.strip().lower().startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be a URL starting with https:// (or wss:// for the gateway)")
        return value.strip()

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        """The public https:// URL Telegram posts updates to (port 443, 80, 88 or 8443: Telegram's rule)."""
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme.lower() != "https" or not parsed.hostname:
            raise ValueError(
                "must be the public https:// URL Telegram posts updates to, e.g. https://bot.example.org/telegram"
            )
        try:
            port = parsed.port
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        if port is not None and port not in WEBHOOK_PORTS:
            raise ValueError(f"may use only port 443, 80, 88 or 8443 (Telegram's rule), not {port}")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Required with a webhook: 16 to 256 of `A-Za-z0-9_-` (Telegram's alphabet for it)."""
        if value is None:
            if info.data.get("telegram_webhook_url") is not None:
                raise ValueError(
                    "is required with TELEGRAM_WEBHOOK_URL: 16 to 256 letters, digits, _ or - "
                    "(e.g. the output of `openssl rand -hex 32`)"
                )
            return None
        if SECRET_SHAPE.fullmatch(value.get_secret_value()) is None:
            raise ValueError(
                "must be 16 to 256 letters, digits, _ or - (e.g. the output of `openssl rand -hex 32`)"
            )
        return value

    @property
    def webhook_path(self) -> str:
        """The path the webhook server answers on: the one of TELEGRAM_WEBHOOK_URL (`/` when it has none)."""
        if self.telegram_webhook_url is None:
            return "/"
        return urlparse(self.telegram_webhook_url).path or "/"
