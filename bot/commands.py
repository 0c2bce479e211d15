"""Chat commands, platform-free: every adapter turns its events into `CommandRequest`s and shows the replies.

Replies are plain text (adapters escape them for their platform) or a digest to render.
Who may change a chat's settings is decided by the adapter (`is_admin`), which knows the platform's roles.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from bot.categories import UnknownCategoryError, normalise_categories
from bot.delivery import Clock, last_delivery_key, utc_now
from bot.digests import build_digest, effective_categories
from bot.matching import Matcher, QuerySyntaxError, validate_topic
from bot.models import Channel, Digest, Topic
from bot.ports import Store
from bot.schedule import ScheduleError, due_at, next_announcement_date, parse_time_of_day, parse_timezone
from bot.topic_config import TopicConfigError, parse_topic_config

log = logging.getLogger(__name__)

MAIN_TOPIC = "Papers"
MAX_TOPICS_PER_CHAT = 20
MAX_KEYWORDS_PER_TOPIC = 200
MAX_INLINE_LIMIT = 200
PREVIEW_DAYS = 7
PREVIEW_TITLES = 3


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as an adapter received it."""

    platform: str
    chat_id: str
    command: str  # without the slash or bot name: "subscribe"
    args: str = ""
    user_id: str | None = None
    is_admin: bool = False  # may change this chat's settings


@dataclass(frozen=True, slots=True)
class CommandReply:
    """What to answer: plain text, and/or a digest to render with the platform's digest format."""

    text: str
    digest: Digest | None = None
    ok: bool = True


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """A command for menus and /help."""

    name: str
    description: str
    usage: str
    admin_only: bool


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("start", "what this bot does, and this chat's settings", "/start", False),
    CommandInfo("help", "every command, with examples", "/help", False),
    CommandInfo("subscribe", "add keywords and turn the daily digest on", "/subscribe VLM, vision language model", True),
    CommandInfo("unsubscribe", "turn the daily digest off (filters are kept)", "/unsubscribe", True),
    CommandInfo("keywords", "show or change keywords", "/keywords add diffusion, =GAN  ·  /keywords remove GAN", True),
    CommandInfo("exclude", "show or change excluded words", "/exclude add survey  ·  /exclude remove survey", True),
    CommandInfo("categories", "show or set arXiv categories", "/categories cs.CV cs.CL", True),
    CommandInfo("time", "when the daily digest comes", "/time 08:00 Europe/Berlin  ·  /time asap", True),
    CommandInfo("topics", "several named topics, each a section", "/topics add Robots: embodied, =VLA", True),
    CommandInfo("settings", "papers per digest before a file, empty-day notice", "/settings max 50  ·  /settings empty off", True),
    CommandInfo("digest", "today's digest now (or for given keywords)", "/digest  ·  /digest diffusion, GAN", False),
    CommandInfo("preview", "how many papers keywords matched this week", "/preview =VLM, MLLM", False),
    CommandInfo("status", "last announcement, filters, next delivery", "/status", False),
)
_BY_NAME = {info.name: info for info in COMMANDS}


class CommandError(Exception):
    """A user-caused problem; its message is the one-line answer."""


def split_keywords(text: str) -> list[str]:
    """Comma-separated keywords; commas inside double quotes stay part of the keyword."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char in ",\n" and not in_quotes:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _describe_topic(topic: Topic, default_categories: Sequence[str]) -> list[str]:
    """A topic's filters, one line each."""
    categories = effective_categories(topic, default_categories)
    return [
        f"• {topic.name}",
        f"  keywords: {', '.join(topic.keywords) if topic.keywords else '(none yet)'}",
        f"  excluded: {', '.join(topic.excludes) if topic.excludes else '(none)'}",
        f"  categories: {' '.join(categories)}{'' if topic.categories else ' (default)'}",
    ]


class CommandService:
    """Runs chat commands against the store."""

    def __init__(
        self,
        store: Store,
        default_categories: Sequence[str],
        *,
        clock: Clock = utc_now,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._default_categories = tuple(default_categories)
        self._clock = clock
        self._on_change = on_change

    async def handle(self, request: CommandRequest) -> CommandReply:
        """Run one command; user mistakes come back as a one-line reply, never as an exception."""
        info = _BY_NAME.get(request.command)
        if info is None:
            return CommandReply(f"Unknown command /{request.command[:32]}. Try /help.", ok=False)
        if info.admin_only and not request.is_admin:
            return CommandReply(
                "Only chat admins can change this chat's settings. Anyone can use /digest, /preview and /status.",
                ok=False,
            )
        handler = getattr(self, f"_cmd_{info.name}")
        try:
            reply: CommandReply = await handler(request)
        except CommandError as error:
            return CommandReply(str(error), ok=False)
        return reply

    # -- helpers --------------------------------------------------------------------------------
    async def _channel(self, request: CommandRequest) -> Channel:
        """The chat's stored channel, or a fresh unsaved one."""
        channel = await self._store.get_channel(request.platform, request.chat_id)
        return channel or Channel(platform=request.platform, chat_id=request.chat_id)

    async def _save(self, channel: Channel) -> Channel:
        """Store a changed channel and tell the scheduler."""
        saved = await self._store.save_channel(channel)
        if self._on_change is not None:
            await self._on_change()
        return saved

    def _checked(self, topic: Topic) -> Topic:
        """A topic whose filters all parse, or a CommandError naming the bad one."""
        if len(topic.keywords) > MAX_KEYWORDS_PER_TOPIC or len(topic.excludes) > MAX_KEYWORDS_PER_TOPIC:
            raise CommandError(f"A topic holds at most {MAX_KEYWORDS_PER_TOPIC} keywords and exclusions.")
        try:
            validate_topic(topic)
        except QuerySyntaxError as error:
            raise CommandError(f"That filter doesn't parse: {error}") from None
        return topic

    @staticmethod
    def _main_topic(channel: Channel) -> Topic:
        """The chat's first topic (the one /keywords and /exclude change)."""
        return channel.topics[0] if channel.topics else Topic(name=MAIN_TOPIC, keywords=())

    @staticmethod
    def _with_main_topic(channel: Channel, topic: Topic) -> Channel:
        """The channel with its first topic replaced (or added)."""
        return replace(channel, topics=(topic, *channel.topics[1:]))

    def _settings_lines(self, channel: Channel) -> list[str]:
        """The chat's settings, for /start and /status."""
        when = (
            "as soon as each announcement is out"
            if channel.delivery_time is None
            else f"{channel.delivery_time:%H:%M} {channel.timezone}"
        )
        lines = [f"Daily digest: {'on' if channel.active else 'off'}, {when}"]
        if channel.topics:
            for topic in channel.topics:
                lines.extend(_describe_topic(topic, self._default_categories))
        else:
            lines.append("No keywords yet.")
        return lines

    # -- commands -------------------------------------------------------------------------------
    async def _cmd_start(self, request: CommandRequest) -> CommandReply:
        """Register the chat and explain the bot."""
        channel = await self._channel(request)
        if channel.id is None:
            channel = await self._save(channel)
        lines = [
            "I post each day's new arXiv papers that match your keywords.",
            "Subscribe with: /subscribe VLM, vision language model",
            "See today's matches any time with /digest; /help lists every command.",
            "",
            *self._settings_lines(channel),
        ]
        return CommandReply("\n".join(lines))

    async def _cmd_help(self, request: CommandRequest) -> CommandReply:
        """Every command with an example."""
        lines = ["Commands (⚙ = chat admins only in groups):"]
        for info in COMMANDS:
            lines.append(f"/{info.name} — {info.description}{' ⚙' if info.admin_only else ''}")
            lines.append(f"    e.g. {info.usage}")
        lines += [
            "",
            "Keywords match anywhere in title or abstract, any case (VLM also matches LVLMs).",
            "Precise forms: =VLM whole word · ti:word title · abs:word abstract · au:Name author ·",
            'cat:cs.CV category · "exact, phrase" · AND OR NOT ( ) — e.g. ti:=VLM AND NOT survey',
        ]
        return CommandReply("\n".join(lines))

    async def _cmd_subscribe(self, request: CommandRequest) -> CommandReply:
        """Add keywords to the main topic and turn the daily digest on."""
        keywords = split_keywords(request.args)
        if not keywords:
            return CommandReply(
                "Tell me what to look for, comma-separated:\n/subscribe VLM, MLLM, vision language model", ok=False
            )
        channel = await self._channel(request)
        topic = self._main_topic(channel)
        added = [keyword for keyword in keywords if keyword not in topic.keywords]
        topic = self._checked(replace(topic, keywords=topic.keywords + tuple(added)))
        latest = await self._store.latest_announcement()
        cursor = channel.last_digest_date
        if not channel.active:
            # The first digest is the next announcement's; /digest shows the current one now.
            cursor = latest.date if latest else None
        channel = await self._save(replace(self._with_main_topic(channel, topic), active=True, last_digest_date=cursor))
        when = "as soon as the next announcement is out" if channel.delivery_time is None else (
            f"at {channel.delivery_time:%H:%M} {channel.timezone}"
        )
        return CommandReply(
            f"Subscribed. Keywords: {', '.join(topic.keywords)}.\n"
            f"Your first digest comes {when}; /digest shows today's now."
        )

    async def _cmd_unsubscribe(self, request: CommandRequest) -> CommandReply:
        """Turn the daily digest off, keeping the filters."""
        channel = await self._channel(request)
        if not channel.active:
            return CommandReply("The daily digest is already off. /subscribe turns it on.")
        await self._save(replace(channel, active=False))
        return CommandReply("Daily digest off. Your filters are kept; /subscribe turns it back on.")

    async def _edit_list(self, request: CommandRequest, field: str, label: str) -> CommandReply:
        """Show, add to or remove from the main topic's keywords or exclusions."""
        channel = await self._channel(request)
        topic = self._main_topic(channel)
        current: tuple[str, ...] = getattr(topic, field)
        action, _, rest = request.args.strip().partition(" ")
        action = action.lower()
        if not action:
            shown = ", ".join(current) if current else "(none)"
            return CommandReply(f"{label.capitalize()}: {shown}\nChange with /{request.command} add … or remove …")
        items = split_keywords(rest)
        if action not in {"add", "remove", "set", "clear"}:
            raise CommandError(f"Use /{request.command} add WORDS, /{request.command} remove WORDS or /{request.command} clear.")
        if action in {"add", "remove", "set"} and not items:
            raise CommandError(f"Which {label}? e.g. /{request.command} {action} diffusion, GAN")
        if action == "add":
            updated = current + tuple(item for item in items if item not in current)
        elif action == "set":
            updated = tuple(dict.fromkeys(items))
        elif action == "clear":
            updated = ()
        else:
            missing = [item for item in items if item not in current]
            if missing:
                raise CommandError(f"Not in your {label}: {', '.join(missing)}")
            updated = tuple(item for item in current if item not in items)
        topic = self._checked(replace(topic, **{field: updated}))
        await self._save(self._with_main_topic(channel, topic))
        return CommandReply(f"{label.capitalize()}: {', '.join(updated) if updated else '(none)'}")

    async def _cmd_keywords(self, request: CommandRequest) -> CommandReply:
        """/keywords [add|remove|set|clear] …"""
        return await self._edit_list(request, "keywords", "keywords")

    async def _cmd_exclude(self, request: CommandRequest) -> CommandReply:
        """/exclude [add|remove|set|clear] …"""
        return await self._edit_list(request, "excludes", "excluded words")

    async def _cmd_categories(self, request: CommandRequest) -> CommandReply:
        """Show or set the categories of every topic of the chat."""
        channel = await self._channel(request)
        codes = request.args.replace(",", " ").split()
        if not codes:
            topic = self._main_topic(channel)
            shown = " ".join(effective_categories(topic, self._default_categories))
            return CommandReply(f"Categories: {shown}\nSet with /categories cs.CV cs.CL (or /categories default)")
        if [code.lower() for code in codes] == ["default"]:
            categories: tuple[str, ...] = ()
        else:
            try:
                categories = normalise_categories(codes)
            except UnknownCategoryError as error:
                raise CommandError(f"Unknown arXiv categor{'y' if len(error.unknown) == 1 else 'ies'}: "
                                   f"{', '.join(error.unknown)}. Codes look like cs.CV or math.PR.") from None
        topics = tuple(replace(topic, categories=categories) for topic in (channel.topics or (self._main_topic(channel),)))
        await self._save(replace(channel, topics=topics))
        shown = " ".join(categories or self._default_categories)
        return CommandReply(f"Categories: {shown}")

    async def _cmd_time(self, request: CommandRequest) -> CommandReply:
        """Set when the daily digest comes: a local time and time zone, or as soon as possible."""
        channel = await self._channel(request)
        parts = request.args.split()
        if not parts:
            when = "as soon as each announcement is out" if channel.delivery_time is None else (
                f"{channel.delivery_time:%H:%M} {channel.timezone}"
            )
            return CommandReply(f"Digest time: {when}\nSet with /time 08:00 Europe/Berlin, or /time asap")
        if parts[0].lower() in {"asap", "now", "off", "default"}:
            await self._save(replace(channel, delivery_time=None))
            return CommandReply("Your digest now comes as soon as each announcement is out.")
        if len(parts) > 2:
            raise CommandError("Use /time HH:MM [time zone], e.g. /time 08:00 Europe/Berlin")
        try:
            time_of_day = parse_time_of_day(parts[0])
            zone = parse_timezone(parts[1]).key if len(parts) == 2 else channel.timezone
        except ScheduleError as error:
            raise CommandError(str(error)) from None
        await self._save(replace(channel, delivery_time=time_of_day, timezone=zone))
        return CommandReply(f"Your digest now comes at {time_of_day:%H:%M} {zone} on announcement days.")

    async def _cmd_topics(self, request: CommandRequest) -> CommandReply:
        """List topics, add one (`add NAME: keywords`), remove one, or import a YAML config."""
        channel = await self._channel(request)
        action, _, rest = request.args.strip().partition(" ")
        action = action.lower()
        if not action:
            if not channel.topics:
                return CommandReply("No topics yet. /subscribe adds keywords; /topics add NAME: keywords adds a topic.")
            lines = ["Topics (each a section of the digest):"]
            for topic in channel.topics:
                lines.extend(_describe_topic(topic, self._default_categories))
            lines.append("Add: /topics add NAME: keywords · remove: /topics remove NAME · or send a config.yml")
            return CommandReply("\n".join(lines))
        if action == "add":
            name, colon, keywords_text = rest.partition(":")
            name = " ".join(name.split())
            keywords = split_keywords(keywords_text)
            if not colon or not name or not keywords:
                raise CommandError("Use /topics add NAME: keyword, keyword — e.g. /topics add Robots: embodied, =VLA")
            if len(name) > 64:
                raise CommandError("A topic name is at most 64 characters.")
            if any(topic.name.lower() == name.lower() for topic in channel.topics):
                raise CommandError(f"There is already a topic {name!r}.")
            if len(channel.topics) >= MAX_TOPICS_PER_CHAT:
                raise CommandError(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.")
            categories = channel.topics[0].categories if channel.topics else ()
            topic = self._checked(Topic(name=name, keywords=tuple(keywords), categories=categories))
            await self._save(replace(channel, topics=(*channel.topics, topic)))
            return CommandReply(f"Topic {name!r} added: {', '.join(topic.keywords)}")
        if action == "remove":
            name = " ".join(rest.split())
            kept = tuple(topic for topic in channel.topics if topic.name.lower() != name.lower())
            if len(kept) == len(channel.topics):
                raise CommandError(f"No topic {name[:64]!r}. /topics lists them.")
            await self._save(replace(channel, topics=kept))
            return CommandReply(f"Topic {name!r} removed.")
        raise CommandError("Use /topics, /topics add NAME: keywords, or /topics remove NAME.")

    async def import_config(self, request: CommandRequest, data: bytes) -> CommandReply:
        """Replace the chat's topics with those of an awesome-daily-AI-arxiv YAML config."""
        if not request.is_admin:
            return CommandReply("Only chat admins can change this chat's topics.", ok=False)
        try:
            topics = parse_topic_config(data)
        except TopicConfigError as error:
            return CommandReply(f"That config can't be used: {error}", ok=False)
        if len(topics) > MAX_TOPICS_PER_CHAT:
            return CommandReply(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.", ok=False)
        channel = await self._channel(request)
        await self._save(replace(channel, topics=tuple(topics)))
        names = ", ".join(topic.name for topic in topics)
        return CommandReply(f"Imported {len(topics)} topic{'s' if len(topics) != 1 else ''}: {names}")

    async def _cmd_settings(self, request: CommandRequest) -> CommandReply:
        """Per-chat digest settings: how many papers go as messages, and the empty-day notice."""
        channel = await self._channel(request)
        parts = request.args.lower().split()
        if not parts:
            return CommandReply(
                f"Papers as messages before the rest comes as a file: {channel.max_inline_papers} (/settings max N)\n"
                f"Notice on days with no match: {'on' if channel.notify_empty else 'off'} (/settings empty on|off)"
            )
        if parts[0] == "max" and len(parts) == 2 and parts[1].isdigit():
            limit = int(parts[1])
            if not 1 <= limit <= MAX_INLINE_LIMIT:
                raise CommandError(f"Use a number from 1 to {MAX_INLINE_LIMIT}.")
            await self._save(replace(channel, max_inline_papers=limit))
            return CommandReply(f"Up to {limit} papers come as messages; above that, the whole digest also as a file.")
        if parts[0] == "empty" and len(parts) == 2 and parts[1] in {"on", "off"}:
            await self._save(replace(channel, notify_empty=parts[1] == "on"))
            return CommandReply(f"Notice on days with no match: {parts[1]}.")
        raise CommandError("Use /settings max N or /settings empty on|off.")

    async def _cmd_digest(self, request: CommandRequest) -> CommandReply:
        """Today's digest for the chat's filters, or an ad-hoc one for given keywords (nothing saved)."""
        announcement = await self._store.latest_announcement()
        if announcement is None:
            return CommandReply("No announcement stored yet; I fetch arXiv's feed regularly, try again soon.", ok=False)
        keywords = split_keywords(request.args)
        if keywords:
            topics: tuple[Topic, ...] = (self._checked(Topic(name=", ".join(keywords)[:64], keywords=tuple(keywords))),)
        else:
            channel = await self._channel(request)
            topics = tuple(topic for topic in channel.topics if topic.keywords)
            if not topics:
                return CommandReply("No keywords yet: /subscribe WORDS, or /digest WORDS for a one-off.", ok=False)
        digest = build_digest(announcement, topics, self._default_categories)
        return CommandReply(f"{digest.matched_count} of {digest.announced_count} papers", digest=digest)

    async def _cmd_preview(self, request: CommandRequest) -> CommandReply:
        """How many papers these keywords matched on each stored announcement of the last week."""
        keywords = split_keywords(request.args)
        if not keywords:
            return CommandReply("Which keywords? e.g. /preview =VLM, vision language model", ok=False)
        topic = self._checked(Topic(name="preview", keywords=tuple(keywords)))
        since = self._clock().date() - dt.timedelta(days=PREVIEW_DAYS + 1)
        dates = await self._store.announcement_dates(since)
        if not dates:
            return CommandReply("No announcement stored yet; try again after the next one.", ok=False)
        matcher = Matcher.compile([topic], self._default_categories)
        lines = [f"Keywords: {', '.join(keywords)}"]
        for date in reversed(dates):
            announcement = await self._store.get_announcement(date)
            if announcement is None:
                continue
            hits = matcher.match(announcement.papers)[0]
            lines.append(f"{date.isoformat()}: {len(hits)} of {len(announcement.papers)} papers")
            for index in hits[:PREVIEW_TITLES]:
                title = " ".join(announcement.papers[index].title.split())
                lines.append(f"  · {title[:120]}")
        return CommandReply("\n".join(lines))

    async def _cmd_status(self, request: CommandRequest) -> CommandReply:
        """The last announcement, the chat's filters, the next delivery, the last delivery's result."""
        channel = await self._channel(request)
        latest = await self._store.latest_announcement()
        lines = []
        if latest is None:
            lines.append("Last announcement: none stored yet.")
        else:
            lines.append(f"Last announcement: {latest.date.isoformat()}, {len(latest.papers)} papers.")
        last_check = await self._store.get_state("ingest:last_check")
        if last_check:
            try:
                check = json.loads(last_check)
                lines.append(f"Last arXiv check: {check.get('message', check.get('outcome', '?'))}")
            except (ValueError, AttributeError):
                log.warning("unreadable ingest:last_check state")
        lines.extend(self._settings_lines(channel))
        if channel.active:
            after = channel.last_digest_date or (latest.date if latest else self._clock().date())
            upcoming = next_announcement_date(after)
            if latest is not None and (channel.last_digest_date is None or channel.last_digest_date < latest.date):
                upcoming = latest.date
            when = due_at(upcoming, channel.delivery_time, channel.timezone)
            lines.append(f"Next delivery: {upcoming.isoformat()} announcement, from {when:%Y-%m-%d %H:%M} UTC.")
        if channel.id is not None:
            raw = await self._store.get_state(last_delivery_key(channel.id))
            if raw:
                try:
                    last = json.loads(raw)
                    lines.append(
                        f"Last delivery: {last['date']} announcement, {last['papers']} papers, {last['result']} "
                        f"(at {last['at']})."
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("unreadable delivery state for channel %s", channel.id)
        return CommandReply("\n".join(lines))
