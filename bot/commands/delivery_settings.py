"""When and how a chat's digest comes: /time, /settings, /unsubscribe."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from bot.commands.editing import ChannelEditor
from bot.commands.values import ChangeSettings, CommandContext, CommandError, CommandReply, SetTime
from bot.commands.wording import clip, delivery_time_text
from bot.schedule import ScheduleError, parse_time_of_day, parse_timezone, zone_names

MAX_INLINE_LIMIT = 200
ASAP_WORDS = frozenset({"asap", "now", "default"})
SETTINGS_USAGE = f"Use /settings max N (1 to {MAX_INLINE_LIMIT}) or /settings empty on|off."


def resolve_zone(text: str) -> str:
    """The canonical name of the time zone a user typed (any case), or a CommandError."""
    cleaned = text.strip()
    name = zone_names().get(cleaned.lower())
    if name is not None:
        try:
            return parse_timezone(name).key
        except (ScheduleError, OSError, ValueError):
            pass
    raise CommandError(
        f"{clip(cleaned, 40)!r} is not a time zone I know: use a name like Europe/Berlin or UTC."
    )


def _time_of_day(text: str) -> dt.time | None:
    """A local time `HH:MM`, or None for as soon as possible; a CommandError otherwise."""
    if text.lower() in ASAP_WORDS:
        return None
    try:
        return parse_time_of_day(text)
    except ScheduleError as error:
        raise CommandError(f"{error}.") from None


class DeliveryCommands:
    """The commands that change when and how a chat's digest comes."""

    def __init__(self, editor: ChannelEditor) -> None:
        self._editor = editor

    async def time(self, context: CommandContext, command: SetTime) -> CommandReply:
        """Set when the daily digest comes: a local time (and time zone), or as soon as possible."""
        channel = await self._editor.load(context)
        if command.time is None and command.zone is None:
            return CommandReply(
                f"Your digest comes {delivery_time_text(channel)}.\n"
                "Set with /time 08:00 Europe/Berlin, /time 08:00 (keeps the time zone) or /time asap."
            )
        time_of_day = channel.delivery_time if command.time is None else _time_of_day(command.time)
        zone = channel.timezone if command.zone is None else resolve_zone(command.zone)
        updated = replace(channel, delivery_time=time_of_day, timezone=zone)
        saved = await self._editor.save(updated, before=channel)
        return CommandReply(f"Your digest now comes {delivery_time_text(saved)}.")

    async def settings(self, context: CommandContext, command: ChangeSettings) -> CommandReply:
        """Per-chat digest settings: how many papers go as messages, and the empty-day notice."""
        channel = await self._editor.load(context)
        if command.max_inline is None and command.notify_empty is None:
            return CommandReply(
                f"Papers as messages before the rest comes as a file: {channel.max_inline_papers}"
                " (/settings max N)\n"
                f"Notice on days with no match: {'on' if channel.notify_empty else 'off'}"
                " (/settings empty on|off)"
            )
        updated = channel
        lines: list[str] = []
        if command.max_inline is not None:
            limit = command.max_inline
            if not 1 <= limit <= MAX_INLINE_LIMIT:
                raise CommandError(f"Use a number from 1 to {MAX_INLINE_LIMIT}.")
            updated = replace(updated, max_inline_papers=limit)
            lines.append(
                f"Up to {limit} papers come as messages; above that, the digest also comes as a file."
            )
        if command.notify_empty is not None:
            updated = replace(updated, notify_empty=command.notify_empty)
            lines.append(f"Notice on days with no match: {'on' if command.notify_empty else 'off'}.")
        await self._editor.save(updated, before=channel)
        return CommandReply("\n".join(lines))

    async def unsubscribe(self, context: CommandContext) -> CommandReply:
        """Turn the daily digest off, keeping the filters."""
        channel = await self._editor.store.get_channel(context.platform, context.chat_id)
        if channel is None or channel.id is None or not channel.active:
            return CommandReply("The daily digest is off already. /subscribe turns it on.")
        await self._editor.store.set_channel_active(channel.id, False)
        await self._editor.changed()
        return CommandReply("Daily digest off. Your filters are kept; /subscribe turns it back on.")
