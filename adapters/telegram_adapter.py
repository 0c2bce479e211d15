"""Telegram: commands in, digests out, through python-telegram-bot (long polling).

Turns Telegram updates into core `CommandRequest`s, decides who is a chat admin, and delivers the
core's digests as HTML messages (plus a Markdown file for long digests) within Telegram's limits:
about 30 messages/s overall, 20/min into one group, 1/s into one chat, and a 429's `retry_after`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from telegram import (
    BotCommand,
    ChatMember,
    ChatMemberUpdated,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    BaseRateLimiter,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.markdown_output import render_markdown
from adapters.telegram_format import TelegramMessage, render_digest, render_empty_day, render_plain_text
from bot.commands import COMMANDS, CommandReply, CommandRequest, CommandService
from bot.delivery import (
    AdapterStartupError,
    ChatGoneError,
    ChatMovedError,
    DeliveryError,
    OutgoingMessage,
    TemporaryDeliveryError,
)
from bot.models import Channel, Digest
from bot.ports import Store

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CONFIG_FILE = 256 * 1024
ADMIN_CACHE_SECONDS = 60.0
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_RATE_LIMITED_ENDPOINTS = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "editMessageText",
    "copyMessage",
    "forwardMessage",
}


def _retry_seconds(error: RetryAfter) -> float:
    """A RetryAfter's wait in seconds, without python-telegram-bot's int/timedelta deprecation warning."""
    raw = getattr(error, "_retry_after", None)
    if isinstance(raw, dt.timedelta):
        return raw.total_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published limits, each window padded a little for network jitter."""

    overall_per_second: int = 30
    group_per_minute: int = 20
    chat_interval: float = 1.0
    padding: float = 0.15
    max_retries: int = 5


class TelegramRateLimiter(BaseRateLimiter[int]):
    """Throttles every sending request so Telegram never has to answer 429; honours one if it does."""

    def __init__(self, limits: RateLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits or RateLimits()
        self._clock = clock
        self._overall: deque[float] = deque()
        self._groups: dict[str, deque[float]] = {}
        self._chats: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self.waited = 0.0  # total seconds requests were held back, for reports

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _wait_needed(self, chat: str | None, now: float) -> float:
        """Seconds until a request to `chat` fits every window (0: send now)."""
        limits = self._limits
        window = 1.0 + limits.padding
        while self._overall and now - self._overall[0] >= window:
            self._overall.popleft()
        wait = 0.0
        if len(self._overall) >= limits.overall_per_second:
            wait = self._overall[0] + window - now
        if chat is None:
            return wait
        wait = max(wait, self._paused_until.get(chat, 0.0) - now)
        last = self._chats.get(chat)
        if last is not None:
            wait = max(wait, last + limits.chat_interval + limits.padding - now)
        if chat.startswith("-"):
            group_window = 60.0 + limits.padding
            stamps = self._groups.setdefault(chat, deque())
            while stamps and now - stamps[0] >= group_window:
                stamps.popleft()
            if len(stamps) >= limits.group_per_minute:
                wait = max(wait, stamps[0] + group_window - now)
        return wait

    async def _acquire(self, chat: str | None) -> None:
        """Wait until a request fits, then book it in every window."""
        while True:
            now = self._clock()
            wait = self._wait_needed(chat, now)
            if wait <= 0:
                self._overall.append(now)
                if chat is not None:
                    self._chats[chat] = now
                    if chat.startswith("-"):
                        self._groups.setdefault(chat, deque()).append(now)
                return
            self.waited += wait
            await asyncio.sleep(wait)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Throttle sending endpoints per chat, group and overall; retry after a 429."""
        if endpoint not in _RATE_LIMITED_ENDPOINTS:
            return await callback(*args, **kwargs)
        chat = str(data["chat_id"]) if data.get("chat_id") is not None else None
        for attempt in range(self._limits.max_retries + 1):
            await self._acquire(chat)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == self._limits.max_retries:
                    raise
                wait = _retry_seconds(error)
                log.warning("Telegram asked to wait %.1f s (chat %s)", wait, chat)
                if chat is not None:
                    self._paused_until[chat] = self._clock() + wait
                else:
                    await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split plain text at line breaks into pieces Telegram accepts."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current or "…")
    return pieces


class TelegramAdapter:
    """The Telegram side of the bot: a `ChatAdapter` for deliveries plus the command handlers."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        store: Store,
        commands: CommandService,
        *,
        api_url: str = "https://api.telegram.org",
        admin_user_ids: Sequence[int] = (),
        rate_limits: RateLimits | None = None,
        poll_timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._commands = commands
        self._admin_user_ids = frozenset(admin_user_ids)
        self._poll_timeout = poll_timeout
        self._admin_cache: dict[tuple[int, int], tuple[float, bool]] = {}
        self._ready = asyncio.Event()
        self.rate_limiter = TelegramRateLimiter(rate_limits)
        api = api_url.rstrip("/")
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .rate_limiter(self.rate_limiter)
            .concurrent_updates(True)
            .build()
        )
        self._install_handlers()

    # -- the ChatAdapter port ---------------------------------------------------------------------
    def render_digest(self, digest: Digest, channel: Channel) -> list[OutgoingMessage]:
        """HTML messages for the digest; over the chat's limit, the whole digest also as a Markdown file."""
        messages, needs_file = render_digest(digest, max_inline_papers=channel.max_inline_papers)
        outgoing = [OutgoingMessage(text=message.text, paper_ids=message.paper_ids) for message in messages]
        if needs_file:
            inline = {paper_id for message in messages for paper_id in message.paper_ids}
            rest = tuple(paper.arxiv_id for paper in digest.papers if paper.arxiv_id not in inline)
            caption = (
                f"All {digest.matched_count} matching papers of {digest.date.isoformat()} "
                f"({len(rest)} more than above) in one file."
            )
            outgoing.append(
                OutgoingMessage(
                    text=caption,
                    paper_ids=rest,
                    document_name=f"arxiv-digest-{digest.date.isoformat()}.md",
                    document=render_markdown(digest).encode("utf-8"),
                )
            )
        return outgoing

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        return OutgoingMessage(text=render_empty_day(digest).text)

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Send one message, mapping Telegram's answers to the core's delivery errors."""
        await self._ready.wait()
        try:
            await self._send_html(channel.chat_id, message)
        except BadRequest as error:
            if "chat not found" in error.message.lower():
                raise ChatGoneError(error.message) from error
            log.warning("Telegram rejected a message to %s (%s); sending it as plain text", channel.chat_id, error.message)
            plain = render_plain_text(TelegramMessage(text=message.text, paper_ids=message.paper_ids))
            try:
                await self._send_html(channel.chat_id, message, plain=plain)
            except TelegramError as second:
                raise self._delivery_error(second) from second
        except TelegramError as error:
            raise self._delivery_error(error) from error

    @staticmethod
    def _delivery_error(error: TelegramError) -> DeliveryError:
        """The core's view of a Telegram error."""
        if isinstance(error, ChatMigrated):
            return ChatMovedError(str(error.new_chat_id))
        if isinstance(error, Forbidden):
            return ChatGoneError(error.message)
        if isinstance(error, BadRequest) and "chat not found" in error.message.lower():
            return ChatGoneError(error.message)
        if isinstance(error, RetryAfter):
            return TemporaryDeliveryError(error.message, retry_after=_retry_seconds(error))
        if isinstance(error, NetworkError):
            return TemporaryDeliveryError(error.message)
        return DeliveryError(error.message)

    async def _send_html(self, chat_id: str, message: OutgoingMessage, *, plain: str | None = None) -> None:
        """One sendMessage or sendDocument; `plain` sends that text without parse mode instead."""
        bot = self.application.bot
        parse_mode = None if plain is not None else ParseMode.HTML
        text = plain if plain is not None else message.text
        if message.document is not None:
            await bot.send_document(
                chat_id=chat_id,
                document=InputFile(message.document, filename=message.document_name or "digest.md"),
                caption=text[:MAX_CAPTION],
                parse_mode=parse_mode,
            )
            return
        await bot.send_message(
            chat_id=chat_id,
            text=text if plain is None else text[:MAX_TEXT],
            parse_mode=parse_mode,
            link_preview_options=NO_PREVIEW,
        )

    # -- running ------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Poll for updates until `stop` is set; deliveries may be sent meanwhile."""
        app = self.application
        try:
            await app.initialize()
        except InvalidToken:
            raise AdapterStartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"
            ) from None
        async with app:
            await app.bot.delete_webhook(drop_pending_updates=False)
            await app.bot.set_my_commands(
                [BotCommand(info.name, info.description[:256]) for info in COMMANDS]
            )
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=int(self._poll_timeout),
                allowed_updates=[Update.MESSAGE, Update.CHANNEL_POST, Update.MY_CHAT_MEMBER],
            )
            await app.start()
            self._ready.set()
            log.info("Telegram adapter running as @%s", app.bot.username)
            try:
                await stop.wait()
            finally:
                self._ready.clear()
                await app.updater.stop()
                await app.stop()

    def _install_handlers(self) -> None:
        """Route commands, config files, chat migrations and membership changes."""
        app = self.application
        messages = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        app.add_handler(MessageHandler(messages & filters.StatusUpdate.MIGRATE, self._on_migrate))
        config_files = filters.Document.FileExtension("yml") | filters.Document.FileExtension("yaml")
        app.add_handler(MessageHandler(messages & config_files, self._on_config_file))
        app.add_handler(MessageHandler(messages & filters.COMMAND, self._on_command))
        app.add_handler(ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self._on_error)

    # -- handlers --------------------------------------------------------------------------------------
    async def _is_admin(self, message: Message) -> bool:
        """May the sender change this chat's settings?"""
        chat = message.chat
        user = message.from_user
        if user is not None and user.id in self._admin_user_ids:
            return True
        if chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
            return True  # one's own chat; in a channel only its admins can post
        if message.sender_chat is not None:
            return message.sender_chat.id == chat.id  # an anonymous admin posts as the group
        if user is None:
            return False
        key = (chat.id, user.id)
        cached = self._admin_cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        try:
            member = await message.get_bot().get_chat_member(chat.id, user.id)
        except TelegramError as error:
            log.warning("cannot check admin status in %s: %s", chat.id, error)
            return False
        is_admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
        self._admin_cache[key] = (now, is_admin)
        return is_admin

    @staticmethod
    def _parse_command(message: Message, bot_username: str) -> tuple[str, str] | None:
        """(command, argument text) of a message, or None if it is for another bot."""
        text = message.text or message.caption or ""
        entities = message.entities or message.caption_entities
        if not entities or entities[0].type != MessageEntityType.BOT_COMMAND or entities[0].offset != 0:
            return None
        length = entities[0].length
        head = text[1:length]
        name, _, addressee = head.partition("@")
        if addressee and addressee.lower() != bot_username.lower():
            return None
        return name.lower(), text[length:].strip()

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Run a command and answer in the chat."""
        message = update.effective_message
        if message is None:
            return
        parsed = self._parse_command(message, context.bot.username)
        if parsed is None:
            return
        name, args = parsed
        request = CommandRequest(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            command=name,
            args=args,
            user_id=str(message.from_user.id) if message.from_user else None,
            is_admin=await self._is_admin(message),
        )
        reply = await self._commands.handle(request)
        await self._answer(message, reply)

    async def _answer(self, message: Message, reply: CommandReply) -> None:
        """Send a command's reply: plain text, then a digest if there is one."""
        chat_id = message.chat.id
        bot = message.get_bot()
        if reply.digest is None or not reply.digest.topics:
            for piece in _chunks(reply.text):
                await bot.send_message(chat_id=chat_id, text=piece, link_preview_options=NO_PREVIEW)
            return
        digest = reply.digest
        if digest.matched_count == 0:
            await bot.send_message(
                chat_id=chat_id,
                text=render_empty_day(digest).text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
            return
        channel = await self._store.get_channel(PLATFORM, str(chat_id))
        holder = channel or Channel(platform=PLATFORM, chat_id=str(chat_id))
        for outgoing in self.render_digest(digest, holder):
            try:
                await self._send_html(str(chat_id), outgoing)
            except BadRequest as error:
                log.warning("Telegram rejected a digest message (%s); sending plain text", error.message)
                plain = render_plain_text(TelegramMessage(text=outgoing.text, paper_ids=outgoing.paper_ids))
                await self._send_html(str(chat_id), outgoing, plain=plain)

    async def _on_config_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A YAML config sent to the chat replaces its topics (admins only)."""
        message = update.effective_message
        if message is None or message.document is None:
            return
        if message.chat.type != ChatType.PRIVATE:
            parsed = self._parse_command(message, context.bot.username)
            if parsed is None or parsed[0] not in {"topics", "import"}:
                return  # in groups only a file captioned /topics (or /import) is meant for the bot
        request = CommandRequest(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            command="topics",
            user_id=str(message.from_user.id) if message.from_user else None,
            is_admin=await self._is_admin(message),
        )
        if message.document.file_size is not None and message.document.file_size > MAX_CONFIG_FILE:
            await self._answer(message, CommandReply(f"That file is larger than {MAX_CONFIG_FILE // 1024} KiB.", ok=False))
            return
        telegram_file = await message.document.get_file()
        data = bytes(await telegram_file.download_as_bytearray())
        reply = await self._commands.import_config(request, data)
        await self._answer(message, reply)

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: keep its settings under the new id."""
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None:
            return
        await self._store.move_channel(PLATFORM, str(message.chat.id), str(message.migrate_to_chat_id))
        log.info("Telegram chat %s moved to %s", message.chat.id, message.migrate_to_chat_id)

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was removed from a chat: stop delivering there."""
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None:
            return
        if change.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
            channel = await self._store.get_channel(PLATFORM, str(change.chat.id))
            if channel is not None and channel.active and channel.id is not None:
                await self._store.set_channel_active(channel.id, False)
                log.info("removed from Telegram chat %s; its daily digest is off", change.chat.id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's error (never with a token) and keep running."""
        log.error("error while handling a Telegram update: %s", context.error, exc_info=context.error)
