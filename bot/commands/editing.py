"""What every command area shares: reading the asking chat, checking a change against its limits, storing it.

A change is checked in full before anything is stored, and stored with one write, so a refused command
leaves the chat exactly as it was and one command is one store transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.clock import Clock
from bot.commands.values import CommandContext, CommandError
from bot.matching import validate_topic
from bot.models import Channel, Topic
from bot.ports import Store
from bot.query import QuerySyntaxError
from bot.schedule import ARXIV_TZ
from bot.topic_config import clean_name

MAIN_TOPIC = "Papers"
# What one chat may store: bounded so that no chat can make the store or a delivery round heavy.
MAX_TOPICS_PER_CHAT = 20
MAX_KEYWORDS_PER_TOPIC = 200  # and as many exclusions
MAX_FILTERS_PER_CHAT = 1000  # keywords and exclusions over all topics
MAX_TOPIC_NAME = 64


def filter_count(channel: Channel) -> int:
    """How many keywords and exclusions the chat's topics hold in all."""
    return sum(len(topic.keywords) + len(topic.excludes) for topic in channel.topics)


def find_topic(channel: Channel, name: str) -> int | None:
    """The index of the chat's topic called `name` (any case), or None."""
    wanted = clean_name(name).casefold()
    for index, topic in enumerate(channel.topics):
        if topic.name.casefold() == wanted:
            return index
    return None


def topic_at(channel: Channel, index: int | None) -> Topic:
    """The picked topic, or the chat's first (the one /subscribe, /keywords and /exclude change)."""
    if index is not None:
        return channel.topics[index]
    return channel.topics[0] if channel.topics else Topic(name=MAIN_TOPIC, keywords=())


def with_topic(channel: Channel, index: int | None, topic: Topic) -> Channel:
    """The channel with the picked (or first) topic replaced, or added when it has none."""
    if not channel.topics:
        return replace(channel, topics=(topic,))
    position = index or 0
    return replace(channel, topics=(*channel.topics[:position], topic, *channel.topics[position + 1 :]))


def checked(topic: Topic, before: Topic | None = None) -> Topic:
    """A topic within the limits whose filters all parse, or a CommandError naming the problem."""
    for label, items, old in (
        ("keywords", topic.keywords, before.keywords if before else ()),
        ("exclusions", topic.excludes, before.excludes if before else ()),
    ):
        if len(items) > max(MAX_KEYWORDS_PER_TOPIC, len(old)):
            raise CommandError(
                f"A topic holds at most {MAX_KEYWORDS_PER_TOPIC} {label}; that would make {len(items)}."
            )
    try:
        validate_topic(topic)
    except QuerySyntaxError as error:
        raise CommandError(f"That filter doesn't work: {error}") from None
    return topic


def ad_hoc_categories(channel: Channel | None) -> tuple[str, ...]:
    """The categories an ad-hoc query of this chat watches: its first topic's, or the defaults."""
    if channel is not None and channel.topics and channel.topics[0].categories:
        return channel.topics[0].categories
    return ()


@dataclass(frozen=True, slots=True)
class ChannelEditor:
    """The store as the commands see it: the asking chat, read and changed whole."""

    store: Store
    default_categories: tuple[str, ...]
    clock: Clock
    on_change: Callable[[], Awaitable[None]] | None = None

    def today(self) -> dt.date:
        """Today's date in US Eastern time: the date of the announcement rss.arxiv.org shows now."""
        return self.clock().astimezone(ARXIV_TZ).date()

    async def load(self, context: CommandContext) -> Channel:
        """The chat's stored channel, or a fresh unsaved one (knowing its server, when it has one)."""
        channel = await self.store.get_channel(context.platform, context.chat_id)
        if channel is None:
            return Channel(platform=context.platform, chat_id=context.chat_id, server_id=context.server_id)
        if channel.server_id is None and context.server_id is not None:
            return replace(channel, server_id=context.server_id)
        return channel

    async def changed(self) -> None:
        """Tell the scheduler that a chat's settings changed."""
        if self.on_change is not None:
            await self.on_change()

    async def save(self, channel: Channel, *, before: Channel | None = None) -> Channel:
        """Check the chat's limits, store the changed channel (one write) and tell the scheduler.

        Limits are only enforced against growth, so a chat over them (an older import) can still shrink.
        The delivery cursor never moves backwards: a digest delivered meanwhile stays delivered.
        """
        previous = before or channel
        if len(channel.topics) > max(MAX_TOPICS_PER_CHAT, len(previous.topics)):
            raise CommandError(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.")
        if filter_count(channel) > max(MAX_FILTERS_PER_CHAT, filter_count(previous)):
            raise CommandError(
                f"A chat holds at most {MAX_FILTERS_PER_CHAT} keywords and exclusions over all its topics."
            )
        stored = await self.store.get_channel(channel.platform, channel.chat_id)
        if (
            stored is not None
            and stored.done_up_to is not None
            and (channel.done_up_to is None or stored.done_up_to > channel.done_up_to)
        ):
            channel = replace(channel, done_up_to=stored.done_up_to)
        saved = await self.store.save_channel(channel)
        await self.changed()
        return saved
