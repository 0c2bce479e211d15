"""Telegram fan-out: every chat's paged digest at Telegram's flood limits, exactly once.

    python benchmarks/fanout_telegram.py [--chats 1000] [--groups 0.2] [--papers 34] [--file-every 0]
                                         [--style compact]

The real `TelegramAdapter` (python-telegram-bot, its default rate limiter), `DeliveryService` and
`SqliteStore` (a temporary file) deliver one announcement — the real 1,504-paper all-archives day of
2024-11-28 — to `--chats` chats (80 % private, 20 % groups, in random order). Each chat's topic finds
a different run of `--papers` papers by their titles (34 by default, the anchor day's MLLM digest),
shown in `--style` (`mixed`: compact, full and titles in turn). A digest is ONE paged message (its
first page with the inline keyboard ◀ n/N ▶ and the style/file buttons), plus a silent Markdown file
(`disable_notification`) for every `--file-every`-th chat (`Channel.send_file`; 0: none, the default
settings). The fake Bot API (tests/fakes/telegram_server.py) checks every call against the Bot API
spec, enforces Telegram's limits and answers 429 past them: 30 messages/s overall, 1/s into one chat,
20/min into one group.

The limits' minimum for M messages, k per chat: max(M / 30 s (overall), (k − 1) × 1 s (one chat),
(⌈k / 20⌉ − 1) min (one group)); for 1,000 chats × 1 message that is 1000 / 30 = 33.3 s. The wall
time is the whole delivery round (`deliver_due()`: the ledger, matching, storing each chat's view,
rendering, sending, confirming), so it can only be longer.

Checked after the round, from the ledger, each chat's stored view and the fake's records: lost = a
digest paper the ledger does not have as sent, or the stored view does not hold (or every paper of a
chat that got no page message); duplicate = a second page message in one chat. The page message must
show exactly page 1 of the stored view (its links are page 1's papers only), its keyboard must name
that view, only it may notify, and a chat with send_file gets its file once.

Ends with one line:
`telegram fan-out: <messages> messages to <chats> chats in <s> s; limit minimum <s> s; 429s <n>;
duplicates <n>; lost <n>` (on one line), and exits 1 on a duplicate, a loss, a failed chat or a failed
check. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.format import render_page
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.delivery import DeliveryService
from bot.digests import build_digests
from bot.models import Channel, LoadedView, Topic
from bot.views import FilePress, PagePress, ViewService, decode_press, view_of
from storage.sqlite_store import open_store
from tests.fakes.telegram_model import RateLimits as ServerRateLimits
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer

OVERALL_PER_SECOND = 30
CHAT_INTERVAL = 1.0
GROUP_PER_MINUTE = 20
TARGET_OVER_MINIMUM = 0.10
# A paper as a page shows it: its title (or "read more") linked to its abstract page. A paper's own
# text cannot fake one: its quotes are escaped.
ABS_LINK = re.compile(r'href="https://arxiv\.org/abs/([^"]+)"')


def limit_minimum(messages: int, per_chat: int) -> float:
    """The shortest time Telegram's limits allow for `messages` messages, `per_chat` into each chat."""
    return max(
        messages / OVERALL_PER_SECOND,
        (per_chat - 1) * CHAT_INTERVAL,
        (math.ceil(per_chat / GROUP_PER_MINUTE) - 1) * 60.0,
    )


@dataclass(frozen=True, slots=True)
class StoredView:
    """What the store holds for one chat after the round: its daily view and that view's page 1."""

    view_id: int
    paper_ids: tuple[str, ...]
    first_page: tuple[str, ...]
    page_count: int


def _keyboard_views(call: RecordedCall) -> set[int]:
    """The view ids a sent message's inline keyboard names (-1 for data no press decodes)."""
    markup: Any = call.params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    named = set()
    for row in (markup or {}).get("inline_keyboard") or ():
        for button in row:
            press = decode_press(str(button.get("callback_data") or ""))
            if isinstance(press, PagePress | FilePress):
                named.add(press.view_id)
            elif press is None:
                named.add(-1)
    return named


def _silent(call: RecordedCall) -> bool:
    """Whether the message was sent with disable_notification."""
    return str(call.params.get("disable_notification")).lower() in ("true", "1")


async def run(options: argparse.Namespace) -> int:
    """Set everything up, deliver one round, check and report."""
    announcement = _common.real_day(options.feed)
    date = announcement.date
    papers = list(announcement.papers)
    defaults = tuple(sorted({c for p in papers for c in p.categories}))  # every paper is in scope
    rng = random.Random(options.seed)
    findable = _common.uniquely_titled(papers)
    styles = _common.STYLES[options.style]

    groups = set(rng.sample(range(options.chats), round(options.chats * options.groups)))
    chat_ids = [-(1_000_000 + n) if n in groups else 10_000 + n for n in range(options.chats)]
    rng.shuffle(chat_ids)

    server = FakeTelegramServer()
    await server.start()
    server.enable_rate_limits(ServerRateLimits())  # 30/s overall, 1/s a chat, 20/min a group
    with tempfile.TemporaryDirectory(prefix="fanout-telegram-") as folder:
        store = await open_store(Path(folder) / "db.sqlite")
        try:
            await store.save_announcement(announcement)
            setup = time.perf_counter()
            for position, chat_id in enumerate(chat_ids):
                run_of = _common.paper_run(findable, (position * 7) % len(findable), options.papers)
                keywords = tuple(_common.title_keyword(paper) for paper in run_of)
                server.add_chat(chat_id, "group" if chat_id < 0 else "private")
                await store.save_channel(
                    Channel(
                        "telegram",
                        str(chat_id),
                        active=True,
                        topics=(Topic("Papers", keywords),),
                        style=styles[position % len(styles)],
                        send_file=bool(options.file_every) and (position + 1) % options.file_every == 0,
                    )
                )
            setup_s = time.perf_counter() - setup

            noon = dt.datetime.combine(date, dt.time(12, 0), tzinfo=dt.UTC)
            channels = await store.list_channels()
            digests = list(zip(channels, build_digests(announcement, channels, defaults), strict=True))
            expected = {channel.chat_id: [p.arxiv_id for p in d.papers] for channel, d in digests}
            with_file = {channel.chat_id for channel in channels if channel.send_file}

            chats = ChannelRegistry(store)
            views = ViewService(store, defaults, clock=lambda: noon)
            commands = CommandService(store, defaults, clock=lambda: noon)
            adapter = TelegramAdapter(
                server.token, commands, chats, views=views, api_url=server.url, poll_timeout=10.0
            )
            delivery = DeliveryService(
                store, {"telegram": adapter}, defaults, clock=lambda: noon, channels=chats, views=views
            )
            rendered = 0
            for channel, digest in digests:  # what the round will send: views made here, not stored
                view, view_papers = view_of(
                    digest, channel.platform, channel.chat_id, defaults, style=channel.style
                )
                rendered += len(adapter.render_digest(LoadedView(view, view.entries, view_papers), channel))
            stop = asyncio.Event()
            task = asyncio.create_task(adapter.run(stop), name="telegram adapter")
            await server.wait_for_call("getUpdates", timeout=30)

            started, cpu = time.monotonic(), time.process_time()
            report = await delivery.deliver_due()
            wall, cpu = time.monotonic() - started, time.process_time() - cpu
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            failed = [o for o in report.outcomes if o.result != "ok"]
            behind = [c for c in await store.list_channels() if c.done_up_to != date]

            stored: dict[str, StoredView] = {}
            for chat in map(str, chat_ids):
                daily = await store.daily_view("telegram", chat, date)
                if daily is None or daily.id is None:
                    continue
                loaded = await views.load(daily.id, "telegram", chat)
                page = render_page(loaded) if loaded is not None else None
                stored[chat] = StoredView(
                    daily.id,
                    daily.paper_ids,
                    page.paper_ids if page else (),
                    page.page_count if page else 0,
                )
        finally:
            await store.close()
        sent_ledger, pending_ledger = _common.ledger(Path(folder) / "db.sqlite")
    violations = server.take_violations()
    await server.close()

    sends = [c for c in server.calls if c.method in ("sendMessage", "sendDocument") and c.ok]
    pages: dict[str, list[RecordedCall]] = defaultdict(list)
    files: dict[str, list[RecordedCall]] = defaultdict(list)
    for call in sends:
        (pages if call.method == "sendMessage" else files)[call.chat_id or ""].append(call)
    duplicates = sum(max(len(calls) - 1, 0) for calls in pages.values())
    no_page = [chat for chat in expected if not pages.get(chat)]
    wrong_page = [
        chat
        for chat, calls in pages.items()
        if chat not in stored
        or tuple(dict.fromkeys(ABS_LINK.findall(str(calls[0].params.get("text") or ""))))
        != stored[chat].first_page
    ]
    wrong_keyboard = [
        chat
        for chat, calls in pages.items()
        if chat not in stored
        or not _keyboard_views(calls[0])
        or _keyboard_views(calls[0]) - {stored[chat].view_id}
    ]
    got_file = sum(1 for chat in with_file if len(files.get(chat, ())) == 1)
    missing_files = sum(1 for chat in with_file if not files.get(chat))
    extra_files = sum(max(len(calls) - 1, 0) for chat, calls in files.items() if chat in with_file)
    unasked_files = sum(len(calls) for chat, calls in files.items() if chat not in with_file)
    loud = [
        chat
        for chat in expected
        if sum(not _silent(call) for call in [*pages.get(chat, ()), *files.get(chat, ())]) > 1
    ]
    lost_ledger = sum(
        1 for chat, ids in expected.items() for paper_id in ids if (chat, paper_id) not in sent_ledger
    )
    lost_view = sum(
        1
        for chat, ids in expected.items()
        for paper_id in ids
        if chat not in stored or paper_id not in stored[chat].paper_ids
    )
    lost_unsent = sum(len(expected[chat]) for chat in no_page)
    lost = max(lost_ledger, lost_view, lost_unsent)
    answered_429 = server.rate_limited_count
    per_chat = {chat: len(pages.get(chat, ())) + len(files.get(chat, ())) for chat in expected}
    most = max(per_chat.values(), default=0)
    minimum = limit_minimum(len(sends), most)
    span = sends[-1].time - sends[0].time if sends else 0.0
    over = wall / minimum - 1 if minimum else 0.0
    papers_expected = sum(map(len, expected.values()))
    page_counts = [kept.page_count for kept in stored.values()]
    on_page_one = sum(len(kept.first_page) for kept in stored.values())

    rows = [
        (
            "chats",
            f"{options.chats:,}",
            f"{options.chats - len(groups):,} private, {len(groups):,} groups (random order); "
            f"style {options.style}; send_file on {len(with_file):,}; setup {setup_s:.1f} s",
        ),
        (
            "messages",
            f"{len(sends):,}",
            f"1 paged message a chat + {len(with_file):,} files ({rendered:,} rendered; "
            f"min {min(per_chat.values(), default=0)}, max {most} a chat)",
        ),
        (
            "papers",
            f"{papers_expected:,}",
            f"{options.papers} a digest; pages a digest median {statistics.median(page_counts or [0]):.0f}, "
            f"max {max(page_counts, default=0)}; {on_page_one:,} on the page messages (page 1)",
        ),
        ("wall time", f"{wall:.1f} s", f"the whole delivery round; first to last send {span:.1f} s"),
        (
            "limit minimum",
            f"{minimum:.1f} s",
            f"max(M/30, (k−1)·1 s, (⌈k/20⌉−1) min) with M = {len(sends):,}, k = {most}",
        ),
        (
            "over the minimum",
            f"{over * 100:.1f} %",
            f"target ≤ {TARGET_OVER_MINIMUM * 100:.0f} %"
            + ("" if over <= TARGET_OVER_MINIMUM else " — MISSED"),
        ),
        (
            "messages per second",
            f"{len(sends) / wall:.1f}",
            f"Telegram allows {OVERALL_PER_SECOND}; CPU {cpu:.1f} s in the round "
            f"({cpu / wall * 100:.0f} % of one core: bot and fake in one process)",
        ),
        (
            "429s answered",
            f"{answered_429}",
            f"target 0; the adapter's limiter saw {adapter.rate_limiter.retry_after_count}",
        ),
        ("duplicates", f"{duplicates}", "second page messages in one chat (fake's records)"),
        (
            "lost",
            f"{lost}",
            f"ledger {lost_ledger}, stored views {lost_view}, chats without a page message "
            f"{len(no_page)} ({lost_unsent} papers); {pending_ledger} ledger rows left pending",
        ),
        (
            "page messages showing their view's page 1",
            f"{len(pages) - len(wrong_page):,} / {options.chats:,}",
            f"the linked papers = render_page(stored view) page 0; "
            f"keyboards naming another view or none: {len(wrong_keyboard)}",
        ),
        (
            "files",
            f"{got_file:,} / {len(with_file):,}",
            f"missing {missing_files}, extra {extra_files}, to chats that did not ask {unasked_files}",
        ),
        (
            "chats notified more than once",
            f"{len(loud)}",
            "the page notifies, the file is sent with disable_notification",
        ),
        ("views stored", f"{len(stored):,}", "daily views in digest_views"),
        ("chats failed or behind", f"{len(failed)} / {len(behind)}", "outcome not ok / cursor not moved"),
        ("calls breaking the Bot API spec", f"{len(violations)}", "checked by the fake against api.json"),
    ]
    _common.print_table("telegram fan-out", rows)
    print(
        f"telegram fan-out: {len(sends)} messages to {options.chats} chats in {wall:.1f} s; "
        f"limit minimum {minimum:.1f} s; 429s {answered_429}; duplicates {duplicates}; lost {lost}"
    )
    problems = (
        duplicates
        or lost
        or pending_ledger
        or failed
        or behind
        or violations
        or wrong_page
        or wrong_keyboard
        or missing_files
        or extra_files
        or unasked_files
        or loud
    )
    return 1 if problems else 0


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--groups", type=float, default=0.2, help="share of group chats")
    parser.add_argument("--papers", type=int, default=34, help="papers in each chat's digest")
    parser.add_argument(
        "--file-every", type=int, default=0, help="every K-th chat has send_file on (0: none)"
    )
    parser.add_argument("--style", choices=sorted(_common.STYLES), default="compact", help="the chats' style")
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
