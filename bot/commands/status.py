"""The bot's state, gathered once (`StatusReport`), for the chat's /status and for `arxiv-digest status`.

Also /start, which shows the same settings of the chat as /status.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.commands.editing import ChannelEditor
from bot.commands.table import usage
from bot.commands.values import CommandContext, CommandReply
from bot.commands.wording import chat_zone, clip, day, keyword_count, plural, settings_lines
from bot.models import Channel, DeliveryResult, FeedCheck
from bot.ports import NO_ANNOUNCEMENT_KEY, Store
from bot.schedule import ARXIV_TZ, due_at, next_announcement_date


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
