"""Discord's answers in the core's terms: which mean the channel is gone, which may pass, how to say them.

`403 Missing Access/Permissions` and `404 Unknown Channel` mean the bot cannot post there (the core
turns the channel off once, so the bot never collects the 401/403/429 answers Discord bans for);
5xx and 429 may pass. Start-up failures are said in a few words.
"""

from __future__ import annotations

import discord

from bot.platforms.port import ChannelGoneError, DeliveryError, TemporaryDeliveryError
from bot.retry import is_unreachable

# Codes of 403/404 answers that mean the bot cannot post into the channel at all.
_GONE_CODES = {
    10003,  # Unknown Channel
    10004,  # Unknown Guild
    50001,  # Missing Access
    50007,  # Cannot send messages to this user
    50013,  # Missing Permissions
}


def may_pass(error: discord.HTTPException) -> bool:
    """Whether another try may succeed: Discord's 5xx (after discord.py's own retries) and 429."""
    return error.status >= 500 or error.status == 429


def is_html(error: discord.HTTPException) -> bool:
    """Whether the answer was a web page rather than Discord's JSON (a proxy's or web server's)."""
    content_type = error.response.headers.get("Content-Type", "") if error.response is not None else ""
    text = error.text.lstrip().lower() if isinstance(error.text, str) else ""
    return "html" in content_type or text.startswith(("<!doctype html", "<html"))


def status_text(error: discord.HTTPException) -> str:
    """A failed answer in a few words: `HTTP 503 (an HTML page)` or `HTTP 500: the message`."""
    if is_html(error):
        return f"HTTP {error.status} (an HTML page)"
    text = " ".join(error.text.split())[:200] if isinstance(error.text, str) else ""
    return f"HTTP {error.status}: {text}" if text else f"HTTP {error.status}"


def retry_after(error: discord.HTTPException) -> float | None:
    """A 429's Retry-After in seconds, if it carried one."""
    value = error.response.headers.get("Retry-After") if error.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def connection_problem(error: BaseException) -> str:
    """A connection failure in a few words (offline, refused, timed out, or the library's words)."""
    reason = is_unreachable(error)
    if reason is not None:
        return f"cannot connect: {reason}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return " ".join(str(error).split())[:200] or type(error).__name__


def delivery_error(error: discord.HTTPException) -> DeliveryError:
    """The core's view of a Discord error answer."""
    text = f"{error.status} {error.text or error.response.reason}".strip()
    if error.status in (403, 404) and (error.code in _GONE_CODES or error.status == 404):
        return ChannelGoneError(text)
    if error.status == 429:
        return TemporaryDeliveryError(text, retry_after=retry_after(error))
    if error.status >= 500:
        return TemporaryDeliveryError(text)
    return DeliveryError(text)
