"""Digest pages as Telegram messages: HTML parse-mode text that always fits Telegram's limits.

Pure functions, no network. A digest is one message showing one page of a stored view, with an
inline keyboard to turn the pages and switch the style (`render_page`), above it 👍/👎/🔖 for each
paper on the page, labelled with the paper's number in the page text (`feedback_rows`: `3 👍2` when
two members liked paper 3, never more than 100 buttons or 8 a row); the whole view also goes as
a phone-friendly Markdown file (`render_chat_file`). Telegram counts a message's length after entity
parsing, in UTF-16 code units, and allows at most 4096; every page built here stays within that (and
keeps its raw HTML under `MAX_RAW_LENGTH`), splits only between papers, and never drops a paper.
The pagination itself is `adapters.digest_packing`'s, shared with the other platforms; this module
is Telegram's markup for it (HTML blocks, measured as visible UTF-16 units and raw characters).

Every piece of paper text is escaped with exactly `&lt; &gt; &amp;` (plus `&quot;` inside an
attribute), so LaTeX and stray `<`, `&`, `>` in titles and abstracts show as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from adapters.digest_packing import (
    FEEDBACK_SIGNS,
    MAX_PER_PAGE,
    MAX_TOPIC_NAME,
    Button,
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
    shown_count,
    type_label,
    widest_page_words,
)
from adapters.markdown_output import render_chat_markdown
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style, ViewEntry
from bot.views import FeedbackAction

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096  # visible UTF-16 code units after entity parsing
MAX_RAW_LENGTH = 10_000  # the HTML as sent; Telegram limits the parsed text, this keeps requests sane
MAX_BUTTONS = 100  # an inline keyboard's buttons at most
MAX_ROW_BUTTONS = 8  # a keyboard row's buttons at most
# Papers per keyboard row: two papers' 👍 👎 🔖 (6 buttons), or four papers' 🔖 when votes are off.
PAPERS_PER_ROW = {3: 2, 1: 4}
READ_MORE = "(read more)"

_SEPARATOR = "\n\n"  # under the header, and between compact and full blocks
_TAG = re.compile(r"<[^>]*>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&"))


@dataclass(frozen=True)
class TelegramMessage:
    """A message to send with parse_mode HTML, and the papers it shows (none for a one-liner)."""

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


# -- one paper in full ----------------------------------------------------------------------------


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
    """A full block: linked bold title, id/categories/marks line, authors, expandable abstract quote."""
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


def _bare_paper_html(number: int, paper: Paper) -> str:
    """A paper as nothing but its number and linked id (for metadata too long for any page)."""
    url = escape_attribute(paper.abs_url)
    return f'<b>{number}. <a href="{url}">arXiv:{escape_html(paper.arxiv_id)}</a></b>'


# -- pages of a digest view -----------------------------------------------------------------------
# One message per digest, showing one page of a stored view; the layout is digest_packing's.


@dataclass(frozen=True, slots=True)
class TelegramPage:
    """One page of a digest view as a Telegram message (parse_mode HTML) with its inline keyboard."""

    text: str  # HTML, ≤ 4096 visible UTF-16 units, raw ≤ MAX_RAW_LENGTH
    buttons: tuple[tuple[Button, ...], ...]  # the page's: ◀ n/N ▶, the style toggle, the file
    page: int  # 0-based, after clamping
    page_count: int
    paper_ids: tuple[str, ...]  # the papers shown on this page
    feedback: tuple[tuple[Button, ...], ...] = ()  # each paper's 👍 👎 🔖, above the page's buttons

    @property
    def keyboard(self) -> tuple[tuple[Button, ...], ...]:
        """Every row of the message's inline keyboard: the feedback, then the page's (≤ 100, ≤ 8 a row)."""
        return self.feedback + self.buttons


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


def _numbered_paper_html(number: int, paper: Paper, fields: PaperText) -> str:
    """A full block whose bold title starts with the paper's number (the feedback buttons name it)."""
    return f"<b>{number}. " + _paper_html(paper, fields).removeprefix("<b>")


def _block(style: Style, number: int, paper: Paper, fields: PaperText) -> str:
    """The paper's HTML in this style."""
    if style is Style.COMPACT:
        return _compact_html(number, paper, fields)
    if style is Style.TITLES:
        return _titles_html(number, paper, fields)
    return _numbered_paper_html(number, paper, fields)


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
            lambda: section(index, lead) + _bare_paper_html(index + 1, paper),
            paper_id=paper.arxiv_id,
        )

    return Pages(paginate(len(papers), block, size, room, MAX_PER_PAGE[style], shorten))


def feedback_label(number: int, action: FeedbackAction, paper: PaperFeedback) -> str:
    """`3 👍2`: the paper's number, the action, and the chat's count for a vote (none when 0, or for 🔖)."""
    count = {FeedbackAction.UP: paper.tally.up, FeedbackAction.DOWN: paper.tally.down}.get(action, 0)
    label = f"{number} {FEEDBACK_SIGNS[action]}"
    return f"{label}{shown_count(count)}" if count else label


def feedback_rows(feedback: tuple[PaperFeedback, ...]) -> tuple[tuple[Button, ...], ...]:
    """Each paper's 👍 👎 🔖 (or 🔖 alone), a few papers a row, in the page's order."""
    if not feedback:
        return ()
    per_row = PAPERS_PER_ROW.get(len(feedback[0].actions), 1)
    rows = []
    for first in range(0, len(feedback), per_row):
        rows.append(
            tuple(
                Button(feedback_label(paper.number, action, paper), data)
                for paper in feedback[first : first + per_row]
                for action, data in paper.actions
            )
        )
    return tuple(rows)


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
        feedback=feedback_rows(chosen.feedback),
    )


# -- the empty day and the chat file --------------------------------------------------------------


def render_empty_day(digest: Digest) -> TelegramMessage:
    """The one-liner for an announcement day on which nothing matched."""
    return TelegramMessage(text=escape_html(empty_day_words(digest)), paper_ids=())


def render_chat_file(loaded: LoadedView) -> tuple[str, bytes]:
    """The view as a phone-friendly Markdown file: (`arxiv-digest-DATE.md`, its UTF-8 bytes)."""
    name = digest_file_name(loaded.view.announcement_date)
    return name, render_chat_markdown(loaded).encode("utf-8")
