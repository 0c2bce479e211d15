"""Digests as Telegram messages: HTML parse-mode text that always fits Telegram's limits.

Pure functions, no network. Telegram counts a message's length after entity parsing, in UTF-16 code
units, and allows at most 4096; every message built here stays within that (and keeps its raw HTML
under `MAX_RAW_LENGTH`), splits only between papers, and never drops a paper: above
`max_inline_papers` the rest go only into the Markdown file the caller sends with the messages.
The layout itself is `adapters.digest_packing`'s, shared with the other platforms; this module is
Telegram's style for it (HTML blocks, measured as visible UTF-16 units and raw characters).

Every piece of paper text is escaped with exactly `&lt; &gt; &amp;` (plus `&quot;` inside an
attribute), so LaTeX and stray `<`, `&`, `>` in titles and abstracts show as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from adapters import digest_packing
from adapters.digest_packing import (
    ANNOUNCED_LABEL,
    MAX_PER_PAGE,
    MAX_TOPIC_NAME,
    Button,
    Pages,
    PageWords,
    PaperText,
    Size,
    choose_page,
    clip,
    compact_fields,
    empty_day_words,
    file_caption_words,
    fit_fields,
    full_fields,
    header_words,
    next_header_words,
    one_line,
    pack_digest,
    paginate,
    type_label,
    widest_page_words,
)
from adapters.markdown_output import render_chat_markdown
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style, ViewEntry

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096  # visible UTF-16 code units after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_RAW_LENGTH = 10_000  # the HTML as sent; Telegram limits the parsed text, this keeps requests sane
READ_MORE = "(read more)"
ELLIPSIS = digest_packing.ELLIPSIS  # what a clipped text ends with

_SEPARATOR = "\n\n"  # between blocks of a message
_TAG = re.compile(r"<[^>]*>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&"))


@dataclass(frozen=True)
class TelegramMessage:
    """One message to send with parse_mode HTML, and the papers it carries (for the delivery ledger)."""

    text: str
    paper_ids: tuple[str, ...]


# -- text helpers ---------------------------------------------------------------------------------


def escape_html(text: str) -> str:
    """Escape text for Telegram HTML: exactly `&`, `<` and `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: str) -> str:
    """Escape an attribute value (inside double quotes): `&`, `<`, `>` and `"`."""
    return escape_html(text).replace('"', "&quot;")


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(text: str) -> str:
    """Undo `escape_attribute` (only the four entities this module writes; `&amp;` last)."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _hard_split(line: str, limit: int) -> list[str]:
    """A line longer than `limit` UTF-16 units cut into pieces that fit."""
    if telegram_length(line) <= limit:
        return [line]
    parts: list[str] = []
    start = units = 0
    for index, char in enumerate(line):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            parts.append(line[start:index])
            start, units = index, 0
        units += width
    parts.append(line[start:])
    return parts


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split plain text at line breaks into messages Telegram accepts (≤ `limit` UTF-16 units, not blank)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        for part in _hard_split(line, limit):
            candidate = f"{current}\n{part}" if current else part
            if telegram_length(candidate) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = part
    pieces.append(current)
    kept = [piece for piece in pieces if piece.strip()]
    return kept or ["…"]


def render_plain_text(message: TelegramMessage) -> str:
    """The same content without markup (tags stripped, entities unescaped), for when HTML is rejected."""
    return _unescape(_TAG.sub("", message.text))


@lru_cache(maxsize=1024)  # the pages being built now; numbered blocks differ per chat, so few repeat
def _visible_length(html: str) -> int:
    """Visible length of HTML this module wrote (tags stripped, its four entities unescaped)."""
    return telegram_length(_unescape(_TAG.sub("", html)))


# -- one paper ------------------------------------------------------------------------------------


def _marks(paper: Paper) -> list[str]:
    """The cross-list and replacement marks of a paper."""
    marks = []
    if paper.announce_type in (AnnounceType.REPLACE, AnnounceType.REPLACE_CROSS):
        marks.append(f"♻ updated v{paper.version}")
    if paper.announce_type in (AnnounceType.CROSS, AnnounceType.REPLACE_CROSS):
        marks.append("↔ cross-list")
    return marks


@lru_cache(maxsize=2048)  # the same paper goes to many chats
def _paper_html(paper: Paper, fields: PaperText) -> str:
    """One paper: linked bold title, id/categories/marks line, authors, abstract in an expandable quote."""
    url = escape_attribute(paper.abs_url)
    meta = [f"<code>arXiv:{escape_html(paper.arxiv_id)}</code>"]
    if paper.categories:
        meta.append(escape_html(" ".join(paper.categories)))
    meta.extend(_marks(paper))
    if fields.also_in:
        meta.append(f"also in: {escape_html(fields.also_in)}")
    lines = [
        f'<b><a href="{url}">{escape_html(fields.title)}</a></b>',
        " · ".join(meta),
    ]
    if fields.authors:
        lines.append(f"<i>{escape_html(fields.authors)}</i>")
    if fields.abstract or fields.abstract_clipped:
        abstract = escape_html(fields.abstract)
        if fields.abstract_clipped:
            abstract = f'{abstract} <a href="{url}">{READ_MORE}</a>'.lstrip()
        lines.append(f"<blockquote expandable>{abstract}</blockquote>")
    return "\n".join(lines)


def _bare_paper_html(paper: Paper) -> str:
    """A paper as nothing but its linked id (for metadata too long for any message)."""
    return f'<b><a href="{escape_attribute(paper.abs_url)}">arXiv:{escape_html(paper.arxiv_id)}</a></b>'


# -- headers --------------------------------------------------------------------------------------


def _first_header(digest: Digest, label: str, inline: int, part: int, total: int) -> str:
    """The first message's header: date, how many matched of how many, the topics."""
    words = header_words(digest, label, inline, part, total)
    count = escape_html(words.count)
    lines = [f"<b>{words.title}</b>{words.part}"]
    lines.append(f"{count}: <b>{escape_html(words.topics)}</b>" if words.topics else count)
    if words.notice:
        lines.append(f"<i>{words.notice}</i>")
    return "\n".join(lines)


def _next_header(digest: Digest, part: int, total: int) -> str:
    """The header of every message after the first."""
    return f"<i>{next_header_words(digest, part, total)}</i>"


def _section_line(name: str, count: int, notes: Sequence[str], *, continued: bool = False) -> str:
    """A topic's bold section line with its paper count (and notes on papers shown elsewhere)."""
    title = escape_html(clip(one_line(name), MAX_TOPIC_NAME))
    if continued:
        return f"<b>▍{title}</b> (continued)"
    papers = "paper" if count == 1 else "papers"
    extra = "".join(f" · {escape_html(note)}" for note in notes)
    return f"<b>▍{title}</b> · {count} {papers}{extra}"


# -- the digest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramStyle:
    """Telegram's style for the shared packer: HTML blocks joined by a blank line, in one text budget.

    A size is (visible UTF-16 units, raw characters); each block's includes the separator before it.
    """

    announced_label: str = ANNOUNCED_LABEL
    budget: Size = (MAX_MESSAGE_LENGTH, MAX_RAW_LENGTH)

    def header_size(self, header: str) -> Size:
        """A header's visible and raw length."""
        return _visible_length(header), len(header)

    def block_size(self, block: str) -> Size:
        """A block's visible and raw length, with the separator that precedes it."""
        return _visible_length(block) + len(_SEPARATOR), len(block) + len(_SEPARATOR)

    def first_header(self, digest: Digest, *, inline: int, part: int, total: int) -> str:
        """Date, how many matched of how many, the topics."""
        return _first_header(digest, self.announced_label, inline, part, total)

    def next_header(self, digest: Digest, *, part: int, total: int) -> str:
        """The italic header of later messages."""
        return _next_header(digest, part, total)

    def section_block(self, name: str, count: int, notes: Sequence[str], *, continued: bool) -> str:
        """A topic's bold section line."""
        return _section_line(name, count, notes, continued=continued)

    def paper_block(self, paper: Paper, text: PaperText) -> str:
        """One paper's HTML."""
        return _paper_html(paper, text)

    def bare_paper_block(self, paper: Paper) -> str:
        """The paper's linked id alone."""
        return _bare_paper_html(paper)


def render_empty_day(digest: Digest, *, announced_label: str = ANNOUNCED_LABEL) -> TelegramMessage:
    """The one-liner for an announcement day on which nothing matched."""
    return TelegramMessage(text=escape_html(empty_day_words(digest, announced_label)), paper_ids=())


def render_digest(
    digest: Digest, *, max_inline_papers: int = 30, announced_label: str = ANNOUNCED_LABEL
) -> tuple[list[TelegramMessage], bool]:
    """The digest as Telegram messages, and whether the whole digest must also go as a Markdown file.

    The first `max_inline_papers` distinct papers (digest order) are laid out in messages; when there
    are more, the flag is True and the rest reach the chat only through the file. Each paper is
    rendered once, under the first topic that matched it ("also in: …" names the others).
    """
    if max_inline_papers < 0:
        raise ValueError("max_inline_papers must be >= 0")
    if not digest.papers:
        return [render_empty_day(digest, announced_label=announced_label)], False
    packed = pack_digest(digest, TelegramStyle(announced_label), max_inline_papers=max_inline_papers)
    messages = [
        TelegramMessage(text=_SEPARATOR.join([part.header, *part.blocks]), paper_ids=part.paper_ids)
        for part in packed.parts
    ]
    return messages, packed.needs_file


# -- the companion file ---------------------------------------------------------------------------


def digest_file_name(digest: Digest) -> str:
    """The Markdown file's name, e.g. `arxiv-digest-2025-11-12.md`."""
    return digest_packing.digest_file_name(digest.date)


def render_file_caption(digest: Digest) -> str:
    """A short HTML caption for the Markdown file (≤ 1024 visible characters)."""
    caption, names = file_caption_words(digest)
    return f"{caption}: <b>{escape_html(names)}</b>" if names else caption


# -- pages of a digest view -----------------------------------------------------------------------
# One message per digest, showing one page of a stored view; the layout is digest_packing's.


@dataclass(frozen=True, slots=True)
class TelegramPage:
    """One page of a digest view as a Telegram message (parse_mode HTML) with its inline keyboard."""

    text: str  # HTML, ≤ 4096 visible UTF-16 units, raw ≤ MAX_RAW_LENGTH
    buttons: tuple[tuple[Button, ...], ...]
    page: int  # 0-based, after clamping
    page_count: int
    paper_ids: tuple[str, ...]  # the papers shown on this page


_LINE = "\n"
_SEPARATORS = {Style.COMPACT: _SEPARATOR, Style.FULL: _SEPARATOR, Style.TITLES: _LINE}


def _page_header(words: PageWords) -> str:
    """Bold date and topics, then the counts and where this page is."""
    return f"<b>{escape_html(words.first_line)}</b>\n{escape_html(words.second_line)}"


def _section_html(name: str) -> str:
    """A topic's bold line above its first paper on a page."""
    return f"<b>▍{escape_html(clip(one_line(name), MAX_TOPIC_NAME))}</b>"


def _compact_html(number: int, paper: Paper, fields: PaperText) -> str:
    """Numbered linked bold title; authors, category and type; matched keywords; an italic TL;DR."""
    url = escape_attribute(paper.abs_url)
    lines = [f'<b>{number}. <a href="{url}">{escape_html(fields.title)}</a></b>']
    meta = [escape_html(fields.authors)] if fields.authors else []
    if paper.primary_category:
        meta.append(f"<code>{escape_html(paper.primary_category)}</code>")
    meta.append(escape_html(type_label(paper)))
    lines.append(" · ".join(meta))
    if fields.also_in:
        lines.append(f"🔑 {escape_html(fields.also_in)}")
    if fields.abstract:
        lines.append(f"<i>{escape_html(fields.abstract)}</i>")
    return "\n".join(lines)


def _titles_html(number: int, paper: Paper, fields: PaperText) -> str:
    """A numbered linked title on one line."""
    return f'{number}. <a href="{escape_attribute(paper.abs_url)}">{escape_html(fields.title)}</a>'


def _fields(style: Style, paper: Paper, entry: ViewEntry) -> PaperText:
    """The paper's displayable fields in this style."""
    if style is Style.FULL:
        return full_fields(paper, entry)
    return compact_fields(paper, entry)


def _block(style: Style, number: int, paper: Paper, fields: PaperText) -> str:
    """The paper's HTML in this style."""
    if style is Style.COMPACT:
        return _compact_html(number, paper, fields)
    if style is Style.TITLES:
        return _titles_html(number, paper, fields)
    return _paper_html(paper, fields)


def _layout(loaded: LoadedView, style: Style) -> Pages[str]:
    """The view's pages in this style (blocks of HTML), laid out lazily."""
    separator = _SEPARATORS[style]
    several = len(loaded.view.topics) > 1
    header = _page_header(widest_page_words(loaded))
    # The header and the blank line under it come off the budget; each block brings its separator.
    room = (
        MAX_MESSAGE_LENGTH - _visible_length(header) - len(_SEPARATOR),
        MAX_RAW_LENGTH - len(header) - len(_SEPARATOR),
    )
    papers, entries = loaded.papers, loaded.entries

    def section(index: int, lead: bool) -> str:
        """The topic line (and a line break) this paper's block starts with, if any."""
        if several and (lead or entries[index - 1].topic != entries[index].topic):
            return _section_html(entries[index].topic) + _LINE
        return ""

    def render(index: int, lead: bool, fields: PaperText) -> str:
        """Paper `index`'s block from these fields."""
        return section(index, lead) + _block(style, index + 1, papers[index], fields)

    def block(index: int, lead: bool) -> str:
        """Paper `index`'s block."""
        return render(index, lead, _fields(style, papers[index], entries[index]))

    def size(html: str) -> Size:
        """Visible and raw length, with the separator before the block."""
        return _visible_length(html) + len(separator), len(html) + len(separator)

    def shorten(index: int, lead: bool, fits: Callable[[str], bool]) -> str:
        """Paper `index`'s block shortened until it fits a page of its own."""
        paper = papers[index]
        return fit_fields(
            _fields(style, paper, entries[index]),
            lambda fields: render(index, lead, fields),
            fits,
            lambda: section(index, lead) + _bare_paper_html(paper),
            paper_id=paper.arxiv_id,
        )

    return Pages(paginate(len(papers), block, size, room, MAX_PER_PAGE[style], shorten))


def render_page(loaded: LoadedView, *, style: Style | None = None, page: int = 0) -> TelegramPage:
    """Page `page` (clamped) of the view in `style` (None: the style the view was sent in)."""
    shown = style or loaded.view.style
    chosen = choose_page(loaded, shown, page, lambda wanted: _layout(loaded, wanted))
    header = _page_header(chosen.words)
    if chosen.page.blocks:
        body = _SEPARATORS[shown].join(chosen.page.blocks)
    else:
        body = "<i>The papers of this digest are no longer stored.</i>"
    return TelegramPage(
        text=f"{header}{_SEPARATOR}{body}",
        buttons=chosen.buttons,
        page=chosen.number,
        page_count=chosen.count,
        paper_ids=chosen.paper_ids,
    )


def render_chat_file(loaded: LoadedView) -> tuple[str, bytes]:
    """The view as a phone-friendly Markdown file: (`arxiv-digest-DATE.md`, its UTF-8 bytes)."""
    name = digest_packing.digest_file_name(loaded.view.announcement_date)
    return name, render_chat_markdown(loaded).encode("utf-8")
