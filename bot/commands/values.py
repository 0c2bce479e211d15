"""What goes into a command and what comes out: who asks where, the typed commands, the reply, the error.

Every platform builds the same typed values: Telegram through the text parser (`bot.commands.text`),
Discord from its slash-command options. `Command` is the union of them all; the service dispatches on
it with a `match` that mypy checks for exhaustiveness.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Literal, assert_never

from bot.commands.table import TEXT_SYNTAX, CommandSyntax
from bot.models import DigestView, LoadedView, Style


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who sent a command, and where: the only chat the command reads settings from or writes to."""

    platform: str
    chat_id: str
    user_id: str | None = None
    is_admin: bool = False  # may change this chat's settings
    server_id: str | None = None  # the server (Discord guild) of the chat, if the platform has them
    syntax: CommandSyntax = TEXT_SYNTAX
    # When the platform says the command was sent (UTC-aware); None: now. A /subscribe is judged by
    # it, so one sent before an announcement was stored still gets that announcement.
    sent_at: dt.datetime | None = None
    thread_id: str | None = None  # the Telegram forum topic the command was sent in
    private: bool = False  # the answer is seen by the asker only (a Discord ephemeral reply)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as a text platform received it: `/name args`, for the text parser."""

    platform: str
    chat_id: str
    command: str  # without the slash or bot name: "subscribe"
    args: str = ""
    user_id: str | None = None
    is_admin: bool = False
    server_id: str | None = None
    syntax: CommandSyntax = TEXT_SYNTAX
    sent_at: dt.datetime | None = None
    thread_id: str | None = None

    @property
    def context(self) -> CommandContext:
        """Who asks, and where."""
        return CommandContext(
            self.platform,
            self.chat_id,
            self.user_id,
            self.is_admin,
            self.server_id,
            self.syntax,
            sent_at=self.sent_at,
            thread_id=self.thread_id,
        )


# -- the commands: one value per shape; `name` is the command's entry in the table ------------------
@dataclass(frozen=True, slots=True)
class Start:
    """/start: register the chat and explain the bot."""

    name: ClassVar[str] = "start"


@dataclass(frozen=True, slots=True)
class Help:
    """/help: every command, with examples in the asking platform's syntax."""

    name: ClassVar[str] = "help"


@dataclass(frozen=True, slots=True)
class Subscribe:
    """/subscribe [keywords]: add keywords to the first topic and turn the daily digest on."""

    keywords: tuple[str, ...] = ()
    own_thread: bool | None = None  # Discord: each day's digest in a thread of its own; None: unchanged
    name: ClassVar[str] = "subscribe"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """/unsubscribe: turn the daily digest off, keeping the filters."""

    name: ClassVar[str] = "unsubscribe"


@dataclass(frozen=True, slots=True)
class EditFilters:
    """/keywords and /exclude: show (action None), add, remove, set or clear one topic's list.

    `topic` names the topic (any case); None is the chat's first topic.
    """

    field: Literal["keywords", "excludes"]
    action: Literal["add", "remove", "set", "clear"] | None = None
    items: tuple[str, ...] = ()
    topic: str | None = None

    @property
    def name(self) -> str:
        """`keywords` or `exclude`, as the table names the command."""
        return "keywords" if self.field == "keywords" else "exclude"


@dataclass(frozen=True, slots=True)
class SetCategories:
    """/categories: show (codes None), set codes, or go back to the defaults ("default")."""

    codes: tuple[str, ...] | Literal["default"] | None = None
    topic: str | None = None  # one topic by name; None is every topic
    name: ClassVar[str] = "categories"


@dataclass(frozen=True, slots=True)
class SetTime:
    """/time: show (both None), or set the local time (`HH:MM` or `asap`) and/or the time zone.

    A None part stays as the chat has it. The texts are checked by the command, the same for every platform.
    """

    time: str | None = None
    zone: str | None = None
    name: ClassVar[str] = "time"


@dataclass(frozen=True, slots=True)
class ListTopics:
    """/topics: the chat's topics."""

    name: ClassVar[str] = "topics"


@dataclass(frozen=True, slots=True)
class AddTopic:
    """/topics add NAME: keywords."""

    topic: str
    keywords: tuple[str, ...]
    name: ClassVar[str] = "topics"


@dataclass(frozen=True, slots=True)
class RemoveTopic:
    """/topics remove NAME."""

    topic: str
    name: ClassVar[str] = "topics"


@dataclass(frozen=True, slots=True)
class ImportTopics:
    """An awesome-daily-AI-arxiv YAML config that replaces the chat's topics."""

    data: bytes
    name: ClassVar[str] = "topics"


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    """/settings: show (all None), or set the page style, the Markdown file, the empty-day notice and/or
    the learned order.

    A None part stays as the chat has it; several given parts are one change.
    """

    notify_empty: bool | None = None
    style: Style | None = None
    send_file: bool | None = None
    ranking: bool | None = None  # the learned order from the chat's votes
    name: ClassVar[str] = "settings"


@dataclass(frozen=True, slots=True)
class DigestNow:
    """/digest [keywords]: today's digest for the chat's filters, or for these keywords (nothing saved)."""

    keywords: tuple[str, ...] = ()
    public: bool = False  # Discord: an admin asks for the answer to be seen by everyone
    name: ClassVar[str] = "digest"


@dataclass(frozen=True, slots=True)
class Preview:
    """/preview keywords: how many papers they matched on each day of the last week."""

    keywords: tuple[str, ...] = ()
    name: ClassVar[str] = "preview"


@dataclass(frozen=True, slots=True)
class Status:
    """/status: the last announcement, why nothing came today, the chat's filters and deliveries."""

    name: ClassVar[str] = "status"


@dataclass(frozen=True, slots=True)
class Saved:
    """/saved: the asker's 🔖 bookmarks, shown to the asker alone."""

    name: ClassVar[str] = "saved"


ExportFormat = Literal["bibtex", "ris"]
ExportScope = Literal["saved", "today"]


@dataclass(frozen=True, slots=True)
class Export:
    """/export [bibtex|ris] [saved|today]: a citation file of the asker's bookmarks (privately, the
    default) or of the chat's latest digest; BibTeX unless RIS is asked for."""

    format: ExportFormat = "bibtex"
    scope: ExportScope = "saved"
    name: ClassVar[str] = "export"


@dataclass(frozen=True, slots=True)
class Why:
    """/why ID: why a paper ranks where it does for this chat (`paper` as typed: an id, versioned or not,
    or its arXiv URL)."""

    paper: str
    name: ClassVar[str] = "why"


#: The commands that change what a chat looks for (bot.commands.filters runs them).
FilterCommand = Subscribe | EditFilters | SetCategories | ListTopics | AddTopic | RemoveTopic | ImportTopics
#: Every command there is.
Command = (
    Start
    | Help
    | Status
    | Unsubscribe
    | SetTime
    | ChangeSettings
    | DigestNow
    | Preview
    | Saved
    | Export
    | Why
    | FilterCommand
)


def changes_chat(command: Command) -> bool:
    """Whether the command changes the chat's settings (so only an admin may send it in a group).

    The one place that decides: the reading forms (a list shown, settings shown) are open to everyone,
    whatever the command's name; /start only registers the chat, with defaults.
    """
    match command:
        case Start() | Help() | Status() | DigestNow() | Preview() | ListTopics():
            return False
        case Saved() | Export() | Why():
            return False
        case EditFilters():
            return command.action is not None
        case SetCategories():
            return command.codes is not None
        case SetTime():
            return command.time is not None or command.zone is not None
        case ChangeSettings():
            parts = (command.notify_empty, command.style, command.send_file, command.ranking)
            return any(part is not None for part in parts)
        case Subscribe() | Unsubscribe() | AddTopic() | RemoveTopic() | ImportTopics():
            return True
        case _:
            assert_never(command)


def answers_privately(command: Command) -> bool:
    """Whether the answer is for the asker's eyes only (their bookmarks), wherever they asked."""
    return isinstance(command, Saved) or (isinstance(command, Export) and command.scope == "saved")


@dataclass(frozen=True, slots=True)
class CommandReply:
    """What to answer: plain text, or a stored digest view to send as one paged message.

    With `view`, the platform sends the view's first page (its header says what `text` would) and then
    tells `ViewService.sent` where that message is. With `repeat_of`, the same /digest was answered in
    this chat moments ago: `text` says so, and the platform points to (replies to) that message.

    With `document`, the answer is that file (named `document_name`) with `text` as its caption. A
    `private` answer is for the asker alone: a Discord ephemeral reply; on Telegram the asker's private
    chat with the bot, and in a group only `private_notice` (one line) where the command was sent.
    """

    text: str
    ok: bool = True
    view: LoadedView | None = None
    repeat_of: DigestView | None = None
    document: bytes | None = None
    document_name: str | None = None
    private: bool = False
    private_notice: str = "I sent you the answer in our private chat."


class CommandError(Exception):
    """A user-caused problem; its message is the one-line answer."""


# -- text helpers -----------------------------------------------------------------------------------
def split_keywords(text: str) -> list[str]:
    """Comma-separated keywords; commas inside double quotes stay part of the keyword."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char in ",\n" and not in_quotes:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]
