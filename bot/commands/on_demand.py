"""Digests on demand: /digest (today's, or for one-off keywords) and /preview (a week of matches)."""

from __future__ import annotations

import datetime as dt

from bot.commands.editing import MAX_TOPIC_NAME, ChannelEditor, ad_hoc_categories, checked
from bot.commands.table import usage
from bot.commands.values import CommandContext, CommandReply, DigestNow, Preview
from bot.commands.wording import clip, day, listing, plural, unique
from bot.digests import announced_count, build_digest, effective_categories
from bot.matching import Matcher
from bot.models import Style, Topic
from bot.views import ViewService

PREVIEW_DAYS = 7
PREVIEW_TITLES = 3
_PREVIEW_EXAMPLE = "=VLM, vision language model"


class OnDemandCommands:
    """/digest and /preview: they read the store, and change nothing."""

    def __init__(self, editor: ChannelEditor, views: ViewService) -> None:
        self._editor = editor
        self._views = views

    async def digest(self, context: CommandContext, command: DigestNow) -> CommandReply:
        """Today's digest for the chat's filters, or an ad-hoc one for given keywords, as one paged message.

        The answer is a stored view (its pages turn later, nothing of the chat's settings changes). The
        same request in the same chat within `bot.views.REPEAT_WINDOW` points to the message already
        there instead, unless the answer is private (a Discord ephemeral reply nobody else sees).
        """
        store = self._editor.store
        keywords = unique(command.keywords)
        channel = await store.get_channel(context.platform, context.chat_id)
        if keywords:
            name = clip(", ".join(keywords), MAX_TOPIC_NAME)
            topic = Topic(name=name, keywords=keywords, categories=ad_hoc_categories(channel))
            topics: tuple[Topic, ...] = (checked(topic),)
        else:
            topics = tuple(topic for topic in (channel.topics if channel else ()) if topic.keywords)
            if not topics:
                syntax = context.syntax
                return CommandReply(
                    f"No keywords yet: {usage(syntax, 'subscribe', 'WORDS', keywords='WORDS')}, or "
                    f"{usage(syntax, 'digest', 'WORDS', keywords='WORDS')} for a one-off.",
                    ok=False,
                )
        announcement = await store.latest_announcement()
        if announcement is None:
            return CommandReply(
                "No announcement stored yet; I check arXiv regularly, try again later.", ok=False
            )
        style = channel.style if channel is not None else Style.COMPACT
        # What was asked, in which style: a /digest after a style change is a new one.
        request_key = f"{style.value}:" + ("k:" + "\n".join(keywords) if keywords else "chat")
        if not context.private:
            earlier = await self._views.repeated(
                context.platform, context.chat_id, announcement.date, request_key
            )
            if earlier is not None:
                return CommandReply(
                    f"This digest of {day(announcement.date)} was posted here a moment ago: "
                    f"{plural(earlier.matched_count, 'paper')}, pages a tap away in that message.",
                    repeat_of=earlier,
                )
        digest = build_digest(announcement, topics, self._editor.default_categories)
        summary = (
            f"Digest of {day(announcement.date)}: {digest.matched_count} of "
            f"{plural(digest.announced_count, 'paper')} match."
        )
        if not digest.matched_count:
            return CommandReply(summary)
        loaded = await self._views.on_demand(
            context.platform,
            context.chat_id,
            digest,
            style=style,
            request_key=request_key,
            ranked=channel.ranking if channel is not None else True,
        )
        return CommandReply(summary, view=loaded)

    async def preview(self, context: CommandContext, command: Preview) -> CommandReply:
        """How many papers these keywords matched on each stored announcement of the last week."""
        store, defaults = self._editor.store, self._editor.default_categories
        keywords = unique(command.keywords)
        if not keywords:
            example = usage(context.syntax, "preview", _PREVIEW_EXAMPLE, keywords=_PREVIEW_EXAMPLE)
            return CommandReply(f"Which keywords? e.g. {example}", ok=False)
        channel = await store.get_channel(context.platform, context.chat_id)
        topic = checked(Topic(name="preview", keywords=keywords, categories=ad_hoc_categories(channel)))
        since = self._editor.today() - dt.timedelta(days=PREVIEW_DAYS - 1)
        dates = await store.announcement_dates(since)
        if not dates:
            return CommandReply(
                f"No announcement stored from the last {PREVIEW_DAYS} days; try again after the next one.",
                ok=False,
            )
        matcher = Matcher.compile([topic], defaults)
        watched = effective_categories(topic, defaults)
        lines = [f"Matches for {listing(keywords, 300)}, newest first:"]
        for date in reversed(dates):
            announcement = await store.get_announcement(date)
            if announcement is None:
                continue
            hits = matcher.match(announcement.papers)[0]
            lines.append(
                f"{day(date)}: {len(hits)} of {plural(announced_count(announcement, watched), 'paper')}"
            )
            for index in hits[:PREVIEW_TITLES]:
                lines.append(f"  · {clip(announcement.papers[index].title, 120)}")
            if len(hits) > PREVIEW_TITLES:
                lines.append(f"  · … and {len(hits) - PREVIEW_TITLES} more")
        return CommandReply("\n".join(lines))
