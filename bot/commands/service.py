"""Chat commands, platform-free: every adapter turns its events into `CommandRequest`s and shows the replies.

Replies are plain text (adapters escape them for their platform) or a digest to render.
Who may change a chat's settings is decided by the adapter (`is_admin`), which knows the platform's roles.

Whatever a user types, `CommandService.handle` and `CommandService.import_config` answer with a
`CommandReply`: a mistake gets a one-line explanation (`ok=False`), and an unexpected failure is logged
and answered with an apology, never a traceback. Every change is checked in full before anything is
stored, so a refused command leaves the chat exactly as it was; the request's (platform, chat id) is
the only chat a command reads settings from or writes to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

from bot.categories import ARCHIVE_CATEGORIES, UnknownCategoryError, expand_categories
from bot.clock import Clock, utc_now
from bot.commands.table import COMMANDS, COMMANDS_BY_NAME
from bot.commands.values import CommandError, CommandReply, CommandRequest, split_keywords
from bot.digests import announced_count, build_digest, effective_categories
from bot.ingest import NO_ANNOUNCEMENT_KEY
from bot.matching import Matcher, QuerySyntaxError, validate_topic
from bot.models import Channel, DeliveryResult, FeedCheck, Topic
from bot.ports import Store
from bot.schedule import (
    ARXIV_TZ,
    ScheduleError,
    due_at,
    next_announcement_date,
    parse_time_of_day,
    parse_timezone,
    zone_names,
)
from bot.topic_config import TopicConfigError, clean_name, parse_topic_config

log = logging.getLogger(__name__)

MAIN_TOPIC = "Papers"
# What one chat may store: bounded so that no chat can make the store or a delivery round heavy.
MAX_TOPICS_PER_CHAT = 20
MAX_KEYWORDS_PER_TOPIC = 200  # and as many exclusions
MAX_FILTERS_PER_CHAT = 1000  # keywords and exclusions over all topics
MAX_TOPIC_NAME = 64
MAX_ARGS_CHARS = 100_000  # far above any chat platform's message size
MAX_INLINE_LIMIT = 200
PREVIEW_DAYS = 7
PREVIEW_TITLES = 3
LIST_CHARS = 600  # a list of keywords shown in /status, /start, /topics
FULL_LIST_CHARS = 3500  # a list shown on its own (/keywords, /exclude)

ADMIN_ONLY_MESSAGE = (
    "Only chat admins can change this chat's settings. Anyone can use /digest, /preview, /status and /help."
)
INTERNAL_ERROR_MESSAGE = "Sorry, something went wrong on my side. Please try again in a little while."
SUBSCRIBE_USAGE = "Tell me what to look for, comma-separated:\n/subscribe VLM, MLLM, vision language model"
ASAP_WORDS = frozenset({"asap", "now", "default"})
_EDIT_ACTIONS = {
    "add": "add",
    "remove": "remove",
    "rm": "remove",
    "delete": "remove",
    "set": "set",
    "clear": "clear",
}
# C0 controls (but tab, newline and carriage return) and DEL: invisible, and never meant.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"[0-9]{1,6}")


def _clean(text: str) -> str:
    """User text made safe to store: no lone surrogates (SQLite refuses them), no control characters."""
    return _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))


def _unique(items: Iterable[str]) -> list[str]:
    """The items in order, each once."""
    return list(dict.fromkeys(items))


def _clip(text: str, limit: int = 60) -> str:
    """Text on one line, shortened to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _listing(items: Sequence[str], limit: int = LIST_CHARS, separator: str = ", ") -> str:
    """Items joined, cut after about `limit` characters with a count of the rest."""
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) > limit:
            return f"{separator.join(shown)} … (+{len(items) - len(shown)} more)"
        shown.append(_clip(item, limit))
        used += len(item) + len(separator)
    return separator.join(shown)


def _plural(count: int, word: str) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _day(date: dt.date) -> str:
    """A date as shown to users: `Wed 2025-11-12`."""
    return f"{date:%a} {date.isoformat()}"


def _keyword_count(channel: Channel) -> int:
    """How many keywords the chat's topics hold in all."""
    return sum(len(topic.keywords) for topic in channel.topics)


def _filter_count(channel: Channel) -> int:
    """How many keywords and exclusions the chat's topics hold in all."""
    return sum(len(topic.keywords) + len(topic.excludes) for topic in channel.topics)


def _resolve_zone(text: str) -> str:
    """The canonical name of the time zone a user typed (any case), or a CommandError."""
    cleaned = text.strip()
    name = zone_names().get(cleaned.lower())
    if name is not None:
        try:
            return parse_timezone(name).key
        except (ScheduleError, OSError, ValueError):
            pass
    raise CommandError(
        f"{_clip(cleaned, 40)!r} is not a time zone I know: use a name like Europe/Berlin or UTC."
    )


def _zone(channel: Channel) -> zoneinfo.ZoneInfo:
    """The chat's time zone (UTC if the stored name no longer loads)."""
    try:
        return zoneinfo.ZoneInfo(channel.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, OSError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _shown_categories(categories: Sequence[str]) -> str:
    """Categories as shown: a whole archive as `cs.*`."""
    remaining = list(categories)
    shown: list[str] = []
    for archive, members in ARCHIVE_CATEGORIES.items():
        if set(members) <= set(remaining):
            remaining = [code for code in remaining if code not in members]
            shown.append(f"{archive}.*")
    return " ".join(sorted(shown) + remaining)


def _parse_categories(codes: Sequence[str]) -> tuple[str, ...]:
    """Category codes a user typed, canonical (an archive expanded); a CommandError names unknown ones."""
    try:
        return expand_categories(codes)
    except UnknownCategoryError as error:
        unknown = [_clip(code, 20) for code in error.unknown]
        raise CommandError(
            f"Unknown arXiv categor{'y' if len(unknown) == 1 else 'ies'}: {_listing(unknown, 200)}. "
            "Codes look like cs.CV or math.PR."
        ) from None


def _select_topic(channel: Channel, args: str) -> tuple[int | None, str]:
    """`NAME: rest` picks the chat's topic NAME (any case); otherwise no topic is picked and args stay."""
    head, colon, rest = args.partition(":")
    if colon:
        wanted = clean_name(head).casefold()
        for index, topic in enumerate(channel.topics):
            if topic.name.casefold() == wanted:
                return index, rest.strip()
    return None, args.strip()


def _describe_topic(topic: Topic, default_categories: Sequence[str]) -> list[str]:
    """A topic's filters, a line each."""
    categories = _shown_categories(effective_categories(topic, default_categories))
    return [
        f"• {topic.name}",
        f"  keywords: {_listing(topic.keywords) if topic.keywords else '(none yet)'}",
        f"  excluded: {_listing(topic.excludes) if topic.excludes else '(none)'}",
        f"  categories: {categories}{'' if topic.categories else ' (default)'}",
    ]


_SAYS_NO_ANNOUNCEMENT = re.compile(
    r"^no announcement(?: for \w+ \d{4}-\d{2}-\d{2})?(?:: | \((?P<why>.*)\)$)", re.IGNORECASE
)


def _without_day(reason: str) -> str:
    """A feed's "no announcement for Thursday 2025-11-13 (a holiday…)" as just its why ("a holiday…"),
    since the /status line already says which day had no announcement."""
    match = _SAYS_NO_ANNOUNCEMENT.match(reason)
    if match is None:
        return reason
    return match["why"] if match["why"] is not None else reason[match.end() :]


def _delivery_time_text(channel: Channel) -> str:
    """When the chat's digest comes, in words."""
    if channel.delivery_time is None:
        return f"as soon as each announcement is out (time zone {channel.timezone})"
    return f"at {channel.delivery_time:%H:%M} {channel.timezone} on announcement days"


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
        # Commands that change a chat read it, change it and write it back; one at a time, so two
        # quick edits (two admins, or a double tap) never undo each other.
        self._write_lock = asyncio.Lock()
        self._handlers: dict[str, Callable[[CommandRequest], Awaitable[CommandReply]]] = {
            "start": self._cmd_start,
            "help": self._cmd_help,
            "subscribe": self._cmd_subscribe,
            "unsubscribe": self._cmd_unsubscribe,
            "keywords": self._cmd_keywords,
            "exclude": self._cmd_exclude,
            "categories": self._cmd_categories,
            "time": self._cmd_time,
            "topics": self._cmd_topics,
            "settings": self._cmd_settings,
            "digest": self._cmd_digest,
            "preview": self._cmd_preview,
            "status": self._cmd_status,
        }
        missing = {info.name for info in COMMANDS} ^ set(self._handlers)
        assert not missing, f"commands without a handler (or handlers without a command): {missing}"

    async def handle(self, request: CommandRequest) -> CommandReply:
        """Run one command; user mistakes come back as a one-line reply, never as an exception."""
        name = request.command.strip().lstrip("/").lower()
        info = COMMANDS_BY_NAME.get(name)
        if info is None:
            return CommandReply(f"Unknown command /{_clip(_clean(name), 32)}. Try /help.", ok=False)
        if info.admin_only and not request.is_admin:
            return CommandReply(ADMIN_ONLY_MESSAGE, ok=False)
        if len(request.args) > MAX_ARGS_CHARS:
            return CommandReply("That is far too long for me; please send something shorter.", ok=False)
        request = replace(request, command=name, args=_clean(request.args).strip())
        handler = self._handlers[name]
        return await self._guarded(request, handler(request), writes=info.admin_only or name == "start")

    async def import_config(self, request: CommandRequest, data: bytes) -> CommandReply:
        """Replace the chat's topics with those of an awesome-daily-AI-arxiv YAML config."""
        if not request.is_admin:
            return CommandReply(ADMIN_ONLY_MESSAGE, ok=False)
        return await self._guarded(request, self._import(request, data), writes=True)

    async def _guarded(
        self, request: CommandRequest, work: Awaitable[CommandReply], *, writes: bool
    ) -> CommandReply:
        """Await a command: a CommandError becomes its answer, anything unexpected an apology (logged)."""
        try:
            if writes:
                async with self._write_lock:
                    return await work
            return await work
        except CommandError as error:
            return CommandReply(str(error), ok=False)
        except Exception:
            log.exception("/%s failed in %s chat %s", request.command, request.platform, request.chat_id)
            return CommandReply(INTERNAL_ERROR_MESSAGE, ok=False)

    # -- helpers --------------------------------------------------------------------------------
    async def _channel(self, request: CommandRequest) -> Channel:
        """The chat's stored channel, or a fresh unsaved one (knowing its server, when it has one)."""
        channel = await self._store.get_channel(request.platform, request.chat_id)
        if channel is None:
            return Channel(platform=request.platform, chat_id=request.chat_id, server_id=request.server_id)
        if channel.server_id is None and request.server_id is not None:
            return replace(channel, server_id=request.server_id)
        return channel

    async def _save(self, channel: Channel, *, before: Channel | None = None) -> Channel:
        """Check the chat's limits, store the changed channel and tell the scheduler.

        Limits are only enforced against growth, so a chat over them (an older import) can still shrink.
        The delivery cursor never moves backwards: a digest delivered meanwhile stays delivered.
        """
        previous = before or channel
        if len(channel.topics) > max(MAX_TOPICS_PER_CHAT, len(previous.topics)):
            raise CommandError(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.")
        if _filter_count(channel) > max(MAX_FILTERS_PER_CHAT, _filter_count(previous)):
            raise CommandError(
                f"A chat holds at most {MAX_FILTERS_PER_CHAT} keywords and exclusions over all its topics."
            )
        stored = await self._store.get_channel(channel.platform, channel.chat_id)
        if (
            stored is not None
            and stored.done_up_to is not None
            and (channel.done_up_to is None or stored.done_up_to > channel.done_up_to)
        ):
            channel = replace(channel, done_up_to=stored.done_up_to)
        saved = await self._store.save_channel(channel)
        if self._on_change is not None:
            await self._on_change()
        return saved

    def _checked(self, topic: Topic, before: Topic | None = None) -> Topic:
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

    @staticmethod
    def _topic_at(channel: Channel, index: int | None) -> Topic:
        """The picked topic, or the chat's first (the one /subscribe, /keywords and /exclude change)."""
        if index is not None:
            return channel.topics[index]
        return channel.topics[0] if channel.topics else Topic(name=MAIN_TOPIC, keywords=())

    @staticmethod
    def _with_topic(channel: Channel, index: int | None, topic: Topic) -> Channel:
        """The channel with the picked (or first) topic replaced, or added when it has none."""
        if not channel.topics:
            return replace(channel, topics=(topic,))
        position = index or 0
        return replace(channel, topics=(*channel.topics[:position], topic, *channel.topics[position + 1 :]))

    def _default_for(self, channel: Channel | None) -> tuple[str, ...]:
        """The categories an ad-hoc query of this chat watches: its first topic's, or the defaults."""
        if channel is not None and channel.topics and channel.topics[0].categories:
            return channel.topics[0].categories
        return ()

    def _settings_lines(self, channel: Channel) -> list[str]:
        """The chat's settings, for /start and /status."""
        lines = [f"Daily digest: {'on' if channel.active else 'off'}, {_delivery_time_text(channel)}."]
        if channel.topics:
            for topic in channel.topics:
                lines.extend(_describe_topic(topic, self._default_categories))
        else:
            lines.append("No keywords yet.")
        return lines

    def _today(self) -> dt.date:
        """Today's date in US Eastern time: the date of the announcement rss.arxiv.org shows now."""
        return self._clock().astimezone(ARXIV_TZ).date()

    async def _latest_date(self) -> dt.date | None:
        """The date of the newest stored announcement."""
        dates = await self._store.announcement_dates(dt.date.min)
        return dates[-1] if dates else None

    async def _last_check(self) -> FeedCheck | None:
        """The ingest service's record of its last feed check."""
        return await self._store.last_feed_check()

    async def _no_announcement_reason(self, day: dt.date, check: FeedCheck | None) -> str | None:
        """Why arXiv has (or will have) no announcement dated `day`, when that is known."""
        if day.weekday() >= 5:
            return "arXiv announces nothing on Saturdays and Sundays"
        reason = await self._store.get_state(NO_ANNOUNCEMENT_KEY + day.isoformat())
        if reason:
            return _clip(reason, 200)
        if check is not None and check.outcome == "no_announcement" and check.date == day:
            return _clip(check.message or "the feed is empty", 200)
        return None

    async def _next_digest_line(self, channel: Channel, latest: dt.date | None) -> str:
        """When the chat's next daily digest comes, in its own time zone."""
        now = self._clock()
        cursor = channel.done_up_to
        pending = latest is not None and (cursor is None or cursor < latest)
        if pending and latest is not None:
            date = latest
        else:
            today = self._today()
            start = today
            if await self._no_announcement_reason(today, await self._last_check()) is not None:
                start = today + dt.timedelta(days=1)
            while start.weekday() >= 5:
                start += dt.timedelta(days=1)
            done = max((day for day in (cursor, latest) if day is not None), default=None)
            date = start if done is None or start > done else next_announcement_date(done)
        due = due_at(date, channel.delivery_time, channel.timezone)
        if due <= now:
            if pending:
                return f"Next digest: the announcement of {_day(date)}, due now."
            return f"Next digest: the announcement of {_day(date)}, as soon as arXiv publishes it."
        local = due.astimezone(_zone(channel))
        at = f"{local:%a} {local:%Y-%m-%d %H:%M} {channel.timezone}"
        if channel.delivery_time is None:
            return f"Next digest: as soon as the announcement of {_day(date)} is out (from {at})."
        return f"Next digest: {at}, with the announcement of {_day(date)}."

    def _last_delivery_line(self, last: DeliveryResult, channel: Channel) -> str:
        """The result of the chat's last delivery, in words."""
        when = last.delivered_at.astimezone(_zone(channel))
        at = f"{when:%a} {when:%Y-%m-%d %H:%M} {channel.timezone}"
        outcomes = {
            "ok": f"{_plural(last.papers, 'paper')} sent",
            "empty": "no paper matched",
            "failed": "could not be sent; I'll try again",
            "gone": "I could not reach this chat, so the daily digest was turned off",
        }
        outcome = outcomes.get(last.result, _clip(last.result, 40))
        return f"Last digest: the announcement of {last.announcement_date.isoformat()}, {outcome} ({at})."

    # -- commands -------------------------------------------------------------------------------
    async def _cmd_start(self, request: CommandRequest) -> CommandReply:
        """Register the chat and explain the bot."""
        channel = await self._channel(request)
        if channel.id is None:
            channel = await self._store.save_channel(channel)
        lines = [
            "I post each day's new arXiv papers that match your keywords.",
            "Subscribe with keywords, comma-separated: /subscribe VLM, vision language model",
            "/digest shows today's matches at once; /help lists every command.",
            "",
            *self._settings_lines(channel),
        ]
        return CommandReply("\n".join(lines))

    async def _cmd_help(self, request: CommandRequest) -> CommandReply:
        """Every command with an example."""
        syntax = request.syntax
        lines = ["Commands (⚙ = only chat admins, in groups):"]
        for info in COMMANDS:
            if not syntax.offers(info):
                continue
            lines.append(f"/{info.name} — {info.description}{' ⚙' if info.admin_only else ''}")
            examples = "  ·  ".join(syntax.example(info, example) for example in info.examples)
            lines.append(f"    e.g. {examples}")
        lines += [
            "",
            "Keywords match anywhere in title or abstract, any case (VLM also matches LVLMs).",
            "Precise forms: =VLM whole word · ti:word title · abs:word abstract · au:Name author ·",
            'cat:cs.CV category · "exact, phrase" · AND OR NOT ( ) — e.g. ti:=VLM AND NOT survey',
            *syntax.extra_help,
        ]
        return CommandReply("\n".join(lines))

    async def _cmd_subscribe(self, request: CommandRequest) -> CommandReply:
        """Add keywords to the first topic and turn the daily digest on."""
        keywords = _unique(split_keywords(request.args))
        channel = await self._channel(request)
        if not keywords and not _keyword_count(channel):
            return CommandReply(SUBSCRIBE_USAGE, ok=False)
        if not keywords and channel.active:
            return CommandReply(
                "You are subscribed already. Add keywords with /subscribe WORDS; /status shows the next one."
            )
        updated = channel
        topic = self._topic_at(channel, None)
        added = [keyword for keyword in keywords if keyword not in topic.keywords]
        if added:
            topic = self._checked(replace(topic, keywords=topic.keywords + tuple(added)), topic)
            updated = self._with_topic(channel, None, topic)
        if channel.active:
            if not added:
                return CommandReply(f"You follow {_listing(keywords, 200)} already.")
            await self._save(updated, before=channel)
            return CommandReply(f"Added. Keywords{self._of(channel, topic)}: {_listing(topic.keywords)}")
        # The first digest is the next announcement's: the cursor says the latest stored one is done.
        latest = await self._latest_date()
        cursor = max((day for day in (channel.done_up_to, latest) if day is not None), default=None)
        saved = await self._save(replace(updated, active=True, done_up_to=cursor), before=channel)
        if len(saved.topics) > 1 and not added:
            keywords_line = f"Topics: {_listing([each.name for each in saved.topics])}"
        else:
            keywords_line = f"Keywords{self._of(saved, topic)}: {_listing(topic.keywords)}"
        return CommandReply(
            f"Subscribed: the daily digest is on.\n{keywords_line}\n"
            f"{await self._next_digest_line(saved, latest)} /digest shows today's papers now."
        )

    @staticmethod
    def _of(channel: Channel, topic: Topic) -> str:
        """` of NAME` when the chat has several topics."""
        return f" of {topic.name}" if len(channel.topics) > 1 else ""

    async def _cmd_unsubscribe(self, request: CommandRequest) -> CommandReply:
        """Turn the daily digest off, keeping the filters."""
        channel = await self._store.get_channel(request.platform, request.chat_id)
        if channel is None or channel.id is None or not channel.active:
            return CommandReply("The daily digest is off already. /subscribe turns it on.")
        await self._store.set_channel_active(channel.id, False)
        if self._on_change is not None:
            await self._on_change()
        return CommandReply("Daily digest off. Your filters are kept; /subscribe turns it back on.")

    async def _edit_list(self, request: CommandRequest, field: str, label: str) -> CommandReply:
        """Show, add to, remove from, set or clear one topic's keywords or exclusions."""
        channel = await self._channel(request)
        index, rest = _select_topic(channel, request.args)
        topic = self._topic_at(channel, index)
        current: tuple[str, ...] = getattr(topic, field)
        title = f"{label.capitalize()}{self._of(channel, topic)}"
        words = rest.split(None, 1)
        if not words:
            shown = _listing(current, FULL_LIST_CHARS) if current else "(none)"
            return CommandReply(
                f"{title}: {shown}\nChange with /{request.command} add … or /{request.command} remove …"
            )
        action = _EDIT_ACTIONS.get(words[0].lower())
        items = _unique(split_keywords(words[1] if len(words) > 1 else ""))
        command = f"/{request.command}"
        usage = f"Use {command} add WORDS, {command} remove WORDS, {command} set WORDS or {command} clear."
        if action is None:
            head, colon, _ = request.args.partition(":")
            if index is None and colon:
                raise CommandError(f"No topic {_clip(head, 40)!r} (/topics lists them). {usage}")
            raise CommandError(usage)
        if action != "clear" and not items:
            raise CommandError(f"Which {label}? e.g. /{request.command} {action} diffusion, GAN")
        if action == "add":
            updated = current + tuple(item for item in items if item not in current)
        elif action == "set":
            updated = tuple(items)
        elif action == "clear":
            updated = ()
        else:
            updated = self._without(current, items, label)
        if updated == current:
            return CommandReply(f"Nothing to change. {title}: {_listing(current) if current else '(none)'}")
        changed = (
            replace(topic, keywords=updated) if field == "keywords" else replace(topic, excludes=updated)
        )
        new_topic = self._checked(changed, topic)
        saved = await self._save(self._with_topic(channel, index, new_topic), before=channel)
        text = f"{title}: {_listing(updated, FULL_LIST_CHARS) if updated else '(none)'}"
        if field == "keywords" and saved.active and not _keyword_count(saved):
            text += "\nNo keywords left, so your daily digest has nothing to look for."
        return CommandReply(text)

    @staticmethod
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
                missing.append(_clip(item, 40))
        if missing:
            raise CommandError(f"Not in your {label}: {_listing(missing, 200)}")
        return tuple(entry for entry in current if entry not in drop)

    async def _cmd_keywords(self, request: CommandRequest) -> CommandReply:
        """/keywords [TOPIC:] [add|remove|set|clear] …"""
        return await self._edit_list(request, "keywords", "keywords")

    async def _cmd_exclude(self, request: CommandRequest) -> CommandReply:
        """/exclude [TOPIC:] [add|remove|set|clear] …"""
        return await self._edit_list(request, "excludes", "excluded words")

    async def _cmd_categories(self, request: CommandRequest) -> CommandReply:
        """Show or set the categories of every topic of the chat, or of the one named first."""
        channel = await self._channel(request)
        index, rest = _select_topic(channel, request.args)
        codes = rest.replace(",", " ").split()
        if not codes:
            return CommandReply(self._categories_text(channel, index))
        categories = () if [code.lower() for code in codes] == ["default"] else _parse_categories(codes)
        if index is not None:
            picked = channel.topics[index]
            updated = self._with_topic(channel, index, replace(picked, categories=categories))
            where = f" for {picked.name}"
        else:
            topics = channel.topics or (self._topic_at(channel, None),)
            updated = replace(
                channel, topics=tuple(replace(topic, categories=categories) for topic in topics)
            )
            where = f" for all {len(topics)} topics" if len(topics) > 1 else ""
        await self._save(updated, before=channel)
        shown = _shown_categories(categories or self._default_categories)
        return CommandReply(f"Categories{where}: {shown}{'' if categories else ' (default)'}")

    def _categories_text(self, channel: Channel, index: int | None) -> str:
        """The categories of the picked topic, or of every topic (one line when they agree)."""
        topics = (
            [self._topic_at(channel, index)] if index is not None or not channel.topics else channel.topics
        )

        def shown(topic: Topic) -> str:
            """One topic's categories."""
            codes = _shown_categories(effective_categories(topic, self._default_categories))
            return codes + ("" if topic.categories else " (default)")

        if len({shown(topic) for topic in topics}) == 1:
            lines = [f"Categories: {shown(topics[0])}"]
        else:
            lines = ["Categories:", *(f"• {topic.name}: {shown(topic)}" for topic in topics)]
        lines.append("Set with /categories cs.CV cs.CL, /categories NAME: cs.RO, or /categories default.")
        return "\n".join(lines)

    async def _cmd_time(self, request: CommandRequest) -> CommandReply:
        """Set when the daily digest comes: a local time (and time zone), or as soon as possible."""
        channel = await self._channel(request)
        parts = request.args.split()
        if not parts:
            return CommandReply(
                f"Your digest comes {_delivery_time_text(channel)}.\n"
                "Set with /time 08:00 Europe/Berlin, /time 08:00 (keeps the time zone) or /time asap."
            )
        if len(parts) > 2:
            raise CommandError("Use /time HH:MM [time zone], e.g. /time 08:00 Europe/Berlin")
        time_of_day: dt.time | None
        zone_text = parts[1] if len(parts) == 2 else None
        if parts[0].lower() in ASAP_WORDS:
            time_of_day = None
        elif len(parts) == 1 and parts[0].lower() in zone_names():
            time_of_day, zone_text = channel.delivery_time, parts[0]  # only a zone: the time stays
        else:
            try:
                time_of_day = parse_time_of_day(parts[0])
            except ScheduleError as error:
                raise CommandError(f"{error}.") from None
        zone = channel.timezone if zone_text is None else _resolve_zone(zone_text)
        saved = await self._save(replace(channel, delivery_time=time_of_day, timezone=zone), before=channel)
        return CommandReply(f"Your digest now comes {_delivery_time_text(saved)}.")

    async def _cmd_topics(self, request: CommandRequest) -> CommandReply:
        """List topics, add one (`add NAME: keywords`) or remove one; a YAML config replaces them all."""
        channel = await self._channel(request)
        words = request.args.split(None, 1)
        action = words[0].lower() if words else ""
        rest = words[1] if len(words) > 1 else ""
        if not action:
            if not channel.topics:
                return CommandReply(
                    "No topics yet. /subscribe WORDS starts one; /topics add NAME: keywords adds a named one."
                )
            lines = ["Topics (each a section of the digest):"]
            for topic in channel.topics:
                lines.extend(_describe_topic(topic, self._default_categories))
            lines.append(
                "Add: /topics add NAME: keywords · remove: /topics remove NAME · or send a config.yml"
            )
            return CommandReply("\n".join(lines))
        if action == "add":
            raw_name, colon, keywords_text = rest.partition(":")
            name = clean_name(raw_name)
            keywords = _unique(split_keywords(keywords_text))
            if not colon or not name or not keywords:
                raise CommandError(
                    "Use /topics add NAME: keyword, keyword — e.g. /topics add Robots: embodied, =VLA"
                )
            if len(name) > MAX_TOPIC_NAME:
                raise CommandError(f"A topic name is at most {MAX_TOPIC_NAME} characters.")
            if any(topic.name.casefold() == name.casefold() for topic in channel.topics):
                raise CommandError(
                    f"There is a topic {name!r} already; change it with /keywords {name}: add WORDS."
                )
            if len(channel.topics) >= MAX_TOPICS_PER_CHAT:
                raise CommandError(f"A chat holds at most {MAX_TOPICS_PER_CHAT} topics.")
            categories = channel.topics[0].categories if channel.topics else ()
            topic = self._checked(Topic(name=name, keywords=tuple(keywords), categories=categories))
            saved = await self._save(replace(channel, topics=(*channel.topics, topic)), before=channel)
            text = f"Topic {name!r} added: {_listing(topic.keywords)}"
            if not saved.active:
                text += "\nThe daily digest is off: /subscribe turns it on."
            return CommandReply(text)
        if action in {"remove", "rm", "delete"}:
            name = clean_name(rest)
            if not name:
                raise CommandError("Which topic? e.g. /topics remove Robots")
            kept = tuple(topic for topic in channel.topics if topic.name.casefold() != name.casefold())
            if len(kept) == len(channel.topics):
                raise CommandError(f"No topic {_clip(name, 40)!r}. /topics lists them.")
            saved = await self._save(replace(channel, topics=kept), before=channel)
            text = f"Topic {_clip(name, MAX_TOPIC_NAME)!r} removed."
            if saved.active and not _keyword_count(saved):
                text += "\nNo keywords left, so your daily digest has nothing to look for."
            return CommandReply(text)
        raise CommandError("Use /topics, /topics add NAME: keywords, or /topics remove NAME.")

    async def _import(self, request: CommandRequest, data: bytes) -> CommandReply:
        """Parse a config fully, check it against the chat's limits, then replace the chat's topics."""
        try:
            topics = parse_topic_config(data)
        except TopicConfigError as error:
            return CommandReply(f"That config can't be used: {_clip(str(error), 300)}", ok=False)
        if len(topics) > MAX_TOPICS_PER_CHAT:
            return CommandReply(
                f"That config has {len(topics)} topics; a chat holds at most {MAX_TOPICS_PER_CHAT}.", ok=False
            )
        for topic in topics:
            self._checked(topic)
        channel = await self._channel(request)
        saved = await self._save(replace(channel, topics=tuple(topics)), before=replace(channel, topics=()))
        names = _listing([topic.name for topic in topics], 300)
        lines = [f"Imported {_plural(len(topics), 'topic')}: {names}"]
        if channel.topics:
            lines.append(f"(they replace the {_plural(len(channel.topics), 'topic')} this chat had)")
        if not saved.active:
            lines.append("The daily digest is off: /subscribe turns it on.")
        return CommandReply("\n".join(lines))

    async def _cmd_settings(self, request: CommandRequest) -> CommandReply:
        """Per-chat digest settings: how many papers go as messages, and the empty-day notice."""
        channel = await self._channel(request)
        parts = request.args.lower().split()
        if not parts:
            return CommandReply(
                f"Papers as messages before the rest comes as a file: {channel.max_inline_papers}"
                " (/settings max N)\n"
                f"Notice on days with no match: {'on' if channel.notify_empty else 'off'}"
                " (/settings empty on|off)"
            )
        if parts[0] == "max" and len(parts) == 2 and _NUMBER.fullmatch(parts[1]):
            limit = int(parts[1])
            if not 1 <= limit <= MAX_INLINE_LIMIT:
                raise CommandError(f"Use a number from 1 to {MAX_INLINE_LIMIT}.")
            await self._save(replace(channel, max_inline_papers=limit), before=channel)
            return CommandReply(
                f"Up to {limit} papers come as messages; above that, the digest also comes as a file."
            )
        if parts[0] == "empty" and len(parts) == 2 and parts[1] in {"on", "off"}:
            await self._save(replace(channel, notify_empty=parts[1] == "on"), before=channel)
            return CommandReply(f"Notice on days with no match: {parts[1]}.")
        raise CommandError("Use /settings max N (1 to 200) or /settings empty on|off.")

    async def _cmd_digest(self, request: CommandRequest) -> CommandReply:
        """Today's digest for the chat's filters, or an ad-hoc one for given keywords (nothing saved)."""
        keywords = _unique(split_keywords(request.args))
        channel = await self._store.get_channel(request.platform, request.chat_id)
        if keywords:
            name = _clip(", ".join(keywords), MAX_TOPIC_NAME)
            topic = Topic(name=name, keywords=tuple(keywords), categories=self._default_for(channel))
            topics: tuple[Topic, ...] = (self._checked(topic),)
        else:
            topics = tuple(topic for topic in (channel.topics if channel else ()) if topic.keywords)
            if not topics:
                return CommandReply(
                    "No keywords yet: /subscribe WORDS, or /digest WORDS for a one-off.", ok=False
                )
        announcement = await self._store.latest_announcement()
        if announcement is None:
            return CommandReply(
                "No announcement stored yet; I check arXiv regularly, try again later.", ok=False
            )
        digest = build_digest(announcement, topics, self._default_categories)
        return CommandReply(
            f"Digest of {_day(announcement.date)}: {digest.matched_count} of "
            f"{_plural(digest.announced_count, 'paper')} match.",
            digest=digest,
            max_inline_papers=(channel or Channel(request.platform, request.chat_id)).max_inline_papers,
        )

    async def _cmd_preview(self, request: CommandRequest) -> CommandReply:
        """How many papers these keywords matched on each stored announcement of the last week."""
        keywords = _unique(split_keywords(request.args))
        if not keywords:
            return CommandReply("Which keywords? e.g. /preview =VLM, vision language model", ok=False)
        channel = await self._store.get_channel(request.platform, request.chat_id)
        topic = self._checked(
            Topic(name="preview", keywords=tuple(keywords), categories=self._default_for(channel))
        )
        since = self._today() - dt.timedelta(days=PREVIEW_DAYS - 1)
        dates = await self._store.announcement_dates(since)
        if not dates:
            return CommandReply(
                f"No announcement stored from the last {PREVIEW_DAYS} days; try again after the next one.",
                ok=False,
            )
        matcher = Matcher.compile([topic], self._default_categories)
        watched = effective_categories(topic, self._default_categories)
        lines = [f"Matches for {_listing(keywords, 300)}, newest first:"]
        for date in reversed(dates):
            announcement = await self._store.get_announcement(date)
            if announcement is None:
                continue
            hits = matcher.match(announcement.papers)[0]
            lines.append(
                f"{_day(date)}: {len(hits)} of {_plural(announced_count(announcement, watched), 'paper')}"
            )
            for index in hits[:PREVIEW_TITLES]:
                lines.append(f"  · {_clip(announcement.papers[index].title, 120)}")
            if len(hits) > PREVIEW_TITLES:
                lines.append(f"  · … and {len(hits) - PREVIEW_TITLES} more")
        return CommandReply("\n".join(lines))

    async def _cmd_status(self, request: CommandRequest) -> CommandReply:
        """The last announcement, why nothing came today, the chat's filters, the next and last delivery."""
        channel = await self._channel(request)
        latest = await self._store.latest_announcement()
        check = await self._last_check()
        today = self._today()
        lines: list[str] = []
        if latest is None:
            lines.append("Last announcement: none stored yet.")
        else:
            lines.append(f"Last announcement: {_day(latest.date)}, {_plural(len(latest.papers), 'paper')}.")
        if latest is None or latest.date < today:
            reason = await self._no_announcement_reason(today, check)
            if reason is not None:
                why = _without_day(reason)
                lines.append(f"No announcement today ({_day(today)}): {why}, so nothing was sent today.")
            elif check is not None and check.outcome == "error":
                message = _clip(check.message or "unknown error", 200)
                lines.append(f"Today's announcement is not in yet: the last arXiv check failed ({message}).")
            else:
                lines.append(f"Today's announcement ({_day(today)}) is not in yet; I check arXiv regularly.")
        lines.extend(self._settings_lines(channel))
        if channel.active:
            if _keyword_count(channel):
                lines.append(await self._next_digest_line(channel, latest.date if latest else None))
            else:
                lines.append("No keywords, so nothing is sent: /subscribe WORDS.")
        if channel.id is not None:
            last = await self._store.last_delivery_result(channel.id)
            if last is not None:
                lines.append(self._last_delivery_line(last, channel))
        return CommandReply("\n".join(lines))
