"""Speed and memory of the hot paths, printed as a Markdown table.

    python benchmarks/run.py [--all-archives PATH] [--topics 10000] [--papers 3000]

Uses the anchor listing in tests/fixtures; `--all-archives` may point at the 1,504-item feed in the
shared data set (../shared/data/arxiv-rss/all-archives-2024-11-28.xml) to time a large real parse.
The anchor day's 34-paper MLLM digest is rendered as what a chat gets: one paged message, its first
page (`render_page` of its view, buttons included), and every page as the buttons would show them.
Results and the machine they ran on are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import random
import re
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.discord import format as discord_format
from adapters.telegram import format as telegram_format
from bot.digests import build_digests
from bot.feeds import parse_feed
from bot.matching import Matcher
from bot.models import Announcement, Channel, LoadedView, Paper, Topic
from bot.views import view_of

ROOT = Path(__file__).resolve().parents[1]
LISTING = ROOT / "tests" / "fixtures" / "anchor" / "listing-2025-11-12.rss.xml"
CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO")


def timed(action: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median seconds of `repeat` runs, and the last result."""
    times = []
    result: object = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def time_pages(render_page: Callable[..., Any], loaded: LoadedView) -> tuple[float, float, int]:
    """Median seconds for a view's first page and for all its pages, and how many pages it has."""
    first_seconds, first = timed(lambda: render_page(loaded), repeat=20)
    count = int(getattr(first, "page_count", 0))
    every_seconds, _ = timed(lambda: [render_page(loaded, page=n) for n in range(count)], repeat=20)
    return first_seconds, every_seconds, count


def day_of(papers: list[Paper], size: int) -> list[Paper]:
    """`size` papers made from real ones (distinct ids; titles and abstracts shuffled between them)."""
    rng = random.Random(7)
    made = []
    for number in range(size):
        base = papers[number % len(papers)]
        other = papers[rng.randrange(len(papers))]
        made.append(
            dataclasses.replace(
                base,
                arxiv_id=f"2511.{number:05d}",
                title=base.title,
                abstract=other.abstract if number >= len(papers) else base.abstract,
            )
        )
    return made


def random_topics(papers: list[Paper], count: int) -> list[Topic]:
    """Topics as users write them: 2–6 keywords, 0–2 exclusions, some in the precise syntax.

    Keywords are words and two-word phrases from real titles that occur in at most 2% of the day's
    papers (research-topic terms, not "with" or "learning"), so each topic matches a few dozen papers.
    """
    rng = random.Random(11)
    texts = [f"{p.title} {p.abstract}".lower() for p in papers[:500]]

    def share(term: str) -> float:
        return sum(term.lower() in text for text in texts) / len(texts)

    candidates = sorted({w for p in papers[:500] for w in re.findall(r"[A-Za-z][A-Za-z-]{4,}", p.title)})
    words = [w for w in rng.sample(candidates, min(3000, len(candidates))) if 0 < share(w) <= 0.02]
    phrase_pool = sorted(
        {
            " ".join(p.title.split()[i : i + 2])
            for p in papers[:500]
            for i in range(max(0, len(p.title.split()) - 1))
        }
    )
    phrases = [ph for ph in rng.sample(phrase_pool, min(1500, len(phrase_pool))) if 0 < share(ph) <= 0.02]
    syntax = ["={w}", "ti:{w}", "{w} AND NOT survey", '"{w}"', "abs:={w}"]
    topics = []
    for number in range(count):
        keywords = []
        for _ in range(rng.randint(2, 6)):
            pick = rng.random()
            if pick < 0.6:
                keywords.append(rng.choice(words))
            elif pick < 0.85:
                keywords.append(rng.choice(phrases))
            else:
                keywords.append(rng.choice(syntax).format(w=rng.choice(words)))
        excludes = tuple(rng.choice(words) for _ in range(rng.randint(0, 2)))
        categories = tuple(rng.sample(CATEGORIES, rng.randint(1, 3))) if rng.random() < 0.5 else ()
        topics.append(Topic(f"t{number}", tuple(keywords), excludes, categories))
    return topics


def main() -> None:
    """Run every benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--all-archives", type=Path, help="the 1,504-item all-archives feed, to time a large parse"
    )
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=3_000)
    parser.add_argument("--chats", type=int, default=1_000)
    options = parser.parse_args()

    rows: list[tuple[str, str, str]] = []
    listing = LISTING.read_bytes()
    seconds, parsed = timed(lambda: parse_feed(listing, CATEGORIES))
    assert isinstance(parsed, Announcement)
    rows.append(
        (
            f"parse the anchor listing ({len(parsed.papers)} items, {len(listing) // 1024} KiB)",
            f"{seconds * 1000:.0f} ms",
            "",
        )
    )
    if options.all_archives:
        data = options.all_archives.read_bytes()
        seconds, big = timed(lambda: parse_feed(data, ()))
        assert isinstance(big, Announcement)
        rows.append(
            (
                f"parse the all-archives feed ({len(big.papers)} items, {len(data) // 1024} KiB)",
                f"{seconds * 1000:.0f} ms",
                "",
            )
        )

    papers = day_of(list(parsed.papers), options.papers)
    topics = random_topics(papers, options.topics)
    seconds, matcher = timed(lambda: Matcher.compile(topics, CATEGORIES), repeat=3)
    assert isinstance(matcher, Matcher)
    rows.append((f"compile {len(topics):,} topics", f"{seconds * 1000:.0f} ms", ""))
    seconds, result = timed(lambda: matcher.match(papers), repeat=5)
    assert isinstance(result, list)
    pairs = sum(len(hits) for hits in result)
    rows.append(
        (
            f"match {len(topics):,} topics × {len(papers):,} papers",
            f"{seconds * 1000:.0f} ms",
            f"{pairs:,} (topic, paper) matches; target < 500 ms",
        )
    )
    tracemalloc.start()
    Matcher.compile(topics, CATEGORIES).match(papers)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(("peak memory of compile + match", f"{peak / 2**20:.0f} MiB", "Python objects (tracemalloc)"))
    # The automaton lives in Rust, which tracemalloc cannot see: the process's peak RSS bounds it all.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    rows.append(("process peak RSS so far", f"{peak_rss:.0f} MiB", "interpreter, feeds, papers, matcher"))

    anchor_topic = Topic(
        "MLLM",
        (
            "VLM",
            "MLM",
            "MLLM",
            "Multi-Modal Language Model",
            "Multimodal Language Model",
            "Vision Language Model",
        ),
        (),
        CATEGORIES,
    )
    chats = [Channel("telegram", str(n), id=n, topics=(anchor_topic,)) for n in range(options.chats)]
    seconds, digests = timed(lambda: build_digests(parsed, chats, CATEGORIES), repeat=3)
    assert isinstance(digests, list)
    rows.append(
        (
            f"digests of the anchor day for {len(chats):,} chats (one matching pass)",
            f"{seconds * 1000:.0f} ms",
            f"{digests[0].matched_count} papers each",
        )
    )
    # A digest is one paged message: delivery renders its first page (render_page, buttons included);
    # a press renders another. Paper texts are remembered after the first call, as in a real day.
    view, view_papers = view_of(digests[0], "bench", "0", CATEGORIES)
    loaded = LoadedView(view, view.entries, view_papers)
    for name, render_page in (
        ("Telegram HTML", telegram_format.render_page),
        ("Discord embeds", discord_format.render_page),
    ):
        first, every, count = time_pages(render_page, loaded)
        rows.append(
            (
                f"render page 1 of the {view.matched_count}-paper digest as {name} (compact)",
                f"{first * 1000:.2f} ms",
                f"1 message of {count} pages; all {count} pages {every * 1000:.2f} ms",
            )
        )

    python = platform.python_version()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {python}, {platform.system()}"
    print(f"Machine: {machine}")
    print()
    print("| what | median | note |")
    print("|---|---|---|")
    for what, value, note in rows:
        print(f"| {what} | {value} | {note} |")


if __name__ == "__main__":
    main()
