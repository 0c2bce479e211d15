"""Telegram's errors in the core's terms: which answers mean the chat is gone, moved, or worth a retry.

python-telegram-bot raises `Forbidden` (blocked, kicked), `ChatMigrated` (a group became a
supergroup), `RetryAfter` (429), `BadRequest` (a 400, some of which mean the bot cannot post at all)
and `NetworkError` (5xx, timeouts); start-up failures are said in one line, never with the token.
"""

from __future__ import annotations

import json

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from adapters.telegram.logs import TOKEN_IN_URL
from adapters.telegram.ratelimit import retry_seconds
from bot.platforms.port import (
    ChannelGoneError,
    ChannelMovedError,
    DeliveryError,
    TemporaryDeliveryError,
)
from bot.retry import is_unreachable

# A 400 that means the bot cannot post into the chat at all (deleted, or its rights were taken away).
_GONE_PHRASES = (
    "chat not found",
    "peer_id_invalid",
    "group chat was deactivated",
    "chat_write_forbidden",
    "not enough rights to send",
    "have no rights to send",
    "need administrator rights",
    "chat_restricted",
)


def is_parse_error(error: BadRequest) -> bool:
    """Whether Telegram rejected the message's HTML (worth sending again as plain text)."""
    return "parse entities" in error.message.lower()


def _is_gone(error: BadRequest) -> bool:
    """Whether a 400 means the bot cannot post into the chat at all."""
    text = error.message.lower()
    return any(phrase in text for phrase in _GONE_PHRASES)


def not_the_bot_api(error: BaseException) -> str | None:
    """What the server answered instead of the Bot API's JSON ("an HTML page"), or None if it was JSON.

    python-telegram-bot keeps the JSON decoding error, and with it the body, in the chain of causes.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, json.JSONDecodeError):
            body = current.doc.lstrip().lower()
            if body.startswith(("<!doctype html", "<html")) or "<body" in body:
                return "an HTML page"
            return "something that is not JSON"
        current = current.__cause__ or current.__context__
    return None


def startup_problem(error: TelegramError) -> str:
    """A start-up failure in one line, without the token (PTB's messages may quote it)."""
    reason = is_unreachable(error)
    if reason is not None:
        return f"cannot connect: {reason}"
    if isinstance(error, TimedOut):
        return "timed out"
    text = error.message.split(". Parsing the server response", 1)[0]
    other = not_the_bot_api(error)
    if other is not None:
        text = f"{text} with {other}"
    return TOKEN_IN_URL.sub(r"\1<token>", " ".join(text.split()))[:200]


def delivery_error(error: TelegramError) -> DeliveryError:
    """The core's view of a Telegram error."""
    if isinstance(error, ChatMigrated):
        return ChannelMovedError(str(error.new_chat_id))
    if isinstance(error, Forbidden):
        return ChannelGoneError(error.message)
    if isinstance(error, RetryAfter):
        return TemporaryDeliveryError(error.message, retry_after=retry_seconds(error))
    if isinstance(error, BadRequest):  # a NetworkError subclass, but nothing a retry fixes
        return ChannelGoneError(error.message) if _is_gone(error) else DeliveryError(error.message)
    if isinstance(error, NetworkError):  # 5xx, timeouts, dropped connections
        return TemporaryDeliveryError(error.message)
    return DeliveryError(error.message)
