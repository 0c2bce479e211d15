"""Every error class of Telegram and Discord sprinkled over a 100-chat fan-out: nothing lost, nothing twice.

A chat's digest is one paged message (its first page, carrying every paper of the digest in the
ledger) and, for the half of the chats that asked for it (`send_file`), the silent Markdown file after
it: one or two send requests a chat. Each test seeds 100 chats (channels) due the same digest and
scripts faults by a seeded RNG: each chat's n-th send request (page or file) gets a chosen fault, so
every fault fires exactly once, at a known point of a known chat, on the page or on the file. A gone
chat answers its fault from some request on, for good (at the file: its page is out); a moved Telegram
group answers `migrate_to_chat_id` once, and its new id takes the rest of the digest.

What must come out, read from the fakes' records, the delivery ledger and the stored daily views:
- nothing lost: every chat that is not gone got its page (the stored view's first papers, every
  button naming that view) and the file if asked (every paper in it); its ledger has every matching
  paper `sent`, none `pending`; a gone chat's ledger holds exactly what it got (all, if its page
  went out; nothing, if not);
- nothing twice: no second page accepted for a chat, no second file;
- a gone chat is turned off and logged once, and never tried again: its last request is the one
  that failed, and later delivery rounds send nothing;
- a moved chat keeps its settings, ledger and view under the new id, gets the rest of its digest
  there, and its page turns there (▶ edits it to page 2);
- no busy loop: each chat receives exactly one request per message plus one per fault injected into
  it (every retry the policy makes is for a fault; a gone chat gets one failing request).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.digests import build_digests
from bot.feeds import parse_feed_file
from bot.models import Announcement, Channel, DigestView, Topic
from bot.settings import Settings
from bot.views import FeedbackPress, FilePress, PagePress, decode_menu_choice, decode_press
from storage.sqlite_store import SqliteStore
from tests.adapters.test_discord_adapter import start_bot
from tests.fakes.arxiv_server import FIXTURES, FakeArxiv, Reply
from tests.fakes.common import UploadedFile
from tests.fakes.discord_faults import Fault as DiscordFault
from tests.fakes.discord_model import DEFAULT_BOT_PERMISSIONS, SEND_MESSAGES, RecordedRequest
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_model import Fault as TelegramFault
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_telegram_e2e import ANCHOR_FEED, ANNOUNCED, MLLM_KEYWORDS, Clock, RunningBot, ids_in, until

UTC = dt.UTC
CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
BOT_NAME = "arxiv_digest_test_bot"
ARXIV_ABS = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})")
ANCHOR_KEYWORD = "MLLM"  # 11 papers of the anchor day: six Telegram messages a chat


def anchor_matches(keywords: tuple[str, ...], categories: tuple[str, ...]) -> tuple[Announcement, set[str]]:
    """The anchor day's announcement and the ids of its papers these keywords match in these categories."""
    announcement = parse_feed_file(FIXTURES / ANCHOR_FEED, CATEGORIES)
    assert isinstance(announcement, Announcement)
    probe = Channel("probe", "0", id=0, active=True, topics=(Topic("P", keywords),))
    (digest,) = build_digests(announcement, [probe], categories)
    return announcement, {paper.arxiv_id for paper in digest.papers}


def ledger(database: Path) -> dict[int, Counter[str]]:
    """Per stored channel id: how many ledger rows are `sent` and how many `pending`."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT channel_id, status, COUNT(*) FROM deliveries GROUP BY 1, 2").fetchall()
    counts: dict[int, Counter[str]] = {}
    for channel_id, status, count in rows:
        counts.setdefault(int(channel_id), Counter())[str(status)] = int(count)
    return counts


def gone_logs(caplog: pytest.LogCaptureFixture, platform: str, chat: int | str) -> int:
    """How many times bot.channels logged this chat as gone."""
    needle = f"{platform} chat {chat} is gone"
    return sum(record.name == "bot.channels" and needle in record.getMessage() for record in caplog.records)


# -- Telegram ------------------------------------------------------------------------------------------------

TIMEOUT = TelegramFault(0, "never answered: the client's read timeout (5 s) runs out")  # a marker
SENDS = ("sendMessage", "sendDocument")  # a digest's requests: the page, then the file if asked


class ScriptedTelegram(FakeTelegramServer):
    """The fake Bot API answering each chat's n-th send (sendMessage or sendDocument) with a fault."""

    def __init__(self, **kwargs: Any) -> None:
        """No faults until the test scripts them."""
        super().__init__(**kwargs)
        self.script: dict[str, dict[int, TelegramFault]] = {}  # chat -> request number -> fault
        self.gone_from: dict[str, tuple[int, TelegramFault]] = {}  # chat -> from request number on
        self.numbers: Counter[str] = Counter()  # sends per chat so far
        self._hang_next = False

    def _take_fault(self, method: str, chat_id: str | None) -> TelegramFault | None:
        """The scripted fault of this chat's request, if any (TIMEOUT: answer never)."""
        if method not in SENDS or chat_id is None:
            return super()._take_fault(method, chat_id)
        number = self.numbers[chat_id]
        self.numbers[chat_id] += 1
        gone = self.gone_from.get(chat_id)
        if gone is not None and number >= gone[0]:
            return gone[1]
        fault = self.script.get(chat_id, {}).get(number)
        if fault is TIMEOUT:
            self._hang_next = True  # the handler, called next without an await in between, hangs
            return None
        return fault

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], dict[str, UploadedFile]], Any]]:
        """The usual handlers; a send can hang until the client gives up (a timeout)."""
        handlers = super()._handlers()
        for name in ("sendmessage", "senddocument"):
            handlers[name] = self._or_hang(handlers[name])
        return handlers

    def _or_hang(
        self, send: Callable[[dict[str, Any], dict[str, UploadedFile]], Any]
    ) -> Callable[[dict[str, Any], dict[str, UploadedFile]], Any]:
        """`send`, unless a timeout was scripted for this request: then no answer at all."""

        async def send_or_hang(params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
            if self._hang_next:
                self._hang_next = False
                await asyncio.sleep(3600)  # cancelled once the client hangs up
            return await send(params, files)

        return send_or_hang

    def sends(self, chat: int | str, *, ok: bool | None = None) -> list[RecordedCall]:
        """The chat's sendMessage and sendDocument calls, in the order they came."""
        return [
            call
            for call in self.calls
            if call.method in SENDS and call.chat_id == str(chat) and (ok is None or call.ok == ok)
        ]


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ScriptedTelegram]:
    """The scripted fake Bot API on 127.0.0.1."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server = ScriptedTelegram(bot_username=BOT_NAME)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def settings(db_path: Path, telegram: ScriptedTelegram, arxiv_server: FakeArxiv) -> Settings:
    """The core's settings aimed at the fake arXiv (no .env); RunningBot aims Telegram's at the fake."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{db_path}",
        arxiv_rss_url=arxiv_server.rss_url,
        arxiv_api_url=arxiv_server.api_url,
        default_categories=CATEGORIES,
        arxiv_poll_interval=3,
        arxiv_request_interval=3,
        arxiv_timeout=10,
        arxiv_max_retries=0,
        recovery_days=0,
        admin_user_ids=(),
    )


@dataclass
class TelegramPlan:
    """What was scripted for one Telegram chat."""

    chat: int
    kind: str  # healthy, moved, blocked, kicked, not found
    send_file: bool = False  # the page and then the file: two requests, either may fail
    at: int = 0  # moved / gone: the request number the fault comes at (1: the file's)
    new_chat: int | None = None
    faults: list[str] = field(default_factory=list)  # transient faults injected, by name
    slots: list[int] = field(default_factory=list)  # the request numbers the faults take

    @property
    def messages(self) -> int:
        """Messages the chat's digest takes: the page, and the file if asked."""
        return 1 + self.send_file

    def on_file(self) -> int:
        """How many of the scripted faults hit the file's request rather than the page's."""
        return sum(slot - below >= 1 for below, slot in enumerate(sorted(self.slots)))


TELEGRAM_TRANSIENT: dict[str, Callable[[], TelegramFault]] = {
    "429 retry_after": lambda: TelegramFault.retry_after(1),
    "500": lambda: TelegramFault.server_error(500),
    "502 html": TelegramFault.bad_gateway,
    "dropped connection": TelegramFault.dropped,
    "timeout": lambda: TIMEOUT,
    "can't parse entities": TelegramFault.cant_parse,
}
TELEGRAM_TRANSIENT_COUNTS = {
    "429 retry_after": 15,
    "500": 12,
    "502 html": 12,
    "dropped connection": 12,
    "timeout": 3,
    "can't parse entities": 6,
}
TELEGRAM_GONE = {
    "blocked": TelegramFault.blocked,
    "kicked": TelegramFault.kicked,
    "not found": TelegramFault.chat_not_found,
}


def plan_telegram(server: ScriptedTelegram, rng: random.Random) -> list[TelegramPlan]:
    """80 private chats and 20 groups: 15 gone, 8 moved, 60 transient faults over the healthy ones.

    Half the chats (by seed) asked for the file, so their digest is two requests and a fault (a move
    too) may hit either; the others' digest is the page alone.
    """
    private = [9_100 + n for n in range(80)]
    groups = [-9_200 - n for n in range(20)]
    for group in groups:
        server.add_chat(group, "group", title=f"Group {group}")
    rng.shuffle(private)
    rng.shuffle(groups)
    plans = [TelegramPlan(chat, "blocked") for chat in private[:6]]
    plans += [TelegramPlan(chat, "not found") for chat in private[6:9]]
    plans += [TelegramPlan(chat, "healthy") for chat in private[9:]]
    plans += [TelegramPlan(chat, "kicked") for chat in groups[:4]]
    plans += [TelegramPlan(chat, "not found") for chat in groups[4:6]]
    plans += [TelegramPlan(chat, "moved", new_chat=-1_009_200_000 + chat) for chat in groups[6:14]]
    plans += [TelegramPlan(chat, "healthy") for chat in groups[14:]]
    for plan in rng.sample(plans, len(plans) // 2):
        plan.send_file = True
    for plan in plans:
        if plan.kind in TELEGRAM_GONE:
            plan.at = rng.randrange(plan.messages)
            server.gone_from[str(plan.chat)] = (plan.at, TELEGRAM_GONE[plan.kind]())
        elif plan.kind == "moved":
            assert plan.new_chat is not None
            plan.at = rng.randrange(plan.messages)
            server.script[str(plan.chat)] = {plan.at: TelegramFault.migrated(plan.new_chat)}
    healthy = [plan for plan in plans if plan.kind == "healthy"]
    for name, count in TELEGRAM_TRANSIENT_COUNTS.items():
        for _ in range(count):
            rng.choice([plan for plan in healthy if len(plan.faults) < 3]).faults.append(name)
    for plan in healthy:
        # f faults take f of the chat's messages + f requests, never the last (the digest is done by then).
        plan.slots = rng.sample(range(plan.messages + len(plan.faults) - 1), len(plan.faults))
        server.script[str(plan.chat)] = {
            slot: TELEGRAM_TRANSIENT[name]() for slot, name in zip(plan.slots, plan.faults, strict=True)
        }
    return plans


def check_telegram_page(call: RecordedCall, view: DigestView) -> None:
    """The paged message: notifying, showing the view's first papers, every button naming the view."""
    assert call.method == "sendMessage"
    assert not call.params.get("disable_notification")  # the one message that notifies
    if call.params.get("parse_mode") == "HTML":  # the plain-text retry after "can't parse" has no links
        shown = ids_in(call.params["text"])
        assert shown, "a page without papers"
        assert tuple(shown) == view.paper_ids[: len(shown)]  # page 1 of the stored view
    rows = call.params["reply_markup"]["inline_keyboard"]
    presses = [decode_press(button["callback_data"]) for row in rows for button in row]
    assert presses, "a page without buttons"
    assert all(press is not None for press in presses)
    assert {press.view_id for press in presses if isinstance(press, PagePress | FilePress)} == {view.id}


async def turned_page(server: ScriptedTelegram, plan: TelegramPlan) -> list[str]:
    """▶ on the chat's digest message: the papers it shows after the press (none if it did not turn)."""
    chat = plan.chat if plan.new_chat is None else plan.new_chat
    (page,) = [stored for stored in server.bot_messages(chat) if stored.buttons]
    pressed = server.press_button(chat, text="▶", message_id=page.message_id)
    await server.wait_answered(pressed, timeout=5)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(3):
            while server.message(chat, page.message_id).edits == 0:
                await asyncio.sleep(0.02)
    now = server.message(chat, page.message_id)
    return ids_in(now.raw_text or "") if now.edits == 1 else []


@pytest.mark.slow
async def test_telegram_fault_matrix_over_100_chats_loses_nothing_repeats_nothing_and_never_spins(
    settings: Settings,
    telegram: ScriptedTelegram,
    arxiv_server: FakeArxiv,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """429, 403, 400 gone/moved, 5xx, drops, timeouts over 100 chats: one page each, requests bounded."""
    _, expected = anchor_matches((ANCHOR_KEYWORD,), CATEGORIES)
    assert len(expected) == 11  # two compact pages: the buttons have a page to turn
    plans = plan_telegram(telegram, random.Random(3))
    seeded: dict[int, Channel] = {}
    for plan in plans:
        channel = Channel(
            platform="telegram",
            chat_id=str(plan.chat),
            active=True,
            topics=(Topic("Papers", (ANCHOR_KEYWORD,)),),
            send_file=plan.send_file,
        )
        seeded[plan.chat] = await store.save_channel(channel)
    arxiv_server.default_rss = Reply.feed(ANCHOR_FEED)
    caplog.set_level(logging.INFO, logger="bot.channels")
    clock = Clock(dt.datetime(2025, 11, 12, 6, 0, tzinfo=UTC))
    began = time.monotonic()
    async with RunningBot(settings, telegram, clock):  # the bot's own pacing relaxed: no waiting

        async def settled() -> bool:
            channels = await store.list_channels(active_only=False)
            return len(channels) == len(plans) and all(
                c.done_up_to == ANNOUNCED or not c.active for c in channels
            )

        await until(settled, timeout=25, what="every chat to be done or turned off")
        took = time.monotonic() - began
        sends_when_done = sum(len(telegram.calls_to(method)) for method in SENDS)
        await asyncio.sleep(0.5)  # ten more delivery rounds (a tick is 0.05 s) must send nothing
        assert sum(len(telegram.calls_to(method)) for method in SENDS) == sends_when_done
        # A moved chat's page turns under its new id, as a healthy group's does. (A page sent before
        # the move, to the old group, stays there: Telegram's old group is read-only by then.)
        moved = [plan for plan in plans if plan.kind == "moved" and plan.at == 0]
        control = [plan for plan in plans if plan.kind == "healthy" and plan.chat < 0][:2]
        turned = {plan.chat: await turned_page(telegram, plan) for plan in moved + control}

    rows = ledger(settings.database_path)
    requests_per_chat: Counter[int] = Counter()
    for plan in plans:
        channel_id = seeded[plan.chat].id
        assert channel_id is not None
        targets = [plan.chat] if plan.new_chat is None else [plan.chat, plan.new_chat]
        calls = [call for target in targets for call in telegram.sends(target)]
        requests_per_chat[plan.chat] = len(calls)
        pages = [call for call in calls if call.ok and call.method == "sendMessage"]
        files = [call for call in calls if call.ok and call.method == "sendDocument"]
        stored = await store.get_channel("telegram", str(targets[-1]))
        assert stored is not None
        assert stored.id == channel_id
        # The view is stored before the page is sent: every chat has one, holding every match once.
        view = await store.daily_view("telegram", str(targets[-1]), ANNOUNCED)  # a moved chat's moved too
        assert view is not None
        assert sorted(view.paper_ids) == sorted(expected)
        for page in pages:
            check_telegram_page(page, view)
        if plan.chat in turned:  # ▶ shows page 2: the papers after page 1's, in the view's order
            shown = tuple(turned[plan.chat])
            assert 0 < len(shown) < len(view.paper_ids), f"chat {plan.chat} ({plan.kind}): no page turned"
            assert shown == view.paper_ids[-len(shown) :]
        for document in files:
            assert document.params["disable_notification"] is True  # the file is silent
            assert set(ids_in(document.files["document"].data.decode())) == expected  # the whole digest
        ledger_rows = rows.get(channel_id, Counter())
        assert ledger_rows["pending"] == 0
        # The ledger holds what the chat got: the page carries every paper of the digest.
        assert ledger_rows["sent"] == len(expected) * len(pages)
        assert await store.delivered_ids(channel_id) == (expected if pages else set())
        if plan.kind in TELEGRAM_GONE:
            assert len(calls) == plan.at + 1, f"gone chat {plan.chat}: {len(calls)} requests"
            assert [call.ok for call in calls] == [True] * plan.at + [False]
            assert (len(pages), len(files)) == (min(plan.at, 1), 0)  # the page, if it went out before
            assert not stored.active
            assert gone_logs(caplog, "telegram", plan.chat) == 1
            continue
        assert stored.active
        assert stored.done_up_to == ANNOUNCED
        # Nothing twice, nothing lost: one page, and the file once if asked.
        assert (len(pages), len(files)) == (1, int(plan.send_file)), f"chat {plan.chat} ({plan.kind})"
        assert gone_logs(caplog, "telegram", targets[-1]) == 0
        if plan.kind == "moved":
            assert plan.new_chat is not None
            old = telegram.sends(plan.chat)
            new = telegram.sends(plan.new_chat)
            assert [call.ok for call in old] == [True] * plan.at + [False]
            assert len(new) == plan.messages - plan.at
            assert all(call.ok for call in new)
            assert await store.get_channel("telegram", str(plan.chat)) is None
            assert stored.topics == seeded[plan.chat].topics
            assert stored.send_file == plan.send_file  # its settings moved with it
        else:
            failed = [call for call in calls if not call.ok]
            assert len(failed) == len(plan.faults)
            assert len(calls) == plan.messages + len(plan.faults), f"chat {plan.chat}: {len(calls)} requests"

    kinds = Counter(plan.kind for plan in plans)
    faults = Counter(name for plan in plans for name in plan.faults)
    statuses = Counter(call.status for method in SENDS for call in telegram.calls_to(method, ok=False))
    assert statuses == {
        429: faults["429 retry_after"],
        500: faults["500"],
        502: faults["502 html"],
        0: faults["dropped connection"] + faults["timeout"],  # no answer
        400: faults["can't parse entities"] + kinds["moved"] + kinds["not found"],
        403: kinds["blocked"] + kinds["kicked"],
    }
    # The seed makes faults hit files too, and chats go gone and move at their file (the page out).
    on_file = sum(plan.on_file() for plan in plans)
    gone_at_file = sum(plan.kind in TELEGRAM_GONE and plan.at == 1 for plan in plans)
    moved_at_file = sum(plan.kind == "moved" and plan.at == 1 for plan in plans)
    assert on_file > 0
    assert gone_at_file > 0
    assert moved_at_file > 0
    healthy = [requests_per_chat[plan.chat] for plan in plans if plan.kind == "healthy"]
    gone = [requests_per_chat[plan.chat] for plan in plans if plan.kind in TELEGRAM_GONE]
    print(
        f"\ntelegram fault matrix: {len(plans)} chats ({dict(kinds)}), "
        f"{sum(plan.send_file for plan in plans)} with the file; faults {dict(faults)} "
        f"({on_file} on a file request); {len(telegram.calls_to('sendMessage'))} sendMessage and "
        f"{len(telegram.calls_to('sendDocument'))} sendDocument requests, "
        f"{sum(len(telegram.calls_to(method, ok=True)) for method in SENDS)} accepted; requests per healthy "
        f"chat {dict(sorted(Counter(healthy).items()))} (1 page, 1 file if asked, + its faults); per gone "
        f"chat {dict(sorted(Counter(gone).items()))} ({gone_at_file} gone at the file); "
        f"{moved_at_file} of {kinds['moved']} moved at the file; pages turned in the moved chats "
        f"{sum(bool(turned[plan.chat]) for plan in moved)}/{len(moved)}; settled in {took:.1f} s"
    )


# -- Discord -------------------------------------------------------------------------------------------------

DISCORD_DAY = dt.date(2025, 11, 12)
CREATE_MESSAGE = re.compile(r"/channels/(\d+)/messages")
DISCORD_CATEGORIES = ("cs.CV", "cs.LG")  # what tests.adapters.test_discord_adapter.start_bot uses
GUILDS = [910_000_000_000_000_001 + n for n in range(4)]
MUTED_GUILD = 910_000_000_000_000_009  # the bot may not send messages here (Discord's own 50013)
SUPPRESS_NOTIFICATIONS = 1 << 12


class ScriptedDiscord(FakeDiscord):
    """The fake Discord answering each channel's n-th message creation (page or file) with a fault."""

    def __init__(self, **kwargs: Any) -> None:
        """No faults until the test scripts them."""
        super().__init__(**kwargs)
        self.script: dict[int, dict[int, DiscordFault]] = {}
        self.gone_from: dict[int, tuple[int, DiscordFault]] = {}
        self.numbers: Counter[int] = Counter()
        self.injected = 0

    async def _answer(
        self, request: web.Request, record: RecordedRequest, body: Any, files: list[UploadedFile]
    ) -> tuple[int, Any, dict[str, str]]:
        """The scripted fault for this channel's request, or the fake's own answer."""
        match = CREATE_MESSAGE.fullmatch(record.path) if record.method == "POST" else None
        if match is not None:
            channel = int(match[1])
            number = self.numbers[channel]
            self.numbers[channel] += 1
            gone = self.gone_from.get(channel)
            fault = gone[1] if gone is not None and number >= gone[0] else None
            fault = fault or self.script.get(channel, {}).get(number)
            if fault is not None:
                self.injected += 1
                if fault.status == 429:
                    self.rate_limited_count += 1
                return fault.status, fault.body, dict(fault.headers)
        return await super()._answer(request, record, body, files)


@dataclass
class DiscordPlan:
    """What was scripted for one Discord channel."""

    channel: int
    guild: int
    kind: str  # healthy, missing access, missing permissions, unknown channel, muted
    send_file: bool = False  # the page and then the file: two requests, either may fail
    at: int = 0  # gone: the request number the fault comes from (1: the page went out, the file failed)
    faults: list[str] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # the request numbers the faults take

    @property
    def messages(self) -> int:
        """Messages the channel's digest takes: the page, and the file if asked."""
        return 1 + self.send_file

    def on_file(self) -> int:
        """How many of the scripted faults hit the file's request rather than the page's."""
        return sum(slot - below >= 1 for below, slot in enumerate(sorted(self.slots)))


DISCORD_TRANSIENT: dict[str, Callable[[], DiscordFault]] = {
    "429 (Via, retry_after, bucket headers)": lambda: DiscordFault.rate_limited(0.3),
    "429 global": lambda: DiscordFault.rate_limited(0.2, is_global=True),
    "500": lambda: DiscordFault.server_error(500),
    "502": lambda: DiscordFault.server_error(502),
    "503": lambda: DiscordFault.server_error(503),
}
DISCORD_TRANSIENT_COUNTS = {
    "429 (Via, retry_after, bucket headers)": 15,
    "429 global": 2,
    "500": 8,
    "502": 6,
    "503": 8,
}
DISCORD_GONE = {
    "missing access": DiscordFault.missing_access,  # 403 50001
    "missing permissions": DiscordFault.missing_permissions,  # 403 50013
    "unknown channel": DiscordFault.unknown_channel,  # 404 10003
}


def plan_discord(fake: ScriptedDiscord, rng: random.Random) -> list[DiscordPlan]:
    """96 channels in four guilds and 4 in a guild that denies Send Messages; 11 more gone, 39 faults.

    Half the channels (by seed) asked for the file, so their digest is two requests and a fault may
    hit either; the others' digest is the page alone.
    """
    plans: list[DiscordPlan] = []
    for number, guild in enumerate(GUILDS):
        channels = [920_000_000_000_000_000 + 100 * number + n for n in range(24)]
        fake.add_guild(guild, [(channel, f"papers-{n}") for n, channel in enumerate(channels)])
        plans += [DiscordPlan(channel, guild, "healthy") for channel in channels]
    muted = [920_000_000_000_000_900 + n for n in range(4)]
    fake.add_guild(
        MUTED_GUILD,
        [(channel, f"muted-{n}") for n, channel in enumerate(muted)],
        bot_permissions=DEFAULT_BOT_PERMISSIONS & ~SEND_MESSAGES,
        everyone_permissions=0,
    )
    plans += [DiscordPlan(channel, MUTED_GUILD, "muted") for channel in muted]
    for plan in rng.sample(plans, len(plans) // 2):
        plan.send_file = True
    candidates = [plan for plan in plans if plan.kind == "healthy"]
    rng.shuffle(candidates)
    gone_kinds = ["missing access"] * 4 + ["missing permissions"] * 3 + ["unknown channel"] * 4
    for plan, kind in zip(candidates, gone_kinds, strict=False):
        plan.kind = kind
        plan.at = rng.randrange(plan.messages)
        fake.gone_from[plan.channel] = (plan.at, DISCORD_GONE[kind]())
    healthy = [plan for plan in plans if plan.kind == "healthy"]
    for name, count in DISCORD_TRANSIENT_COUNTS.items():
        for _ in range(count):
            rng.choice([plan for plan in healthy if len(plan.faults) < 2]).faults.append(name)
    for plan in healthy:
        # f faults take f of the channel's messages + f requests, never the last (the digest is done by then).
        plan.slots = rng.sample(range(plan.messages + len(plan.faults) - 1), len(plan.faults))
        fake.script[plan.channel] = {
            slot: DISCORD_TRANSIENT[name]() for slot, name in zip(plan.slots, plan.faults, strict=True)
        }
    return plans


@pytest.fixture
async def discord_fake() -> AsyncIterator[ScriptedDiscord]:
    """The scripted fake Discord on 127.0.0.1."""
    # Only the scripted faults: the adapter's pacer is off here, so Discord's global limit (which
    # tests/adapters/test_discord_pacer.py holds the pacer to) would add 429s the plan does not list.
    server = ScriptedDiscord(global_limit=None)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def embed_ids(message: dict[str, Any]) -> list[str]:
    """arXiv ids of the papers a created message shows in its embeds, in order."""
    return [
        paper
        for embed in message.get("embeds") or ()
        for paper in ARXIV_ABS.findall(f"{embed.get('url', '')}\n{embed.get('description', '')}")
    ]


def custom_ids(message: dict[str, Any]) -> list[str]:
    """The custom ids of a created message's buttons."""
    return [item["custom_id"] for row in message.get("components") or () for item in row["components"]]


def check_discord_page(message: dict[str, Any], view: DigestView) -> None:
    """The paged message: notifying, showing the view's first papers, every button naming the view."""
    assert not int(message.get("flags") or 0) & SUPPRESS_NOTIFICATIONS  # the one message that notifies
    shown = list(dict.fromkeys(embed_ids(message)))
    assert shown, "a page without papers"
    assert tuple(shown) == view.paper_ids[: len(shown)]  # page 1 of the stored view
    # Buttons carry press data; the 👍/👎/🔖 menus carry theirs with a paper index as each option's value.
    presses = [decode_press(data) or decode_menu_choice(data, "0") for data in custom_ids(message)]
    assert presses, "a page without buttons"
    assert all(press is not None for press in presses)
    kinds = (PagePress, FilePress, FeedbackPress)
    assert {press.view_id for press in presses if isinstance(press, kinds)} == {view.id}
    assert any(isinstance(press, FeedbackPress) for press in presses)


@pytest.mark.slow
async def test_discord_fault_matrix_over_100_channels_loses_nothing_repeats_nothing_and_never_spins(
    discord_fake: ScriptedDiscord,
    store: SqliteStore,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """429s, 403 50001/50013, 404 10003, 5xx and gateway drops over 100 channels: one page each, bounded."""
    keywords = tuple(MLLM_KEYWORDS.split(", "))
    announcement, expected = anchor_matches(keywords, DISCORD_CATEGORIES)
    assert len(expected) == 28  # three compact pages: the buttons have pages to turn
    await store.save_announcement(announcement)
    discord_fake.enforce_rate_limits(per_channel=3, per_seconds=1.0)  # advertised: discord.py waits
    plans = plan_discord(discord_fake, random.Random(5))
    seeded: dict[int, Channel] = {}
    for plan in plans:
        seeded[plan.channel] = await store.save_channel(
            Channel(
                "discord",
                str(plan.channel),
                server_id=str(plan.guild),
                active=True,
                topics=(Topic("MLLM", keywords),),
                send_file=plan.send_file,
            )
        )
    caplog.set_level(logging.INFO, logger="bot.channels")
    # What the fake accepts in all: each digest's messages, a gone channel's before its fault.
    accepted_in_all = sum(p.messages if p.kind == "healthy" else p.at for p in plans)

    def posted_at_least(count: int) -> bool:
        """Whether the planned channels hold `count` messages between them."""
        return sum(len(discord_fake.channel_messages(p.channel)) for p in plans) >= count

    bot, stop, task = await start_bot(discord_fake, store, guild_id=GUILDS[0])
    began = time.monotonic()
    try:
        round_one = asyncio.create_task(bot.delivery.deliver_due())
        # The gateway drops twice during the fan-out (a third and two thirds in); REST goes on.
        for created in (accepted_in_all // 3, 2 * accepted_in_all // 3):
            await until(
                functools.partial(posted_at_least, created),
                timeout=20,
                what=f"{created} messages",
            )
            assert not round_one.done()  # mid-fan-out
            await discord_fake.drop_gateway()
        report = await asyncio.wait_for(round_one, timeout=25)
        took = time.monotonic() - began
        await discord_fake.wait_ready()
        requests_after_round_one = len(discord_fake.requests_to("POST", r"/channels/\d+/messages"))
        again = await bot.delivery.deliver_due()  # gone channels are not tried again, done ones get nothing
        assert again.outcomes == []
        assert len(discord_fake.requests_to("POST", r"/channels/\d+/messages")) == requests_after_round_one
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task

    assert discord_fake.validation_errors == []
    assert discord_fake.gateway_connections >= 3
    outcomes = Counter(outcome.result for outcome in report.outcomes)
    gone_kinds = {*DISCORD_GONE, "muted"}
    assert outcomes == {
        "ok": sum(p.kind == "healthy" for p in plans),
        "gone": sum(p.kind in gone_kinds for p in plans),
    }
    rows = ledger(db_path)
    requests_per_channel: Counter[int] = Counter()
    for plan in plans:
        channel_id = seeded[plan.channel].id
        assert channel_id is not None
        requests = discord_fake.requests_to("POST", rf"^/channels/{plan.channel}/messages$")
        requests_per_channel[plan.channel] = len(requests)
        made = discord_fake.channel_messages(plan.channel)
        pages = [entry["message"] for entry in made if not entry["files"]]
        files = [entry for entry in made if entry["files"]]
        # The view is stored before the page is sent: every channel has one, holding every match once.
        view = await store.daily_view("discord", str(plan.channel), DISCORD_DAY)
        assert view is not None
        assert sorted(view.paper_ids) == sorted(expected)
        for page in pages:
            check_discord_page(page, view)
        for entry in files:
            assert int(entry["message"].get("flags") or 0) & SUPPRESS_NOTIFICATIONS  # the file is silent
            (upload,) = entry["files"]
            assert set(ids_in(upload.data.decode())) == expected  # the file holds the whole digest
        stored = await store.get_channel("discord", str(plan.channel))
        assert stored is not None
        ledger_rows = rows.get(channel_id, Counter())
        assert ledger_rows["pending"] == 0
        # The ledger holds what the channel got: the page carries every paper of the digest.
        assert ledger_rows["sent"] == len(expected) * len(pages)
        assert await store.delivered_ids(channel_id) == (expected if pages else set())
        if plan.kind in gone_kinds:
            assert len(requests) == plan.at + 1, f"gone channel {plan.channel}: {len(requests)} requests"
            assert [200 <= r.status < 300 for r in requests] == [True] * plan.at + [False]
            assert (len(pages), len(files)) == (min(plan.at, 1), 0)  # the page, if it went out before
            assert not stored.active
            assert gone_logs(caplog, "discord", plan.channel) == 1
            continue
        assert stored.active
        assert stored.done_up_to == DISCORD_DAY
        # Nothing twice, nothing lost: one page, and the file once if asked.
        assert (len(pages), len(files)) == (1, int(plan.send_file)), f"channel {plan.channel}"
        failed = [r for r in requests if not 200 <= r.status < 300]
        assert len(failed) == len(plan.faults), f"channel {plan.channel}: {[r.status for r in failed]}"
        assert len(requests) == plan.messages + len(plan.faults), (
            f"channel {plan.channel}: {len(requests)} requests"
        )
    enforced_429s = discord_fake.rate_limited_count - sum(
        name.startswith("429") for plan in plans for name in plan.faults
    )
    assert enforced_429s == 0  # the advertised buckets were followed
    # The seed makes faults hit files too, and a channel go gone at its file (its page already out).
    on_file = sum(plan.on_file() for plan in plans)
    gone_at_file = sum(plan.kind in DISCORD_GONE and plan.at == 1 for plan in plans)
    assert on_file > 0
    assert gone_at_file > 0

    faults = Counter(name for plan in plans for name in plan.faults)
    healthy = [requests_per_channel[p.channel] for p in plans if p.kind == "healthy"]
    gone = [requests_per_channel[p.channel] for p in plans if p.kind in gone_kinds]
    print(
        f"\ndiscord fault matrix: {len(plans)} channels ({dict(Counter(p.kind for p in plans))}), "
        f"{sum(p.send_file for p in plans)} with the file; faults {dict(faults)} "
        f"({on_file} on a file request), 2 gateway drops; "
        f"{requests_after_round_one} message requests, "
        f"{sum(len(discord_fake.channel_messages(p.channel)) for p in plans)} accepted, "
        f"{discord_fake.invalid_request_count} answered 401/403/429; requests per healthy channel "
        f"{dict(sorted(Counter(healthy).items()))} (1 page, 1 file if asked, + its faults); per gone channel "
        f"{dict(sorted(Counter(gone).items()))} ({gone_at_file} gone at the file); round took {took:.1f} s"
    )
