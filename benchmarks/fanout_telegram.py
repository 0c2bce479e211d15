"""Telegram fan-out: every chat's 3-message digest at Telegram's flood limits, exactly once.

    python benchmarks/fanout_telegram.py [--chats 1000] [--messages 3] [--groups 0.2]

The real `TelegramAdapter` (python-telegram-bot, its default rate limiter), `DeliveryService` and
`SqliteStore` (a temporary file) deliver one announcement — the real 1,504-paper all-archives day of
2024-11-28 — to `--chats` chats (80 % private, 20 % groups, in random order). Each chat's topic finds
a different run of papers by their titles, chosen so that its digest renders into exactly `--messages`
Telegram messages. The fake Bot API (tests/fakes/telegram_server.py) enforces Telegram's limits and
answers 429 past them: 30 messages/s overall, 1/s into one chat, 20/min into one group.

The limits' minimum for M messages, k per chat: max(M / 30 s (overall), (k − 1) × 1 s (one chat),
(⌈k / 20⌉ − 1) min (one group)); for 1,000 chats × 3 messages that is 3000 / 30 = 100 s. The wall time
is the whole delivery round (`deliver_due()`: reading the ledger, matching, rendering, sending,
confirming), so it can only be longer. Duplicates and losses are counted twice: from the fake's
records (paper ids in each chat's messages) and from the ledger (`deliveries` rows sent, none pending).

Ends with one line:
`telegram fan-out: <messages> messages to <chats> chats in <s> s; limit minimum <s> s; 429s <n>;
duplicates <n>; lost <n>` (on one line), and exits 1 on a duplicate, a loss or a failed chat.
Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import _common

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.format import render_digest
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.delivery import DeliveryService
from bot.digests import build_digests
from bot.models import Channel, Digest, Paper, Topic, TopicDigest
from storage.sqlite_store import open_store
from tests.fakes.telegram_model import RateLimits as ServerRateLimits
from tests.fakes.telegram_server import FakeTelegramServer

OVERALL_PER_SECOND = 30
CHAT_INTERVAL = 1.0
GROUP_PER_MINUTE = 20
TARGET_OVER_MINIMUM = 0.10


def limit_minimum(messages: int, per_chat: int) -> float:
    """The shortest time Telegram's limits allow for `messages` messages, `per_chat` into each chat."""
    return max(
        messages / OVERALL_PER_SECOND,
        (per_chat - 1) * CHAT_INTERVAL,
        (math.ceil(per_chat / GROUP_PER_MINUTE) - 1) * 60.0,
    )


def _telegram_messages(date: dt.date, announced: int) -> Callable[[Sequence[Paper]], int]:
    """How many Telegram messages a one-topic digest of some papers takes."""

    def count(papers: Sequence[Paper]) -> int:
        """Render and count."""
        digest = Digest(date, (TopicDigest(Topic("Papers", ("x",)), tuple(papers)),), announced)
        messages, needs_file = render_digest(digest)
        return len(messages) + int(needs_file)

    return count


async def run(options: argparse.Namespace) -> int:
    """Set everything up, deliver one round, check and report."""
    day = _common.real_day(options.feed)
    announcement = day
    date = announcement.date
    papers = list(announcement.papers)
    defaults = tuple(sorted({c for p in papers for c in p.categories}))  # every paper is in scope
    rng = random.Random(options.seed)
    count_messages = _telegram_messages(date, len(papers))
    findable = _common.uniquely_titled(papers)
    runs: dict[int, list[Paper]] = {}

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
                start = (position * 7) % len(findable)
                if start not in runs:
                    runs[start] = _common.digest_papers(findable, start, options.messages, count_messages)
                keywords = tuple(_common.title_keyword(paper) for paper in runs[start])
                server.add_chat(chat_id, "group" if chat_id < 0 else "private")
                await store.save_channel(
                    Channel("telegram", str(chat_id), active=True, topics=(Topic("Papers", keywords),))
                )
            setup_s = time.perf_counter() - setup

            noon = dt.datetime.combine(date, dt.time(12, 0), tzinfo=dt.UTC)
            channels = await store.list_channels()
            digests = list(zip(channels, build_digests(announcement, channels, defaults), strict=True))
            expected = {channel.chat_id: [p.arxiv_id for p in d.papers] for channel, d in digests}

            chats = ChannelRegistry(store)
            commands = CommandService(store, defaults, clock=lambda: noon)
            adapter = TelegramAdapter(server.token, commands, chats, api_url=server.url, poll_timeout=10.0)
            delivery = DeliveryService(
                store, {"telegram": adapter}, defaults, clock=lambda: noon, channels=chats
            )
            # One paged message per digest (or the empty-day line), plus the file where a chat asked.
            expected_messages = sum(
                1 + int(channel.send_file and d.matched_count > 0) for channel, d in digests
            )
            stop = asyncio.Event()
            task = asyncio.create_task(adapter.run(stop), name="telegram adapter")
            await server.wait_for_call("getUpdates", timeout=30)

            started, cpu = time.monotonic(), time.process_time()
            report = await delivery.deliver_due()
            wall, cpu = time.monotonic() - started, time.process_time() - cpu
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            failed = [o for o in report.outcomes if o.result != "ok"]
            stored = await store.list_channels()
            behind = [c for c in stored if c.done_up_to != date]
        finally:
            await store.close()
        ledger = _common.ledger(Path(folder) / "db.sqlite")
    await server.close()

    sends = [c for c in server.calls if c.method in ("sendMessage", "sendDocument") and c.ok]
    received: dict[str, Counter[str]] = {}
    for call in sends:
        text = str(call.params.get("text") or call.params.get("caption") or "")
        received.setdefault(call.chat_id or "", Counter()).update(_common.ARXIV_ID_IN_TEXT.findall(text))
    duplicates = sum(n - 1 for counts in received.values() for n in counts.values() if n > 1)
    lost_fake = sum(
        1 for chat, ids in expected.items() for paper_id in ids if paper_id not in received.get(chat, {})
    )
    sent_ledger, pending_ledger = ledger
    lost_ledger = sum(
        1 for chat, ids in expected.items() for paper_id in ids if (chat, paper_id) not in sent_ledger
    )
    lost = max(lost_fake, lost_ledger)
    answered_429 = server.rate_limited_count
    per_chat = Counter(call.chat_id for call in sends)
    most = max(per_chat.values(), default=0)
    minimum = limit_minimum(len(sends), most)
    span = sends[-1].time - sends[0].time if sends else 0.0
    over = wall / minimum - 1 if minimum else 0.0
    papers_expected = sum(map(len, expected.values()))

    rows = [
        (
            "chats",
            f"{options.chats:,}",
            f"{options.chats - len(groups):,} private, {len(groups):,} groups (random order); "
            f"setup {setup_s:.1f} s",
        ),
        (
            "messages",
            f"{len(sends):,}",
            f"{options.messages} a chat by design ({expected_messages:,} rendered; "
            f"min {min(per_chat.values(), default=0)}, max {most} a chat); "
            f"{papers_expected:,} papers",
        ),
        (
            "wall time",
            f"{wall:.1f} s",
            f"the whole delivery round; first to last send {span:.1f} s",
        ),
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
        ("duplicates", f"{duplicates}", "paper ids seen twice in one chat (fake's records)"),
        (
            "lost",
            f"{lost}",
            f"fake's records {lost_fake}, ledger {lost_ledger}; {pending_ledger} ledger rows left pending",
        ),
        ("chats failed or behind", f"{len(failed)} / {len(behind)}", "outcome not ok / cursor not moved"),
    ]
    _common.print_table("telegram fan-out", rows)
    print(
        f"telegram fan-out: {len(sends)} messages to {options.chats} chats in {wall:.1f} s; "
        f"limit minimum {minimum:.1f} s; 429s {answered_429}; duplicates {duplicates}; lost {lost}"
    )
    return 1 if duplicates or lost or pending_ledger or failed or behind else 0


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3, help="messages in each chat's digest")
    parser.add_argument("--groups", type=float, default=0.2, help="share of group chats")
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
