"""Footprint: memory of a real `arxiv-digest run` over its whole delivery round to 10,000 channels, its
start-up time, and the database after 30 simulated announcement days with every channel's ledger.

    python benchmarks/footprint.py [--channels 10000] [--voting 1000] [--ranking on|off] [--days 30]
        [--days-from DIR|all-archives|doubled] [--database-url sqlite:///PATH] [--no-round]
        [--round-timeout 1800] [--malloc-arena-max 1]

1. The database (`--database-url`, a new one; by default `sqlite:///` in a temporary directory) is
   opened through `open_benchmark_store`, the one place the store is opened (the real store:
   `storage.sqlite_store.open_store` today; a PostgreSQL URL will be opened there too), and seeded with
   the store's `save_channel`: `--channels` active Telegram chats, each with one realistic topic (3–8
   keywords, the generator of benchmarks/matching.py). The day before's announcement is stored as
   done, and `--voting` of the chats get 12 votes each on its papers, so the bot (with `--ranking on`,
   its default) fits their models while it delivers.
2. The fake arXiv (in this process, 127.0.0.1) serves a feed of about 3,000 items — the real
   all-archives day of 2024-11-28 doubled (distinct ids), dated today — and the fake Bot API answers
   (30 messages/s overall, as Telegram).
3. `python -m bot run` starts as a child process aimed at both (MALLOC_ARENA_MAX=1 in its environment,
   as the Docker image sets it; `--malloc-arena-max ''` leaves it unset); "ready" is when the fake Bot
   API sees its first getUpdates. The child fetches the feed, stores the day, matches every channel's
   topic and delivers (every chat is due). Its VmHWM (peak resident set) and VmRSS are read from
   /proc/PID/status every 0.1 s from spawn until THE WHOLE ROUND IS DONE: every channel's cursor
   (`done_up_to`, read from the database the child writes) has reached today, whether its digest was
   sent or nothing matched. Then it gets SIGTERM and must exit 0. (`--no-round` skips the child.)
4. The same database then lives through `--days` more announcement days, written through the real
   store's own API as ingest and delivery write it, for EVERY channel (no sample, no extrapolation):
   each day `save_announcement` of a real day's papers, one matching pass (`build_digests`), then per
   channel, 64 at a time as delivery's workers: `delivered_ids`, and with papers left `save_view` (the
   real `view_of`), `reserve_deliveries`, `confirm_deliveries`, `set_view_message`; then
   `set_done_up_to` and `record_delivery_result`; then `prune_announcements(before=date −
   RETENTION_DAYS (14))` as ingest prunes, which drops the pruned days' views and ledger rows. No
   message is sent, and the connection commits without fsync (`PRAGMA synchronous = OFF`: the same
   pages, much faster). The days' papers (`--days-from`): by default the first `--days` of the 40 real
   consecutive days of ../shared/data/arxiv-days/ (cs.AI/CL/CV/LG/MA/RO, 206–1,299 papers a day), re-dated
   to the weekdays after today; `all-archives`: the real 1,504-paper all-archives day every day (new
   ids each day, a steady input); `doubled`: the round's 3,008 papers every day.
   After each day the database's size is measured (SQLite: the file and its WAL after a checkpoint,
   with its free pages) and printed to stderr; the table lists it day by day.

Ends with one line:
`footprint: peak RSS <MB> MB over the whole round (10000 of 10000 chats in <s> s; 1000 with votes,
RANKING on); ready in <s> s; db <MB> MB after 30 days with all 10000 chats' ledger (<n> rows), +<p> %
from day 15` (MB = 10^6 bytes; +<p> %: how much the database grew from simulated day 15 to the last)
and exits 1 if the child fails or does not finish the round within `--round-timeout`, the day is not
stored whole, the pruning keeps the wrong days, or a target is missed: peak RSS < 150 MB, the database
< 300 MB after the days, and level from day 15 on (growing < 5 %).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common

from bot.digests import build_digests
from bot.feeds import parse_feed
from bot.models import Announcement, Channel, DeliveryResult, Digest, Paper, TopicDigest, Vote
from bot.schedule import arxiv_today
from bot.views import view_of
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_server import FakeTelegramServer

TARGET_MB = 150
DB_TARGET_MB = 300
ARXIV_DAYS = _common.ROOT.parent / "shared" / "data" / "arxiv-days"
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


# -- the database: opened, sized and read in one place each, by its URL --------------------------------
# Today `sqlite:///PATH` only; a PostgreSQL engine will add `postgresql://…` here (open, size, read).


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///PATH` URL names; any other URL is a one-line error."""
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise SystemExit(
            f"--database-url {url.split('@')[-1]!r}: only sqlite:///PATH is supported for now "
            "(sqlite:///relative.db or sqlite:////absolute.db)"
        )
    return Path(url.removeprefix("sqlite:///"))


async def open_benchmark_store(url: str, clock: Callable[[], dt.datetime] | None = None) -> SqliteStore:
    """The real store at `url`, through the store's own `open_store` (the only place it is opened)."""
    return await open_store(sqlite_path(url), clock=clock)


async def without_waiting_for_the_disk(store: SqliteStore) -> None:
    """Commit without fsync on this connection (SQLite: `PRAGMA synchronous = OFF`): the same rows and
    pages are written, so sizes are unchanged; the simulated days take 5x less time (measured: 1,000
    chats x 2 days 28 s → 5 s on this machine under load)."""
    connection = store._db  # the store's own aiosqlite connection (a benchmark may look inside)
    assert connection is not None
    await connection.execute("PRAGMA synchronous = OFF")


def _connect(url: str) -> sqlite3.Connection:
    """A plain connection for measuring (not the bot's: sizes, counts, checkpoints)."""
    return sqlite3.connect(sqlite_path(url), timeout=30)


def database_size(url: str) -> tuple[int, int]:
    """(bytes the database takes on disk, bytes of it that are free pages): for SQLite the file plus
    its WAL after a checkpoint (the WAL is then empty), free pages from the freelist."""
    path = sqlite_path(url)
    with contextlib.closing(_connect(url)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0), int(free) * int(page_size)


def query_int(url: str, sql: str, *args: object) -> int:
    """The first column of the first row of a counting query (0 for none or NULL)."""
    with contextlib.closing(_connect(url)) as db:
        row = db.execute(sql, args).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def done_count(url: str, today: dt.date) -> int:
    """Channels whose cursor reached `today` (their digest of it sent, or nothing matched)."""
    try:
        return query_int(url, "SELECT count(*) FROM channels WHERE done_up_to >= ?", today.isoformat())
    except sqlite3.Error:  # being migrated or locked a moment: ask again next time
        return 0


def table_bytes(url: str, tables: tuple[str, ...]) -> int:
    """Bytes the pages of these tables and their indexes take (SQLite's dbstat virtual table)."""
    with contextlib.closing(_connect(url)) as db:
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
    # (seconds after the first digest, VmRSS, messages sent by then, chats done by then), every 30 s
    rss_marks: list[tuple[float, int, int, int]] = dataclasses.field(default_factory=list)
    chats_done: int = 0  # channels whose cursor reached today (digest sent, or nothing matched)
    round_s: float = 0.0  # from spawn until every channel was done (0: the round did not finish)
    views: int = 0  # digest views the bot stored (one per chat it delivered to)
    views_bytes: int = 0
    database_size: int = 0  # the database after the child's day, incl. its WAL after a checkpoint


async def run_child(
    folder: Path,
    url: str,
    feed: bytes,
    today: dt.date,
    channels: int,
    ranking: str,
    round_timeout: float,
    malloc_arena_max: str,
) -> ChildRun:
    """Run `python -m bot run` against both fakes; watch its memory until every chat's round is done."""
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
        "DATABASE_URL": url,
        "ARXIV_RSS_URL": arxiv.rss_url,
        "ARXIV_API_URL": arxiv.api_url,
        "RECOVERY_DAYS": "0",
        "RANKING": ranking,
        "LOG_LEVEL": "INFO",
    }
    if malloc_arena_max:
        env["MALLOC_ARENA_MAX"] = malloc_arena_max  # the Docker image sets 1
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
            await _watch(seen, process, spawned, arxiv, telegram, url, today, channels, round_timeout)
            seen.messages = len(telegram.calls_to("sendMessage", ok=True)) + len(
                telegram.calls_to("sendDocument", ok=True)
            )
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
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
    seen.stored_papers = query_int(url, "SELECT max(paper_count) FROM announcements")
    seen.views = query_int(url, "SELECT count(*) FROM digest_views")
    seen.database_size, _ = database_size(url)
    seen.views_bytes = table_bytes(url, ("digest_views",))
    return seen


async def _watch(
    seen: ChildRun,
    process: asyncio.subprocess.Process,
    spawned: float,
    arxiv: FakeArxiv,
    telegram: FakeTelegramServer,
    url: str,
    today: dt.date,
    channels: int,
    round_timeout: float,
) -> None:
    """Read the child's VmHWM/VmRSS every 0.1 s from spawn until every channel's cursor reached today
    (the whole delivery round: every chat got its digest or had nothing), or `round_timeout` passed."""
    deadline = spawned + round_timeout
    next_done_check = 0.0
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
        if now >= next_done_check:  # the cursors, read from the database the child writes
            next_done_check = now + 1.0
            seen.chats_done = done_count(url, today)
        if seen.first_digest_s:
            mark = 30.0 * (len(seen.rss_marks) + 1)
            if now - spawned - seen.first_digest_s >= mark:
                sent_by_now = len(telegram.calls_to("sendMessage", ok=True))
                seen.rss_marks.append((mark, status.get("VmRSS", 0), sent_by_now, seen.chats_done))
        if seen.chats_done >= channels:
            seen.round_s = now - spawned
            return
        await asyncio.sleep(0.1)


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
    """The day's papers with ids of simulated day `number` (every day a new set)."""
    return [dataclasses.replace(p, arxiv_id=f"{3000 + number}.{i:05d}") for i, p in enumerate(papers)]


def real_days(folder: Path, count: int) -> list[Announcement]:
    """The first `count` announcement days of ../shared/data/arxiv-days/ (40 consecutive real days of
    cs.AI/CL/CV/LG/MA/RO, 206–1,299 papers each), parsed from their feeds, real ids and texts."""
    try:
        index = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read {folder / 'index.json'} ({error}): pass --days-from DIR") from None
    days = []
    for entry in index["days"]:
        if entry.get("kind") != "announcement":
            continue
        parsed = parse_feed(gzip.decompress((folder / entry["feed"]).read_bytes()), ())
        if isinstance(parsed, Announcement):
            days.append(parsed)
        if len(days) == count:
            return days
    raise SystemExit(f"{folder} holds {len(days)} announcement days, {count} asked for (--days)")


@dataclasses.dataclass(frozen=True)
class DayMark:
    """The database after one simulated day (its prune included)."""

    date: dt.date
    papers: int
    chats_with_matches: int
    rows_written: int
    ledger_rows: int  # in the ledger after the day's prune
    size: int
    free: int


@dataclasses.dataclass
class SimulatedDays:
    """What the simulated days left."""

    marks: list[DayMark]
    kept: int
    pruned: int
    ledger: int
    ledger_bytes: int
    views: int
    views_written: int
    views_bytes: int
    papers: int
    seconds: float
    last_date: dt.date
    stored_dates: list[dt.date]  # every announcement date stored before and during the days


async def simulate_days(
    url: str, announcements: list[Announcement], today: dt.date, workers: int = 64
) -> SimulatedDays:
    """One announcement day after `today` per announcement, written through the real store's API as
    the bot's ingest and delivery write it, for every channel in the database.

    Each day: `save_announcement` (the real day's papers, re-dated), one matching pass over every
    channel (`build_digests`, as delivery does), then per channel, `workers` at a time: `delivered_ids`
    of its matches, and with papers left `save_view` (the real `view_of`), `reserve_deliveries`,
    `confirm_deliveries`, `set_view_message`; then `set_done_up_to` and `record_delivery_result`.
    Then `prune_announcements(before=date - RETENTION_DAYS)` as ingest does, which drops the pruned
    days' views and ledger rows. No message is sent: only the store is exercised, and it is the real one.
    """
    dates: list[dt.date] = []
    day = today
    while len(dates) < len(announcements):
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            dates.append(day)
    clock_now = [dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)]
    store = await open_benchmark_store(url, clock=lambda: clock_now[0])
    await without_waiting_for_the_disk(store)
    defaults = _common.ANCHOR_CATEGORIES
    marks: list[DayMark] = []
    pruned = views_written = 0
    started = time.perf_counter()
    try:
        stored_dates = [*await store.announcement_dates(dt.date.min), *dates]
        channels: list[Channel] = await store.list_channels()
        for date, real in zip(dates, announcements, strict=True):
            clock_now[0] = dt.datetime.combine(date, dt.time(12), tzinfo=dt.UTC)
            announcement = dataclasses.replace(real, date=date)
            await store.save_announcement(announcement)
            digests = build_digests(announcement, channels, defaults)
            rows_written, with_matches = await _deliver_day(store, channels, digests, date, defaults, workers)
            views_written += with_matches
            pruned += await store.prune_announcements(before=date - dt.timedelta(days=RETENTION_DAYS))
            size, free = database_size(url)
            ledger_rows = query_int(url, "SELECT count(*) FROM deliveries")
            marks.append(
                DayMark(date, len(announcement.papers), with_matches, rows_written, ledger_rows, size, free)
            )
            print(
                f"  day {len(marks):2d} {date}: {len(announcement.papers):5,} papers, "
                f"{with_matches:,} chats with matches, {rows_written:,} ledger rows written, "
                f"ledger {ledger_rows:,} rows; db {size / MB:.1f} MB ({free / MB:.1f} MB free pages)",
                file=sys.stderr,
                flush=True,
            )
        kept = len(await store.announcement_dates(dt.date.min))
    finally:
        await store.close()
    return SimulatedDays(
        marks=marks,
        kept=kept,
        pruned=pruned,
        ledger=marks[-1].ledger_rows,
        ledger_bytes=table_bytes(url, ("deliveries",)),
        views=query_int(url, "SELECT count(*) FROM digest_views"),
        views_written=views_written,
        views_bytes=table_bytes(url, ("digest_views",)),
        papers=query_int(url, "SELECT count(*) FROM papers"),
        seconds=time.perf_counter() - started,
        last_date=dates[-1],
        stored_dates=stored_dates,
    )


async def _deliver_day(
    store: SqliteStore,
    channels: list[Channel],
    digests: list[Digest],
    date: dt.date,
    defaults: tuple[str, ...],
    workers: int,
) -> tuple[int, int]:
    """Every channel's writes for the day, `workers` channels at a time (as delivery's workers):
    (ledger rows written, chats whose digest had papers)."""
    positions = iter(range(len(channels)))
    totals = [0, 0]

    async def worker() -> None:
        for position in positions:
            # Not `totals[0] += await …`: that reads totals[0] before the await, losing other workers' rows.
            sent = await _deliver_one(store, channels[position], digests[position], date, defaults)
            totals[0] += sent
            totals[1] += bool(digests[position].matched_count)

    await asyncio.gather(*(worker() for _ in range(min(workers, len(channels)))))
    return totals[0], totals[1]


async def _deliver_one(
    store: SqliteStore, channel: Channel, digest: Digest, date: dt.date, defaults: tuple[str, ...]
) -> int:
    """What delivery writes for one channel's digest (bot.delivery and bot.views), without a message."""
    assert channel.id is not None
    ids = [paper.arxiv_id for paper in digest.papers]
    delivered = await store.delivered_ids(channel.id, ids) if ids else set()
    left = [i for i in ids if i not in delivered]
    result, sent = "empty", 0
    if left:
        if delivered:
            digest = dataclasses.replace(
                digest,
                topics=tuple(
                    TopicDigest(t.topic, tuple(p for p in t.papers if p.arxiv_id not in delivered))
                    for t in digest.topics
                ),
            )
        view, _ = view_of(digest, channel.platform, channel.chat_id, defaults, style=channel.style)
        saved = await store.save_view(view)
        pending = await store.reserve_deliveries(channel.id, date, left)
        await store.confirm_deliveries(channel.id, pending)
        if saved.id is not None:
            await store.set_view_message(saved.id, str(10_000_000 + channel.id))
        result, sent = "ok", len(pending)
    await store.set_done_up_to(channel.id, date)
    await store.record_delivery_result(
        DeliveryResult(
            channel_id=channel.id,
            delivered_at=dt.datetime.combine(date, dt.time(12), tzinfo=dt.UTC),
            announcement_date=date,
            result=result,
            papers=sent,
        )
    )
    return sent


def _flat_from(marks: list[DayMark], day: int) -> float:
    """How much the database grew from simulated day `day` (1-based) to the last, as a share of its size
    on that day (0.03 = 3 %)."""
    if len(marks) < day:
        return 0.0
    base = marks[day - 1].size
    return (max(m.size for m in marks[day - 1 :]) - base) / base if base else 0.0


async def run(options: argparse.Namespace) -> int:
    """Seed, run the child over the whole round, simulate the days, report."""
    real = _common.real_day(options.feed)
    papers = _common.doubled(real.papers)
    today = arxiv_today(dt.datetime.now(dt.UTC))
    feed = _common.feed_xml(today, papers)
    vocab = _common.Vocabulary.of(papers)
    topics = _common.realistic_topics(vocab, options.channels, seed=options.seed)
    if str(options.days_from) in ("doubled", "all-archives"):  # one day, every day, with new ids
        every_day = papers if str(options.days_from) == "doubled" else list(real.papers)
        announcements = [
            Announcement(today, ("cs", "math", "physics"), tuple(_day_papers(every_day, number)))
            for number in range(options.days)
        ]
    else:
        announcements = real_days(options.days_from, options.days) if options.days else []

    with tempfile.TemporaryDirectory(prefix="footprint-") as name:
        folder = Path(name)
        url = options.database_url or f"sqlite:///{folder / 'digest.db'}"
        seeding = time.perf_counter()
        store = await open_benchmark_store(url)
        try:
            if await store.list_channels(active_only=False):
                raise SystemExit(
                    f"--database-url {sqlite_path(url)}: the database must be new (it has channels)"
                )
            for number, topic in enumerate(topics):
                await store.save_channel(
                    Channel("telegram", str(100_000 + number), active=True, topics=(topic,))
                )
            voted = await seed_votes(store, papers, today, options.voting, options.seed)
        finally:
            await store.close()
        seeded_s = time.perf_counter() - seeding
        seeded_size, _ = database_size(url)

        child = ChildRun()
        if options.round:
            child = await run_child(
                folder,
                url,
                feed,
                today,
                options.channels,
                options.ranking,
                options.round_timeout,
                options.malloc_arena_max,
            )
            print(  # at once: the days take minutes more
                f"  the round: peak RSS {child.peak / MB:.0f} MB at {child.peak_at_s:.0f} s; "
                f"{child.chats_done:,} of {options.channels:,} chats in {child.round_s:.0f} s; "
                f"exit {child.exit_status}",
                file=sys.stderr,
                flush=True,
            )
        ledger_after_round = query_int(url, "SELECT count(*) FROM deliveries")
        days = await simulate_days(url, announcements, today) if announcements else None

    problems = (
        _problems(child, days, options, len(papers)) if options.round else _problems_of_days(days, options)
    )
    rows = _rows(options, child, days, seeded_s, seeded_size, voted, papers, feed, ledger_after_round)
    _common.print_table("footprint", rows)
    if problems:
        print("PROBLEMS: " + "; ".join(problems), file=sys.stderr)
        print(child.log_tail, file=sys.stderr)
    db = (
        f"db {days.marks[-1].size / MB:.1f} MB after {options.days} days with all {options.channels} "
        f"chats' ledger ({days.ledger:,} rows), +{_flat_from(days.marks, FLAT_FROM) * 100:.1f} % "
        f"from day {FLAT_FROM}"
        if days
        else "no simulated days"
    )
    memory = (
        f"peak RSS {child.peak / MB:.0f} MB over the whole round ({child.chats_done} of {options.channels} "
        f"chats in {child.round_s:.0f} s; {voted} with votes, RANKING {options.ranking}); "
        f"ready in {child.ready_s:.2f} s"
        if options.round
        else f"no round (--no-round), {options.channels} chats"
    )
    print(f"footprint: {memory}; {db}")
    return 1 if problems else 0


FLAT_FROM = 15  # the simulated day from which the database must stay level
FLAT_SHARE = 0.05  # "level": it grows by less than this share of its size on that day


def _problems(
    child: ChildRun, days: SimulatedDays | None, options: argparse.Namespace, papers: int
) -> list[str]:
    """What went wrong: the child, the round, the pruning, the targets."""
    problems: list[str] = []
    if child.exit_status != 0:
        problems.append(f"the bot exited with status {child.exit_status}")
    if child.stored_papers != papers:
        problems.append(f"the bot stored {child.stored_papers} papers of the {papers} in the feed")
    if not child.first_digest_s:
        problems.append("no digest was sent")
    if child.chats_done < options.channels:
        problems.append(
            f"the round did not finish within {options.round_timeout:.0f} s "
            f"({child.chats_done} of {options.channels} chats done)"
        )
    if child.tracebacks:
        problems.append(f"{child.tracebacks} tracebacks in the bot's log")
    if child.peak / MB >= TARGET_MB:
        problems.append(f"peak RSS {child.peak / MB:.0f} MB, target < {TARGET_MB} MB")
    return problems + _problems_of_days(days, options)


def _problems_of_days(days: SimulatedDays | None, options: argparse.Namespace) -> list[str]:
    """What went wrong in the simulated days: the pruning, the database's size and level."""
    problems: list[str] = []
    if days is None:
        return problems
    horizon = days.last_date - dt.timedelta(days=RETENTION_DAYS)
    expected_kept = sum(1 for date in days.stored_dates if date >= horizon)
    if days.kept != expected_kept:
        problems.append(f"{days.kept} announcements kept after pruning, expected {expected_kept}")
    if days.marks[-1].size / MB >= DB_TARGET_MB:
        problems.append(
            f"db {days.marks[-1].size / MB:.1f} MB after {options.days} days, target < {DB_TARGET_MB} MB"
        )
    if len(days.marks) >= FLAT_FROM and _flat_from(days.marks, FLAT_FROM) >= FLAT_SHARE:
        problems.append(
            f"the database grew {_flat_from(days.marks, FLAT_FROM) * 100:.1f} % after day {FLAT_FROM} "
            f"(level: < {FLAT_SHARE * 100:.0f} %)"
        )
    return problems


def _rows(
    options: argparse.Namespace,
    child: ChildRun,
    days: SimulatedDays | None,
    seeded_s: float,
    seeded_size: int,
    voted: int,
    papers: list[Paper],
    feed: bytes,
    ledger_after_round: int,
) -> list[tuple[str, str, str]]:
    """The table's rows."""
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
            f"= {child.peak / MIB:.0f} MiB, reached {child.peak_at_s:.1f} s after spawn, over the whole "
            f"round; target < {TARGET_MB} MB"
            + ("" if child.peak / MB < TARGET_MB else " — MISSED")
            + f"; MALLOC_ARENA_MAX={options.malloc_arena_max or 'unset'}",
        ),
        ("RSS when ready", f"{child.rss_at_ready / MB:.0f} MB", "at the first getUpdates"),
        (
            "RSS when the feed was served",
            f"{child.rss_at_feed / MB:.0f} MB",
            f"{child.feed_served_s:.1f} s after spawn",
        ),
        ("RSS at the first digest", f"{child.rss_at_first_digest / MB:.0f} MB", "every chat's digest built"),
        (
            "the whole round",
            f"{child.round_s:.0f} s",
            f"from spawn until every channel's cursor reached today: {child.chats_done:,} of "
            f"{options.channels:,} chats; {child.messages:,} messages; {ledger_after_round:,} ledger rows",
        ),
        (
            "RSS at the end of the round",
            f"{child.rss_at_end / MB:.0f} MB",
            "before SIGTERM",
        ),
        (
            "RSS while delivering",
            ", ".join(f"{rss / MB:.0f}" for _, rss, _, _ in child.rss_marks) + " MB",
            "every 30 s after the first digest; chats done by then: "
            + ", ".join(f"{done:,}" for _, _, _, done in child.rss_marks),
        ),
        ("ready", f"{child.ready_s:.2f} s", "from spawn to the fake Bot API's first getUpdates"),
        (
            "first digest",
            f"{child.first_digest_s:.1f} s",
            f"from spawn: feed fetched and stored, {options.channels:,} topics matched",
        ),
        ("exit on SIGTERM", f"{child.exit_status}", "target 0"),
        (
            "digest views, the bot's day",
            f"{child.views:,} views",
            f"one per chat it delivered to; {child.views_bytes / MB:.1f} MB "
            f"({view_share * 100:.1f} % of the {child.database_size / MB:.1f} MB database)",
        ),
    ]
    if not options.round:  # no child: only the seeding row means anything
        rows = rows[:1]
    if days is None:
        return rows
    sizes = ", ".join(f"{m.size / MB:.0f}" for m in days.marks)
    ledgers = ", ".join(f"{m.ledger_rows / 1000:.0f}" for m in days.marks)
    per_row = days.ledger_bytes / days.ledger if days.ledger else 0.0
    per_view = days.views_bytes / days.views if days.views else 0.0
    matched = [m.chats_with_matches for m in days.marks]
    written = [m.rows_written for m in days.marks]
    final = days.marks[-1]
    rows += [
        (
            f"database after {options.days} days",
            f"{final.size / MB:.1f} MB",
            f"all {options.channels:,} chats' ledger and views, measured (target < {DB_TARGET_MB} MB); "
            f"incl. WAL after a checkpoint; {final.free / MB:.1f} MB of it free pages "
            f"(reused, not returned to the disk)",
        ),
        (
            "database day by day",
            f"{sizes} MB",
            f"after each simulated day's prune; from day {FLAT_FROM} to {options.days} it grew "
            f"{_flat_from(days.marks, FLAT_FROM) * 100:.1f} % (level: < {FLAT_SHARE * 100:.0f} %)",
        ),
        (
            "ledger day by day",
            f"{ledgers} thousand rows",
            f"rows written a day: median {_common.median(written):,.0f}, max {max(written):,}; chats with "
            f"matches a day: median {_common.median(matched):,.0f} of {options.channels:,}",
        ),
        (
            "the simulated days",
            f"{len(days.marks)}",
            f"from {options.days_from.name}: {min(m.papers for m in days.marks):,}–"
            f"{max(m.papers for m in days.marks):,} papers a day, "
            f"median {_common.median(m.papers for m in days.marks):,.0f}",
        ),
        (
            "announcements kept",
            f"{days.kept}",
            f"{days.pruned} pruned (RETENTION_DAYS {RETENTION_DAYS}, as ingest prunes); "
            f"{days.papers:,} papers stored",
        ),
        (
            "delivery ledger",
            f"{days.ledger:,} rows",
            f"{days.ledger_bytes / MB:.1f} MB, {per_row:.0f} B a row; the pruned days' rows dropped",
        ),
        (
            f"digest views after {options.days} days",
            f"{days.views:,} views",
            f"{days.views_written:,} written, the rest pruned with their announcements; "
            f"{days.views_bytes / MB:.1f} MB, {per_view:.0f} B a view",
        ),
        ("simulated days took", f"{days.seconds:.0f} s", "through the store API, 64 chats at a time"),
    ]
    return rows


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument(
        "--round-timeout",
        type=float,
        default=1800.0,
        help="seconds from spawn to wait for the whole delivery round (a check fails past it)",
    )
    parser.add_argument("--days", type=int, default=30, help="simulated announcement days after the round")
    parser.add_argument(
        "--days-from",
        type=Path,
        default=ARXIV_DAYS,
        help="the real days' folder (shared arxiv-days/); or every day the same day with new ids: "
        "'all-archives' (the real 1,504-paper day) or 'doubled' (the round's 3,008 papers)",
    )
    parser.add_argument(
        "--no-round",
        dest="round",
        action="store_false",
        help="skip the bot's round (no child): only seed the channels and simulate the days",
    )
    parser.add_argument(
        "--database-url",
        help="a new, empty database for the run (default: sqlite:/// in a temporary directory); "
        "sqlite:///PATH today",
    )
    parser.add_argument(
        "--malloc-arena-max",
        default="1",
        help="the child's MALLOC_ARENA_MAX (1, as the Docker image sets it; '' leaves it unset)",
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
