"""A third chat platform, written only in the test tree: a console of plain-text chats kept in memory.

It shows what a new platform needs and nothing more: its settings, a `PlatformSpec`, a format (the
shared packer `adapters.digest_packing` in its own plain style) and an adapter (the shared
lifecycle of `bot.platforms.lifecycle`). Registered by passing `platforms=(*PLATFORMS, CONSOLE)` to
`bot.main.app.serve`; the core, the settings and the CLI are not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import SecretStr

from adapters import digest_packing
from adapters.digest_packing import PaperText, Size, pack_digest
from adapters.markdown_output import render_markdown
from bot.commands.values import CommandRequest
from bot.models import Channel, Digest, Paper
from bot.platforms.lifecycle import (
    STOP_GRACE,
    CommandsInFlight,
    answer_or_apologise,
    connect_with_retries,
    reply_messages,
)
from bot.platforms.port import ChannelGoneError, OutgoingMessage, TemporaryDeliveryError
from bot.platforms.spec import AdapterServices, PlatformSpec
from bot.settings import EnvSettings

log = logging.getLogger(__name__)

PLATFORM = "console"
MAX_MESSAGE = 2000  # characters in one console message
_SEPARATOR = "\n\n"


# -- the format: the shared packer in a plain-text style ---------------------------------------------------


class ConsoleStyle:
    """Plain text, measured in characters: a `digest_packing.DigestStyle[str]`."""

    budget: Size = (MAX_MESSAGE,)

    def header_size(self, header: str) -> Size:
        """A header's characters."""
        return (len(header),)

    def block_size(self, block: str) -> Size:
        """A block's characters, with the blank line before it."""
        return (len(_SEPARATOR) + len(block),)

    def first_header(self, digest: Digest, *, inline: int, part: int, total: int) -> str:
        """Date and part, the count, the topics, where the rest are."""
        words = digest_packing.header_words(digest, digest_packing.ANNOUNCED_LABEL, inline, part, total)
        lines = [f"{words.title}{words.part}", words.count, words.topics, words.notice or ""]
        return "\n".join(line for line in lines if line)

    def next_header(self, digest: Digest, *, part: int, total: int) -> str:
        """The header of every later message."""
        return digest_packing.next_header_words(digest, part, total)

    def section_block(self, name: str, count: int, notes: Sequence[str], *, continued: bool) -> str | None:
        """A topic's line: `# name (count; notes)`."""
        label = digest_packing.clip(name, digest_packing.MAX_TOPIC_NAME)
        details = "continued" if continued else "; ".join([str(count), *notes])
        return f"# {label} ({details})"

    def paper_block(self, paper: Paper, text: PaperText) -> str:
        """Title, authors, abstract and the paper's id and link."""
        also = f"\nalso in: {text.also_in}" if text.also_in else ""
        return f"{text.title}\n{text.authors}\n{text.abstract}{also}\narXiv:{paper.arxiv_id} {paper.abs_url}"

    def bare_paper_block(self, paper: Paper) -> str:
        """The paper's id and link alone."""
        return f"arXiv:{paper.arxiv_id} {paper.abs_url}"


def render_digest(digest: Digest, *, max_inline_papers: int) -> list[OutgoingMessage]:
    """The digest as console messages; over the limit, the whole digest also as a Markdown file."""
    packed = pack_digest(digest, ConsoleStyle(), max_inline_papers=max_inline_papers)
    messages = [
        OutgoingMessage(text=_SEPARATOR.join([part.header, *part.blocks]), paper_ids=part.paper_ids)
        for part in packed.parts
    ]
    if packed.needs_file:
        caption, names = digest_packing.file_caption_words(digest)
        messages.append(
            OutgoingMessage(
                text=f"{caption}: {names}" if names else caption,
                paper_ids=packed.file_only,
                document_name=digest_packing.digest_file_name(digest.date),
                document=render_markdown(digest).encode("utf-8"),
            )
        )
    return messages


def split_text(text: str) -> list[str]:
    """A reply's text in messages of at most MAX_MESSAGE characters (the console takes any text)."""
    return [text[start : start + MAX_MESSAGE] for start in range(0, len(text), MAX_MESSAGE)] or ["…"]


# -- the platform's "server" and settings ---------------------------------------------------------------


class Console:
    """The console itself: what users type into each chat, and what the bot posted there."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.posted: defaultdict[str, list[OutgoingMessage]] = defaultdict(list)
        self.closed_chats: set[str] = set()  # chats the bot may no longer post to

    def type(self, chat_id: str, line: str) -> None:
        """A user types a line (a command) into a chat."""
        self.inbox.put_nowait((chat_id, line))

    async def connect(self) -> bool:
        """Nothing to reach: connected at once."""
        return True


class ConsoleSettings(EnvSettings):
    """CONSOLE_TOKEN turns the console on, as a token does a real platform."""

    console_token: SecretStr | None = None


# -- the adapter --------------------------------------------------------------------------------------------


class ConsoleAdapter:
    """Console chats: commands in, digests out; a `ChatAdapter`."""

    platform = PLATFORM

    def __init__(
        self, services: AdapterServices, console: Console, *, stop_grace: float = STOP_GRACE
    ) -> None:
        """`console` is the in-memory console the adapter reads and posts to."""
        self._services = services
        self._console = console
        self._in_flight = CommandsInFlight("console", stop_grace)
        self._handlers: set[asyncio.Task[None]] = set()
        self._running = False

    def render_digest(self, digest: Digest, channel: Channel) -> list[OutgoingMessage]:
        """The digest as console messages, within the channel's inline limit."""
        return render_digest(digest, max_inline_papers=channel.max_inline_papers)

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        return OutgoingMessage(text=digest_packing.empty_day_words(digest))

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Post one message; a closed chat is gone for the bot."""
        if not self._running:
            raise TemporaryDeliveryError("the console adapter is not running")
        if channel.chat_id in self._console.closed_chats:
            raise ChannelGoneError("the console chat was closed")
        self._console.posted[channel.chat_id].append(message)

    async def run(self, stop: asyncio.Event) -> None:
        """Read the console until `stop`; then let the commands in hand finish within the grace."""
        if await connect_with_retries("the console", self._console.connect, stop) is None:
            return
        self._running = True
        reader = asyncio.create_task(self._read())
        try:
            await stop.wait()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._in_flight.finish()
            self._running = False

    async def _read(self) -> None:
        """Handle every typed line in its own task, as a chat library would."""
        while True:
            chat_id, line = await self._console.inbox.get()
            task = asyncio.create_task(self._on_line(chat_id, line))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _on_line(self, chat_id: str, line: str) -> None:
        """Run a `/command args` line through the core and post the reply into the chat."""
        self._in_flight.track()
        name, _, args = line.removeprefix("/").partition(" ")
        request = CommandRequest(
            platform=PLATFORM, chat_id=chat_id, command=name, args=args, user_id=chat_id, is_admin=True
        )
        reply = await answer_or_apologise(
            self._services.commands.handle(request), f"/{name} in console chat {chat_id}"
        )
        holder = Channel(platform=PLATFORM, chat_id=chat_id)
        for message in reply_messages(
            reply,
            text=lambda text: [OutgoingMessage(text=piece) for piece in split_text(text)],
            digest=lambda digest, limit: self.render_digest(digest, replace(holder, max_inline_papers=limit)),
            empty_day=lambda digest: self.render_empty_day(digest, holder),
        ):
            self._console.posted[chat_id].append(message)


def _build(
    settings: ConsoleSettings, services: AdapterServices, options: Mapping[str, Any]
) -> ConsoleAdapter:
    """The console adapter; the test hands it its console through `options`."""
    return ConsoleAdapter(services, **options)


CONSOLE = PlatformSpec(
    name=PLATFORM,
    title="Console",
    settings_class=ConsoleSettings,
    enabled_by="CONSOLE_TOKEN",
    is_configured=lambda settings: settings.console_token is not None,
    build=_build,
)
