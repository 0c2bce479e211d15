"""Discord's slash commands: declared once here, each building the core's typed command from its options.

The names, descriptions and meaning are the core's (`bot.commands.table.COMMANDS`), the same as on
Telegram; this module only gives them Discord's shape (sub-commands, typed options, autocomplete).
Members may read a channel's settings (`/keywords list`, `/settings`, `/time` without options, …), so
only /subscribe and /unsubscribe, which always change something, carry the default permissions that
hide them from members without Manage Channels (discord.py honours `default_permissions` only on a
command or group, not on a sub-command). Who may change what is decided by the core
(`bot.commands.values.changes_chat`) from the adapter's `is_admin`: the default is only a hint.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from bot.commands.table import COMMANDS_BY_NAME, CommandExample, CommandInfo
from bot.commands.text import category_codes
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    DigestNow,
    EditFilters,
    Export,
    Help,
    ListTopics,
    Preview,
    RemoveTopic,
    Saved,
    SetCategories,
    SetTime,
    Status,
    Subscribe,
    Unsubscribe,
    Why,
    split_keywords,
)
from bot.models import Style
from bot.suggestions import suggest_categories, suggest_timezones


class CommandHandlers(Protocol):
    """What the declared commands call: the adapter's interaction handling."""

    async def run_command(self, interaction: discord.Interaction, command: Command) -> None:
        """Run a core command and answer the interaction."""

    async def digest(self, interaction: discord.Interaction, command: DigestNow) -> None:
        """/digest, deferred at once."""

    async def import_config(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """/topics import with a YAML attachment."""


def _describe(name: str) -> str:
    """A command's description from the core's table (Discord allows 1–100 characters)."""
    return COMMANDS_BY_NAME[name].description[:100]


class DiscordSyntax:
    """How slash commands are written, for the core's /help: `/keywords add words: diffusion`."""

    def offers(self, info: CommandInfo) -> bool:
        """Every command but /start (Discord lists commands itself)."""
        return info.name != "start"

    def example(self, info: CommandInfo, example: CommandExample) -> str:
        """`/time time: 08:00 timezone: Europe/Berlin`."""
        parts = [f"/{info.name}"]
        if example.action:
            parts.append(example.action)
        parts.extend(f"{option}: {value}" for option, value in example.options)
        return " ".join(parts)

    @property
    def extra_help(self) -> tuple[str, ...]:
        """Topics by name, and the config import as an attachment."""
        return (
            "Several topics: give /keywords, /exclude and /categories the topic option to change one.",
            "/topics import file: config.yml imports an awesome-daily-AI-arxiv config's topics.",
        )

    @property
    def admins(self) -> str:
        """Discord's right for it."""
        return "members who can Manage Channels"

    @property
    def admin_only_message(self) -> str:
        """Only Manage Channels changes settings."""
        return ADMIN_ONLY_MESSAGE


ADMIN_ONLY_MESSAGE = (
    "Only members who can Manage Channels here can change this channel's settings. Anyone can read"
    " them (/settings, /keywords list, /time, /topics list, …) and use /digest, /preview, /status and /help."
)
SYNTAX = DiscordSyntax()


def install_commands(tree: app_commands.CommandTree[Any], handlers: CommandHandlers) -> None:
    """Declare every slash command; each only builds the core's typed command from its options."""
    run = handlers.run_command

    @tree.command(name="help", description=_describe("help"))
    async def help_command(interaction: discord.Interaction) -> None:
        """/help."""
        await run(interaction, Help())

    @tree.command(name="digest", description=_describe("digest"))
    @app_commands.describe(
        keywords="one-off keywords, comma-separated (nothing is saved)",
        public="admins: show the answer to everyone in the channel (otherwise only you see it)",
    )
    async def digest_command(
        interaction: discord.Interaction, keywords: str | None = None, public: bool = False
    ) -> None:
        """/digest [keywords] [public]: whether a member may ask `public` is the adapter's to judge."""
        await handlers.digest(interaction, DigestNow(_keywords(keywords), public=public))

    @tree.command(name="preview", description=_describe("preview"))
    @app_commands.describe(keywords="keywords to try, comma-separated")
    async def preview_command(interaction: discord.Interaction, keywords: str) -> None:
        """/preview keywords."""
        await run(interaction, Preview(_keywords(keywords)))

    @tree.command(name="status", description=_describe("status"))
    async def status_command(interaction: discord.Interaction) -> None:
        """/status."""
        await run(interaction, Status())

    @tree.command(name="subscribe", description=_describe("subscribe"))
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.describe(
        keywords="keywords, comma-separated: VLM, vision language model",
        thread="post each day's digest in a thread of its own",
    )
    async def subscribe_command(
        interaction: discord.Interaction, keywords: str | None = None, thread: bool | None = None
    ) -> None:
        """/subscribe [keywords] [thread]."""
        await run(interaction, Subscribe(_keywords(keywords), own_thread=thread))

    @tree.command(name="unsubscribe", description=_describe("unsubscribe"))
    @app_commands.default_permissions(manage_channels=True)
    async def unsubscribe_command(interaction: discord.Interaction) -> None:
        """/unsubscribe."""
        await run(interaction, Unsubscribe())

    tree.add_command(_list_group(handlers, "keywords", "keywords, comma-separated"))
    tree.add_command(_list_group(handlers, "exclude", "words to exclude, comma-separated"))

    async def categories_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Category codes completing what was typed."""
        return [app_commands.Choice(name=code, value=code) for code in suggest_categories(current)]

    @tree.command(name="categories", description=_describe("categories"))
    @app_commands.describe(
        codes="arXiv codes (cs.CV cs.CL), an archive (cs), or default", topic="one topic only"
    )
    @app_commands.autocomplete(codes=categories_autocomplete)
    async def categories_command(
        interaction: discord.Interaction, codes: str | None = None, topic: str | None = None
    ) -> None:
        """/categories [codes] [topic]."""
        await run(interaction, SetCategories(category_codes(codes or ""), _text(topic)))

    async def timezone_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Time zone names matching what was typed."""
        return [app_commands.Choice(name=zone, value=zone) for zone in suggest_timezones(current)]

    @tree.command(name="time", description=_describe("time"))
    @app_commands.describe(time="local time HH:MM, or asap", timezone="IANA time zone, e.g. Europe/Berlin")
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def time_command(
        interaction: discord.Interaction, time: str | None = None, timezone: str | None = None
    ) -> None:
        """/time [time] [timezone]."""
        await run(interaction, SetTime(_text(time), _text(timezone)))

    @tree.command(name="settings", description=_describe("settings"))
    @app_commands.describe(
        style="how the digest's pages show each paper",
        file="also send the day's Markdown file with each digest (without a notification)",
        empty="post a short line on days with no match",
        ranking="order each topic's papers by what this channel's 👍/👎 taught",
    )
    async def settings_command(
        interaction: discord.Interaction,
        style: Literal["compact", "full", "titles"] | None = None,
        file: bool | None = None,
        empty: Literal["on", "off"] | None = None,
        ranking: Literal["on", "off"] | None = None,
    ) -> None:
        """/settings [style] [file] [empty] [ranking]: one command (and one change) whichever options are
        given."""
        await run(
            interaction,
            ChangeSettings(
                notify_empty=None if empty is None else empty == "on",
                style=None if style is None else Style(style),
                send_file=file,
                ranking=None if ranking is None else ranking == "on",
            ),
        )

    @tree.command(name="saved", description=_describe("saved"))
    async def saved_command(interaction: discord.Interaction) -> None:
        """/saved: only the asker sees the answer."""
        await run(interaction, Saved())

    @tree.command(name="export", description=_describe("export"))
    @app_commands.describe(
        format="BibTeX (arXiv's format) or RIS (Zotero, EndNote)",
        papers="your bookmarks (only you see the file), or today's digest of this channel",
    )
    async def export_command(
        interaction: discord.Interaction,
        format: Literal["bibtex", "ris"],  # the option as users see it (shadows a builtin)
        papers: Literal["saved", "today"] = "saved",
    ) -> None:
        """/export format [papers]."""
        await run(interaction, Export(format, papers))

    @tree.command(name="why", description=_describe("why"))
    @app_commands.describe(paper="an arXiv id (2511.07738) or its link")
    async def why_command(interaction: discord.Interaction, paper: str) -> None:
        """/why paper."""
        await run(interaction, Why(paper))

    tree.add_command(_topics_group(handlers))


def _list_group(handlers: CommandHandlers, name: str, option_text: str) -> app_commands.Group:
    """/keywords and /exclude: add, remove, set (replace the list), clear, list — each optionally for one
    named topic."""
    group = app_commands.Group(name=name, description=_describe(name))
    run = handlers.run_command
    field: Literal["keywords", "excludes"] = "keywords" if name == "keywords" else "excludes"

    @group.command(name="add", description=f"add {option_text}")
    @app_commands.describe(words=option_text, topic="one topic only (by name)")
    async def add(interaction: discord.Interaction, words: str, topic: str | None = None) -> None:
        """Add these to the list."""
        await run(interaction, EditFilters(field, "add", _keywords(words), _text(topic)))

    @group.command(name="remove", description=f"remove {option_text}")
    @app_commands.describe(words=option_text, topic="one topic only (by name)")
    async def remove(interaction: discord.Interaction, words: str, topic: str | None = None) -> None:
        """Remove these from the list."""
        await run(interaction, EditFilters(field, "remove", _keywords(words), _text(topic)))

    @group.command(name="set", description=f"replace the whole list with these {option_text}")
    @app_commands.describe(words=option_text, topic="one topic only (by name)")
    async def set_command(interaction: discord.Interaction, words: str, topic: str | None = None) -> None:
        """Replace the list."""
        await run(interaction, EditFilters(field, "set", _keywords(words), _text(topic)))

    @group.command(name="clear", description=f"remove all the {name}")
    @app_commands.describe(topic="one topic only (by name)")
    async def clear(interaction: discord.Interaction, topic: str | None = None) -> None:
        """Empty the list."""
        await run(interaction, EditFilters(field, "clear", (), _text(topic)))

    @group.command(name="list", description=f"show the {name}")
    @app_commands.describe(topic="one topic only (by name)")
    async def list_command(interaction: discord.Interaction, topic: str | None = None) -> None:
        """Show the list."""
        await run(interaction, EditFilters(field, None, (), _text(topic)))

    return group


def _topics_group(handlers: CommandHandlers) -> app_commands.Group:
    """/topics: list, add, remove, import (a YAML attachment)."""
    group = app_commands.Group(name="topics", description=_describe("topics"))
    run = handlers.run_command

    @group.command(name="list", description="show this channel's topics")
    async def list_command(interaction: discord.Interaction) -> None:
        """Show the list."""
        await run(interaction, ListTopics())

    @group.command(name="add", description="add a named topic (a section of the digest)")
    @app_commands.describe(name="the topic's name", keywords="keywords, comma-separated")
    async def add(interaction: discord.Interaction, name: str, keywords: str) -> None:
        """Add these to the list."""
        await run(interaction, AddTopic(name, _keywords(keywords)))

    @group.command(name="remove", description="remove a topic")
    @app_commands.describe(name="the topic's name")
    async def remove(interaction: discord.Interaction, name: str) -> None:
        """Remove these from the list."""
        await run(interaction, RemoveTopic(name))

    @group.command(name="import", description="replace the topics with an awesome-daily-AI-arxiv config.yml")
    @app_commands.describe(file="the YAML config file")
    async def import_command(interaction: discord.Interaction, file: discord.Attachment) -> None:
        """/topics import file."""
        await handlers.import_config(interaction, file)

    return group


def _keywords(text: str | None) -> tuple[str, ...]:
    """A comma-separated option as keywords."""
    return tuple(split_keywords(text or ""))


def _text(option: str | None) -> str | None:
    """An option's text, or None when it was not given (or left blank)."""
    return option.strip() if option and option.strip() else None
