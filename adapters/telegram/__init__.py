"""Telegram: the adapter, its HTML format, its rate limiter, its log filters and its settings.

`TELEGRAM` describes the platform to the wiring; importing this package loads only the settings
(python-telegram-bot is imported when a configured Telegram adapter is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.telegram.settings import TelegramSettings
from bot.platforms.port import ChatAdapter
from bot.platforms.spec import AdapterServices, PlatformSpec


def _build(settings: TelegramSettings, services: AdapterServices, options: Mapping[str, Any]) -> ChatAdapter:
    """The Telegram adapter; python-telegram-bot is loaded only now."""
    from adapters.telegram import adapter

    return adapter.from_settings(settings, services, options)


TELEGRAM = PlatformSpec(
    name="telegram",
    title="Telegram",
    settings_class=TelegramSettings,
    enabled_by="TELEGRAM_BOT_TOKEN",
    is_configured=lambda settings: settings.telegram_bot_token is not None,
    build=_build,
    bare_admin_ids=True,  # ADMIN_USER_IDS predates Discord: a bare number is a Telegram user id
)
