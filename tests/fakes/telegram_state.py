"""The fake Bot API's state: chats, users, files, updates, recorded calls, and the helpers on them."""

from __future__ import annotations

import itertools
import logging
import math
import mimetypes
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.common import Changes, FaultQueue
from tests.fakes.telegram_model import (
    DEFAULT_TOKEN,
    CallbackPress,
    Fault,
    RateLimits,
    RecordedCall,
    StoredMessage,
    _Answer,
    _Chat,
    _StoredFile,
    _suffix,
)
from tests.fakes.telegram_spec import SpecValidator, Violation

# What getUpdates delivers when the bot never named `allowed_updates` (Telegram's default: all but these).
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

log = logging.getLogger(__name__)


class TelegramState:
    """What the fake Bot API knows: chats, users, files, queued updates, recorded calls, faults."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "arxiv_digest_test_bot",
        strict_html: bool = True,
        auto_create_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
        callback_timeout: float = 10.0,
    ) -> None:
        """A server for one bot token; unknown chats are created on first use unless told otherwise.

        `callback_timeout`: how long after a press answerCallbackQuery is still accepted ("query is
        too old" afterwards, as on Telegram).
        """
        self.token = token
        self.callback_timeout = callback_timeout
        self.validator = SpecValidator()
        # Calls that broke the Bot API spec; `close()` fails the test unless it took them.
        self.violations: list[Violation] = []
        self.presses: dict[str, CallbackPress] = {}
        self._allowed_updates: list[str] | None = None
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
        self.webhook: dict[str, Any] | None = None  # setWebhook's parameters while a webhook is set
        self._closing = False
        self._runner: web.AppRunner | None = None

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

    def add_forum(self, chat_id: int, *, title: str | None = None) -> dict[str, Any]:
        """Register a forum supergroup (topics enabled); add its topics with `add_forum_topic`."""
        return self.add_chat(chat_id, "supergroup", title=title, is_forum=True)

    def add_forum_topic(self, chat_id: int, name: str) -> int:
        """Open a topic in a forum; returns its `message_thread_id` (the id of its creation message)."""
        chat = self._chat_state(chat_id, create=False)
        if not chat.data.get("is_forum"):
            raise ValueError("topics exist only in a forum supergroup: use add_forum()")
        thread_id = next(chat.message_ids)
        chat.topics[thread_id] = name
        return thread_id

    def remove_chat(self, chat_id: int | str) -> None:
        """Forget a chat: with `auto_create_chats=False`, calls to it answer "chat not found"."""
        self._chats.pop(str(chat_id), None)

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

    def _take_fault(self, method: str, chat_id: str | None) -> Fault | None:
        """The scripted fault for this call, if any, used up one time (tests' subclasses script more)."""
        return self._faults.take(method, chat_id)

    def _message(
        self,
        chat_id: int | str,
        params: dict[str, Any] | None = None,
        *,
        raw_text: str | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """A Message the bot sent into a chat, stored with its keyboard, thread, reply and silence."""
        params = params or {}
        chat = self._chat_state(chat_id, create=self.auto_create_chats)
        thread = self._thread(chat, params.get("message_thread_id"))
        replied = self._replied(chat, params.get("reply_parameters"))
        message: dict[str, Any] = {
            "message_id": next(chat.message_ids),
            "from": dict(self.bot_user),
            "chat": dict(chat.data),
            "date": int(time.time()),
        }
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if replied is not None:
            message["reply_to_message"] = replied
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        parse_mode = params.get("parse_mode")
        chat.messages[message["message_id"]] = StoredMessage(
            json=message,
            raw_text=raw_text,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
            silent=params.get("disable_notification") is True,
        )
        return dict(message)

    def _thread(self, chat: _Chat, thread_id: Any) -> int | None:
        """The forum topic a message goes to; "message thread not found" for one the chat lacks."""
        if thread_id is None:
            return None
        if not chat.data.get("is_forum") or thread_id not in chat.topics:
            raise _Answer(400, "Bad Request: message thread not found")
        return int(thread_id)

    def _replied(self, chat: _Chat, reply: Any) -> dict[str, Any] | None:
        """The message a reply quotes (its JSON, without its own reply); None to send without a reply."""
        if not isinstance(reply, dict):
            return None
        if reply.get("chat_id") not in (None, chat.data["id"], str(chat.data["id"])):
            raise _Answer(400, "Bad Request: replies to other chats are not supported by the fake")
        stored = chat.messages.get(reply.get("message_id"))  # type: ignore[arg-type]
        if stored is None:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise _Answer(400, "Bad Request: message to be replied not found")
        return {key: value for key, value in stored.json.items() if key != "reply_to_message"}

    def _store_user_message(self, chat: _Chat, message: dict[str, Any]) -> None:
        """Keep a pushed user message, so the bot can reply to it."""
        chat.messages[message["message_id"]] = StoredMessage(json=message, by_bot=False)

    def _update_allowed(self, update: dict[str, Any]) -> bool:
        """Whether getUpdates hands this update out, given the bot's last `allowed_updates`."""
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates is None or not self._allowed_updates:
            return kind not in _NOT_BY_DEFAULT
        return kind in self._allowed_updates

    def _record_violations(self, found: list[Violation]) -> None:
        """Keep spec violations (logged now, failed on at `close()`)."""
        for violation in found:
            log.error("Bot API spec violation: %s", violation)
        self.violations.extend(found)
