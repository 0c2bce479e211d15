"""The fake Bot API's vocabulary: Telegram's constants and limits, recorded calls, faults, chats."""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.common import UploadedFile
from tests.fakes.telegram_html import utf16_length

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
    client: str = ""  # the URL prefix the caller used (`/a/bot<token>/…`: "a"), telling processes apart

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
class StoredMessage:
    """A message in a chat as the server keeps it: its JSON (as answered now) and what it was sent with."""

    json: dict[str, Any]  # the Message as Telegram would answer it now (edits applied)
    raw_text: str | None = None  # the text or caption as sent (HTML before parsing), for "not modified"
    parse_mode: str | None = None
    silent: bool = False  # sent with disable_notification
    by_bot: bool = True
    edits: int = 0

    @property
    def message_id(self) -> int:
        """The message's id in its chat."""
        return int(self.json["message_id"])

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        """The inline keyboard shown under it, if any."""
        markup = self.json.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Its inline keyboard's buttons, row after row."""
        markup = self.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", ()) for button in row]

    @property
    def notifies(self) -> bool:
        """Whether it pinged the chat's members (a bot's message sent without disable_notification)."""
        return self.by_bot and not self.silent


@dataclass
class CallbackPress:
    """An inline-button press the test injected, and how the bot answered it."""

    query_id: str
    chat_id: str
    message_id: int
    data: str
    pressed_at: float  # the fake's clock when the update was queued
    answered_at: float | None = None
    answer: dict[str, Any] | None = None  # answerCallbackQuery's parameters

    @property
    def answer_delay(self) -> float | None:
        """Seconds from the press to answerCallbackQuery (None: not answered)."""
        return None if self.answered_at is None else self.answered_at - self.pressed_at


@dataclass
class _Chat:
    """What the server knows about a chat."""

    data: dict[str, Any]
    admins: dict[int, dict[str, Any]] = field(default_factory=dict)  # user id -> ChatMember JSON
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    messages: dict[int, StoredMessage] = field(default_factory=dict)  # by message id, users' and the bot's
    topics: dict[int, str] = field(default_factory=dict)  # a forum's topics: message_thread_id -> name


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
