"""A fake Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot client.

Point a `telegram.Bot` or an `Application` at it (`server.bot()`, `server.application_builder()`, or
`base_url=server.api_base_url`, `base_file_url=server.file_base_url`). It speaks enough of the Bot
API for the bot: getMe, set/get/deleteMyCommands, getUpdates (a long poll fed by
`push_message` / `push_callback_query` / `push_update`), setWebhook/deleteWebhook/getWebhookInfo (the
webhook is recorded in `server.webhook`; while one is set getUpdates answers 409, as Telegram does, and
the fake posts nothing to it: a test posts updates to the bot's webhook server itself), sendMessage,
sendDocument, editMessageText, deleteMessage, sendChatAction, getChat, getChatMember,
getChatAdministrators, getFile plus file downloads, answerCallbackQuery.

Every call is recorded (`server.calls`: method, decoded params, uploaded files, monotonic time, the
status and JSON answered, and the `client` prefix of the URL: several processes of one bot aimed at
`server.client_url("a")`, `…("b")` are told apart by it) and checked against the Bot API spec
(`tests.fakes.telegram_spec`): an unknown method is 404, an unknown parameter, a missing required
one, a wrong type (object fields included, recursively) or a length the spec forbids is 400, and each
such violation is kept in `server.violations`; `close()` fails the test while any is left (a test
that provokes them on purpose takes them with `take_violations()`). Telegram's own checks are
imitated too so formatting bugs fail tests: HTML parse mode is validated with
`tests.fakes.telegram_html` (400 "can't parse entities"), and text over 4096 visible UTF-16 units
is refused (400 "message is too long").

Messages are stored per chat (`server.message(chat, id)`, `server.bot_messages(chat)`) with their
inline keyboard, forum topic (`add_forum`, `add_forum_topic`, `message_thread_id`), the message
they reply to (`reply_parameters`) and whether they were silent (`disable_notification`).
`press_button` presses a button of a stored message: a `callback_query` update for getUpdates
(delivered only when the bot asked for `callback_query` in `allowed_updates`), whose
`answerCallbackQuery` is timed (`server.presses[query_id].answer_delay`). `editMessageText` and
`editMessageReplyMarkup` change the stored message, and answer "message is not modified" for an
edit that changes nothing, as Telegram does.

Faults are scripted per method and chat with `server.fail(Fault.retry_after(5), chat_id=42, times=2)`;
`server.enable_rate_limits()` answers 429 exactly when Telegram's flood limits would be exceeded
(sliding windows: 30 messages/s overall, 20/min into one group, 1/s into one chat) and counts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import telegram
from aiohttp import web
from telegram.ext import ApplicationBuilder

from tests.fakes.common import UploadedFile, serve_on_free_port
from tests.fakes.telegram_api import TelegramBotAPI
from tests.fakes.telegram_model import (
    ADMIN_RIGHTS,
    GROUP_ANONYMOUS_BOT,
    CallbackPress,
    Fault,
    RateLimits,
    RecordedCall,
    StoredMessage,
    _command_entities,
)
from tests.fakes.telegram_spec import Violation

log = logging.getLogger(__name__)


class FakeTelegramServer(TelegramBotAPI):
    """The fake Bot API; `await start()` before use and `await close()` after (the fixture does both)."""

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        """What `ApplicationBuilder().base_url()` / `Bot(base_url=...)` takes."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        """What `ApplicationBuilder().base_file_url()` / `Bot(base_file_url=...)` takes."""
        return f"{self.url}/file/bot"

    def client_url(self, client: str) -> str:
        """A TELEGRAM_API_URL for one of several processes: its calls are recorded with `client` set."""
        return f"{self.url}/{client}"

    async def start(self) -> None:
        """Listen on a random port of 127.0.0.1."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # Several processes of one bot: each aimed at `client_url(name)`, its calls recorded with `client`.
        app.router.add_route("*", "/{client}/bot{token}/{method}", self._handle_api)
        app.router.add_get("/{client}/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client hung up ends, as on Telegram.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
        self.url = await serve_on_free_port(self._runner)

    async def close(self) -> None:
        """End pending long polls and stop listening; fail if a call broke the Bot API spec."""
        self._closing = True
        self._changes.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.violations:
            found = "\n".join(f"  {violation}" for violation in self.violations)
            self.violations = []
            raise AssertionError(f"calls to the fake Bot API broke the Bot API spec:\n{found}")

    def take_violations(self) -> list[Violation]:
        """The spec violations so far (a test that provokes them asserts on these), forgotten here."""
        found, self.violations = self.violations, []
        return found

    def bot(self, **kwargs: Any) -> telegram.Bot:
        """A real `telegram.Bot` aimed at this server (use `async with` to initialise and shut it down)."""
        return telegram.Bot(
            self.token, base_url=self.api_base_url, base_file_url=self.file_base_url, **kwargs
        )

    def application_builder(self) -> Any:
        """A real `telegram.ext.ApplicationBuilder` with the token and both URLs set."""
        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.api_base_url)
            .base_file_url(self.file_base_url)
        )

    # -- what tests inject ------------------------------------------------------------------------

    def add_user(self, user_id: int, first_name: str = "Test", **extra: Any) -> dict[str, Any]:
        """Register a user and return its User JSON."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name, **extra}
        self._users[user_id] = user
        return dict(user)

    def set_admins(
        self,
        chat_id: int,
        admins: Iterable[int | dict[str, Any]],
        *,
        creator: int | dict[str, Any] | None = None,
        rights: dict[str, bool] | None = None,
    ) -> None:
        """Set a group's administrators (every `can_*` flag True unless `rights` says otherwise)."""
        chat = self._chat_state(chat_id, create=True)
        chat.admins.clear()
        if creator is not None:
            user = self._user_json(creator)
            chat.admins[user["id"]] = {"status": "creator", "user": user, "is_anonymous": False}
        flags = {right: True for right in ADMIN_RIGHTS} | (rights or {})
        for admin in admins:
            user = self._user_json(admin)
            chat.admins[user["id"]] = {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                **flags,
            }

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Make `getChatMember` answer "member", "left" or "kicked" for this user."""
        if status not in ("member", "left", "kicked"):
            raise ValueError("use set_admins() for administrators and creators")
        chat = self._chat_state(chat_id, create=True)
        member: dict[str, Any] = {"status": status, "user": self._user_json(user_id)}
        if status == "kicked":
            member["until_date"] = 0
        chat.members[user_id] = member

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update for getUpdates (an `update_id` is assigned when missing)."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._changes.notify()
        return update

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        from_user: int | dict[str, Any] | None = None,
        chat_type: str | None = None,
        sender_chat: int | dict[str, Any] | None = None,
        document: tuple[str, bytes] | dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        message_thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Queue a message a user (or channel) sent: commands get `bot_command` entities like Telegram's.

        `chat_type` defaults to the registered chat's type, else "private" for a positive id and
        "supergroup" for a negative one. A channel's message arrives as `channel_post`, without
        `from`. With `sender_chat` and no `from_user` in a group, `from` is GroupAnonymousBot (an
        anonymous admin). `document` is `(file_name, bytes)` (stored for getFile) or Document JSON;
        `text` then becomes the caption. `message_thread_id` sends it in a forum topic; `reply_to`
        makes it a reply to that message of the chat.
        """
        chat = self._chat_for_push(chat_id, chat_type)
        chat_json = dict(chat.data)
        kind = chat_json["type"]
        message: dict[str, Any] = {
            "message_id": next(chat.message_ids),
            "date": int(time.time()),
            "chat": chat_json,
        }
        if message_thread_id is not None:
            if message_thread_id not in chat.topics:
                raise ValueError(f"chat {chat_id} has no forum topic {message_thread_id}")
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            replied = chat.messages[reply_to].json
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        if kind == "channel":
            message["sender_chat"] = chat_json
        elif sender_chat is not None:
            message["sender_chat"] = self._chat_json(sender_chat)
            message["from"] = (
                self._user_json(from_user) if from_user is not None else dict(GROUP_ANONYMOUS_BOT)
            )
        elif from_user is not None:
            message["from"] = self._user_json(from_user)
        elif kind == "private":
            message["from"] = self._user_json(chat_id)
        else:
            message["from"] = self._user_json(1001)
        text_key, entities_key = ("text", "entities")
        if document is not None:
            if isinstance(document, tuple):
                document = self.add_file(document[1], document[0])
            message["document"] = document
            text_key, entities_key = ("caption", "caption_entities")
        if text is not None:
            message[text_key] = text
            found = entities if entities is not None else _command_entities(text)
            if found:
                message[entities_key] = found
        self._store_user_message(chat, message)
        return self.push_update({"channel_post" if kind == "channel" else "message": message})

    def press_button(
        self,
        chat_id: int,
        *,
        text: str | None = None,
        data: str | None = None,
        message_id: int | None = None,
        from_user: int | dict[str, Any] | None = None,
    ) -> CallbackPress:
        """Press an inline button, as a member would: a `callback_query` update for getUpdates.

        The button is found by its label (`text`) or its `callback_data` on the bot's message
        `message_id` (by default the latest one with a keyboard); a button that is not there fails
        the test at once, since no user could press it. The press is timed from now.
        """
        stored = self._keyboard_message(chat_id, message_id)
        for button in stored.buttons:
            if (text is None or button["text"] == text) and (
                data is None or button.get("callback_data") == data
            ):
                if "callback_data" not in button:
                    raise AssertionError(f"button {button['text']!r} has no callback_data")
                return self._push_press(chat_id, stored, button["callback_data"], from_user)
        labels = [button["text"] for button in stored.buttons]
        raise AssertionError(f"no button {text or data!r} on message {stored.message_id}; it has {labels}")

    def push_callback_query(
        self,
        chat_id: int,
        data: str,
        *,
        from_user: int | dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> CallbackPress:
        """Queue a press with any data (forged or old) on a message the bot sent (the latest by default)."""
        chat = self._chat_state(chat_id, create=True)
        bots = [stored for stored in chat.messages.values() if stored.by_bot]
        if message_id is not None:
            bots = [stored for stored in bots if stored.message_id == message_id]
        if not bots:
            raise AssertionError(f"the bot sent no message {message_id or ''} to chat {chat_id}")
        return self._push_press(chat_id, bots[-1], data, from_user)

    def _keyboard_message(self, chat_id: int, message_id: int | None) -> StoredMessage:
        """The bot's message with an inline keyboard (this one, or the latest)."""
        chat = self._chat_state(chat_id, create=False)
        if message_id is not None:
            stored = chat.messages.get(message_id)
            if stored is None or not stored.buttons:
                raise AssertionError(f"chat {chat_id} has no message {message_id} with buttons")
            return stored
        for stored in reversed(chat.messages.values()):
            if stored.by_bot and stored.buttons:
                return stored
        raise AssertionError(f"the bot sent no message with buttons to chat {chat_id}")

    def _push_press(
        self, chat_id: int, stored: StoredMessage, data: str, from_user: int | dict[str, Any] | None
    ) -> CallbackPress:
        """Queue the callback_query of a press on `stored` and keep it for timing its answer."""
        user = self._user_json(from_user if from_user is not None else chat_id if chat_id > 0 else 1001)
        press = CallbackPress(
            query_id=f"{next(self._callback_ids)}{chat_id % 10_000:04d}",
            chat_id=str(chat_id),
            message_id=stored.message_id,
            data=data,
            pressed_at=self.clock(),
        )
        self.presses[press.query_id] = press
        query = {
            "id": press.query_id,
            "from": user,
            "chat_instance": f"{abs(chat_id)}",
            "data": data,
            "message": dict(stored.json),
        }
        self.push_update({"callback_query": query})
        return press

    async def wait_answered(self, press: CallbackPress, timeout: float = 5.0) -> CallbackPress:
        """Wait until the bot answered this press (TimeoutError if not within `timeout`)."""
        async with asyncio.timeout(timeout):
            while press.answered_at is None:
                await self._changes.wait()
        return press

    def fail(
        self,
        fault: Fault,
        *,
        method: str | None = "sendMessage",
        chat_id: int | str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` calls of `method` (None: any) to `chat_id` (None: any) with `fault`.

        `times=None` keeps failing until `clear_faults()`, e.g. a user who blocked the bot.
        """
        target = None if chat_id is None else str(chat_id)

        def applies(called: str, called_chat: str | None) -> bool:
            """Whether the fault is for this method (any, if None) and chat (any, if None)."""
            if method is not None and method.lower() != called.lower():
                return False
            return target is None or target == called_chat

        self._faults.add(fault, applies, times)

    def clear_faults(self) -> None:
        """Drop every scripted fault."""
        self._faults.clear()

    def enable_rate_limits(self, limits: RateLimits | None = None) -> RateLimits:
        """Answer 429 (with the right retry_after) whenever Telegram's flood limits would be exceeded."""
        self.rate_limits = limits or RateLimits()
        return self.rate_limits

    # -- what tests read --------------------------------------------------------------------------

    def calls_to(
        self, method: str, *, chat_id: int | str | None = None, ok: bool | None = None
    ) -> list[RecordedCall]:
        """Recorded calls of one method, optionally to one chat and/or only (un)successful ones."""
        return [
            call
            for call in self.calls
            if call.method.lower() == method.lower()
            and (chat_id is None or call.chat_id == str(chat_id))
            and (ok is None or call.ok == ok)
        ]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of the messages accepted by sendMessage, in order."""
        return [call.params["text"] for call in self.calls_to("sendMessage", chat_id=chat_id, ok=True)]

    def message(self, chat_id: int | str, message_id: int) -> StoredMessage:
        """A message of the chat as it is now (edits applied)."""
        return self._chat_state(chat_id, create=False).messages[message_id]

    def bot_messages(self, chat_id: int | str) -> list[StoredMessage]:
        """The bot's messages in a chat, in the order sent (as they are now)."""
        chat = self._chats.get(str(chat_id))
        return [] if chat is None else [stored for stored in chat.messages.values() if stored.by_bot]

    def sent_documents(self, chat_id: int | str | None = None) -> list[UploadedFile]:
        """Files accepted by sendDocument, in order."""
        return [
            call.files["document"]
            for call in self.calls_to("sendDocument", chat_id=chat_id, ok=True)
            if "document" in call.files
        ]

    async def wait_for_call(
        self,
        method: str,
        *,
        count: int = 1,
        chat_id: int | str | None = None,
        ok: bool | None = None,
        timeout: float = 5.0,
    ) -> list[RecordedCall]:
        """Wait until at least `count` matching calls were recorded; return them (TimeoutError if not)."""
        async with asyncio.timeout(timeout):
            while True:
                found = self.calls_to(method, chat_id=chat_id, ok=ok)
                if len(found) >= count:
                    return found
                await self._changes.wait()
