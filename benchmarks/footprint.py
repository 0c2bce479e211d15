"""Footprint: memory of a real `arxiv-digest run` with 10,000 channels and a 3,000-paper day, its
start-up time, and the database after 30 simulated days.

    python benchmarks/footprint.py [--channels 10000] [--observe 30] [--days 30] [--ledger-sample 1000]
        [--voting 1000] [--ranking on|off]

1. A SQLite database is seeded with the store's `save_channel`: `--channels` active Telegram chats,
   each with one realistic topic (3–8 keywords, the generator of benchmarks/matching.py). The day
   before's announcement is stored as done, and `--voting` of the chats get 12 votes each on its
   papers, so the bot (with `--ranking on`, its default) fits their models while it delivers.
2. The fake arXiv (in this process, 127.0.0.1) serves a feed of about 3,000 items — the real
   all-archives day of 2024-11-28 doubled (distinct ids), dated today — and the fake Bot API answers.
3. `python -m bot run` starts as a child process aimed at both; "ready" is when the fake Bot API sees
   its first getUpdates. The child fetches the feed, stores the day, matches every channel's topic and
   starts delivering (every chat is due). Its VmHWM (peak resident set) and VmRSS are read from
   /proc/PID/status every 0.1 s from spawn until `--observe` seconds after its first digest message,
   then it gets SIGTERM and must exit 0.
4. The same database then lives through `--days` more announcement days with the store API, as the bot
   would: each day an announcement of ~3,000 papers is saved, the matches of a sample of channels go
   through the ledger (reserve, confirm, cursor, delivery result) after their digest view is stored
   (`save_view`, as delivery does before sending the paged message), and announcements older than
   RETENTION_DAYS (14) are pruned with the store's `prune_announcements` (their views with them).
   The file size is reported with its WAL after a checkpoint (the WAL is then empty), with how much
   of it is free pages, and the share of the digest_views table (dbstat): after the bot's own day
   (it stored one view per chat it delivered to) and after the days, extrapolated to every channel.

Ends with one line:
`footprint: peak RSS <MB> MB with 10000 channels (1000 with votes, RANKING on); ready in <s> s; db <MB> MB
after 30 days`
(MB = 10^6 bytes) and exits 1 if the child fails, the day is not stored whole, or a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import _common

from bot.digests import build_digests
from bot.matching import Matcher
from bot.models import Announcement, Channel, DigestView, Paper, Vote
from bot.schedule import arxiv_today
from bot.views import view_of
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_server import FakeTelegramServer

TARGET_MB = 150
RETENTION_DAYS = 14  # the settings' default (and minimum)
MB = 1_000_000
MIB = 1 << 20


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process in bytes (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024
    return found


@dataclasses.dataclass
class ChildRun:
    """What was seen of the child process."""

    ready_s: float = 0.0
    rss_at_ready: int = 0
    first_digest_s: float = 0.0
    peak: int = 0
    peak_at_s: float = 0.0
    rss_at_end: int = 0
    exit_status: int | None = None
    messages: int = 0
    stored_papers: int = 0
    log_tail: str = ""
    tracebacks: int = 0
    feed_served_s: float = 0.0
    rss_at_feed: int = 0
    rss_at_first_digest: int = 0
    # (seconds after the first digest, VmRSS, messages sent by then), every 30 s while observing
    rss_marks: list[tuple[float, int, int]] = dataclasses.field(default_factory=list)
    views: int = 0  # digest views the bot stored (one per chat it delivered to)
    views_bytes: int = 0
    database_size: int = 0  # the database after the child's day, incl. its WAL after a checkpoint


async def run_child(
    folder: Path, database: Path, feed: bytes, observe: float, ranking: str = "on"
) -> ChildRun:
    """Run `python -m bot run` against both fakes and watch its memory."""
    arxiv = FakeArxiv()
    await arxiv.start()
    arxiv.default_rss = Reply(body=feed)
    telegram = FakeTelegramServer()
    await telegram.start()
    seen = ChildRun()
    log_path = folder / "bot.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "PYTHONPATH": str(_common.ROOT),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "DATABASE_URL": f"sqlite:///{database}",
        "ARXIV_RSS_URL": arxiv.rss_url,
        "ARXIV_API_URL": arxiv.api_url,
        "RECOVERY_DAYS": "0",
        "RANKING": ranking,
        "LOG_LEVEL": "INFO",
    }
    with log_path.open("wb") as log:
        spawned = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=folder,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            deadline = spawned + 300
            until: float | None = None
            while time.monotonic() < deadline and process.returncode is None:
                status = _status(process.pid)
                now = time.monotonic()
                if status.get("VmHWM", 0) > seen.peak:
                    seen.peak, seen.peak_at_s = status["VmHWM"], now - spawned
                seen.rss_at_end = status.get("VmRSS", seen.rss_at_end)
                if not seen.ready_s and (polls := telegram.calls_to("getUpdates")):
                    seen.ready_s = polls[0].time - spawned
                    seen.rss_at_ready = status.get("VmRSS", 0)
                served = [r.finished for r in arxiv.of_kind("rss") if r.finished]
                if not seen.feed_served_s and served:
                    seen.feed_served_s = served[0] - spawned
                    seen.rss_at_feed = status.get("VmRSS", 0)
                if not seen.first_digest_s and (sent := telegram.calls_to("sendMessage", ok=True)):
                    seen.first_digest_s = sent[0].time - spawned
                    seen.rss_at_first_digest = status.get("VmRSS", 0)
                    until = now + observe
                mark = 30.0 * (len(seen.rss_marks) + 1)
                if until is not None and now - (until - observe) >= mark:
                    sent_by_now = len(telegram.calls_to("sendMessage", ok=True))
                    seen.rss_marks.append((mark, status.get("VmRSS", 0), sent_by_now))
                if until is not None and now >= until:
                    break
                await asyncio.sleep(0.1)
            seen.messages = len(telegram.calls_to("sendMessage", ok=True)) + len(
                telegram.calls_to("sendDocument", ok=True)
            )
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                # A round finishes the chats it started (up to 64 digests) before the bot exits.
                try:
                    await asyncio.wait_for(process.wait(), timeout=180)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            seen.exit_status = process.returncode
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await telegram.close()
            await arxiv.close()
    log_text = log_path.read_text(errors="replace")
    seen.tracebacks = log_text.count("Traceback")
    seen.log_tail = "\n".join(log_text.splitlines()[-15:])
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT max(paper_count) FROM announcements").fetchone()
        (seen.views,) = db.execute("SELECT count(*) FROM digest_views").fetchone()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seen.views_bytes = _table_bytes(db, ("digest_views",))
    seen.stored_papers = int(row[0] or 0)
    seen.database_size = _file_size(database)
    return seen


VOTES_EACH = 6  # 👍 and as many 👎 per voting chat: enough for a model (3 and 3 are)


async def seed_votes(store: SqliteStore, papers: list[Paper], today: dt.date, voting: int, seed: int) -> int:
    """The day before's announcement (its digests done), and `voting` chats' votes on its papers.

    Those chats have a model to fit when today's digest is built: with RANKING on (the default), the
    bot fits 1,000 models while it delivers, in its worker thread.
    """
    if voting <= 0:
        return 0
    before = today - dt.timedelta(days=3 if today.weekday() == 0 else 1)
    earlier = _day_papers(papers, -1)  # ids 2999.x: the simulated days use 3000.x and up
    await store.save_announcement(
        Announcement(before, ("cs", "math", "physics"), tuple(earlier), source="rss")
    )
    for channel in await store.list_channels():
        assert channel.id is not None
        await store.set_done_up_to(channel.id, before)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    for number in range(voting):
        chosen = rng.sample(earlier, 2 * VOTES_EACH)
        for index, paper in enumerate(chosen):
            vote = Vote.UP if index < VOTES_EACH else Vote.DOWN
            await store.set_vote("telegram", str(100_000 + number), "1", paper.arxiv_id, before, vote, now)
    return voting


def _day_papers(papers: list[Paper], number: int) -> list[Paper]:
    """The day's papers with ids of simulated day `number` (every day a new set of ~3,000)."""
    return [dataclasses.replace(p, arxiv_id=f"{3000 + number}.{i:05d}") for i, p in enumerate(papers)]


@dataclasses.dataclass(frozen=True)
class SimulatedDays:
    """What the simulated days left: the database's size, announcements kept and pruned, the ledger."""

    size: int
    free: int
    kept: int
    pruned: int
    ledger: int
    ledger_rows_written: int
    ledger_bytes: int
    views: int
    views_written: int
    views_bytes: int
    papers: int
    seconds: float
    last_date_ordinal: int


async def simulate_days(
    database: Path, papers: list[Paper], today: dt.date, days: int, sample: int
) -> SimulatedDays:
    """`days` more announcement days after `today` through the store API, pruning as the bot does."""
    day = today
    dates: list[dt.date] = []
    while len(dates) < days:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            dates.append(day)
    clock_now = [dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)]
    store = await open_store(database, clock=lambda: clock_now[0])
    pruned = 0
    rows = 0
    started = time.perf_counter()
    views_written = 0
    try:
        channels: list[Channel] = (await store.list_channels())[:sample]
        defaults = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
        matcher = Matcher.compile([c.topics[0] for c in channels], defaults)
        matches = matcher.match(papers)  # the same texts every day, under new ids
        # Each delivery stores the chat's digest view first (bot.views.ViewService.daily): built once
        # here with the real view_of (keywords that matched included), then re-dated and re-numbered.
        base = Announcement(date=today, categories=("cs", "math", "physics"), papers=tuple(papers))
        views = [
            view_of(digest, channel.platform, channel.chat_id, defaults, style=channel.style)[0]
            for channel, digest in zip(channels, build_digests(base, channels, defaults), strict=True)
        ]
        index = {paper.arxiv_id: position for position, paper in enumerate(papers)}
        for number, date in enumerate(dates):
            clock_now[0] = dt.datetime.combine(date, dt.time(12), tzinfo=dt.UTC)
            todays = _day_papers(papers, number)
            await store.save_announcement(
                Announcement(date=date, categories=("cs", "math", "physics"), papers=tuple(todays))
            )
            for channel, hits, view in zip(channels, matches, views, strict=True):
                assert channel.id is not None
                ids = [todays[i].arxiv_id for i in hits]
                if ids:  # one reservation for the whole digest (one paged message)
                    await store.save_view(_day_view(view, date, todays, index))
                    views_written += 1
                    await store.reserve_deliveries(channel.id, date, ids)
                    await store.confirm_deliveries(channel.id, ids)
                rows += len(ids)
                await store.set_done_up_to(channel.id, date)
            pruned += await store.prune_announcements(before=date - dt.timedelta(days=RETENTION_DAYS))
        kept = len(await store.announcement_dates(dt.date.min))
    finally:
        await store.close()
    took = time.perf_counter() - started
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        (ledger,) = db.execute("SELECT count(*) FROM deliveries").fetchone()
        (stored_papers,) = db.execute("SELECT count(*) FROM papers").fetchone()
        ledger_bytes = _table_bytes(db, ("deliveries",))
        (views_kept,) = db.execute("SELECT count(*) FROM digest_views").fetchone()
        views_bytes = _table_bytes(db, ("digest_views",))
    size = _file_size(database)
    return SimulatedDays(
        size=size,
        free=free * page_size,
        kept=kept,
        pruned=pruned,
        ledger=ledger,
        ledger_rows_written=rows,
        ledger_bytes=ledger_bytes,
        views=int(views_kept),
        views_written=views_written,
        views_bytes=views_bytes,
        papers=stored_papers,
        seconds=took,
        last_date_ordinal=dates[-1].toordinal(),
    )


def _day_view(view: DigestView, date: dt.date, todays: list[Paper], index: dict[str, int]) -> DigestView:
    """The view of day-0 papers as the view of the same papers announced on `date` (their new ids)."""
    entries = tuple(
        dataclasses.replace(entry, arxiv_id=todays[index[entry.arxiv_id]].arxiv_id) for entry in view.entries
    )
    return dataclasses.replace(view, announcement_date=date, entries=entries)


def _file_size(database: Path) -> int:
    """The database file's size plus its WAL's."""
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _table_bytes(db: sqlite3.Connection, tables: tuple[str, ...]) -> int:
    """Bytes the pages of these tables and their indexes take (from the dbstat virtual table)."""
    try:
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name IN (" + ",".join("?" * len(tables)) + ")",
                tables,
            )
        ]
        total = 0
        for name in names:
            (used,) = db.execute(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", (name,)
            ).fetchone()
            total += int(used)
        return total
    except sqlite3.Error:  # dbstat not compiled in
        return 0


async def run(options: argparse.Namespace) -> int:
    """Seed, run the child, simulate the days, report."""
    real = _common.real_day(options.feed)
    papers = _common.doubled(real.papers)
    today = arxiv_today(dt.datetime.now(dt.UTC))
    feed = _common.feed_xml(today, papers)
    vocab = _common.Vocabulary.of(papers)
    topics = _common.realistic_topics(vocab, options.channels, seed=options.seed)

    with tempfile.TemporaryDirectory(prefix="footprint-") as name:
        folder = Path(name)
        database = folder / "digest.db"
        seeding = time.perf_counter()
        store = await open_store(database)
        try:
            for number, topic in enumerate(topics):
                await store.save_channel(
                    Channel("telegram", str(100_000 + number), active=True, topics=(topic,))
                )
            voted = await seed_votes(store, papers, today, options.voting, options.seed)
        finally:
            await store.close()
        seeded_s = time.perf_counter() - seeding
        seeded_size = _file_size(database)

        child = await run_child(folder, database, feed, options.observe, options.ranking)
        days = await simulate_days(database, papers, today, options.days, options.ledger_sample)

    problems = []
    if child.exit_status != 0:
        problems.append(f"the bot exited with status {child.exit_status}")
    if child.stored_papers != len(papers):
        problems.append(f"the bot stored {child.stored_papers} papers of the {len(papers)} in the feed")
    if not child.first_digest_s:
        problems.append("no digest was sent")
    if child.tracebacks:
        problems.append(f"{child.tracebacks} tracebacks in the bot's log")
    expected_kept = sum(
        1
        for ordinal in range(days.last_date_ordinal - RETENTION_DAYS, days.last_date_ordinal + 1)
        if dt.date.fromordinal(ordinal).weekday() < 5
    )
    if days.kept != expected_kept:
        problems.append(f"{days.kept} announcements kept after pruning, expected {expected_kept}")

    scale = options.channels / max(min(options.ledger_sample, options.channels), 1)
    per_row = days.ledger_bytes / days.ledger if days.ledger else 0.0
    per_day_rows = days.ledger_rows_written / options.days / max(options.ledger_sample, 1)
    sample = min(options.ledger_sample, options.channels)
    per_view = days.views_bytes / days.views if days.views else 0.0
    views_per_day = days.views_bytes / days.kept if days.kept else 0.0  # views live as long as their day
    view_share = child.views_bytes / child.database_size if child.database_size else 0.0
    rows = [
        (
            "channels",
            f"{options.channels:,}",
            f"seeded with save_channel in {seeded_s:.1f} s; database {seeded_size / MB:.1f} MB; "
            f"{voted:,} of them with {2 * VOTES_EACH} votes; RANKING {options.ranking}",
        ),
        (
            "papers in the day",
            f"{len(papers):,}",
            f"feed of {len(feed) / MB:.1f} MB; stored {child.stored_papers:,}",
        ),
        (
            "peak RSS (VmHWM)",
            f"{child.peak / MB:.0f} MB",
            f"= {child.peak / MIB:.0f} MiB, reached {child.peak_at_s:.1f} s after spawn; "
            f"target < {TARGET_MB} MB" + ("" if child.peak / MB < TARGET_MB else " — MISSED"),
        ),
        ("RSS when ready", f"{child.rss_at_ready / MB:.0f} MB", "at the first getUpdates"),
        (
            "RSS when the feed was served",
            f"{child.rss_at_feed / MB:.0f} MB",
            f"{child.feed_served_s:.1f} s after spawn",
        ),
        ("RSS at the first digest", f"{child.rss_at_first_digest / MB:.0f} MB", "every chat's digest built"),
        (
            "RSS at the end",
            f"{child.rss_at_end / MB:.0f} MB",
            f"{options.observe:.0f} s after the first digest; {child.messages:,} messages sent by then",
        ),
        (
            "RSS while delivering",
            ", ".join(f"{rss / MB:.0f}" for _, rss, _ in child.rss_marks) + " MB",
            "every 30 s after the first digest; messages sent by then: "
            + ", ".join(f"{sent:,}" for _, _, sent in child.rss_marks),
        ),
        ("ready", f"{child.ready_s:.2f} s", "from spawn to the fake Bot API's first getUpdates"),
        (
            "first digest",
            f"{child.first_digest_s:.1f} s",
            f"from spawn: feed fetched and stored, {options.channels:,} topics matched",
        ),
        ("exit on SIGTERM", f"{child.exit_status}", "target 0"),
        (
            f"database after {options.days} days",
            f"{days.size / MB:.1f} MB",
            f"incl. WAL after a checkpoint; {days.free / MB:.1f} MB of it free pages "
            "(reused, not returned to the disk)",
        ),
        (
            "announcements kept",
            f"{days.kept}",
            f"{days.pruned} pruned (RETENTION_DAYS {RETENTION_DAYS}); {days.papers:,} papers stored",
        ),
        (
            "delivery ledger",
            f"{days.ledger:,} rows",
            f"{options.ledger_sample:,} channels' matches ({per_day_rows:.0f} a channel a day); "
            f"{days.ledger_bytes / MB:.1f} MB, {per_row:.0f} B a row; never pruned",
        ),
        (
            "digest views, the bot's day",
            f"{child.views:,} views",
            f"one per chat it delivered to; {child.views_bytes / MB:.1f} MB "
            f"({view_share * 100:.1f} % of the {child.database_size / MB:.1f} MB database)",
        ),
        (
            f"digest views after {options.days} days",
            f"{days.views:,} views",
            f"{days.views_written:,} written, the rest pruned with their announcements; "
            f"{days.views_bytes / MB:.1f} MB, {per_view:.0f} B a view",
        ),
        (
            "views of every channel",
            f"{views_per_day * scale / MB:.1f} MB a day",
            f"extrapolated: {views_per_day / MB:.2f} MB an announcement day for {sample:,} channels × "
            f"{scale:.0f}; bounded: kept {days.kept} announcement days, "
            f"{days.views_bytes * scale / MB:.0f} MB at most",
        ),
        (
            "database with every channel's ledger",
            f"{(days.size + (days.ledger_bytes + days.views_bytes) * (scale - 1)) / MB:.0f} MB",
            f"extrapolated: the ledger and the views × {scale:.0f}; the ledger grows by "
            f"{days.ledger_bytes * scale / options.days / MB:.1f} MB an announcement day",
        ),
        ("simulated days took", f"{days.seconds:.1f} s", "through the store API"),
    ]
    _common.print_table("footprint", rows)
    if problems:
        print("PROBLEMS: " + "; ".join(problems), file=sys.stderr)
        print(child.log_tail, file=sys.stderr)
    print(
        f"footprint: peak RSS {child.peak / MB:.0f} MB with {options.channels} channels "
        f"({voted} with votes, RANKING {options.ranking}); "
        f"ready in {child.ready_s:.2f} s; db {days.size / MB:.1f} MB after {options.days} days"
    )
    return 1 if problems else 0


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--observe", type=float, default=30.0, help="seconds to watch after the first digest")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--ledger-sample", type=int, default=1000, help="channels whose deliveries are stored"
    )
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--ranking", choices=("on", "off"), default="on", help="the bot's RANKING (on)")
    parser.add_argument(
        "--voting", type=int, default=1000, help="channels with votes (12 each): their models are fitted"
    )
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
