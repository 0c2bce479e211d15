"""Discord fan-out: every channel's paged digest through the advertised rate-limit buckets, exactly once.

    python benchmarks/fanout_discord.py [--channels 200] [--papers 34] [--file-every 0]
                                        [--style compact] [--bucket 5]

The real `DiscordAdapter` (discord.py, its default pace of 40 messages/s), `DeliveryService` and
`SqliteStore` (a temporary file) deliver one announcement — the real 1,504-paper all-archives day of
2024-11-28 — to `--channels` text channels in 10 guilds. Each channel's topic finds a different run of
`--papers` papers by their titles (34 by default, the anchor day's MLLM digest), shown in `--style`
(`mixed`: compact, full and titles in turn). A digest is ONE paged message (its first page, with the
◀ n/N ▶ and style/file buttons), plus a silent Markdown file for every `--file-every`-th channel
(`Channel.send_file`; 0: none, the default settings).
The fake Discord (tests/fakes/discord_server.py) runs `enforce_rate_limits(per_channel=--bucket,
per_seconds=5.0)`: every message answer carries real X-RateLimit-* headers for its channel's bucket,
and a message past the bucket is answered 429. Discord's bucket is 5 messages / 5 s, so a channel's
one or two messages never overrun it; `--bucket 1` with files makes every file wait out its bucket.
The fake also enforces Discord's global limit, 50 requests a second per bot over any second, with
the global 429 (`"global": true`, retry_after); the 429s counted include those, and the busiest
second the fake saw is reported.

The limits' minimum for M messages, k per channel: max(M / 50 s (Discord's global limit per bot),
(⌈k / bucket⌉ − 1) × 5 s (one channel's bucket)); the adapter deliberately paces at 40/s, so its own
floor is M / 40 s. The wall time is the whole delivery round (`deliver_due()`: the ledger, matching,
storing each chat's view, rendering, sending, confirming).

Checked after the round, from the ledger, each channel's stored view and the fake's records:
lost = a digest paper the ledger does not have as sent, or the stored view does not hold (or every
paper of a channel that got no page message); duplicate = a second page message in one channel. The
page message must show exactly page 1 of the stored view (its embeds and links carry page 1's papers
only: the rest are a button away), its buttons must name that view, only it may notify (the file is
sent with SUPPRESS_NOTIFICATIONS), and a channel with send_file gets its file once.

Ends with one line:
`discord fan-out: <messages> messages to <channels> channels in <s> s; 429s <n>; duplicates <n>; lost <n>`
and exits 1 on a duplicate, a loss, a failed channel or a failed check. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common

from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.delivery import DeliveryService
from bot.digests import build_digests
from bot.models import Channel, LoadedView, Topic
from bot.views import FilePress, PagePress, ViewService, view_of
from storage.sqlite_store import open_store

warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)

from adapters.discord.adapter import MESSAGES_PER_SECOND, DiscordAdapter  # noqa: E402
from adapters.discord.format import render_page  # noqa: E402
from adapters.discord.paging import press_of  # noqa: E402
from tests.fakes.discord_model import SUPPRESS_NOTIFICATIONS_FLAG  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

GLOBAL_PER_SECOND = 50  # Discord's global limit per bot
BUTTON_TYPE = 2  # a message component's type: 2 a button, 3 a string select menu
BUCKET_SECONDS = 5.0
GUILDS = 10
# A paper as a page shows it: a full page's embed URL, a compact or titles page's masked link.
ABS_LINK = re.compile(r"https://arxiv\.org/abs/([^)\s>]+)")


def limit_minimum(messages: int, per_channel: int, bucket: int) -> float:
    """The shortest time Discord's limits (as the fake enforces them) allow for this fan-out."""
    return max(messages / GLOBAL_PER_SECOND, (math.ceil(per_channel / bucket) - 1) * BUCKET_SECONDS)


@dataclass(frozen=True, slots=True)
class StoredView:
    """What the store holds for one channel after the round: its daily view and that view's page 1."""

    view_id: int
    paper_ids: tuple[str, ...]
    first_page: tuple[str, ...]
    page_count: int
    message_ref: str | None


def _shown_papers(message: dict[str, Any]) -> list[str]:
    """The paper ids a posted message shows, in order (embed URLs and masked links, each once)."""
    texts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or ():
        texts.extend(str(embed.get(key) or "") for key in ("url", "title", "description"))
        texts.extend(str(item.get("value") or "") for item in embed.get("fields") or ())
    return list(dict.fromkeys(ABS_LINK.findall("\n".join(texts))))


def _button_views(message: dict[str, Any]) -> set[int]:
    """The view ids the message's page and file buttons name (-1 for a custom_id no press decodes).

    Only buttons (component type 2): the 👍/👎/🔖 select menus (type 3, `fm:…`) are choices, not presses.
    """
    named = set()
    for row in message.get("components") or ():
        for item in row.get("components") or ():
            if item.get("type") != BUTTON_TYPE:
                continue
            press = press_of(str(item.get("custom_id") or ""))
            if isinstance(press, PagePress | FilePress):
                named.add(press.view_id)
            elif press is None:
                named.add(-1)
    return named


async def run(options: argparse.Namespace) -> int:
    """Set everything up, deliver one round, check and report."""
    announcement = _common.real_day(options.feed)
    date = announcement.date
    papers = list(announcement.papers)
    defaults = tuple(sorted({c for p in papers for c in p.categories}))  # every paper is in scope
    rng = random.Random(options.seed)
    findable = _common.uniquely_titled(papers)
    styles = _common.STYLES[options.style]

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
    fake.enforce_rate_limits(per_channel=options.bucket, per_seconds=BUCKET_SECONDS)

    with tempfile.TemporaryDirectory(prefix="fanout-discord-") as folder:
        store = await open_store(Path(folder) / "db.sqlite")
        try:
            await store.save_announcement(announcement)
            setup = time.perf_counter()
            for position, channel_id in enumerate(channel_ids):
                run_of = _common.paper_run(findable, (position * 17) % len(findable), options.papers)
                keywords = tuple(_common.title_keyword(paper) for paper in run_of)
                await store.save_channel(
                    Channel(
                        "discord",
                        str(channel_id),
                        server_id=str(guild_of[channel_id]),
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
            expected = {int(channel.chat_id): [p.arxiv_id for p in d.papers] for channel, d in digests}
            with_file = {int(channel.chat_id) for channel in channels if channel.send_file}

            chats = ChannelRegistry(store)
            views = ViewService(store, defaults, clock=lambda: noon)
            commands = CommandService(store, defaults, clock=lambda: noon)
            adapter = DiscordAdapter(
                fake.token,
                commands,
                chats,
                views=views,
                api_url=fake.api_url,
                gateway_url=fake.gateway_url,
                guild_id=800_000_000_000_000_000,
                guild_ready_timeout=0.05,
            )
            rendered = 0
            for channel, digest in digests:  # what the round will send: views made here, not stored
                view, view_papers = view_of(
                    digest, channel.platform, channel.chat_id, defaults, style=channel.style
                )
                rendered += len(adapter.render_digest(LoadedView(view, view.entries, view_papers), channel))
            delivery = DeliveryService(
                store, {"discord": adapter}, defaults, clock=lambda: noon, channels=chats, views=views
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

            stored: dict[int, StoredView] = {}
            for channel_id in channel_ids:
                daily = await store.daily_view("discord", str(channel_id), date)
                if daily is None or daily.id is None:
                    continue
                loaded = await views.load(daily.id, "discord", str(channel_id))
                page = render_page(loaded) if loaded is not None else None
                stored[channel_id] = StoredView(
                    daily.id,
                    daily.paper_ids,
                    page.paper_ids if page else (),
                    page.page_count if page else 0,
                    daily.message_ref,
                )
        finally:
            await store.close()
        sent_ledger, pending_ledger = _common.ledger(Path(folder) / "db.sqlite")
    await fake.close()

    created = 0
    times: list[float] = []
    extra_pages = extra_files = missing_files = unasked_files = 0
    got_file = 0
    no_page: list[int] = []
    wrong_page: list[int] = []
    wrong_buttons: list[int] = []
    loud: list[int] = []  # channels where more than the page message notified
    for channel_id in channel_ids:
        messages = fake.channel_messages(channel_id)
        created += len(messages)
        times.extend(message["time"] for message in messages)
        pages = [m["message"] for m in messages if not m["files"]]
        files = [m["message"] for m in messages if m["files"]]
        extra_pages += max(len(pages) - 1, 0)
        wanted = 1 if channel_id in with_file else 0
        extra_files += max(len(files) - wanted, 0) if wanted else 0
        unasked_files += len(files) if not wanted else 0
        missing_files += max(wanted - len(files), 0)
        got_file += bool(wanted and files)
        if sum(not int(m.get("flags") or 0) & SUPPRESS_NOTIFICATIONS_FLAG for m in pages + files) > 1:
            loud.append(channel_id)
        kept = stored.get(channel_id)
        if not pages:
            no_page.append(channel_id)
            continue
        if kept is None or tuple(_shown_papers(pages[0])) != kept.first_page:
            wrong_page.append(channel_id)
        if kept is None or _button_views(pages[0]) - {kept.view_id} or not _button_views(pages[0]):
            wrong_buttons.append(channel_id)
    duplicates = extra_pages
    lost_ledger = sum(
        1 for chat, ids in expected.items() for paper_id in ids if (str(chat), paper_id) not in sent_ledger
    )
    lost_view = sum(
        1
        for chat, ids in expected.items()
        for paper_id in ids
        if chat not in stored or paper_id not in stored[chat].paper_ids
    )
    lost_unsent = sum(len(expected[chat]) for chat in no_page)
    lost = max(lost_ledger, lost_view, lost_unsent)
    answered_429 = fake.rate_limited_count
    per_bucket = Counter(
        request.path
        for request in fake.requests
        if request.status == 429 and request.path.endswith("/messages")
    )
    beyond_first = sum(n - 1 for n in per_bucket.values())
    most = max((len(fake.channel_messages(c)) for c in channel_ids), default=0)
    minimum = limit_minimum(created, most, options.bucket)
    own_pace = created / MESSAGES_PER_SECOND
    span = max(times) - min(times) if times else 0.0
    page_counts = [kept.page_count for kept in stored.values()]
    papers_expected = sum(map(len, expected.values()))
    on_page_one = sum(len(kept.first_page) for kept in stored.values())
    referenced = sum(kept.message_ref is not None for kept in stored.values())

    rows = [
        (
            "channels",
            f"{options.channels:,}",
            f"in {GUILDS} guilds; style {options.style}; send_file on {len(with_file):,}; "
            f"buckets of {options.bucket} messages / {BUCKET_SECONDS:.0f} s per channel; "
            f"setup {setup_s:.1f} s",
        ),
        (
            "messages",
            f"{created:,}",
            f"1 paged message a channel + {len(with_file):,} files ({rendered:,} rendered; "
            f"max {most} a channel)",
        ),
        (
            "papers",
            f"{papers_expected:,}",
            f"{options.papers} a digest; pages a digest median {statistics.median(page_counts or [0]):.0f}, "
            f"max {max(page_counts, default=0)}; {on_page_one:,} on the page messages (page 1)",
        ),
        ("wall time", f"{wall:.1f} s", f"the whole delivery round; first to last message {span:.1f} s"),
        (
            "limit minimum",
            f"{minimum:.1f} s",
            f"max(M/50, (⌈k/{options.bucket}⌉−1)·5 s) with M = {created:,}, k = {most}; "
            f"over it by {(wall / minimum - 1) * 100:.0f} %"
            if minimum
            else "no messages",
        ),
        (
            "the adapter's own pace",
            f"{own_pace:.1f} s",
            f"M/{MESSAGES_PER_SECOND:.0f} (it stays below Discord's 50/s); "
            f"over it by {(wall / own_pace - 1) * 100:.1f} %"
            if own_pace
            else "no messages",
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
            f"beyond the first per bucket: {beyond_first} (target 0); global 429s "
            f"{fake.global_rate_limited_count}; {fake.invalid_request_count} answers of 401/403/429 in all",
        ),
        (
            "busiest second",
            f"{fake.global_window_peak} requests",
            f"the most bot requests the fake saw within one second (the global limit: {GLOBAL_PER_SECOND})",
        ),
        ("duplicates", f"{duplicates}", "second page messages in one channel (fake's records)"),
        (
            "lost",
            f"{lost}",
            f"ledger {lost_ledger}, stored views {lost_view}, channels without a page message "
            f"{len(no_page)} ({lost_unsent} papers); {pending_ledger} ledger rows left pending",
        ),
        (
            "page messages showing their view's page 1",
            f"{options.channels - len(no_page) - len(wrong_page):,} / {options.channels:,}",
            f"papers of the posted embeds and links = render_page(stored view) page 0; "
            f"buttons naming another view or none: {len(wrong_buttons)}",
        ),
        (
            "files",
            f"{got_file:,} / {len(with_file):,}",
            f"missing {missing_files}, extra {extra_files}, to channels that did not ask {unasked_files}",
        ),
        (
            "channels notifying more than once",
            f"{len(loud)}",
            "the page notifies, the file carries SUPPRESS_NOTIFICATIONS",
        ),
        (
            "views stored",
            f"{len(stored):,}",
            f"daily views in digest_views; {referenced:,} of them with the message's reference",
        ),
        ("channels failed or behind", f"{len(failed)} / {len(behind)}", "outcome not ok / cursor not moved"),
        ("bodies failing Discord's spec", f"{len(fake.validation_errors)}", "validated against its OpenAPI"),
    ]
    _common.print_table("discord fan-out", rows)
    print(
        f"discord fan-out: {created} messages to {options.channels} channels in {wall:.1f} s; "
        f"429s {answered_429}; duplicates {duplicates}; lost {lost}"
    )
    problems = (
        duplicates
        or lost
        or pending_ledger
        or failed
        or behind
        or fake.validation_errors
        or wrong_page
        or wrong_buttons
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
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--papers", type=int, default=34, help="papers in each channel's digest")
    parser.add_argument(
        "--file-every", type=int, default=0, help="every K-th channel has send_file on (0: none)"
    )
    parser.add_argument(
        "--style", choices=sorted(_common.STYLES), default="compact", help="the channels' style"
    )
    parser.add_argument("--bucket", type=int, default=5, help="messages per channel per 5 s (Discord: 5)")
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
