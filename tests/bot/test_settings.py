"""Settings (the core's and each platform's): defaults, parsing and one-line errors naming the setting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.main.platforms import PLATFORMS, load_platform_settings
from bot.platforms.spec import admin_ids
from bot.settings import Settings, SettingsError, load_settings, local_feed_file

#: The core's settings class and every registered platform's: together, every setting the bot reads.
SETTINGS_CLASSES: list[type[BaseSettings]] = [Settings, *(spec.settings_class for spec in PLATFORMS)]
ALL_FIELDS: dict[str, Any] = {
    name: field for cls in SETTINGS_CLASSES for name, field in cls.model_fields.items()
}
ALL_SETTINGS = [name.upper() for name in ALL_FIELDS]


def load_all() -> tuple[Settings, dict[str, BaseSettings]]:
    """What the CLI reads at start-up: the core's settings, then every platform's."""
    settings = load_settings()
    return settings, load_platform_settings(settings)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in an empty directory with none of the settings in the environment."""
    for name in ALL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    """With nothing set, the documented defaults apply."""
    settings = load_settings()
    assert settings.database_url == "sqlite:///arxiv-digest.db"
    assert settings.database_path == Path("arxiv-digest.db")
    assert settings.default_categories == ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
    assert settings.arxiv_poll_interval == 600
    assert settings.arxiv_request_interval == 3
    _, platforms = load_all()
    telegram, discord = platforms["telegram"], platforms["discord"]
    assert isinstance(telegram, TelegramSettings)
    assert isinstance(discord, DiscordSettings)
    assert telegram.telegram_bot_token is None
    assert telegram.telegram_api_url == "https://api.telegram.org"
    assert discord.discord_bot_token is None
    assert discord.discord_guild_id is None


def test_categories_are_split_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    """DEFAULT_CATEGORIES accepts commas or spaces and any letter case."""
    monkeypatch.setenv("DEFAULT_CATEGORIES", "cs.cv, CS.cl  stat.ML")
    assert load_settings().default_categories == ("cs.CV", "cs.CL", "stat.ML")


@pytest.mark.parametrize("value", ["cs", "cs.*", "CS.*, cs.CV"])
def test_default_categories_take_a_whole_archive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """DEFAULT_CATEGORIES=cs (or cs.*) means every cs. category, as everywhere else."""
    monkeypatch.setenv("DEFAULT_CATEGORIES", value)
    categories = load_settings().default_categories
    assert len(categories) == 40
    assert all(code.startswith("cs.") for code in categories)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://localhost/db", "sqlite:///path/to/file.db or postgresql://"),
        ("DATABASE_URL", "postgresql://localhost", "names no database"),
        ("DATABASE_URL", "postgresql:///db", "names no server"),
        ("DATABASE_URL", "sqlite://x.db", "must name a file: sqlite:///relative/path.db"),
        ("DEFAULT_CATEGORIES", "cs.AI,cs.XYZ", "cs.XYZ"),
        ("DEFAULT_CATEGORIES", " , ", "at least one category"),
        ("ARXIV_POLL_INTERVAL", "2", "greater than or equal to 3"),
        ("ARXIV_REQUEST_INTERVAL", "1", "greater than or equal to 3"),
        ("ARXIV_POLL_INTERVAL", "soon", "number"),
        ("LOG_LEVEL", "LOUD", "DEBUG"),
        ("ADMIN_USER_IDS", "12,abc", "is not a user id"),
        ("ARXIV_RSS_URL", "ftp://x", "ftp: URLs are not supported"),
        ("ARXIV_RSS_URL", "https:/rss.arxiv.org", "must be a URL like"),
        ("ARXIV_API_URL", "file:///tmp/api.xml", "http(s) URL"),
        ("ARXIV_API_URL", "api.xml", "http(s) URL"),
        ("TELEGRAM_API_URL", "api.telegram.org", "must be a URL starting with https://"),
        ("DISCORD_API_URL", "discord.com/api", "must be a URL starting with https://"),
        ("DISCORD_GATEWAY_URL", "gateway.discord.gg", "or wss:// for the gateway"),
        ("DISCORD_GUILD_ID", "my-server", "must be a Discord server id"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    """A bad value raises one line that names the setting and says what is wrong."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_all()
    message = str(caught.value)
    assert name in message
    assert fragment in message
    assert "\n" not in message


def test_tokens_are_secret_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens never show in the settings' repr; an empty token counts as none."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-TOKEN-0123456789abcdefghijklm")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "")
    _, platforms = load_all()
    telegram, discord = platforms["telegram"], platforms["discord"]
    assert isinstance(telegram, TelegramSettings)
    assert isinstance(discord, DiscordSettings)
    assert telegram.telegram_bot_token is not None
    assert telegram.telegram_bot_token.get_secret_value() == "123456:SECRET-TOKEN-0123456789abcdefghijklm"
    assert "SECRET-TOKEN" not in repr(telegram)
    assert "SECRET-TOKEN" not in str(telegram.model_dump())
    assert discord.discord_bot_token is None
    assert [spec.name for spec in PLATFORMS if spec.is_configured(platforms[spec.name])] == ["telegram"]


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    """A `.env` file in the working directory supplies settings."""
    (tmp_path / ".env").write_text(
        "ARXIV_POLL_INTERVAL=30\nADMIN_USER_IDS=1, 2\nDISCORD_GUILD_ID=42\n", encoding="utf-8"
    )
    settings, platforms = load_all()
    assert settings.arxiv_poll_interval == 30
    assert admin_ids(settings.admin_user_ids, PLATFORMS) == {"telegram": {1, 2}, "discord": frozenset()}
    discord = platforms["discord"]
    assert isinstance(discord, DiscordSettings)
    assert discord.discord_guild_id == 42


def test_admin_ids_name_their_platform() -> None:
    """ADMIN_USER_IDS takes telegram:ID and discord:ID; a bare number keeps meaning Telegram."""
    settings = load_settings(admin_user_ids="5, telegram:6, Discord:80351110224678912,discord:7")
    admins = admin_ids(settings.admin_user_ids, PLATFORMS)
    assert admins["telegram"] == {5, 6}
    assert admins["discord"] == {80351110224678912, 7}
    assert "slack" not in admins


@pytest.mark.parametrize("value", ["matrix:5", "discord:abc", "telegram:", "alice"])
def test_a_malformed_admin_id_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """An admin id of an unknown platform, or not a number, is refused at start-up naming ADMIN_USER_IDS."""
    monkeypatch.setenv("ADMIN_USER_IDS", f"5, {value}")
    with pytest.raises(SettingsError) as caught:
        load_all()
    assert str(caught.value) == (
        f"bad setting ADMIN_USER_IDS: {value!r} is not a user id: use numbers, as telegram:ID or discord:ID "
        "(a bare number is a Telegram id), comma-separated"
    )


def test_env_example_lists_every_setting() -> None:
    """`.env.example` and the README document every setting the core and the registered platforms read."""
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (Path(__file__).parents[2] / ".env.example").read_text(encoding="utf-8")
    for name in ALL_SETTINGS:
        assert f"\n{name}=" in example
        assert f"| `{name}` |" in readme


@pytest.mark.parametrize(
    ("value", "file"),
    [
        ("https://rss.arxiv.org/rss", None),
        ("HTTP://127.0.0.1:8080/rss", None),
        ("file:///data/saved%20feed.xml", Path("/data/saved feed.xml")),
        ("saved.xml", Path("saved.xml")),
    ],
)
def test_feed_locations_http_file_urls_and_paths(
    monkeypatch: pytest.MonkeyPatch, value: str, file: Path | None
) -> None:
    """ARXIV_RSS_URL takes an http(s) URL, a file:// URL or a path; local_feed_file names the file."""
    monkeypatch.setenv("ARXIV_RSS_URL", value)
    location = load_settings().arxiv_rss_url
    assert location == value
    assert local_feed_file(location) == file


def _shown_default(value: object) -> str:
    """A default as the README and .env.example write it."""
    if value is None or value == ():
        return ""
    if isinstance(value, bool):  # a switch is documented as on/off (pydantic reads both)
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_readme_and_env_example_give_the_codes_defaults() -> None:
    """Every default in the README's settings table and in `.env.example` is the one the code uses."""
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", readme, re.MULTILINE))
    assigned = dict(re.findall(r"^([A-Z_]+)=(.*)$", example, re.MULTILINE))
    for name, field in ALL_FIELDS.items():
        expected = _shown_default(field.default)
        documented = table[name.upper()].strip()
        assert documented == (f"`{expected}`" if expected else "—"), name
        assert assigned[name.upper()] == expected, name
