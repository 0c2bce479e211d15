"""What a chat looks for: /subscribe, /keywords, /exclude, /categories, /topics and the config import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import assert_never

from bot.categories import UnknownCategoryError, expand_categories
from bot.commands.editing import (
    MAX_TOPIC_NAME,
    MAX_TOPICS_PER_CHAT,
    ChannelEditor,
    checked,
    find_topic,
    topic_at,
    with_topic,
)
from bot.commands.match_counts import match_lines
from bot.commands.status import gather_status, next_digest_line
from bot.commands.table import TEXT_SYNTAX, CommandSyntax, usage
from bot.commands.values import (
    AddTopic,
    CommandContext,
    CommandError,
    CommandReply,
    EditFilters,
    FilterCommand,
    ImportTopics,
    ListTopics,
    RemoveTopic,
    SetCategories,
    Subscribe,
)
from bot.commands.wording import (
    FULL_LIST_CHARS,
    clip,
    describe_topic,
    keyword_count,
    listing,
    plural,
    shown_categories,
    unique,
)
from bot.digests import effective_categories
from bot.models import Channel, Topic
from bot.topic_config import TopicConfigError, clean_name, parse_topic_config

_LABELS = {"keywords": "keywords", "excludes": "excluded words"}
_EXAMPLE_KEYWORDS = "VLM, MLLM, vision language model"


def subscribe_usage(syntax: CommandSyntax) -> str:
    """What /subscribe needs when the chat has no keywords yet."""
    example = usage(syntax, "subscribe", _EXAMPLE_KEYWORDS, keywords=_EXAMPLE_KEYWORDS)
    return f"Tell me what to look for, comma-separated:\n{example}"


def edit_usage(command: str, syntax: CommandSyntax = TEXT_SYNTAX) -> str:
    """How /keywords and /exclude are used."""
    forms = [
        usage(syntax, command, f"{action} WORDS", action, words="WORDS")
        for action in ("add", "remove", "set")
    ]
    return f"Use {', '.join(forms)} or {usage(syntax, command, 'clear', 'clear')}."


def topics_list(syntax: CommandSyntax) -> str:
    """How the chat's topics are listed: `/topics`, or `/topics list`."""
    return usage(syntax, "topics", "", "list")


def no_topic_error(name: str, command: str, syntax: CommandSyntax = TEXT_SYNTAX) -> CommandError:
    """A topic prefix that names none of the chat's topics."""
    hint = f" {edit_usage(command, syntax)}" if command in ("keywords", "exclude") else ""
    return CommandError(f"No topic {clip(name, 40)!r} ({topics_list(syntax)} lists them).{hint}")


def add_topic_usage(syntax: CommandSyntax) -> str:
    """How /topics add is used."""
    return (
        "Use "
        + usage(
            syntax, "topics", "add NAME: keyword, keyword", "add", name="NAME", keywords="keyword, keyword"
        )
        + " — e.g. "
        + usage(
            syntax, "topics", "add Robots: embodied, =VLA", "add", name="Robots", keywords="embodied, =VLA"
        )
    )


def _of(channel: Channel, topic: Topic) -> str:
    """` of NAME` when the chat has several topics."""
    return f" of {topic.name}" if len(channel.topics) > 1 else ""


def _parse_categories(codes: Sequence[str]) -> tuple[str, ...]:
    """Category codes a user typed, canonical (an archive expanded); a CommandError names unknown ones."""
    try:
        return expand_categories(codes)
    except UnknownCategoryError as error:
        unknown = [clip(code, 20) for code in error.unknown]
        raise CommandError(
            f"Unknown arXiv categor{'y' if len(unknown) == 1 else 'ies'}: {listing(unknown, 200)}. "
            "Codes look like cs.CV or math.PR."
        ) from None


def _without(current: tuple[str, ...], items: Sequence[str], label: str) -> tuple[str, ...]:
    """`current` without the items (exact, else ignoring case); a CommandError names missing ones."""
    drop: set[str] = set()
    missing: list[str] = []
    for item in items:
        if item in current:
            drop.add(item)
            continue
        folded = [entry for entry in current if entry.casefold() == item.casefold()]
        if folded:
            drop.update(folded)
        else:
            missing.append(clip(item, 40))
    if missing:
        raise CommandError(f"Not in your {label}: {listing(missing, 200)}")
    return tuple(entry for entry in current if entry not in drop)


class FilterCommands:
    """The commands that change what a chat looks for."""

    def __init__(self, editor: ChannelEditor) -> None:
        self._editor = editor

    async def run(self, context: CommandContext, command: FilterCommand) -> CommandReply:
        """The handler of each filter command (mypy checks that every one has one)."""
        match command:
            case Subscribe():
                return await self.subscribe(context, command)
            case EditFilters():
                return await self.edit(context, command)
            case SetCategories():
                return await self.categories(context, command)
            case ListTopics():
                return await self.list_topics(context)
            case AddTopic():
                return await self.add_topic(context, command)
            case RemoveTopic():
                return await self.remove_topic(context, command)
            case ImportTopics():
                return await self.import_topics(context, command)
            case _:
                assert_never(command)

    async def subscribe(self, context: CommandContext, command: Subscribe) -> CommandReply:
        """Add keywords to the first topic and turn the daily digest on (posting where it was asked:
        the forum topic it was sent in, and on Discord a thread a day if asked)."""
        syntax = context.syntax
        keywords = unique(command.keywords)
        channel = await self._editor.load(context)
        if not keywords and not keyword_count(channel):
            return CommandReply(subscribe_usage(syntax), ok=False)
        own_thread = channel.own_thread if command.own_thread is None else command.own_thread
        placed = replace(channel, thread_id=context.thread_id, own_thread=own_thread)
        moved = placed != channel
        add_more = usage(syntax, "subscribe", "WORDS", keywords="WORDS")
        if not keywords and channel.active and not moved:
            return CommandReply(
                f"You are subscribed already. Add keywords with {add_more}; /status shows the next digest."
            )
        updated = placed
        topic = topic_at(channel, None)
        added = [keyword for keyword in keywords if keyword not in topic.keywords]
        if added:
            topic = checked(replace(topic, keywords=topic.keywords + tuple(added)), topic)
            updated = with_topic(placed, None, topic)
        if channel.active:
            if not added and not moved:
                return CommandReply(f"You follow {listing(keywords, 200)} already.")
            saved = await self._editor.save(updated, before=channel)
            lines = [f"Added. Keywords{_of(channel, topic)}: {listing(topic.keywords)}"] if added else []
            lines.extend(self._placement(saved, moved))
            lines.extend(await match_lines(self._editor, saved))
            return CommandReply("\n".join(lines))
        # The first digest is the next announcement's: those stored before the command was sent are
        # done. One stored after (while the command waited) is still the chat's to get.
        report = await gather_status(self._editor.store, self._editor.clock(), count_papers=False)
        latest = await self._done_before(context)
        cursor = max((each for each in (channel.done_up_to, latest) if each is not None), default=None)
        saved = await self._editor.save(replace(updated, active=True, done_up_to=cursor), before=channel)
        if len(saved.topics) > 1 and not added:
            keywords_line = f"Topics: {listing([each.name for each in saved.topics])}"
        else:
            keywords_line = f"Keywords{_of(saved, topic)}: {listing(topic.keywords)}"
        lines = [
            "Subscribed: the daily digest is on.",
            keywords_line,
            *self._placement(saved, moved),
            f"{next_digest_line(report, saved)} /digest shows today's papers now.",
            *await match_lines(self._editor, saved),
        ]
        return CommandReply("\n".join(lines))

    async def _done_before(self, context: CommandContext) -> dt.date | None:
        """The newest announcement stored before the command was sent (`sent_at`; None: now).

        Stored times are whole seconds: one stored in the second the command was sent is not done.
        """
        store = self._editor.store
        dates = await store.announcement_dates(dt.date.min)
        if context.sent_at is None or not dates:
            return dates[-1] if dates else None
        sent = context.sent_at.astimezone(dt.UTC).replace(microsecond=0)
        for date in reversed(dates):
            stored = await store.announcement_stored_at(date)
            if stored is not None and stored < sent:
                return date
        return None

    @staticmethod
    def _placement(channel: Channel, moved: bool) -> list[str]:
        """Where the digests now go, when /subscribe changed it."""
        if not moved:
            return []
        if channel.thread_id is not None:
            return ["Daily digests come into this topic."]
        if channel.own_thread:
            return ["Each day's digest comes in a thread of its own."]
        return ["Daily digests come here."]

    async def edit(self, context: CommandContext, command: EditFilters) -> CommandReply:
        """Show, add to, remove from, set or clear one topic's keywords or exclusions."""
        syntax = context.syntax
        channel = await self._editor.load(context)
        index = None if command.topic is None else find_topic(channel, command.topic)
        if command.topic is not None and index is None:
            raise no_topic_error(command.topic, command.name, syntax)
        topic = topic_at(channel, index)
        label = _LABELS[command.field]
        current: tuple[str, ...] = getattr(topic, command.field)
        title = f"{label.capitalize()}{_of(channel, topic)}"
        if command.action is None:
            shown = listing(current, FULL_LIST_CHARS) if current else "(none)"
            return CommandReply(f"{title}: {shown}\n{edit_usage(command.name, syntax)}")
        items = unique(command.items)
        if command.action != "clear" and not items:
            example = usage(
                syntax,
                command.name,
                f"{command.action} diffusion, GAN",
                command.action,
                words="diffusion, GAN",
            )
            raise CommandError(f"Which {label}? e.g. {example}")
        if command.action == "add":
            updated = current + tuple(item for item in items if item not in current)
        elif command.action == "set":
            updated = items
        elif command.action == "clear":
            updated = ()
        else:
            updated = _without(current, items, label)
        if updated == current:
            return CommandReply(f"Nothing to change. {title}: {listing(current) if current else '(none)'}")
        if command.field == "keywords":
            changed = replace(topic, keywords=updated)
        else:
            changed = replace(topic, excludes=updated)
        new_topic = checked(changed, topic)
        saved = await self._editor.save(with_topic(channel, index, new_topic), before=channel)
        lines = [f"{title}: {listing(updated, FULL_LIST_CHARS) if updated else '(none)'}"]
        if command.field == "keywords" and saved.active and not keyword_count(saved):
            lines.append("No keywords left, so your daily digest has nothing to look for.")
        lines.extend(await match_lines(self._editor, saved))
        return CommandReply("\n".join(lines))

    async def categories(self, context: CommandContext, command: SetCategories) -> CommandReply:
        """Show or set the categories of every topic of the chat, or of the one named."""
        channel = await self._editor.load(context)
        index = None if command.topic is None else find_topic(channel, command.topic)
        codes = command.codes
        if command.topic is not None and index is None:
            raise no_topic_error(command.topic, "categories", context.syntax)
        if not codes:
            return CommandReply(self._categories_text(channel, index, context.syntax))
        categories = () if codes == "default" else _parse_categories(codes)
        if index is not None:
            picked = channel.topics[index]
            updated = with_topic(channel, index, replace(picked, categories=categories))
            where = f" for {picked.name}"
        else:
            topics = channel.topics or (topic_at(channel, None),)
            updated = replace(
                channel, topics=tuple(replace(topic, categories=categories) for topic in topics)
            )
            where = f" for all {len(topics)} topics" if len(topics) > 1 else ""
        await self._editor.save(updated, before=channel)
        shown = shown_categories(categories or self._editor.default_categories)
        return CommandReply(f"Categories{where}: {shown}{'' if categories else ' (default)'}")

    def _categories_text(self, channel: Channel, index: int | None, syntax: CommandSyntax) -> str:
        """The categories of the picked topic, or of every topic (one line when they agree)."""
        topics = [topic_at(channel, index)] if index is not None or not channel.topics else channel.topics
        defaults = self._editor.default_categories

        def shown(topic: Topic) -> str:
            """One topic's categories."""
            codes = shown_categories(effective_categories(topic, defaults))
            return codes + ("" if topic.categories else " (default)")

        if len({shown(topic) for topic in topics}) == 1:
            lines = [f"Categories: {shown(topics[0])}"]
        else:
            lines = ["Categories:", *(f"• {topic.name}: {shown(topic)}" for topic in topics)]
        forms = (
            usage(syntax, "categories", "cs.CV cs.CL", codes="cs.CV cs.CL"),
            usage(syntax, "categories", "NAME: cs.RO", codes="cs.RO", topic="NAME"),
        )
        lines.append(
            f"Set with {', '.join(forms)}, or {usage(syntax, 'categories', 'default', codes='default')}."
        )
        return "\n".join(lines)

    async def list_topics(self, context: CommandContext) -> CommandReply:
        """The chat's topics, each with its filters."""
        syntax = context.syntax
        channel = await self._editor.load(context)
        add = usage(syntax, "topics", "add NAME: keywords", "add", name="NAME", keywords="keywords")
        if not channel.topics:
            subscribe = usage(syntax, "subscribe", "WORDS", keywords="WORDS")
            return CommandReply(f"No topics yet. {subscribe} starts one; {add} adds a named one.")
        lines = ["Topics (each a section of the digest):"]
        for topic in channel.topics:
            lines.extend(describe_topic(topic, self._editor.default_categories))
        remove = usage(syntax, "topics", "remove NAME", "remove", name="NAME")
        lines.append(f"Add: {add} · remove: {remove} · /help: importing a config.yml")
        lines.extend(await match_lines(self._editor, channel))
        return CommandReply("\n".join(lines))

    async def add_topic(self, context: CommandContext, command: AddTopic) -> CommandReply:
        """Add a named topic, with the first topic's categories."""
        syntax = context.syntax
        channel = await self._editor.load(context)
        name = clean_name(command.topic)
        keywords = unique(command.keywords)
        if not name or not keywords:
            raise CommandError(add_topic_usage(syntax))
        if len(name) > MAX_TOPIC_NAME:
            raise CommandError(f"A topic name is at most {MAX_TOPIC_NAME} characters.")
        if any(topic.name.casefold() == name.casefold() for topic in channel.topics):
            change = usage(syntax, "keywords", f"{name}: add WORDS", "add", words="WORDS", topic=name)
            raise CommandError(f"There is a topic {name!r} already; change it with {change}.")
        if len(channel.topics) >= MAX_TOPICS_PER_CHAT:
            raise CommandError(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.")
        categories = channel.topics[0].categories if channel.topics else ()
        topic = checked(Topic(name=name, keywords=keywords, categories=categories))
        saved = await self._editor.save(replace(channel, topics=(*channel.topics, topic)), before=channel)
        lines = [f"Topic {name!r} added: {listing(topic.keywords)}"]
        if not saved.active:
            lines.append(f"The daily digest is off: {usage(syntax, 'subscribe')} turns it on.")
        lines.extend(await match_lines(self._editor, saved))
        return CommandReply("\n".join(lines))

    async def remove_topic(self, context: CommandContext, command: RemoveTopic) -> CommandReply:
        """Remove a topic by name (any case)."""
        syntax = context.syntax
        channel = await self._editor.load(context)
        name = clean_name(command.topic)
        if not name:
            raise CommandError(
                f"Which topic? e.g. {usage(syntax, 'topics', 'remove Robots', 'remove', name='Robots')}"
            )
        kept = tuple(topic for topic in channel.topics if topic.name.casefold() != name.casefold())
        if len(kept) == len(channel.topics):
            raise CommandError(f"No topic {clip(name, 40)!r}. {topics_list(syntax)} lists them.")
        saved = await self._editor.save(replace(channel, topics=kept), before=channel)
        lines = [f"Topic {clip(name, MAX_TOPIC_NAME)!r} removed."]
        if saved.active and not keyword_count(saved):
            lines.append("No keywords left, so your daily digest has nothing to look for.")
        lines.extend(await match_lines(self._editor, saved))
        return CommandReply("\n".join(lines))

    async def import_topics(self, context: CommandContext, command: ImportTopics) -> CommandReply:
        """Parse a config fully, check it against the chat's limits, then replace the chat's topics."""
        try:
            topics = parse_topic_config(command.data)
        except TopicConfigError as error:
            return CommandReply(f"That config can't be used: {clip(str(error), 300)}", ok=False)
        if len(topics) > MAX_TOPICS_PER_CHAT:
            return CommandReply(
                f"That config has {len(topics)} topics; a chat holds at most {MAX_TOPICS_PER_CHAT}.", ok=False
            )
        for topic in topics:
            checked(topic)
        channel = await self._editor.load(context)
        saved = await self._editor.save(
            replace(channel, topics=tuple(topics)), before=replace(channel, topics=())
        )
        names = listing([topic.name for topic in topics], 300)
        lines = [f"Imported {plural(len(topics), 'topic')}: {names}"]
        if channel.topics:
            lines.append(f"(they replace the {plural(len(channel.topics), 'topic')} this chat had)")
        if not saved.active:
            lines.append(f"The daily digest is off: {usage(context.syntax, 'subscribe')} turns it on.")
        lines.extend(await match_lines(self._editor, saved))
        return CommandReply("\n".join(lines))
