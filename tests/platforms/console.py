"""A third chat platform, written only in the test tree: a console of plain-text chats kept in memory.

It shows what a new platform needs and nothing more: its settings, a `PlatformSpec`, a format (pages
of plain text whose "buttons" are `bot.views` press data) and an adapter (the shared lifecycle of
`bot.platforms.lifecycle`, pages turned through `AdapterServices.views`). Registered by passing
`platforms=(*PLATFORMS, CONSOLE)` to `bot.main.app.serve`; the core, the settings and the CLI are not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from adapters import digest_packing
from bot.commands.values import CommandRequest
from bot.models import Channel, Digest, LoadedView
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
from bot.views import PagePress, decode_press, encode_page

log = logging.getLogger(__name__)

PLATFORM = "console"
PRESS = "\x00press:"  # what `Console.press` puts in the inbox: no one types it
MAX_MESSAGE = 2000  # characters in one console message
_SEPARATOR = "\n\n"


# -- the format: pages of plain text ---------------------------------------------------------------------

PAPERS_PER_PAGE = 5


def page_count(view: LoadedView) -> int:
    """How many pages the view has (at least one)."""
    return max(1, -(-len(view.papers) // PAPERS_PER_PAGE))


def render_page(view: LoadedView, page: int) -> OutgoingMessage:
    """One page of the view as plain text; its "buttons" are the press data of the other pages."""
    count = page_count(view)
    page = min(max(page, 0), count - 1)
    first = page * PAPERS_PER_PAGE
    shown = view.papers[first : first + PAPERS_PER_PAGE]
    header = (
        f"arXiv digest · {view.view.announcement_date.isoformat()}\n"
        f"{view.matched_count} of {view.view.announced_count} matched"
        f" · papers {first + 1}-{first + len(shown)} of {len(view.papers)}"
    )
    blocks = [
        digest_packing.clip(f"{paper.title}\narXiv:{paper.arxiv_id} {paper.abs_url}", MAX_MESSAGE // 8)
        for paper in shown
    ]
    assert view.view.id is not None
    buttons = tuple(
        encode_page(view.view.id, target, view.view.style)
        for target in ((page - 1) % count, (page + 1) % count)
    )
    return OutgoingMessage(
        text=_SEPARATOR.join([header, *blocks]), paper_ids=view.view.paper_ids, payload=buttons
    )


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

    def press(self, chat_id: str, index: int, data: str) -> None:
        """A user presses a button (`data`) of the chat's message number `index`."""
        self.inbox.put_nowait((chat_id, f"{PRESS}{index} {data}"))

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

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """The digest's first page: one message carrying every paper."""
        return [render_page(view, 0)]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        return OutgoingMessage(text=digest_packing.empty_day_words(digest))

    async def send(self, channel: Channel, message: OutgoingMessage) -> str | None:
        """Post one message and return its index in the chat; a closed chat is gone for the bot."""
        if not self._running:
            raise TemporaryDeliveryError("the console adapter is not running")
        if channel.chat_id in self._console.closed_chats:
            raise ChannelGoneError("the console chat was closed")
        self._console.posted[channel.chat_id].append(message)
        return str(len(self._console.posted[channel.chat_id]) - 1)

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
        if line.startswith(PRESS):
            await self._on_press(chat_id, line.removeprefix(PRESS))
            return
        name, _, args = line.removeprefix("/").partition(" ")
        request = CommandRequest(
            platform=PLATFORM, chat_id=chat_id, command=name, args=args, user_id=chat_id, is_admin=True
        )
        reply = await answer_or_apologise(
            self._services.commands.handle(request), f"/{name} in console chat {chat_id}"
        )
        for message in reply_messages(
            reply,
            text=lambda text: [OutgoingMessage(text=piece) for piece in split_text(text)],
            view=lambda view: render_page(view, 0),
        ):
            self._console.posted[chat_id].append(message)
        if reply.view is not None:
            await self._services.views.sent(reply.view.view, str(len(self._console.posted[chat_id]) - 1))

    async def _on_press(self, chat_id: str, press: str) -> None:
        """Turn the pressed message's page in place: any reader may, and nothing new is posted."""
        index, _, data = press.partition(" ")
        pressed = decode_press(data)
        if not isinstance(pressed, PagePress):
            return
        view = await self._services.views.load(pressed.view_id, PLATFORM, chat_id)
        if view is not None:
            self._console.posted[chat_id][int(index)] = render_page(view, pressed.page)


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
