"""Chat commands, platform-free: adapters hand in typed commands (or text), and show the finished replies.

Replies are plain text (adapters escape them for their platform) or a digest to render.
Who is an admin the adapter says (`is_admin`), since it knows the platform's roles; which commands need
one is decided here, once, per typed command (`values.changes_chat`): reading settings is open to all.

Whatever a user sends, `CommandService.run`, `handle` (text) and `import_config` answer with a
`CommandReply`: a mistake gets a one-line explanation (`ok=False`), and an unexpected failure is logged
and answered with an apology, never a traceback. Every change is checked in full before anything is
stored, and stored with one write, so a refused command leaves the chat exactly as it was; the context's
(platform, chat id) is the only chat a command reads settings from or writes to.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields, replace
from enum import Enum
from typing import Any, assert_never

from bot.clock import Clock, utc_now
from bot.commands.delivery_settings import DeliveryCommands
from bot.commands.editing import ChannelEditor
from bot.commands.filters import FilterCommands
from bot.commands.on_demand import OnDemandCommands
from bot.commands.papers import PaperCommands
from bot.commands.status import StatusCommands
from bot.commands.table import ADMIN_ONLY_MESSAGE, COMMANDS_BY_NAME, CommandInfo, CommandSyntax, help_text
from bot.commands.text import needs_topic_names, parse_command
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    CommandContext,
    CommandError,
    CommandReply,
    CommandRequest,
    DigestNow,
    EditFilters,
    Export,
    Help,
    ImportTopics,
    ListTopics,
    Preview,
    RemoveTopic,
    Saved,
    SetCategories,
    SetTime,
    Start,
    Status,
    Subscribe,
    Unsubscribe,
    Why,
    changes_chat,
)
from bot.commands.wording import clean, clip
from bot.ports import Ranker, Store
from bot.views import ViewService

log = logging.getLogger(__name__)

MAX_ARGS_CHARS = 100_000  # far above any chat platform's message size
__all__ = [
    "ADMIN_ONLY_MESSAGE",
    "BLOCKED_MESSAGE",
    "INTERNAL_ERROR_MESSAGE",
    "TOO_LONG_MESSAGE",
    "CommandService",
]
INTERNAL_ERROR_MESSAGE = "Sorry, something went wrong on my side. Please try again in a little while."
TOO_LONG_MESSAGE = "That is far too long for me; please send something shorter."
BLOCKED_MESSAGE = (
    "Sorry, the operator of this bot has stopped its digests in this chat, so I can't send or change them"
    " here. If you think this is a mistake, please get in touch with whoever runs the bot."
)


def unknown_command_text(name: str, syntax: CommandSyntax) -> str:
    """An unknown command's answer, with the nearest command the platform offers ("did you mean …?")."""
    offered = [info.name for info in COMMANDS_BY_NAME.values() if syntax.offers(info)]
    close = difflib.get_close_matches(name, offered, n=1, cutoff=0.6)
    shown = clip(name, 32)
    if close:
        return f"Unknown command /{shown}. Did you mean /{close[0]}? /help lists every command."
    return f"Unknown command /{shown}. Try /help."


def _text_size(command: Command) -> int:
    """How many characters of user text a command carries."""
    size = 0
    for field in fields(command):
        value = getattr(command, field.name)
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, tuple):
            size += sum(len(item) for item in value if isinstance(item, str))
    return size


def _cleaned(command: Command) -> Command:
    """The command with every text in it made safe to store (see `wording.clean`)."""
    changes: dict[str, Any] = {}
    for field in fields(command):
        value = getattr(command, field.name)
        if isinstance(value, Enum):
            continue  # a choice (Style), not user text: it must stay the enum
        if isinstance(value, str):
            changes[field.name] = clean(value).strip()
        elif isinstance(value, tuple):
            changes[field.name] = tuple(clean(item) if isinstance(item, str) else item for item in value)
    return replace(command, **changes) if changes else command


class CommandService:
    """Runs chat commands against the store."""

    def __init__(
        self,
        store: Store,
        default_categories: Sequence[str],
        *,
        clock: Clock = utc_now,
        on_change: Callable[[], Awaitable[None]] | None = None,
        views: ViewService | None = None,
        ranker: Ranker | None = None,
    ) -> None:
        """`views`: where /digest stores its paged answers (default: one over the same store).

        `ranker`: the learned order /why explains; None when the operator switched ranking off.
        """
        self._editor = ChannelEditor(store, tuple(default_categories), clock, on_change)
        self.views = views or ViewService(store, default_categories, clock=clock)
        self._filters = FilterCommands(self._editor)
        self._delivery = DeliveryCommands(self._editor)
        self._on_demand = OnDemandCommands(self._editor, self.views)
        self._status = StatusCommands(self._editor)
        self._papers = PaperCommands(self._editor, self.views, ranker)
        # Commands that change a chat read it, change it and write it back; one at a time, so two
        # quick edits (two admins, or a double tap) never undo each other.
        self._write_lock = asyncio.Lock()

    async def run(self, context: CommandContext, command: Command) -> CommandReply:
        """Run one typed command; user mistakes come back as a one-line reply, never as an exception."""
        if _text_size(command) > MAX_ARGS_CHARS:
            return CommandReply(TOO_LONG_MESSAGE, ok=False)
        return await self._guarded(context, command.name, self._checked(context, _cleaned(command)))

    async def handle(self, request: CommandRequest) -> CommandReply:
        """Run one command typed as text (`/name args`), parsed by `bot.commands.text`."""
        name = request.command.strip().lstrip("/").lower()
        if name not in COMMANDS_BY_NAME:
            return CommandReply(unknown_command_text(clean(name), request.syntax), ok=False)
        if len(request.args) > MAX_ARGS_CHARS:
            return CommandReply(TOO_LONG_MESSAGE, ok=False)
        context = request.context
        return await self._guarded(
            context, name, self._parse_and_run(context, name, clean(request.args).strip())
        )

    async def import_config(self, request: CommandRequest, data: bytes) -> CommandReply:
        """Replace the chat's topics with those of an awesome-daily-AI-arxiv YAML config."""
        return await self.run(request.context, ImportTopics(data))

    @staticmethod
    def _refusal(context: CommandContext, command: Command | None, info: CommandInfo) -> CommandReply | None:
        """The answer when this command may not run as asked: a change (or, `command` None, a change
        that did not even parse) from someone who is not an admin. Reading is open to everyone."""
        changes = changes_chat(command) if command is not None else info.admin_only
        if changes and not context.is_admin:
            return CommandReply(context.syntax.admin_only_message, ok=False)
        return None

    async def _guarded(
        self, context: CommandContext, name: str, work: Awaitable[CommandReply]
    ) -> CommandReply:
        """Await a command: a CommandError becomes its answer, anything unexpected an apology (logged)."""
        try:
            return await work
        except CommandError as error:
            return CommandReply(str(error), ok=False)
        except Exception:
            log.exception("/%s failed in %s chat %s", name, context.platform, context.chat_id)
            return CommandReply(INTERNAL_ERROR_MESSAGE, ok=False)

    async def _checked(self, context: CommandContext, command: Command) -> CommandReply:
        """Refuse a change a member asks for; run the rest. Commands that may write (the changes, and
        /start) run one at a time."""
        refusal = self._refusal(context, command, COMMANDS_BY_NAME[command.name])
        if refusal is not None:
            return refusal
        if changes_chat(command) or isinstance(command, DigestNow):
            # The operator's block (`arxiv-digest channels --block`) is beyond any admin of the chat.
            stored = await self._editor.store.get_channel(context.platform, context.chat_id)
            if stored is not None and stored.blocked:
                return CommandReply(BLOCKED_MESSAGE, ok=False)
        if changes_chat(command) or isinstance(command, Start):
            async with self._write_lock:
                return await self._dispatch(context, command)
        return await self._dispatch(context, command)

    async def _parse_and_run(self, context: CommandContext, name: str, args: str) -> CommandReply:
        """Parse the text (knowing the chat's topic names when a `NAME:` prefix may be one), then run it.

        Text that does not parse is a member's refusal for an admin-only command (a member learns
        nothing from the usage of a change they may not make), else the explanation of the mistake.
        """
        topic_names: tuple[str, ...] = ()
        if needs_topic_names(name, args):
            topic_names = tuple(topic.name for topic in (await self._editor.load(context)).topics)
        try:
            command = parse_command(name, args, topic_names)
        except CommandError:
            refusal = self._refusal(context, None, COMMANDS_BY_NAME[name])
            if refusal is not None:
                return refusal
            raise
        return await self._checked(context, command)

    async def _dispatch(self, context: CommandContext, command: Command) -> CommandReply:
        """The handler of each command (mypy checks that every command has one)."""
        match command:
            case Start():
                return await self._status.start(context)
            case Help():
                return CommandReply(help_text(context.syntax))
            case Status():
                return await self._status.status(context)
            case (
                Subscribe()
                | EditFilters()
                | SetCategories()
                | ListTopics()
                | AddTopic()
                | RemoveTopic()
                | ImportTopics()
            ):
                return await self._filters.run(context, command)
            case Unsubscribe():
                return await self._delivery.unsubscribe(context)
            case SetTime():
                return await self._delivery.time(context, command)
            case ChangeSettings():
                return await self._delivery.settings(context, command)
            case DigestNow():
                return await self._on_demand.digest(context, command)
            case Preview():
                return await self._on_demand.preview(context, command)
            case Saved():
                return await self._papers.saved(context)
            case Export():
                return await self._papers.export(context, command)
            case Why():
                return await self._papers.why(context, command)
            case _:
                assert_never(command)
