"""The chat platforms this build knows, and their settings read once at start-up.

A new platform is one package in `adapters/` exposing a `PlatformSpec`, and one line in `PLATFORMS`.
Importing this module loads only the platforms' settings classes: each adapter module, and its
platform's library, is imported when a configured platform is built (`PlatformSpec.build`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_settings import BaseSettings

from adapters.discord import DISCORD
from adapters.telegram import TELEGRAM
from bot.platforms.spec import PlatformSpec, admin_ids
from bot.settings import Settings, build_settings

#: Every platform this build knows: a new platform is one line here.
PLATFORMS: tuple[PlatformSpec[Any], ...] = (TELEGRAM, DISCORD)


def load_platform_settings(
    settings: Settings, platforms: Sequence[PlatformSpec[Any]] = PLATFORMS
) -> dict[str, BaseSettings]:
    """Each platform's settings by name, read from the environment and `.env` like the core's.

    ADMIN_USER_IDS (a core setting) is checked here against the platforms' names, so a bad entry
    stops every command at start-up, as any bad setting does. Raises SettingsError naming the setting.
    """
    loaded = {spec.name: build_settings(spec.settings_class) for spec in platforms}
    admin_ids(settings.admin_user_ids, platforms)
    return loaded


def enabling_settings(platforms: Sequence[PlatformSpec[Any]] = PLATFORMS) -> str:
    """The settings that turn a platform on: `TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN`."""
    names = [spec.enabled_by for spec in platforms]
    return " and/or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def no_adapter_message(platforms: Sequence[PlatformSpec[Any]] = PLATFORMS) -> str:
    """What `run` says when no platform is configured: which settings would turn one on."""
    return (
        f"arxiv-digest: no chat adapter to run: set {enabling_settings(platforms)} "
        "(or try `arxiv-digest preview -k WORDS`, which needs no token)"
    )
