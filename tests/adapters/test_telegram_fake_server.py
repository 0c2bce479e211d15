"""The fake Bot API against the real python-telegram-bot client: answers, recording and faults."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

import pytest
import telegram
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import CommandHandler, ContextTypes

from adapters.telegram.format import render_page
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style, Topic, TopicDigest
from bot.views import view_of
from tests.fakes.telegram_model import Fault, RateLimits
from tests.fakes.telegram_server import FakeTelegramServer


def digest_of(count: int) -> Digest:
    """A one-topic digest of `count` papers whose text needs escaping."""
    papers = tuple(
        Paper(
            arxiv_id=f"2511.{number:05d}",
            version=1,
            title=f"<Paper> {number} & $\\alpha<\\beta$",
            abstract="An abstract with <tags> & entities. " * 30,
            authors=("Ada Lovelace",),
            categories=("cs.CV",),
            announce_type=AnnounceType.NEW,
        )
        for number in range(count)
    )
    topic = TopicDigest(topic=Topic(name="MLLM", keywords=("x",)), papers=papers)
    return Digest(date=dt.date(2025, 11, 12), topics=(topic,), announced_count=496)


async def test_get_me_answers_the_bot_user(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Initialising a real Bot calls getMe, and the bot learns its username from the answer."""
    assert telegram_bot.username == "arxiv_digest_test_bot"
    assert telegram_bot.id == 123456789
    assert [call.method for call in telegram_server.calls] == ["getMe"]


async def test_send_message_is_recorded_with_html(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """sendMessage is recorded with its decoded params and answers a Message the client parses."""
    message = await telegram_bot.send_message(42, "<b>Hello</b> &amp; welcome", parse_mode=ParseMode.HTML)
    assert message.text == "Hello & welcome"
    assert message.chat.id == 42
    assert message.chat.type == "private"
    (call,) = telegram_server.calls_to("sendMessage")
    assert call.params == {"chat_id": 42, "text": "<b>Hello</b> &amp; welcome", "parse_mode": "HTML"}
    assert call.ok
    assert call.time > 0
    assert telegram_server.sent_texts(42) == ["<b>Hello</b> &amp; welcome"]


async def test_numeric_looking_text_stays_a_string(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Only non-string values are JSON-decoded: a text of "123" or "true" is recorded as sent."""
    await telegram_bot.send_message(-1001234, "123")
    await telegram_bot.send_message(-1001234, "true")
    assert telegram_server.sent_texts(-1001234) == ["123", "true"]


async def test_invalid_html_raises_bad_request(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Invalid HTML is answered 400 "can't parse entities", which the client raises as BadRequest."""
    with pytest.raises(BadRequest, match=r'(?i)can.t parse entities: unsupported start tag "script"'):
        await telegram_bot.send_message(42, "Title <script>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await telegram_bot.send_message(42, "Tom & Jerry", parse_mode=ParseMode.HTML)
    (call, _) = telegram_server.calls_to("sendMessage")
    assert call.status == 400
    assert telegram_server.sent_texts() == []


async def test_too_long_messages_are_rejected(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """More than 4096 visible UTF-16 units is "message is too long"; tags do not count, emoji count 2."""
    await telegram_bot.send_message(42, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    await telegram_bot.send_message(42, "😀" * 2048)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await telegram_bot.send_message(42, "😀" * 2048 + "x")
    (violation,) = telegram_server.take_violations()
    assert (
        str(violation)
        == "sendMessage.text: is 4097 characters after entities parsing; the spec allows 1-4096"
    )


async def test_retry_after_fault(telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer) -> None:
    """A scripted 429 surfaces as RetryAfter with the server's retry_after; the next call succeeds."""
    telegram_server.fail(Fault.retry_after(7), chat_id=42)
    with pytest.raises(RetryAfter) as caught:
        await telegram_bot.send_message(42, "hi")
    assert caught.value.retry_after == dt.timedelta(seconds=7)
    await telegram_bot.send_message(42, "hi")
    assert [call.status for call in telegram_server.calls_to("sendMessage")] == [429, 200]


async def test_blocked_chat_not_found_and_migrated(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """403 blocked → Forbidden, 400 chat not found → BadRequest, migrate → ChatMigrated with the new id."""
    telegram_server.fail(Fault.blocked(), chat_id=1, times=None)
    telegram_server.fail(Fault.chat_not_found(), chat_id=2)
    telegram_server.fail(Fault.migrated(-1009876543210), chat_id=-3)
    for _ in range(2):  # a block lasts until cleared
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await telegram_bot.send_message(1, "hi")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await telegram_bot.send_message(2, "hi")
    with pytest.raises(ChatMigrated) as caught:
        await telegram_bot.send_message(-3, "hi")
    assert caught.value.new_chat_id == -1009876543210
    await telegram_bot.send_message(-1009876543210, "hi")
    telegram_server.clear_faults()
    await telegram_bot.send_message(1, "hi")


async def test_faults_hit_only_their_chat_and_method(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """A fault for one chat leaves other chats and other methods alone, and is used up after `times`."""
    telegram_server.fail(Fault.cant_parse(), chat_id=5, times=2)
    await telegram_bot.send_message(6, "other chat")
    await telegram_bot.get_chat_member(5, 5)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await telegram_bot.send_message(5, "fine")
    await telegram_bot.send_message(5, "fine")


async def test_server_errors_and_dropped_connections_raise_network_error(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    """500, 502 (an nginx HTML page, not JSON) and a dropped connection all raise NetworkError."""
    telegram_server.fail(Fault.server_error(500))
    telegram_server.fail(Fault.bad_gateway())
    telegram_server.fail(Fault.dropped())
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await telegram_bot.send_message(42, "hi")
    # PTB logs the non-JSON body at ERROR before raising.
    with (
        caplog.at_level(logging.CRITICAL, logger="telegram"),
        pytest.raises(NetworkError, match="Bad Gateway"),
    ):
        await telegram_bot.send_message(42, "hi")
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await telegram_bot.send_message(42, "hi")
    assert [call.status for call in telegram_server.calls_to("sendMessage")] == [500, 502, 0]
    await telegram_bot.send_message(42, "hi")  # the client recovers on a new connection


async def test_send_document_records_name_and_bytes(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """sendDocument arrives as multipart; the file name, bytes and caption are recorded."""
    content = b"# Digest\n\n- **[A](https://arxiv.org/abs/2511.00001)**\n"
    message = await telegram_bot.send_document(
        -1001, content, filename="arxiv-digest-2025-11-12.md", caption="<b>All</b> papers", parse_mode="HTML"
    )
    assert message.document is not None
    assert message.document.file_name == "arxiv-digest-2025-11-12.md"
    assert message.caption == "All papers"
    (upload,) = telegram_server.sent_documents(-1001)
    assert (upload.filename, upload.data) == ("arxiv-digest-2025-11-12.md", content)
    (call,) = telegram_server.calls_to("sendDocument")
    assert call.params["caption"] == "<b>All</b> papers"
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await telegram_bot.send_document(-1001, content, filename="x.md", caption="c" * 1025)
    assert [violation.path for violation in telegram_server.take_violations()] == ["caption"]


async def test_rendered_pages_pass_telegram_checks(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Every page render_page builds for 80 papers, in every style, is accepted with its keyboard."""
    view, papers = view_of(digest_of(80), "telegram", "-100777", ("cs.CV",))
    view = dataclasses.replace(view, id=7)
    loaded = LoadedView(view, view.entries, papers)
    sent = 0
    for style in Style:
        for number in range(render_page(loaded, style=style).page_count):
            page = render_page(loaded, style=style, page=number)
            keyboard = telegram.InlineKeyboardMarkup(
                [
                    [telegram.InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                    for row in page.buttons
                ]
            )
            await telegram_bot.send_message(
                -100777, page.text, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
            sent += 1
    assert len(telegram_server.calls_to("sendMessage", ok=True)) == sent > len(Style)
    assert telegram_server.take_violations() == []


async def test_rate_limit_mode_answers_429_when_telegram_would(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Rate-limit mode: 1/s into a chat, 20/min into a group, 30/s overall, with retry_after to match."""
    now = [1000.0]
    telegram_server.clock = lambda: now[0]
    telegram_server.enable_rate_limits(RateLimits())

    await telegram_bot.send_message(42, "one")
    with pytest.raises(RetryAfter) as caught:
        await telegram_bot.send_message(42, "two")
    assert caught.value.retry_after == dt.timedelta(seconds=1)
    now[0] += 1.0
    await telegram_bot.send_message(42, "two")

    for _ in range(20):  # a group: 20 in a minute, spaced to respect the 1/s rule
        now[0] += 1.5
        await telegram_bot.send_message(-500, "group")
    now[0] += 1.5
    with pytest.raises(RetryAfter) as caught:
        await telegram_bot.send_message(-500, "group")
    assert caught.value.retry_after == dt.timedelta(seconds=30)  # the first of the 20 leaves in 30 s

    now[0] += 10.0
    for chat in range(30):  # 30 chats within one second is fine, the 31st is not
        await telegram_bot.send_message(1000 + chat, "burst")
    with pytest.raises(RetryAfter):
        await telegram_bot.send_message(2000, "burst")
    assert telegram_server.rate_limited_count == 3


async def test_chat_members_and_admins_deserialise(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """getChatMember/getChatAdministrators/getChat answers parse into PTB's classes (all can_* flags set)."""
    telegram_server.add_chat(-1001, "supergroup", title="Reading group")
    telegram_server.set_admins(-1001, [7], creator=8, rights={"can_change_info": False})
    admin = await telegram_bot.get_chat_member(-1001, 7)
    assert isinstance(admin, telegram.ChatMemberAdministrator)
    assert admin.can_manage_chat
    assert not admin.can_change_info
    assert isinstance(await telegram_bot.get_chat_member(-1001, 8), telegram.ChatMemberOwner)
    assert isinstance(await telegram_bot.get_chat_member(-1001, 9), telegram.ChatMemberMember)
    admins = await telegram_bot.get_chat_administrators(-1001)
    assert [member.user.id for member in admins] == [8, 7]
    chat = await telegram_bot.get_chat(-1001)
    assert (chat.type, chat.title) == ("supergroup", "Reading group")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await telegram_bot.get_chat(-404)


async def test_long_poll_waits_for_an_update_and_confirms_by_offset(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """getUpdates waits for a pushed update, returns it, and a later offset confirms it."""
    poll = asyncio.create_task(telegram_bot.get_updates(timeout=5))
    await telegram_server.wait_for_call("getUpdates")
    assert not poll.done()
    telegram_server.push_message(42, "/start now", from_user={"id": 42, "is_bot": False, "first_name": "Ada"})
    (update,) = await asyncio.wait_for(poll, 2)
    assert update.message is not None
    assert update.message.text == "/start now"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")
    assert await telegram_bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    started = asyncio.get_running_loop().time()
    assert await telegram_bot.get_updates(timeout=1) == ()  # the long poll honours its timeout
    assert 0.9 < asyncio.get_running_loop().time() - started < 3


async def test_a_second_poller_ends_the_first_with_conflict(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Two bot instances polling at once: the older long poll ends with 409, raised as Conflict."""
    first = asyncio.create_task(telegram_bot.get_updates(timeout=5))
    await telegram_server.wait_for_call("getUpdates")
    async with telegram_server.bot() as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 2)
        telegram_server.push_message(42, "hello")
        (update,) = await asyncio.wait_for(second, 2)
    assert update.message is not None


async def test_callback_query_round_trip(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """A button press on the bot's last message arrives as a callback_query and can be answered."""
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Pause", callback_data="pause")]]
    )
    sent = await telegram_bot.send_message(42, "Digest is on", reply_markup=keyboard)
    assert sent.reply_markup == keyboard
    telegram_server.push_callback_query(42, "pause")
    (update,) = await telegram_bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    assert query.data == "pause"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await telegram_bot.answer_callback_query(query.id, text="Paused")
    (call,) = telegram_server.calls_to("answerCallbackQuery")
    assert call.params == {"callback_query_id": query.id, "text": "Paused"}


async def test_pushed_document_can_be_downloaded(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """A user's YAML file arrives as a document, and getFile plus the file URL give back its bytes."""
    yaml = b"MLLM:\n  filters: [VLM]\n"
    telegram_server.push_message(-1001, "/import", document=("topics.yaml", yaml), chat_type="supergroup")
    (update,) = await telegram_bot.get_updates(timeout=0)
    message = update.message
    assert message is not None
    assert message.document is not None
    assert message.from_user is not None
    assert message.caption == "/import"
    assert message.caption_entities[0].type == "bot_command"
    assert message.chat.type == "supergroup"
    file = await telegram_bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == yaml


async def test_channel_posts_and_anonymous_admins(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """A channel's message is a channel_post without `from`; an anonymous admin posts as GroupAnonymousBot."""
    telegram_server.push_message(-1002, "/start", chat_type="channel")
    telegram_server.push_message(-1003, "/start", chat_type="supergroup", sender_chat=-1003)
    post, anonymous = await telegram_bot.get_updates(timeout=0)
    assert post.channel_post is not None
    assert post.channel_post.from_user is None
    assert post.channel_post.sender_chat is not None
    assert post.channel_post.sender_chat.id == -1002
    assert anonymous.message is not None
    assert anonymous.message.from_user is not None
    assert anonymous.message.from_user.username == "GroupAnonymousBot"


async def test_wrong_token_is_unauthorized(telegram_server: FakeTelegramServer) -> None:
    """A bot with another token gets 401, which the client raises as InvalidToken."""
    bot = telegram.Bot("1:wrong", base_url=telegram_server.api_base_url)
    with pytest.raises(InvalidToken):
        await bot.initialize()
    await bot.shutdown()


async def test_application_long_polling_replies_to_start(telegram_server: FakeTelegramServer) -> None:
    """A real Application polls the fake, its /start handler runs and the reply is recorded."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply to /start."""
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "<b>Welcome!</b>", parse_mode=ParseMode.HTML)

    application = telegram_server.application_builder().build()
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.bot.set_my_commands([("start", "Start the digest")])
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=10)
        telegram_server.push_message(42, "/start")
        (reply,) = await telegram_server.wait_for_call("sendMessage", chat_id=42)
        assert reply.params["text"] == "<b>Welcome!</b>"
        assert reply.ok
        await application.updater.stop()
        await application.stop()
    methods = [call.method for call in telegram_server.calls]
    assert methods[:3] == ["getMe", "setMyCommands", "deleteWebhook"]
    assert "getUpdates" in methods
    assert telegram_server.commands[('{"type": "default"}', "")] == [
        {"command": "start", "description": "Start the digest"}
    ]
    # The last getUpdates confirmed the /start update, so a restart would not see it again.
    assert telegram_server.calls_to("getUpdates")[-1].params["offset"] == 100_002


async def test_calls_breaking_the_bot_api_spec_are_refused_and_recorded(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Unknown method 404; unknown parameter, wrong type, nested field, 65-byte data: 400, recorded."""
    with pytest.raises(telegram.error.TelegramError):  # PTB reads a 404 as a bad token or an endpoint error
        await telegram_bot.do_api_request("sendMessag", api_kwargs={"chat_id": 42, "text": "hi"})
    with pytest.raises(BadRequest, match=r"(?i)colour is not a parameter"):
        await telegram_bot.send_message(42, "hi", api_kwargs={"colour": "red"})
    with pytest.raises(BadRequest, match=r"(?i)must be Integer"):
        await telegram_bot.send_message(42, "hi", message_thread_id="seven")  # type: ignore[arg-type]
    too_long = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await telegram_bot.send_message(42, "hi", reply_markup=too_long)
    with pytest.raises(BadRequest, match=r"(?i)chat_id is required"):  # "Required if inline_message_id ..."
        await telegram_bot.edit_message_text("x")
    found = [str(violation) for violation in telegram_server.take_violations()]
    assert found == [
        "sendMessag.: is no method of the Bot API",
        "sendMessage.colour: is not a parameter of this method",
        "sendMessage.message_thread_id: must be Integer, got String 'seven'",
        "sendMessage.reply_markup.inline_keyboard[0][0].callback_data: is 65 bytes; the spec allows 1-64",
        "editMessageText.chat_id: is required",
        "editMessageText.message_id: is required",
        "editMessageText.inline_message_id: is required",
    ]
    assert telegram_server.sent_texts() == []


async def test_keyboards_over_100_buttons_or_8_a_row_are_refused_and_recorded(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Keyboard limits: 9 buttons in a row, or 101 in all, are a 400 the fake records; 8 × 12 + 4 pass."""

    def keyboard(*row_sizes: int) -> telegram.InlineKeyboardMarkup:
        """Rows of buttons of these sizes, each button's data unique."""
        return telegram.InlineKeyboardMarkup(
            [
                [telegram.InlineKeyboardButton(f"{r}.{b}", callback_data=f"{r}.{b}") for b in range(size)]
                for r, size in enumerate(row_sizes)
            ]
        )

    await telegram_bot.send_message(42, "at the limits", reply_markup=keyboard(*([8] * 12), 4))
    with pytest.raises(BadRequest, match=r"(?i)REPLY_MARKUP_TOO_LONG"):
        await telegram_bot.send_message(42, "a wide row", reply_markup=keyboard(9))
    with pytest.raises(BadRequest, match=r"(?i)REPLY_MARKUP_TOO_LONG"):
        await telegram_bot.send_message(42, "too many", reply_markup=keyboard(*([8] * 12), 5))
    found = [str(violation) for violation in telegram_server.take_violations()]
    assert found == [
        "sendMessage.reply_markup.inline_keyboard[0]: has 9 buttons, more than 8 a row",
        "sendMessage.reply_markup.inline_keyboard: has 101 buttons, more than 100",
    ]
    assert telegram_server.sent_texts() == ["at the limits"]


async def test_messages_are_stored_edited_replied_to_and_threaded(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """Edits change the stored message ("not modified" when equal); replies and forum topics are checked."""
    forum = -1009009
    telegram_server.add_forum(forum)
    topic = telegram_server.add_forum_topic(forum, "Papers")
    keyboard = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("▶", callback_data="pg:1:1:c")]])
    sent = await telegram_bot.send_message(
        forum,
        "<b>Page 1</b>",
        parse_mode="HTML",
        reply_markup=keyboard,
        message_thread_id=topic,
        disable_notification=True,
    )
    assert sent.message_thread_id == topic
    stored = telegram_server.message(forum, sent.message_id)
    assert (stored.silent, stored.notifies, stored.raw_text) == (True, False, "<b>Page 1</b>")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await telegram_bot.edit_message_text(
            "<b>Page 1</b>", forum, sent.message_id, parse_mode="HTML", reply_markup=keyboard
        )
    await telegram_bot.edit_message_text("Page 2", forum, sent.message_id, reply_markup=keyboard)
    assert telegram_server.message(forum, sent.message_id).json["text"] == "Page 2"
    await telegram_bot.edit_message_reply_markup(forum, sent.message_id)  # the keyboard goes
    assert telegram_server.message(forum, sent.message_id).buttons == []
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await telegram_bot.send_message(forum, "x", message_thread_id=topic + 100)
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await telegram_bot.send_message(forum, "x", reply_parameters=telegram.ReplyParameters(999))
    reply = await telegram_bot.send_message(
        forum,
        "x",
        reply_parameters=telegram.ReplyParameters(sent.message_id, allow_sending_without_reply=True),
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == sent.message_id


async def test_presses_arrive_only_when_asked_for_and_answers_are_timed_once(
    telegram_bot: telegram.Bot, telegram_server: FakeTelegramServer
) -> None:
    """A press is a callback_query only for a bot that asked for them; one answer, a second is "too old"."""
    keyboard = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("▶", callback_data="pg:1:1:c")]])
    await telegram_bot.send_message(42, "page", reply_markup=keyboard)
    with pytest.raises(AssertionError, match=r"(?i)no button"):
        telegram_server.press_button(42, text="◀")
    telegram_server.press_button(42, text="▶")
    assert await telegram_bot.get_updates(timeout=0, allowed_updates=["message"]) == ()
    pressed = telegram_server.press_button(42, text="▶")
    (update,) = await telegram_bot.get_updates(timeout=0, allowed_updates=["message", "callback_query"])
    assert update.callback_query is not None
    assert update.callback_query.data == "pg:1:1:c"
    await update.callback_query.answer()
    assert pressed.answer_delay is not None
    assert 0 <= pressed.answer_delay < 1
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await update.callback_query.answer()
