"""A fake Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot client.

Point a `telegram.Bot` or an `Application` at it (`server.bot()`, `server.application_builder()`, or
`base_url=server.api_base_url`, `base_file_url=server.file_base_url`). It speaks enough of the Bot
API for the bot: getMe, deleteWebhook, set/get/deleteMyCommands, getUpdates (a long poll fed by
`push_message` / `push_callback_query` / `push_update`), sendMessage, sendDocument, editMessageText,
deleteMessage, sendChatAction, getChat, getChatMember, getChatAdministrators, getFile plus file
downloads, answerCallbackQuery.

Every call is recorded (`server.calls`: method, decoded params, uploaded files, monotonic time, the
status and JSON answered). Telegram's checks are imitated so formatting bugs fail tests: HTML parse
mode is validated with `tests.fakes.telegram_html` (400 "can't parse entities"), and text over 4096
visible UTF-16 units is refused (400 "message is too long").

Faults are scripted per method and chat with `server.fail(Fault.retry_after(5), chat_id=42, times=2)`;
`server.enable_rate_limits()` answers 429 exactly when Telegram's flood limits would be exceeded
(sliding windows: 30 messages/s overall, 20/min into one group, 1/s into one chat) and counts them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import mimetypes
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import telegram
from aiohttp import web
from telegram.ext import ApplicationBuilder

from tests.fakes.common import Changes, FaultQueue, UploadedFile, serve_on_free_port
from tests.fakes.telegram_html import TelegramHTMLError, parse_telegram_html, utf16_length

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:TEST-fake-token-for-tests-only"
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
# Methods that send a message into a chat: these count for the flood limits.
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendSticker",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
# Parameters python-telegram-bot sends as plain strings; every other value arrives JSON-encoded.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "file_id",
        "callback_query_id",
        "url",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "description",
        "short_description",
        "name",
        "title",
        "emoji",
        "secret_token",
        "inline_message_id",
        "custom_title",
        "action",
        "ip_address",
        "query",
        "document",
        "photo",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
    }
)
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")


@dataclass
class RecordedCall:
    """One Bot API call as the server saw it, and what it answered (status 0: connection dropped)."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float
    status: int = 0
    answer: dict[str, Any] | None = None

    @property
    def chat_id(self) -> str | None:
        """The call's `chat_id` parameter as a string (Telegram accepts ints and "@username")."""
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def ok(self) -> bool:
        """Whether the server answered success."""
        return self.status == 200


@dataclass(frozen=True)
class Fault:
    """An error answer to inject (see the constructors for Telegram's real ones)."""

    status: int
    description: str = ""
    parameters: dict[str, Any] | None = None
    drop: bool = False  # close the connection without answering
    raw_body: bytes | None = None  # answer this instead of Telegram's JSON error object

    @classmethod
    def retry_after(cls, seconds: int = 5) -> Fault:
        """429 flood control with `parameters.retry_after`."""
        return cls(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    @classmethod
    def blocked(cls) -> Fault:
        """403: the user blocked the bot."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def kicked(cls) -> Fault:
        """403: the bot was removed from the group."""
        return cls(403, "Forbidden: bot was kicked from the group chat")

    @classmethod
    def chat_not_found(cls) -> Fault:
        """400: the chat does not exist (or the bot never was in it)."""
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def migrated(cls, new_chat_id: int) -> Fault:
        """400: the group became a supergroup, with `parameters.migrate_to_chat_id`."""
        return cls(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": new_chat_id},
        )

    @classmethod
    def cant_parse(cls, detail: str = 'Unsupported start tag "x" at byte offset 0') -> Fault:
        """400: Telegram rejected the HTML."""
        return cls(400, f"Bad Request: can't parse entities: {detail}")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx answer with Telegram's JSON error object."""
        return cls(status, "Internal Server Error" if status == 500 else f"Server Error {status}")

    @classmethod
    def bad_gateway(cls) -> Fault:
        """502 with an nginx HTML page, as Telegram's front end answers (not JSON)."""
        page = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
        return cls(502, raw_body=page)

    @classmethod
    def dropped(cls) -> Fault:
        """Close the connection without answering."""
        return cls(0, drop=True)


@dataclass
class RateLimits:
    """Telegram's flood limits as sliding windows (its FAQ: ~30/s overall, 20/min a group, ~1/s a chat)."""

    overall: int = 30
    overall_window: float = 1.0
    group: int = 20
    group_window: float = 60.0
    chat: int = 1
    chat_window: float = 1.0


@dataclass
class _StoredFile:
    """A file the server can hand out by `file_id` (via getFile and the file URL)."""

    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str
    mime_type: str
    data: bytes


class _Answer(Exception):
    """Raised inside a handler to answer a Telegram error."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        """An error answer with Telegram's fields."""
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class _Chat:
    """What the server knows about a chat."""

    data: dict[str, Any]
    admins: dict[int, dict[str, Any]] = field(default_factory=dict)  # user id -> ChatMember JSON
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class FakeTelegramServer:
    """The fake Bot API; `await start()` before use and `await close()` after (the fixture does both)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "arxiv_digest_test_bot",
        strict_html: bool = True,
        auto_create_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A server for one bot token; unknown chats are created on first use unless told otherwise."""
        self.token = token
        self.strict_html = strict_html
        self.auto_create_chats = auto_create_chats
        self.clock = clock
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456789
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "arXiv Digest (test)",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[RecordedCall] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.rate_limits: RateLimits | None = None
        self.rate_limited_count = 0
        self.url = ""
        self._chats: dict[str, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_001)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._sent_overall: deque[float] = deque()
        self._sent_per_chat: dict[str, deque[float]] = {}
        self._changes = Changes()
        self._poller: object | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        """What `ApplicationBuilder().base_url()` / `Bot(base_url=...)` takes."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        """What `ApplicationBuilder().base_file_url()` / `Bot(base_file_url=...)` takes."""
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        """Listen on a random port of 127.0.0.1."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client hung up ends, as on Telegram.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
        self.url = await serve_on_free_port(self._runner)

    async def close(self) -> None:
        """End pending long polls and stop listening."""
        self._closing = True
        self._changes.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    def add_chat(
        self, chat_id: int, chat_type: str = "private", *, title: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Register a chat (private, group, supergroup or channel) and return its Chat JSON."""
        if chat_type == "private":
            data: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        else:
            data = {"id": chat_id, "type": chat_type, "title": title or f"Test {chat_type} {chat_id}"}
        data.update(extra)
        self._chats[str(chat_id)] = _Chat(data=data)
        return dict(data)

    def remove_chat(self, chat_id: int | str) -> None:
        """Forget a chat: with `auto_create_chats=False`, calls to it answer "chat not found"."""
        self._chats.pop(str(chat_id), None)

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

    def add_file(self, data: bytes, file_name: str, mime_type: str | None = None) -> dict[str, Any]:
        """Store a file the bot can fetch with getFile; returns its Document JSON."""
        number = next(self._file_ids)
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = _StoredFile(
            file_id=f"BQACAgFake{number:06d}",
            file_unique_id=f"AgADFake{number:06d}",
            file_path=f"documents/file_{number}{_suffix(file_name)}",
            file_name=file_name,
            mime_type=mime,
            data=data,
        )
        self._files[stored.file_id] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime,
            "file_size": len(data),
        }

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
    ) -> dict[str, Any]:
        """Queue a message a user (or channel) sent: commands get `bot_command` entities like Telegram's.

        `chat_type` defaults to the registered chat's type, else "private" for a positive id and
        "supergroup" for a negative one. A channel's message arrives as `channel_post`, without
        `from`. With `sender_chat` and no `from_user` in a group, `from` is GroupAnonymousBot (an
        anonymous admin). `document` is `(file_name, bytes)` (stored for getFile) or Document JSON;
        `text` then becomes the caption.
        """
        chat = self._chat_for_push(chat_id, chat_type)
        chat_json = dict(chat.data)
        kind = chat_json["type"]
        message: dict[str, Any] = {
            "message_id": next(chat.message_ids),
            "date": int(time.time()),
            "chat": chat_json,
        }
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
        return self.push_update({"channel_post" if kind == "channel" else "message": message})

    def push_callback_query(
        self,
        chat_id: int,
        data: str,
        *,
        from_user: int | dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue an inline-button press on a message the bot sent (the latest to the chat by default)."""
        sent = [call for call in self.calls if call.ok and call.chat_id == str(chat_id) and call.answer]
        message: dict[str, Any] | None = None
        for call in reversed(sent):
            result = call.answer.get("result") if call.answer else None
            if (
                isinstance(result, dict)
                and "message_id" in result
                and (message_id is None or result["message_id"] == message_id)
            ):
                message = result
                break
        if message is None:
            message = {
                "message_id": message_id or 1,
                "date": int(time.time()),
                "chat": self._chat_json(chat_id),
                "from": dict(self.bot_user),
                "text": "",
            }
        user = self._user_json(from_user if from_user is not None else chat_id if chat_id > 0 else 1001)
        query = {
            "id": f"cbq-{next(self._callback_ids)}",
            "from": user,
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

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

    # -- internals: state -------------------------------------------------------------------------

    def _chat_state(self, chat_id: int | str, *, create: bool) -> _Chat:
        """A known chat, or a new one when allowed; "chat not found" otherwise."""
        key = str(chat_id)
        chat = self._chats.get(key)
        if chat is not None:
            return chat
        if not create:
            raise _Answer(400, "Bad Request: chat not found")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            number = -1_001_000_000_000 - len(self._chats)
            self.add_chat(number, "channel", username=chat_id[1:])
            self._chats[key] = self._chats[str(number)]
            return self._chats[key]
        number = int(chat_id)
        if number > 0:
            self.add_chat(number, "private")
        else:
            self.add_chat(number, "supergroup" if key.startswith("-100") else "group")
        return self._chats[key]

    def _chat_for_push(self, chat_id: int, chat_type: str | None) -> _Chat:
        """The chat a pushed message comes from, registered on first use."""
        chat = self._chats.get(str(chat_id))
        if chat is None or (chat_type is not None and chat.data["type"] != chat_type):
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            if kind == "private" and chat_id < 0:
                raise ValueError("a private chat's id is the user's (positive) id")
            self.add_chat(chat_id, kind)
            chat = self._chats[str(chat_id)]
        return chat

    def _chat_json(self, chat: int | dict[str, Any]) -> dict[str, Any]:
        """Chat JSON for an id (registered on first use) or as given."""
        if isinstance(chat, dict):
            return chat
        return dict(self._chat_state(chat, create=True).data)

    def _user_json(self, user: int | dict[str, Any]) -> dict[str, Any]:
        """User JSON for an id (a plausible test user unless registered) or as given."""
        if isinstance(user, dict):
            self._users.setdefault(user["id"], user)
            return dict(user)
        if user not in self._users:
            self._users[user] = {
                "id": user,
                "is_bot": False,
                "first_name": f"User{user}",
                "username": f"user{user}",
                "language_code": "en",
            }
        return dict(self._users[user])

    def _is_group(self, chat_id: str) -> bool:
        """Whether the 20-per-minute group limit applies (groups, supergroups, channels)."""
        chat = self._chats.get(chat_id)
        if chat is not None:
            return bool(chat.data["type"] != "private")
        return chat_id.startswith(("-", "@"))

    def _check_rate_limits(self, chat_id: str | None) -> None:
        """Answer 429 (counted) when one more message would break a flood limit."""
        limits = self.rate_limits
        if limits is None:
            return
        now = self.clock()
        windows: list[tuple[deque[float], int, float]] = [
            (self._sent_overall, limits.overall, limits.overall_window)
        ]
        if chat_id is not None:
            sent = self._sent_per_chat.setdefault(chat_id, deque())
            windows.append((sent, limits.chat, limits.chat_window))
            if self._is_group(chat_id):
                windows.append((sent, limits.group, limits.group_window))
        longest = max(window for _, _, window in windows)
        wait = 0.0
        for sent, limit, window in windows:
            while sent and sent[0] <= now - longest:
                sent.popleft()
            in_window = [stamp for stamp in sent if stamp > now - window]
            if len(in_window) >= limit:
                # Free again when the oldest message that still counts leaves the window.
                wait = max(wait, in_window[-limit] + window - now)
        if wait > 0:
            self.rate_limited_count += 1
            seconds = max(1, math.ceil(wait))
            raise _Answer(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    def _count_sent(self, chat_id: str | None) -> None:
        """Count a delivered message for the flood limits."""
        if self.rate_limits is None:
            return
        now = self.clock()
        self._sent_overall.append(now)
        if chat_id is not None:
            self._sent_per_chat.setdefault(chat_id, deque()).append(now)

    def _message(self, chat_id: int | str, **content: Any) -> dict[str, Any]:
        """A Message the bot sent into a chat."""
        chat = self._chat_state(chat_id, create=self.auto_create_chats)
        return {
            "message_id": next(chat.message_ids),
            "from": dict(self.bot_user),
            "chat": dict(chat.data),
            "date": int(time.time()),
            **content,
        }

    # -- internals: HTTP --------------------------------------------------------------------------

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Decode query, form-encoded or multipart parameters (non-string values are JSON)."""
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        sources: list[Any] = [request.query]
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                sources.append(await request.json())
            else:
                sources.append(await request.post())
        for source in sources:
            for name, value in source.items():
                if isinstance(value, web.FileField):
                    files[name] = UploadedFile(
                        field=name,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                elif isinstance(value, str) and name not in _STRING_PARAMS:
                    params[name] = _json_or_string(value)
                else:
                    params[name] = value
        return params, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        """Route one Bot API call, record it and answer (or fail as scripted)."""
        method = request.match_info["method"]
        params, files = await self._read_params(request)
        call = RecordedCall(method=method, params=params, files=files, time=self.clock())
        self.calls.append(call)
        self._changes.notify()
        try:
            if request.match_info["token"] != self.token:
                raise _Answer(401, "Unauthorized")
            chat_id = call.chat_id
            fault = self._faults.take(method, chat_id)
            if fault is not None:
                if fault.drop:
                    log.debug("dropping the connection of %s", method)
                    if request.transport is not None:
                        request.transport.close()
                    await asyncio.sleep(3600)  # cancelled when the server notices the closed connection
                if fault.raw_body is not None:
                    call.status = fault.status
                    return web.Response(status=fault.status, body=fault.raw_body, content_type="text/html")
                raise _Answer(fault.status, fault.description, fault.parameters)
            handler = self._handlers().get(method.lower())
            if handler is None:
                raise _Answer(404, "Not Found")
            if method in SEND_METHODS:
                self._check_rate_limits(chat_id)
            result = await handler(params, files)
            if method in SEND_METHODS:
                self._count_sent(chat_id)
            answer: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except _Answer as error:
            status = error.status
            answer = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                answer["parameters"] = error.parameters
        call.status = status
        call.answer = answer
        self._changes.notify()
        return web.json_response(answer, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve a stored file by its `file_path`, as api.telegram.org/file/bot<token>/<path> does."""
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], dict[str, UploadedFile]], Any]]:
        """Bot API methods by lower-case name (Telegram's method names are case-insensitive)."""
        return {
            "getme": self._get_me,
            "deletewebhook": self._true,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "senddocument": self._send_document,
            "deletemessage": self._true,
            "sendchataction": self._true,
            "answercallbackquery": self._true,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getfile": self._get_file,
            "logout": self._true,
            "close": self._true,
        }

    # -- internals: methods -----------------------------------------------------------------------

    async def _true(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Methods that just answer True."""
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """The bot's User."""
        return dict(self.bot_user)

    async def _get_webhook_info(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """No webhook set."""
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        """Commands are kept per scope and language."""
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Store the command list (validated like Telegram: 1-32 lower-case characters, description 1-256)."""
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _Answer(400, "Bad Request: commands must be a list of at most 100 commands")
        for command in commands:
            name = str(command.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _Answer(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _Answer(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list[Any]:
        """The stored command list."""
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Forget the command list."""
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_updates(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list[Any]:
        """Long poll: updates from `offset` on (confirming those before), waiting up to `timeout` s.

        A newer getUpdates ends an older pending one with 409 Conflict, as Telegram does.
        """
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        me = object()
        self._poller = me
        self._changes.notify()
        deadline = self.clock() + timeout
        try:
            while True:
                await asyncio.sleep(0)
                if self._poller is not me:
                    raise _Answer(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                remaining = deadline - self.clock()
                if self._updates or self._closing or remaining <= 0:
                    return self._updates[:limit]
                await self._changes.wait(remaining)
        finally:
            if self._poller is me:
                self._poller = None

    def _check_text(self, text: Any, parse_mode: Any, *, limit: int, what: str) -> str:
        """Validate a text or caption as Telegram would; return its visible text."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        visible: str = text
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                visible = parse_telegram_html(text, strict=self.strict_html)
            except TelegramHTMLError as error:
                raise _Answer(400, f"Bad Request: can't parse entities: {error}") from None
        if what == "message" and not visible.strip():
            raise _Answer(400, "Bad Request: message text is empty")
        if utf16_length(visible) > limit:
            raise _Answer(400, f"Bad Request: {what} is too long")
        return visible

    async def _send_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """Validate the text and answer the sent Message."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: chat_id is empty")
        self._chat_state(chat_id, create=self.auto_create_chats)
        visible = self._check_text(
            params.get("text"), params.get("parse_mode"), limit=MAX_MESSAGE_LENGTH, what="message"
        )
        content: dict[str, Any] = {"text": visible}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        return self._message(chat_id, **content)

    async def _edit_message_text(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Validate the new text and answer the edited Message."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: chat_id is empty")
        chat = self._chat_state(chat_id, create=self.auto_create_chats)
        visible = self._check_text(
            params.get("text"), params.get("parse_mode"), limit=MAX_MESSAGE_LENGTH, what="message"
        )
        return {
            "message_id": params.get("message_id"),
            "from": dict(self.bot_user),
            "chat": dict(chat.data),
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "text": visible,
        }

    async def _send_document(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """Accept an uploaded (or already stored) document, check its caption, answer the Message."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: chat_id is empty")
        self._chat_state(chat_id, create=self.auto_create_chats)
        reference = params.get("document")
        if isinstance(reference, str) and reference.startswith("attach://"):
            upload = files.get(reference.removeprefix("attach://"))
            if upload is not None:
                files["document"] = upload
        upload = files.get("document")
        if upload is not None:
            if not upload.data:
                raise _Answer(400, "Bad Request: file must be non-empty")
            document = self.add_file(upload.data, upload.filename, upload.content_type)
        elif isinstance(reference, str) and reference in self._files:
            stored = self._files[reference]
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": stored.file_name,
                "mime_type": stored.mime_type,
                "file_size": len(stored.data),
            }
        else:
            raise _Answer(400, "Bad Request: there is no document in the request")
        content: dict[str, Any] = {"document": document}
        if params.get("caption") is not None:
            content["caption"] = self._check_text(
                params["caption"], params.get("parse_mode"), limit=MAX_CAPTION_LENGTH, what="message caption"
            )
        return self._message(chat_id, **content)

    async def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """ChatFullInfo of a known chat."""
        chat = self._chat_state(params.get("chat_id", ""), create=False)
        return {
            **chat.data,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """The configured member status (admins from `set_admins`, else a plain member)."""
        chat = self._chat_state(params.get("chat_id", ""), create=self.auto_create_chats)
        user_id = int(params.get("user_id") or 0)
        if user_id in chat.admins:
            return dict(chat.admins[user_id])
        if user_id in chat.members:
            return dict(chat.members[user_id])
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": dict(self.bot_user)}
        return {"status": "member", "user": self._user_json(user_id)}

    async def _get_chat_administrators(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> list[Any]:
        """The configured administrators (creator first)."""
        chat = self._chat_state(params.get("chat_id", ""), create=self.auto_create_chats)
        if chat.data["type"] == "private":
            raise _Answer(400, "Bad Request: there are no administrators in the private chat")
        admins = sorted(chat.admins.values(), key=lambda member: member["status"] != "creator")
        return [dict(member) for member in admins]

    async def _get_file(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """File info with the path the bot downloads from."""
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _Answer(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _json_or_string(value: str) -> Any:
    """A form value decoded as JSON, or the string itself when it is not JSON."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _suffix(file_name: str) -> str:
    """The file name's extension, with its dot ("" when none)."""
    dot = file_name.rfind(".")
    return file_name[dot:] if dot > 0 else ""


def _command_entities(text: str) -> list[dict[str, Any]]:
    """`bot_command` entities for every /command in the text, offsets in UTF-16 units like Telegram's."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_length(text[: match.start()]),
            "length": utf16_length(match.group()),
        }
        for match in _COMMAND.finditer(text)
    ]
