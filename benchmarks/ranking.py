"""The learned order: readers who vote on the digests the bot shows them, measured on the days after.

    python benchmarks/ranking.py --days ../shared/data/arxiv-days \
        [--reader "KEYWORDS => TASTE"]... [--train-days 10] [--chats 10000]

Each reader is one chat. It subscribes with KEYWORDS (`/subscribe`, the bot's filter syntax) through
the bot's own CommandService. The days are stored one by one in a real SQLite store, and each day the
reader gets its daily digest from the bot's ViewService, ranked by the bot's RankingService. On each of
the first `--train-days` days the reader votes the way a person would on the digest it is shown, with
the bot's FeedbackService (the handler a button press reaches): 👍 on every paper its TASTE (filter
syntax too: `cat:cs.RO`, `au:Levine`, `ti:agent`) matches, 👎 on the first three it is shown that TASTE
does not match. On the later days it only reads, and two orders of the same digest are compared:
the learned one the bot sent, and the listing's (the order the bot uses without a model).

Per reader and day with at least 5 papers and one it likes:
- precision@5: the share of the first 5 papers the reader likes;
- the liked papers' positions as a percentage of the digest (0 % = first, 100 % = last); the
  reader's figure is their median.
The summary averages the readers' figures.

Then the cost: `--chats` chats (10,000) each with votes (6 👍 and 6 👎 of one built-in reader's taste)
are stored, and a new RankingService (as after a restart: every model must be fitted) orders the next
day's digest of every chat, 64 chats at a time as delivery serves them: the time of all those refits
and scorings, and the event loop's longest stall meanwhile (the work runs in worker threads).

Ends with one line:
`ranking: R readers, D days (T for training); precision@5 learned X, listing Y; liked median
percentile learned A %, listing B %; refit+score 10000 chats S s` (on one line)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _common

from bot.commands.service import CommandService
from bot.commands.values import CommandRequest
from bot.digests import build_digests
from bot.feedback import MIN_LIKED, FeedbackService
from bot.feeds import parse_feed
from bot.matching import Matcher
from bot.models import Announcement, LoadedView, Paper, Topic, Vote
from bot.ranking import RankingService
from bot.views import FeedbackAction, FeedbackPress, ViewService
from storage.sqlite_store import SqliteStore, open_store

DEFAULT_DAYS = _common.ROOT.parent / "shared" / "data" / "arxiv-days"
PLATFORM = "bench"
DISLIKES_PER_DAY = 3
TOP = 5
DELIVERY_CONCURRENCY = 64  # DeliveryService's default: chats served at once

# Readers of different kinds: a category, title words, authors, phrases.
BUILT_IN_READERS = (
    "robot, robotic, embodied, manipulation => cat:cs.RO",
    "reinforcement learning => cat:cs.RO",
    "LLM, large language model => ti:agent",
    "diffusion => ti:video",
    "VLM, MLLM, vision language model, multimodal => ti:benchmark",
    "segmentation, detection => ti:medical",
    "model => au:Dacheng Tao OR au:Li Shen OR au:Hao Tang OR au:Yu Cheng",
    'LLM, language model, reasoning => "chain-of-thought" OR "chain of thought"',
)


@dataclass(frozen=True, slots=True)
class Reader:
    """One benchmark reader: what it subscribes to and what it likes."""

    keywords: str
    taste: str

    @classmethod
    def parse(cls, text: str) -> Reader:
        keywords, separator, taste = text.partition("=>")
        if not separator or not keywords.strip() or not taste.strip():
            raise SystemExit(f"ranking.py: --reader needs 'KEYWORDS => TASTE', not {text!r}")
        return cls(keywords.strip(), taste.strip())


@dataclass(slots=True)
class Measured:
    """A reader's figures over the test days."""

    liked_votes: int = 0
    disliked_votes: int = 0
    precision_learned: list[float] = field(default_factory=list)
    precision_listing: list[float] = field(default_factory=list)
    percentiles_learned: list[float] = field(default_factory=list)
    percentiles_listing: list[float] = field(default_factory=list)

    @property
    def measured_days(self) -> int:
        return len(self.precision_learned)


def load_days(directory: Path) -> list[Announcement]:
    """Every day of an arxiv-days directory (index.json's order), parsed by the bot's feed parser."""
    index = directory / "index.json"
    if not index.is_file():
        raise SystemExit(f"ranking.py: {index} not found: --days must name an arxiv-days directory")
    days = []
    for entry in json.loads(index.read_text())["days"]:
        feed = directory / entry["feed"]
        parsed = parse_feed(gzip.decompress(feed.read_bytes()), _common.ANCHOR_CATEGORIES)
        if not isinstance(parsed, Announcement):
            raise SystemExit(f"ranking.py: {feed} holds no announcement ({parsed.reason})")
        days.append(parsed)
    return days


def taste_matcher(taste: str) -> Matcher:
    """The reader's taste as a compiled topic (the bot's matcher; any category)."""
    return Matcher.compile([Topic(name="taste", keywords=(taste,))], _common.ANCHOR_CATEGORIES)


def liked_indices(matcher: Matcher, papers: Sequence[Paper]) -> set[int]:
    return set(matcher.match(list(papers))[0])


def percentile(position: int, count: int) -> float:
    return 100.0 * position / (count - 1) if count > 1 else 0.0


class Bench:
    """The bot's services over one real store: commands, views ranked by the ranker, feedback."""

    def __init__(self, store: SqliteStore, ranker: RankingService) -> None:
        self.store = store
        self.ranker = ranker
        self.commands = CommandService(store, _common.ANCHOR_CATEGORIES)
        self.views = ViewService(store, _common.ANCHOR_CATEGORIES, ranker=ranker, votes=True)
        self.feedback = FeedbackService(store)

    async def subscribe(self, chat_id: str, keywords: str) -> None:
        request = CommandRequest(PLATFORM, chat_id, "subscribe", keywords, user_id="1", is_admin=True)
        reply = await self.commands.handle(request)
        if not reply.ok:
            raise SystemExit(f"ranking.py: /subscribe {keywords} was refused: {reply.text}")

    async def vote(self, loaded: LoadedView, index: int, action: FeedbackAction, user: str) -> None:
        view_id = loaded.view.id
        assert view_id is not None
        press = FeedbackPress(view_id, index, action, 0, loaded.view.style)
        await self.feedback.press(loaded, press, user)


async def run_readers(
    days: Sequence[Announcement], readers: Sequence[Reader], train_days: int, directory: Path, min_votes: int
) -> list[Measured]:
    """Every reader through every day; the learned and the listing's order measured after training."""
    store = await open_store(directory / "readers.db")
    ranker = RankingService(store, min_liked=min_votes, min_disliked=min_votes)
    bench = Bench(store, ranker)
    results = [Measured() for _ in readers]
    tastes = [taste_matcher(reader.taste) for reader in readers]
    try:
        for number, reader in enumerate(readers):
            await bench.subscribe(f"reader-{number}", reader.keywords)
        for day_number, announcement in enumerate(days):
            await store.save_announcement(announcement)
            channels = [await store.get_channel(PLATFORM, f"reader-{n}") for n in range(len(readers))]
            digests = build_digests(
                announcement, [c for c in channels if c is not None], _common.ANCHOR_CATEGORIES
            )
            for number, (channel, digest) in enumerate(zip(channels, digests, strict=True)):
                assert channel is not None
                loaded = await bench.views.daily(channel, digest)
                shown = loaded.papers
                liked = liked_indices(tastes[number], shown)
                result = results[number]
                if day_number < train_days:
                    for index in sorted(liked):
                        await bench.vote(loaded, index, FeedbackAction.UP, "reader")
                    result.liked_votes += len(liked)
                    disliked = [index for index in range(len(shown)) if index not in liked][:DISLIKES_PER_DAY]
                    for index in disliked:
                        await bench.vote(loaded, index, FeedbackAction.DOWN, "reader")
                    result.disliked_votes += len(disliked)
                    continue
                listing = list(dict.fromkeys(paper for section in digest.topics for paper in section.papers))
                listing_liked = liked_indices(tastes[number], listing)
                if len(shown) < TOP or not liked:
                    continue
                assert {p.arxiv_id for p in shown} == {p.arxiv_id for p in listing}, "the model hid a paper"
                result.precision_learned.append(len([i for i in range(TOP) if i in liked]) / TOP)
                result.precision_listing.append(len([i for i in range(TOP) if i in listing_liked]) / TOP)
                result.percentiles_learned += [percentile(i, len(shown)) for i in liked]
                result.percentiles_listing += [percentile(i, len(listing)) for i in listing_liked]
    finally:
        ranker.close()
        await store.close()
    return results


async def time_many_chats(
    days: Sequence[Announcement], readers: Sequence[Reader], train_days: int, chats: int, directory: Path
) -> tuple[float, float, int]:
    """Refit and score the next day's digest of `chats` chats with votes; (seconds, longest stall, fits)."""
    store = await open_store(directory / "chats.db")
    rng = random.Random(13)
    try:
        for announcement in days[: train_days + 1]:
            await store.save_announcement(announcement)
        training = [paper for announcement in days[:train_days] for paper in announcement.papers]
        liked_pools = []
        for reader in readers:
            matcher = taste_matcher(reader.taste)
            liked = liked_indices(matcher, training)
            liked_pools.append(
                (
                    [training[i] for i in sorted(liked)],
                    [training[i] for i in range(len(training)) if i not in liked],
                )
            )
        date_of = {paper.arxiv_id: a.date for a in days[:train_days] for paper in a.papers}
        now = dt.datetime.now(dt.UTC)
        keywords = []
        for number in range(chats):
            reader_number = number % len(readers)
            good, bad = liked_pools[reader_number]
            chosen = [(p, Vote.UP) for p in rng.sample(good, min(6, len(good)))]
            chosen += [(p, Vote.DOWN) for p in rng.sample(bad, 6)]
            for paper, vote in chosen:
                await store.set_vote(
                    PLATFORM, f"chat-{number}", "member", paper.arxiv_id, date_of[paper.arxiv_id], vote, now
                )
            keywords.append(readers[reader_number].keywords)
        next_day = days[train_days]
        topics = {
            words: Topic(name=words, keywords=tuple(part.strip() for part in words.split(",")))
            for words in set(keywords)
        }
        from bot.models import Channel

        channels = [
            Channel(PLATFORM, f"chat-{number}", topics=(topics[keywords[number]],)) for number in range(chats)
        ]
        digests = build_digests(next_day, channels, _common.ANCHOR_CATEGORIES)
        ranker = RankingService(store)  # a fresh process: no model is cached
        stall = 0.0
        running = True

        async def watch() -> None:
            nonlocal stall
            while running:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                stall = max(stall, time.perf_counter() - before - 0.01)

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        pending = list(zip(channels, digests, strict=True))

        async def worker() -> None:  # as delivery serves chats: DELIVERY_CONCURRENCY at once
            while pending:
                channel, digest = pending.pop()
                await ranker.rank(PLATFORM, channel.chat_id, digest)

        await asyncio.gather(*(worker() for _ in range(DELIVERY_CONCURRENCY)))
        seconds = time.perf_counter() - started
        running = False
        await watcher
        fits = ranker.fits
        ranker.close()
        return seconds, stall, fits
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=Path, default=DEFAULT_DAYS, help="an arxiv-days directory")
    parser.add_argument("--reader", action="append", default=[], help='"KEYWORDS => TASTE" (repeatable)')
    parser.add_argument("--train-days", type=int, default=10, help="days the readers vote on (default 10)")
    parser.add_argument("--chats", type=int, default=10_000, help="chats with votes for the timing (10000)")
    parser.add_argument(
        "--min-votes",
        type=int,
        default=MIN_LIKED,
        help=f"liked and disliked papers a chat needs before its order is learned (the bot's: {MIN_LIKED})",
    )
    args = parser.parse_args()
    readers = [Reader.parse(text) for text in (args.reader or BUILT_IN_READERS)]
    days = load_days(args.days)
    if not 1 <= args.train_days < len(days):
        raise SystemExit(f"ranking.py: --train-days must be between 1 and {len(days) - 1}")
    print(_common.machine())
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        results = asyncio.run(run_readers(days, readers, args.train_days, Path(directory), args.min_votes))
        print(f"readers: {time.perf_counter() - started:.1f} s for {len(days)} days")
        print(
            "| reader (keywords => taste) | votes 👍/👎 | test days | p@5 learned | p@5 listing "
            "| liked median learned | listing |"
        )
        print("|" + "---|" * 7)
        for reader, result in zip(readers, results, strict=True):
            if not result.measured_days:
                votes = f"{result.liked_votes}/{result.disliked_votes}"
                print(f"| {reader.keywords} => {reader.taste} | {votes} | 0 | – | – | – | – |")
                continue
            print(
                f"| {reader.keywords} => {reader.taste} | {result.liked_votes}/{result.disliked_votes} "
                f"| {result.measured_days} | {statistics.mean(result.precision_learned):.2f} "
                f"| {statistics.mean(result.precision_listing):.2f} "
                f"| {statistics.median(result.percentiles_learned):.1f} % "
                f"| {statistics.median(result.percentiles_listing):.1f} % |"
            )
        measured = [result for result in results if result.measured_days]
        if not measured:
            raise SystemExit("ranking.py: no reader had a test day with 5 papers and one it likes")
        seconds, stall, fits = asyncio.run(
            time_many_chats(days, readers, args.train_days, args.chats, Path(directory))
        )
    print(
        f"timing: {args.chats} chats with 12 votes each, {fits} models fitted; "
        f"longest event-loop stall {stall * 1000:.0f} ms"
    )
    precision_learned = statistics.mean(statistics.mean(r.precision_learned) for r in measured)
    precision_listing = statistics.mean(statistics.mean(r.precision_listing) for r in measured)
    median_learned = statistics.mean(statistics.median(r.percentiles_learned) for r in measured)
    median_listing = statistics.mean(statistics.median(r.percentiles_listing) for r in measured)
    print(
        f"ranking: {len(readers)} readers, {len(days)} days ({args.train_days} for training); "
        f"precision@5 learned {precision_learned:.2f}, listing {precision_listing:.2f}; "
        f"liked median percentile learned {median_learned:.1f} %, listing {median_listing:.1f} %; "
        f"refit+score {args.chats} chats {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
