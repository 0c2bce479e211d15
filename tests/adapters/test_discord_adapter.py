"""The Discord adapter with the real discord.py against the fake Discord (REST + gateway) on 127.0.0.1.

Commands arrive as INTERACTION_CREATE dispatches; answers are read back from the fake's records of
interaction callbacks, follow-ups and channel messages, every body validated against Discord's spec.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import discord
import pytest
from discord import app_commands

from adapters.discord.adapter import DiscordAdapter
from bot.channels import ChannelRegistry
from bot.commands.papers import RANKING_OFF_HERE
from bot.commands.service import CommandService
from bot.commands.values import DigestNow
from bot.delivery import DeliveryService
from bot.models import Announcement, AnnounceType, Channel, Paper, Style, Topic
from bot.platforms.port import AdapterStartupError, AdapterUnreachableError
from bot.retry import Backoff
from storage.sqlite_store import SqliteStore
from tests.citations import parsed_bibtex, parsed_ris
from tests.fakes.discord_faults import Fault
from tests.fakes.discord_model import BUTTON, MANAGE_CHANNELS, PostedMessage
from tests.fakes.discord_server import FakeDiscord

GUILD = 900000000000000001
CHANNEL = 900000000000000011
OTHER_CHANNEL = 900000000000000012
ADMIN = MANAGE_CHANNELS
DAY = dt.date(2025, 11, 12)
NOW = dt.datetime(2025, 11, 12, 12, 0, tzinfo=dt.UTC)
EPHEMERAL = 1 << 6
ARXIV_ID = re.compile(r"arXiv:(\d{4}\.\d{4,5})")
PAGE_LINK = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})")
MEMBER = 1100000000000000888  # a member without Manage Channels
OTHER_MEMBER = 1100000000000000999


def paper(number: int, title: str = "", abstract: str = "") -> Paper:
    """A cs.CV paper announced as new."""
    return Paper(
        arxiv_id=f"2511.{number:05d}",
        version=1,
        title=title or f"Diffusion paper {number}",
        abstract=abstract or f"We study diffusion models, part {number}. " * 5,
        authors=tuple(f"Author {n}" for n in range(8)),
        categories=("cs.CV", "cs.LG"),
        announce_type=AnnounceType.NEW,
    )


@dataclass
class Bot:
    """A running adapter and what it talks to."""

    fake: FakeDiscord
    store: SqliteStore
    adapter: DiscordAdapter
    delivery: DeliveryService


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with one guild of two text channels."""
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD, [(CHANNEL, "papers"), (OTHER_CHANNEL, "robots")])
    try:
        yield server
    finally:
        await server.close()


async def start_bot(
    fake: FakeDiscord, store: SqliteStore, *, guild_id: int | None = GUILD, admins: tuple[int, ...] = ()
) -> tuple[Bot, asyncio.Event, asyncio.Task[None]]:
    """Start the adapter (and a delivery service over it) until the fake sees a ready gateway."""
    chats = ChannelRegistry(store)
    commands = CommandService(store, ("cs.CV", "cs.LG"), clock=lambda: NOW)
    adapter = DiscordAdapter(
        fake.token,
        commands,
        chats,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_id=guild_id,
        admin_user_ids=admins,
        guild_ready_timeout=0.05,
        messages_per_second=0,
    )
    delivery = DeliveryService(
        store, {"discord": adapter}, ("cs.CV", "cs.LG"), clock=lambda: NOW, channels=chats
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await fake.wait_ready()
    return Bot(fake, store, adapter, delivery), stop, task


@pytest.fixture
async def bot(fake: FakeDiscord, store: SqliteStore) -> AsyncIterator[Bot]:
    """The adapter running against the fake; stopped (and checked to stop) afterwards."""
    running, stop, task = await start_bot(fake, store)
    try:
        yield running
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    assert fake.validation_errors == []


def subcommand(sub: str, /, **options: Any) -> list[dict[str, Any]]:
    """A sub-command option list as Discord sends it."""
    return [
        {"type": 1, "name": sub, "options": [{"type": 3, "name": k, "value": v} for k, v in options.items()]}
    ]


def string_options(**options: Any) -> list[dict[str, Any]]:
    """String options as Discord sends them."""
    return [{"type": 3, "name": key, "value": value} for key, value in options.items()]


def text_of(response: dict[str, Any]) -> str:
    """The content of an interaction response or follow-up."""
    return str((response.get("data") or {}).get("content") or "")


async def answer(
    fake: FakeDiscord, name: str, options: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    """Run a command and return the first response to it."""
    sent = await fake.send_interaction(name, options or [], **kw)
    (first, *_) = await fake.wait_for_responses(sent.id)
    return first


async def seed_announcement(store: SqliteStore, papers: list[Paper]) -> None:
    """Store one announcement of these papers."""
    await store.save_announcement(Announcement(date=DAY, categories=("cs.CV", "cs.LG"), papers=tuple(papers)))


async def subscribed_channel(
    store: SqliteStore, chat_id: int = CHANNEL, keywords: tuple[str, ...] = ("diffusion",)
) -> Channel:
    """A stored, active Discord channel whose digest of DAY is due."""
    return await store.save_channel(
        Channel(
            "discord", str(chat_id), server_id=str(GUILD), active=True, topics=(Topic("Papers", keywords),)
        )
    )


def shown_ids(message: dict[str, Any]) -> list[str]:
    """arXiv ids of the papers a page shows, in order (from the links in its embeds)."""
    text = "\n".join(
        f"{embed.get('url', '')}\n{embed.get('description', '')}" for embed in message.get("embeds") or ()
    )
    return list(dict.fromkeys(PAGE_LINK.findall(text)))


def unescaped(text: str) -> str:
    """Discord markdown's escapes undone: a backslash before punctuation shows that character."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text)


def embeds_ids(message: dict[str, Any]) -> list[str]:
    """arXiv ids of the papers a created message carries as embeds (from each embed's url)."""
    body = message["body"]
    return [embed["url"].rsplit("/", 1)[-1] for embed in body.get("embeds", []) if "url" in embed]


# -- start-up and command sync -------------------------------------------------------------------------------


async def test_commands_are_synced_to_the_guild_with_manage_channels_defaults(bot: Bot) -> None:
    """With DISCORD_GUILD_ID the commands go to that guild; only the always-changing ones default to admins.

    The rest are offered to members, who may read the settings (the adapter refuses their changes).
    """
    commands = {command["name"]: command for command in bot.fake.synced_commands[GUILD]}
    assert "global" not in bot.fake.synced_commands or not bot.fake.synced_commands["global"]
    assert set(commands) == {
        "help", "digest", "preview", "status", "subscribe", "unsubscribe", "keywords", "exclude",
        "categories", "time", "settings", "topics", "saved", "export", "why",
    }  # fmt: skip
    for name in ("subscribe", "unsubscribe"):
        assert commands[name]["default_member_permissions"] == str(MANAGE_CHANNELS), name
    for name in (
        "help",
        "digest",
        "preview",
        "status",
        "keywords",
        "exclude",
        "categories",
        "time",
        "settings",
        "saved",
        "export",
        "why",
    ):
        assert commands[name].get("default_member_permissions") is None, name
    assert [option["name"] for option in commands["keywords"]["options"]] == [
        "add",
        "remove",
        "set",
        "clear",
        "list",
    ]
    assert bot.fake.validation_errors == []


async def test_without_a_guild_the_commands_are_synced_globally(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """Without DISCORD_GUILD_ID the commands are synced globally and to no guild; the intents are minimal."""
    _, stop, task = await start_bot(fake, store, guild_id=None)
    stop.set()
    await task
    assert len(fake.synced_commands["global"]) == 15
    assert GUILD not in fake.synced_commands
    assert fake.identify_payloads[0]["intents"] == 1  # GUILDS only: no privileged intent
    assert fake.validation_errors == []


async def test_a_rejected_token_is_a_one_line_startup_error(fake: FakeDiscord, store: SqliteStore) -> None:
    """A token Discord refuses raises AdapterStartupError naming DISCORD_BOT_TOKEN, without the token."""
    adapter = DiscordAdapter(
        "not-the-token",
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
    )
    with pytest.raises(AdapterStartupError, match="DISCORD_BOT_TOKEN") as caught:
        await adapter.run(asyncio.Event())
    assert "not-the-token" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(fake.requests_to("GET", r"^/users/@me$")) == 1  # refused at once, not retried


QUICK = Backoff(first=0.05, factor=2.0, cap=0.2, budget=1.0)  # start-up retries on a short leash


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def startup_adapter(store: SqliteStore, api_url: str, token: str, **options: Any) -> DiscordAdapter:
    """An adapter with quick start-up retries."""
    return DiscordAdapter(
        token,
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=api_url,
        gateway_url=api_url.replace("http://", "ws://").removesuffix("/api/v10") + "/gateway",
        guild_id=GUILD,
        guild_ready_timeout=0.05,
        startup_backoff=options.pop("startup_backoff", QUICK),
        **options,
    )


async def test_startup_retries_discords_5xx_and_then_serves(
    fake: FakeDiscord, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 503s at login and a 502 page at the command sync are retried, each logged; then it runs."""
    fake.fail_next("GET", r"^/users/@me$", Fault.server_error(503), times=2)
    fake.fail_next("PUT", r"/commands$", Fault(503, b"<html><body>503 Service Unavailable</body></html>"))
    adapter = startup_adapter(store, fake.api_url, fake.token)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="bot.retry"):
        task = asyncio.create_task(adapter.run(stop))
        try:
            await fake.wait_ready(timeout=10)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert GUILD in fake.synced_commands
    retried = [record.getMessage() for record in caplog.records if record.name == "bot.retry"]
    assert len(retried) == 3, retried
    assert "HTTP 503" in retried[0]
    assert "attempt 1" in retried[0]
    assert "HTTP 503 (an HTML page)" in retried[2]
    assert fake.token not in " ".join(retried)


async def test_a_proxys_html_404_is_named_as_such_not_as_a_bad_token(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """An HTML 404 page at login is "answered 404 with an HTML page … check DISCORD_API_URL", at once."""
    fake.fail_next("GET", r"^/users/@me$", Fault(404, b"<!DOCTYPE html><html>Not Found</html>"), times=None)
    adapter = startup_adapter(store, fake.api_url, fake.token)
    with pytest.raises(AdapterStartupError) as caught:
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    assert "answered 404 with an HTML page, not Discord's API: check DISCORD_API_URL" in str(caught.value)
    assert not isinstance(caught.value, AdapterUnreachableError)
    assert len(fake.requests_to("GET", r"^/users/@me$")) == 1


async def test_a_200_that_is_not_discords_json_is_one_line(fake: FakeDiscord, store: SqliteStore) -> None:
    """A 200 web page at login (a captive portal) is one line naming DISCORD_API_URL, no traceback."""
    fake.fail_next(
        "GET", r"^/users/@me$", Fault(200, b"<html><body>Welcome to the hotel Wi-Fi</body></html>")
    )
    adapter = startup_adapter(store, fake.api_url, fake.token)
    with pytest.raises(AdapterStartupError, match="not Discord's API: check DISCORD_API_URL") as caught:
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("where", "reason"),
    [("refused", "connection was refused"), ("dns", "host name does not resolve")],
)
async def test_an_unreachable_discord_is_given_up_after_the_budget_in_one_line(
    store: SqliteStore, where: str, reason: str
) -> None:
    """Refused connections or a name that does not resolve: retried for the budget, then one line."""
    host = f"127.0.0.1:{free_port()}" if where == "refused" else "discord.invalid"
    url = f"http://{host}/api/v10"
    adapter = startup_adapter(store, url, "a.b.c")
    started = time.monotonic()
    with pytest.raises(AdapterUnreachableError) as caught:
        await asyncio.wait_for(adapter.run(asyncio.Event()), 10)
    took = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"cannot reach Discord at {url}: gave up after ")
    assert reason in message
    assert "\n" not in message
    assert 0.3 <= took < 3.0


async def test_stop_during_the_startup_retries_returns_promptly(store: SqliteStore) -> None:
    """The stop event while waiting to retry ends run() at once, without an error."""
    adapter = startup_adapter(
        store, f"http://127.0.0.1:{free_port()}/api/v10", "a.b.c", startup_backoff=Backoff(first=30.0)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    await asyncio.sleep(0.3)
    assert not task.done()
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5


# -- commands -----------------------------------------------------------------------------------------


async def test_an_admin_subscribes_the_channel(bot: Bot) -> None:
    """Manage Channels may /subscribe: the answer is public and the channel is stored with its server."""
    first = await answer(
        bot.fake,
        "subscribe",
        string_options(keywords="VLM, MLLM"),
        guild_id=GUILD,
        channel_id=CHANNEL,
        permissions=ADMIN,
    )
    assert first["kind"] == "callback"
    assert "Subscribed" in text_of(first)
    assert not first["ephemeral"]
    channel = await bot.store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert channel.active
    assert channel.server_id == str(GUILD)
    assert channel.topics[0].keywords == ("VLM", "MLLM")


async def test_a_member_without_manage_channels_is_refused_privately(bot: Bot) -> None:
    """A member without Manage Channels gets an ephemeral one-line refusal and nothing is stored."""
    first = await answer(bot.fake, "subscribe", string_options(keywords="VLM"), guild_id=GUILD, permissions=0)
    assert first["ephemeral"]
    assert "Manage Channels" in text_of(first)
    assert "\n" not in text_of(first)
    refused_group = await answer(
        bot.fake, "keywords", subcommand("add", words="GAN"), guild_id=GUILD, permissions=0
    )
    assert refused_group["ephemeral"]
    assert await bot.store.list_channels(active_only=False) == []


async def test_admin_user_ids_may_change_any_channel(fake: FakeDiscord, store: SqliteStore) -> None:
    """A user listed as discord:ID in ADMIN_USER_IDS may change settings without Manage Channels."""
    _, stop, task = await start_bot(fake, store, admins=(4242,))
    try:
        first = await answer(
            fake, "subscribe", string_options(keywords="VLM"), guild_id=GUILD, permissions=0, user_id=4242
        )
        assert "Subscribed" in text_of(first)
    finally:
        stop.set()
        await task


async def test_a_dm_is_a_personal_subscription(bot: Bot) -> None:
    """In a DM with the bot the user may subscribe; the DM channel has no server."""
    first = await answer(bot.fake, "subscribe", string_options(keywords="diffusion"), channel_id=4455)
    assert "Subscribed" in text_of(first)
    channel = await bot.store.get_channel("discord", "4455")
    assert channel is not None
    assert channel.server_id is None


async def test_a_members_digest_is_one_ephemeral_paged_message(bot: Bot) -> None:
    """A member's /digest keywords:diffusion is deferred ephemerally at once, then becomes one paged page.

    No line before the digest's header; nobody but the asker sees anything; nothing is saved.
    """
    await seed_announcement(bot.store, [paper(1), paper(2, title="Robots", abstract="Grasping.")])
    sent = await bot.fake.send_interaction(
        "digest", string_options(keywords="diffusion"), guild_id=GUILD, permissions=0, user_id=MEMBER
    )
    callback, edit = await bot.fake.wait_for_responses(sent.id, count=2)
    assert (callback["kind"], callback["type"], callback["ephemeral"]) == ("callback", 5, True)
    assert edit["kind"] == "edit_original"
    assert edit["data"]["content"].startswith("📚 **arXiv digest · 2025-11-12")
    (shown,) = bot.fake.posted(CHANNEL)
    assert shown_ids(shown.message) == ["2511.00001"]
    assert shown.audience == MEMBER
    assert bot.fake.seen_by(CHANNEL, OTHER_MEMBER) == []
    assert await bot.store.list_channels(active_only=False) == []  # an ad-hoc digest saves nothing


async def test_digest_without_keywords_is_a_private_one_liner(bot: Bot) -> None:
    """/digest in a channel with no filters answers privately how to set some."""
    await seed_announcement(bot.store, [paper(1)])
    sent = await bot.fake.send_interaction("digest", guild_id=GUILD, permissions=0)
    responses = await bot.fake.wait_for_responses(sent.id, count=2)
    assert [r["kind"] for r in responses] == ["callback", "edit_original"]
    assert responses[0]["ephemeral"]
    assert "/subscribe" in text_of(responses[1])
    assert all(not p.notifies for p in bot.fake.posted(CHANNEL))


async def test_help_uses_slash_syntax(bot: Bot) -> None:
    """/help lists the commands as Discord writes them, without /start."""
    text = text_of(await answer(bot.fake, "help", guild_id=GUILD))
    assert "/keywords add words: diffusion, =GAN" in text
    assert "/time time: 08:00 timezone: Europe/Berlin" in text
    assert "/start" not in text


async def test_keywords_of_a_named_topic_and_time_with_zone(bot: Bot) -> None:
    """Sub-commands and options reach the core as its argument text (topic scoping, time zones)."""
    fake = bot.fake
    await answer(fake, "subscribe", string_options(keywords="VLM"), guild_id=GUILD, permissions=ADMIN)
    added = await answer(
        fake,
        "topics",
        subcommand("add", name="Robots", keywords="embodied"),
        guild_id=GUILD,
        permissions=ADMIN,
    )
    assert "Robots" in text_of(added)
    scoped = await answer(
        fake,
        "keywords",
        subcommand("add", words="humanoid", topic="Robots"),
        guild_id=GUILD,
        permissions=ADMIN,
    )
    assert "humanoid" in text_of(scoped)
    timed = await answer(
        fake,
        "time",
        string_options(time="08:00", timezone="Europe/Berlin"),
        guild_id=GUILD,
        permissions=ADMIN,
    )
    assert "08:00 Europe/Berlin" in text_of(timed)
    channel = await bot.store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert [topic.keywords for topic in channel.topics] == [("VLM",), ("embodied", "humanoid")]


async def test_unknown_category_is_refused_by_name(bot: Bot) -> None:
    """/categories with an unknown code names it and changes nothing."""
    reply = await answer(
        bot.fake, "categories", string_options(codes="cs.CV cs.XX"), guild_id=GUILD, permissions=ADMIN
    )
    assert "cs.XX" in text_of(reply)
    assert reply["ephemeral"]


async def test_autocomplete_offers_at_most_25_codes_and_zones(bot: Bot) -> None:
    """Category and time zone autocomplete answer with matching choices, never more than 25."""
    sent = await bot.fake.send_autocomplete(
        "categories",
        [{"type": 3, "name": "codes", "value": "cs.", "focused": True}],
        guild_id=GUILD,
        permissions=ADMIN,
    )
    (response,) = await bot.fake.wait_for_responses(sent.id)
    choices = response["data"]["choices"]
    assert 0 < len(choices) <= 25
    assert all(choice["value"].startswith("cs.") for choice in choices)
    sent = await bot.fake.send_autocomplete(
        "time",
        [{"type": 3, "name": "timezone", "value": "berl", "focused": True}],
        guild_id=GUILD,
        permissions=ADMIN,
    )
    (response,) = await bot.fake.wait_for_responses(sent.id)
    assert "Europe/Berlin" in [choice["value"] for choice in response["data"]["choices"]]


async def test_config_import_is_refused_before_download_for_members(bot: Bot) -> None:
    """A member's YAML attachment is refused and never downloaded; an admin's replaces the topics."""
    config = (
        b"category:\n  cs.CV: Computer Vision\ntopic:\n  MLLM:\n    keywords: [MLLM, VLM]\n    filters:\n"
    )
    attachment = bot.fake.add_attachment("config.yml", config)
    options = [
        {"type": 1, "name": "import", "options": [{"type": 11, "name": "file", "value": attachment["id"]}]}
    ]
    refused = await answer(
        bot.fake, "topics", options, guild_id=GUILD, permissions=0, attachments=[attachment]
    )
    assert refused["ephemeral"]
    assert bot.fake.downloads == []
    sent = await bot.fake.send_interaction(
        "topics", options, guild_id=GUILD, permissions=ADMIN, attachments=[attachment]
    )
    responses = await bot.fake.wait_for_responses(sent.id, count=2)
    assert "Imported 1 topic: MLLM" in text_of(responses[1])
    assert len(bot.fake.downloads) == 1
    channel = await bot.store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert channel.topics[0].keywords == ("MLLM", "VLM")


# -- delivery -----------------------------------------------------------------------------------------


async def test_a_hostile_title_pings_nobody_and_shows_as_written(bot: Bot) -> None:
    """A paper titled `@everyone **bold** <@&1>` is sent escaped, with allowed_mentions that ping nobody."""
    await seed_announcement(bot.store, [paper(1, title="@everyone **bold** <@&1> diffusion _x_")])
    await subscribed_channel(bot.store)
    report = await bot.delivery.deliver_due()
    assert report.papers_sent == 1
    (message,) = bot.fake.channel_messages(CHANNEL)
    body = message["body"]
    assert body["allowed_mentions"] == {"parse": []}
    text = body["embeds"][0]["description"]
    assert "@everyone" not in text  # broken by a zero-width space
    assert "\\*\\*bold\\*\\*" in text
    assert "\\<@&1>" in text  # a backslash keeps the role mention from rendering
    assert "\\_x\\_" in text
    assert "@\u200beveryone **bold** <@&1> diffusion _x_" in unescaped(text)


async def test_a_150_paper_digest_is_one_paged_message_and_the_file_comes_silently(bot: Bot) -> None:
    """150 matches: one message showing page 1 of 15 (◀ 1/15 ▶) naming all 150; the file, silent, after."""
    await seed_announcement(bot.store, [paper(n) for n in range(1, 151)])
    channel = await subscribed_channel(bot.store)
    await bot.store.save_channel(replace(channel, send_file=True))
    await bot.delivery.deliver_due()
    page, file_message = bot.fake.posted(CHANNEL)
    assert shown_ids(page.message) == [f"2511.{n:05d}" for n in range(1, 11)]
    assert "papers 1–10 of 150" in page.message["content"]
    assert [b["label"] for b in page.message["components"][0]["components"]] == [
        "◀",
        "1/15",
        "▶",
        "📖 Abstracts",
        "📄 .md file",
    ]
    assert (page.notifies, file_message.notifies) == (True, False)
    (upload,) = bot.fake.channel_messages(CHANNEL)[1]["files"]
    assert upload.filename.endswith(".md")
    assert len(set(ARXIV_ID.findall(upload.data.decode()))) == 150
    assert channel.id is not None
    assert len(await bot.store.delivered_ids(channel.id)) == 150


@pytest.mark.slow
async def test_429_and_500_are_retried_without_duplicates(bot: Bot) -> None:
    """A 429 with Retry-After (and Via) and a 500 are retried; the one paged message arrives once."""
    await seed_announcement(bot.store, [paper(n) for n in range(1, 9)])
    channel = await subscribed_channel(bot.store)
    bot.fake.fail_next("POST", rf"/channels/{CHANNEL}/messages", Fault.rate_limited(0.1))
    bot.fake.fail_next("POST", rf"/channels/{CHANNEL}/messages", Fault.server_error(500))
    report = await bot.delivery.deliver_due()
    assert report.papers_sent == 8
    (shown,) = bot.fake.posted(CHANNEL)
    assert shown_ids(shown.message) == [f"2511.{n:05d}" for n in range(1, 9)]
    assert channel.id is not None
    assert len(await bot.store.delivered_ids(channel.id)) == 8


@pytest.mark.parametrize(
    "fault", [Fault.missing_access(), Fault.missing_permissions(), Fault.unknown_channel()]
)
async def test_a_gone_channel_is_turned_off_once_and_not_tried_again(
    bot: Bot, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    """403 Missing Access/Permissions or 404 Unknown Channel: channel off, logged once, not retried."""
    await seed_announcement(bot.store, [paper(1)])
    channel = await subscribed_channel(bot.store)
    bot.fake.fail_next("POST", rf"/channels/{CHANNEL}/messages", fault, times=None)
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        first = await bot.delivery.deliver_due()
        second = await bot.delivery.deliver_due()
    assert [outcome.result for outcome in first.outcomes] == ["gone"]
    assert second.outcomes == []
    stored = await bot.store.get_channel("discord", str(CHANNEL))
    assert stored is not None
    assert not stored.active
    assert len(bot.fake.requests_to("POST", rf"/channels/{CHANNEL}/messages")) == 1
    assert len([r for r in caplog.records if "is gone" in r.getMessage()]) == 1
    assert channel.id is not None
    assert await bot.store.delivered_ids(channel.id) == set()


async def test_removal_from_the_server_turns_its_channels_off(bot: Bot) -> None:
    """GUILD_DELETE (the bot removed) turns off every channel of that server, and no DM."""
    await subscribed_channel(bot.store, CHANNEL)
    await subscribed_channel(bot.store, OTHER_CHANNEL)
    await bot.store.save_channel(Channel("discord", "777", active=True, topics=(Topic("P", ("x",)),)))
    await bot.fake.remove_guild(GUILD)
    for _ in range(200):
        if not (await bot.store.list_channels(active_only=True, platform="discord"))[1:]:
            break
        await asyncio.sleep(0.01)
    assert [c.chat_id for c in await bot.store.list_channels(active_only=True)] == ["777"]


async def test_a_dropped_gateway_reconnects_and_commands_still_work(bot: Bot) -> None:
    """After the gateway connection drops, discord.py reconnects and the next command is answered."""
    await bot.fake.drop_gateway()
    await bot.fake.wait_ready()
    reply = await answer(bot.fake, "status", guild_id=GUILD)
    assert "Last announcement" in text_of(reply)
    assert bot.fake.gateway_connections >= 2


async def test_a_day_without_a_match_is_one_short_line(bot: Bot) -> None:
    """An announcement with no match posts one short line and no embed; the cursor moves past the day."""
    await seed_announcement(bot.store, [paper(1, title="Robots", abstract="Grasping objects.")])
    channel = await subscribed_channel(bot.store, keywords=("quantum",))
    report = await bot.delivery.deliver_due()
    assert [outcome.result for outcome in report.outcomes] == ["empty"]
    (message,) = bot.fake.channel_messages(CHANNEL)
    assert message["body"]["content"] == "0 of 1 announced papers matched your filters on 2025-11-12."
    assert not message["body"].get("embeds")
    stored = await bot.store.get_channel("discord", str(channel.chat_id))
    assert stored is not None
    assert stored.done_up_to == DAY


@pytest.mark.slow
async def test_a_fan_out_follows_the_advertised_buckets_without_429s(bot: Bot) -> None:
    """With buckets of 1 message a second per channel, page and file to each channel get no 429."""
    bot.fake.enforce_rate_limits(per_channel=1, per_seconds=1.0)
    await seed_announcement(bot.store, [paper(n) for n in range(1, 25)])
    channels = [CHANNEL, OTHER_CHANNEL]
    for chat_id in channels:
        channel = await subscribed_channel(bot.store, chat_id)
        await bot.store.save_channel(replace(channel, send_file=True))
    report = await bot.delivery.deliver_due()
    assert report.papers_sent == 24 * 2
    assert all(len(bot.fake.channel_messages(chat_id)) == 2 for chat_id in channels)  # the bucket bound
    assert bot.fake.rate_limited_count == 0


class CountingStore:
    """The real store, recording every call that writes a chat's settings."""

    WRITES = frozenset({"save_channel", "set_channel_active", "set_done_up_to", "move_channel"})

    def __init__(self, store: SqliteStore) -> None:
        """Wrap `store`."""
        self._store = store
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        """The real store's attribute; a write method is recorded when called."""
        attribute = getattr(self._store, name)
        if name not in self.WRITES:
            return attribute

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.writes.append(name)
            return await attribute(*args, **kwargs)

        return recorded


async def test_settings_with_both_options_is_one_command_and_one_write(
    fake: FakeDiscord, store: SqliteStore
) -> None:
    """/settings style, file and empty together: every change answered at once, the channel stored once."""
    counting = CountingStore(store)
    _running, stop, task = await start_bot(fake, counting)  # type: ignore[arg-type]
    try:
        counting.writes.clear()
        options = [
            {"type": 3, "name": "style", "value": "titles"},
            {"type": 5, "name": "file", "value": True},
            {"type": 3, "name": "empty", "value": "off"},
        ]
        reply = await answer(fake, "settings", options, guild_id=GUILD, permissions=ADMIN)
        lines = text_of(reply).splitlines()
        assert len(lines) == 3, lines
        assert "titles" in lines[0]
        assert "Notice on days with no match: off." in lines
        assert not reply["ephemeral"]
        assert counting.writes == ["save_channel"]
        channel = await store.get_channel("discord", str(CHANNEL))
        assert channel is not None
        assert (channel.style, channel.send_file, channel.notify_empty) == (Style.TITLES, True, False)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    assert fake.validation_errors == []


# -- pages and buttons ------------------------------------------------------------------------------------


def buttons_of(message: dict[str, Any]) -> dict[str, str]:
    """A message's buttons (not its select menus): label -> custom_id."""
    return {
        str(item["label"]): str(item["custom_id"])
        for row in message.get("components") or ()
        for item in row.get("components") or ()
        if item.get("type") == BUTTON
    }


async def press(fake: FakeDiscord, message_id: int, label: str, *, user_id: int = MEMBER) -> dict[str, Any]:
    """A member presses the button with this label; the first answer to the press."""
    posted = fake.posted_message(message_id)
    sent = await fake.press_button(message_id, buttons_of(posted.message)[label], user_id=user_id)
    (first, *_) = await fake.wait_for_responses(sent.id)
    return first


async def delivered_page(bot: Bot, count: int, **changes: Any) -> PostedMessage:
    """Deliver a digest of `count` diffusion papers to #papers; its paged message."""
    await seed_announcement(bot.store, [paper(n) for n in range(1, count + 1)])
    channel = await subscribed_channel(bot.store)
    if changes:
        await bot.store.save_channel(replace(channel, **changes))
    await bot.delivery.deliver_due()
    threads = bot.fake.threads_of(CHANNEL)
    return bot.fake.posted(int(threads[0]["id"]) if threads else CHANNEL)[0]


async def test_any_member_turns_pages_in_place_and_every_paper_is_on_one_page(bot: Bot) -> None:
    """▶ from a member without any permission updates the same message (type 7) to the next page.

    Pressing ▶ through all 3 pages of 25 papers shows each paper once and wraps to page 1; ◀ from page
    1 wraps to the last; each press is answered in well under Discord's 3 s; no message is added.
    """
    page = await delivered_page(bot, 25)
    seen = shown_ids(page.message)
    for _ in range(2):
        answer = await press(bot.fake, page.id, "▶")
        assert (answer["kind"], answer["type"]) == ("callback", 7)
        seen += shown_ids(page.message)
    assert seen == [f"2511.{n:05d}" for n in range(1, 26)]
    assert "papers 21–25 of 25" in page.message["content"]
    await press(bot.fake, page.id, "▶")
    assert shown_ids(page.message)[0] == "2511.00001"
    await press(bot.fake, page.id, "◀")
    assert "3/3" in buttons_of(page.message)
    assert len(bot.fake.posted(CHANNEL)) == 1
    delays = bot.fake.press_delays()
    assert len(delays) == 4
    assert all(delay is not None and delay < 1.0 for delay in delays), delays
    assert bot.fake.failed_interactions() == []


async def test_a_two_page_digest_has_unique_custom_ids_that_both_turn(bot: Bot) -> None:
    """With 2 pages ◀ and ▶ lead to the same page: their custom ids still differ, and both work."""
    page = await delivered_page(bot, 15)
    ids = buttons_of(page.message)
    assert ids["◀"] != ids["▶"]
    assert ids["◀"].split("#")[0] == ids["▶"].split("#")[0]
    await press(bot.fake, page.id, "◀")
    assert shown_ids(page.message)[0] == "2511.00011"
    await press(bot.fake, page.id, "▶")
    assert shown_ids(page.message)[0] == "2511.00001"


async def test_the_label_press_is_a_deferred_update_and_the_file_goes_to_the_presser(bot: Bot) -> None:
    """ "1/3" is answered with a deferred update (6); "📄 .md file" sends the file to the presser alone."""
    page = await delivered_page(bot, 25)
    before = dict(page.message)
    label = await press(bot.fake, page.id, "1/3")
    assert label["type"] == 6
    assert page.message["content"] == before["content"]
    answer = await press(bot.fake, page.id, "📄 .md file")
    assert (answer["type"], answer["ephemeral"]) == (4, True)
    (upload,) = answer["files"]
    assert len(set(ARXIV_ID.findall(upload.data.decode()))) == 25
    assert [p.audience for p in bot.fake.posted(CHANNEL)] == [None, MEMBER]


async def test_the_style_toggle_shows_abstracts_and_back(bot: Bot) -> None:
    """ "📖 Abstracts" shows the full style at the current paper; "📋 Compact" returns to it."""
    page = await delivered_page(bot, 25)
    await press(bot.fake, page.id, "▶")
    await press(bot.fake, page.id, "📖 Abstracts")
    assert shown_ids(page.message)[0] == "2511.00011"
    assert len(page.message["embeds"]) > 1  # one embed per paper
    await press(bot.fake, page.id, "📋 Compact")
    assert shown_ids(page.message)[0] == "2511.00011"


async def test_a_press_for_another_channels_or_a_gone_view_says_so_privately(bot: Bot) -> None:
    """A forged or outdated custom_id gets one private line, never a page of another channel."""
    page = await delivered_page(bot, 5)
    view_id = int(buttons_of(page.message)["📖 Abstracts"].split(":")[1])
    other = await subscribed_channel(bot.store, OTHER_CHANNEL)
    await bot.delivery.deliver_due()
    forged = bot.fake.posted(OTHER_CHANNEL)[0]
    assert other.id is not None
    forged.message["components"][0]["components"][0]["custom_id"] = f"pg:{view_id}:0:f"
    answer = await press(bot.fake, forged.id, "📖 Abstracts")
    assert answer["ephemeral"]
    assert text_of(answer) == "This digest is no longer kept."
    forged.message["components"][0]["components"][0]["custom_id"] = "vote:1"
    answer = await press(bot.fake, forged.id, "📖 Abstracts")
    assert answer["ephemeral"]
    assert "no longer works" in text_of(answer)


async def test_own_thread_puts_each_days_digest_into_a_thread_of_its_own(bot: Bot) -> None:
    """With own_thread the page starts a thread "arXiv digest 2025-11-12", the silent file follows it.

    The channel itself gets nothing else, and the pages turn inside the thread.
    """
    page = await delivered_page(bot, 15, own_thread=True, send_file=True)
    (thread,) = bot.fake.threads_of(CHANNEL)
    assert thread["name"] == "arXiv digest 2025-11-12"
    assert thread["type"] == 11
    shown = bot.fake.posted(int(thread["id"]))
    assert [p.notifies for p in shown] == [True, False]
    assert page.channel_id == int(thread["id"])
    assert bot.fake.channel_messages(CHANNEL) == []
    await press(bot.fake, page.id, "▶")
    assert shown_ids(page.message)[0] == "2511.00011"


def with_public_digest(adapter: DiscordAdapter) -> None:
    """A test-only `/digest_public` running `/digest` with `public` set (its option is declared elsewhere)."""

    async def public_digest(interaction: discord.Interaction) -> None:
        """/digest public: True."""
        await adapter.digest(interaction, DigestNow(public=True))

    adapter.tree.add_command(
        app_commands.Command(name="digest_public", description="digest, public", callback=public_digest)
    )


async def test_an_admins_public_digest_is_posted_and_a_repeat_points_to_it(bot: Bot) -> None:
    """An admin's /digest public:True is one public paged message; the same again answers with its link."""
    await seed_announcement(bot.store, [paper(1), paper(2)])
    await subscribed_channel(bot.store)
    with_public_digest(bot.adapter)
    sent = await bot.fake.send_interaction("digest_public", guild_id=GUILD, permissions=ADMIN)
    callback, _ = await bot.fake.wait_for_responses(sent.id, count=2)
    assert not callback["ephemeral"]
    (shown,) = bot.fake.posted(CHANNEL)
    assert (shown.audience, shown.notifies) == (None, True)
    assert shown_ids(shown.message) == ["2511.00001", "2511.00002"]
    again = await bot.fake.send_interaction("digest_public", guild_id=GUILD, permissions=ADMIN)
    _, pointer = await bot.fake.wait_for_responses(again.id, count=2)
    assert f"https://discord.com/channels/{GUILD}/{CHANNEL}/{shown.id}" in text_of(pointer)
    assert len([p for p in bot.fake.posted(CHANNEL) if shown_ids(p.message)]) == 1
    assert bot.fake.failed_interactions() == []


async def test_a_members_public_ask_is_answered_privately(bot: Bot) -> None:
    """A member without Manage Channels asking public gets the digest privately, and a line saying why."""
    await seed_announcement(bot.store, [paper(1)])
    await subscribed_channel(bot.store)
    with_public_digest(bot.adapter)
    sent = await bot.fake.send_interaction("digest_public", guild_id=GUILD, permissions=0, user_id=MEMBER)
    callback, _, note = await bot.fake.wait_for_responses(sent.id, count=3)
    assert callback["ephemeral"]
    assert note["ephemeral"]
    assert "Manage Channels" in text_of(note)
    assert bot.fake.seen_by(CHANNEL, OTHER_MEMBER) == []


class RecordingCommands(CommandService):
    """The real command service, remembering the context of every command it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As CommandService."""
        super().__init__(*args, **kwargs)
        self.contexts: list[Any] = []

    async def run(self, context: Any, command: Any) -> Any:
        """Remember the context, then run the command."""
        self.contexts.append(context)
        return await super().run(context, command)


async def test_a_command_carries_when_discord_says_it_was_sent(fake: FakeDiscord, store: SqliteStore) -> None:
    """The CommandContext's sent_at is the interaction's creation time (its snowflake), not the clock."""
    commands = RecordingCommands(store, ("cs.CV", "cs.LG"), clock=lambda: NOW)
    adapter = DiscordAdapter(
        fake.token,
        commands,
        ChannelRegistry(store),
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_id=GUILD,
        guild_ready_timeout=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    try:
        await fake.wait_ready()
        before = dt.datetime.now(dt.UTC)
        await answer(fake, "status", guild_id=GUILD)
    finally:
        stop.set()
        await task
    (context,) = commands.contexts
    assert context.sent_at is not None
    assert abs((context.sent_at - before).total_seconds()) < 2
    assert context.sent_at != NOW


# -- /saved, /export, /why, /settings ranking -------------------------------------------------------------
async def _saved_by_member(bot: Bot) -> None:
    """DAY's announcement of two papers, one of which the member saved with 🔖."""
    papers = [paper(1, "Diffusion & Friends", "diffusion"), paper(2, "Algebra", "groups")]
    await seed_announcement(bot.store, papers)
    assert await bot.store.toggle_bookmark("discord", str(MEMBER), paper(1).arxiv_id, DAY, NOW)


async def test_saved_is_an_ephemeral_list_of_the_members_bookmarks(bot: Bot) -> None:
    """/saved in a server: only the asker sees it (ephemeral), with the bookmark's linked title."""
    await _saved_by_member(bot)
    first = await answer(bot.fake, "saved", guild_id=GUILD, user_id=MEMBER, permissions=0)
    assert first["ephemeral"]
    assert paper(1).abs_url in text_of(first)
    assert "/export format: bibtex" in text_of(first)
    assert [posted.audience for posted in bot.fake.posted(CHANNEL)] == [MEMBER]


async def test_export_saved_is_an_ephemeral_file_and_today_a_public_one(bot: Bot) -> None:
    """/export format: ris is the member's bookmarks as an ephemeral .ris attachment; `papers: today` is
    the channel's digest as a .bib everyone sees; both parse with real readers."""
    await _saved_by_member(bot)
    await subscribed_channel(bot.store)
    private = await answer(
        bot.fake, "export", string_options(format="ris"), guild_id=GUILD, user_id=MEMBER, permissions=0
    )
    assert private["ephemeral"]
    (upload,) = private["files"]
    assert upload.filename.endswith(".ris")
    assert [record["id"] for record in parsed_ris(upload.data.decode())] == [paper(1).arxiv_id]
    public = await answer(
        bot.fake,
        "export",
        string_options(format="bibtex", papers="today"),
        guild_id=GUILD,
        user_id=MEMBER,
        permissions=0,
    )
    assert not public["ephemeral"]
    (bib,) = public["files"]
    assert bib.filename == f"arxiv-digest-{DAY.isoformat()}.bib"
    assert [entry["eprint"] for entry in parsed_bibtex(bib.data.decode())] == [paper(1).arxiv_id]
    assert text_of(public).startswith("The digest of")


async def test_why_without_a_ranker_and_settings_ranking_off(bot: Bot) -> None:
    """/why on a bot without ranking is one line; /settings ranking: off from a manager is stored."""
    await _saved_by_member(bot)
    why = await answer(bot.fake, "why", string_options(paper=paper(1).arxiv_id), guild_id=GUILD)
    assert text_of(why) == RANKING_OFF_HERE
    await subscribed_channel(bot.store)
    changed = await answer(
        bot.fake, "settings", string_options(ranking="off"), guild_id=GUILD, permissions=MANAGE_CHANNELS
    )
    assert text_of(changed) == "Learned order off: papers come in the listing's order."
    channel = await bot.store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert channel.ranking is False


async def test_a_commands_channel_and_server_names_are_recorded_for_the_operator(bot: Bot) -> None:
    """After a command the channel's name and its server's are in the store (for `arxiv-digest
    channels`); the /subscribe that stores the channel names it at once; a DM is named after its user."""
    await answer(
        bot.fake,
        "subscribe",
        string_options(keywords="VLM"),
        guild_id=GUILD,
        channel_id=CHANNEL,
        permissions=ADMIN,
    )
    channel = await bot.store.get_channel("discord", str(CHANNEL))
    assert channel is not None
    assert (channel.title, channel.server_name) == ("papers", f"Test guild {GUILD}")
    await answer(bot.fake, "subscribe", string_options(keywords="diffusion"), channel_id=4455)
    dm = await bot.store.get_channel("discord", "4455")
    assert dm is not None
    assert dm.title is not None
    assert dm.title.startswith("@")
    assert dm.server_name is None
