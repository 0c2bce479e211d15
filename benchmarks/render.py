"""Rendering: one announcement day's digest pages for 10,000 chats, in every style, on both platforms.

    python benchmarks/render.py [--chats 10000] [--file-share 0.0]

The day is the anchor's (tests/fixtures/anchor/listing-2025-11-12.rss.xml, 496 papers). Chats have
varied filters so their digests differ in size: most get 1–3 realistic topics (the benchmarks'
vocabulary: anchor keywords, acronyms, phrases, rare title words, the precise syntax), one in ten a
broad keyword ("model", "language", "learning", …) that matches 100–400 papers. Each chat's digest is
built in one matching pass (`bot.digests.build_digests`) and made a view with `bot.views.view_of`
(both untimed). Then, per platform and style, page 0 of every view is rendered (what delivery sends:
`render_page`, buttons included) and timed one call at a time; every page is checked against the
platform's limits, untimed. A digest is 1 message (its page) plus 1 when the chat wants the file
(`--file-share` of the chats; the default settings send none); a chat with nothing matched gets the
one-line empty-day message, counted as 1 and not rendered.

The texts of a paper (TL;DR, first authors, full blocks) are computed once and remembered, as in a
real delivery where the same day's papers go to every chat; the first chats pay for them.

Prints one summary line per platform and style, then
`render: page 0 of N digests (C chats, the anchor day), the slower platform: compact 1.00
messages/digest, X.XX ms/digest; full …; titles …` (messages counted over all C chats, milliseconds
per rendered page 0), and exits 1 if a page broke a limit or showed no paper, or compact missed its target
(5 ms a digest; one message a digest, plus the files asked for).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import _common

from adapters.discord import format as discord_format
from adapters.telegram import format as telegram_format
from bot.digests import build_digests
from bot.feeds import parse_feed
from bot.models import Announcement, Channel, LoadedView, Style, Topic
from bot.views import MAX_BUTTON_DATA, decode_press, view_of

LISTING = _common.ROOT / "tests" / "fixtures" / "anchor" / "listing-2025-11-12.rss.xml"
BROAD = ["model", "language", "learning", "data", "network", "vision", "LLM AND reasoning", "agent"]
TARGET_MS = 5.0


def _chats(count: int, vocab: _common.Vocabulary, seed: int = 5) -> list[Channel]:
    """`count` chats: one in ten with a broad keyword, the rest with 1–3 realistic topics."""
    rng = random.Random(seed)
    pool = _common.realistic_topics(vocab, 3 * count // 2 + 10, seed=seed)
    anchor = Topic("MLLM", tuple(vocab.anchor))
    chats = []
    for number in range(count):
        if number % 10 == 0:
            topics: tuple[Topic, ...] = (Topic("broad", (BROAD[(number // 10) % len(BROAD)],)),)
        elif number % 10 == 1:
            topics = (anchor,)
        else:
            topics = tuple(rng.sample(pool, rng.randint(1, 3)))
        chats.append(Channel("bench", str(number), id=number + 1, topics=topics))
    return chats


def _telegram_ok(page: telegram_format.TelegramPage) -> bool:
    """Whether a Telegram page keeps the limits (visible UTF-16 units, raw length, button data)."""
    return (
        telegram_format._visible_length(page.text) <= telegram_format.MAX_MESSAGE_LENGTH
        and len(page.text) <= telegram_format.MAX_RAW_LENGTH
        and _buttons_ok(page.keyboard)
        and sum(len(row) for row in page.keyboard) <= telegram_format.MAX_BUTTONS
        and all(len(row) <= telegram_format.MAX_ROW_BUTTONS for row in page.keyboard)
    )


def _discord_ok(page: discord_format.DiscordPage) -> bool:
    """Whether a Discord page keeps the limits (content, embeds, their characters, buttons)."""
    message = page.message
    embeds = message.embeds
    return (
        0 < len(message.content) <= discord_format.MAX_CONTENT
        and 1 <= len(embeds) <= discord_format.MAX_EMBEDS
        and sum(discord_format.embed_length(embed) for embed in embeds) <= discord_format.MAX_EMBED_TOTAL
        and all(len(embed.get("description", "")) <= discord_format.MAX_DESCRIPTION for embed in embeds)
        and all(len(embed.get("title", "")) <= discord_format.MAX_TITLE for embed in embeds)
        and len(page.buttons) + len(page.menus) <= discord_format.MAX_ACTION_ROWS
        and all(len(row) <= discord_format.MAX_ROW_BUTTONS for row in page.buttons)
        and all(len(menu.options) <= discord_format.MAX_OPTIONS for menu in page.menus)
        and _buttons_ok(page.buttons)
    )


def _buttons_ok(rows: Any) -> bool:
    """Every button's data within 64 bytes and decodable."""
    return all(
        len(button.data.encode("utf-8")) <= MAX_BUTTON_DATA and decode_press(button.data) is not None
        for row in rows
        for button in row
    )


@dataclasses.dataclass
class Result:
    """One platform and style over every chat."""

    platform: str
    style: Style
    ms: list[float]  # per rendered digest
    messages: int  # over every chat
    pages: list[int]  # page count per rendered digest
    broken: int  # pages over a limit (or showing no paper)


def _run(
    platform: str,
    style: Style,
    views: list[LoadedView | None],
    wants_file: list[bool],
    render: Callable[..., Any],
    ok: Callable[[Any], bool],
) -> Result:
    """Render page 0 of every view, one timed call each; check each page untimed."""
    result = Result(platform, style, [], 0, [], 0)
    gc.collect()
    for loaded, file in zip(views, wants_file, strict=True):
        messages = 1 + int(file)
        result.messages += messages
        if loaded is None:  # nothing matched: the empty-day one-liner
            continue
        start = time.perf_counter()
        page = render(loaded, style=style, page=0)
        result.ms.append((time.perf_counter() - start) * 1000)
        result.pages.append(page.page_count)
        if not ok(page) or not page.paper_ids:
            result.broken += 1
    return result


def main() -> None:
    """Build the chats' views, render them in every style on both platforms, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--file-share", type=float, default=0.0, help="share of chats that want the file")
    options = parser.parse_args()

    announcement = parse_feed(LISTING.read_bytes(), _common.ANCHOR_CATEGORIES)
    if not isinstance(announcement, Announcement):
        raise SystemExit(f"{LISTING} holds no announcement")
    vocab = _common.Vocabulary.of(announcement.papers)
    chats = _chats(options.chats, vocab)
    start = time.perf_counter()
    digests = build_digests(announcement, chats, _common.ANCHOR_CATEGORIES)
    built = time.perf_counter() - start
    start = time.perf_counter()
    views: list[LoadedView | None] = []
    for chat, digest in zip(chats, digests, strict=True):
        if not digest.papers:
            views.append(None)
            continue
        view, papers = view_of(digest, "bench", chat.chat_id, _common.ANCHOR_CATEGORIES)
        view = dataclasses.replace(view, id=chat.id)
        views.append(LoadedView(view, view.entries, papers))
    viewed = time.perf_counter() - start
    rng = random.Random(3)
    wants_file = [rng.random() < options.file_share for _ in chats]

    sizes = [len(loaded.papers) for loaded in views if loaded is not None]
    empty = sum(1 for loaded in views if loaded is None)
    rows = [
        (f"digests of {len(chats):,} chats (one matching pass)", f"{built:.1f} s", "untimed below"),
        (
            "their views (`view_of`, keywords that matched)",
            f"{viewed:.1f} s",
            f"{empty:,} empty; papers per digest median {statistics.median(sizes):.0f}, "
            f"max {max(sizes)}; {sum(size >= 100 for size in sizes):,} digests of ≥ 100",
        ),
    ]
    platforms = (
        ("telegram", telegram_format.render_page, _telegram_ok),
        ("discord", discord_format.render_page, _discord_ok),
    )
    results: list[Result] = []
    for platform, render, ok in platforms:
        for style in Style:
            result = _run(platform, style, views, wants_file, render, ok)
            results.append(result)
            ms = result.ms
            rows.append(
                (
                    f"{platform} {style.value}: page 0 of {len(ms):,} digests",
                    f"{statistics.mean(ms):.2f} ms/digest",
                    f"{result.messages / len(chats):.2f} messages/digest; median "
                    f"{statistics.median(ms):.2f}, p99 {statistics.quantiles(ms, n=100)[98]:.2f}, "
                    f"max {max(ms):.1f} ms; pages median {statistics.median(result.pages):.0f}, "
                    f"max {max(result.pages)}; {result.broken} pages over a limit",
                )
            )
    _common.print_table(f"render: the anchor day ({len(announcement.papers)} papers)", rows)
    parts = []
    failed = False
    for style in Style:
        mine = [result for result in results if result.style is style]
        per_digest = max(result.messages for result in mine) / len(chats)
        slowest = max(statistics.mean(result.ms) for result in mine)
        parts.append(f"{style.value} {per_digest:.2f} messages/digest, {slowest:.2f} ms/digest")
        failed |= any(result.broken for result in mine)
        if style is Style.COMPACT and (slowest >= TARGET_MS or per_digest > 1 + options.file_share + 0.01):
            failed = True
    rendered = len(results[0].ms)
    scope = f"page 0 of {rendered:,} digests ({len(chats):,} chats, the anchor day), the slower platform"
    print(f"render: {scope}: " + "; ".join(parts))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
