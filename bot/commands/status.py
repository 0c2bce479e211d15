"""The bot's state, gathered once (`StatusReport`), for the chat's /status and for `arxiv-digest status`.

Also /start, which shows the same settings of the chat as /status, and whether the feed is being read
as it should (`feed_health`, the healthcheck's first half).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from bot.commands.editing import ChannelEditor
from bot.commands.table import usage
from bot.commands.values import CommandContext, CommandReply
from bot.commands.wording import chat_zone, clip, day, keyword_count, plural, settings_lines
from bot.models import Channel, DeliveryResult, FeedCheck
from bot.ports import NO_ANNOUNCEMENT_KEY, Store
from bot.schedule import (
    ARXIV_TZ,
    arxiv_today,
    available_at,
    due_at,
    is_announcement_day,
    next_announcement_date,
)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What the store says about the feed, read once: the last check, the newest announcement, today."""

    now: dt.datetime
    today: dt.date  # arXiv's today (US Eastern): the date of the announcement the feed shows now
    last_check: FeedCheck | None
    latest_date: dt.date | None  # of the newest stored announcement
    latest_papers: int | None  # its paper count (None when not read, or none stored)
    no_announcement_today: str | None  # why arXiv has (or will have) no announcement dated today, if known


async def no_announcement_reason(store: Store, date: dt.date, check: FeedCheck | None) -> str | None:
    """Why arXiv has (or will have) no announcement dated `date`, when that is known."""
    if date.weekday() >= 5:
        return "arXiv announces nothing on Saturdays and Sundays"
    reason = await store.get_state(NO_ANNOUNCEMENT_KEY + date.isoformat())
    if reason:
        return clip(reason, 200)
    if check is not None and check.outcome == "no_announcement" and check.date == date:
        return clip(check.message or "the feed is empty", 200)
    return None


async def gather_status(store: Store, now: dt.datetime, *, count_papers: bool = True) -> StatusReport:
    """Read the feed's state; without `count_papers` the newest announcement's papers are not loaded."""
    if count_papers:
        latest = await store.latest_announcement()
        latest_date = None if latest is None else latest.date
        latest_papers = None if latest is None else len(latest.papers)
    else:
        dates = await store.announcement_dates(dt.date.min)
        latest_date, latest_papers = (dates[-1] if dates else None), None
    check = await store.last_feed_check()
    today = now.astimezone(ARXIV_TZ).date()
    reason = await no_announcement_reason(store, today, check)
    return StatusReport(now, today, check, latest_date, latest_papers, reason)


#: How long after an announcement's feed change (midnight US Eastern) the bot must have looked at it.
FEED_GRACE = dt.timedelta(hours=1)
#: While an announcement is awaited (late), the bot checks at least this often (hourly when its daily
#: request budget runs low), or every ARXIV_POLL_INTERVAL if that is longer.
AWAITED_PACE = dt.timedelta(hours=1)
#: The outcomes of a feed check that read the feed (an "error" did not, or found an announcement too old
#: to keep).
READ_OUTCOMES = frozenset({"new", "extended", "unchanged", "no_announcement"})

FeedProblem = Literal["never_checked", "not_read_since", "awaited_unchecked"]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """Whether the feed is read as it should be: the latest announcement due by now is in, or being awaited.

    `due` is the latest announcement date (Monday to Friday) whose feed changed at least `FEED_GRACE`
    ago (`due_since`: midnight US Eastern of that date). It has `arrived` when it (or a later one) is
    stored or is known to have no announcement (a holiday). Until then the bot must be checking:
    `problem` says what is wrong, None when nothing is.

    - `never_checked`: no feed check was ever recorded;
    - `not_read_since`: no check has read the feed since `due` changed (the last failed or is older);
    - `awaited_unchecked`: the last check read the feed after the change, but longer ago than
      `awaited_within` (the slowest pace the bot checks at while an announcement is awaited).

    So on a Saturday or Sunday Friday's announcement is the one due, and a bot whose last check is two
    days old is fine; a holiday the bot saw empty counts as arrived.
    """

    due: dt.date
    due_since: dt.datetime
    arrived: bool
    awaited_within: dt.timedelta
    problem: FeedProblem | None

    @property
    def ok(self) -> bool:
        """No problem."""
        return self.problem is None


def due_announcement(now: dt.datetime) -> dt.date:
    """The latest announcement date whose feed changed at least `FEED_GRACE` before `now`."""
    day = arxiv_today(now)
    while not is_announcement_day(day) or available_at(day) + FEED_GRACE > now:
        day -= dt.timedelta(days=1)
    return day


async def feed_health(store: Store, report: StatusReport, *, poll_interval: float) -> FeedHealth:
    """Whether the feed is read as it should be (see `FeedHealth`), from the store alone."""
    now = report.now
    due = due_announcement(now)
    since = available_at(due)
    arrived = (report.latest_date is not None and report.latest_date >= due) or (
        await store.get_state(NO_ANNOUNCEMENT_KEY + due.isoformat()) is not None
    )
    within = max(AWAITED_PACE, dt.timedelta(seconds=poll_interval)) + FEED_GRACE
    check = report.last_check
    problem: FeedProblem | None = None
    if not arrived:
        if check is None:
            problem = "never_checked"
        elif check.outcome not in READ_OUTCOMES or check.checked_at < since:
            problem = "not_read_since"
        elif now - check.checked_at > within:
            problem = "awaited_unchecked"
    return FeedHealth(due, since, arrived, within, problem)


def next_digest_line(report: StatusReport, channel: Channel) -> str:
    """When the chat's next daily digest comes, in its own time zone."""
    cursor, latest = channel.done_up_to, report.latest_date
    pending = latest is not None and (cursor is None or cursor < latest)
    if pending and latest is not None:
        date = latest
    else:
        start = report.today
        if report.no_announcement_today is not None:
            start = report.today + dt.timedelta(days=1)
        while start.weekday() >= 5:
            start += dt.timedelta(days=1)
        done = max((each for each in (cursor, latest) if each is not None), default=None)
        date = start if done is None or start > done else next_announcement_date(done)
    due = due_at(date, channel.delivery_time, channel.timezone)
    if due <= report.now:
        if pending:
            return f"Next digest: the announcement of {day(date)}, due now."
        return f"Next digest: the announcement of {day(date)}, as soon as arXiv publishes it."
    local = due.astimezone(chat_zone(channel))
    at = f"{local:%a} {local:%Y-%m-%d %H:%M} {channel.timezone}"
    if channel.delivery_time is None:
        return f"Next digest: as soon as the announcement of {day(date)} is out (from {at})."
    return f"Next digest: {at}, with the announcement of {day(date)}."


def last_delivery_line(last: DeliveryResult, channel: Channel) -> str:
    """The result of the chat's last delivery, in words."""
    when = last.delivered_at.astimezone(chat_zone(channel))
    at = f"{when:%a} {when:%Y-%m-%d %H:%M} {channel.timezone}"
    outcomes = {
        "ok": f"{plural(last.papers, 'paper')} sent",
        "empty": "no paper matched",
        "failed": "could not be sent; I'll try again",
        "gone": "I could not reach this chat, so the daily digest was turned off",
    }
    outcome = outcomes.get(last.result, clip(last.result, 40))
    return f"Last digest: the announcement of {last.announcement_date.isoformat()}, {outcome} ({at})."


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


def announcement_lines(report: StatusReport) -> list[str]:
    """/status's first lines: the last announcement, and why none is in today."""
    lines: list[str] = []
    if report.latest_date is None:
        lines.append("Last announcement: none stored yet.")
    else:
        papers = plural(report.latest_papers or 0, "paper")
        lines.append(f"Last announcement: {day(report.latest_date)}, {papers}.")
    if report.latest_date is None or report.latest_date < report.today:
        check, today = report.last_check, day(report.today)
        if report.no_announcement_today is not None:
            why = _without_day(report.no_announcement_today)
            lines.append(f"No announcement today ({today}): {why}, so nothing was sent today.")
        elif check is not None and check.outcome == "error":
            message = clip(check.message or "unknown error", 200)
            lines.append(f"Today's announcement is not in yet: the last arXiv check failed ({message}).")
        else:
            lines.append(f"Today's announcement ({today}) is not in yet; I check arXiv regularly.")
    return lines


_EXAMPLE = "VLM, vision language model"


class StatusCommands:
    """/status and /start."""

    def __init__(self, editor: ChannelEditor) -> None:
        self._editor = editor

    async def status(self, context: CommandContext) -> CommandReply:
        """The last announcement, why nothing came today, the chat's filters and settings, the next and
        last delivery."""
        editor = self._editor
        channel = await editor.load(context)
        report = await gather_status(editor.store, editor.clock())
        lines = announcement_lines(report)
        lines.extend(settings_lines(channel, editor.default_categories))
        if channel.blocked:
            lines.append(
                "The operator of this bot has stopped its digests in this chat;"
                " only they can start them again."
            )
        elif channel.active:
            if keyword_count(channel):
                lines.append(next_digest_line(report, channel))
            else:
                subscribe = usage(context.syntax, "subscribe", "WORDS", keywords="WORDS")
                lines.append(f"No keywords, so nothing is sent: {subscribe}.")
        if channel.id is not None:
            last = await editor.store.last_delivery_result(channel.id)
            if last is not None:
                lines.append(last_delivery_line(last, channel))
        return CommandReply("\n".join(lines))

    async def start(self, context: CommandContext) -> CommandReply:
        """Register the chat and explain the bot."""
        channel = await self._editor.load(context)
        if channel.id is None:
            channel = await self._editor.store.save_channel(channel)
        example = usage(context.syntax, "subscribe", _EXAMPLE, keywords=_EXAMPLE)
        lines = [
            "I post each day's new arXiv papers that match your keywords.",
            f"Subscribe with keywords, comma-separated: {example}",
            "/digest shows today's matches at once; /help lists every command.",
            "",
            *settings_lines(channel, self._editor.default_categories),
        ]
        return CommandReply("\n".join(lines))
