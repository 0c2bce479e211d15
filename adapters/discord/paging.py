"""A digest's pages on Discord: the messages that carry them, their buttons, and where they point.

Pure, no network: `adapters.discord.format.render_page` lays a page out; this module gives it
Discord's shape. Buttons carry `bot.views` button data as their `custom_id` (≤ 100 characters), so a
press names only a view, a page and a style and is looked up in the store: nothing about a page is
kept in memory, and presses work after a restart. Discord refuses two buttons of one message with the
same custom_id, which a two-page digest's ◀ and ▶ would have (both lead to the other page): a repeat
gets a `#2` suffix, which `press_of` drops again before decoding. Under the buttons, a page's
👍/👎/🔖 select menus (custom_id `fm:...`, each option a paper's index) take a row each;
`choice_of` reads the option chosen.

The `discord.ui.View` holding the buttons is built only at send time (it needs a running loop) and
stopped before it is sent, so discord.py does not keep one view per message in its view store for
ever; the adapter's `on_interaction` answers every press instead.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import discord

from adapters.digest_packing import Button
from adapters.discord.format import MAX_CONTENT, DiscordMessage, DiscordPage, Menu, render_text
from bot.views import NOOP_DATA, FeedbackPress, Press, decode_menu_choice, decode_press

log = logging.getLogger(__name__)

MAX_CUSTOM_ID = 100
_REPEAT = "#"  # what separates a repeated custom_id from its copy number
GONE = "This digest is no longer kept."
UNKNOWN_BUTTON = "This button no longer works; use /digest for today's papers."
DIGEST_THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # a day: the next digest starts the next thread


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a daily digest: its rendering and buttons, and the announcement day it is for.

    The day names the thread of its own a channel with `own_thread` gets (the page starts it, the
    file follows into it).
    """

    message: DiscordMessage
    buttons: tuple[tuple[Button, ...], ...]
    date: dt.date
    menus: tuple[Menu, ...] = ()


def page_part(page: DiscordPage, date: dt.date) -> DigestPart:
    """A rendered page as the digest's paged message."""
    return DigestPart(page.message, page.buttons, date, page.menus)


def custom_ids(buttons: Sequence[Sequence[Button]]) -> list[list[str]]:
    """Each button's custom_id: its data, made unique in the message by a `#n` suffix on repeats."""
    used: set[str] = set()
    rows = []
    for row in buttons:
        ids = []
        for button in row:
            custom_id, copy = button.data, 2
            while custom_id in used:
                custom_id, copy = f"{button.data}{_REPEAT}{copy}", copy + 1
            used.add(custom_id)
            ids.append(custom_id)
        rows.append(ids)
    return rows


def press_of(custom_id: str) -> Press | None:
    """What a pressed button asks for; None for a custom_id this bot never wrote."""
    return decode_press(custom_id.split(_REPEAT, 1)[0])


def choice_of(custom_id: str, values: Sequence[object]) -> FeedbackPress | None:
    """What choosing an option of a select asks for; None for a select this bot never wrote."""
    if len(values) != 1:
        return None
    return decode_menu_choice(custom_id, str(values[0]))


def button_view(buttons: Sequence[Sequence[Button]], menus: Sequence[Menu] = ()) -> discord.ui.View | None:
    """The buttons (one action row per row) and menus (a row each, under them) as a (stopped)
    discord.py view; None without either.

    Call it with a running event loop: a view made without one is never "finished", and discord.py
    would keep it in its view store.
    """
    if not buttons and not menus:
        return None
    view = discord.ui.View(timeout=None)
    for row_number, (row, ids) in enumerate(zip(buttons, custom_ids(buttons), strict=True)):
        for button, custom_id in zip(row, ids, strict=True):
            style = discord.ButtonStyle.secondary if button.data == NOOP_DATA else discord.ButtonStyle.primary
            view.add_item(
                discord.ui.Button(label=button.label, custom_id=custom_id, style=style, row=row_number)
            )
    for row_number, menu in enumerate(menus, start=len(buttons)):
        options = [
            discord.SelectOption(
                label=option.label, value=option.value, description=option.description or None
            )
            for option in menu.options
        ]
        view.add_item(
            discord.ui.Select(
                custom_id=menu.data, placeholder=menu.placeholder, options=options, row=row_number
            )
        )
    view.stop()  # presses are answered by the adapter's on_interaction, not by this object
    return view


def message_ref(channel_id: int, message_id: int) -> str:
    """The adapter's reference to a message: `channel_id/message_id` (a thread is a channel)."""
    return f"{channel_id}/{message_id}"


def jump_link(ref: str, guild_id: int | None) -> str | None:
    """The link that opens the referenced message; None for a reference this adapter never wrote."""
    channel_id, _, message_id = ref.partition("/")
    if not (channel_id.isdigit() and message_id.isdigit()):
        return None
    server = "@me" if guild_id is None else str(guild_id)
    return f"https://discord.com/channels/{server}/{channel_id}/{message_id}"


def repeat_text(text: str, ref: str | None, guild_id: int | None) -> str:
    """A repeated /digest's answer: the core's words, then the link to the message already there."""
    link = jump_link(ref, guild_id) if ref else None
    words = render_text(text)[0]
    answer = f"{words}\n{link}" if link else words
    return answer if len(answer) <= MAX_CONTENT else words


def thread_name(date: dt.date) -> str:
    """The name of the thread a day's digest gets in a channel with `own_thread`."""
    return f"arXiv digest {date.isoformat()}"


def file_caption(date: dt.date) -> str:
    """The content of the message carrying a digest's Markdown file."""
    return f"📄 The digest of {date.isoformat()} as a Markdown file"
