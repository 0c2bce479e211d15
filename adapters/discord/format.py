"""Digest pages as Discord messages, always within Discord's limits; plain replies split to fit.

Pure functions, no network. A digest is one message showing one page of a stored view, with one row
of buttons to turn the pages and switch the style and, under it, a select menu per action ("👍 Like a
paper…", "👎 Dislike a paper…", "🔖 Save a paper for me…") whose options are the page's papers by
their number (`render_page`); a paper's votes show on its line (`👍 2 · 👎 1`, in room every page
reserves, so votes never move a page boundary). The whole view also goes as a phone-friendly
Markdown file (`render_chat_file`). The pagination is `adapters.digest_packing`'s, shared with the
other platforms; this module is Discord's markup for it. A page carries its header as the message's
content (≤ 2000 characters); compact and titles pages are one embed listing the papers, full pages
at most ten embeds, one per paper, whose characters (title, description, field names and values,
footer text, author name, counted as code points) total at most 6000. Each paper's embed links only
its own abstract page: Discord merges embeds of one message that share a URL.

Paper and user text is shown as written: markdown characters are escaped with a backslash, `<`
too (so `<@123>`, `<#1>`, `<t:…>` stay text) and `@everyone`/`@here` get a zero-width space after
the `@`; URLs stay verbatim, since an escape inside one would break the link. Footers render no
markdown, so they get only the mention guard. Sending with
`allowed_mentions` that ping nobody is still the adapter's job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adapters.digest_packing import (
    ELLIPSIS,
    MAX_PER_PAGE,
    MAX_TOPIC_NAME,
    TALLY_ROOM,
    Button,
    ChosenPage,
    Pages,
    PageWords,
    PaperFeedback,
    PaperText,
    Size,
    choose_page,
    clip,
    compact_fields,
    digest_file_name,
    empty_day_words,
    fit_fields,
    full_fields,
    one_line,
    paginate,
    tally_words,
    type_label,
)
from adapters.markdown_output import render_chat_markdown
from bot.models import NO_VOTES, AnnounceType, Digest, LoadedView, Paper, Style
from bot.views import FeedbackAction

log = logging.getLogger(__name__)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000  # across all embeds of one message
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_ROW_BUTTONS = 5  # an action row's buttons; a select fills a row alone
MAX_ACTION_ROWS = 5
MAX_OPTIONS = 25  # a select's options
MAX_OPTION_LABEL = 100  # an option's label and description, each
MAX_PLACEHOLDER = 150
MAX_NUMBER_PREFIX = len("99999. ")  # a full page's title starts with the paper's number
# Discord cannot collapse an abstract the way Telegram's expandable quote does: a full page shows
# most abstracts whole and clips the rest (the title links to the whole abstract).
PAGE_ABSTRACT = 1500

_EMPTY_REPLY = ELLIPSIS  # Discord refuses an empty message
_COLOURS = {
    AnnounceType.NEW: 0xB31B1B,  # arXiv red
    AnnounceType.CROSS: 0x2563EB,
    AnnounceType.REPLACE: 0xD97706,
    AnnounceType.REPLACE_CROSS: 0x7C3AED,
}

# Discord's own autolink pattern: a URL is left verbatim, or escapes inside it would break the link.
_URL = r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]"
_MARKDOWN = re.compile(
    rf"(?P<url>{_URL})"
    r"|(?P<mention>@(?=everyone|here))"
    r"|(?P<char>[\\*_~`|\[<])"
    # Only at a line's start: quotes, headings, subtext and lists.
    r"|(?P<start>^[ \t]*(?:[>#-]|\d+\.(?=[ \t])))",
    re.MULTILINE,
)
_MENTION = re.compile(r"@(?=everyone|here)")


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message to send: content, embeds (Discord's JSON), the papers it shows, a file to attach."""

    content: str  # <= 2000 characters
    embeds: tuple[dict[str, Any], ...] = ()  # Discord embed JSON objects (what discord.Embed.from_dict takes)
    paper_ids: tuple[str, ...] = ()  # the papers this message shows
    file_name: str | None = None  # set: attach `file` (bytes) under this name
    file: bytes | None = None


# -- text helpers ---------------------------------------------------------------------------------


def _escape_match(match: re.Match[str]) -> str:
    """The escaped form of one `_MARKDOWN` match."""
    text = match.group(0)
    if match.group("url"):
        return text
    if match.group("mention"):
        return "@\u200b"
    if match.group("char"):
        return "\\" + text
    if text.endswith("."):  # "1. " would start a numbered list
        return text[:-1] + "\\."
    return text[:-1] + "\\" + text[-1]


def escape_markdown(text: str) -> str:
    """Text that Discord shows as written: no markdown, mention, link or list is formed from it."""
    return _MARKDOWN.sub(_escape_match, text)


def _plain(text: str) -> str:
    """Text for a place Discord renders no markdown in (footers): only `@everyone`/`@here` are guarded."""
    return _MENTION.sub("@\u200b", text)


def _capped(text: str, limit: int, escape: Callable[[str], str] = escape_markdown) -> str:
    """`text` escaped, with the raw text clipped ("…") so the escaped form has at most `limit` characters."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    # Escaping only lengthens text, so a raw prefix longer than `limit` never fits.
    low, high = 0, min(len(text), limit + 1)  # `low` fits ("…" alone); `high` is taken not to
    while high - low > 1:
        middle = (low + high) // 2
        if len(escape(clip(text, middle))) <= limit:
            low = middle
        else:
            high = middle
    return escape(clip(text, low))


def embed_length(embed: dict[str, Any]) -> int:
    """An embed's characters as Discord counts them toward the 6000 of a message."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    for field in embed.get("fields", ()):
        total += len(field["name"]) + len(field["value"])
    total += len(embed.get("footer", {}).get("text", ""))
    total += len(embed.get("author", {}).get("name", ""))
    return total


# -- one paper in full ----------------------------------------------------------------------------


def _field(name: str, value: str, *, inline: bool) -> list[dict[str, Any]]:
    """An embed field with the value escaped and capped, or none for a blank value (Discord refuses it)."""
    value = one_line(value)
    return [{"name": name, "value": _capped(value, MAX_FIELD_VALUE), "inline": inline}] if value else []


_TALLY_JOIN = " · "


def _paper_embed(number: int, paper: Paper, text: PaperText, *, several_topics: bool) -> dict[str, Any]:
    """A full page's embed of one paper, its title numbered (a copy: callers may change it)."""
    embed = _cached_paper_embed(paper, text, several_topics)
    return {
        **embed,
        "title": f"{number}. {embed['title']}",
        "fields": [dict(field) for field in embed["fields"]],
        "footer": dict(embed["footer"]),
    }


@lru_cache(maxsize=2048)  # the same paper goes to many chats; callers get copies, never this dict
def _cached_paper_embed(paper: Paper, text: PaperText, several_topics: bool) -> dict[str, Any]:
    """One paper: linked title, abstract, authors, categories and type; topics in the footer."""
    embed: dict[str, Any] = {
        # Never empty (shortening leaves "…" at the least); the number goes in front (`_paper_embed`).
        "title": _capped(text.title, MAX_TITLE - MAX_NUMBER_PREFIX),
        "url": paper.abs_url,
        "color": _COLOURS[paper.announce_type],
    }
    if text.abstract:
        embed["description"] = _capped(clip(text.abstract, PAGE_ABSTRACT), MAX_DESCRIPTION)
    elif text.abstract_clipped:
        embed["description"] = ELLIPSIS  # nothing of it fitted; the title links to it
    embed["fields"] = [
        *_field("Authors", text.authors, inline=False),
        *_field("Categories", " ".join(paper.categories), inline=True),
        *_field("Type", type_label(paper), inline=True),
    ]
    footer = f"arXiv:{paper.arxiv_id}"
    if several_topics and text.topic:
        footer += f" · {clip(text.topic, MAX_TOPIC_NAME)}"
        if text.also_in:
            footer += f" · also in: {text.also_in}"
    embed["footer"] = {"text": _capped(footer, MAX_FOOTER - len(_TALLY_JOIN) - TALLY_ROOM, _plain)}
    return embed


def _bare_embed(number: int, paper: Paper) -> dict[str, Any]:
    """A paper as nothing but its number and linked id (for metadata too long for any page)."""
    return {
        "title": _capped(f"{number}. arXiv:{paper.arxiv_id}", MAX_TITLE),
        "url": paper.abs_url,
        "color": _COLOURS[paper.announce_type],
    }


# -- plain replies --------------------------------------------------------------------------------


def _line_chunks(line: str) -> list[str]:
    """One line of a reply, escaped, in as few pieces of at most `MAX_CONTENT` characters as it takes."""
    chunks = []
    rest = line
    while len(escape_markdown(rest)) > MAX_CONTENT:
        # The longest raw prefix whose escaped form fits (1 always does: escaping at most doubles it).
        low, high = 1, min(len(rest), MAX_CONTENT + 1)
        while high - low > 1:
            middle = (low + high) // 2
            if len(escape_markdown(rest[:middle])) <= MAX_CONTENT:
                low = middle
            else:
                high = middle
        space = rest.rfind(" ", 0, low)
        cut = space if space >= low // 2 else low  # prefer a word boundary when one is near
        chunks.append(escape_markdown(rest[:cut].rstrip()))
        rest = rest[cut:].lstrip()
    chunks.append(escape_markdown(rest))
    return chunks


def render_text(text: str) -> list[str]:
    """A plain command reply, escaped and split at line breaks into pieces of at most 2000 characters.

    A line too long for one message is cut at a space near the limit. No piece is blank, and there is
    always at least one.
    """
    pieces: list[str] = []
    lines: list[str] = []
    size = 0
    for line in text.splitlines():
        for chunk in _line_chunks(line):
            added = len(chunk) + (1 if lines else 0)
            if lines and size + added > MAX_CONTENT:
                pieces.append("\n".join(lines))
                lines, size, added = [], 0, len(chunk)
            if not lines and not chunk.strip():
                continue  # a piece never starts with a blank line
            lines.append(chunk)
            size += added
    if lines:
        pieces.append("\n".join(lines))
    pieces = [piece.rstrip() for piece in pieces if piece.strip()]
    return pieces or [_EMPTY_REPLY]


# -- pages of a digest view -----------------------------------------------------------------------
# One message per digest, showing one page of a stored view; the layout is digest_packing's. The
# header is the message's content (what a notification shows). Compact and titles pages are one embed
# whose description lists the papers with masked links: on a phone that reads as one card, not ten.
# Full pages are one embed per paper, as many as fit.

_PAGE_COLOUR = _COLOURS[AnnounceType.NEW]
_ITEM_SEPARATORS = {Style.COMPACT: "\n\n", Style.TITLES: "\n"}
_NO_PAPERS = "*The papers of this digest are no longer stored.*"


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One option of a select menu: a paper of the page."""

    label: str  # `3. <title>`, ≤ 100 characters
    value: str  # the paper's index in the view (what `decode_menu_choice` reads)
    description: str  # `arXiv:ID · 👍 2 · 👎 1`, ≤ 100 characters


@dataclass(frozen=True, slots=True)
class Menu:
    """A string select menu (custom_id = `data`): one action on any paper of the page."""

    placeholder: str
    data: str
    options: tuple[MenuOption, ...]  # ≤ 25


@dataclass(frozen=True, slots=True)
class DiscordPage:
    """One page of a digest view as a Discord message, with its buttons (custom_id = a button's data).

    The buttons are one action row (≤ 5); each menu takes a row of its own under it (≤ 3), so a page
    uses at most 4 of a message's 5 rows.
    """

    message: DiscordMessage  # content + embeds, within every Discord limit
    buttons: tuple[tuple[Button, ...], ...]  # one row of ≤ 5
    page: int
    page_count: int
    paper_ids: tuple[str, ...]
    menus: tuple[Menu, ...] = ()


def _page_content(words: PageWords) -> str:
    """The message's content: bold date and topics, then the counts and where this page is."""
    title = words.title.removeprefix("📚 ")
    topics = f" · {escape_markdown(words.topics)}" if words.topics else ""
    return f"📚 **{title}{topics}**\n{words.second_line}"


def _link_text(text: str) -> str:
    """Text for a masked link's brackets: escaped, and unable to close the brackets early."""
    return escape_markdown(text).replace("]", "\\]")


def _section_line(name: str) -> str:
    """A topic's bold line above its first paper on a page."""
    return f"**▍{escape_markdown(clip(one_line(name), MAX_TOPIC_NAME))}**"


@lru_cache(maxsize=4096)  # the same papers' texts are escaped for every chat they go to
def _escaped(text: str) -> str:
    """`escape_markdown`, remembered."""
    return escape_markdown(text)


@lru_cache(maxsize=4096)
def _link_text_cached(text: str) -> str:
    """`_link_text`, remembered."""
    return _link_text(text)


# A compact or titles item, split where the paper's tally goes (at the end of its meta line or title
# line): the tally changes with every vote, while the item's room on the page must not.
Item = tuple[str, str]


def _compact_item(number: int, paper: Paper, fields: PaperText) -> Item:
    """Numbered bold masked-link title; authors, category and type (and the tally); keywords; TL;DR."""
    lines = [f"**{number}. [{_link_text_cached(fields.title)}]({paper.abs_url})**"]
    meta = [_escaped(fields.authors)] if fields.authors else []
    if paper.primary_category:
        meta.append(f"`{paper.primary_category.replace('`', '')}`")
    meta.append(type_label(paper))
    lines.append(" · ".join(meta))
    rest = []
    if fields.also_in:
        rest.append(f"🔑 {escape_markdown(fields.also_in)}")
    if fields.abstract:
        rest.append(f"*{_escaped(fields.abstract)}*")
    return "\n".join(lines), "".join(f"\n{line}" for line in rest)


def _title_item(number: int, paper: Paper, fields: PaperText) -> Item:
    """A numbered masked-link title on one line (then the tally)."""
    return f"**{number}.** [{_link_text_cached(fields.title)}]({paper.abs_url})", ""


def _with_tally(item: Item, tally: str) -> str:
    """The item's text with the paper's tally (if any) at its place."""
    before, after = item
    return f"{before}{_TALLY_JOIN}{tally}{after}" if tally else before + after


def _list_layout(loaded: LoadedView, style: Style) -> Pages[Item]:
    """Compact or titles pages: items of one embed description, laid out lazily."""
    separator = _ITEM_SEPARATORS[style]
    tally_room = len(_TALLY_JOIN) + TALLY_ROOM if loaded.votes else 0
    several = len(loaded.view.topics) > 1
    papers, entries = loaded.papers, loaded.entries
    item = _compact_item if style is Style.COMPACT else _title_item

    def section(index: int, lead: bool) -> str:
        """The topic line (and a line break) this paper's item starts with, if any."""
        if several and (lead or entries[index - 1].topic != entries[index].topic):
            return _section_line(entries[index].topic) + "\n"
        return ""

    def render(index: int, lead: bool, fields: PaperText) -> Item:
        """Paper `index`'s item from these fields."""
        before, after = item(index + 1, papers[index], fields)
        return section(index, lead) + before, after

    def block(index: int, lead: bool) -> Item:
        """Paper `index`'s item."""
        return render(index, lead, compact_fields(papers[index], entries[index]))

    def size(text: Item) -> Size:
        """Characters with the room of any tally, and the separator before the item (the first has
        none: a little slack)."""
        return (len(text[0]) + len(text[1]) + tally_room + len(separator),)

    def shorten(index: int, lead: bool, fits: Callable[[Item], bool]) -> Item:
        """Paper `index`'s item shortened until it fits a page of its own."""
        paper = papers[index]
        return fit_fields(
            compact_fields(paper, entries[index]),
            lambda fields: render(index, lead, fields),
            fits,
            lambda: (
                section(index, lead) + f"**{index + 1}.** [arXiv:{paper.arxiv_id}]({paper.abs_url})",
                "",
            ),
            paper_id=paper.arxiv_id,
        )

    return Pages(paginate(len(papers), block, size, (MAX_DESCRIPTION,), MAX_PER_PAGE[style], shorten))


def _full_layout(loaded: LoadedView) -> Pages[dict[str, Any]]:
    """Full pages: one embed per paper, at most ten and 6000 characters a message, laid out lazily."""
    several = len(loaded.view.topics) > 1
    tally_room = len(_TALLY_JOIN) + TALLY_ROOM if loaded.votes else 0
    papers, entries = loaded.papers, loaded.entries

    def render(index: int, fields: PaperText) -> dict[str, Any]:
        """Paper `index`'s embed from these fields."""
        return _paper_embed(index + 1, papers[index], fields, several_topics=several)

    def fields_of(index: int) -> PaperText:
        """Paper `index`'s fields."""
        return full_fields(papers[index], entries[index])

    def size(embed: dict[str, Any]) -> Size:
        """An embed's characters with the room of any tally (added to the footer), and one embed."""
        return embed_length(embed) + tally_room, 1

    def shorten(index: int, lead: bool, fits: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Paper `index`'s embed shortened until it fits a message of its own."""
        paper = papers[index]
        return fit_fields(
            fields_of(index),
            lambda fields: render(index, fields),
            fits,
            lambda: _bare_embed(index + 1, paper),
            paper_id=paper.arxiv_id,
        )

    return Pages(
        paginate(
            len(papers),
            lambda index, lead: render(index, fields_of(index)),
            size,
            (MAX_EMBED_TOTAL, MAX_EMBEDS),
            MAX_PER_PAGE[Style.FULL],
            shorten,
        )
    )


MENU_PLACEHOLDERS = {
    FeedbackAction.UP: "👍 Like a paper…",
    FeedbackAction.DOWN: "👎 Dislike a paper…",
    FeedbackAction.BOOKMARK: "🔖 Save a paper for me…",
}


def _option(paper: PaperFeedback) -> MenuOption:
    """A paper as a menu option: `3. <title>`, its id and tally as the description."""
    label = clip(f"{paper.number}. {paper.title}", MAX_OPTION_LABEL - 1)
    tally = tally_words(paper.tally)
    description = f"arXiv:{paper.arxiv_id}" + (f"{_TALLY_JOIN}{tally}" if tally else "")
    return MenuOption(
        label=label, value=str(paper.index), description=clip(description, MAX_OPTION_LABEL - 1)
    )


def _menus(chosen: ChosenPage[Any]) -> tuple[Menu, ...]:
    """One select per offered action, its options the page's papers (≤ 25 a page: MAX_PER_PAGE)."""
    options = tuple(_option(paper) for paper in chosen.feedback[:MAX_OPTIONS])
    if not options:
        return ()
    return tuple(Menu(MENU_PLACEHOLDERS[menu.action], menu.data, options) for menu in chosen.menus)


def _one_row(buttons: tuple[tuple[Button, ...], ...]) -> tuple[tuple[Button, ...], ...]:
    """The page's buttons (◀ n/N ▶, the style toggle, the file: 5 at most) in one action row."""
    row = tuple(button for line in buttons for button in line)
    return (row,) if row else ()


def render_page(loaded: LoadedView, *, style: Style | None = None, page: int = 0) -> DiscordPage:
    """Page `page` (clamped) of the view in `style` (None: the style the view was sent in)."""
    shown = style or loaded.view.style
    chosen: ChosenPage[Any] = choose_page(loaded, shown, page, lambda wanted: _any_layout(loaded, wanted))
    tallies = [
        tally_words(loaded.tallies.get(paper_id, NO_VOTES)) if loaded.votes else ""
        for paper_id in chosen.paper_ids
    ]
    if shown is Style.FULL:
        embeds: tuple[dict[str, Any], ...] = tuple(
            _footed(embed, tally) for embed, tally in zip(chosen.page.blocks, tallies, strict=True)
        )
    else:
        items = [_with_tally(item, tally) for item, tally in zip(chosen.page.blocks, tallies, strict=True)]
        description = _ITEM_SEPARATORS[shown].join(items) if items else _NO_PAPERS
        embeds = ({"description": description, "color": _PAGE_COLOUR},)
    message = DiscordMessage(content=_page_content(chosen.words), embeds=embeds, paper_ids=chosen.paper_ids)
    return DiscordPage(
        message=message,
        buttons=_one_row(chosen.buttons),
        page=chosen.number,
        page_count=chosen.count,
        paper_ids=chosen.paper_ids,
        menus=_menus(chosen),
    )


def _footed(embed: dict[str, Any], tally: str) -> dict[str, Any]:
    """A full page's embed with the paper's tally (if any) at the end of its footer."""
    if not tally:
        return embed
    footer = embed.get("footer", {}).get("text", "")
    return {**embed, "footer": {"text": f"{footer}{_TALLY_JOIN}{tally}" if footer else tally}}


def _any_layout(loaded: LoadedView, style: Style) -> Pages[Any]:
    """The view's pages in any style (the toggle looks up a page of the other one)."""
    if style is Style.FULL:
        return _full_layout(loaded)
    return _list_layout(loaded, style)


# -- the empty day and the chat file --------------------------------------------------------------


def render_empty_day(digest: Digest) -> DiscordMessage:
    """The one-liner for an announcement day on which nothing matched."""
    return DiscordMessage(content=empty_day_words(digest))


def render_chat_file(loaded: LoadedView) -> tuple[str, bytes]:
    """The view as a phone-friendly Markdown file: (`arxiv-digest-DATE.md`, its UTF-8 bytes)."""
    return digest_file_name(loaded.view.announcement_date), render_chat_markdown(loaded).encode("utf-8")
