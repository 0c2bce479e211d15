"""The fake Bot API's HTTP side: decoding parameters, routing a call, and the methods' answers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.common import UploadedFile
from tests.fakes.telegram_html import TelegramHTMLError, parse_telegram_html, utf16_length
from tests.fakes.telegram_model import (
    _STRING_PARAMS,
    MAX_CAPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    SEND_METHODS,
    RecordedCall,
    StoredMessage,
    _Answer,
)
from tests.fakes.telegram_spec import Violation, decode_form_value
from tests.fakes.telegram_state import TelegramState

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

log = logging.getLogger(__name__)


class TelegramBotAPI(TelegramState):
    """The Bot API methods under /bot<token>/<method>: each call recorded, faulted or answered."""

    # -- internals: HTTP --------------------------------------------------------------------------

    async def _read_params(
        self, request: web.Request, method: str | None
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Decode query, form-encoded or multipart parameters (non-string values are JSON).

        A parameter the spec types as `String` stays the string sent; for a method or parameter the
        spec lacks, the fake's list of string parameters decides.
        """
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        sources: list[Any] = [request.query]
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                sources.append(await request.json())
            else:
                sources.append(await request.post())
        for source in sources:
            for name, value in source.items():
                if isinstance(value, web.FileField):
                    files[name] = UploadedFile(
                        field=name,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                    value.file.close()  # aiohttp closes it only when the handler ends, not when cancelled
                elif isinstance(value, str):
                    field = None if method is None else self.validator.spec.parameter(method, name)
                    params[name] = decode_form_value(field, value, name in _STRING_PARAMS)
                else:
                    params[name] = value
        return params, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        """Route one Bot API call, record it and answer (or fail as scripted)."""
        method = request.match_info["method"]
        spec_name = self.validator.spec.method_name(method)
        params, files = await self._read_params(request, spec_name)
        call = RecordedCall(
            method=method,
            params=params,
            files=files,
            time=self.clock(),
            client=request.match_info.get("client", ""),
        )
        self.calls.append(call)
        self._changes.notify()
        try:
            if request.match_info["token"] != self.token:
                raise _Answer(401, "Unauthorized")
            handler = self._handlers().get(method.lower())
            if spec_name is None or handler is None:
                self._record_violations(self._unknown_method(method, spec_name))
                raise _Answer(404, "Not Found")
            found = self.validator.check(spec_name, params, files)
            if found:
                self._record_violations(found)
                raise _Answer(400, found[0].description)
            chat_id = call.chat_id
            fault = self._take_fault(method, chat_id)
            if fault is not None:
                if fault.drop:
                    log.debug("dropping the connection of %s", method)
                    if request.transport is not None:
                        request.transport.close()
                    await asyncio.sleep(3600)  # cancelled when the server notices the closed connection
                if fault.raw_body is not None:
                    call.status = fault.status
                    return web.Response(status=fault.status, body=fault.raw_body, content_type="text/html")
                raise _Answer(fault.status, fault.description, fault.parameters)
            if method in SEND_METHODS:
                self._check_rate_limits(chat_id)
            result = await handler(params, files)
            if method in SEND_METHODS:
                self._count_sent(chat_id)
            answer: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except _Answer as error:
            status = error.status
            answer = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                answer["parameters"] = error.parameters
        call.status = status
        call.answer = answer
        self._changes.notify()
        return web.json_response(answer, status=status)

    def _unknown_method(self, method: str, spec_name: str | None) -> list[Violation]:
        """The violation of calling a method the Bot API lacks, or one the fake does not serve."""
        if spec_name is None:
            problem = "is no method of the Bot API"
        else:
            problem = "is a Bot API method the fake does not serve (add it to the fake)"
        return [Violation(method, "", problem, "Not Found")]

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve a stored file by its `file_path`, as api.telegram.org/file/bot<token>/<path> does."""
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], dict[str, UploadedFile]], Any]]:
        """Bot API methods by lower-case name (Telegram's method names are case-insensitive)."""
        return {
            "getme": self._get_me,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "senddocument": self._send_document,
            "deletemessage": self._true,
            "sendchataction": self._true,
            "answercallbackquery": self._answer_callback_query,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getfile": self._get_file,
            "logout": self._true,
            "close": self._true,
        }

    # -- internals: methods -----------------------------------------------------------------------

    async def _true(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Methods that just answer True."""
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """The bot's User."""
        return dict(self.bot_user)

    async def _get_webhook_info(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """The webhook set (its URL and allowed updates; never the secret), or none."""
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = int(self.webhook.get("max_connections") or 40)
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = list(self.webhook["allowed_updates"])
        return info

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Keep the webhook (an https URL, and a secret_token of 1-256 of A-Za-z0-9_- if one is given)."""
        url = str(params.get("url") or "")
        if not url:
            self.webhook = None
            return True
        if not url.startswith("https://"):
            raise _Answer(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _Answer(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = dict(params)
        return True

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Forget the webhook (and the queued updates, with drop_pending_updates)."""
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates = []
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        """Commands are kept per scope and language."""
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Store the command list (validated like Telegram: 1-32 lower-case characters, description 1-256)."""
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _Answer(400, "Bad Request: commands must be a list of at most 100 commands")
        for command in commands:
            name = str(command.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _Answer(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _Answer(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list[Any]:
        """The stored command list."""
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Forget the command list."""
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_updates(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list[Any]:
        """Long poll: updates from `offset` on (confirming those before), waiting up to `timeout` s.

        A newer getUpdates ends an older pending one with 409 Conflict, as Telegram does; while a
        webhook is set every getUpdates is a 409.
        """
        if self.webhook is not None:
            raise _Answer(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or [])
        self._updates = [update for update in self._updates if self._update_allowed(update)]
        me = object()
        self._poller = me
        self._changes.notify()
        deadline = self.clock() + timeout
        try:
            while True:
                await asyncio.sleep(0)
                if self._poller is not me:
                    raise _Answer(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                remaining = deadline - self.clock()
                self._updates = [update for update in self._updates if self._update_allowed(update)]
                if self._updates or self._closing or remaining <= 0:
                    return self._updates[:limit]
                await self._changes.wait(remaining)
        finally:
            if self._poller is me:
                self._poller = None

    def _check_text(self, text: Any, parse_mode: Any, *, limit: int, what: str) -> str:
        """Validate a text or caption as Telegram would; return its visible text."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        visible: str = text
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                visible = parse_telegram_html(text, strict=self.strict_html)
            except TelegramHTMLError as error:
                raise _Answer(400, f"Bad Request: can't parse entities: {error}") from None
        if what == "message" and not visible.strip():
            raise _Answer(400, "Bad Request: message text is empty")
        if utf16_length(visible) > limit:
            raise _Answer(400, f"Bad Request: {what} is too long")
        return visible

    async def _send_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """Validate the text and answer the sent Message (stored with its keyboard, thread and reply)."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: chat_id is empty")
        self._chat_state(chat_id, create=self.auto_create_chats)
        visible = self._check_text(
            params.get("text"), params.get("parse_mode"), limit=MAX_MESSAGE_LENGTH, what="message"
        )
        return self._message(chat_id, params, raw_text=str(params.get("text")), text=visible)

    def _stored_for_edit(self, params: dict[str, Any]) -> StoredMessage:
        """The bot's message an edit names, as Telegram finds it (or refuses)."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: inline messages are not supported by the fake")
        chat = self._chat_state(chat_id, create=self.auto_create_chats)
        stored = chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if stored is None:
            raise _Answer(400, "Bad Request: message to edit not found")
        if not stored.by_bot:
            raise _Answer(400, "Bad Request: message can't be edited")
        return stored

    @staticmethod
    def _keyboard(params: dict[str, Any]) -> dict[str, Any] | None:
        """The inline keyboard an edit sets (None: the edit removes it, as on Telegram)."""
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None

    def _apply_edit(
        self, stored: StoredMessage, markup: dict[str, Any] | None, **content: Any
    ) -> dict[str, Any]:
        """Change the stored message and answer it as edited."""
        stored.json.update(content)
        if markup is None:
            stored.json.pop("reply_markup", None)
        else:
            stored.json["reply_markup"] = markup
        stored.json["edit_date"] = int(time.time())
        stored.edits += 1
        return dict(stored.json)

    async def _edit_message_text(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Change a message's text (and keyboard); "message is not modified" when nothing changes."""
        stored = self._stored_for_edit(params)
        visible = self._check_text(
            params.get("text"), params.get("parse_mode"), limit=MAX_MESSAGE_LENGTH, what="message"
        )
        raw = str(params.get("text"))
        markup = self._keyboard(params)
        parse_mode = params.get("parse_mode") if isinstance(params.get("parse_mode"), str) else None
        same_text = stored.json.get("text") == visible and (stored.raw_text, stored.parse_mode) == (
            raw,
            parse_mode,
        )
        if same_text and stored.reply_markup == markup:
            raise _Answer(400, NOT_MODIFIED)
        stored.raw_text, stored.parse_mode = raw, parse_mode
        return self._apply_edit(stored, markup, text=visible)

    async def _edit_message_reply_markup(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Change (or remove) a message's inline keyboard; "message is not modified" when it is the same."""
        stored = self._stored_for_edit(params)
        markup = self._keyboard(params)
        if stored.reply_markup == markup:
            raise _Answer(400, NOT_MODIFIED)
        return self._apply_edit(stored, markup)

    async def _answer_callback_query(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        """Answer a press once, within `callback_timeout` of it ("query is too old" otherwise)."""
        press = self.presses.get(str(params.get("callback_query_id")))
        now = self.clock()
        if press is None or press.answered_at is not None or now - press.pressed_at > self.callback_timeout:
            raise _Answer(400, QUERY_TOO_OLD)
        press.answered_at = now
        press.answer = dict(params)
        return True

    async def _send_document(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """Accept an uploaded (or already stored) document, check its caption, answer the Message."""
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise _Answer(400, "Bad Request: chat_id is empty")
        self._chat_state(chat_id, create=self.auto_create_chats)
        reference = params.get("document")
        if isinstance(reference, str) and reference.startswith("attach://"):
            upload = files.get(reference.removeprefix("attach://"))
            if upload is not None:
                files["document"] = upload
        upload = files.get("document")
        if upload is not None:
            if not upload.data:
                raise _Answer(400, "Bad Request: file must be non-empty")
            document = self.add_file(upload.data, upload.filename, upload.content_type)
        elif isinstance(reference, str) and reference in self._files:
            stored = self._files[reference]
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": stored.file_name,
                "mime_type": stored.mime_type,
                "file_size": len(stored.data),
            }
        else:
            raise _Answer(400, "Bad Request: there is no document in the request")
        content: dict[str, Any] = {"document": document}
        raw_caption = None
        if params.get("caption") is not None:
            raw_caption = str(params["caption"])
            content["caption"] = self._check_text(
                params["caption"], params.get("parse_mode"), limit=MAX_CAPTION_LENGTH, what="message caption"
            )
        return self._message(chat_id, params, raw_text=raw_caption, **content)

    async def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """ChatFullInfo of a known chat."""
        chat = self._chat_state(params.get("chat_id", ""), create=False)
        return {
            **chat.data,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """The configured member status (admins from `set_admins`, else a plain member)."""
        chat = self._chat_state(params.get("chat_id", ""), create=self.auto_create_chats)
        user_id = int(params.get("user_id") or 0)
        if user_id in chat.admins:
            return dict(chat.admins[user_id])
        if user_id in chat.members:
            return dict(chat.members[user_id])
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": dict(self.bot_user)}
        return {"status": "member", "user": self._user_json(user_id)}

    async def _get_chat_administrators(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> list[Any]:
        """The configured administrators (creator first)."""
        chat = self._chat_state(params.get("chat_id", ""), create=self.auto_create_chats)
        if chat.data["type"] == "private":
            raise _Answer(400, "Bad Request: there are no administrators in the private chat")
        admins = sorted(chat.admins.values(), key=lambda member: member["status"] != "creator")
        return [dict(member) for member in admins]

    async def _get_file(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        """File info with the path the bot downloads from."""
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _Answer(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
