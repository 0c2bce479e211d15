"""Discord's own settings: the bot token, the server to sync commands to, the REST API and gateway URLs."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator

from bot.settings import EnvSettings, blank_is_none

DEFAULT_API_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"


class DiscordSettings(EnvSettings):
    """DISCORD_BOT_TOKEN (unset: no Discord), DISCORD_GUILD_ID and the URLs. See `.env.example`."""

    discord_bot_token: SecretStr | None = None
    discord_api_url: str = DEFAULT_API_URL
    discord_gateway_url: str = DEFAULT_GATEWAY_URL
    discord_guild_id: int | None = None

    @field_validator("discord_api_url", "discord_gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """An http(s) or ws(s) URL."""
        if not value.strip().lower().startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be a URL starting with https:// (or wss:// for the gateway)")
        return value.strip()

    @field_validator("discord_bot_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`DISCORD_BOT_TOKEN=` (empty) means no token."""
        return blank_is_none(value)

    @field_validator("discord_guild_id", mode="before")
    @classmethod
    def _guild_id(cls, value: Any) -> Any:
        """`DISCORD_GUILD_ID=` (empty) means none; otherwise a server id (a number)."""
        if isinstance(value, str):
            if not value.strip():
                return None
            if not value.strip().isdigit():
                raise ValueError("must be a Discord server id (a number; Developer Mode → Copy Server ID)")
            return int(value.strip())
        return value
