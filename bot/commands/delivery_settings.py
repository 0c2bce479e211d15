"""When and how a chat's digest comes: /time, /settings, /unsubscribe.

Hints and "did you mean …?" answers are written in the asking platform's syntax (`table.usage`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

from bot.commands.editing import ChannelEditor
from bot.commands.table import CommandSyntax, usage
from bot.commands.values import ChangeSettings, CommandContext, CommandError, CommandReply, SetTime
from bot.commands.wording import clip, delivery_time_text, on_off, settings_values
from bot.models import Channel, InactiveReason, Style
from bot.schedule import ScheduleError, parse_time_of_day, parse_timezone, zone_names, zone_suggestions

ASAP_WORDS = frozenset({"asap", "now", "default"})
SETTINGS_USAGE = (
    "Use /settings style compact|full|titles, /settings file on|off, /settings empty on|off"
    " or /settings ranking on|off."
)
MAX_GONE = (
    "/settings max is gone: every paper is in the digest's one paged message now."
    " /settings style compact|full|titles chooses how much each page shows."
)
STYLE_TEXT = {
    Style.COMPACT: "title, first authors, category, the matching keywords and a one-line TL;DR per paper",
    Style.FULL: "each paper's whole block, abstract included",
    Style.TITLES: "a linked title per line",
}
# 8am, 8 pm, 8:30am, 12 a.m.: unambiguous, so taken as they are.
_AM_PM = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?\s*([ap])\.?\s*m\.?$", re.IGNORECASE)
_HOUR_H = re.compile(r"^(\d{1,2})h$", re.IGNORECASE)  # 8h, 20h: the 24-hour clock
_BARE_HOUR = re.compile(r"^(\d{1,2})$")  # 8: morning or evening? asked back
_NO_COLON = re.compile(r"^(\d{1,2})(\d{2})$")  # 0830, 830: asked back


def resolve_zone(text: str, syntax: CommandSyntax, time_text: str | None = None) -> str:
    """The canonical name of the time zone a user typed (any case), or a CommandError (with a guess).

    `time_text`: the time typed with it, kept in the suggested command.
    """
    cleaned = text.strip()
    name = zone_names().get(cleaned.lower())
    if name is not None:
        try:
            return parse_timezone(name).key
        except (ScheduleError, OSError, ValueError):
            pass
    guesses = zone_suggestions(cleaned)
    message = f"{clip(cleaned, 40)!r} is not a time zone I know"
    if guesses:
        if time_text:
            example = usage(syntax, "time", f"{time_text} {guesses[0]}", time=time_text, timezone=guesses[0])
        else:
            example = usage(syntax, "time", guesses[0], timezone=guesses[0])
        others = f" (or {', '.join(guesses[1:])})" if len(guesses) > 1 else ""
        raise CommandError(f"{message}. Did you mean {guesses[0]}{others}? e.g. {example}")
    raise CommandError(f"{message}: use a name like Europe/Berlin or UTC.")


def _hh_mm(hour: int, minute: int) -> str:
    """`08:30`."""
    return f"{hour:02d}:{minute:02d}"


def _twelve_hour(text: str) -> dt.time | None:
    """`8am`, `8:30 pm`, `12am` (midnight) as a time; None when the text is not in that form."""
    match = _AM_PM.match(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if not 1 <= hour <= 12 or minute > 59:
        raise CommandError(f"{clip(text, 20)!r} is not a time: use 1 to 12 before am or pm, or HH:MM.")
    return dt.time(hour % 12 + (12 if match[3].lower() == "p" else 0), minute)


def _guess(text: str) -> list[str]:
    """The times a text that is no time probably meant: `8` → 08:00 or 20:00, `0830` → 08:30."""
    if (bare := _BARE_HOUR.match(text)) is not None:
        hour = int(bare[1])
        if 1 <= hour <= 11:
            return [_hh_mm(hour, 0), _hh_mm(hour + 12, 0)]
        return [_hh_mm(hour, 0)] if hour <= 23 else []
    if (joined := _NO_COLON.match(text)) is not None:
        hour, minute = int(joined[1]), int(joined[2])
        return [_hh_mm(hour, minute)] if hour <= 23 and minute <= 59 else []
    return []


def time_of_day(text: str, syntax: CommandSyntax) -> dt.time | None:
    """A local time (`HH:MM`, `8am`, `20h`), or None for as soon as possible; a CommandError otherwise,
    with a "did you mean …?" when the text is close to a time (`8`, `0830`)."""
    cleaned = text.strip()
    if cleaned.lower() in ASAP_WORDS:
        return None
    twelve = _twelve_hour(cleaned)
    if twelve is not None:
        return twelve
    if (hours := _HOUR_H.match(cleaned)) is not None and int(hours[1]) <= 23:
        return dt.time(int(hours[1]))
    try:
        return parse_time_of_day(cleaned)
    except ScheduleError as error:
        guesses = _guess(cleaned)
        if not guesses:
            raise CommandError(f"{error}.") from None
        example = usage(syntax, "time", guesses[0], time=guesses[0])
        others = f" (or {guesses[1]} in the evening)" if len(guesses) > 1 else ""
        raise CommandError(
            f"{clip(cleaned, 20)!r} is not a time. Did you mean {guesses[0]}{others}? e.g. {example}"
        ) from None


def _looks_like_zone(text: str) -> bool:
    """A `time` that is a time zone or a place (`Berlin`): no digit in it, and no asap word."""
    return not any(char.isdigit() for char in text) and text.strip().lower() not in ASAP_WORDS


def settings_text(channel: Channel, syntax: CommandSyntax) -> str:
    """/settings without options: each setting with how to change it."""
    style, send_file, empty = settings_values(channel)
    styles = "|".join(style.value for style in Style)
    return "\n".join(
        (
            f"Style of the digest's pages: {style} "
            f"({usage(syntax, 'settings', f'style {styles}', style=styles)})",
            f"The day's Markdown file with each digest: {send_file} "
            f"({usage(syntax, 'settings', 'file on|off', file='True|False')})",
            f"Notice on days with no match: {empty} "
            f"({usage(syntax, 'settings', 'empty on|off', empty='on|off')})",
            f"Papers ordered by what this chat's 👍/👎 taught: {on_off(channel.ranking)} "
            f"({usage(syntax, 'settings', 'ranking on|off', ranking='on|off')})",
        )
    )


class DeliveryCommands:
    """The commands that change when and how a chat's digest comes."""

    def __init__(self, editor: ChannelEditor) -> None:
        self._editor = editor

    async def time(self, context: CommandContext, command: SetTime) -> CommandReply:
        """Set when the daily digest comes: a local time (and time zone), or as soon as possible."""
        channel = await self._editor.load(context)
        syntax = context.syntax
        if command.time is None and command.zone is None:
            examples = ", ".join(
                (
                    usage(syntax, "time", "08:00 Europe/Berlin", time="08:00", timezone="Europe/Berlin"),
                    usage(syntax, "time", "08:00", time="08:00") + " (keeps the time zone)",
                )
            )
            return CommandReply(
                f"Your digest comes {delivery_time_text(channel)}.\n"
                f"Set with {examples} or {usage(syntax, 'time', 'asap', time='asap')}."
            )
        time_text, zone_text = command.time, command.zone
        if time_text is not None and zone_text is None and _looks_like_zone(time_text):
            time_text, zone_text = None, time_text  # `/time Berlin`: a place, not a time
        time_of = channel.delivery_time if time_text is None else time_of_day(time_text, syntax)
        zone = channel.timezone if zone_text is None else resolve_zone(zone_text, syntax, time_text)
        updated = replace(channel, delivery_time=time_of, timezone=zone)
        saved = await self._editor.save(updated, before=channel)
        return CommandReply(f"Your digest now comes {delivery_time_text(saved)}.")

    async def settings(self, context: CommandContext, command: ChangeSettings) -> CommandReply:
        """Per-chat digest settings: the pages' style, the Markdown file, and the empty-day notice."""
        channel = await self._editor.load(context)
        parts = (command.style, command.send_file, command.notify_empty, command.ranking)
        if all(part is None for part in parts):
            return CommandReply(settings_text(channel, context.syntax))
        updated = channel
        lines: list[str] = []
        if command.style is not None:
            updated = replace(updated, style=command.style)
            lines.append(f"Style: {command.style.value} — {STYLE_TEXT[command.style]}.")
        if command.send_file is not None:
            updated = replace(updated, send_file=command.send_file)
            if command.send_file:
                lines.append("The day's Markdown file now comes with each digest, without a notification.")
            else:
                lines.append("No Markdown file with the digest; its 📄 button still gives one.")
        if command.notify_empty is not None:
            updated = replace(updated, notify_empty=command.notify_empty)
            lines.append(f"Notice on days with no match: {'on' if command.notify_empty else 'off'}.")
        if command.ranking is not None:
            updated = replace(updated, ranking=command.ranking)
            if command.ranking:
                lines.append(
                    "Learned order on: each topic's papers come in the order this chat's 👍/👎 taught"
                    " (once it has enough votes); no paper is ever left out."
                )
            else:
                lines.append("Learned order off: papers come in the listing's order.")
        await self._editor.save(updated, before=channel)
        return CommandReply("\n".join(lines))

    async def unsubscribe(self, context: CommandContext) -> CommandReply:
        """Turn the daily digest off, keeping the filters."""
        channel = await self._editor.store.get_channel(context.platform, context.chat_id)
        syntax = context.syntax
        if channel is None or channel.id is None or not channel.active:
            return CommandReply(f"The daily digest is off already. {usage(syntax, 'subscribe')} turns it on.")
        await self._editor.store.set_channel_active(channel.id, False, reason=InactiveReason.UNSUBSCRIBED)
        await self._editor.changed()
        return CommandReply(
            f"Daily digest off. Your filters are kept; {usage(syntax, 'subscribe')} turns it back on."
        )
