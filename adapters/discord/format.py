"""Digest pages as Discord messages, always within Discord's limits; plain replies split to fit.

Pure functions, no network. A digest is one message showing one page of a stored view, with buttons
to turn the pages and switch the style (`render_page`); the whole view also goes as a phone-friendly
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
    Button,
    ChosenPage,
    Pages,
    PageWords,
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
    type_label,
)
from adapters.markdown_output import render_chat_markdown
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style

log = logging.getLogger(__name__)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000  # across all embeds of one message
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
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


def _paper_embed(paper: Paper, text: PaperText, *, several_topics: bool) -> dict[str, Any]:
    """A full page's embed of one paper (a copy: callers may change it)."""
    embed = _cached_paper_embed(paper, text, several_topics)
    return {**embed, "fields": [dict(field) for field in embed["fields"]], "footer": dict(embed["footer"])}


@lru_cache(maxsize=2048)  # the same paper goes to many chats; callers get copies, never this dict
def _cached_paper_embed(paper: Paper, text: PaperText, several_topics: bool) -> dict[str, Any]:
    """One paper: linked title, abstract, authors, categories and type; topics in the footer."""
    embed: dict[str, Any] = {
        "title": _capped(text.title, MAX_TITLE),  # never empty: shortening leaves "…" at the least
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
    embed["footer"] = {"text": _capped(footer, MAX_FOOTER, _plain)}
    return embed


def _bare_embed(paper: Paper) -> dict[str, Any]:
    """A paper as nothing but its linked id (for metadata too long for any page)."""
    return {
        "title": _capped(f"arXiv:{paper.arxiv_id}", MAX_TITLE),
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
class DiscordPage:
    """One page of a digest view as a Discord message, with its buttons (custom_id = a button's data)."""

    message: DiscordMessage  # content + embeds, within every Discord limit
    buttons: tuple[tuple[Button, ...], ...]  # ≤ 5 rows of ≤ 5
    page: int
    page_count: int
    paper_ids: tuple[str, ...]


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


def _compact_item(number: int, paper: Paper, fields: PaperText) -> str:
    """Numbered bold masked-link title; authors, category and type; matched keywords; italic TL;DR."""
    lines = [f"**{number}. [{_link_text_cached(fields.title)}]({paper.abs_url})**"]
    meta = [_escaped(fields.authors)] if fields.authors else []
    if paper.primary_category:
        meta.append(f"`{paper.primary_category.replace('`', '')}`")
    meta.append(type_label(paper))
    lines.append(" · ".join(meta))
    if fields.also_in:
        lines.append(f"🔑 {escape_markdown(fields.also_in)}")
    if fields.abstract:
        lines.append(f"*{_escaped(fields.abstract)}*")
    return "\n".join(lines)


def _title_item(number: int, paper: Paper, fields: PaperText) -> str:
    """A numbered masked-link title on one line."""
    return f"**{number}.** [{_link_text_cached(fields.title)}]({paper.abs_url})"


def _list_layout(loaded: LoadedView, style: Style) -> Pages[str]:
    """Compact or titles pages: items of one embed description, laid out lazily."""
    separator = _ITEM_SEPARATORS[style]
    several = len(loaded.view.topics) > 1
    papers, entries = loaded.papers, loaded.entries
    item = _compact_item if style is Style.COMPACT else _title_item

    def section(index: int, lead: bool) -> str:
        """The topic line (and a line break) this paper's item starts with, if any."""
        if several and (lead or entries[index - 1].topic != entries[index].topic):
            return _section_line(entries[index].topic) + "\n"
        return ""

    def render(index: int, lead: bool, fields: PaperText) -> str:
        """Paper `index`'s item from these fields."""
        return section(index, lead) + item(index + 1, papers[index], fields)

    def block(index: int, lead: bool) -> str:
        """Paper `index`'s item."""
        return render(index, lead, compact_fields(papers[index], entries[index]))

    def size(text: str) -> Size:
        """Characters, with the separator before the item (the first has none: a little slack)."""
        return (len(text) + len(separator),)

    def shorten(index: int, lead: bool, fits: Callable[[str], bool]) -> str:
        """Paper `index`'s item shortened until it fits a page of its own."""
        paper = papers[index]
        return fit_fields(
            compact_fields(paper, entries[index]),
            lambda fields: render(index, lead, fields),
            fits,
            lambda: section(index, lead) + f"**{index + 1}.** [arXiv:{paper.arxiv_id}]({paper.abs_url})",
            paper_id=paper.arxiv_id,
        )

    return Pages(paginate(len(papers), block, size, (MAX_DESCRIPTION,), MAX_PER_PAGE[style], shorten))


def _full_layout(loaded: LoadedView) -> Pages[dict[str, Any]]:
    """Full pages: one embed per paper, at most ten and 6000 characters a message, laid out lazily."""
    several = len(loaded.view.topics) > 1
    papers, entries = loaded.papers, loaded.entries

    def render(index: int, fields: PaperText) -> dict[str, Any]:
        """Paper `index`'s embed from these fields."""
        return _paper_embed(papers[index], fields, several_topics=several)

    def fields_of(index: int) -> PaperText:
        """Paper `index`'s fields."""
        return full_fields(papers[index], entries[index])

    def size(embed: dict[str, Any]) -> Size:
        """An embed's characters, and one embed."""
        return embed_length(embed), 1

    def shorten(index: int, lead: bool, fits: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Paper `index`'s embed shortened until it fits a message of its own."""
        paper = papers[index]
        return fit_fields(
            fields_of(index),
            lambda fields: render(index, fields),
            fits,
            lambda: _bare_embed(paper),
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


def render_page(loaded: LoadedView, *, style: Style | None = None, page: int = 0) -> DiscordPage:
    """Page `page` (clamped) of the view in `style` (None: the style the view was sent in)."""
    shown = style or loaded.view.style
    chosen: ChosenPage[Any] = choose_page(loaded, shown, page, lambda wanted: _any_layout(loaded, wanted))
    if shown is Style.FULL:
        embeds: tuple[dict[str, Any], ...] = chosen.page.blocks
    else:
        items = chosen.page.blocks
        description = _ITEM_SEPARATORS[shown].join(items) if items else _NO_PAPERS
        embeds = ({"description": description, "color": _PAGE_COLOUR},)
    message = DiscordMessage(content=_page_content(chosen.words), embeds=embeds, paper_ids=chosen.paper_ids)
    return DiscordPage(
        message=message,
        buttons=chosen.buttons,
        page=chosen.number,
        page_count=chosen.count,
        paper_ids=chosen.paper_ids,
    )


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
