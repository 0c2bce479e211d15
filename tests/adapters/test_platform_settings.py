"""The platforms' settings: token shapes, the Telegram webhook, the Discord shards; each a one-line error."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.settings import DiscordSettings
from adapters.discord.settings import looks_like_token as discord_shaped
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.settings import looks_like_token as telegram_shaped
from bot.settings import SettingsError, build_settings
from tests.fakes.discord_model import DEFAULT_TOKEN as DISCORD_TOKEN
from tests.fakes.telegram_model import DEFAULT_TOKEN as TELEGRAM_TOKEN
from tests.test_cli import arxiv_digest

SECRET = "s3cret-Webhook_token-0123456789"


def telegram(**values: Any) -> TelegramSettings:
    """Telegram's settings from these values alone (no environment, no .env)."""
    return build_settings(TelegramSettings, _env_file=None, **values)


def discord(**values: Any) -> DiscordSettings:
    """Discord's settings from these values alone."""
    return build_settings(DiscordSettings, _env_file=None, **values)


@pytest.mark.parametrize(
    "token",
    [
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # the shape of python-telegram-bot's docs' example
        "7012345678:AAF-k3x_9Lq2ZzYwVtS8rQpOnMlKjIhGfEd",
        TELEGRAM_TOKEN,
    ],
)
def test_telegram_tokens_shaped_like_botfathers_pass(token: str) -> None:
    """A bot id, a colon and ~35 characters of A-Za-z0-9_- is a Telegram token's shape."""
    assert telegram_shaped(token)
    assert telegram(telegram_bot_token=token).telegram_bot_token is not None


@pytest.mark.parametrize(
    "token",
    [
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # the id and colon left out
        "110201543:AAHdqTcvCH1vGWJx",  # truncated
        "110201543 AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # copied with the URL's "bot"
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw!",
        "123:secret-for-this-test",
        DISCORD_TOKEN,  # the other platform's token in the wrong variable
    ],
)
def test_a_telegram_token_that_cannot_be_valid_is_one_line_naming_it(token: str) -> None:
    """A malformed TELEGRAM_BOT_TOKEN is refused in one line that names it and never quotes the token."""
    with pytest.raises(SettingsError) as caught:
        telegram(telegram_bot_token=token)
    message = str(caught.value)
    assert message.startswith("bad setting TELEGRAM_BOT_TOKEN: does not look like a Telegram bot token")
    assert "\n" not in message
    assert token not in message
    assert token.rpartition(":")[2] not in message


@pytest.mark.parametrize(
    "token",
    [
        DISCORD_TOKEN,
        "MTEwMjM0NTY3ODkwMTIzNDU2Nw.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
        "ODAzNTExMTAyMjQ2Nzg5MTI.YAbCdE.x_y-z0123456789abcdefghijklmn",
    ],
)
def test_discord_tokens_of_three_base64url_parts_pass(token: str) -> None:
    """Three dot-separated base64url parts, the first a user id in base64, is a Discord token's shape."""
    assert discord_shaped(token)
    assert discord(discord_bot_token=token).discord_bot_token is not None


@pytest.mark.parametrize(
    "token",
    [
        "MTEwMjM0NTY3ODkwMTIzNDU2Nw.GhIjKl",  # a part missing
        "MTEwMjM0NTY3ODkwMTIzNDU2Nw..abcdefghijklmnopqrstuvwxyz",
        "MTEwMjM0NTY3ODkwMTIzNDU2Nw.GhIjKl.abc.def",
        "Bot MTEwMjM0NTY3ODkwMTIzNDU2Nw.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
        "aGVsbG8gd29ybGQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",  # "hello world": no user id
        "MTEwMjM0NTY3ODkwMTIzNDU2Nw.GhIjKl.abc+def/ghi=",  # base64, not base64url
        TELEGRAM_TOKEN,
    ],
)
def test_a_discord_token_that_cannot_be_valid_is_one_line_naming_it(token: str) -> None:
    """A malformed DISCORD_BOT_TOKEN is refused in one line that names it and never quotes the token."""
    with pytest.raises(SettingsError) as caught:
        discord(discord_bot_token=token)
    message = str(caught.value)
    assert message.startswith("bad setting DISCORD_BOT_TOKEN: does not look like a Discord bot token")
    assert "\n" not in message
    assert token not in message
    assert all(part not in message for part in token.split(".") if len(part) > 3)


def test_an_empty_token_still_means_no_platform() -> None:
    """`TELEGRAM_BOT_TOKEN=` and `DISCORD_BOT_TOKEN=` (empty) are unset, not malformed."""
    assert telegram(telegram_bot_token="  ").telegram_bot_token is None
    assert discord(discord_bot_token="").discord_bot_token is None


@pytest.mark.parametrize(
    ("variable", "token"),
    [("TELEGRAM_BOT_TOKEN", "123456:too-short"), ("DISCORD_BOT_TOKEN", "not-a-discord-token")],
)
async def test_run_with_a_malformed_token_exits_2_at_once(tmp_path: Path, variable: str, token: str) -> None:
    """`arxiv-digest run` with a token whose shape cannot be valid exits 2 in a moment, in one line on
    stderr naming the variable, without trying to reach the platform (its URL leads nowhere) or echoing it."""
    env = {
        variable: token,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "DISCORD_API_URL": "http://127.0.0.1:9/api/v10",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
    }
    started = time.monotonic()
    run = await arxiv_digest("run", cwd=tmp_path, env=env)
    took = time.monotonic() - started
    assert run.status == 2, run.err
    assert run.out == ""
    [line] = run.err.strip().splitlines()
    assert line.startswith(f"arxiv-digest: bad setting {variable}: does not look like a ")
    assert token not in run.err
    assert took < 3.0  # the interpreter's start and the imports; no retries (they would take minutes)
    assert not (tmp_path / "digest.db").exists()


# -- the Telegram webhook ---------------------------------------------------------------------------------


def test_the_webhook_needs_an_https_url_and_a_secret() -> None:
    """TELEGRAM_WEBHOOK_URL: https:// on a port Telegram posts to; TELEGRAM_WEBHOOK_SECRET: required, long."""
    settings = telegram(
        telegram_webhook_url="https://bot.example.org/hook/telegram", telegram_webhook_secret=SECRET
    )
    assert settings.webhook_path == "/hook/telegram"
    assert (settings.telegram_webhook_listen, settings.telegram_webhook_port) == ("0.0.0.0", 8443)
    assert SECRET not in repr(settings)
    assert telegram().telegram_webhook_url is None  # no webhook: long polling
    cases = {
        ("http://bot.example.org/telegram", SECRET): "TELEGRAM_WEBHOOK_URL: must be the public https:// URL",
        ("https:///telegram", SECRET): "TELEGRAM_WEBHOOK_URL: must be the public https:// URL",
        (
            "https://bot.example.org:8080/t",
            SECRET,
        ): "TELEGRAM_WEBHOOK_URL: may use only port 443, 80, 88 or 8443",
        ("https://bot.example.org/t", None): "TELEGRAM_WEBHOOK_SECRET: is required with TELEGRAM_WEBHOOK_URL",
        ("https://bot.example.org/t", "short"): "TELEGRAM_WEBHOOK_SECRET: must be 16 to 256 letters",
        ("https://bot.example.org/t", "x" * 15 + "!"): "TELEGRAM_WEBHOOK_SECRET: must be 16 to 256 letters",
    }
    for (url, secret), fragment in cases.items():
        with pytest.raises(SettingsError) as caught:
            telegram(telegram_webhook_url=url, telegram_webhook_secret=secret)
        message = str(caught.value)
        assert message == f"bad setting {fragment}" or message.startswith(f"bad setting {fragment}"), message
        assert "\n" not in message
        if secret is not None:
            assert secret not in message
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_PORT"):
        telegram(telegram_webhook_port=70000)


# -- Discord shards ------------------------------------------------------------------------------------


def test_shard_settings_are_checked_in_one_line() -> None:
    """DISCORD_SHARD_IDS within 0..count-1, once each, and only with DISCORD_SHARD_COUNT; none: unsharded."""
    assert discord().shards is None
    assert discord(discord_shard_count="", discord_shard_ids="").shards is None
    assert discord(discord_shard_count="3").shards == ((0, 1, 2), 3)  # every shard in this process
    assert discord(discord_shard_count="4", discord_shard_ids="3, 1").shards == ((3, 1), 4)
    cases = {
        (None, "0,1"): "DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT",
        ("2", "0,2"): "DISCORD_SHARD_IDS: shard 2 is outside 0..1 (DISCORD_SHARD_COUNT=2)",
        ("2", "1,1"): "DISCORD_SHARD_IDS: names a shard twice",
        ("2", "one"): "DISCORD_SHARD_IDS: must be shard ids",
        ("2", "-1"): "DISCORD_SHARD_IDS: must be shard ids",
        ("0", "0"): "DISCORD_SHARD_COUNT: ",
        ("many", None): "DISCORD_SHARD_COUNT: ",
    }
    for (count, ids), fragment in cases.items():
        with pytest.raises(SettingsError) as caught:
            discord(discord_shard_count=count, discord_shard_ids=ids)
        assert str(caught.value).startswith(f"bad setting {fragment}"), caught.value
        assert "\n" not in str(caught.value)
