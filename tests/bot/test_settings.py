"""Settings: defaults, parsing and one-line errors naming the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings, local_feed_file

ALL_SETTINGS = [name.upper() for name in Settings.model_fields]


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
    assert settings.telegram_bot_token is None
    assert settings.discord_bot_token is None


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
        ("DATABASE_URL", "postgresql://localhost/db", "only sqlite"),
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
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    """A bad value raises one line that names the setting and says what is wrong."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message
    assert fragment in message
    assert "\n" not in message


def test_tokens_are_secret_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens never show in the settings' repr; an empty token counts as none."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-TOKEN")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "")
    settings = load_settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123456:SECRET-TOKEN"
    assert "SECRET-TOKEN" not in repr(settings)
    assert "SECRET-TOKEN" not in str(settings.model_dump())
    assert settings.discord_bot_token is None


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    """A `.env` file in the working directory supplies settings."""
    (tmp_path / ".env").write_text("ARXIV_POLL_INTERVAL=30\nADMIN_USER_IDS=1, 2\n", encoding="utf-8")
    settings = load_settings()
    assert settings.arxiv_poll_interval == 30
    assert settings.admin_user_ids == ("telegram:1", "telegram:2")


def test_admin_ids_name_their_platform() -> None:
    """ADMIN_USER_IDS takes telegram:ID and discord:ID; a bare number keeps meaning Telegram."""
    settings = load_settings(admin_user_ids="5, telegram:6, Discord:80351110224678912,discord:7")
    assert settings.admin_ids("telegram") == {5, 6}
    assert settings.admin_ids("discord") == {80351110224678912, 7}
    assert settings.admin_ids("slack") == frozenset()


@pytest.mark.parametrize("value", ["matrix:5", "discord:abc", "telegram:", "alice"])
def test_a_malformed_admin_id_is_one_line_naming_the_setting(value: str) -> None:
    """An admin id of an unknown platform, or not a number, is refused naming ADMIN_USER_IDS."""
    with pytest.raises(SettingsError, match=r"bad setting ADMIN_USER_IDS: .*telegram:ID or discord:ID"):
        load_settings(admin_user_ids=value)


def test_env_example_lists_every_setting() -> None:
    """`.env.example` and the README document every setting the class reads."""
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
    for name, field in Settings.model_fields.items():
        expected = _shown_default(field.default)
        documented = table[name.upper()].strip()
        assert documented == (f"`{expected}`" if expected else "—"), name
        assert assigned[name.upper()] == expected, name
