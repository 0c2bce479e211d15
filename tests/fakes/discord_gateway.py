"""The fake Discord's gateway: the websocket sessions, dispatches, and the events tests drive.

Sharding as Discord does it: IDENTIFY's `shard: [id, count]` (absent: `[0, 1]`) makes the session one
shard; READY names it and lists only that shard's guilds, and every dispatch goes to the sessions of
the shards that receive it: a guild's events (GUILD_CREATE, channel and thread events, interactions
in it) to shard `(guild_id >> 22) % count`, a DM's to shard 0 only. An invalid shard is closed with
4010. Several shards' connections can be live at once, from one client or several processes'.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_model import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    BUTTON,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_USER_ID,
    GUILDS_INTENT,
    HEARTBEAT_INTERVAL_MS,
    MESSAGE_COMPONENT,
    PRIVILEGED_INTENTS,
    STRING_SELECT,
    GatewayConnection,
    PostedMessage,
    SentInteraction,
    _Guild,
    _Interaction,
    _iso,
    _Session,
    _user_object,
)
from tests.fakes.discord_state import UNSHARDED, DiscordState, Shard

log = logging.getLogger(__name__)


class DiscordGateway(DiscordState):
    """The gateway websocket (HELLO, IDENTIFY/RESUME, dispatches) and what tests send through it."""

    # -- the gateway, driven by tests -------------------------------------------------------------

    async def wait_ready(self, timeout: float = 5.0, *, shard: int | None = None) -> GatewayConnection:
        """Wait until a client's connection got READY and its GUILD_CREATEs (or RESUMED); with `shard`,
        the connection of that shard id (any count)."""

        def ready() -> GatewayConnection | None:
            """The ready connection wanted, if there is one."""
            for key in sorted(self._lives):
                connection = self._lives[key]
                if connection.ready and (shard is None or key[0] == shard):
                    return connection
            return None

        what = "a ready gateway connection" + ("" if shard is None else f" of shard {shard}")
        await self._changes.until(lambda: ready() is not None, timeout, lambda: what)
        found = ready()
        assert found is not None
        return found

    def shard_of(self, guild_id: int | None, shard_count: int) -> int:
        """The shard that receives a guild's events (`(guild_id >> 22) % shard_count`); DMs (None): 0."""
        return 0 if guild_id is None else (guild_id >> 22) % shard_count

    @property
    def shards(self) -> list[Shard]:
        """The (id, count) of every shard with a current session, in order."""
        return sorted(self._shard_sessions)

    async def dispatch(self, event: str, data: dict[str, Any], *, timeout: float = 5.0) -> int:
        """Send a dispatch (op 0) to the shards that receive it, once they are ready; returns its sequence
        number in the (first) receiving shard's session. RuntimeError if no connected shard receives it."""
        await self.wait_ready(timeout)
        receivers = self._receivers(event, data)
        if not receivers:
            raise RuntimeError(f"no gateway connection (shard) receives {event}")
        for key in receivers:
            await self._until_shard_ready(key, timeout)
        future = self._emit(event, data)
        if future is None:
            raise RuntimeError(f"no gateway connection to send {event} to")
        await asyncio.wait_for(future, timeout)
        return self._shard_sessions[receivers[0]].seq

    async def _until_shard_ready(self, key: Shard, timeout: float) -> None:
        """Wait until the shard has a ready connection."""
        await self._changes.until(
            lambda: key in self._lives and self._lives[key].ready,
            timeout,
            lambda: f"a ready connection of shard {key}",
        )

    def _receivers(self, event: str, data: dict[str, Any]) -> list[Shard]:
        """The shards (with a current session) that receive this dispatch, as Discord routes it."""
        guild = _guild_of(event, data)
        return [key for key in sorted(self._shard_sessions) if self.shard_of(guild, key[1]) == key[0]]

    def _connection_shard(self, connection: GatewayConnection) -> Shard | None:
        """The shard a connection's session is, once it identified or resumed."""
        if connection.session is None:
            return None
        return self._session_shards.get(connection.session.session_id)

    def _forget_live(self, connection: GatewayConnection) -> None:
        """The connection is live no more."""
        key = self._connection_shard(connection)
        if key is not None and self._lives.get(key) is connection:
            del self._lives[key]

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
        payload |= self._interaction_place(guild_id, channel_id, user, permissions, roles)
        return await self._dispatch_interaction(
            _Interaction(
                id=interaction_id,
                token=token,
                payload=payload,
                created=self.clock(),
                channel_id=int(payload["channel_id"]),
                user_id=user_id,
            )
        )

    async def press_button(
        self,
        message_id: int | str,
        custom_id: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        username: str = "tester",
        permissions: int | str = 0,
        roles: Sequence[int] = (),
        locale: str = "en-US",
    ) -> SentInteraction:
        """A user presses a button of a message: INTERACTION_CREATE type 3 (MESSAGE_COMPONENT).

        As a real gateway sends it: `data` with the button's `custom_id` and `component_type` 2, the
        message as it is now (its flags say whether it is ephemeral), the channel, and in a guild the
        `member` with `permissions`, in a DM the `user`. Only who sees the message can press it (an
        ephemeral one: its asker), and only a button it has: otherwise ValueError, a test's mistake.
        Answer it within `interaction_deadline` with a callback: 7 (UPDATE_MESSAGE) or 6 (deferred,
        then PATCH .../messages/@original) edit the pressed message; `answer_delay` says how long it took.
        """
        posted = self._component_message(message_id, user_id)
        _enabled_component(posted, BUTTON, custom_id)
        data = {"custom_id": custom_id, "component_type": BUTTON}
        return await self._component_interaction(
            posted,
            data,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
        )

    async def choose_option(
        self,
        message_id: int | str,
        custom_id: str,
        value: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        username: str = "tester",
        permissions: int | str = 0,
        roles: Sequence[int] = (),
        locale: str = "en-US",
    ) -> SentInteraction:
        """A user picks option `value` of a string select menu of a message: INTERACTION_CREATE type 3.

        As a real gateway sends it: `data` with the menu's `custom_id`, `component_type` 3 and
        `values` (the one value picked), the message as it is now, the place and the user, as for a
        button. Only a menu and an option the message has can be picked (ValueError otherwise).
        """
        posted = self._component_message(message_id, user_id)
        menu = _enabled_component(posted, STRING_SELECT, custom_id)
        values = [option.get("value") for option in menu.get("options") or ()]
        if value not in values:
            raise ValueError(f"menu {custom_id!r} has no option {value!r}: {values}")
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": [value]}
        return await self._component_interaction(
            posted,
            data,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
        )

    async def push_component(
        self,
        message_id: int | str,
        custom_id: str,
        values: Sequence[str] | None = None,
        *,
        user_id: int = DEFAULT_USER_ID,
        permissions: int | str = 0,
    ) -> SentInteraction:
        """A component interaction on a message with any data, forged or old, as a modified client could
        send it: a select's `values` when given (component_type 3), else a button's press."""
        posted = self._component_message(message_id, user_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": BUTTON}
        if values is not None:
            data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": list(values)}
        return await self._component_interaction(
            posted,
            data,
            user_id=user_id,
            username="tester",
            permissions=permissions,
            roles=(),
            locale="en-US",
        )

    def _component_message(self, message_id: int | str, user_id: int) -> PostedMessage:
        """The posted message a user interacts with (ValueError if it is not there or not theirs to see)."""
        posted = self._posted_index.get(int(message_id))
        if posted is None:
            raise ValueError(f"no message {message_id} to press a button on")
        if not posted.seen_by(user_id):
            raise ValueError(f"user {user_id} cannot see message {message_id} (it is ephemeral)")
        return posted

    async def _component_interaction(
        self,
        posted: PostedMessage,
        data: dict[str, Any],
        *,
        user_id: int,
        username: str,
        permissions: int | str,
        roles: Sequence[int],
        locale: str,
    ) -> SentInteraction:
        """Dispatch INTERACTION_CREATE type 3 for a component of `posted` with this `data`."""
        guild_id = next(
            (
                guild.id
                for guild in self._guilds.values()
                if posted.channel_id in guild.channels or posted.channel_id in guild.threads
            ),
            None,
        )
        interaction_id = self._snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        user = _user_object(user_id, username)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": MESSAGE_COMPONENT,
            "token": token,
            "version": 1,
            "data": data,
            "message": copy.deepcopy(posted.message),
            "locale": locale,
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        payload |= self._interaction_place(guild_id, posted.channel_id, user, permissions, roles)
        return await self._dispatch_interaction(
            _Interaction(
                id=interaction_id,
                token=token,
                payload=payload,
                created=self.clock(),
                channel_id=posted.channel_id,
                user_id=user_id,
                message=posted.message,
            )
        )

    async def _dispatch_interaction(self, interaction: _Interaction) -> SentInteraction:
        """Keep the interaction for its answers, and send it over the gateway."""
        self._interactions[interaction.id] = interaction
        self._interactions_by_token[interaction.token] = interaction
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return SentInteraction(interaction.id, interaction.token)

    def _interaction_place(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user: dict[str, Any],
        permissions: int | str,
        roles: Sequence[int],
    ) -> dict[str, Any]:
        """Where an interaction happens: a guild channel or thread with a `member`, or a DM with a `user`."""
        if guild_id is not None:
            guild = self._guilds[guild_id]
            if channel_id is None:
                channel_id = next(iter(guild.channels))
            channel = dict(guild.channels.get(channel_id) or guild.threads[channel_id])
            app_permissions = str(guild.bot_permissions | guild.everyone_permissions)
            channel["permissions"] = app_permissions
            return {
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
        if channel_id is None:
            channel_id = self._snowflake()
        dm = self._dm_channels.setdefault(
            channel_id,
            {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0, "recipients": [user]},
        )
        return {
            "channel_id": str(channel_id),
            "channel": dict(dm),
            "app_permissions": str(DEFAULT_BOT_PERMISSIONS),
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,
            "user": user,
        }

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
        self._forget_live(connection)
        if code is None:
            assert connection.request is not None
            assert connection.request.transport is not None
            connection.request.transport.abort()
        else:
            await self._close(connection, code, "closed by the fake")
        self._changes.notify()

    async def request_reconnect(self, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs on a new connection."""
        connection = await self.wait_ready(timeout)
        connection.ready = False
        self._forget_live(connection)
        connection.outbox.put_nowait((json.dumps({"op": 7, "d": None}), None, None))

    async def invalidate_session(self, *, resumable: bool = False, timeout: float = 5.0) -> None:
        """Send op 9 INVALID_SESSION; unless resumable the client must IDENTIFY afresh."""
        connection = await self.wait_ready(timeout)
        connection.ready = False
        key = self._connection_shard(connection)
        self._forget_live(connection)
        if not resumable and connection.session is not None:
            self._sessions.pop(connection.session.session_id, None)
            if key is not None and self._shard_sessions.get(key) is connection.session:
                del self._shard_sessions[key]
        connection.outbox.put_nowait((json.dumps({"op": 9, "d": resumable}), None, None))

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

    # -- internals: gateway -----------------------------------------------------------------------

    def _emit(
        self, event: str, data: dict[str, Any], *, shard: Shard | None = None
    ) -> asyncio.Future[Any] | None:
        """Give a dispatch the next sequence number of each receiving shard's session (`shard`: that one
        alone) and queue it for the shard's live connection; a future resolved once every one is sent.

        Without a live connection it stays in the session and is replayed when the client RESUMEs.
        """
        receivers = [shard] if shard is not None else self._receivers(event, data)
        futures: list[asyncio.Future[None]] = []
        for key in receivers:
            session = self._shard_sessions.get(key)
            if session is None:
                continue
            session.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
            session.sent.append((session.seq, frame))
            connection = self._lives.get(key)
            if connection is None or connection.session is not session:
                continue
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            connection.outbox.put_nowait((frame, future, None))
            futures.append(future)
        if not futures:
            return None
        return futures[0] if len(futures) == 1 else asyncio.gather(*futures)

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
        self._changes.notify()
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
            self._forget_live(connection)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._tasks.discard(writer)
            self._changes.notify()
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
        """Check the token, intents and shard, then send READY and a GUILD_CREATE per guild of the shard."""
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
        key = _shard_key(data.get("shard"))
        if key is None:
            await self._close(connection, 4010, "Invalid shard.")
            return
        session = _Session(session_id=secrets.token_hex(16), intents=intents)
        self._sessions[session.session_id] = session
        self._session_shards[session.session_id] = key
        self._shard_sessions[key] = session
        connection.session = session
        self._lives[key] = connection
        guilds = [guild_id for guild_id in self._active_guilds() if self.shard_of(guild_id, key[1]) == key[0]]
        ready = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in guilds],
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
        if data.get("shard") is not None:
            ready["shard"] = list(key)
        self._emit("READY", ready, shard=key)
        if intents & GUILDS_INTENT:
            for guild_id in guilds:
                self._emit("GUILD_CREATE", self._guild_create_payload(self._guilds[guild_id]), shard=key)
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
        key = None if session is None else self._session_shards.get(session.session_id)
        if session is None or key is None or session is not self._shard_sessions.get(key):
            connection.outbox.put_nowait((json.dumps({"op": 9, "d": False}), None, None))
            return
        connection.session = session
        self._lives[key] = connection
        last = int(data.get("seq") or 0)
        for seq, frame in session.sent:
            if seq > last:
                connection.outbox.put_nowait((frame, None, None))
        self._emit("RESUMED", {"_trace": ["fake-gateway"]}, shard=key)
        connection.outbox.put_nowait((None, None, lambda: self._mark_ready(connection)))

    async def _close(self, connection: GatewayConnection, code: int, reason: str) -> None:
        """Close a connection with a gateway close code, noting it as the connection's."""
        assert connection.ws is not None
        connection.close_code = code
        await connection.ws.close(code=code, message=reason.encode())

    def _mark_ready(self, connection: GatewayConnection) -> None:
        """A connection has sent all its start-up dispatches."""
        key = self._connection_shard(connection)
        if key is not None and self._lives.get(key) is connection:
            connection.ready = True
        self._changes.notify()


def _enabled_component(posted: PostedMessage, component_type: int, custom_id: str) -> dict[str, Any]:
    """The message's enabled component of this type and custom_id (ValueError: a test's mistake)."""
    found: list[dict[str, Any]] = [
        item
        for row in posted.message.get("components") or ()
        for item in row.get("components") or ()
        if item.get("type") == component_type and item.get("custom_id") == custom_id
    ]
    if not found or found[0].get("disabled"):
        kind = "button" if component_type == BUTTON else "menu"
        raise ValueError(f"message {posted.id} has no enabled {kind} {custom_id!r}: {posted.custom_ids()}")
    return found[0]


def _shard_key(shard: Any) -> Shard | None:
    """IDENTIFY's `shard` as (id, count): absent is (0, 1); None when it is no valid shard."""
    if shard is None:
        return UNSHARDED
    if (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(part, int) and not isinstance(part, bool) for part in shard)
        and 0 <= shard[0] < shard[1]
    ):
        return (shard[0], shard[1])
    return None


def _guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild a dispatch is about (a guild event's own id, else its `guild_id`); None for a DM's."""
    value = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
    return None if value is None else int(value)
