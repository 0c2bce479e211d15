"""`arxiv-digest run` with both tokens: one real process serving Telegram and Discord from one feed.

The child process runs in real time against three fakes in this process on 127.0.0.1 (the Telegram
Bot API, Discord's REST API and gateway, and arXiv). Its clock is the real one, so the anchor listing
(dated 2025-11-12, long outside the 14 days the bot keeps and delivers) is served re-dated to
today's US Eastern date: the date rss.arxiv.org would label today's feed with.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import sqlite3
import time
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.arxiv_server import FIXTURES, FakeArxiv, Reply
from tests.fakes.discord_model import MANAGE_CHANNELS
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_cli import start_arxiv_digest
from tests.test_telegram_e2e import (
    ANCHOR_FEED,
    EMPTY_FEED,
    MLLM_KEYWORDS,
    mllm_ids,
    replies,
    until,
)

EASTERN = ZoneInfo("America/New_York")
ABS_LINK = re.compile(r"arxiv\.org/abs/(\d{4}\.\d{4,5})")
TELEGRAM_CHAT = 4242
GUILD = 900000000000000001
CHANNEL = 900000000000000011
POLL_INTERVAL = 4.0  # > ARXIV_REQUEST_INTERVAL (3 s): a second fetch in one check would come sooner
FEED_PATH = "/rss/cs.AI+cs.CL+cs.CV+cs.LG"
ANCHOR_DAY = "Wed, 12 Nov 2025"  # how the anchor listing's pubDate and lastBuildDate name its date
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def anchor_feed_dated(day: dt.date) -> bytes:
    """The anchor listing with its channel and item dates moved to `day` (RFC 822, locale-free)."""
    text = (FIXTURES / ANCHOR_FEED).read_text(encoding="utf-8")
    assert text.count(ANCHOR_DAY) == 498  # lastBuildDate, the channel's pubDate, 496 items' pubDate
    stamp = f"{WEEKDAYS[day.weekday()]}, {day.day:02d} {MONTHS[day.month - 1]} {day.year}"
    return text.replace(ANCHOR_DAY, stamp).encode("utf-8")


def digest_done(database: Path, platform: str, chat_id: int, day: dt.date) -> bool:
    """Whether the bot's database says this chat's digest of `day` is complete."""
    try:
        with sqlite3.connect(database, timeout=0.2) as db:
            row = db.execute(
                "SELECT done_up_to FROM channels WHERE platform = ? AND chat_id = ?",
                (platform, str(chat_id)),
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet, or busy this instant
        return False
    return row is not None and row[0] == day.isoformat()


def linked_ids(text: str) -> list[str]:
    """arXiv ids of the papers a message links to (their abstract pages), in order, repeats kept."""
    return ABS_LINK.findall(text)


def stored_view_and_ledger(
    database: Path, platform: str, chat_id: int, day: dt.date
) -> tuple[set[str], set[str]]:
    """The papers of the chat's stored daily view of `day`, and those its ledger says were sent."""
    with sqlite3.connect(database) as db:
        (entries,) = db.execute(
            "SELECT entries FROM digest_views WHERE platform = ? AND chat_id = ? AND kind = 'daily'"
            " AND announcement_date = ?",
            (platform, str(chat_id), day.isoformat()),
        ).fetchone()
        sent = db.execute(
            "SELECT d.arxiv_id FROM deliveries AS d JOIN channels AS c ON c.id = d.channel_id"
            " WHERE c.platform = ? AND c.chat_id = ? AND d.status = 'sent'",
            (platform, str(chat_id)),
        ).fetchall()
    return {entry[0] for entry in json.loads(entries)}, {row[0] for row in sent}


async def collect(stream: asyncio.StreamReader | None, into: bytearray) -> None:
    """Read a child's pipe to its end (so a chatty DEBUG log never blocks the child on a full pipe)."""
    assert stream is not None
    while chunk := await stream.read(65536):
        into.extend(chunk)


@pytest.mark.slow
@pytest.mark.xdist_group("heavy")  # timing-sensitive child processes: one at a time
async def test_one_process_serves_telegram_and_discord_from_one_feed_check_per_poll(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    """Both tokens: a Telegram chat and a Discord channel each get the 34 papers once; one fetch a check."""
    # The feed's date must still be today's when the bot fetches it; a run that would straddle
    # midnight US Eastern (when rss.arxiv.org changes) waits for the new day instead.
    started = dt.datetime.now(EASTERN)
    if started.replace(hour=23, minute=58, second=30, microsecond=0) <= started:
        await until(lambda: dt.datetime.now(EASTERN).date() > started.date(), timeout=120, what="midnight")
    today = dt.datetime.now(EASTERN).date()
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)  # nothing announced until both have subscribed
    telegram = FakeTelegramServer()
    discord = FakeDiscord()
    await telegram.start()
    await discord.start()
    discord.add_guild(GUILD, [(CHANNEL, "papers")])
    database = tmp_path / "digest.db"
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "DISCORD_BOT_TOKEN": discord.token,
        "DISCORD_API_URL": discord.api_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DISCORD_GUILD_ID": str(GUILD),
        "DATABASE_URL": f"sqlite:///{database}",
        "ARXIV_RSS_URL": arxiv_server.rss_url,
        "ARXIV_API_URL": arxiv_server.api_url,
        "ARXIV_POLL_INTERVAL": str(POLL_INTERVAL),
        "ARXIV_REQUEST_INTERVAL": "3",
        "ARXIV_MAX_RETRIES": "0",
        "RECOVERY_DAYS": "0",
        "DEFAULT_CATEGORIES": "cs.AI,cs.CL,cs.CV,cs.LG",
        "LOG_LEVEL": "DEBUG",
    }
    out, err = bytearray(), bytearray()
    process = await start_arxiv_digest("run", cwd=tmp_path, env=env)
    readers = [
        asyncio.create_task(collect(process.stdout, out)),
        asyncio.create_task(collect(process.stderr, err)),
    ]
    try:

        def alive() -> bool:
            assert process.returncode is None, f"the bot exited early: {err.decode()[-3000:]}"
            return True

        await until(
            lambda: alive() and bool(telegram.calls_to("getUpdates")) and GUILD in discord.synced_commands,
            timeout=30,
            what="the Telegram long poll and the Discord command sync",
        )
        await discord.wait_ready(timeout=30)
        await until(lambda: bool(arxiv_server.of_kind("rss")), timeout=30, what="the first feed check")

        telegram.push_message(TELEGRAM_CHAT, f"/subscribe {MLLM_KEYWORDS}")
        interaction = await discord.send_interaction(
            "subscribe",
            [{"type": 3, "name": "keywords", "value": MLLM_KEYWORDS}],
            guild_id=GUILD,
            channel_id=CHANNEL,
            permissions=MANAGE_CHANNELS,
        )
        (callback, *_) = await discord.wait_for_responses(interaction.id, timeout=15)
        await telegram.wait_for_call("sendMessage", chat_id=TELEGRAM_CHAT, ok=True, timeout=15)

        switched = time.monotonic()
        arxiv_server.default_rss = Reply(body=anchor_feed_dated(today))
        await until(
            lambda: (
                alive()
                and digest_done(database, "telegram", TELEGRAM_CHAT, today)
                and digest_done(database, "discord", CHANNEL, today)
            ),
            timeout=45,
            what="both digests of today's announcement",
        )

        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(process.wait(), timeout=30)
        stopped_after = time.monotonic() - signalled
        await asyncio.wait_for(asyncio.gather(*readers), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await telegram.close()
        await discord.close()
    log = err.decode() + out.decode()
    expected = mllm_ids()

    # The process: a clean stop on SIGTERM, and no token anywhere in its (DEBUG) output.
    assert process.returncode == 0, log[-3000:]
    assert stopped_after < 10, f"SIGTERM took {stopped_after:.1f} s"
    assert "Traceback" not in log
    assert " DEBUG telegram." in log
    assert " DEBUG discord." in log  # both libraries' requests were logged, so the next check means something
    for token in (telegram.token, telegram.token.split(":")[1], discord.token, discord.token.split(".")[-1]):
        assert token not in log

    # Each platform: one paged message carrying the whole digest ("34 of …"), the first page's papers on
    # it, no file (it comes on request), and every paper in the chat's stored view and ledger.
    assert "Subscribed" in replies(telegram, TELEGRAM_CHAT)[0]
    (page,) = [
        call
        for call in telegram.calls_to("sendMessage", chat_id=TELEGRAM_CHAT, ok=True)
        if linked_ids(call.params["text"])
    ]
    assert f"{len(expected)} of " in page.params["text"]
    assert not page.params.get("disable_notification")  # the one message that notifies
    shown = linked_ids(page.params["text"])
    assert len(shown) == len(set(shown))
    assert set(shown) <= expected
    assert telegram.sent_documents(TELEGRAM_CHAT) == []
    assert {call.chat_id for call in telegram.calls if call.method.startswith("send")} == {str(TELEGRAM_CHAT)}

    assert callback["kind"] == "callback"
    assert not callback["ephemeral"]
    assert "Subscribed" in str((callback.get("data") or {}).get("content"))
    (message,) = discord.channel_messages(CHANNEL)
    body = message["body"] or {}
    assert f"{len(expected)} of " in str(body.get("content"))
    shown = linked_ids(str(body.get("embeds")))
    assert shown
    assert set(shown) <= expected
    assert message["files"] == []
    posted = {request.path for request in discord.requests_to("POST", r"^/channels/\d+/messages$")}
    assert posted == {f"/channels/{CHANNEL}/messages"}
    assert discord.validation_errors == []
    for platform, chat in (("telegram", TELEGRAM_CHAT), ("discord", CHANNEL)):
        assert stored_view_and_ledger(database, platform, chat, today) == (expected, expected)

    # arXiv: one fetch per feed check for both platforms, and the announcement fetched exactly once.
    rss = arxiv_server.of_kind("rss")
    assert {request.path for request in rss} == {FEED_PATH}
    assert arxiv_server.of_kind("api") == []
    assert len(rss) >= 2  # the empty feed before the subscriptions, then the announcement
    # The bot waits ARXIV_POLL_INTERVAL after a check ends; a second fetch in the same check would come
    # only ARXIV_REQUEST_INTERVAL (3 s) after the first one was answered.
    pauses = [later.started - earlier.finished for earlier, later in pairwise(rss)]
    assert min(pauses) >= POLL_INTERVAL - 0.25, f"two feed fetches in one check: {pauses}"
    assert len([request for request in rss if request.started >= switched]) == 1
