"""Discord's own settings: the bot token, the server to sync commands to, the URLs and the shards.

A token is checked for its shape here, so a mistyped or truncated one is refused at start-up in one
line (exit 2) instead of after retries: a bot token is three dot-separated base64url parts, the first
the bot's user id (digits) in base64. No message ever quotes the token.

Sharding (Discord requires it past 2,500 servers): DISCORD_SHARD_COUNT shards in all, and
DISCORD_SHARD_IDS the ones this process runs (all of them when unset). Discord sends a server's events
to shard `(server_id >> 22) % DISCORD_SHARD_COUNT`, and DMs to shard 0 only.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from bot.settings import EnvSettings, blank_is_none

DEFAULT_API_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"
_PART = re.compile(r"[A-Za-z0-9_-]+")
MAX_SHARDS = 10_000  # far beyond any bot this serves; a larger count is a typo


def looks_like_token(token: str) -> bool:
    """Whether a token has a bot token's shape: three base64url parts, the first a user id in base64."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_PART.fullmatch(part) for part in parts):
        return False
    first = parts[0]
    try:
        user_id = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (binascii.Error, ValueError):
        return False
    return user_id.isdigit()


class DiscordSettings(EnvSettings):
    """DISCORD_BOT_TOKEN (unset: no Discord), DISCORD_GUILD_ID and the URLs. See `.env.example`."""

    discord_bot_token: SecretStr | None = None
    discord_api_url: str = DEFAULT_API_URL
    discord_gateway_url: str = DEFAULT_GATEWAY_URL
    discord_guild_id: int | None = None
    discord_shard_count: int | None = Field(default=None, ge=1, le=MAX_SHARDS)
    discord_shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None

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

    @field_validator("discord_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """A token shaped like Discord's: three dot-separated base64url parts."""
        if value is not None and not looks_like_token(value.get_secret_value()):
            raise ValueError(
                "does not look like a Discord bot token (three parts separated by dots): copy it again "
                "from the Developer Portal's Bot page"
            )
        return value

    @field_validator("discord_shard_count", mode="before")
    @classmethod
    def _empty_count_is_unset(cls, value: Any) -> Any:
        """`DISCORD_SHARD_COUNT=` (empty) means no sharding."""
        return blank_is_none(value)

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: Any) -> Any:
        """`0,1` (commas or spaces): each a shard id, a number."""
        value = blank_is_none(value)
        if value is None or not isinstance(value, str):
            return value
        parts = value.replace(",", " ").split()
        if not all(part.isdigit() for part in parts):
            raise ValueError("must be shard ids (numbers from 0), comma-separated, e.g. 0,1")
        return tuple(int(part) for part in parts)

    @field_validator("discord_shard_ids")
    @classmethod
    def _shard_ids(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        """Ids within 0..DISCORD_SHARD_COUNT-1, each once; they need DISCORD_SHARD_COUNT."""
        if value is None:
            return None
        count = info.data.get("discord_shard_count")
        if count is None:
            raise ValueError("needs DISCORD_SHARD_COUNT (how many shards the whole bot runs) as well")
        outside = [shard for shard in value if not 0 <= shard < count]
        if outside:
            raise ValueError(f"shard {outside[0]} is outside 0..{count - 1} (DISCORD_SHARD_COUNT={count})")
        if len(set(value)) != len(value):
            raise ValueError("names a shard twice")
        return value

    @property
    def shards(self) -> tuple[tuple[int, ...], int] | None:
        """(the shard ids this process runs, the shard count), or None when unsharded."""
        if self.discord_shard_count is None:
            return None
        ids = self.discord_shard_ids or tuple(range(self.discord_shard_count))
        return ids, self.discord_shard_count

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
