"""Discord: the adapter, its embed format, its slash commands and its settings.

`DISCORD` describes the platform to the wiring; importing this package loads only the settings
(discord.py, about 19 MB, is imported when a configured Discord adapter is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.discord.settings import DiscordSettings
from bot.platforms.port import ChatAdapter
from bot.platforms.spec import AdapterServices, PlatformSpec


def _build(settings: DiscordSettings, services: AdapterServices, options: Mapping[str, Any]) -> ChatAdapter:
    """The Discord adapter; discord.py is loaded only now."""
    from adapters.discord import adapter

    return adapter.from_settings(settings, services, options)


DISCORD = PlatformSpec(
    name="discord",
    title="Discord",
    settings_class=DiscordSettings,
    enabled_by="DISCORD_BOT_TOKEN",
    is_configured=lambda settings: settings.discord_bot_token is not None,
    build=_build,
)
