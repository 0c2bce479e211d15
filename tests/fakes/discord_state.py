"""The fake Discord's state and the helpers every part of it uses (ids, waiting, channels, messages)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes.common import Changes, FaultQueue, UploadedFile
from tests.fakes.discord_faults import GLOBAL_LIMIT_PER_SECOND, Fault, _Bucket
from tests.fakes.discord_model import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_TOKEN,
    DISCORD_EPOCH_MS,
    EPHEMERAL_FLAG,
    VIEW_CHANNEL,
    GatewayConnection,
    PostedMessage,
    RecordedRequest,
    _error,
    _Guild,
    _Interaction,
    _iso,
    _Route,
    _Session,
)
from tests.fakes.discord_openapi import (
    SPEC_PATH,
    OpenAPISpec,
)

log = logging.getLogger(__name__)

Shard = tuple[int, int]  # (shard id, shard count), as IDENTIFY's `shard` names it
UNSHARDED: Shard = (0, 1)


class DiscordState:
    """What the fake Discord knows: guilds, channels, messages, interactions, sessions, faults."""

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
        global_limit: int | None = GLOBAL_LIMIT_PER_SECOND,
    ) -> None:
        """A fake for one bot; `privileged_intents` are those "enabled in the developer portal".

        `global_limit`: requests a second (any second, a sliding window of real time) the bot's token
        may make before a global 429 (Discord's 50; None: no limit). Interaction callbacks and webhooks
        are not counted, as on Discord.
        """
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
        self.global_limit = global_limit
        self.global_rate_limited_count = 0  # 429s of the global limit (also in rate_limited_count)
        self.global_window_peak = 0  # the most bot requests the fake saw within one second
        self._global_window: deque[float] = deque()  # monotonic arrivals of the last second
        self.url = ""
        self._spec = OpenAPISpec(SPEC_PATH)
        self._routes = self._build_routes()
        self._guilds: dict[int, _Guild] = {}
        self._dm_channels: dict[int, dict[str, Any]] = {}
        self._deleted_channels: set[int] = set()
        self._messages: dict[int, list[dict[str, Any]]] = {}
        self._message_index: dict[int, dict[str, Any]] = {}
        self._posted: dict[int, list[PostedMessage]] = {}  # every message by channel, whichever route
        self._posted_index: dict[int, PostedMessage] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._interactions_by_token: dict[str, _Interaction] = {}
        self._attachments: dict[int, tuple[str, str, bytes]] = {}
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._enforced: tuple[int, float, bool] | None = None
        self._buckets: dict[int, _Bucket] = {}
        self._sessions: dict[str, _Session] = {}  # every session by id, for RESUME
        # Per shard (id, count) as IDENTIFY named it ((0, 1) unsharded): its current session, the
        # connection live on it, and which shard each session is.
        self._shard_sessions: dict[Shard, _Session] = {}
        self._lives: dict[Shard, GatewayConnection] = {}
        self._session_shards: dict[str, Shard] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._changes = Changes()
        self._runner: web.AppRunner | None = None

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
    def _session(self) -> _Session | None:
        """The current gateway session (the lowest shard's when several run); None before any IDENTIFY."""
        return self._shard_sessions[min(self._shard_sessions)] if self._shard_sessions else None

    @property
    def _live(self) -> GatewayConnection | None:
        """The connection live on the lowest shard that has one; None while no client is connected."""
        return self._lives[min(self._lives)] if self._lives else None

    # -- internals: state -------------------------------------------------------------------------

    def _snowflake(self) -> int:
        """A new, increasing snowflake id."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._ids) & 0x3FFFFF)

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
            found = guild.channels.get(channel_id) or guild.threads.get(channel_id)
            if found is not None:
                if guild.removed or not (guild.bot_permissions | guild.everyone_permissions) & VIEW_CHANNEL:
                    raise _error(403, 50001, "Missing Access")
                return found, guild
        raise _error(404, 10003, "Unknown Channel")

    def _post(
        self,
        channel_id: int,
        message: dict[str, Any],
        *,
        source: str,
        audience: int | None = None,
        interaction_id: int | None = None,
    ) -> PostedMessage:
        """Note a message as shown in a channel (to everyone, or to `audience` only)."""
        posted = PostedMessage(
            channel_id=channel_id,
            message=message,
            audience=audience,
            source=source,
            time=self.clock(),
            interaction_id=interaction_id,
        )
        self._posted.setdefault(channel_id, []).append(posted)
        self._posted_index[int(message["id"])] = posted
        return posted

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
            "components": _stored_components(body.get("components")),
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

    def _build_routes(self) -> list[_Route]:
        """The REST routes the fake answers (the REST part defines them)."""
        raise NotImplementedError

    def _emit(
        self, event: str, data: dict[str, Any], *, shard: Shard | None = None
    ) -> asyncio.Future[Any] | None:
        """Queue a gateway dispatch for the shards that receive it (the gateway part defines it)."""
        raise NotImplementedError


def _stored_components(components: Any) -> list[dict[str, Any]]:
    """Components as Discord stores and answers them: no null fields, each with its numeric `id`."""
    counter = itertools.count(1)

    def stored(component: dict[str, Any]) -> dict[str, Any]:
        """One component (and its children), cleaned and numbered in Discord's depth-first order."""
        item = {key: value for key, value in component.items() if value is not None and key != "components"}
        item["id"] = component.get("id") or next(counter)
        if "components" in component:
            item["components"] = [stored(child) for child in component["components"] or ()]
        return item

    return [stored(component) for component in components or () if isinstance(component, dict)]
