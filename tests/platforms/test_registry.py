"""The registry of platforms: light to import, and each platform's library loaded only when it is built."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bot.main.platforms import PLATFORMS


def loaded_chat_libraries(code: str) -> set[str]:
    """Which of telegram / discord a fresh interpreter has imported after running `code`."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import sys
        print(",".join(sorted({name.split(".")[0] for name in sys.modules} & {"telegram", "discord"})))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return {name for name in result.stdout.strip().split(",") if name}


def test_the_registry_and_the_cli_import_no_chat_library() -> None:
    """Importing the CLI, the wiring and every platform descriptor loads neither chat library."""
    assert loaded_chat_libraries("import bot.main.cli, bot.main.app, bot.main.platforms") == set()


def test_building_the_telegram_adapter_never_loads_discord() -> None:
    """A Telegram-only bot builds its adapter through the registry without importing discord.py."""
    code = """
        import asyncio
        from bot.channels import ChannelRegistry
        from bot.commands.service import CommandService
        from bot.feedback import FeedbackService
        from bot.main.platforms import PLATFORMS
        from bot.platforms.spec import AdapterServices
        from adapters.telegram.settings import TelegramSettings

        spec = next(spec for spec in PLATFORMS if spec.name == "telegram")
        settings = TelegramSettings(_env_file=None, telegram_bot_token="1:secret-for-the-registry-0123456789")
        assert spec.is_configured(settings)
        commands = CommandService(None, ("cs.CV",))
        services = AdapterServices(
            commands=commands,
            channels=ChannelRegistry(None),
            views=commands.views,
            feedback=FeedbackService(None),
        )
        assert spec.build(settings, services, {}).platform == "telegram"
    """
    assert loaded_chat_libraries(code) == {"telegram"}


def test_every_registered_platform_has_its_own_name_and_settings() -> None:
    """The registry names each platform once, each with its own settings class and token setting."""
    names = [spec.name for spec in PLATFORMS]
    assert names == ["telegram", "discord"]
    assert len({spec.settings_class for spec in PLATFORMS}) == len(PLATFORMS)
    assert [spec.enabled_by for spec in PLATFORMS] == ["TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"]
