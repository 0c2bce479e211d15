"""The fake Discord's vocabulary: Discord's constants, what it records, and its state's records."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from tests.fakes.common import UploadedFile

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.FaKeTk.fake-discord-bot-token-for-tests-only"
DEFAULT_APPLICATION_ID = 1100000000000000001
DEFAULT_USER_ID = 1100000000000000777  # the human who runs commands in tests
HEARTBEAT_INTERVAL_MS = 41250
DISCORD_EPOCH_MS = 1420070400000

MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_AUTOCOMPLETE_CHOICES = 25

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
DEFAULT_BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
EVERYONE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS

# Gateway intents the fake cares about.
GUILDS_INTENT = 1 << 0
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message_content

# Interaction and callback types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7

# Message flags and components.
SUPPRESS_EMBEDS_FLAG = 1 << 2
SUPPRESS_NOTIFICATIONS_FLAG = 1 << 12
IS_VOICE_MESSAGE_FLAG = 1 << 13
IS_COMPONENTS_V2_FLAG = 1 << 15
# The flags a bot may set when it creates a message (others are Discord's to set): 400 otherwise.
SETTABLE_MESSAGE_FLAGS = (
    SUPPRESS_EMBEDS_FLAG | SUPPRESS_NOTIFICATIONS_FLAG | IS_VOICE_MESSAGE_FLAG | IS_COMPONENTS_V2_FLAG
)
ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
SELECT_TYPES = frozenset({STRING_SELECT, 5, 6, 7, 8})  # string, user, role, mentionable, channel
LINK_BUTTON_STYLE = 5
PREMIUM_BUTTON_STYLE = 6
MAX_ACTION_ROWS = 5  # without components v2
MAX_CUSTOM_ID = 100

# Channel types.
GUILD_TEXT = 0
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it, and what it answered (path is after /api/v10)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[UploadedFile]
    time: float
    status: int = 0
    answer: Any = None
    answer_headers: dict[str, str] = field(default_factory=dict)


class _Answer(Exception):
    """Raised inside a handler to answer an error."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """An error answer with a JSON body."""
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, code: int, message: str) -> _Answer:
    """Discord's JSON error object as an exception to raise."""
    return _Answer(status, {"message": message, "code": code})


@dataclass
class _Guild:
    """What the fake knows about a guild the bot is in."""

    id: int
    name: str
    channels: dict[int, dict[str, Any]]
    bot_permissions: int
    everyone_permissions: int
    joined_at: str
    bot_role_id: int
    removed: bool = False
    threads: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Interaction:
    """An injected interaction and everything answered to it."""

    id: int
    token: str
    payload: dict[str, Any]
    created: float
    channel_id: int
    acknowledged: bool = False
    original: dict[str, Any] | None = None
    followups: dict[int, dict[str, Any]] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)
    user_id: int = 0  # who sent it (pressed the button, ran the command)
    message: dict[str, Any] | None = None  # a button press: the message the button is on
    answered_at: float | None = None  # when its callback came (the fake's clock)
    late: bool = False  # its callback came after the deadline (Discord shows "This interaction failed")


@dataclass
class PostedMessage:
    """A message as it appears in a channel, whichever route made it, and who can see it.

    `audience` is None for a message everyone in the channel sees, or the one user an ephemeral
    message is shown to. `message` is the live message object (edits and page turns apply to it);
    `notifies` is false when it was sent with SUPPRESS_NOTIFICATIONS (or is ephemeral: Discord never
    notifies for those). `source`: "channel" (POST /channels/{id}/messages), "callback", "followup".
    """

    channel_id: int
    message: dict[str, Any]
    audience: int | None
    source: str
    time: float
    interaction_id: int | None = None

    @property
    def id(self) -> int:
        """The message's id."""
        return int(self.message["id"])

    @property
    def flags(self) -> int:
        """The message's flags now."""
        return int(self.message.get("flags") or 0)

    @property
    def notifies(self) -> bool:
        """Whether posting it notified the channel: public and without SUPPRESS_NOTIFICATIONS."""
        return self.audience is None and not self.flags & SUPPRESS_NOTIFICATIONS_FLAG

    def seen_by(self, user_id: int) -> bool:
        """Whether this user can see it."""
        return self.audience is None or self.audience == user_id

    def custom_ids(self) -> list[str]:
        """The custom ids of the message's buttons, row by row."""
        return [
            str(item["custom_id"])
            for row in self.message.get("components") or ()
            for item in row.get("components") or ()
            if item.get("custom_id")
        ]


@dataclass
class _Session:
    """A gateway session: its id, last sequence number and every dispatch sent in it."""

    session_id: str
    intents: int
    seq: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)


@dataclass(eq=False)
class GatewayConnection:
    """One websocket connection of a client to the fake gateway."""

    number: int
    path: str
    query: dict[str, str]
    opened_at: float
    kind: str | None = None  # "identify" or "resume" once the client said which
    heartbeats: int = 0
    close_code: int | None = None
    ready: bool = False
    ws: web.WebSocketResponse | None = field(default=None, repr=False)
    request: web.Request | None = field(default=None, repr=False)
    session: _Session | None = field(default=None, repr=False)
    outbox: asyncio.Queue[tuple[str | None, asyncio.Future[None] | None, Callable[[], None] | None]] = field(
        default_factory=asyncio.Queue, repr=False
    )


class SentInteraction(NamedTuple):
    """What `send_interaction` returns: the interaction id and its token (also the follow-up token)."""

    id: int
    token: str


@dataclass(frozen=True)
class _Route:
    """A REST route: method, path pattern, the spec's path template and the handler."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Callable[[_Call], Awaitable[tuple[int, Any]]]
    auth: bool = True  # interaction callbacks and webhooks carry their token in the URL instead


@dataclass
class _Call:
    """A REST request being handled."""

    record: RecordedRequest
    params: dict[str, str]
    body: Any
    files: list[UploadedFile]
    headers: dict[str, str] = field(default_factory=dict)  # extra answer headers

    def int_param(self, name: str) -> int:
        """A path parameter as a snowflake (an unparsable one is Discord's 404)."""
        value = self.params[name]
        if not value.isdigit():
            raise _error(404, 0, "404: Not Found")
        return int(value)


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """An answer whose Content-Type is exactly `application/json`, as Discord's are."""
    response = web.Response(status=status, body=json.dumps(body).encode(), headers=dict(headers or {}))
    response.headers["Content-Type"] = "application/json"
    return response


def _iso(moment: dt.datetime | None = None) -> str:
    """A timestamp in Discord's ISO 8601 format."""
    return (moment or dt.datetime.now(dt.UTC)).isoformat(timespec="microseconds")


def _user_object(user_id: int, username: str) -> dict[str, Any]:
    """A (human) user object as Discord sends it."""
    return {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": username.title(),
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }


def _route_pattern(template: str) -> re.Pattern[str]:
    """A regex matching a spec path template (`{name}` is one path segment)."""
    parts = re.split(r"(\{[a-z_]+\})", template)
    regex = "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")
