"""A fake Discord (REST under /api/v10 plus the gateway websocket) on 127.0.0.1 for the real discord.py.

Aim a real client at it with `fake.aim(monkeypatch)` (or `with fake.aimed():` where no monkeypatch is at
hand): both set the class attributes discord.py reads, `discord.http.Route.BASE` (a str, read whenever a
Route is built) and `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (a `yarl.URL`, to which discord.py
adds `?v=10&encoding=json&compress=zlib-stream`). A plain `discord.Client` never asks REST for the gateway
URL (`GET /gateway/bot` is only used by `AutoShardedClient`; the fake answers it anyway). Then
`async with fake.run_client(client): ...` starts `client.start(fake.token)` and waits until the client
is ready and has every guild; on leaving it closes the client and awaits its task.

What login and connect really hit, checked in discord.py 2.7's source: `GET /users/@me` (a 401 there
becomes `LoginFailure`), `GET /oauth2/applications/@me` (the application id `tree.sync()` uses), then the
websocket: HELLO (op 10) -> a heartbeat at once (answered op 11) -> IDENTIFY (op 2) -> READY and one
GUILD_CREATE per guild; after a dropped connection RESUME (op 6) to READY's `resume_gateway_url` (this
fake's `/gateway/resume`) -> missed dispatches replayed, then RESUMED. The fake answers plain JSON text
frames although the client asks for zlib-stream: `DiscordWebSocket.received_message` only inflates
binary frames.

Fast starts: `discord.Client(..., guild_ready_timeout=0.05)`. The option is passed through to
ConnectionState, whose `_delay_ready` waits that long (default 2 s) after the last GUILD_CREATE before
dispatching `on_ready`. Keep it above 0: with 0 `on_ready` can fire before the GUILD_CREATEs are read
(`run_client` waits for the guilds either way). `chunk_guilds_at_startup` defaults to the `members`
intent; if it is on, discord.py sends op 8 per guild and the fake answers one GUILD_MEMBERS_CHUNK.
Every IDENTIFY but a process's first sleeps 5 s in `Client.before_identify_hook` (override it in a
test that invalidates the session); a RESUME does not wait. `on_ready` fires again after each
IDENTIFY, and `client.close()` does not cancel a pending `_delay_ready` task (it ends by itself after
`guild_ready_timeout`). Privileged intents (members, presences, message_content) must be enabled
via `FakeDiscord(privileged_intents=...)` as in the developer portal, else IDENTIFY is closed with
4014 and discord.py raises PrivilegedIntentsRequired.

Every REST request is recorded (`fake.requests`: method, path, query, headers, JSON body or the
multipart payload_json + files, monotonic time, status and answer). JSON bodies (for multipart: the
payload_json part) are validated against the route's request-body schema in Discord's OpenAPI 3.1 spec
(`tests/fixtures/discord/openapi-trimmed.json`, draft 2020-12); discord.py's integer attachment ids
are turned into strings first, since Discord accepts both. On top of the spec the fake enforces what
Discord documents for bots: content <= 2000 characters (the spec says 4000) and <= 6000 characters
across a message's embeds (titles, descriptions, field names and values, footer texts, author names).
A failing body is answered 400 `{"code": 50035, "message": "Invalid Form Body", "errors": {...}}` and
described in `fake.validation_errors`. The fake's own 2xx answers are checked against the spec's
response schemas too (`fake.answer_errors`), so what tests see is shaped like Discord's answers.
JSON answers carry `Content-Type: application/json` exactly: discord.py's `json_or_text` compares the
header verbatim and treats anything else (aiohttp's "; charset=utf-8") as text.

Faults: `fake.fail_next(method, path_regex, status_or_Fault, times=1)` answers matching requests
before normal handling; `Fault` has Discord's real answers. What discord.py does with them (http.py
and webhook/async_.py): a 429 with a `Via` header and a JSON `retry_after` is slept off and retried
(5 attempts in all, then HTTPException; a `retry_after` over `max_ratelimit_timeout` raises
RateLimited); a 429 without `Via` (a Cloudflare ban) raises HTTPException at once. REST calls retry
500/502/504/524 after sleeping 1, 3, 5, 7, 9 s (25 s in all) and then raise DiscordServerError, while
503 raises at once; interaction callbacks and follow-ups (the webhook adapter) retry every 5xx,
503 included. 403 -> Forbidden, 404 -> NotFound, any other 4xx -> HTTPException. Connection resets
are retried only for errno 54/10054 (macOS/Windows), never on Linux.

Rate limits: every `POST /channels/{id}/messages` answer carries X-RateLimit-Limit/-Remaining/-Reset/
-Reset-After/-Bucket. By default they describe a roomy bucket that never binds;
`fake.enforce_rate_limits(per_channel=5, per_seconds=5.0)` enforces a fixed window per channel and
advertises it, so discord.py waits pre-emptively and never gets a 429; with `advertise=False` the
headers keep claiming the roomy bucket, so the client runs into 429s and must retry.
`fake.rate_limited_count` counts every 429 answered, enforced or injected; `fake.invalid_request_count`
counts 401/403/429 answers (10,000 of them in 10 minutes get a real bot's IP banned).

Interactions: `fake.send_interaction(...)` dispatches a realistic INTERACTION_CREATE (slash command or,
with `send_autocomplete`, autocomplete) in a guild channel or a DM. discord.py's Interaction
constructor needs `id`, `application_id`, `type`, `token`, `version`, `attachment_size_limit`, and for
guilds `member` with `user`, `roles` and `flags` (a KeyError there escapes from `client.start()` and
kills the client: `Client.connect` only catches network errors); without `member.permissions`,
`interaction.permissions` is silently empty. The callback must come within 3 s (`interaction_deadline`),
once (a second one is 400 code 40060); follow-ups need an acknowledged interaction and a token under
15 minutes old. `fake.wait_for_responses(interaction_id)` returns the callback, follow-ups and edits.

Channels answer like Discord's: a deleted one (`delete_channel`) 404 10003, one in a guild the bot
left (`remove_guild`) 403 50001, one where the bot lacks Send Messages (`add_guild(...,
bot_permissions=...)`) 403 50013; without Embed Links embeds are dropped silently. The fake does not
echo the bot's own messages back as MESSAGE_CREATE, and does not merge embeds that share a URL
(Discord shows them as one).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import itertools
import json
import logging
import math
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import discord
import discord.gateway
import discord.http
import pytest
import yarl
from aiohttp import BodyPartReader, WSMsgType, web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "discord" / "openapi-trimmed.json"
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
SEND_MESSAGES_IN_THREADS = 1 << 38
DEFAULT_BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
EVERYONE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS

# Gateway intents the fake cares about.
GUILDS_INTENT = 1 << 0
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message_content

# Interaction and callback types.
APPLICATION_COMMAND = 2
APPLICATION_COMMAND_AUTOCOMPLETE = 4
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7

_SPEC_URI = "urn:discord-openapi"
_ROOMY_LIMIT = 1000  # the bucket advertised when rate limits are not enforced
_ROOMY_WINDOW = 1.0
_BUCKET_HASH = "f6b5c1e2a7d3c4b8e9a0d1c2b3a4f5e6"


@dataclass(frozen=True)
class UploadedFile:
    """A file part (`files[n]`) of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


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


@dataclass(frozen=True)
class Fault:
    """An error answer to inject; the constructors give Discord's real ones."""

    status: int
    body: Any = None  # a JSON value, or bytes sent as text/html
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def rate_limited(cls, retry_after: float = 0.2, *, is_global: bool = False, via: bool = True) -> Fault:
        """429 with Retry-After, X-RateLimit-* and (unless `via=False`) the `Via` that discord.py needs."""
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": _BUCKET_HASH,
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if via:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return cls(429, body, headers)

    @classmethod
    def cloudflare_ban(cls) -> Fault:
        """429 from Cloudflare (no Via, an HTML body): discord.py raises HTTPException at once."""
        return cls(429, b"<html><body>error code: 1015</body></html>", {"Retry-After": "600"})

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 for a bad or revoked token."""
        return cls(401, {"message": "401: Unauthorized", "code": 0})

    @classmethod
    def missing_access(cls) -> Fault:
        """403 50001: the bot cannot see the channel (or left the guild)."""
        return cls(403, {"message": "Missing Access", "code": 50001})

    @classmethod
    def missing_permissions(cls) -> Fault:
        """403 50013: the bot lacks a permission (e.g. Send Messages) in the channel."""
        return cls(403, {"message": "Missing Permissions", "code": 50013})

    @classmethod
    def unknown_channel(cls) -> Fault:
        """404 10003: the channel was deleted."""
        return cls(404, {"message": "Unknown Channel", "code": 10003})

    @classmethod
    def unknown_interaction(cls) -> Fault:
        """404 10062: the interaction expired (no callback within 3 s) or never existed."""
        return cls(404, {"message": "Unknown interaction", "code": 10062})

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx with Discord's JSON error body (see the module docstring for which are retried)."""
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return cls(status, {"message": f"{status}: {reasons.get(status, 'Server Error')}", "code": 0})


@dataclass
class _FaultRule:
    """A queued fault: which requests it hits and how many more times (None: until cleared)."""

    method: str | None
    pattern: re.Pattern[str]
    fault: Fault
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request."""
        if self.method is not None and self.method not in ("*", method):
            return False
        return self.pattern.search(path) is not None


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


@dataclass
class _Bucket:
    """A fixed rate-limit window of one channel."""

    reset_at: float  # wall-clock epoch seconds
    used: int = 0


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


class OpenAPISpec:
    """Discord's OpenAPI document with a validator compiled once per schema."""

    def __init__(self, path: Path) -> None:
        """Load the spec and register it so `#/components/...` references resolve."""
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def resolve(self, pointer: str) -> Any:
        """The JSON value at a JSON pointer, following a `$ref` found there."""
        node: Any = self.document
        for part in pointer.lstrip("/").split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, dict) and "$ref" in node:
            return self.resolve(node["$ref"].removeprefix("#"))
        return node

    def validator(self, pointer: str) -> Draft202012Validator:
        """The (cached) validator of the schema at `pointer`."""
        validator = self._validators.get(pointer)
        if validator is None:
            schema = {"$ref": f"{_SPEC_URI}#{quote(pointer)}"}
            validator = Draft202012Validator(schema, registry=self.registry)
            self._validators[pointer] = validator
        return validator

    def request_pointer(self, template: str, method: str, body: Any) -> str | None:
        """The pointer to the route's JSON request schema (a union narrowed by the body's `type`)."""
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/requestBody/content/application~1json/schema"
        try:
            schema = self.resolve(pointer)
        except (KeyError, IndexError):
            return None
        union = schema.get("anyOf") or schema.get("oneOf")
        if union and isinstance(body, dict) and "type" in body:
            keyword = "anyOf" if "anyOf" in schema else "oneOf"
            matching = [
                index
                for index, branch in enumerate(union)
                if body["type"]
                in self.resolve(f"{pointer}/{keyword}/{index}")
                .get("properties", {})
                .get("type", {})
                .get("enum", ())
            ]
            if len(matching) == 1:
                return f"{pointer}/{keyword}/{matching[0]}"
        return pointer

    def response_pointer(self, template: str, method: str, status: int) -> str | None:
        """The pointer to the route's JSON response schema for a status, if the spec has one."""
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"
        try:
            self.resolve(pointer)
        except (KeyError, IndexError):
            return None
        return pointer


def _problems(error: ValidationError) -> list[tuple[tuple[str, ...], str, str]]:
    """A schema violation as (field path, code, message) items; a failed union reports its closest branch."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        closest = min(branches.values(), key=len)
        return [problem for inner in closest for problem in _problems(inner)]
    return [_problem(error)]


def _problem(error: ValidationError) -> tuple[tuple[str, ...], str, str]:
    """One schema violation as (field path, Discord-style code, message)."""
    leaf = best_match([error]) or error
    path = tuple(str(part) for part in leaf.absolute_path)
    kind = leaf.validator
    if kind in ("maxLength", "maxItems"):
        return path, "BASE_TYPE_MAX_LENGTH", f"Must be {leaf.validator_value} or fewer in length."
    if kind in ("minLength", "minItems"):
        return path, "BASE_TYPE_MIN_LENGTH", f"Must be {leaf.validator_value} or more in length."
    if kind == "required" and isinstance(leaf.instance, dict):
        missing = [name for name in leaf.validator_value if name not in leaf.instance]
        return (*path, *missing[:1]), "BASE_TYPE_REQUIRED", "This field is required"
    message = leaf.message if len(leaf.message) <= 200 else leaf.message[:197] + "..."
    return path, f"SCHEMA_{str(kind).upper()}", message


def _message_limit_problems(
    body: Any, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str, str]]:
    """Discord's documented limits the spec does not carry: content 2000, 6000 across embeds."""
    if not isinstance(body, dict):
        return []
    problems: list[tuple[tuple[str, ...], str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT_LENGTH:
        problems.append(
            (
                (*prefix, "content"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT_LENGTH} or fewer in length.",
            )
        )
    embeds = body.get("embeds")
    if isinstance(embeds, list) and embeds_total_length(embeds) > MAX_EMBED_TOTAL:
        problems.append(
            (
                (*prefix, "embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
            )
        )
    return problems


def embeds_total_length(embeds: Iterable[Any]) -> int:
    """The characters Discord counts against the 6000 limit across a message's embeds."""
    total = 0
    for embed in embeds:
        if not isinstance(embed, dict):
            continue
        for key in ("title", "description"):
            total += len(embed.get(key) or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
        for item in embed.get("fields") or ():
            if isinstance(item, dict):
                total += len(item.get("name") or "") + len(item.get("value") or "")
    return total


def _errors_object(problems: Sequence[tuple[tuple[str, ...], str, str]]) -> dict[str, Any]:
    """Discord's nested `errors` object: one `_errors` list at each failing field."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for part in path:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return errors


def _normalised_for_spec(body: Any) -> Any:
    """A copy of a body with discord.py's integer attachment ids as strings (Discord takes both)."""
    if not isinstance(body, dict):
        return body
    attachments = body.get("attachments")
    data = body.get("data")
    if not isinstance(attachments, list) and not (isinstance(data, dict) and "attachments" in data):
        return body
    body = copy.deepcopy(body)
    for holder in (body, body.get("data")):
        if isinstance(holder, dict) and isinstance(holder.get("attachments"), list):
            for attachment in holder["attachments"]:
                if isinstance(attachment, dict) and isinstance(attachment.get("id"), int):
                    attachment["id"] = str(attachment["id"])
    return body


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


class FakeDiscord:
    """The fake Discord; `await start()` before use and `await close()` after."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int | None = None,
        bot_username: str = "arxiv-digest-test",
        privileged_intents: int = 0,
        interaction_deadline: float | None = 3.0,
        followup_lifetime: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A fake for one bot; `privileged_intents` are those "enabled in the developer portal"."""
        self.token = token
        self.application_id = application_id
        self.bot_user_id = application_id if bot_user_id is None else bot_user_id
        self.privileged_intents = privileged_intents
        self.interaction_deadline = interaction_deadline
        self.followup_lifetime = followup_lifetime
        self.clock = clock
        self.bot_user: dict[str, Any] = {
            "id": str(self.bot_user_id),
            "username": bot_username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        self.requests: list[RecordedRequest] = []
        self.validation_errors: list[str] = []
        self.answer_errors: list[str] = []
        self.synced_commands: dict[str | int, list[dict[str, Any]]] = {}
        self.identify_payloads: list[dict[str, Any]] = []
        self.resume_payloads: list[dict[str, Any]] = []
        self.gateway_log: list[GatewayConnection] = []
        self.downloads: list[str] = []
        self.rate_limited_count = 0
        self.invalid_request_count = 0
        self.url = ""
        self._spec = OpenAPISpec(SPEC_PATH)
        self._routes = self._build_routes()
        self._guilds: dict[int, _Guild] = {}
        self._dm_channels: dict[int, dict[str, Any]] = {}
        self._deleted_channels: set[int] = set()
        self._messages: dict[int, list[dict[str, Any]]] = {}
        self._message_index: dict[int, dict[str, Any]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._interactions_by_token: dict[str, _Interaction] = {}
        self._attachments: dict[int, tuple[str, str, bytes]] = {}
        self._faults: list[_FaultRule] = []
        self._enforced: tuple[int, float, bool] | None = None
        self._buckets: dict[int, _Bucket] = {}
        self._sessions: dict[str, _Session] = {}
        self._session: _Session | None = None
        self._live: GatewayConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What `discord.http.Route.BASE` must be: `http://127.0.0.1:PORT/api/v10`."""
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What `DiscordWebSocket.DEFAULT_GATEWAY` must be (as a `yarl.URL`)."""
        return f"{self.url.replace('http://', 'ws://', 1)}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """The `resume_gateway_url` READY hands out (reconnects RESUME there)."""
        return f"{self.gateway_url}/resume"

    @property
    def routes(self) -> list[tuple[str, str]]:
        """The REST routes answered, as (method, the spec's path template)."""
        return [(route.method, route.template) for route in self._routes]

    @property
    def gateway_connections(self) -> int:
        """How many websocket connections clients have opened."""
        return len(self.gateway_log)

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/gateway/resume", self._handle_gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._handle_attachment)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def close(self) -> None:
        """Close every websocket and stop listening."""
        for connection in self.gateway_log:
            if connection.ws is not None and not connection.ws.closed:
                await connection.ws.close(code=1001)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def aim(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point discord.py's REST base and default gateway at this fake for the rest of the test."""
        self._require_started()
        monkeypatch.setattr(discord.http.Route, "BASE", self.api_url)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    @contextlib.contextmanager
    def aimed(self) -> Iterator[None]:
        """The same as `aim`, by plain attribute assignment, restored on leaving the block."""
        self._require_started()
        saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved

    def _require_started(self) -> None:
        """Refuse to aim a client at a fake that has no port yet."""
        if not self.url:
            raise RuntimeError("start() the fake before aiming a client at it")

    @contextlib.asynccontextmanager
    async def run_client(
        self, client: discord.Client, *, timeout: float = 5.0
    ) -> AsyncIterator[discord.Client]:
        """Run `client.start(self.token)` until the client is ready with every guild; close it after."""
        task = asyncio.create_task(client.start(self.token), name="fake-discord-client")
        try:
            async with asyncio.timeout(timeout):
                while not (client.is_ready() and all(client.get_guild(g) for g in self._active_guilds())):
                    if task.done():
                        task.result()
                        raise RuntimeError("client.start() returned before the client was ready")
                    await asyncio.sleep(0.005)
            yield client
        finally:
            await client.close()
            await task

    # -- what tests set up ------------------------------------------------------------------------

    def add_guild(
        self,
        guild_id: int,
        channels: Iterable[tuple[int, str]] = (),
        *,
        name: str | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = EVERYONE_PERMISSIONS,
    ) -> dict[str, Any]:
        """Put the bot in a guild with these text channels; a connected client gets GUILD_CREATE."""
        guild = _Guild(
            id=guild_id,
            name=name or f"Test guild {guild_id}",
            channels={},
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
            joined_at=_iso(),
            bot_role_id=self._snowflake(),
        )
        for position, (channel_id, channel_name) in enumerate(channels):
            guild.channels[channel_id] = {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": channel_name,
                "position": position,
                "flags": 0,
                "parent_id": None,
                "topic": None,
                "nsfw": False,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "permission_overwrites": [],
            }
            self._deleted_channels.discard(channel_id)
        self._guilds[guild_id] = guild
        if self._session is not None and self._session.intents & GUILDS_INTENT:
            self._emit("GUILD_CREATE", self._guild_create_payload(guild))
        return self._guild_create_payload(guild)

    def add_attachment(self, filename: str, data: bytes, content_type: str = "text/plain") -> dict[str, Any]:
        """Serve bytes at an attachment URL of this fake; returns the attachment object."""
        attachment_id = self._snowflake()
        self._attachments[attachment_id] = (filename, content_type, data)
        return self._attachment_object(attachment_id)

    def fail_next(
        self,
        method: str | None,
        path_regex: str,
        status: int | Fault,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` requests (None: all) whose path after /api/v10 matches (re.search)."""
        fault = status if isinstance(status, Fault) else Fault(status)
        if body is not None or headers is not None:
            fault = dataclasses.replace(
                fault,
                body=fault.body if body is None else body,
                headers={**fault.headers, **(headers or {})},
            )
        pattern = re.compile(path_regex)
        self._faults.append(_FaultRule(method.upper() if method else None, pattern, fault, times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def enforce_rate_limits(
        self, per_channel: int = 5, per_seconds: float = 5.0, *, advertise: bool = True
    ) -> None:
        """Answer 429 past `per_channel` messages a window; `advertise=False` hides the real bucket."""
        self._enforced = (per_channel, per_seconds, advertise)
        self._buckets.clear()

    # -- what tests read --------------------------------------------------------------------------

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """The recorded requests with this method whose path matches (re.search)."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages created in a channel via POST /channels/{id}/messages: body, files, message, time."""
        return list(self._messages.get(channel_id, []))

    async def wait_for_messages(
        self, channel_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until a channel has at least `count` created messages and return them."""
        await self._wait_until(
            lambda: len(self._messages.get(channel_id, [])) >= count,
            timeout,
            lambda: (
                f"{count} messages in channel {channel_id} (have {len(self._messages.get(channel_id, []))})"
            ),
        )
        return self.channel_messages(channel_id)

    def responses(self, interaction_id: int | str) -> list[dict[str, Any]]:
        """What was answered to an interaction so far: callback, follow-ups, edits, in order."""
        interaction = self._interactions.get(int(interaction_id))
        return [] if interaction is None else list(interaction.responses)

    async def wait_for_responses(
        self, interaction_id: int | str, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until an interaction got at least `count` responses and return them all.

        Each is a dict: kind ("callback", "followup", "edit_original", "delete_original",
        "edit_followup", "delete_followup"), type (the callback type, else None), data (the message
        or choices body), flags, ephemeral, files (UploadedFile list), time.
        """
        await self._wait_until(
            lambda: len(self.responses(interaction_id)) >= count,
            timeout,
            lambda: (
                f"{count} responses to interaction {interaction_id} (have {self.responses(interaction_id)})"
            ),
        )
        return self.responses(interaction_id)

    # -- the gateway, driven by tests -------------------------------------------------------------

    async def wait_ready(self, timeout: float = 5.0) -> GatewayConnection:
        """Wait until a client's connection got READY and its GUILD_CREATEs (or RESUMED)."""
        await self._wait_until(
            lambda: self._live is not None and self._live.ready, timeout, lambda: "a ready gateway connection"
        )
        assert self._live is not None
        return self._live

    async def dispatch(self, event: str, data: dict[str, Any], *, timeout: float = 5.0) -> int:
        """Send a dispatch (op 0) to the connected client once it is ready; returns its sequence number."""
        connection = await self.wait_ready(timeout)
        future = self._emit(event, data)
        if future is None:
            raise RuntimeError(f"no gateway connection to send {event} to")
        await asyncio.wait_for(future, timeout)
        assert connection.session is not None
        return connection.session.seq

    async def send_interaction(
        self,
        name: str,
        options: Sequence[dict[str, Any]] = (),
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        username: str = "tester",
        permissions: int | str = 0,
        roles: Sequence[int] = (),
        interaction_type: int = APPLICATION_COMMAND,
        attachments: Sequence[dict[str, Any]] = (),
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> SentInteraction:
        """Dispatch INTERACTION_CREATE for a slash command (type 2) or autocomplete (type 4).

        In a guild (`guild_id`, `channel_id` defaulting to its first channel) the user is a `member` with
        `permissions` (a bitfield, e.g. MANAGE_CHANNELS); without `guild_id` it is a DM (`user`, channel
        type 1). `options` are as Discord sends them (a subcommand is type 1 with nested `options`;
        autocomplete marks one option `focused`). `attachments` (from `add_attachment`) go into
        `data.resolved.attachments`.
        """
        interaction_id = self._snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        user = _user_object(user_id, username)
        command_id, command_guild = self._command_for(name, guild_id)
        data: dict[str, Any] = {"id": str(command_id), "name": name, "type": 1}
        if options:
            data["options"] = [dict(option) for option in options]
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        resolved = dict(resolved or {})
        if attachments:
            resolved["attachments"] = {str(a["id"]): dict(a) for a in attachments}
        if resolved:
            data["resolved"] = resolved
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "token": token,
            "version": 1,
            "data": data,
            "locale": locale,
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if guild_id is not None:
            guild = self._guilds[guild_id]
            if channel_id is None:
                channel_id = next(iter(guild.channels))
            channel = dict(guild.channels[channel_id])
            app_permissions = str(guild.bot_permissions | guild.everyone_permissions)
            channel["permissions"] = app_permissions
            payload |= {
                "guild_id": str(guild_id),
                "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "channel_id": str(channel_id),
                "channel": channel,
                "app_permissions": app_permissions,
                "authorizing_integration_owners": {"0": str(guild_id)},
                "context": 0,
                "member": {
                    "user": user,
                    "roles": [str(role) for role in roles],
                    "joined_at": _iso(),
                    "premium_since": None,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "nick": None,
                    "avatar": None,
                    "banner": None,
                    "communication_disabled_until": None,
                    "unusual_dm_activity_until": None,
                    "permissions": str(permissions),
                },
            }
        else:
            if channel_id is None:
                channel_id = self._snowflake()
            channel = self._dm_channels.setdefault(
                channel_id,
                {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0, "recipients": [user]},
            )
            payload |= {
                "channel_id": str(channel_id),
                "channel": dict(channel),
                "app_permissions": str(DEFAULT_BOT_PERMISSIONS),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
                "user": user,
            }
        interaction = _Interaction(
            id=interaction_id, token=token, payload=payload, created=self.clock(), channel_id=channel_id
        )
        self._interactions[interaction_id] = interaction
        self._interactions_by_token[token] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        return SentInteraction(interaction_id, token)

    async def send_autocomplete(
        self, name: str, options: Sequence[dict[str, Any]], **kwargs: Any
    ) -> SentInteraction:
        """Dispatch an autocomplete interaction (type 4); one option (maybe nested) must be `focused`."""

        def has_focus(items: Iterable[dict[str, Any]]) -> bool:
            """Whether any option here or below is focused."""
            return any(item.get("focused") or has_focus(item.get("options", ())) for item in items)

        if not has_focus(options):
            raise ValueError("an autocomplete interaction needs a focused option")
        return await self.send_interaction(
            name, options, interaction_type=APPLICATION_COMMAND_AUTOCOMPLETE, **kwargs
        )

    async def remove_guild(self, guild_id: int) -> None:
        """The bot was removed from a guild: GUILD_DELETE; its channels answer 403 Missing Access."""
        guild = self._guilds[guild_id]
        guild.removed = True
        await self._emit_and_wait("GUILD_DELETE", {"id": str(guild_id)}, intent=GUILDS_INTENT)

    async def delete_channel(self, channel_id: int) -> None:
        """A channel was deleted: CHANNEL_DELETE; it answers 404 Unknown Channel from now on."""
        for guild in self._guilds.values():
            channel = guild.channels.pop(channel_id, None)
            if channel is not None:
                self._deleted_channels.add(channel_id)
                await self._emit_and_wait("CHANNEL_DELETE", channel, intent=GUILDS_INTENT)
                return
        raise KeyError(f"no channel {channel_id}")

    async def drop_gateway(self, code: int | None = None, *, timeout: float = 5.0) -> None:
        """Close the client's websocket: abruptly (no close frame) or with `code` (e.g. 4000)."""
        connection = await self.wait_ready(timeout)
        connection.ready = False
        if self._live is connection:
            self._live = None
        if code is None:
            assert connection.request is not None
            assert connection.request.transport is not None
            connection.request.transport.abort()
        else:
            await self._close(connection, code, "closed by the fake")
        self._notify()

    async def request_reconnect(self, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs on a new connection."""
        connection = await self.wait_ready(timeout)
        connection.ready = False
        self._live = None
        connection.outbox.put_nowait((json.dumps({"op": 7, "d": None}), None, None))

    async def invalidate_session(self, *, resumable: bool = False, timeout: float = 5.0) -> None:
        """Send op 9 INVALID_SESSION; unless resumable the client must IDENTIFY afresh."""
        connection = await self.wait_ready(timeout)
        connection.ready = False
        self._live = None
        if not resumable and connection.session is not None:
            self._sessions.pop(connection.session.session_id, None)
            self._session = None
        connection.outbox.put_nowait((json.dumps({"op": 9, "d": resumable}), None, None))

    # -- internals: state -------------------------------------------------------------------------

    def _snowflake(self) -> int:
        """A new, increasing snowflake id."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._ids) & 0x3FFFFF)

    def _notify(self) -> None:
        """Wake every waiter."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(
        self, predicate: Callable[[], bool], timeout: float, what: Callable[[], str]
    ) -> None:
        """Wait until `predicate()` holds, or raise TimeoutError saying what was awaited."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _active_guilds(self) -> list[int]:
        """Ids of the guilds the bot is still in."""
        return [guild.id for guild in self._guilds.values() if not guild.removed]

    def _command_for(self, name: str, guild_id: int | None) -> tuple[int, int | None]:
        """The synced command's id for a name, and its guild when it is a guild command."""
        if guild_id is not None:
            for command in self.synced_commands.get(guild_id, []):
                if command["name"] == name:
                    return int(command["id"]), guild_id
        for command in self.synced_commands.get("global", []):
            if command["name"] == name:
                return int(command["id"]), None
        return self._snowflake(), None

    def _channel(self, channel_id: int) -> tuple[dict[str, Any], _Guild | None]:
        """A channel the bot can use, or Discord's error for it."""
        if channel_id in self._dm_channels:
            return self._dm_channels[channel_id], None
        for guild in self._guilds.values():
            if channel_id in guild.channels:
                if guild.removed or not (guild.bot_permissions | guild.everyone_permissions) & VIEW_CHANNEL:
                    raise _error(403, 50001, "Missing Access")
                return guild.channels[channel_id], guild
        raise _error(404, 10003, "Unknown Channel")

    def _guild_create_payload(self, guild: _Guild) -> dict[str, Any]:
        """A GUILD_CREATE with what discord.py reads: roles, the bot as member, text channels."""
        role_defaults = {
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "mentionable": False,
            "flags": 0,
        }
        roles = [
            {
                "id": str(guild.id),
                "name": "@everyone",
                "permissions": str(guild.everyone_permissions),
                "position": 0,
                "managed": False,
                **role_defaults,
            },
            {
                "id": str(guild.bot_role_id),
                "name": self.bot_user["username"],
                "permissions": str(guild.bot_permissions),
                "position": 1,
                "managed": True,
                "tags": {"bot_id": str(self.bot_user_id)},
                **role_defaults,
            },
        ]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(DEFAULT_USER_ID),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "features": [],
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": 2,
            "members": self._guild_members(guild)[:1],  # without the members intent: only the bot
            "channels": [dict(channel) for channel in guild.channels.values()],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _guild_members(self, guild: _Guild) -> list[dict[str, Any]]:
        """The guild's members: the bot (with its managed role) and the owner, the tests' user."""
        members = []
        for user, roles in (
            (dict(self.bot_user), [str(guild.bot_role_id)]),
            (_user_object(DEFAULT_USER_ID, "tester"), []),
        ):
            members.append(
                {
                    "user": user,
                    "roles": roles,
                    "joined_at": guild.joined_at,
                    "premium_since": None,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "nick": None,
                    "avatar": None,
                    "banner": None,
                    "communication_disabled_until": None,
                }
            )
        return members

    def _attachment_object(self, attachment_id: int) -> dict[str, Any]:
        """The attachment object of a stored file, its URL served by this fake."""
        filename, content_type, data = self._attachments[attachment_id]
        url = f"{self.url}/attachments/{attachment_id}/{quote(filename)}"
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def _message_object(
        self,
        channel_id: int,
        body: dict[str, Any],
        files: Sequence[UploadedFile],
        *,
        interaction: _Interaction | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        """The message Discord answers for a created message (embeds typed, uploads as attachments)."""
        declared = {f"files[{a.get('id')}]": a for a in body.get("attachments") or () if isinstance(a, dict)}
        attachments = []
        for upload in files:
            filename = declared.get(upload.field, {}).get("filename") or upload.filename
            attachment_id = self._snowflake()
            self._attachments[attachment_id] = (filename, upload.content_type, upload.data)
            attachments.append(self._attachment_object(attachment_id))
        message: dict[str, Any] = {
            "id": str(self._snowflake()),
            "channel_id": str(channel_id),
            "type": 0 if interaction is None else 20,
            "content": body.get("content") or "",
            "author": dict(self.bot_user),
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [{**embed, "type": embed.get("type") or "rich"} for embed in body.get("embeds") or ()],
            "components": [],
            "pinned": False,
            "flags": flags | (body.get("flags") or 0),
        }
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        return message

    def _record_response(
        self,
        interaction: _Interaction,
        kind: str,
        body: dict[str, Any] | None,
        files: Sequence[UploadedFile],
        *,
        callback_type: int | None = None,
        message_id: str | None = None,
    ) -> None:
        """Append one recorded response to an interaction."""
        data = body.get("data") if callback_type is not None and body is not None else body
        flags = int((data or {}).get("flags") or 0) if isinstance(data, dict) else 0
        interaction.responses.append(
            {
                "kind": kind,
                "type": callback_type,
                "data": data,
                "flags": flags,
                "ephemeral": bool(flags & EPHEMERAL_FLAG),
                "files": list(files),
                "message_id": message_id,
                "time": self.clock(),
            }
        )

    # -- internals: gateway -----------------------------------------------------------------------

    def _emit(self, event: str, data: dict[str, Any]) -> asyncio.Future[None] | None:
        """Give a dispatch the session's next sequence number and queue it for the live connection.

        Without a live connection it stays in the session and is replayed when the client RESUMEs.
        """
        session = self._session
        if session is None:
            return None
        session.seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.sent.append((session.seq, frame))
        connection = self._live
        if connection is None or connection.session is not session:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        connection.outbox.put_nowait((frame, future, None))
        return future

    async def _emit_and_wait(self, event: str, data: dict[str, Any], *, intent: int) -> None:
        """Emit a state change if the session's intents cover it, and wait until it was sent."""
        if self._session is None or not self._session.intents & intent:
            return
        future = self._emit(event, data)
        if future is not None:
            await asyncio.wait_for(future, 5.0)

    async def _write_frames(self, connection: GatewayConnection) -> None:
        """Send a connection's queued frames in order; resolve each frame's future once written."""
        assert connection.ws is not None
        while True:
            frame, future, then = await connection.outbox.get()
            try:
                if frame is not None and not connection.ws.closed:
                    await connection.ws.send_str(frame)
            except (ConnectionError, RuntimeError) as error:
                if future is not None and not future.done():
                    future.set_exception(error)
                continue
            if future is not None and not future.done():
                future.set_result(None)
            if then is not None:
                then()

    async def _handle_gateway(self, request: web.Request) -> web.WebSocketResponse:
        """One client connection: HELLO, then heartbeats, IDENTIFY or RESUME, member requests."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        connection = GatewayConnection(
            number=len(self.gateway_log) + 1,
            path=request.path,
            query=dict(request.query),
            opened_at=self.clock(),
            ws=ws,
            request=request,
        )
        self.gateway_log.append(connection)
        writer = asyncio.create_task(self._write_frames(connection), name="fake-discord-gateway-writer")
        self._tasks.add(writer)
        hello = {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": ["fake-gateway"]}}
        connection.outbox.put_nowait((json.dumps(hello), None, None))
        self._notify()
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                await self._gateway_op(connection, payload.get("op"), payload.get("d"))
        finally:
            if connection.close_code is None and ws.close_code is not None:
                connection.close_code = int(ws.close_code)
            connection.ready = False
            if self._live is connection:
                self._live = None
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._tasks.discard(writer)
            self._notify()
        return ws

    async def _gateway_op(self, connection: GatewayConnection, op: Any, data: Any) -> None:
        """Answer one gateway opcode from the client."""
        assert connection.ws is not None
        if op == 1:
            connection.heartbeats += 1
            connection.outbox.put_nowait((json.dumps({"op": 11}), None, None))
        elif op == 2:
            await self._identify(connection, data)
        elif op == 6:
            await self._resume(connection, data)
        elif op == 8:
            guild = self._guilds.get(int(data["guild_id"]))
            if guild is not None and connection.session is not None:
                members = self._guild_members(guild)
                chunk = {"guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1}
                if data.get("nonce"):
                    chunk["nonce"] = data["nonce"]
                self._emit("GUILD_MEMBERS_CHUNK", chunk)
        elif op in (3, 4):
            pass  # presence and voice state updates: nothing to answer
        else:
            await self._close(connection, 4001, "Unknown opcode.")

    async def _identify(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        """Check the token and intents, then send READY and a GUILD_CREATE per guild."""
        assert connection.ws is not None
        connection.kind = "identify"
        self.identify_payloads.append(data)
        if data.get("token") != self.token:
            await self._close(connection, 4004, "Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._close(connection, 4014, "Disallowed intent(s).")
            return
        session = _Session(session_id=secrets.token_hex(16), intents=intents)
        self._sessions[session.session_id] = session
        self._session = session
        connection.session = session
        self._live = connection
        ready = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in self._active_guilds()],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        self._emit("READY", ready)
        if intents & GUILDS_INTENT:
            for guild_id in self._active_guilds():
                self._emit("GUILD_CREATE", self._guild_create_payload(self._guilds[guild_id]))
        connection.outbox.put_nowait((None, None, lambda: self._mark_ready(connection)))

    async def _resume(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        """Replay what the client missed and send RESUMED, or INVALID_SESSION for an unknown session."""
        assert connection.ws is not None
        connection.kind = "resume"
        self.resume_payloads.append(data)
        if data.get("token") != self.token:
            await self._close(connection, 4004, "Authentication failed.")
            return
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or session is not self._session:
            connection.outbox.put_nowait((json.dumps({"op": 9, "d": False}), None, None))
            return
        connection.session = session
        self._live = connection
        last = int(data.get("seq") or 0)
        for seq, frame in session.sent:
            if seq > last:
                connection.outbox.put_nowait((frame, None, None))
        self._emit("RESUMED", {"_trace": ["fake-gateway"]})
        connection.outbox.put_nowait((None, None, lambda: self._mark_ready(connection)))

    async def _close(self, connection: GatewayConnection, code: int, reason: str) -> None:
        """Close a connection with a gateway close code, noting it as the connection's."""
        assert connection.ws is not None
        connection.close_code = code
        await connection.ws.close(code=code, message=reason.encode())

    def _mark_ready(self, connection: GatewayConnection) -> None:
        """A connection has sent all its start-up dispatches."""
        if self._live is connection:
            connection.ready = True
        self._notify()

    # -- internals: REST --------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        """The REST routes the fake answers, each tied to the spec's path template."""
        table: list[tuple[str, str, Callable[[_Call], Awaitable[tuple[int, Any]]], bool]] = [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/gateway/bot", self._get_gateway_bot, True),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._callback, False),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self._followup, False),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self._get_webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self._edit_webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self._delete_webhook_message,
                False,
            ),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._get_webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._edit_webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._delete_webhook_message,
                False,
            ),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/channels/{channel_id}/messages", self._create_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
        ]
        return [_Route(method, _route_pattern(t), t, handler, auth) for method, t, handler, auth in table]

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        """The JSON body (or multipart payload_json) and the uploaded files of a request."""
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read(decode=False)
                if part.name == "payload_json":
                    body = json.loads(raw.decode("utf-8"))
                else:
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    files.append(UploadedFile(part.name or "", part.filename or "", content_type, bytes(raw)))
            return body, files
        raw_text = await request.text()
        if not raw_text:
            return None, []
        try:
            return json.loads(raw_text), []
        except ValueError:
            return raw_text, []

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        """Record, fault-inject, authenticate, validate and answer one REST request."""
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=body,
            files=files,
            time=self.clock(),
        )
        self.requests.append(record)
        try:
            status, answer, headers = await self._answer(request, record, body, files)
        except _Answer as error:
            status, answer, headers = error.status, error.body, error.headers
        record.status, record.answer, record.answer_headers = status, answer, dict(headers)
        if status in (401, 403, 429):
            self.invalid_request_count += 1
        self._notify()
        if status == 204 or answer is None:
            return web.Response(status=status, headers=headers)
        if isinstance(answer, bytes):
            return web.Response(status=status, body=answer, headers={**headers, "Content-Type": "text/html"})
        return _json_response(status, answer, headers)

    async def _answer(
        self, request: web.Request, record: RecordedRequest, body: Any, files: list[UploadedFile]
    ) -> tuple[int, Any, dict[str, str]]:
        """The answer to a recorded request: a queued fault, or the route's."""
        for rule in self._faults:
            if rule.matches(record.method, record.path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                if rule.fault.status == 429:
                    self.rate_limited_count += 1
                return rule.fault.status, rule.fault.body, dict(rule.fault.headers)
        matches = [(route, route.pattern.match(record.path)) for route in self._routes]
        candidates = [(route, match) for route, match in matches if match is not None]
        if not candidates:
            raise _error(404, 0, "404: Not Found")
        chosen = next(((r, m) for r, m in candidates if r.method == record.method), None)
        if chosen is None:
            raise _error(405, 0, "405: Method Not Allowed")
        route, match = chosen
        if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
            raise _error(401, 0, "401: Unauthorized")
        call = _Call(record=record, params=match.groupdict(), body=body, files=files)
        if route.handler == self._create_message:
            call.headers.update(self._take_rate_limit(call.int_param("channel_id")))
        self._validate(route, record, body)
        status, answer = await route.handler(call)
        if 200 <= status < 300 and answer is not None:
            self._check_answer(route, status, answer)
        return status, answer, call.headers

    def _validate(self, route: _Route, record: RecordedRequest, body: Any) -> None:
        """Check a request body against the spec and Discord's message limits; 400 when it fails."""
        pointer = self._spec.request_pointer(route.template, route.method, body)
        if pointer is None:
            return
        validator = self._spec.validator(pointer)
        body_for_spec = _normalised_for_spec(body)
        problems = [problem for error in validator.iter_errors(body_for_spec) for problem in _problems(error)]
        if route.template.endswith("/callback"):
            if isinstance(body, dict) and body.get("type") in (CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE):
                problems += _message_limit_problems(body.get("data"), ("data",))
            if isinstance(body, dict) and body.get("type") == AUTOCOMPLETE_RESULT:
                choices = (body.get("data") or {}).get("choices") or []
                if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
                    problems.append(
                        (("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
                    )
        elif "messages" in route.template or route.template == "/webhooks/{webhook_id}/{webhook_token}":
            problems += _message_limit_problems(body)
        unique = list(dict.fromkeys(problems))
        if not unique:
            return
        for path, code, message in unique:
            where = ".".join(path) or "<body>"
            self.validation_errors.append(f"{record.method} {record.path}: {where}: {code}: {message}")
        raise _Answer(400, {"code": 50035, "message": "Invalid Form Body", "errors": _errors_object(unique)})

    def _check_answer(self, route: _Route, status: int, answer: Any) -> None:
        """Record where one of the fake's own answers strays from the spec's response schema."""
        pointer = self._spec.response_pointer(route.template, route.method, status)
        if pointer is None:
            self.answer_errors.append(f"{route.method} {route.template}: no {status} response in the spec")
            return
        for error in self._spec.validator(pointer).iter_errors(answer):
            for path, _, message in _problems(error):
                self.answer_errors.append(f"{route.method} {route.template}: {'.'.join(path)}: {message}")

    def _take_rate_limit(self, channel_id: int) -> dict[str, str]:
        """Count a message against its channel's bucket: the X-RateLimit headers, or a 429."""
        limit, window, advertise = self._enforced or (_ROOMY_LIMIT, _ROOMY_WINDOW, True)
        now = time.time()
        bucket = self._buckets.get(channel_id)
        if bucket is None or now >= bucket.reset_at:
            bucket = self._buckets[channel_id] = _Bucket(reset_at=now + window)
        bucket.used += 1
        reset_after = max(bucket.reset_at - now, 0.0)
        if self._enforced is not None and bucket.used > limit:
            self.rate_limited_count += 1
            fault = Fault.rate_limited(round(reset_after, 3))
            raise _Answer(429, fault.body, fault.headers)
        shown_limit, shown_used = (limit, bucket.used) if advertise else (_ROOMY_LIMIT, 1)
        return {
            "X-RateLimit-Limit": str(shown_limit),
            "X-RateLimit-Remaining": str(max(shown_limit - shown_used, 0)),
            "X-RateLimit-Reset": f"{bucket.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": _BUCKET_HASH,
        }

    # -- internals: REST handlers -----------------------------------------------------------------

    async def _get_me(self, call: _Call) -> tuple[int, Any]:
        """The bot user."""
        return 200, {
            **self.bot_user,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    async def _get_application(self, call: _Call) -> tuple[int, Any]:
        """The bot's application (discord.py takes the application id for command sync from here)."""
        owner = {
            "id": str(DEFAULT_USER_ID),
            "username": "owner",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "type": None,
            "bot": dict(self.bot_user),
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": owner,
            "approximate_guild_count": len(self._active_guilds()),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
            "integration_types_config": {"0": {}},
        }

    async def _get_gateway_bot(self, call: _Call) -> tuple[int, Any]:
        """Where to connect (only AutoShardedClient asks)."""
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    def _commands_scope(self, call: _Call) -> str | int:
        """`"global"` or the guild id of a commands route (another application's id is 403)."""
        if call.int_param("application_id") != self.application_id:
            raise _error(403, 50001, "Missing Access")
        if "guild_id" in call.params:
            guild_id = call.int_param("guild_id")
            if guild_id not in self._guilds or self._guilds[guild_id].removed:
                raise _error(403, 50001, "Missing Access")
            return guild_id
        return "global"

    async def _get_commands(self, call: _Call) -> tuple[int, Any]:
        """The commands synced to a scope."""
        return 200, copy.deepcopy(self.synced_commands.get(self._commands_scope(call), []))

    async def _put_commands(self, call: _Call) -> tuple[int, Any]:
        """Replace a scope's commands (bulk overwrite) and answer them as Discord stores them."""
        scope = self._commands_scope(call)
        previous = {(c["name"], c["type"]): c["id"] for c in self.synced_commands.get(scope, [])}
        stored = []
        for sent in call.body or []:
            command = copy.deepcopy(sent)
            command_type = command.get("type", 1)
            permissions = command.get("default_member_permissions")
            command |= {
                "id": previous.get((command["name"], command_type)) or str(self._snowflake()),
                "application_id": str(self.application_id),
                "version": str(self._snowflake()),
                "type": command_type,
                "description": command.get("description") or "",
                "default_member_permissions": None if permissions is None else str(permissions),
                "nsfw": bool(command.get("nsfw", False)),
                "integration_types": command.get("integration_types") or [0],
            }
            if scope == "global":
                command.setdefault("dm_permission", True)
            else:
                command["guild_id"] = str(scope)
                command.pop("dm_permission", None)
            stored.append(command)
        self.synced_commands[scope] = stored
        return 200, copy.deepcopy(stored)

    def _interaction(self, interaction_id: int, token: str) -> _Interaction:
        """The interaction a callback is for, or Discord's 10062 when unknown or too late."""
        interaction = self._interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            raise _error(404, 10062, "Unknown interaction")
        if (
            self.interaction_deadline is not None
            and self.clock() - interaction.created > self.interaction_deadline
        ):
            raise _error(404, 10062, "Unknown interaction")
        return interaction

    async def _callback(self, call: _Call) -> tuple[int, Any]:
        """The first answer to an interaction; a JSON InteractionCallbackResponse (with_response)."""
        interaction = self._interaction(call.int_param("interaction_id"), call.params["interaction_token"])
        if interaction.acknowledged:
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        body = call.body or {}
        callback_type = int(body.get("type", 0))
        data = body.get("data") or {}
        interaction.acknowledged = True
        info: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.payload["type"],
            "channel_id": str(interaction.channel_id),
        }
        if "guild_id" in interaction.payload:
            info["guild_id"] = interaction.payload["guild_id"]
        answer: dict[str, Any] = {"interaction": info}
        message_id = None
        if callback_type in (CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE):
            flags = LOADING_FLAG if callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE else 0
            message = self._message_object(
                interaction.channel_id, data, call.files, interaction=interaction, flags=flags
            )
            interaction.original = message
            message_id = message["id"]
            info |= {
                "response_message_id": message["id"],
                "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL_FLAG),
            }
            if callback_type == CHANNEL_MESSAGE_WITH_SOURCE:
                answer["resource"] = {"type": callback_type, "message": message}
        self._record_response(
            interaction, "callback", body, call.files, callback_type=callback_type, message_id=message_id
        )
        if call.record.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        return 200, answer

    def _webhook_interaction(self, call: _Call) -> _Interaction:
        """The interaction behind a follow-up webhook (application id + interaction token)."""
        interaction = self._interactions_by_token.get(call.params["webhook_token"])
        if call.int_param("webhook_id") != self.application_id or interaction is None:
            raise _error(404, 10015, "Unknown Webhook")
        if self.clock() - interaction.created > self.followup_lifetime:
            raise _error(401, 50027, "Invalid Webhook Token")
        if not interaction.acknowledged:
            raise _error(404, 10015, "Unknown Webhook")
        return interaction

    async def _followup(self, call: _Call) -> tuple[int, Any]:
        """A follow-up message; answered with the message when `wait` is true, else 204."""
        interaction = self._webhook_interaction(call)
        body = call.body or {}
        message = self._message_object(interaction.channel_id, body, call.files, interaction=interaction)
        interaction.followups[int(message["id"])] = message
        self._record_response(interaction, "followup", body, call.files, message_id=message["id"])
        if call.record.query.get("wait", "").lower() in ("1", "true"):
            return 200, message
        return 204, None

    def _webhook_message(self, call: _Call, interaction: _Interaction) -> dict[str, Any]:
        """The original response or a follow-up, or 10008 Unknown Message."""
        message_id = call.params.get("message_id")
        if message_id is None:
            message = interaction.original
        else:
            message = interaction.followups.get(int(message_id)) if message_id.isdigit() else None
        if message is None:
            raise _error(404, 10008, "Unknown Message")
        return message

    async def _get_webhook_message(self, call: _Call) -> tuple[int, Any]:
        """Fetch the original response or a follow-up."""
        return 200, self._webhook_message(call, self._webhook_interaction(call))

    async def _edit_webhook_message(self, call: _Call) -> tuple[int, Any]:
        """Edit the original response (e.g. after a defer) or a follow-up."""
        interaction = self._webhook_interaction(call)
        message = self._webhook_message(call, interaction)
        body = call.body or {}
        self._apply_edit(message, body, call.files)
        kind = "edit_original" if "message_id" not in call.params else "edit_followup"
        self._record_response(interaction, kind, body, call.files, message_id=message["id"])
        return 200, message

    async def _delete_webhook_message(self, call: _Call) -> tuple[int, Any]:
        """Delete the original response or a follow-up."""
        interaction = self._webhook_interaction(call)
        message = self._webhook_message(call, interaction)
        if "message_id" in call.params:
            interaction.followups.pop(int(message["id"]), None)
            kind = "delete_followup"
        else:
            interaction.original = None
            kind = "delete_original"
        self._record_response(interaction, kind, None, [], message_id=message["id"])
        return 204, None

    def _apply_edit(
        self, message: dict[str, Any], body: dict[str, Any], files: Sequence[UploadedFile]
    ) -> None:
        """Apply a message edit: content, embeds, flags, kept and new attachments."""
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [{**e, "type": e.get("type") or "rich"} for e in body["embeds"] or ()]
        if "attachments" in body or files:
            kept_ids = {str(a.get("id")) for a in body.get("attachments") or () if isinstance(a, dict)}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._message_object(0, body, files)["attachments"]
        message["flags"] = int(message.get("flags", 0)) & ~LOADING_FLAG
        message["edited_timestamp"] = _iso()

    async def _get_channel(self, call: _Call) -> tuple[int, Any]:
        """A channel the bot can see."""
        channel, _ = self._channel(call.int_param("channel_id"))
        return 200, dict(channel)

    async def _create_message(self, call: _Call) -> tuple[int, Any]:
        """Post a message into a channel, checking the bot's permissions as Discord does."""
        channel_id = call.int_param("channel_id")
        channel, guild = self._channel(channel_id)
        body = dict(call.body or {})
        if guild is not None:
            allowed = guild.bot_permissions | guild.everyone_permissions
            if not allowed & ADMINISTRATOR:
                if not allowed & SEND_MESSAGES or (call.files and not allowed & ATTACH_FILES):
                    raise _error(403, 50013, "Missing Permissions")
                if not allowed & EMBED_LINKS:
                    body.pop("embeds", None)  # Discord drops embeds silently without Embed Links
        shown = ("content", "embeds", "sticker_ids", "poll", "components")
        if not call.files and not any(body.get(key) for key in shown):
            raise _error(400, 50006, "Cannot send an empty message")
        message = self._message_object(channel_id, body, call.files)
        if guild is not None:
            channel["last_message_id"] = message["id"]
        self._messages.setdefault(channel_id, []).append(
            {"body": call.body, "files": list(call.files), "message": message, "time": call.record.time}
        )
        self._message_index[int(message["id"])] = message
        return 200, message

    def _channel_message(self, call: _Call) -> dict[str, Any]:
        """A message the bot created in a channel, or 10008 Unknown Message."""
        self._channel(call.int_param("channel_id"))
        message = self._message_index.get(call.int_param("message_id"))
        if message is None or message["channel_id"] != call.params["channel_id"]:
            raise _error(404, 10008, "Unknown Message")
        return message

    async def _edit_message(self, call: _Call) -> tuple[int, Any]:
        """Edit one of the bot's messages."""
        message = self._channel_message(call)
        self._apply_edit(message, call.body or {}, call.files)
        return 200, message

    async def _delete_message(self, call: _Call) -> tuple[int, Any]:
        """Delete one of the bot's messages."""
        message = self._channel_message(call)
        del self._message_index[int(message["id"])]
        return 204, None

    async def _handle_attachment(self, request: web.Request) -> web.Response:
        """Serve a stored attachment's bytes (like cdn.discordapp.com) and record the download."""
        attachment_id = request.match_info["attachment_id"]
        stored = self._attachments.get(int(attachment_id)) if attachment_id.isdigit() else None
        if stored is None or stored[0] != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(str(request.url))
        self._notify()
        _, content_type, data = stored
        return web.Response(body=data, headers={"Content-Type": content_type})
