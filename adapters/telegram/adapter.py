"""Telegram: commands in, digests out, through python-telegram-bot (long polling or a webhook).

Turns Telegram updates into core `CommandRequest`s, decides who is a chat admin, and delivers the
core's digests as one paged HTML message each, whose inline buttons turn its pages in place
(`adapters.telegram.paging`), within Telegram's limits (`adapters.telegram.ratelimit`). A chat's
changes are handled in the order they arrived, while reads and button presses never queue behind
a long command (`adapters.telegram.updates`); Telegram's errors become the core's
(`adapters.telegram.errors`). In groups every answer replies to the asker's message, in a forum
topic it stays in that topic, and in a private chat plain text gets a hint instead of silence.

Updates come by long polling while this process holds the deployment's `TELEGRAM_UPDATES_ROLE`
(`adapters.telegram.polling`: Telegram allows one getUpdates consumer per token), or, with a webhook
configured, through python-telegram-bot's webhook server in every process. Deliveries and answers are
sent from any process, whether it takes updates or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    ChatMember,
    ChatMemberUpdated,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
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
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.telegram.errors import delivery_error, is_parse_error, not_the_bot_api, startup_problem
from adapters.telegram.format import (
    TelegramMessage,
    render_empty_day,
    render_plain_text,
    split_text,
)
from adapters.telegram.logs import guard_logs
from adapters.telegram.paging import NO_PREVIEW, PressHandler, digest_messages
from adapters.telegram.polling import UpdatePoller
from adapters.telegram.ratelimit import (
    ANSWER_PRIORITY,
    RateLimits,
    TelegramRateLimiter,
    opt_into_timedelta,
    retry_seconds,
)
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import PerChatUpdateProcessor, UpdateKind
from bot.channels import ChannelRegistry
from bot.commands.service import ADMIN_ONLY_MESSAGE, CommandService
from bot.commands.table import COMMANDS, PRIVATE_TEXT_HINT, private_chat_hint
from bot.commands.text import READ_WITHOUT_ARGUMENTS, needs_admin
from bot.commands.values import CommandReply, CommandRequest
from bot.feedback import FeedbackService
from bot.leadership import SoleProcess
from bot.models import Channel, Digest, LoadedView
from bot.platforms.lifecycle import (
    STOP_GRACE,
    CommandsInFlight,
    answer_or_apologise,
    connect_with_retries,
    reply_messages,
)
from bot.platforms.port import (
    AdapterStartupError,
    OutgoingMessage,
    TemporaryDeliveryError,
)
from bot.platforms.spec import AdapterServices
from bot.ports import TELEGRAM_UPDATES_ROLE, Leadership
from bot.retry import STARTUP_BACKOFF, Backoff, RetryableError
from bot.views import ViewService

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CONFIG_FILE = 256 * 1024
ADMIN_CACHE_SECONDS = 60.0
ADMIN_CACHE_SIZE = 10_000
API_HINT = "check TELEGRAM_API_URL"
DOWNLOAD_FAILED = "I could not fetch that file from Telegram; please send it again in a moment."
_KNOWN_COMMANDS = frozenset(info.name for info in COMMANDS)
# Commands that only read, whatever follow them, and those that read when sent without arguments:
# they need not wait for the chat's other reads (see adapters.telegram.updates).
_READS = frozenset({"help", "status", "digest", "preview", "saved", "export", "why"})
ALLOWED_UPDATES = (Update.MESSAGE, Update.CHANNEL_POST, Update.MY_CHAT_MEMBER, Update.CALLBACK_QUERY)


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where Telegram posts updates (TELEGRAM_WEBHOOK_URL) and where this process listens for them."""

    url: str  # the public https:// URL, behind the operator's load balancer
    secret: str  # sent by Telegram in X-Telegram-Bot-Api-Secret-Token; a request without it is refused
    listen: str = "0.0.0.0"  # noqa: S104 - behind the operator's proxy
    port: int = 8443
    path: str = "/"  # the path the server answers on (the URL's)


def api_urls(api_url: str) -> tuple[str, str]:
    """(base_url, base_file_url) for python-telegram-bot from TELEGRAM_API_URL.

    TELEGRAM_API_URL is the server's root (`https://api.telegram.org`, or a self-hosted Bot API
    server); a URL that already ends in `/bot` (the form `ApplicationBuilder.base_url` takes) is
    accepted too.
    """
    root = api_url.rstrip("/").removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


def from_settings(
    settings: TelegramSettings, services: AdapterServices, options: Mapping[str, Any]
) -> TelegramAdapter:
    """The Telegram adapter for these settings (`options`: test hooks such as poll_timeout)."""
    if settings.telegram_bot_token is None:
        raise AdapterStartupError("TELEGRAM_BOT_TOKEN is not set")
    webhook = None
    if settings.telegram_webhook_url is not None and settings.telegram_webhook_secret is not None:
        webhook = Webhook(
            url=settings.telegram_webhook_url,
            secret=settings.telegram_webhook_secret.get_secret_value(),
            listen=settings.telegram_webhook_listen,
            port=settings.telegram_webhook_port,
            path=settings.webhook_path,
        )
    return TelegramAdapter(
        settings.telegram_bot_token.get_secret_value(),
        services.commands,
        services.channels,
        views=services.views,
        feedback=services.feedback,
        api_url=settings.telegram_api_url,
        admin_user_ids=services.admin_user_ids,
        leadership=services.leadership,
        webhook=webhook,
        **options,
    )


class TelegramAdapter:
    """The Telegram side of the bot: a `ChatAdapter` for deliveries plus the command handlers."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        commands: CommandService,
        channels: ChannelRegistry,
        *,
        views: ViewService | None = None,
        feedback: FeedbackService | None = None,
        api_url: str = "https://api.telegram.org",
        admin_user_ids: Collection[int] = (),
        rate_limits: RateLimits | None = None,
        poll_timeout: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        startup_backoff: Backoff = STARTUP_BACKOFF,
        stop_grace: float = STOP_GRACE,
        leadership: Leadership | None = None,
        webhook: Webhook | None = None,
    ) -> None:
        """`views`: the stored digests presses look up (default: the command service's); `feedback`:
        where 👍/👎/🔖 presses are recorded (None: they are refused with a one-line alert).

        `leadership`: who may poll for updates (None: this process alone, always); `webhook`: take
        updates through a webhook server instead, in every process (no role needed).
        `startup_backoff`: how long start-up keeps trying to reach the Bot API (tests shorten it).
        """
        opt_into_timedelta()
        guard_logs(token)
        self._commands = commands
        self._channels = channels
        self._views = views or commands.views
        self._digest_locks: dict[int, tuple[asyncio.Lock, int]] = {}  # per chat: the lock, its users
        self._admin_user_ids = frozenset(admin_user_ids)
        self._monotonic = monotonic
        self._admin_cache: dict[tuple[int, int], tuple[float, bool]] = {}
        self._ready = asyncio.Event()
        self._closing = False
        self._startup_backoff = startup_backoff
        self._in_flight = CommandsInFlight("Telegram", stop_grace)
        self._leadership: Leadership = leadership if leadership is not None else SoleProcess()
        self._webhook = webhook
        self._holding = False  # inside the updates role's block (polling, or about to)
        self.rate_limiter = TelegramRateLimiter(rate_limits)
        base_url, base_file_url = api_urls(api_url)
        self._api_root = base_url.removesuffix("/bot")
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .base_url(base_url)
            .base_file_url(base_file_url)
            .rate_limiter(self.rate_limiter)
            .concurrent_updates(PerChatUpdateProcessor(classify=self._kind_of))
            .build()
        )
        self._presses = PressHandler(self._views, self.application.bot, feedback)
        self.poller = UpdatePoller(
            self.application.bot,
            self.application.update_queue,
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
        )
        self._install_handlers()

    @property
    def ready(self) -> bool:
        """Whether start-up is done: messages go out, and with a webhook its server listens."""
        return self._ready.is_set() and not self._closing

    # -- the ChatAdapter port ---------------------------------------------------------------------
    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """The digest's one paged message (page 1 and its buttons), then the silent file if the chat asked."""
        return digest_messages(view, channel)

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        return OutgoingMessage(text=render_empty_day(digest).text)

    async def send(self, channel: Channel, message: OutgoingMessage) -> str | None:
        """Send one message into the chat (its forum topic, if set); returns the message id.

        Maps Telegram's answers to the core's delivery errors. HTML that Telegram cannot parse is sent
        once more as plain text (the same words, no markup, the same buttons).
        """
        await self._ready.wait()
        if self._closing:
            raise TemporaryDeliveryError("the Telegram adapter is stopping")
        thread = _thread_number(channel.thread_id)
        try:
            sent = await self._send_html(channel.chat_id, message, thread=thread)
        except TelegramError as error:
            raise delivery_error(error) from error
        return str(sent.message_id)

    async def _send_html(
        self,
        chat_id: str | int,
        message: OutgoingMessage,
        *,
        thread: int | None = None,
        reply_to: int | None = None,
        priority: int | None = None,
    ) -> Message:
        """Send as HTML; if Telegram cannot parse it, once more as plain text."""
        where: dict[str, Any] = {"thread": thread, "reply_to": reply_to, "priority": priority}
        try:
            return await self._send_one(chat_id, message, **where)
        except BadRequest as error:
            if not is_parse_error(error):
                raise
            log.warning(
                "Telegram rejected a message to %s (%s); sending it as plain text", chat_id, error.message
            )
            plain = render_plain_text(TelegramMessage(text=message.text, paper_ids=message.paper_ids))
            return await self._send_one(chat_id, message, plain=plain, **where)

    async def _send_one(
        self,
        chat_id: str | int,
        message: OutgoingMessage,
        *,
        plain: str | None = None,
        thread: int | None = None,
        reply_to: int | None = None,
        priority: int | None = None,
    ) -> Message:
        """One sendMessage or sendDocument; `plain` sends that text without parse mode instead.

        `priority` (ANSWER_PRIORITY for a command's answer) lets it pass the chat's queued deliveries.
        """
        bot = self.application.bot
        parse_mode = None if plain is not None else ParseMode.HTML
        text = plain if plain is not None else message.text
        common: dict[str, Any] = {
            "chat_id": chat_id,
            "parse_mode": parse_mode,
            "disable_notification": True if message.silent else None,
            "message_thread_id": thread,
            "reply_parameters": _reply_to(reply_to),
            "rate_limit_args": priority,
        }
        sent: Message
        if message.document is not None:
            sent = await bot.send_document(
                document=InputFile(message.document, filename=message.document_name or "digest.md"),
                caption=text if plain is None else split_text(text, MAX_CAPTION)[0],
                **common,
            )
            return sent
        markup = message.payload if isinstance(message.payload, InlineKeyboardMarkup) else None
        sent = await bot.send_message(
            text=text if plain is None else split_text(text, MAX_TEXT)[0],
            link_preview_options=NO_PREVIEW,
            reply_markup=markup,
            **common,
        )
        return sent

    # -- running ------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Take updates until `stop` is set; deliveries may be sent meanwhile.

        Long polling only while this process holds TELEGRAM_UPDATES_ROLE (waiting for it otherwise,
        sending all the same); with a webhook, through the webhook server, role or not. Start-up
        keeps trying to reach the Bot API through network trouble (see
        `bot.platforms.lifecycle.connect_with_retries`); a rejected token, or a server that is not
        the Bot API, raises AdapterStartupError at once. Returns once python-telegram-bot has
        stopped taking updates and closed its connections; commands still running `stop_grace`
        seconds after `stop` are cut off.
        """
        app = self.application
        try:
            started = await connect_with_retries(
                f"the Telegram Bot API at {self._api_root}",
                self._start_once,
                stop,
                backoff=self._startup_backoff,
                between=self._reset,
            )
        except BaseException:
            self._closing = True
            await self._reset()
            raise
        if started is None:  # stopped while still trying to connect
            self._closing = True
            await self._reset()
            log.info("Telegram adapter stopped before it connected")
            return
        assert app.updater is not None
        async with app:  # already initialised: this only shuts it down at the end
            await app.start()
            self._closing = False
            self._ready.set()
            log.info("Telegram adapter running as @%s", app.bot.username)
            try:
                if self._webhook is not None:
                    await stop.wait()
                else:
                    await self._take_updates(stop)
            finally:
                self._closing = True  # a send still waiting for `_ready` must not hang
                if app.updater.running:
                    await app.updater.stop()
                await self._in_flight.finish()
                await app.stop()
                log.info("Telegram adapter stopped")

    async def _take_updates(self, stop: asyncio.Event) -> None:
        """Until `stop`: poll while holding TELEGRAM_UPDATES_ROLE, wait for it while another process does.

        A stop while waiting for the role ends the wait at once; a stop while polling ends the poll in
        flight, marks what was taken as read and hands the role back.
        """
        while not stop.is_set():
            holder = asyncio.create_task(self._hold_and_poll(stop), name="telegram updates role")
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({holder, stopping}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:  # cancelled ourselves: so is the holder, polling or not
                holder.cancel()
                raise
            finally:
                stopping.cancel()
                if not holder.done() and not self._holding:
                    holder.cancel()  # still waiting for the role (a holder ends by itself on `stop`)
                with contextlib.suppress(asyncio.CancelledError):
                    await holder

    async def _hold_and_poll(self, stop: asyncio.Event) -> None:
        """Wait for TELEGRAM_UPDATES_ROLE, then poll until `stop` or the role is lost."""
        try:
            async with self._leadership.hold(TELEGRAM_UPDATES_ROLE) as lost:
                self._holding = True
                if stop.is_set():
                    return
                log.info("taking Telegram updates: this process holds the %s role", TELEGRAM_UPDATES_ROLE)
                await self.poller.poll(stop, lost)
                if lost.is_set():
                    log.warning(
                        "lost the %s role: stopped polling Telegram; waiting to hold it again",
                        TELEGRAM_UPDATES_ROLE,
                    )
                else:
                    await self.poller.confirm()
        finally:
            self._holding = False

    async def _start_once(self) -> bool:
        """One start-up attempt: getMe, the command list, then the webhook (set, and its server started)
        or, for long polling, no webhook; errors classified for retrying."""
        app = self.application
        try:
            await app.initialize()
            await app.bot.set_my_commands(
                [BotCommand(info.name, info.description[:256]) for info in COMMANDS]
            )
            if self._webhook is None:
                await app.bot.delete_webhook()  # polling needs none (one left from webhook mode)
            else:
                await self._start_webhook()
        except InvalidToken as error:
            # PTB's message quotes the token; never pass it on.
            other = not_the_bot_api(error)
            if other is not None:  # a 401/404 that is no Bot API answer: a proxy's or web server's page
                raise AdapterStartupError(
                    f"{self._api_root} answered with {other}, not the Bot API: {API_HINT}"
                ) from None
            raise AdapterStartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"
            ) from None
        except RetryAfter as error:
            raise RetryableError("asked to wait (429)", retry_after=retry_seconds(error)) from None
        except (BadRequest, Forbidden) as error:  # NetworkError subclasses, but nothing a retry fixes
            raise AdapterStartupError(
                f"the Telegram Bot API at {self._api_root} refused to start: {startup_problem(error)}"
            ) from None
        except NetworkError as error:  # no connection, timeouts, 5xx (an HTML 502 page included)
            raise RetryableError(startup_problem(error)) from None
        except TelegramError as error:  # a 2xx answer that is not the Bot API's JSON, say
            other = not_the_bot_api(error)
            if other is not None:
                raise AdapterStartupError(
                    f"{self._api_root} answered with {other}, not the Bot API: {API_HINT}"
                ) from None
            raise AdapterStartupError(
                f"the Telegram Bot API at {self._api_root} failed at start-up: {startup_problem(error)}"
            ) from None
        return True

    async def _start_webhook(self) -> None:
        """setWebhook (the same URL from every process) and start the webhook server behind it."""
        webhook = self._webhook
        assert webhook is not None
        assert self.application.updater is not None
        try:
            await self.application.updater.start_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.path,
                webhook_url=webhook.url,
                secret_token=webhook.secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        except OSError as error:  # binding the server's port; PTB's own errors are TelegramErrors
            raise AdapterStartupError(
                f"cannot listen for Telegram's webhook on {webhook.listen}:{webhook.port} "
                f"(TELEGRAM_WEBHOOK_LISTEN, TELEGRAM_WEBHOOK_PORT): {error.strerror or error}"
            ) from None
        log.info(
            "taking Telegram updates through the webhook %s (listening on %s:%d)",
            webhook.url,
            webhook.listen,
            webhook.port,
        )

    async def _reset(self) -> None:
        """Undo a partial start-up (the Bot's HTTP clients exist even when getMe failed)."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await app.shutdown()  # nothing to do unless initialize() completed
        await app.bot.shutdown()

    def _install_handlers(self) -> None:
        """Route commands, config files, chat migrations and membership changes."""
        app = self.application
        messages = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        app.add_handler(MessageHandler(messages & filters.StatusUpdate.MIGRATE, self._on_migrate))
        config_files = filters.Document.FileExtension("yml") | filters.Document.FileExtension("yaml")
        app.add_handler(MessageHandler(messages & config_files, self._on_config_file))
        app.add_handler(MessageHandler(messages & filters.COMMAND, self._on_command))
        chatter = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
        app.add_handler(MessageHandler(chatter, self._on_plain_text))
        app.add_handler(CallbackQueryHandler(self._on_press))
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
            # An anonymous admin posts as the group itself; a linked channel or a user posting as
            # their own channel is not an admin of this group.
            return message.sender_chat.id == chat.id
        if user is None:
            return False
        key = (chat.id, user.id)
        now = self._monotonic()
        cached = self._admin_cache.get(key)
        if cached is not None and now - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        try:
            member = await message.get_bot().get_chat_member(chat.id, user.id)
        except TelegramError as error:
            log.warning("cannot check admin status in %s: %s", chat.id, error)
            return False
        is_admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
        if len(self._admin_cache) >= ADMIN_CACHE_SIZE:
            self._admin_cache = {
                k: v for k, v in self._admin_cache.items() if now - v[0] < ADMIN_CACHE_SECONDS
            }
        self._admin_cache[key] = (now, is_admin)
        return is_admin

    @staticmethod
    def _parse_command(message: Message, bot_username: str) -> tuple[str, str, bool] | None:
        """(command, argument text, addressed to this bot by name) of a message; None if not for this bot.

        A command is a `bot_command` entity at offset 0 of the text (or of a document's caption);
        `/cmd@otherbot` belongs to another bot.
        """
        text = message.text if message.text is not None else message.caption or ""
        entities = message.entities if message.text is not None else message.caption_entities
        if not entities or entities[0].type != MessageEntityType.BOT_COMMAND or entities[0].offset != 0:
            return None
        length = entities[0].length  # UTF-16 units; a command is ASCII, so also characters
        head = text[1:length]
        name, at, addressee = head.partition("@")
        if at and addressee.lower() != bot_username.lower():
            return None
        return name.lower(), text[length:].strip(), bool(at)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Run a command and answer in the chat."""
        self._in_flight.track()
        message = update.effective_message
        if message is None:
            return
        parsed = self._parse_command(message, context.bot.username)
        if parsed is None:
            return
        name, args, addressed = parsed
        if name not in _KNOWN_COMMANDS and message.chat.type != ChatType.PRIVATE and not addressed:
            return  # in a group, `/foo` without a bot name may well be another bot's command
        # Only a change needs an admin (the core decides which commands are changes); a read asks nobody.
        may_need_admin = needs_admin(name, args)
        request = CommandRequest(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            command=name,
            args=args,
            user_id=str(message.from_user.id) if message.from_user else None,
            is_admin=may_need_admin and await self._is_admin(message),
            sent_at=message.date,
            thread_id=str(message.message_thread_id) if _in_topic(message) else None,
        )
        if name != "digest":
            reply = await answer_or_apologise(
                self._commands.handle(request), f"/{name} in Telegram chat {message.chat.id}"
            )
            await self._answer(message, reply, asked=f"/{name} {args}".strip())
            return
        # One /digest of a chat at a time: a second one must see the first's message to point to it.
        chat_id = message.chat.id
        lock, users = self._digest_locks.get(chat_id, (asyncio.Lock(), 0))
        self._digest_locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                reply = await answer_or_apologise(
                    self._commands.handle(request), f"/digest in Telegram chat {chat_id}"
                )
                await self._answer(message, reply)
        finally:
            lock, users = self._digest_locks[chat_id]
            if users == 1:
                del self._digest_locks[chat_id]
            else:
                self._digest_locks[chat_id] = (lock, users - 1)

    async def _answer(self, message: Message, reply: CommandReply, *, asked: str = "") -> None:
        """Send a command's reply: plain text pieces, one paged digest message, or a file with a caption.

        In groups the answer replies to the asker's message; a repeated /digest replies to the digest
        message already in the chat instead. In a forum topic the answer stays in the topic. A private
        reply sent in a group goes to the asker's private chat with the bot, and the group gets one line
        (`asked`, the command as typed, is what that line tells to send again when Telegram refuses).
        """
        chat_id = message.chat.id
        thread = message.message_thread_id if _in_topic(message) else None
        in_group = message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        reply_to = message.message_id if in_group else None
        if reply.private and message.chat.type != ChatType.PRIVATE and message.from_user is not None:
            notice = reply.private_notice
            try:
                await self._send_reply(message.from_user.id, reply)  # a user's private chat: their id
            except (Forbidden, BadRequest) as error:
                if isinstance(error, BadRequest) and "chat not found" not in error.message.lower():
                    raise
                notice = private_chat_hint(self.application.bot.username, asked or "the command")
            reply = CommandReply(notice, ok=reply.ok)
        if reply.repeat_of is not None and reply.repeat_of.message_ref is not None:
            reply_to = _thread_number(reply.repeat_of.message_ref) or reply_to
        await self._send_reply(chat_id, reply, thread=thread, reply_to=reply_to)

    async def _send_reply(
        self, chat_id: int, reply: CommandReply, *, thread: int | None = None, reply_to: int | None = None
    ) -> None:
        """Send a reply's messages into one chat (a file, the digest's page, or text pieces)."""
        bot = self.application.bot
        if reply.document is not None:
            await bot.send_document(
                chat_id=chat_id,
                document=InputFile(reply.document, filename=reply.document_name or "papers.txt"),
                caption=split_text(reply.text, MAX_CAPTION)[0],
                message_thread_id=thread,
                reply_parameters=_reply_to(reply_to),
                rate_limit_args=ANSWER_PRIORITY,
            )
            return
        answer: list[str | OutgoingMessage] = reply_messages(
            reply,
            text=split_text,
            view=lambda loaded: digest_messages(loaded, Channel(PLATFORM, str(chat_id)))[0],
        )
        for outgoing in answer:
            if isinstance(outgoing, str):
                await bot.send_message(
                    chat_id=chat_id,
                    text=outgoing,
                    link_preview_options=NO_PREVIEW,
                    message_thread_id=thread,
                    reply_parameters=_reply_to(reply_to),
                    rate_limit_args=ANSWER_PRIORITY,
                )
                continue
            sent = await self._send_html(
                chat_id, outgoing, thread=thread, reply_to=reply_to, priority=ANSWER_PRIORITY
            )
            if reply.view is not None:
                await self._views.sent(reply.view.view, str(sent.message_id))

    async def _on_plain_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text in a private chat: a one-line hint instead of silence (never in groups)."""
        message = update.effective_message
        if message is None or message.chat.type != ChatType.PRIVATE:
            return
        await self.application.bot.send_message(
            chat_id=message.chat.id, text=PRIVATE_TEXT_HINT, rate_limit_args=ANSWER_PRIORITY
        )

    async def _on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline button of a digest message: answered at once, then the page turned in place."""
        query = update.callback_query
        if query is not None:
            await self._presses.handle(query)

    def _kind_of(self, update: object) -> UpdateKind:
        """How this update is ordered among its chat's (see adapters.telegram.updates)."""
        if not isinstance(update, Update):
            return UpdateKind.CHANGE
        if update.callback_query is not None:
            return UpdateKind.FREE
        message = update.message or update.channel_post
        if message is None or message.document is not None:
            return UpdateKind.CHANGE  # membership, migration, a config file
        if message.text is None:
            return UpdateKind.CHANGE
        parsed = self._parse_command(message, self.application.bot.username)
        if parsed is None:
            return UpdateKind.READ  # plain text, or another bot's command
        name, args, _ = parsed
        if name in _READS or name not in _KNOWN_COMMANDS or (not args and name in READ_WITHOUT_ARGUMENTS):
            return UpdateKind.READ
        return UpdateKind.CHANGE

    async def _on_config_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A YAML config sent to the chat replaces its topics (admins only)."""
        self._in_flight.track()
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
        if not request.is_admin:
            await self._answer(message, CommandReply(ADMIN_ONLY_MESSAGE, ok=False))
            return  # refused before anything is downloaded
        if message.document.file_size is not None and message.document.file_size > MAX_CONFIG_FILE:
            await self._answer(
                message, CommandReply(f"That file is larger than {MAX_CONFIG_FILE // 1024} KiB.", ok=False)
            )
            return
        try:
            telegram_file = await message.document.get_file()
            data = bytes(await telegram_file.download_as_bytearray())
        except (TelegramError, OSError) as error:  # the Bot API's refusal, or the connection's trouble
            log.warning("could not download a config file in %s: %s", message.chat.id, error)
            await self._answer(message, CommandReply(DOWNLOAD_FAILED, ok=False))
            return
        reply = await self._commands.import_config(request, data)
        await self._answer(message, reply)

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: keep its settings under the new id."""
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None:
            return
        await self._channels.moved(PLATFORM, str(message.chat.id), str(message.migrate_to_chat_id))

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was removed from a chat: stop delivering there."""
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None:
            return
        if change.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
            await self._channels.gone_by_id(
                PLATFORM, str(change.chat.id), "the bot was removed from the chat"
            )

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's error (never with a token) and keep running."""
        error = context.error
        if isinstance(error, Forbidden | ChatMigrated):
            log.warning("cannot answer in a Telegram chat: %s", error)
            return
        log.error("error while handling a Telegram update: %s", error, exc_info=error)


def _in_topic(message: Message) -> bool:
    """Whether the message was sent in a forum topic (answers go to the same topic)."""
    return bool(message.is_topic_message) and message.message_thread_id is not None


def _thread_number(value: str | None) -> int | None:
    """A stored thread or message reference as Telegram's integer id (None when unset or not a number)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _reply_to(message_id: int | None) -> ReplyParameters | None:
    """Reply to this message of the chat, or send plainly if it is gone."""
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)
