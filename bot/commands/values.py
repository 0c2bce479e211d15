"""What goes into a command and what comes out: the request, the reply, the user-caused error."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.table import TEXT_SYNTAX, CommandSyntax
from bot.models import Digest


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as an adapter received it."""

    platform: str
    chat_id: str
    command: str  # without the slash or bot name: "subscribe"
    args: str = ""
    user_id: str | None = None
    is_admin: bool = False  # may change this chat's settings
    server_id: str | None = None  # the server (Discord guild) of the chat, if the platform has them
    syntax: CommandSyntax = TEXT_SYNTAX


@dataclass(frozen=True, slots=True)
class CommandReply:
    """What to answer: plain text, and/or a digest to render with the platform's digest format."""

    text: str
    digest: Digest | None = None
    ok: bool = True
    # With a digest: the chat's `max_inline_papers` (above it the whole digest also goes as a file).
    max_inline_papers: int | None = None


class CommandError(Exception):
    """A user-caused problem; its message is the one-line answer."""


# -- text helpers -----------------------------------------------------------------------------------
def split_keywords(text: str) -> list[str]:
    """Comma-separated keywords; commas inside double quotes stay part of the keyword."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char in ",\n" and not in_quotes:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]
