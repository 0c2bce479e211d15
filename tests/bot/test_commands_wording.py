"""Replies in the asking platform's words (issue 12, item 7), and Discord's slash commands as typed values.

Every hint a reply gives comes from `context.syntax`: on Discord no reply shows a text command's form
(`/keywords add diffusion`, `/time 08:00`), and the slash commands build the core's typed commands,
replace and clear a whole list included.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands

from adapters.discord.commands import ADMIN_ONLY_MESSAGE as DISCORD_REFUSAL
from adapters.discord.commands import SYNTAX as DISCORD_SYNTAX
from adapters.discord.commands import install_commands
from bot.commands.service import ADMIN_ONLY_MESSAGE, CommandService
from bot.commands.table import PRIVATE_TEXT_HINT, TEXT_SYNTAX, help_text
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    CommandContext,
    DigestNow,
    EditFilters,
    Help,
    ListTopics,
    Preview,
    RemoveTopic,
    SetCategories,
    SetTime,
    Status,
    Subscribe,
    Unsubscribe,
)
from bot.models import Channel, Style, Topic
from storage.sqlite_store import SqliteStore

NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=dt.UTC)
ADMIN = CommandContext("discord", "55", is_admin=True, server_id="9", syntax=DISCORD_SYNTAX)
MEMBER = CommandContext("discord", "55", server_id="9", syntax=DISCORD_SYNTAX)
# A command name followed by an action, then what must be an option (`name:`) on Discord.
_SLASH = re.compile(r"/(\w+)((?: (?:add|remove|set|clear|list|import)\b)?)( \S+)?")
_PROSE = {"turns", "starts", "adds", "lists", "shows", "chooses", "the", "is", "or", "and", "·", "—"}


def telegram_forms(text: str) -> list[str]:
    """The command mentions in `text` that are written as text commands, not as slash commands."""
    found = []
    for match in _SLASH.finditer(text):
        following = (match[3] or "").strip()
        if following and not following.endswith(":") and following.strip("().,;?") not in _PROSE:
            found.append(match[0].rstrip(".,;?"))
    return found


def test_the_form_check_can_fail() -> None:
    """The check finds text forms and passes slash forms."""
    assert telegram_forms("Use /keywords add diffusion or /time 08:00.") == [
        "/keywords add diffusion",
        "/time 08:00",
    ]
    assert telegram_forms("Use /keywords add words: WORDS, /keywords clear or /topics list lists them.") == []


@pytest.fixture
def service(store: SqliteStore) -> CommandService:
    """The command service over the real store."""
    return CommandService(store, ("cs.CV",), clock=lambda: NOW)


DISCORD_ASKS: list[tuple[CommandContext, Command]] = [
    (ADMIN, Help()),
    (ADMIN, Subscribe()),
    (ADMIN, Unsubscribe()),
    (ADMIN, Status()),
    (ADMIN, Preview()),
    (ADMIN, ListTopics()),
    (ADMIN, SetTime()),
    (ADMIN, SetTime("8")),
    (ADMIN, SetTime(zone="Berlin")),
    (ADMIN, ChangeSettings()),
    (ADMIN, SetCategories()),
    (ADMIN, EditFilters("keywords")),
    (ADMIN, EditFilters("excludes")),
    (ADMIN, EditFilters("keywords", "add")),
    (ADMIN, EditFilters("keywords", "add", ("x",), "Nope")),
    (ADMIN, AddTopic("", ())),
    (ADMIN, AddTopic("Papers", ("x",))),
    (ADMIN, RemoveTopic("")),
    (ADMIN, RemoveTopic("Nope")),
    (MEMBER, EditFilters("keywords", "add", ("x",))),
]


@pytest.mark.parametrize(("context", "command"), DISCORD_ASKS, ids=lambda value: repr(value)[:60])
async def test_no_discord_reply_shows_a_text_command(
    service: CommandService, store: SqliteStore, context: CommandContext, command: Command
) -> None:
    """Every answer to Discord (hints, usage lines, errors, /help) writes commands as slash commands."""
    await store.save_channel(Channel("discord", "55", server_id="9", topics=(Topic("Papers", ("a1",)),)))
    reply = await service.run(context, command)
    assert telegram_forms(reply.text) == [], reply.text


async def test_discord_hints_in_slash_syntax(service: CommandService, store: SqliteStore) -> None:
    """The exact hints the trial found in Telegram syntax: /time, /keywords, /topics, /settings."""
    await store.save_channel(Channel("discord", "55", server_id="9", topics=(Topic("Papers", ("a1",)),)))
    time = (await service.run(ADMIN, SetTime())).text
    assert "/time time: 08:00 timezone: Europe/Berlin" in time
    assert "/time time: asap" in time
    keywords = (await service.run(MEMBER, EditFilters("keywords"))).text
    assert keywords.endswith(
        "Use /keywords add words: WORDS, /keywords remove words: WORDS, /keywords set words: WORDS"
        " or /keywords clear."
    )
    topics = (await service.run(MEMBER, ListTopics())).text
    assert "Add: /topics add name: NAME keywords: keywords · remove: /topics remove name: NAME" in topics
    settings = (await service.run(MEMBER, ChangeSettings())).text
    assert "(/settings style: compact|full|titles)" in settings
    assert "(/settings file: True|False)" in settings


async def test_help_in_each_platforms_words(service: CommandService) -> None:
    """/help's legend names who may change settings on each platform; examples follow its syntax."""
    discord_help = help_text(DISCORD_SYNTAX)
    assert discord_help.startswith(
        "Commands (⚙ = changes only by members who can Manage Channels; anyone may read the settings):"
    )
    assert "/settings style: titles" in discord_help
    assert "max" not in discord_help.split("\n\n")[0]
    assert telegram_forms(discord_help) == []
    telegram_help = help_text(TEXT_SYNTAX)
    assert telegram_help.startswith("Commands (⚙ = changes only by chat admins, in groups;")
    assert "/settings style titles  ·  /settings file on  ·  /settings empty off" in telegram_help


async def test_the_refusal_is_in_each_platforms_words(service: CommandService) -> None:
    """A member's change is refused in Discord's words on Discord, in the chat-admin words on Telegram."""
    discord_reply = await service.run(MEMBER, Subscribe(("x",)))
    assert discord_reply.text == DISCORD_REFUSAL
    assert DISCORD_REFUSAL.startswith(
        "Only members who can Manage Channels here can change this channel's settings."
    )
    telegram = CommandContext("telegram", "1")
    assert (await service.run(telegram, Subscribe(("x",)))).text == ADMIN_ONLY_MESSAGE


def test_the_private_text_hint_is_one_line_for_every_platform() -> None:
    """The hint for plain text in a private chat is one line and names only commands every platform has."""
    assert "\n" not in PRIVATE_TEXT_HINT
    assert telegram_forms(PRIVATE_TEXT_HINT) == []
    assert "/help" in PRIVATE_TEXT_HINT


# -- Discord's slash commands build the typed commands -------------------------------------------------------
class Handlers:
    """Records what the declared commands hand the adapter."""

    def __init__(self) -> None:
        """Nothing yet."""
        self.commands: list[Command] = []

    async def run_command(self, interaction: discord.Interaction, command: Command) -> None:
        """Record a command."""
        self.commands.append(command)

    async def digest(self, interaction: discord.Interaction, command: DigestNow) -> None:
        """Record /digest."""
        self.commands.append(command)

    async def import_config(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Not used here."""


@pytest.fixture
async def tree() -> AsyncIterator[tuple[app_commands.CommandTree[Any], Handlers]]:
    """Every slash command declared on a tree of an unconnected client."""
    client = discord.Client(intents=discord.Intents.none())
    declared: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    handlers = Handlers()
    install_commands(declared, handlers)
    yield declared, handlers
    await client.close()


def slash(declared: app_commands.CommandTree[Any], path: str) -> Any:
    """The command at `keywords set` (a group's sub-command) or `settings`."""
    name, _, sub = path.partition(" ")
    found: Any = declared.get_command(name)
    return found.get_command(sub) if sub else found


CALLS: list[tuple[str, dict[str, Any], Command]] = [
    ("keywords set", {"words": "VLM, MLLM"}, EditFilters("keywords", "set", ("VLM", "MLLM"))),
    ("keywords clear", {}, EditFilters("keywords", "clear")),
    (
        "exclude set",
        {"words": "survey", "topic": "Robots"},
        EditFilters("excludes", "set", ("survey",), "Robots"),
    ),
    ("exclude clear", {"topic": " "}, EditFilters("excludes", "clear")),
    ("keywords list", {}, EditFilters("keywords")),
    ("subscribe", {"keywords": "GAN", "thread": True}, Subscribe(("GAN",), own_thread=True)),
    ("subscribe", {}, Subscribe()),
    ("digest", {"public": True}, DigestNow(public=True)),
    ("digest", {"keywords": "x"}, DigestNow(("x",))),
    ("settings", {"style": "titles", "file": False}, ChangeSettings(style=Style.TITLES, send_file=False)),
    ("settings", {"empty": "on"}, ChangeSettings(notify_empty=True)),
    ("settings", {}, ChangeSettings()),
]


@pytest.mark.parametrize(("path", "options", "typed"), CALLS, ids=lambda value: str(value)[:40])
async def test_slash_commands_build_the_typed_commands(
    tree: tuple[app_commands.CommandTree[Any], Handlers], path: str, options: dict[str, Any], typed: Command
) -> None:
    """Each slash command with its options becomes the core's typed command."""
    declared, handlers = tree
    await slash(declared, path).callback(None, **options)
    assert handlers.commands == [typed]


def test_the_new_options_are_declared(tree: tuple[app_commands.CommandTree[Any], Handlers]) -> None:
    """set/clear for both lists; /settings style (3 choices), file (bool), empty, and no max any more."""
    declared, _ = tree
    for group in ("keywords", "exclude"):
        assert [each.name for each in declared.get_command(group).commands] == [  # type: ignore[union-attr]
            "add",
            "remove",
            "set",
            "clear",
            "list",
        ]
    settings = {each.name: each for each in slash(declared, "settings").parameters}
    assert list(settings) == ["style", "file", "empty", "ranking"]
    assert [choice.value for choice in settings["style"].choices] == ["compact", "full", "titles"]
    assert settings["file"].type is discord.AppCommandOptionType.boolean
    assert {each.name for each in slash(declared, "subscribe").parameters} == {"keywords", "thread"}
    assert {each.name for each in slash(declared, "digest").parameters} == {"keywords", "public"}


def test_only_the_always_changing_commands_are_hidden_from_members(
    tree: tuple[app_commands.CommandTree[Any], Handlers],
) -> None:
    """Reads are for everyone, so only /subscribe and /unsubscribe keep the Manage Channels default."""
    declared, _ = tree
    hidden = {each.name for each in declared.get_commands() if each.default_permissions is not None}
    assert hidden == {"subscribe", "unsubscribe"}
