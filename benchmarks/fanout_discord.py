"""Discord fan-out: every channel's digest through the advertised rate-limit buckets, exactly once.

    python benchmarks/fanout_discord.py [--channels 200] [--messages 6]

The real `DiscordAdapter` (discord.py, its default pace of 40 messages/s), `DeliveryService` and
`SqliteStore` (a temporary file) deliver one announcement — the real 1,504-paper all-archives day of
2024-11-28 — to `--channels` text channels in 10 guilds. Each channel's topic finds a different run of
papers by their titles, chosen so that its digest renders into exactly `--messages` Discord messages
(the channels show up to 50 papers as embeds, raised from the default 30 with /settings, so that six
messages of about six papers each need no Markdown file).
The fake Discord (tests/fakes/discord_server.py) runs `enforce_rate_limits(per_channel=5,
per_seconds=5.0)`: every message answer carries real X-RateLimit-* headers for its channel's bucket,
and a message past the bucket is answered 429. With the default of 6 messages every channel overruns
its bucket once, so discord.py has to wait out the advertised reset.

The limits' minimum for M messages, k per channel: max(M / 50 s (Discord's global limit per bot),
(⌈k / 5⌉ − 1) × 5 s (one channel's bucket)); the adapter deliberately paces at 40/s, so its own floor is
M / 40 s. The wall time is the whole delivery round (`deliver_due()`). Duplicates and losses are counted
from the fake's records (the paper ids of each channel's embeds) and from the ledger.

Ends with one line:
`discord fan-out: <messages> messages to <channels> channels in <s> s; 429s <n>; duplicates <n>; lost <n>`
and exits 1 on a duplicate, a loss or a failed channel. Only 127.0.0.1 is used.
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
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import _common

from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.delivery import DeliveryService
from bot.digests import build_digests
from bot.models import Channel, Digest, Paper, Topic, TopicDigest
from storage.sqlite_store import open_store

warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)

from adapters.discord.adapter import MESSAGES_PER_SECOND, DiscordAdapter  # noqa: E402
from adapters.discord.format import render_digest  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

GLOBAL_PER_SECOND = 50  # Discord's global limit per bot
BUCKET_SIZE = 5
BUCKET_SECONDS = 5.0
GUILDS = 10
# A channel shows up to 30 papers as embeds by default (six messages' worth); these channels raised it
# with /settings, so that a digest of more than five messages carries every paper as an embed.
INLINE_PAPERS = 50


def limit_minimum(messages: int, per_channel: int) -> float:
    """The shortest time Discord's limits (as the fake enforces them) allow for this fan-out."""
    return max(messages / GLOBAL_PER_SECOND, (math.ceil(per_channel / BUCKET_SIZE) - 1) * BUCKET_SECONDS)


def _discord_messages(date: dt.date, announced: int) -> Callable[[Sequence[Paper]], int]:
    """How many Discord messages a one-topic digest of some papers takes (all papers inline)."""

    def count(papers: Sequence[Paper]) -> int:
        """Render and count; a digest that needs the Markdown file counts as too long."""
        digest = Digest(date, (TopicDigest(Topic("Papers", ("x",)), tuple(papers)),), announced)
        messages = render_digest(digest, max_inline_papers=INLINE_PAPERS)
        return len(messages) if all(m.file is None for m in messages) else sys.maxsize

    return count


async def run(options: argparse.Namespace) -> int:
    """Set everything up, deliver one round, check and report."""
    announcement = _common.real_day(options.feed)
    date = announcement.date
    papers = list(announcement.papers)
    defaults = tuple(sorted({c for p in papers for c in p.categories}))  # every paper is in scope
    rng = random.Random(options.seed)
    count_messages = _discord_messages(date, len(papers))
    findable = _common.uniquely_titled(papers)
    runs: dict[int, list[Paper]] = {}

    fake = FakeDiscord()
    await fake.start()
    channel_ids = [900_000_000_000_100_000 + n for n in range(options.channels)]
    rng.shuffle(channel_ids)
    guild_of: dict[int, int] = {}
    for number in range(GUILDS):
        guild_id = 800_000_000_000_000_000 + number
        members = channel_ids[number::GUILDS]
        fake.add_guild(guild_id, [(channel_id, f"papers-{channel_id % 10_000}") for channel_id in members])
        guild_of.update(dict.fromkeys(members, guild_id))
    fake.enforce_rate_limits(per_channel=BUCKET_SIZE, per_seconds=BUCKET_SECONDS)

    with tempfile.TemporaryDirectory(prefix="fanout-discord-") as folder:
        store = await open_store(Path(folder) / "db.sqlite")
        try:
            await store.save_announcement(announcement)
            setup = time.perf_counter()
            for position, channel_id in enumerate(channel_ids):
                start = (position * 17) % len(findable)
                if start not in runs:
                    runs[start] = _common.digest_papers(findable, start, options.messages, count_messages)
                keywords = tuple(_common.title_keyword(paper) for paper in runs[start])
                await store.save_channel(
                    Channel(
                        "discord",
                        str(channel_id),
                        server_id=str(guild_of[channel_id]),
                        active=True,
                        max_inline_papers=INLINE_PAPERS,
                        topics=(Topic("Papers", keywords),),
                    )
                )
            setup_s = time.perf_counter() - setup

            noon = dt.datetime.combine(date, dt.time(12, 0), tzinfo=dt.UTC)
            channels = await store.list_channels()
            digests = list(zip(channels, build_digests(announcement, channels, defaults), strict=True))
            expected = {int(channel.chat_id): [p.arxiv_id for p in d.papers] for channel, d in digests}

            chats = ChannelRegistry(store)
            commands = CommandService(store, defaults, clock=lambda: noon)
            adapter = DiscordAdapter(
                fake.token,
                commands,
                chats,
                api_url=fake.api_url,
                gateway_url=fake.gateway_url,
                guild_id=800_000_000_000_000_000,
                guild_ready_timeout=0.05,
            )
            rendered = sum(len(adapter.render_digest(d, channel)) for channel, d in digests)
            delivery = DeliveryService(
                store, {"discord": adapter}, defaults, clock=lambda: noon, channels=chats
            )
            stop = asyncio.Event()
            task = asyncio.create_task(adapter.run(stop), name="discord adapter")
            await fake.wait_ready(timeout=30)

            started, cpu = time.monotonic(), time.process_time()
            report = await delivery.deliver_due()
            wall, cpu = time.monotonic() - started, time.process_time() - cpu
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            failed = [o for o in report.outcomes if o.result != "ok"]
            behind = [c for c in await store.list_channels() if c.done_up_to != date]
        finally:
            await store.close()
        sent_ledger, pending_ledger = _common.ledger(Path(folder) / "db.sqlite")
    await fake.close()

    received: dict[int, Counter[str]] = {}
    created = 0
    times: list[float] = []
    for channel_id in channel_ids:
        counts: Counter[str] = Counter()
        for message in fake.channel_messages(channel_id):
            created += 1
            times.append(message["time"])
            embeds = (message["body"] or {}).get("embeds") or []
            counts.update(embed["url"].rsplit("/", 1)[-1] for embed in embeds if "url" in embed)
        received[channel_id] = counts
    duplicates = sum(n - 1 for counts in received.values() for n in counts.values() if n > 1)
    lost_fake = sum(1 for chat, ids in expected.items() for paper_id in ids if paper_id not in received[chat])
    lost_ledger = sum(
        1 for chat, ids in expected.items() for paper_id in ids if (str(chat), paper_id) not in sent_ledger
    )
    lost = max(lost_fake, lost_ledger)
    answered_429 = fake.rate_limited_count
    per_bucket = Counter(
        request.path
        for request in fake.requests
        if request.status == 429 and request.path.endswith("/messages")
    )
    beyond_first = sum(n - 1 for n in per_bucket.values())
    most = max((len(fake.channel_messages(c)) for c in channel_ids), default=0)
    minimum = limit_minimum(created, most)
    own_pace = created / MESSAGES_PER_SECOND
    span = max(times) - min(times) if times else 0.0

    rows = [
        (
            "channels",
            f"{options.channels:,}",
            f"in {GUILDS} guilds; buckets of {BUCKET_SIZE} messages / {BUCKET_SECONDS:.0f} s per channel; "
            f"setup {setup_s:.1f} s",
        ),
        (
            "messages",
            f"{created:,}",
            f"{options.messages} a channel by design ({rendered:,} rendered; max {most} a channel); "
            f"{sum(map(len, expected.values())):,} papers as embeds",
        ),
        ("wall time", f"{wall:.1f} s", f"the whole delivery round; first to last message {span:.1f} s"),
        (
            "limit minimum",
            f"{minimum:.1f} s",
            f"max(M/50, (⌈k/5⌉−1)·5 s) with M = {created:,}, k = {most}; "
            f"over it by {(wall / minimum - 1) * 100:.0f} %",
        ),
        (
            "the adapter's own pace",
            f"{own_pace:.1f} s",
            f"M/{MESSAGES_PER_SECOND:.0f} (it stays below Discord's 50/s); "
            f"over it by {(wall / own_pace - 1) * 100:.1f} %",
        ),
        (
            "messages per second",
            f"{created / wall:.1f}",
            f"CPU {cpu:.1f} s in the round "
            f"({cpu / wall * 100:.0f} % of one core: bot and fake in one process)",
        ),
        (
            "429s answered",
            f"{answered_429}",
            f"beyond the first per bucket: {beyond_first} (target 0); "
            f"{fake.invalid_request_count} answers of 401/403/429 in all",
        ),
        ("duplicates", f"{duplicates}", "paper ids seen twice in one channel (fake's records)"),
        (
            "lost",
            f"{lost}",
            f"fake's records {lost_fake}, ledger {lost_ledger}; {pending_ledger} ledger rows left pending",
        ),
        ("channels failed or behind", f"{len(failed)} / {len(behind)}", "outcome not ok / cursor not moved"),
        ("bodies failing Discord's spec", f"{len(fake.validation_errors)}", "validated against its OpenAPI"),
    ]
    _common.print_table("discord fan-out", rows)
    print(
        f"discord fan-out: {created} messages to {options.channels} channels in {wall:.1f} s; "
        f"429s {answered_429}; duplicates {duplicates}; lost {lost}"
    )
    problems = duplicates or lost or pending_ledger or failed or behind or fake.validation_errors
    return 1 if problems else 0


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--messages", type=int, default=6, help="messages in each channel's digest")
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
