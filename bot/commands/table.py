"""The command table: every chat command's name, description, examples, and how platforms write them.

Written once for every platform: menus, /help and the usage hints all come from `COMMANDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandExample:
    """One example of a command, in both shapes chat platforms take commands.

    `args` is what follows the command in a text command (`/keywords add diffusion`); `action` and
    `options` are the same as a slash command's sub-command and named options
    (`/keywords add words: diffusion`).
    """

    args: str = ""
    action: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """A command for menus and /help, written once for every platform."""

    name: str
    description: str
    # Its changes are for admins only; what only reads (bot.commands.values.changes_chat) is open to all.
    admin_only: bool
    examples: tuple[CommandExample, ...] = (CommandExample(),)


class CommandSyntax(Protocol):
    """How one platform writes commands, for /help and the usage hints in replies."""

    def offers(self, info: CommandInfo) -> bool:
        """Whether the platform has this command at all."""

    def example(self, info: CommandInfo, example: CommandExample) -> str:
        """The example as a user types it on this platform."""

    @property
    def extra_help(self) -> tuple[str, ...]:
        """Platform-specific closing lines of /help (topics by name, config import)."""

    @property
    def admins(self) -> str:
        """Who may change a chat's settings, in the platform's words (for /help's legend)."""

    @property
    def admin_only_message(self) -> str:
        """The one-line refusal of a change asked by someone who may not make it."""


ADMIN_ONLY_MESSAGE = (
    "Only chat admins can change this chat's settings. Anyone can read them (/settings, /keywords,"
    " /time, /topics, …) and use /digest, /preview, /status and /help."
)


def private_chat_hint(bot_username: str, command: str) -> str:
    """The one line in a group when the bot may not write to the asker privately yet (Telegram lets a
    bot write to a user only after the user started a chat with it)."""
    return (
        f"I can't message you privately yet: open a chat with @{bot_username}, press Start,"
        f" then send {command} again."
    )


#: The answer to plain text in a private chat (the adapters send it instead of staying silent).
PRIVATE_TEXT_HINT = "I only understand commands: /help lists them, and /subscribe starts a daily digest."


class TextCommandSyntax:
    """Commands typed as text: `/name arguments` (Telegram, and any chat without slash options)."""

    def offers(self, info: CommandInfo) -> bool:
        """Every command exists as text."""
        return True

    def example(self, info: CommandInfo, example: CommandExample) -> str:
        """`/keywords add diffusion, =GAN`."""
        return f"/{info.name} {example.args}".rstrip()

    @property
    def extra_help(self) -> tuple[str, ...]:
        """Topics by name and the config import, as text commands write them."""
        return (
            "Several topics: /keywords, /exclude and /categories change one of them when you start",
            "with its name: /keywords Robots: add humanoid · /categories Robots: cs.RO",
            "Send an awesome-daily-AI-arxiv config.yml (captioned /topics in groups) to import its topics.",
        )

    @property
    def admins(self) -> str:
        """Group admins."""
        return "chat admins, in groups"

    @property
    def admin_only_message(self) -> str:
        """Only chat admins change settings."""
        return ADMIN_ONLY_MESSAGE


TEXT_SYNTAX = TextCommandSyntax()


def _example(args: str, action: str | None = None, **options: str) -> CommandExample:
    """A CommandExample, options in the order given."""
    return CommandExample(args=args, action=action, options=tuple(options.items()))


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("start", "what this bot does, and this chat's settings", False),
    CommandInfo("help", "every command, with examples", False),
    CommandInfo(
        "subscribe",
        "add keywords and turn the daily digest on",
        True,
        (_example("VLM, vision language model", keywords="VLM, vision language model"),),
    ),
    CommandInfo("unsubscribe", "turn the daily digest off (filters are kept)", True),
    CommandInfo(
        "keywords",
        "show or change keywords",
        True,
        (
            _example("add diffusion, =GAN", "add", words="diffusion, =GAN"),
            _example("remove GAN", "remove", words="GAN"),
        ),
    ),
    CommandInfo(
        "exclude",
        "show or change excluded words",
        True,
        (_example("add survey", "add", words="survey"), _example("remove survey", "remove", words="survey")),
    ),
    CommandInfo(
        "categories",
        "show or set arXiv categories",
        True,
        (_example("cs.CV cs.CL", codes="cs.CV cs.CL"), _example("default", codes="default")),
    ),
    CommandInfo(
        "time",
        "when the daily digest comes",
        True,
        (
            _example("08:00 Europe/Berlin", time="08:00", timezone="Europe/Berlin"),
            _example("07:30", time="07:30"),
            _example("asap", time="asap"),
        ),
    ),
    CommandInfo(
        "topics",
        "several named topics, each a section",
        True,
        (
            _example("add Robots: embodied, =VLA", "add", name="Robots", keywords="embodied, =VLA"),
            _example("remove Robots", "remove", name="Robots"),
        ),
    ),
    CommandInfo(
        "settings",
        "page style, Markdown file, empty-day notice, learned order",
        True,
        (
            _example("style titles", style="titles"),
            _example("file on", file="True"),
            _example("empty off", empty="off"),
            _example("ranking off", ranking="off"),
        ),
    ),
    CommandInfo(
        "digest",
        "today's digest now (or for given keywords)",
        False,
        (_example(""), _example("diffusion, GAN", keywords="diffusion, GAN")),
    ),
    CommandInfo(
        "preview",
        "how many papers keywords matched this week",
        False,
        (_example("=VLM, MLLM", keywords="=VLM, MLLM"),),
    ),
    CommandInfo("status", "last announcement, filters, next delivery", False),
    CommandInfo("saved", "your 🔖 bookmarks, shown only to you", False),
    CommandInfo(
        "export",
        "a BibTeX or RIS file of your bookmarks (or of today's digest)",
        False,
        (_example("bibtex", format="bibtex"), _example("ris today", format="ris", papers="today")),
    ),
    CommandInfo(
        "why",
        "why a paper ranks where it does in this chat",
        False,
        (_example("2511.07738", paper="2511.07738"),),
    ),
)
COMMANDS_BY_NAME = {info.name: info for info in COMMANDS}


def usage(
    syntax: CommandSyntax, command: str, args: str = "", action: str | None = None, /, **options: str
) -> str:
    """One way to write a command on the asking platform: `/time 08:00` as text, `/time time: 08:00` as a
    slash command. `args` is the text form; `action` and `options` the slash form (see CommandExample)."""
    return syntax.example(COMMANDS_BY_NAME[command], CommandExample(args, action, tuple(options.items())))


def help_text(syntax: CommandSyntax) -> str:
    """/help: every command the platform offers, with examples in its syntax."""
    lines = [f"Commands (⚙ = changes only by {syntax.admins}; anyone may read the settings):"]
    for info in COMMANDS:
        if not syntax.offers(info):
            continue
        lines.append(f"/{info.name} — {info.description}{' ⚙' if info.admin_only else ''}")
        examples = "  ·  ".join(syntax.example(info, example) for example in info.examples)
        lines.append(f"    e.g. {examples}")
    lines += [
        "",
        "Keywords match anywhere in title or abstract, any case (VLM also matches LVLMs).",
        "Precise forms: =VLM whole word · ti:word title · abs:word abstract · au:Name author ·",
        'cat:cs.CV category · "exact, phrase" · AND OR NOT ( ) — e.g. ti:=VLM AND NOT survey',
        *syntax.extra_help,
    ]
    return "\n".join(lines)
