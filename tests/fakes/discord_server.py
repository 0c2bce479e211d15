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

Shards: IDENTIFY's `shard: [id, count]` makes a connection one shard, sent only its guilds' events and
interactions (`(guild_id >> 22) % count`) and, on shard 0, DMs' (see `tests.fakes.discord_gateway`);
`fake.wait_ready(shard=1)` waits for one shard, `fake.shards` lists those with a session.

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
Discord's global limit is enforced too, always (unless `FakeDiscord(global_limit=None)`): more than
50 requests with the bot's token within any second (a sliding window of real time; interaction
callbacks and webhooks are exempt, as on Discord) are answered with the global 429 — `"global": true`,
`retry_after` until the window has room, `X-RateLimit-Global: true`, `Via` — which discord.py sleeps
off, holding all its requests meanwhile. `fake.global_rate_limited_count` counts those 429s and
`fake.global_window_peak` is the most requests seen within one second, so a test can show the
adapter's own pacer keeps below the limit. `fake.rate_limited_count` counts every 429 answered,
enforced, global or injected; `fake.invalid_request_count`
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
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest
import yarl
from aiohttp import web

from tests.fakes.common import serve_on_free_port
from tests.fakes.discord_faults import Fault
from tests.fakes.discord_gateway import DiscordGateway
from tests.fakes.discord_model import (
    APPLICATION_COMMAND_AUTOCOMPLETE,
    DEFAULT_BOT_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    GUILDS_INTENT,
    PostedMessage,
    RecordedRequest,
    _Guild,
    _iso,
)
from tests.fakes.discord_rest import DiscordRest

log = logging.getLogger(__name__)


class FakeDiscord(DiscordGateway, DiscordRest):
    """The fake Discord; `await start()` before use and `await close()` after."""

    # -- life cycle -------------------------------------------------------------------------------

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
        self.url = await serve_on_free_port(self._runner)

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
        wanted = method.upper() if method else None

        def applies(called: str, path: str | None) -> bool:
            """Whether the fault is for this method (any, if None or "*") and its path matches."""
            if wanted is not None and wanted not in ("*", called):
                return False
            return path is not None and pattern.search(path) is not None

        self._faults.add(fault, applies, times)

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
        await self._changes.until(
            lambda: len(self._messages.get(channel_id, [])) >= count,
            timeout,
            lambda: (
                f"{count} messages in channel {channel_id} (have {len(self._messages.get(channel_id, []))})"
            ),
        )
        return self.channel_messages(channel_id)

    def posted(self, channel_id: int) -> list[PostedMessage]:
        """Every message shown in a channel or thread, whichever route made it (ephemeral ones too)."""
        return list(self._posted.get(channel_id, []))

    def seen_by(self, channel_id: int, user_id: int) -> list[PostedMessage]:
        """The messages of a channel this user can see: the public ones and those shown to them alone."""
        return [posted for posted in self.posted(channel_id) if posted.seen_by(user_id)]

    def posted_message(self, message_id: int | str) -> PostedMessage:
        """One shown message by id (KeyError if there is none)."""
        return self._posted_index[int(message_id)]

    async def wait_for_posted(
        self, channel_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[PostedMessage]:
        """Wait until a channel shows at least `count` messages (any route) and return them."""
        await self._changes.until(
            lambda: len(self._posted.get(channel_id, [])) >= count,
            timeout,
            lambda: f"{count} messages shown in channel {channel_id} (have {self.posted(channel_id)})",
        )
        return self.posted(channel_id)

    def threads_of(self, channel_id: int) -> list[dict[str, Any]]:
        """The threads started in a text channel, oldest first."""
        return [
            dict(thread)
            for guild in self._guilds.values()
            for thread in guild.threads.values()
            if thread["parent_id"] == str(channel_id)
        ]

    def answer_delay(self, interaction_id: int | str) -> float | None:
        """Seconds from an interaction's dispatch to its callback; None while unanswered."""
        interaction = self._interactions[int(interaction_id)]
        return None if interaction.answered_at is None else interaction.answered_at - interaction.created

    def press_delays(self) -> list[float | None]:
        """For every button press so far, seconds until its callback (None while unanswered)."""
        return [
            self.answer_delay(interaction.id)
            for interaction in self._interactions.values()
            if interaction.message is not None
        ]

    def failed_interactions(self) -> list[str]:
        """Interactions a user saw fail: answered after the deadline, or unanswered once it passed."""
        deadline = self.interaction_deadline if self.interaction_deadline is not None else 3.0
        now = self.clock()
        failed = []
        for interaction in self._interactions.values():
            if interaction.payload["type"] == APPLICATION_COMMAND_AUTOCOMPLETE:
                continue  # a late autocomplete only shows no choices
            if interaction.late:
                failed.append(f"interaction {interaction.id}: answered after the {deadline:g} s deadline")
            elif interaction.answered_at is None and now - interaction.created > deadline:
                failed.append(f"interaction {interaction.id}: not answered within {deadline:g} s")
            elif (
                interaction.answered_at is not None
                and interaction.answered_at - interaction.created > deadline
            ):
                failed.append(f"interaction {interaction.id}: answered after the {deadline:g} s deadline")
        return failed

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
        await self._changes.until(
            lambda: len(self.responses(interaction_id)) >= count,
            timeout,
            lambda: (
                f"{count} responses to interaction {interaction_id} (have {self.responses(interaction_id)})"
            ),
        )
        return self.responses(interaction_id)
