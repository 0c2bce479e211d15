"""The fake Discord's REST API: routing, recording, fault injection, validation and the handlers."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.common import UploadedFile
from tests.fakes.discord_faults import _BUCKET_HASH, _ROOMY_LIMIT, _ROOMY_WINDOW, Fault, _Bucket
from tests.fakes.discord_model import (
    ADMINISTRATOR,
    ATTACH_FILES,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE_WITH_SOURCE,
    CREATE_PUBLIC_THREADS,
    DEFAULT_USER_ID,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    EMBED_LINKS,
    EPHEMERAL_FLAG,
    GUILD_TEXT,
    GUILDS_INTENT,
    LOADING_FLAG,
    MAX_AUTOCOMPLETE_CHOICES,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    SETTABLE_MESSAGE_FLAGS,
    UPDATE_MESSAGE,
    RecordedRequest,
    _Answer,
    _Call,
    _error,
    _Interaction,
    _iso,
    _json_response,
    _Route,
    _route_pattern,
)
from tests.fakes.discord_openapi import (
    _component_problems,
    _errors_object,
    _message_limit_problems,
    _normalised_for_spec,
    _problems,
)
from tests.fakes.discord_state import DiscordState, _stored_components

log = logging.getLogger(__name__)


class DiscordRest(DiscordState):
    """The REST routes under /api/v10: each request recorded, faulted or validated, then answered."""

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
            ("POST", "/channels/{channel_id}/threads", self._create_thread, True),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._create_thread, True),
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
        self._changes.notify()
        if status == 204 or answer is None:
            return web.Response(status=status, headers=headers)
        if isinstance(answer, bytes):
            return web.Response(status=status, body=answer, headers={**headers, "Content-Type": "text/html"})
        return _json_response(status, answer, headers)

    async def _answer(
        self, request: web.Request, record: RecordedRequest, body: Any, files: list[UploadedFile]
    ) -> tuple[int, Any, dict[str, str]]:
        """The answer to a recorded request: a queued fault, or the route's."""
        fault = self._faults.take(record.method, record.path)
        if fault is not None:
            if fault.status == 429:
                self.rate_limited_count += 1
            return fault.status, fault.body, dict(fault.headers)
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
        if route.auth:  # interaction callbacks and webhooks are not bound by the global limit
            self._take_global_limit()
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
                problems += _component_problems(body.get("data"), ("data",))
            if isinstance(body, dict) and body.get("type") == AUTOCOMPLETE_RESULT:
                choices = (body.get("data") or {}).get("choices") or []
                if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
                    problems.append(
                        (("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
                    )
        elif route.template.endswith("/threads"):
            pass
        elif "messages" in route.template or route.template == "/webhooks/{webhook_id}/{webhook_token}":
            problems += _message_limit_problems(body)
            problems += _component_problems(body)
            if route.method == "POST" and isinstance(body, dict):
                flags = int(body.get("flags") or 0)
                settable = SETTABLE_MESSAGE_FLAGS | (EPHEMERAL_FLAG if "webhooks" in route.template else 0)
                if flags & ~settable:
                    problems.append((("flags",), "MESSAGE_FLAGS_INVALID", "Invalid message flags"))
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

    def _take_global_limit(self) -> None:
        """Count a request with the bot's token against Discord's global limit: past `global_limit` in
        the last second (real time, whatever `clock` the fake was given), a global 429 whose
        retry_after is when the oldest of them leaves the window; a refused request does not count."""
        now = time.monotonic()
        window = self._global_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if self.global_limit is not None and len(window) >= self.global_limit:
            self.rate_limited_count += 1
            self.global_rate_limited_count += 1
            fault = Fault.global_rate_limited(round(max(window[0] + 1.0 - now, 0.001), 3))
            raise _Answer(429, fault.body, fault.headers)
        window.append(now)
        self.global_window_peak = max(self.global_window_peak, len(window))

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
            interaction.late = True  # the user saw "This interaction failed"
            raise _error(404, 10062, "Unknown interaction")
        return interaction

    async def _callback(self, call: _Call) -> tuple[int, Any]:
        """The first answer to an interaction; a JSON InteractionCallbackResponse (with_response).

        A button press (type 3) may also be answered by updating the message the button is on: at
        once (7, UPDATE_MESSAGE) or later through PATCH .../messages/@original (6, DEFERRED_UPDATE_MESSAGE);
        other interactions may not (400), as on Discord.
        """
        interaction = self._interaction(call.int_param("interaction_id"), call.params["interaction_token"])
        if interaction.acknowledged:
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        body = call.body or {}
        callback_type = int(body.get("type", 0))
        data = body.get("data") or {}
        updates = callback_type in (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE)
        if updates and interaction.message is None:
            raise _error(400, 40043, "This interaction type cannot be used with that response type.")
        interaction.acknowledged = True
        interaction.answered_at = self.clock()
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
            ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL_FLAG)
            self._post(
                interaction.channel_id,
                message,
                source="callback",
                audience=interaction.user_id if ephemeral else None,
                interaction_id=interaction.id,
            )
            info |= {
                "response_message_id": message["id"],
                "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": ephemeral,
            }
            if callback_type == CHANNEL_MESSAGE_WITH_SOURCE:
                answer["resource"] = {"type": callback_type, "message": message}
        elif updates:
            assert interaction.message is not None
            message_id = interaction.message["id"]
            info |= {"response_message_id": message_id, "response_message_loading": False}
            info["response_message_ephemeral"] = bool(
                int(interaction.message.get("flags") or 0) & EPHEMERAL_FLAG
            )
            if callback_type == UPDATE_MESSAGE:
                self._apply_edit(interaction.message, data, call.files)
                answer["resource"] = {"type": callback_type, "message": interaction.message}
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
        ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL_FLAG)
        self._post(
            interaction.channel_id,
            message,
            source="followup",
            audience=interaction.user_id if ephemeral else None,
            interaction_id=interaction.id,
        )
        self._record_response(interaction, "followup", body, call.files, message_id=message["id"])
        if call.record.query.get("wait", "").lower() in ("1", "true"):
            return 200, message
        return 204, None

    def _webhook_message(self, call: _Call, interaction: _Interaction) -> dict[str, Any]:
        """The original response or a follow-up, or 10008 Unknown Message.

        After a button press answered with an update (6 or 7), the original is the pressed message.
        """
        message_id = call.params.get("message_id")
        if message_id is None:
            message = interaction.original
            if message is None and interaction.message is not None and interaction.acknowledged:
                message = interaction.message
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
        self._unpost(int(message["id"]))
        self._record_response(interaction, kind, None, [], message_id=message["id"])
        return 204, None

    def _unpost(self, message_id: int) -> None:
        """A deleted message is no longer shown in its channel."""
        posted = self._posted_index.pop(message_id, None)
        if posted is not None:
            self._posted[posted.channel_id].remove(posted)

    def _apply_edit(
        self, message: dict[str, Any], body: dict[str, Any], files: Sequence[UploadedFile]
    ) -> None:
        """Apply a message edit: content, embeds, components, flags, kept and new attachments."""
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [{**e, "type": e.get("type") or "rich"} for e in body["embeds"] or ()]
        if "components" in body:
            message["components"] = _stored_components(body["components"])
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
        """Post a message into a channel or thread, checking the bot's permissions as Discord does."""
        channel_id = call.int_param("channel_id")
        channel, guild = self._channel(channel_id)
        body = dict(call.body or {})
        if guild is not None:
            allowed = guild.bot_permissions | guild.everyone_permissions
            in_thread = channel.get("type") in (PUBLIC_THREAD, PRIVATE_THREAD)
            send = SEND_MESSAGES_IN_THREADS if in_thread else SEND_MESSAGES
            if not allowed & ADMINISTRATOR:
                if not allowed & send or (call.files and not allowed & ATTACH_FILES):
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
        self._post(channel_id, message, source="channel")
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
        self._unpost(int(message["id"]))
        return 204, None

    async def _create_thread(self, call: _Call) -> tuple[int, Any]:
        """Start a thread in a text channel (of a message, or of none); 201 with the thread channel.

        Needs Create Public Threads (Create Private Threads for type 12, which the fake refuses as
        well: a bot's digest threads are public). A thread of a message takes the message's id, as on
        Discord. A connected client with the guilds intent gets THREAD_CREATE.
        """
        parent_id = call.int_param("channel_id")
        parent, guild = self._channel(parent_id)
        if guild is None or parent.get("type") != GUILD_TEXT:
            raise _error(400, 50024, "Cannot execute action on this channel type")
        body = call.body or {}
        kind = PUBLIC_THREAD
        thread_id: int
        if "message_id" in call.params:
            message = self._message_index.get(call.int_param("message_id"))
            if message is None or message["channel_id"] != str(parent_id):
                raise _error(404, 10008, "Unknown Message")
            thread_id = int(message["id"])
            if thread_id in guild.threads:
                raise _error(400, 160004, "A thread has already been created for this message")
        else:
            kind = int(body.get("type") or PRIVATE_THREAD)  # v10's default is a private thread
            thread_id = self._snowflake()
        allowed = guild.bot_permissions | guild.everyone_permissions
        if kind != PUBLIC_THREAD or not allowed & (CREATE_PUBLIC_THREADS | ADMINISTRATOR):
            raise _error(403, 50013, "Missing Permissions")
        now = _iso()
        thread: dict[str, Any] = {
            "id": str(thread_id),
            "type": kind,
            "guild_id": str(guild.id),
            "parent_id": str(parent_id),
            "name": str(body.get("name") or ""),
            "owner_id": str(self.bot_user_id),
            "flags": 0,
            "last_message_id": None,
            "last_pin_timestamp": None,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "archive_timestamp": now,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 4320),
                "locked": False,
                "create_timestamp": now,
            },
        }
        guild.threads[thread_id] = thread
        if self._session is not None and self._session.intents & GUILDS_INTENT:
            self._emit("THREAD_CREATE", {**thread, "newly_created": True})
        return 201, dict(thread)

    async def _handle_attachment(self, request: web.Request) -> web.Response:
        """Serve a stored attachment's bytes (like cdn.discordapp.com) and record the download."""
        attachment_id = request.match_info["attachment_id"]
        stored = self._attachments.get(int(attachment_id)) if attachment_id.isdigit() else None
        if stored is None or stored[0] != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(str(request.url))
        self._changes.notify()
        _, content_type, data = stored
        return web.Response(body=data, headers={"Content-Type": content_type})
