"""Wiring of the long-lived bot: settings in, store opened, adapters started, all run together."""

from __future__ import annotations

import logging
import sys

from bot.settings import Settings

log = logging.getLogger(__name__)

NO_TOKEN_MESSAGE = (
    "arxiv-digest: no chat adapter to run: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN "
    "(or try `arxiv-digest preview -k WORDS`, which needs no token)"
)


async def run_bot(settings: Settings) -> int:
    """Run the bot until stopped; returns the exit status."""
    if settings.telegram_bot_token is None and settings.discord_bot_token is None:
        print(NO_TOKEN_MESSAGE, file=sys.stderr)
        return 2
    print(
        "arxiv-digest: the Telegram and Discord adapters are not available in this version yet "
        "(TELEGRAM_BOT_TOKEN and DISCORD_BOT_TOKEN are read but unused)",
        file=sys.stderr,
    )
    return 2
