"""Digests as Telegram messages: HTML parse-mode text that always fits Telegram's limits.

Pure functions, no network. Telegram counts a message's length after entity parsing, in UTF-16 code
units, and allows at most 4096; every message built here stays within that (and keeps its raw HTML
under `MAX_RAW_LENGTH`), splits only between papers, and never drops a paper: above
`max_inline_papers` the rest go only into the Markdown file the caller sends with the messages.

Every piece of paper text is escaped with exactly `&lt; &gt; &amp;` (plus `&quot;` inside an
attribute), so LaTeX and stray `<`, `&`, `>` in titles and abstracts show as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from adapters.markdown_output import authors_line
from bot.models import AnnounceType, Digest, Paper

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096  # visible UTF-16 code units after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_RAW_LENGTH = 10_000  # the HTML as sent; Telegram limits the parsed text, this keeps requests sane
ELLIPSIS = "…"
READ_MORE = "(read more)"

_SEPARATOR = "\n\n"  # between blocks of a message
_MAX_TOPIC_NAME = 80
_MAX_TOPIC_LIST = 300
_WHITESPACE = re.compile(r"\s+")
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


def render_plain_text(message: TelegramMessage) -> str:
    """The same content without markup (tags stripped, entities unescaped), for when HTML is rejected."""
    return _unescape(_TAG.sub("", message.text))


def _visible_length(html: str) -> int:
    """Visible length of HTML this module wrote (tags stripped, its four entities unescaped)."""
    return telegram_length(_unescape(_TAG.sub("", html)))


def _one_line(text: str) -> str:
    """Fold every run of whitespace (arXiv wraps titles and abstracts) into one space."""
    return _WHITESPACE.sub(" ", text).strip()


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters plus "…", cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _fits(html: str, visible_budget: int, raw_budget: int) -> bool:
    """Whether a chunk of HTML stays within both budgets."""
    return len(html) <= raw_budget and _visible_length(html) <= visible_budget


# -- one paper ------------------------------------------------------------------------------------


def _marks(paper: Paper) -> list[str]:
    """The cross-list and replacement marks of a paper."""
    marks = []
    if paper.announce_type in (AnnounceType.REPLACE, AnnounceType.REPLACE_CROSS):
        marks.append(f"♻ updated v{paper.version}")
    if paper.announce_type in (AnnounceType.CROSS, AnnounceType.REPLACE_CROSS):
        marks.append("↔ cross-list")
    return marks


@dataclass(frozen=True)
class _PaperText:
    """The text fields of one paper block, already folded to one line (clipping works on these)."""

    title: str
    authors: str
    abstract: str
    also_in: str
    abstract_clipped: bool = False


def _paper_text(paper: Paper, also_in: Sequence[str]) -> _PaperText:
    """A paper's displayable fields."""
    return _PaperText(
        title=_one_line(paper.title) or f"arXiv:{paper.arxiv_id}",
        authors=_one_line(authors_line(paper.authors)),
        abstract=_one_line(paper.abstract),
        also_in=", ".join(_one_line(name) for name in also_in),
    )


def _paper_html(paper: Paper, fields: _PaperText) -> str:
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


def _clip_field(
    fields: _PaperText,
    name: str,
    render: Callable[[_PaperText], str],
    visible_budget: int,
    raw_budget: int,
) -> tuple[_PaperText, bool]:
    """Shorten one field (binary search on its length) until the block fits; False if even empty fails."""
    full: str = getattr(fields, name)

    def variant(length: int) -> _PaperText:
        """The fields with this one clipped to `length` characters (0: dropped)."""
        changes: dict[str, Any] = {name: _clip(full, length) if length else ""}
        if name == "title" and not length:
            changes[name] = ELLIPSIS
        if name == "abstract":
            changes["abstract_clipped"] = True
        return replace(fields, **changes)

    if not _fits(render(variant(0)), visible_budget, raw_budget):
        return variant(0), False
    low, high = 0, len(full)  # `low` always fits; `high` does not (the full field did not)
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(render(variant(middle)), visible_budget, raw_budget):
            low = middle
        else:
            high = middle
    return variant(low), True


def _fit_paper(paper: Paper, also_in: Sequence[str], visible_budget: int, raw_budget: int) -> str:
    """The paper's block, shortened (abstract first, then title, authors, topic list) to fit the budgets."""
    fields = _paper_text(paper, also_in)

    def render(candidate: _PaperText) -> str:
        """The block for these fields."""
        return _paper_html(paper, candidate)

    html = render(fields)
    if _fits(html, visible_budget, raw_budget):
        return html
    log.debug("shortening paper %s to fit one Telegram message", paper.arxiv_id)
    for name in ("abstract", "title", "authors", "also_in"):
        fields, fitted = _clip_field(fields, name, render, visible_budget, raw_budget)
        if fitted:
            return render(fields)
    # Only absurd category lists get here: give up on the metadata line rather than on the paper.
    return f'<b><a href="{escape_attribute(paper.abs_url)}">arXiv:{escape_html(paper.arxiv_id)}</a></b>'


# -- headers --------------------------------------------------------------------------------------


def _topic_names(digest: Digest, limit: int = _MAX_TOPIC_LIST) -> str:
    """The digest's topic names (plain text), each and all clipped."""
    names = [_clip(_one_line(section.topic.name), _MAX_TOPIC_NAME) for section in digest.topics]
    return _clip(", ".join(name for name in names if name), limit)


def _part_suffix(part: int, total: int) -> str:
    """ " · part 2/5", or nothing for a one-message digest."""
    return f" · part {part}/{total}" if total > 1 else ""


def _first_header(digest: Digest, label: str, inline: int, part: int, total: int) -> str:
    """The first message's header: date, how many matched of how many, the topics."""
    title = f"<b>📚 arXiv digest · {digest.date.isoformat()}</b>{_part_suffix(part, total)}"
    count = f"{digest.matched_count} of {digest.announced_count} {escape_html(label)} matched"
    names = escape_html(_topic_names(digest))
    lines = [title, f"{count}: <b>{names}</b>" if names else count]
    matched = digest.matched_count
    if inline < matched:
        lines.append(
            f"<i>Showing the first {inline} here; all {matched} are in the attached Markdown file.</i>"
            if inline
            else f"<i>All {matched} are in the attached Markdown file.</i>"
        )
    return "\n".join(lines)


def _next_header(digest: Digest, part: int, total: int) -> str:
    """The header of every message after the first."""
    return f"<i>arXiv digest · {digest.date.isoformat()}{_part_suffix(part, total)}</i>"


def _section_line(name: str, count: int, notes: Sequence[str], *, continued: bool = False) -> str:
    """A topic's bold section line with its paper count (and notes on papers shown elsewhere)."""
    title = escape_html(_clip(_one_line(name), _MAX_TOPIC_NAME))
    if continued:
        return f"<b>▍{title}</b> (continued)"
    papers = "paper" if count == 1 else "papers"
    extra = "".join(f" · {escape_html(note)}" for note in notes)
    return f"<b>▍{title}</b> · {count} {papers}{extra}"


# -- the digest -----------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A message being filled: its blocks (the first is the header) and the papers it carries."""

    blocks: list[str]
    paper_ids: list[str]
    visible: int
    raw: int

    @classmethod
    def start(cls, header: str) -> _Draft:
        """A message holding only its header."""
        return cls([header], [], _visible_length(header), len(header))

    def room(self) -> tuple[int, int]:
        """Visible and raw characters still free for one more block (separator included)."""
        sep = len(_SEPARATOR)
        return MAX_MESSAGE_LENGTH - self.visible - sep, MAX_RAW_LENGTH - self.raw - sep

    def fits(self, html: str) -> bool:
        """Whether one more block fits."""
        visible, raw = self.room()
        return _fits(html, visible, raw)

    def add(self, html: str, paper_id: str | None = None) -> None:
        """Append a block (it must fit)."""
        self.blocks.append(html)
        self.visible += len(_SEPARATOR) + _visible_length(html)
        self.raw += len(_SEPARATOR) + len(html)
        if paper_id is not None:
            self.paper_ids.append(paper_id)


def render_empty_day(digest: Digest, *, announced_label: str = "new papers") -> TelegramMessage:
    """The one-liner for an announcement day on which nothing matched."""
    date = digest.date.isoformat()
    if digest.announced_count == 0:
        text = f"No {escape_html(announced_label)} were announced in your categories on {date}."
    else:
        text = (
            f"{digest.matched_count} of {digest.announced_count} {escape_html(announced_label)} "
            f"matched your filters on {date}."
        )
    return TelegramMessage(text=text, paper_ids=())


def render_digest(
    digest: Digest, *, max_inline_papers: int = 30, announced_label: str = "new papers"
) -> tuple[list[TelegramMessage], bool]:
    """The digest as Telegram messages, and whether the whole digest must also go as a Markdown file.

    The first `max_inline_papers` distinct papers (digest order) are laid out in messages; when there
    are more, the flag is True and the rest reach the chat only through the file. Each paper is
    rendered once, under the first topic that matched it ("also in: …" names the others).
    """
    if max_inline_papers < 0:
        raise ValueError("max_inline_papers must be >= 0")
    papers = digest.papers
    if not papers:
        return [render_empty_day(digest, announced_label=announced_label)], False
    inline_ids = {paper.arxiv_id for paper in papers[:max_inline_papers]}
    needs_file = len(papers) > max_inline_papers
    topics_of: dict[str, list[str]] = {}
    for section in digest.topics:
        for paper in section.papers:
            names = topics_of.setdefault(paper.arxiv_id, [])
            if section.topic.name not in names:
                names.append(section.topic.name)
    several_topics = len(digest.topics) > 1
    # Headers are laid out at the widest part numbers, then rewritten with the real ones.
    widest = 10 ** len(str(len(inline_ids) + len(digest.topics) + 1)) - 1
    inline = min(max_inline_papers, len(papers))

    drafts = [_Draft.start(_first_header(digest, announced_label, inline, widest, widest))]
    placed: set[str] = set()
    for section in digest.topics:
        # Papers shown in an earlier section, or only in the file, are counted but not repeated.
        fresh = [p for p in section.papers if p.arxiv_id in inline_ids and p.arxiv_id not in placed]
        above = sum(1 for p in section.papers if p.arxiv_id in placed)
        in_file = sum(1 for p in section.papers if p.arxiv_id not in inline_ids)
        notes = ([f"{above} listed above"] if above else []) + ([f"{in_file} in the file"] if in_file else [])
        section_line = _section_line(section.topic.name, len(section.papers), notes) if several_topics else ""
        if several_topics and not fresh:
            if not drafts[-1].fits(section_line):
                drafts.append(_Draft.start(_next_header(digest, widest, widest)))
            drafts[-1].add(section_line)
            continue
        pending_line = section_line  # goes into the message that gets the section's first paper
        for paper in fresh:
            if paper.arxiv_id in placed:  # listed twice in one topic
                continue
            placed.add(paper.arxiv_id)
            also_in = [name for name in topics_of[paper.arxiv_id] if name != section.topic.name]
            block = _paper_html(paper, _paper_text(paper, also_in))
            with_line = f"{pending_line}{_SEPARATOR}{block}" if pending_line else block
            if not drafts[-1].fits(with_line) and len(drafts[-1].blocks) > 1:
                drafts.append(_Draft.start(_next_header(digest, widest, widest)))
                if several_topics and not pending_line:
                    pending_line = _section_line(section.topic.name, 0, (), continued=True)
                with_line = f"{pending_line}{_SEPARATOR}{block}" if pending_line else block
            if not drafts[-1].fits(with_line):
                # Too long even for a message of its own: shorten it to what this message has left.
                visible, raw = drafts[-1].room()
                if pending_line:
                    visible -= _visible_length(pending_line) + len(_SEPARATOR)
                    raw -= len(pending_line) + len(_SEPARATOR)
                block = _fit_paper(paper, also_in, visible, raw)
            if pending_line:
                drafts[-1].add(pending_line)
                pending_line = ""
            drafts[-1].add(block, paper.arxiv_id)

    total = len(drafts)
    messages = []
    for part, draft in enumerate(drafts, start=1):
        header = (
            _first_header(digest, announced_label, inline, part, total)
            if part == 1
            else _next_header(digest, part, total)
        )
        text = _SEPARATOR.join([header, *draft.blocks[1:]])
        messages.append(TelegramMessage(text=text, paper_ids=tuple(draft.paper_ids)))
    return messages, needs_file


# -- the companion file ---------------------------------------------------------------------------


def digest_file_name(digest: Digest) -> str:
    """The Markdown file's name, e.g. `arxiv-digest-2025-11-12.md`."""
    return f"arxiv-digest-{digest.date.isoformat()}.md"


def render_file_caption(digest: Digest) -> str:
    """A short HTML caption for the Markdown file (≤ 1024 visible characters)."""
    names = escape_html(_topic_names(digest, 200))
    count = digest.matched_count
    caption = f"All {count} matched {'paper' if count == 1 else 'papers'} of {digest.date.isoformat()}"
    return f"{caption}: <b>{names}</b>" if names else caption
