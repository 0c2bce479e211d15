"""Who may change a Telegram chat's settings: the sender_chat rule, ADMIN_USER_IDS, and a failed look-up.

The real python-telegram-bot runs the adapter against the fake Bot API. A refused change must leave
the store untouched and answer with the admins-only line; an admin look-up that fails (400, 5xx, a
dropped connection, a timeout) refuses too, and is not remembered: the next try asks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.ratelimit import RateLimits
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from storage.sqlite_store import SqliteStore
from tests.fakes.common import UploadedFile
from tests.fakes.telegram_model import Fault
from tests.fakes.telegram_server import FakeTelegramServer

GROUP = -100700
OTHER_CHANNEL = -100701
LINKED_CHANNEL = -100702
OTHER_GROUP = -100703
ADMIN, MEMBER, LISTED = 7, 8, 4242
# What Telegram puts in `from` when a user posts as one of their channels, and for a linked
# channel's post forwarded into its discussion group.
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
TELEGRAM_SERVICE = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
ADMINS_ONLY = "Only chat admins can change"
NO_LIMITS = RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=0.0, padding=0.0)
CONFIG = b"category:\n  cs.CV: Computer Vision\ntopic:\n  MLLM:\n    keywords: [MLLM]\n    filters:\n"


class Monotonic:
    """A monotonic clock that stands still unless a test moves it (far from 0, as a real one is)."""

    def __init__(self) -> None:
        self.now = 86_400.0

    def __call__(self) -> float:
        """The current reading."""
        return self.now


async def run_adapter(
    server: FakeTelegramServer, store: SqliteStore, **options: Any
) -> tuple[TelegramAdapter, asyncio.Event, asyncio.Task[None]]:
    """Start the adapter polling `server` (no rate limits); returns it, its stop event and its task."""
    options.setdefault("monotonic", Monotonic())
    adapter = TelegramAdapter(
        server.token,
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=server.url,
        rate_limits=NO_LIMITS,
        poll_timeout=1.0,
        **options,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await server.wait_for_call("getUpdates")
    return adapter, stop, task


@pytest.fixture
async def running(telegram_server: FakeTelegramServer, store: SqliteStore) -> AsyncIterator[TelegramAdapter]:
    """The adapter with ADMIN as the group's admin and LISTED in ADMIN_USER_IDS; stopped afterwards."""
    telegram_server.add_chat(GROUP, "supergroup", title="Reading group")
    telegram_server.add_chat(OTHER_GROUP, "supergroup", title="Another group")
    telegram_server.add_chat(OTHER_CHANNEL, "channel", title="Someone's channel")
    telegram_server.add_chat(LINKED_CHANNEL, "channel", title="The group's linked channel")
    telegram_server.set_admins(GROUP, [ADMIN])
    adapter, stop, task = await run_adapter(telegram_server, store, admin_user_ids=(LISTED,))
    try:
        yield adapter
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def reply(server: FakeTelegramServer, count: int = 1, chat_id: int = GROUP) -> str:
    """The `count`-th answer the bot sent into the chat (waits for it)."""
    sent = await server.wait_for_call("sendMessage", chat_id=chat_id, ok=True, count=count)
    return str(sent[count - 1].params["text"])


async def keywords_of(store: SqliteStore, chat_id: int = GROUP) -> list[tuple[str, ...]] | None:
    """The stored chat's keywords per topic; None if the chat was never stored."""
    channel = await store.get_channel("telegram", str(chat_id))
    return None if channel is None else [topic.keywords for topic in channel.topics]


async def after_the_rest(server: FakeTelegramServer, answers: int) -> None:
    """After the group's earlier updates are handled: `answers` answers to them, and no download."""
    server.push_message(GROUP, "/help", from_user=ADMIN)  # one chat's updates are handled in order
    assert "/subscribe" in await reply(server, answers + 1)
    assert len(server.calls_to("sendMessage", chat_id=GROUP)) == answers + 1
    assert server.calls_to("getFile") == []


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram attaches to a message starting with a command."""
    return [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]


def forwarded_from_linked_channel(server: FakeTelegramServer, text: str) -> None:
    """Queue a linked channel's post as Telegram forwards it into the discussion group."""
    server.push_update(
        {
            "message": {
                "message_id": 9001,
                "date": int(time.time()),
                "chat": {"id": GROUP, "type": "supergroup", "title": "Reading group"},
                "from": TELEGRAM_SERVICE,
                "sender_chat": {"id": LINKED_CHANNEL, "type": "channel", "title": "Linked"},
                "is_automatic_forward": True,
                "text": text,
                "entities": command_entities(text),
            }
        }
    )


# -- sender_chat: who a message sent on behalf of a chat speaks for --------------------------------------


SENDERS: dict[str, Callable[[FakeTelegramServer, str], Any]] = {
    "a user posting as another channel": lambda server, text: server.push_message(
        GROUP, text, sender_chat=OTHER_CHANNEL, from_user=CHANNEL_BOT
    ),
    "the group's linked channel": forwarded_from_linked_channel,
    "an anonymous admin of another group": lambda server, text: server.push_message(
        GROUP, text, sender_chat=OTHER_GROUP
    ),
    "a channel post with an admin's user id as from": lambda server, text: server.push_message(
        GROUP, text, sender_chat=OTHER_CHANNEL, from_user=ADMIN
    ),
}


@pytest.mark.parametrize("sender", list(SENDERS))
async def test_a_message_on_behalf_of_another_chat_may_not_change_settings(
    sender: str, running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A message sent as another channel or group is refused, whoever is in `from`, and nothing is stored."""
    SENDERS[sender](telegram_server, "/subscribe diffusion")
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    assert await keywords_of(store) is None
    # The sender_chat decides alone: no look-up of whoever Telegram put in `from`.
    assert telegram_server.calls_to("getChatMember") == []


async def test_an_anonymous_admin_of_the_group_itself_may_change_settings(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A message sent as the group itself (an anonymous admin) is applied without asking getChatMember."""
    telegram_server.push_message(GROUP, "/subscribe diffusion", sender_chat=GROUP)
    assert (await reply(telegram_server)).startswith("Subscribed")
    assert await keywords_of(store) == [("diffusion",)]
    assert telegram_server.calls_to("getChatMember") == []


async def test_a_foreign_sender_chat_is_refused_a_config_file_before_download(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A YAML file captioned /topics, sent as another channel, is refused and never downloaded."""
    telegram_server.push_message(
        GROUP,
        "/topics",
        sender_chat=OTHER_CHANNEL,
        from_user=CHANNEL_BOT,
        document=("config.yml", CONFIG),
    )
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    await after_the_rest(telegram_server, 1)
    assert await keywords_of(store) is None


async def test_in_a_private_chat_and_a_channel_the_sender_may_change_settings_without_a_look_up(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """One's own private chat, and a channel (only its admins can post), are changed without getChatMember."""
    telegram_server.push_message(55, "/subscribe diffusion")
    telegram_server.push_message(OTHER_CHANNEL, "/subscribe robots")
    assert (await reply(telegram_server, chat_id=55)).startswith("Subscribed")
    assert (await reply(telegram_server, chat_id=OTHER_CHANNEL)).startswith("Subscribed")
    assert await keywords_of(store, 55) == [("diffusion",)]
    assert await keywords_of(store, OTHER_CHANNEL) == [("robots",)]
    assert telegram_server.calls_to("getChatMember") == []


async def test_a_group_message_without_any_sender_is_refused(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A group message with neither `from` nor `sender_chat` (an unknown sender) is refused, not trusted."""
    text = "/subscribe diffusion"
    telegram_server.push_update(
        {
            "message": {
                "message_id": 9002,
                "date": int(time.time()),
                "chat": {"id": GROUP, "type": "supergroup", "title": "Reading group"},
                "text": text,
                "entities": command_entities(text),
            }
        }
    )
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    assert await keywords_of(store) is None
    assert telegram_server.calls_to("getChatMember") == []


async def test_a_listed_admin_user_id_may_change_any_group_without_a_look_up(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """An ADMIN_USER_IDS user who is a plain member is applied at once; getChatMember is not asked."""
    telegram_server.set_member_status(GROUP, LISTED, "member")
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=LISTED)
    assert (await reply(telegram_server)).startswith("Subscribed")
    assert await keywords_of(store) == [("diffusion",)]
    assert telegram_server.calls_to("getChatMember") == []


async def test_a_member_is_refused_and_an_admin_applied(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """getChatMember decides for a plain message: a member is refused, the admin's change is stored."""
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=MEMBER)
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    assert await keywords_of(store) is None
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
    assert (await reply(telegram_server, 2)).startswith("Subscribed")
    assert await keywords_of(store) == [("diffusion",)]
    asked = [call.params["user_id"] for call in telegram_server.calls_to("getChatMember")]
    assert asked == [MEMBER, ADMIN]


@pytest.mark.parametrize("command", ["/keywords", "/exclude", "/categories", "/time", "/settings", "/topics"])
async def test_a_member_reads_the_settings_without_a_look_up(
    command: str, running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A member's read (an admin-only command without arguments) is answered, and nobody's rights are
    looked up for it (`bot.commands.text.needs_admin`); the stored chat stays as it was."""
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
    assert (await reply(telegram_server)).startswith("Subscribed")
    before = await store.get_channel("telegram", str(GROUP))
    looked_up = len(telegram_server.calls_to("getChatMember"))
    telegram_server.push_message(GROUP, command, from_user=MEMBER)
    answer = await reply(telegram_server, 2)
    assert not answer.startswith(ADMINS_ONLY)
    assert len(telegram_server.calls_to("getChatMember")) == looked_up
    assert await store.get_channel("telegram", str(GROUP)) == before


async def test_a_members_change_with_arguments_is_still_refused(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """The same commands with arguments are changes: a member is refused after the look-up."""
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
    assert (await reply(telegram_server)).startswith("Subscribed")
    for count, command in enumerate(["/keywords add GAN", "/settings style titles", "/time 09:00"], start=2):
        telegram_server.push_message(GROUP, command, from_user=MEMBER)
        assert (await reply(telegram_server, count)).startswith(ADMINS_ONLY)
    assert await keywords_of(store) == [("diffusion",)]


# -- config files: the same rule, decided before anything is downloaded -----------------------------------


async def test_an_admins_captioned_config_file_is_downloaded_and_imported(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A group admin's YAML file captioned /topics replaces the topics (downloaded once)."""
    telegram_server.push_message(GROUP, "/topics", from_user=ADMIN, document=("config.yml", CONFIG))
    assert (await reply(telegram_server)).startswith("Imported 1 topic: MLLM")
    assert await keywords_of(store) == [("MLLM",)]
    assert len(telegram_server.calls_to("getFile")) == 1


async def test_in_a_private_chat_an_uncaptioned_config_file_is_imported(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """In one's own private chat a YAML file needs no caption."""
    telegram_server.push_message(55, None, document=("config.yml", CONFIG))
    assert (await reply(telegram_server, chat_id=55)).startswith("Imported 1 topic: MLLM")
    assert await keywords_of(store, 55) == [("MLLM",)]


async def test_in_a_group_an_uncaptioned_file_is_left_alone(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """In a group a YAML file not captioned /topics (or /import) is just a file: not fetched, not answered."""
    telegram_server.push_message(GROUP, None, from_user=ADMIN, document=("shared.yml", CONFIG))
    telegram_server.push_message(GROUP, "/topics@other_bot", from_user=ADMIN, document=("x.yml", CONFIG))
    telegram_server.push_message(GROUP, "/help", from_user=ADMIN, document=("y.yml", CONFIG))
    await after_the_rest(telegram_server, 0)
    assert await keywords_of(store) is None


async def test_a_config_file_over_256_kib_is_refused_before_download(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """An admin's YAML file of 256 KiB is imported; one byte more is refused by its size, never downloaded."""
    limit = 256 * 1024
    padded = CONFIG + b"#" * (limit - len(CONFIG) - 1) + b"\n"
    assert len(padded) == limit
    telegram_server.push_message(GROUP, "/topics", from_user=ADMIN, document=("big.yml", padded + b"\n"))
    telegram_server.push_message(GROUP, "/topics", from_user=ADMIN, document=("fits.yml", padded))
    assert "larger than 256 KiB" in await reply(telegram_server)
    assert (await reply(telegram_server, 2)).startswith("Imported 1 topic: MLLM")
    assert len(telegram_server.calls_to("getFile")) == 1  # only the one that fits
    assert await keywords_of(store) == [("MLLM",)]


async def test_an_admin_answer_is_remembered_for_a_minute_on_a_real_clock(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """One getChatMember per user a minute, with the monotonic clock far from zero: then asked again."""
    telegram_server.add_chat(GROUP, "supergroup", title="Reading group")
    clock = Monotonic()
    _, stop, task = await run_adapter(telegram_server, store, monotonic=clock)
    try:
        telegram_server.push_message(GROUP, "/subscribe a", from_user=MEMBER)
        telegram_server.push_message(GROUP, "/subscribe b", from_user=MEMBER)
        await reply(telegram_server, 2)
        assert len(telegram_server.calls_to("getChatMember")) == 1
        telegram_server.set_admins(GROUP, [MEMBER])  # promoted: seen once the cached answer is a minute old
        clock.now += 59.0
        telegram_server.push_message(GROUP, "/subscribe c", from_user=MEMBER)
        assert (await reply(telegram_server, 3)).startswith(ADMINS_ONLY)
        clock.now += 2.0
        telegram_server.push_message(GROUP, "/subscribe d", from_user=MEMBER)
        assert (await reply(telegram_server, 4)).startswith("Subscribed")
        assert len(telegram_server.calls_to("getChatMember")) == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


# -- a failed admin look-up refuses (fail closed) and is not cached -------------------------------------


LOOKUP_FAULTS = {
    "400 bad request": Fault(400, "Bad Request: member not found"),
    "403 forbidden": Fault(403, "Forbidden: bot is not a member of the supergroup chat"),
    "500": Fault.server_error(500),
    "502 html page": Fault.bad_gateway(),
    "dropped connection": Fault.dropped(),
}


@pytest.mark.parametrize("kind", list(LOOKUP_FAULTS))
async def test_a_failed_admin_look_up_refuses_the_change_and_the_next_try_asks_again(
    kind: str,
    running: TelegramAdapter,
    telegram_server: FakeTelegramServer,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """getChatMember failing refuses an admin's change (logged, answered); the next try is applied."""
    caplog.set_level(logging.WARNING, logger="adapters")
    telegram_server.fail(LOOKUP_FAULTS[kind], method="getChatMember", chat_id=GROUP, times=1)
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    assert await keywords_of(store) is None
    assert any("cannot check admin status" in record.getMessage() for record in caplog.records)
    # The failure is not remembered as "not an admin": the cache would otherwise refuse for a minute.
    telegram_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
    assert (await reply(telegram_server, 2)).startswith("Subscribed")
    assert await keywords_of(store) == [("diffusion",)]
    assert len(telegram_server.calls_to("getChatMember")) == 2


async def test_a_failed_admin_look_up_refuses_a_config_file_before_download(
    running: TelegramAdapter, telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """getChatMember failing for a captioned YAML file refuses it before getFile."""
    telegram_server.fail(Fault.server_error(500), method="getChatMember", chat_id=GROUP, times=1)
    telegram_server.push_message(GROUP, "/topics", from_user=ADMIN, document=("config.yml", CONFIG))
    assert (await reply(telegram_server)).startswith(ADMINS_ONLY)
    await after_the_rest(telegram_server, 1)
    assert await keywords_of(store) is None


class SlowMemberServer(FakeTelegramServer):
    """A fake Bot API whose first getChatMember answers only after python-telegram-bot gave up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.released = asyncio.Event()
        self.slow_calls = 1

    async def _get_chat_member(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Hang the first call past the client's 5 s read timeout (or until released)."""
        if self.slow_calls:
            self.slow_calls -= 1
            try:
                async with asyncio.timeout(8):
                    await self.released.wait()
            except TimeoutError:
                pass
        return await super()._get_chat_member(params, files)


@pytest.fixture
async def slow_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlowMemberServer]:
    """A SlowMemberServer on 127.0.0.1 (PTB's timedelta opt-in, as the shared fixture sets it)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    server = SlowMemberServer()
    await server.start()
    try:
        yield server
    finally:
        server.released.set()
        await server.close()
        httpx_logger.setLevel(level)


@pytest.mark.slow
async def test_an_admin_look_up_that_times_out_refuses_the_change(
    slow_server: SlowMemberServer, store: SqliteStore
) -> None:
    """getChatMember timing out (no answer within PTB's read timeout) refuses the change; it is not cached."""
    slow_server.add_chat(GROUP, "supergroup", title="Reading group")
    slow_server.set_admins(GROUP, [ADMIN])
    _, stop, task = await run_adapter(slow_server, store)
    try:
        slow_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
        sent = await slow_server.wait_for_call("sendMessage", chat_id=GROUP, ok=True, timeout=15)
        assert str(sent[0].params["text"]).startswith(ADMINS_ONLY)
        assert await keywords_of(store) is None
        slow_server.released.set()
        slow_server.push_message(GROUP, "/subscribe diffusion", from_user=ADMIN)
        assert (await reply(slow_server, 2)).startswith("Subscribed")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
