"""The whole bot with Discord: `bot.main.app.serve` against the fake Discord and the fake arXiv on 127.0.0.1.

Real discord.py, real SQLite, real HTTP and websocket; an injected clock decides when a channel's
digest is due. What the bot sent is read back from the fake's records (every body validated against
Discord's OpenAPI spec) and from the store's delivery ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.discord.settings import DiscordSettings
from bot.main.app import serve
from bot.models import Channel, Topic
from bot.settings import Settings
from storage.sqlite_store import SqliteStore
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.discord_faults import Fault
from tests.fakes.discord_model import MANAGE_CHANNELS, PostedMessage
from tests.fakes.discord_openapi import embeds_total_length
from tests.fakes.discord_server import FakeDiscord
from tests.test_cli import arxiv_digest
from tests.test_telegram_e2e import (
    ANCHOR_FEED,
    ANNOUNCED,
    EMPTY_FEED,
    MLLM_KEYWORDS,
    Clock,
    anchor_feed_of_the_next_day,
    mllm_ids,
    until,
)

# The bot and the test share the test's database: an SQLite file, and a PostgreSQL schema when
# TEST_DATABASE_URL names a server.
pytestmark = pytest.mark.both_engines

UTC = dt.UTC
PAGE_LINK = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})")
HOSTILE = "2511.08195"  # UI2Code$^\text{N}$: dollar, caret, backslash and braces in one title
MEMBER = 1100000000000000888  # members without Manage Channels
OTHER_MEMBER = 1100000000000000999
GUILD = 910000000000000001
PAPERS = 910000000000000011
ROBOTS = 910000000000000012


@pytest.fixture
async def discord_server() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with one guild of two text channels."""
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild(GUILD, [(PAPERS, "papers"), (ROBOTS, "robots")])
    try:
        yield fake
    finally:
        await fake.close()
    assert fake.validation_errors == []


@pytest.fixture
def settings(database_url: str, discord_server: FakeDiscord, arxiv_server: FakeArxiv) -> Settings:
    """The core's settings aimed at the fake arXiv; RunningBot aims Discord's (only) at the fake Discord."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        arxiv_rss_url=arxiv_server.rss_url,
        arxiv_api_url=arxiv_server.api_url,
        arxiv_poll_interval=3,
        arxiv_timeout=10,
        arxiv_max_retries=0,
        recovery_days=0,
    )


class RunningBot:
    """`serve()` in a task until the fake Discord has a ready gateway; stopped (promptly) on exit."""

    def __init__(self, settings: Settings, fake: FakeDiscord, clock: Clock, *, paced: bool = False) -> None:
        """`paced`: the adapter keeps its real pacing of sends (else none, for speed)."""
        self.settings = settings
        self.options: dict[str, Any] = {"guild_ready_timeout": 0.05}
        if not paced:
            self.options["messages_per_second"] = 0
        self.fake = fake
        self.clock = clock
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningBot:
        """Start serving."""
        self.task = asyncio.create_task(
            serve(
                self.settings,
                self.stop,
                platform_settings={
                    "discord": DiscordSettings(
                        _env_file=None,
                        discord_bot_token=self.fake.token,
                        discord_api_url=self.fake.api_url,
                        discord_gateway_url=self.fake.gateway_url,
                        discord_guild_id=GUILD,
                    )
                },
                clock=self.clock,
                delivery_tick=0.05,
                adapter_options={"discord": self.options},
            )
        )
        await self.fake.wait_ready(timeout=10)
        assert not self.task.done()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop and wait for serve() to return."""
        self.stop.set()
        assert self.task is not None
        async with asyncio.timeout(15):
            await self.task


async def command(fake: FakeDiscord, name: str, options: list[dict[str, Any]], **kw: Any) -> str:
    """An admin's slash command in #papers; the text of its first answer."""
    kw.setdefault("guild_id", GUILD)
    kw.setdefault("channel_id", PAPERS)
    kw.setdefault("permissions", MANAGE_CHANNELS)
    sent = await fake.send_interaction(name, options, **kw)
    (first, *_) = await fake.wait_for_responses(sent.id, timeout=10)
    return str((first.get("data") or {}).get("content") or "")


def option(name: str, value: Any, kind: int = 3) -> dict[str, Any]:
    """One option as Discord sends it."""
    return {"type": kind, "name": name, "value": value}


def paper_ids(message: dict[str, Any]) -> list[str]:
    """The papers a message shows, in order (from the abstract links of its embeds)."""
    text = "\n".join(
        f"{embed.get('url', '')}\n{embed.get('description', '')}" for embed in message.get("embeds") or ()
    )
    return list(dict.fromkeys(PAGE_LINK.findall(text)))


def delivered(fake: FakeDiscord, channel_id: int) -> list[PostedMessage]:
    """The messages deliveries posted into a channel (not the answers to commands)."""
    return [posted for posted in fake.posted(channel_id) if posted.source == "channel"]


def unescaped(text: str) -> str:
    """Discord markdown's escapes undone (a backslash before punctuation shows that character)."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text)


def button(message: dict[str, Any], label: str) -> str:
    """The custom_id of the message's button with this label."""
    for row in message.get("components") or ():
        for item in row.get("components") or ():
            if item.get("label") == label:
                return str(item["custom_id"])
    raise AssertionError(f"no button {label!r} in {message.get('components')}")


async def turn(fake: FakeDiscord, message_id: int, label: str, user_id: int = MEMBER) -> float:
    """A member presses a button of the message; seconds until Discord got the answer."""
    posted = fake.posted_message(message_id)
    sent = await fake.press_button(message_id, button(posted.message, label), user_id=user_id)
    await fake.wait_for_responses(sent.id, timeout=10)
    delay = fake.answer_delay(sent.id)
    assert delay is not None
    return delay


async def subscribed_at_eight(
    discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """An admin subscribes #papers to the MLLM keywords at 08:00 Berlin (defaults otherwise)."""
    await until(lambda: len(arxiv_server.of_kind("rss")) >= 1, what="the first feed check")
    assert "Subscribed" in await command(discord_server, "subscribe", [option("keywords", MLLM_KEYWORDS)])
    assert "08:00 Europe/Berlin" in await command(
        discord_server, "time", [option("time", "08:00"), option("timezone", "Europe/Berlin")]
    )
    arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)
    await until(lambda: store.latest_announcement(), timeout=15, what="the anchor announcement")


async def digest_done(store: SqliteStore) -> bool:
    """Whether #papers has the anchor day's digest."""
    channel = await store.get_channel("discord", str(PAPERS))
    return channel is not None and channel.done_up_to == ANNOUNCED


@pytest.mark.slow
async def test_the_anchor_digest_is_one_quiet_paged_message_whose_pages_turn_after_a_restart(
    settings: Settings,
    discord_server: FakeDiscord,
    arxiv_server: FakeArxiv,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12's Discord acceptance on the anchor day, MLLM keywords, default settings.

    At 08:00 Berlin #papers gets at most 2 messages for the digest and only 1 notifies. A member
    pressing ▶ again and again sees all 34 papers, each on exactly one page (UI2Code$^\\text{N}$
    shown literally), every press answered within 1 s, the message never multiplied. After a restart
    (a new process on the same database) a press on yesterday's message still turns its page. A
    member's /digest is seen by nobody else; #robots gets nothing.
    """
    caplog.set_level(logging.DEBUG)
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))  # 07:00 in Berlin
    async with RunningBot(settings, discord_server, clock):
        await subscribed_at_eight(discord_server, arxiv_server, store)
        await asyncio.sleep(0.3)  # several delivery rounds: nothing is due before 08:00
        assert delivered(discord_server, PAPERS) == []
        clock.now = dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
        await until(lambda: digest_done(store), timeout=15, what="the digest of 2025-11-12")

        shown = delivered(discord_server, PAPERS)
        assert len(shown) <= 2
        assert len([p for p in shown if p.notifies]) == 1
        page = shown[0]
        content = page.message["content"]
        assert "34 of" in content
        assert "papers 1–10 of 34" in content
        pages = [paper_ids(page.message)]
        delays = []
        while True:
            delays.append(await turn(discord_server, page.id, "▶"))
            ids = paper_ids(page.message)
            if ids == pages[0]:
                break  # wrapped around to the first page
            pages.append(ids)
            assert len(pages) <= 34
            body = page.message
            assert len(body.get("content") or "") <= 2000
            assert embeds_total_length(body.get("embeds") or []) <= 6000
        everything = [paper for ids in pages for paper in ids]
        assert Counter(everything) == Counter(mllm_ids())
        assert max(delays) < 1.0
        assert delivered(discord_server, PAPERS) == shown  # page turns send nothing new

        # the hostile title, as written: back on the page that holds it
        holder = next(n for n, ids in enumerate(pages) if HOSTILE in ids)
        for _ in range(holder):
            await turn(discord_server, page.id, "▶")
        description = page.message["embeds"][0]["description"]
        assert "UI2Code$^\\text{N}$" in unescaped(description)

        # a member's /digest: one paged message that only they see
        before = discord_server.seen_by(PAPERS, OTHER_MEMBER)
        asked = await discord_server.send_interaction(
            "digest", [], guild_id=GUILD, channel_id=PAPERS, permissions=0, user_id=MEMBER
        )
        await discord_server.wait_for_responses(asked.id, count=2, timeout=10)
        mine = [p for p in discord_server.seen_by(PAPERS, MEMBER) if p.interaction_id == asked.id]
        assert [p.audience for p in mine] == [MEMBER]
        assert len(paper_ids(mine[0].message)) == 10
        assert discord_server.seen_by(PAPERS, OTHER_MEMBER) == before
        await turn(discord_server, mine[0].id, "▶")  # its pages turn too, for the asker
        assert "papers 11–20 of 34" in mine[0].message["content"]

    for message in discord_server.channel_messages(PAPERS):
        assert message["body"]["allowed_mentions"] == {"parse": []}
    assert discord_server.posted(ROBOTS) == []
    channel = await store.get_channel("discord", str(PAPERS))
    assert channel is not None
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == mllm_ids()

    # the next day, a new process on the same database: yesterday's message still turns its pages
    clock.now = dt.datetime(2025, 11, 13, 9, 0, tzinfo=UTC)
    async with RunningBot(settings, discord_server, clock):
        first = paper_ids(page.message)
        delay = await turn(discord_server, page.id, "▶")
        assert paper_ids(page.message) != first
        assert delay < 1.0
    assert discord_server.failed_interactions() == []
    assert discord_server.token not in caplog.text


@pytest.mark.slow  # waits out a real 5-per-5-s channel bucket (about 8 s)
async def test_status_during_a_delivery_is_answered_within_2_seconds(
    settings: Settings, discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """An admin's /status while #papers' 34-paper digest is on its way is answered within 2 s.

    At Discord's real limits: 5 messages per 5 s in a channel (advertised, as Discord does) and the
    adapter's own pacing; the channel's bucket is spent just before the digest is due, so the digest's
    message waits for it, and /status (an interaction answer, another route) is answered meanwhile.
    """
    discord_server.enforce_rate_limits(per_channel=5, per_seconds=5.0)
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))
    async with RunningBot(settings, discord_server, clock, paced=True):
        await subscribed_at_eight(discord_server, arxiv_server, store)
        await spend_the_bucket(discord_server)
        clock.now = dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC)
        await until(
            lambda: bool(discord_server.requests_to("POST", rf"^/channels/{PAPERS}/messages$")[5:]),
            timeout=10,
            what="the digest's message under way",
        )
        asked = time.monotonic()
        status = await command(discord_server, "status", [])
        answered = time.monotonic() - asked
        assert "Last announcement" in status
        assert not await digest_done(store)  # the digest was still being delivered
        await until(lambda: digest_done(store), timeout=20, what="the digest after the wait")
    assert answered < 2.0
    assert len([p for p in discord_server.posted(PAPERS) if paper_ids(p.message)]) == 1


async def spend_the_bucket(fake: FakeDiscord) -> None:
    """Post 5 messages into #papers as the bot (another process of it, say): its bucket is empty."""
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            url = f"{fake.api_url}/channels/{PAPERS}/messages"
            async with session.post(url, json={"content": f"earlier {n}"}, headers=headers) as response:
                assert response.status == 200


@pytest.mark.slow
async def test_faults_deliver_every_paper_exactly_once(
    settings: Settings, discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """429 (with rate-limit headers), 500 and a dropped gateway: one page sent, every paper in the ledger."""
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))
    async with RunningBot(settings, discord_server, clock):
        await until(lambda: len(arxiv_server.of_kind("rss")) >= 1, what="the first feed check")
        await command(discord_server, "subscribe", [option("keywords", MLLM_KEYWORDS)])
        path = rf"/channels/{PAPERS}/messages"
        discord_server.fail_next("POST", path, Fault.rate_limited(0.2))
        discord_server.fail_next("POST", path, Fault.server_error(500))
        discord_server.fail_next("POST", path, Fault.rate_limited(0.1))
        await discord_server.drop_gateway()
        arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)

        async def done() -> bool:
            channel = await store.get_channel("discord", str(PAPERS))
            return channel is not None and channel.done_up_to == ANNOUNCED

        await until(done, timeout=30, what="the digest despite the faults")
        await discord_server.wait_ready(timeout=10)
        assert "Last digest" in await command(discord_server, "status", [])

    pages = [p for p in discord_server.posted(PAPERS) if paper_ids(p.message)]
    assert len(pages) == 1  # the digest's one paged message, sent once despite the faults
    failed = [
        r for r in discord_server.requests_to("POST", rf"/channels/{PAPERS}/messages") if r.status >= 400
    ]
    assert len(failed) == 3
    channel = await store.get_channel("discord", str(PAPERS))
    assert channel is not None
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == mllm_ids()


async def test_a_rejected_discord_token_is_one_line_and_exit_2(
    tmp_path: Path, discord_server: FakeDiscord, arxiv_server: FakeArxiv
) -> None:
    """`run` with a Discord token the server rejects exits 2 with one line naming DISCORD_BOT_TOKEN."""
    env = {
        "DISCORD_BOT_TOKEN": "MTE.wrong.token-that-must-not-be-printed",
        "DISCORD_API_URL": discord_server.api_url,
        "DISCORD_GATEWAY_URL": discord_server.gateway_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "ARXIV_RSS_URL": arxiv_server.rss_url,
        "ARXIV_API_URL": arxiv_server.api_url,
        "RECOVERY_DAYS": "0",
    }
    run = await arxiv_digest("run", cwd=tmp_path, env=env)
    assert run.status == 2
    line = run.err.strip().splitlines()[-1]  # after the start-up log lines
    assert line.startswith("arxiv-digest: Discord rejected DISCORD_BOT_TOKEN")
    assert "Traceback" not in run.err
    assert "not installed" not in run.err  # no voice warnings: the bot has no voice
    assert "token-that-must-not-be-printed" not in run.err + run.out


# -- 👍/👎/🔖 on every paper -------------------------------------------------------------------------------

THIRD_MEMBER = 1100000000000000777
LIKE, DISLIKE, SAVE = "👍 Like a paper…", "👎 Dislike a paper…", "🔖 Save a paper for me…"


def menu(message: dict[str, Any], placeholder: str) -> dict[str, Any]:
    """The message's select menu with this placeholder."""
    for row in message.get("components") or ():
        for item in row.get("components") or ():
            if item.get("placeholder") == placeholder:
                return dict(item)
    raise AssertionError(f"no menu {placeholder!r} in {message.get('components')}")


async def choose(fake: FakeDiscord, message_id: int, placeholder: str, paper: int, user_id: int) -> str:
    """A member picks paper number `paper` (1-based, as the page numbers it) in a menu; their private answer.

    The pick is answered by updating the message within 1 s, then the answer follows ephemerally.
    """
    posted = fake.posted_message(message_id)
    found = menu(posted.message, placeholder)
    option = next(o for o in found["options"] if str(o["label"]).startswith(f"{paper}. "))
    sent = await fake.choose_option(message_id, found["custom_id"], option["value"], user_id=user_id)
    update, answer = await fake.wait_for_responses(sent.id, count=2, timeout=10)
    assert update["type"] == 7  # UPDATE_MESSAGE
    delay = fake.answer_delay(sent.id)
    assert delay is not None
    assert delay < 1.0
    assert (answer["kind"], answer["ephemeral"]) == ("followup", True)
    return str(answer["data"]["content"])


def paper_line(message: dict[str, Any], paper: int) -> str:
    """The compact page's meta line (authors · category · type · tally) of paper number `paper`."""
    description = str(message["embeds"][0]["description"])
    lines = description.split("\n")
    title = next(n for n, line in enumerate(lines) if line.startswith(f"**{paper}. ["))
    return lines[title + 1]


async def subscribed(store: SqliteStore, channel_id: int) -> None:
    """Seed an active channel with the MLLM keywords straight into the store (as /subscribe would)."""
    keywords = tuple(MLLM_KEYWORDS.split(", "))
    await store.save_channel(
        Channel(platform="discord", chat_id=str(channel_id), active=True, topics=(Topic("Papers", keywords),))
    )


async def test_members_votes_count_once_each_show_on_the_page_and_survive_a_restart(
    settings: Settings, discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """In a channel each member has one vote a paper, through the 👍/👎 menus: the same pick twice undoes
    it, 👎 replaces 👍, another member's adds; the counts show on the paper's line and in the menus; 🔖
    saves for the picker alone; another channel's menu data changes nothing; after a restart the count
    is still shown and a pick on the old message counts."""
    arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)
    await subscribed(store, PAPERS)
    await subscribed(store, ROBOTS)
    clock = Clock(dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC))
    async with RunningBot(settings, discord_server, clock):
        await until(
            lambda: bool(delivered(discord_server, PAPERS) and delivered(discord_server, ROBOTS)),
            timeout=15,
            what="both digests",
        )
        page = delivered(discord_server, PAPERS)[0]
        rows = page.message["components"]
        assert [len(row["components"]) for row in rows] == [5, 1, 1, 1]
        assert [row["components"][0].get("placeholder") for row in rows[1:]] == [LIKE, DISLIKE, SAVE]
        assert len(menu(page.message, LIKE)["options"]) == 10
        first, second = paper_ids(page.message)[:2]
        assert "👍" not in paper_line(page.message, 1)

        answer = await choose(discord_server, page.id, LIKE, 1, MEMBER)
        assert answer.startswith(f"👍 on {first} noted")
        assert paper_line(page.message, 1).endswith(" · 👍 1")
        assert "undone" in await choose(discord_server, page.id, LIKE, 1, MEMBER)  # again: undone
        assert "👍" not in paper_line(page.message, 1)
        await choose(discord_server, page.id, LIKE, 1, MEMBER)
        await choose(discord_server, page.id, DISLIKE, 1, MEMBER)  # replaces the 👍
        assert paper_line(page.message, 1).endswith(" · 👎 1")
        await choose(discord_server, page.id, LIKE, 1, OTHER_MEMBER)  # another member's adds
        assert paper_line(page.message, 1).endswith(" · 👍 1 · 👎 1")
        option = menu(page.message, LIKE)["options"][0]
        assert option["description"] == f"arXiv:{first} · 👍 1 · 👎 1"
        tallies = await store.vote_tallies("discord", str(PAPERS), [first])
        assert (tallies[first].up, tallies[first].down) == (1, 1)

        answer = await choose(discord_server, page.id, SAVE, 2, MEMBER)
        assert answer.startswith(f"🔖 Saved {second} for you")
        assert [mark.paper.arxiv_id for mark in await store.bookmarks("discord", str(MEMBER))] == [second]
        assert await store.bookmarks("discord", str(OTHER_MEMBER)) == []

        # #robots' like menu picked on #papers' message: refused privately, nothing counted anywhere
        elsewhere = delivered(discord_server, ROBOTS)[0]
        foreign = menu(elsewhere.message, LIKE)["custom_id"]
        forged = await discord_server.push_component(page.id, foreign, ["0"], user_id=THIRD_MEMBER)
        (refusal,) = await discord_server.wait_for_responses(forged.id, timeout=10)
        assert refusal["ephemeral"]
        assert refusal["data"]["content"] == "This digest is no longer kept."
        assert await store.vote_tallies("discord", str(ROBOTS), [first]) == {}
        tallies = await store.vote_tallies("discord", str(PAPERS), [first])
        assert (tallies[first].up, tallies[first].down) == (1, 1)

    clock.now = dt.datetime(2025, 11, 13, 9, 0, tzinfo=UTC)  # the next day, a new process, the same database
    async with RunningBot(settings, discord_server, clock):
        await choose(discord_server, page.id, LIKE, 1, THIRD_MEMBER)
        assert paper_line(page.message, 1).endswith(" · 👍 2 · 👎 1")
    assert discord_server.failed_interactions() == []


async def test_a_channels_votes_change_the_next_days_order_and_nothing_is_dropped(
    settings: Settings, discord_server: FakeDiscord, arxiv_server: FakeArxiv, store: SqliteStore
) -> None:
    """Members like papers 8–10 and dislike 1–3 through the menus; the next day's digest (a new process)
    opens with those liked papers' counterparts and holds every one of its papers; a member's /why on
    the first paper names the words and the votes behind it."""
    arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)
    await subscribed(store, PAPERS)
    clock = Clock(dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC))
    async with RunningBot(settings, discord_server, clock):
        await until(lambda: bool(delivered(discord_server, PAPERS)), timeout=15, what="the first digest")
        page = delivered(discord_server, PAPERS)[0]
        for number in (8, 9, 10):
            await choose(discord_server, page.id, LIKE, number, MEMBER)
            await choose(discord_server, page.id, LIKE, number, OTHER_MEMBER)
        for number in (1, 2, 3):
            await choose(discord_server, page.id, DISLIKE, number, MEMBER)
    first_view = await store.daily_view("discord", str(PAPERS), dt.date(2025, 11, 12))
    assert first_view is not None
    day_one = list(first_view.paper_ids)

    arxiv_server.default_rss = Reply(body=anchor_feed_of_the_next_day())
    clock.now = dt.datetime(2025, 11, 13, 7, 0, tzinfo=UTC)
    async with RunningBot(settings, discord_server, clock):
        await until(lambda: len(delivered(discord_server, PAPERS)) == 2, timeout=15, what="the next digest")
        top = paper_ids(delivered(discord_server, PAPERS)[1].message)[0]
        why = await command(discord_server, "why", [option("paper", top)], permissions=0, user_id=MEMBER)
    assert f"({top}): score 0." in why
    assert "Raised by: " in why
    assert "Votes that weigh most: 👍" in why
    second = delivered(discord_server, PAPERS)[1]
    counterpart = {paper.replace("2511.", "2512."): paper for paper in day_one}
    shown = [counterpart[paper] for paper in paper_ids(second.message)]
    assert set(shown[:3]) == set(day_one[7:10]), shown
    assert not set(day_one[0:3]) & set(shown[:7])
    view = await store.daily_view("discord", str(PAPERS), dt.date(2025, 11, 13))
    assert view is not None
    # Every new paper again under its new id (the replacements kept their ids: already delivered).
    assert sorted(view.paper_ids) == sorted(
        p.replace("2511.", "2512.") for p in day_one if p.startswith("2511.")
    )
