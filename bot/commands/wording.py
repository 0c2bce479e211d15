"""Small text helpers the command areas share: clipping, lists, plurals, days, a chat's settings in words."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Sequence

from bot.categories import ARCHIVE_CATEGORIES
from bot.digests import effective_categories
from bot.models import Channel, Topic

LIST_CHARS = 600  # a list of keywords shown in /status, /start, /topics
FULL_LIST_CHARS = 3500  # a list shown on its own (/keywords, /exclude)
# C0 controls (but tab, newline and carriage return) and DEL: invisible, and never meant.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """User text made safe to store: no lone surrogates (SQLite refuses them), no control characters."""
    return _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """The items in order, each once."""
    return tuple(dict.fromkeys(items))


def clip(text: str, limit: int = 60) -> str:
    """Text on one line, shortened to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def listing(items: Sequence[str], limit: int = LIST_CHARS, separator: str = ", ") -> str:
    """Items joined, cut after about `limit` characters with a count of the rest."""
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) > limit:
            return f"{separator.join(shown)} … (+{len(items) - len(shown)} more)"
        shown.append(clip(item, limit))
        used += len(item) + len(separator)
    return separator.join(shown)


def plural(count: int, word: str) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def day(date: dt.date) -> str:
    """A date as shown to users: `Wed 2025-11-12`."""
    return f"{date:%a} {date.isoformat()}"


def keyword_count(channel: Channel) -> int:
    """How many keywords the chat's topics hold in all."""
    return sum(len(topic.keywords) for topic in channel.topics)


def chat_zone(channel: Channel) -> zoneinfo.ZoneInfo:
    """The chat's time zone (UTC if the stored name no longer loads)."""
    try:
        return zoneinfo.ZoneInfo(channel.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, OSError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def shown_categories(categories: Sequence[str]) -> str:
    """Categories as shown: a whole archive as `cs.*`."""
    remaining = list(categories)
    shown: list[str] = []
    for archive, members in ARCHIVE_CATEGORIES.items():
        if set(members) <= set(remaining):
            remaining = [code for code in remaining if code not in members]
            shown.append(f"{archive}.*")
    return " ".join(sorted(shown) + remaining)


def describe_topic(topic: Topic, default_categories: Sequence[str]) -> list[str]:
    """A topic's filters, a line each."""
    categories = shown_categories(effective_categories(topic, default_categories))
    return [
        f"• {topic.name}",
        f"  keywords: {listing(topic.keywords) if topic.keywords else '(none yet)'}",
        f"  excluded: {listing(topic.excludes) if topic.excludes else '(none)'}",
        f"  categories: {categories}{'' if topic.categories else ' (default)'}",
    ]


def delivery_time_text(channel: Channel) -> str:
    """When the chat's digest comes, in words."""
    if channel.delivery_time is None:
        return f"as soon as each announcement is out (time zone {channel.timezone})"
    return f"at {channel.delivery_time:%H:%M} {channel.timezone} on announcement days"


def on_off(flag: bool) -> str:
    """`on` or `off`."""
    return "on" if flag else "off"


def settings_values(channel: Channel) -> tuple[str, str, str]:
    """The /settings values in words: the pages' style, the Markdown file, the empty-day notice."""
    return channel.style.value, on_off(channel.send_file), on_off(channel.notify_empty)


def settings_lines(channel: Channel, default_categories: Sequence[str]) -> list[str]:
    """The chat's settings, for /start and /status."""
    where = ""
    if channel.thread_id is not None:
        where = " (into the topic it was subscribed in)"
    elif channel.own_thread:
        where = " (each day in a thread of its own)"
    style, send_file, empty = settings_values(channel)
    lines = [
        f"Daily digest: {on_off(channel.active)}, {delivery_time_text(channel)}{where}.",
        f"Style {style}, Markdown file {send_file}, notice on days with no match {empty}.",
        f"Learned order from votes: {on_off(channel.ranking)}.",
    ]
    if channel.topics:
        for topic in channel.topics:
            lines.extend(describe_topic(topic, default_categories))
    else:
        lines.append("No keywords yet.")
    return lines
