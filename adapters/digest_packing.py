"""Laying a digest out into messages under a platform's limits: one algorithm for every platform.

A platform supplies a `DigestStyle`: how a paper block, a topic's section line and the headers look,
how big a header or a block is (a tuple of counts, e.g. visible and raw characters for Telegram, or
embed characters and embeds for Discord) and the budget one message may hold. `pack_digest` then
does the rest the same way everywhere:

- papers go in digest order, each once, under the first topic that matched it ("also in: …" names
  the others); with several topics every topic gets a section line, and a topic that spills into the
  next message may repeat its line ("continued");
- a message is split only between papers; a paper too big for a message of its own is shortened
  (abstract first, then title, authors, topic list, each by binary search), never dropped;
- the first `max_inline_papers` papers are laid out, the rest are reported in `file_only` for the
  caller's Markdown file;
- headers are laid out at the widest part numbers ("part 99/99") and then rewritten with the real
  ones, so a header never outgrows the room it was measured with.

Pure functions, no platform library.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from adapters.markdown_output import authors_line
from bot.models import Digest, Paper

log = logging.getLogger(__name__)

ELLIPSIS = "…"
SHORTEN_ORDER = ("abstract", "title", "authors", "also_in")  # what gives way first when a paper is too big

Size = tuple[int, ...]  # what a header or block uses of a message's budget, one count per limit
BlockT = TypeVar("BlockT")

_WHITESPACE = re.compile(r"\s+")


# -- text helpers shared by the styles --------------------------------------------------------------


def one_line(text: str) -> str:
    """Fold every run of whitespace (arXiv wraps titles and abstracts) into one space."""
    return _WHITESPACE.sub(" ", text).strip()


def clip(text: str, limit: int) -> str:
    """At most `limit` characters plus "…", cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def digest_file_name(date: dt.date) -> str:
    """The companion Markdown file's name, e.g. `arxiv-digest-2025-11-12.md`."""
    return f"arxiv-digest-{date.isoformat()}.md"


# -- what a platform supplies -------------------------------------------------------------------------


# What a digest's "M of N" counts: N is every paper announced in the watched categories, new papers,
# cross-lists and replacements alike ("new papers" would undercount what N means).
ANNOUNCED_LABEL = "announced papers"
MAX_TOPIC_NAME = 80  # one topic's name in a header or section line
MAX_TOPIC_LIST = 300  # all of a digest's topic names in a header


def topic_names(digest: Digest, limit: int = MAX_TOPIC_LIST) -> str:
    """The digest's topic names (plain text, unescaped), each and all clipped."""
    names = [clip(one_line(section.topic.name), MAX_TOPIC_NAME) for section in digest.topics]
    return clip(", ".join(name for name in names if name), limit)


@dataclass(frozen=True, slots=True)
class HeaderWords:
    """A digest header's words, plain text; each platform adds its markup and escaping."""

    title: str  # "📚 arXiv digest · 2025-11-12"
    part: str  # " · part 2/5", or "" for a one-message digest
    count: str  # "34 of 496 announced papers matched"
    topics: str  # the topic names ("" when unnamed)
    notice: str | None  # where the papers not shown inline are, if any


def header_words(digest: Digest, label: str, inline: int, part: int, total: int) -> HeaderWords:
    """The first message's header words: date, how many matched of how many `label`, the topics."""
    matched = digest.matched_count
    notice = None
    if inline < matched:
        notice = (
            f"Showing the first {inline} here; all {matched} are in the attached Markdown file."
            if inline
            else f"All {matched} are in the attached Markdown file."
        )
    return HeaderWords(
        title=f"📚 arXiv digest · {digest.date.isoformat()}",
        part=part_suffix(part, total),
        count=f"{matched} of {digest.announced_count} {label} matched",
        topics=topic_names(digest),
        notice=notice,
    )


def empty_day_words(digest: Digest, label: str = ANNOUNCED_LABEL) -> str:
    """The plain one-liner for an announcement day on which nothing matched."""
    date = digest.date.isoformat()
    if digest.announced_count == 0:
        return f"No papers were announced in your categories on {date}."
    return f"{digest.matched_count} of {digest.announced_count} {label} matched your filters on {date}."


def next_header_words(digest: Digest, part: int, total: int) -> str:
    """The plain header of every message after the first: "arXiv digest · DATE · part k/n"."""
    return f"arXiv digest · {digest.date.isoformat()}{part_suffix(part, total)}"


def part_suffix(part: int, total: int) -> str:
    """ " · part 2/5", or nothing for a one-message digest."""
    return f" · part {part}/{total}" if total > 1 else ""


def file_caption_words(digest: Digest) -> tuple[str, str]:
    """The Markdown file's caption, plain: ("All 34 matched papers of DATE", the topic names)."""
    count = digest.matched_count
    caption = f"All {count} matched {'paper' if count == 1 else 'papers'} of {digest.date.isoformat()}"
    return caption, topic_names(digest, 200)


@dataclass(frozen=True, slots=True)
class PaperText:
    """A paper block's text fields, folded to one line and possibly clipped; the style renders them.

    `topic` is the section the paper is shown under (never clipped here; a style bounds it itself),
    `also_in` the other topics that matched it, joined by ", ". `abstract_clipped` says the abstract
    was shortened (it then ends in "…", or is empty when nothing of it fitted).
    """

    title: str
    authors: str
    abstract: str
    topic: str = ""
    also_in: str = ""
    abstract_clipped: bool = False


class DigestStyle(Protocol[BlockT]):
    """A platform's markup, escaping, measuring and limits, as `pack_digest` needs them.

    Sizes add up: a message fits while its header's size plus its blocks' sizes stay within `budget`
    in every component (so a separator between blocks belongs in the block's size). Limits of one
    block alone (e.g. Discord's 256-character title) are the style's to keep when it renders.
    """

    @property
    def budget(self) -> Size:
        """What one message may hold, one count per limit."""
        ...

    def header_size(self, header: str) -> Size:
        """What a header uses of the budget."""
        ...

    def block_size(self, block: BlockT) -> Size:
        """What one more block uses of the budget."""
        ...

    def first_header(self, digest: Digest, *, inline: int, part: int, total: int) -> str:
        """The first message's header; `inline` papers of `digest.matched_count` are laid out."""
        ...

    def next_header(self, digest: Digest, *, part: int, total: int) -> str:
        """The header of every later message."""
        ...

    def section_block(self, name: str, count: int, notes: Sequence[str], *, continued: bool) -> BlockT | None:
        """A topic's section line (`count` papers; notes like "2 listed above"), or None for none."""
        ...

    def paper_block(self, paper: Paper, text: PaperText) -> BlockT:
        """One paper's block from these (possibly clipped) fields."""
        ...

    def bare_paper_block(self, paper: Paper) -> BlockT:
        """The last resort when even a block with every field shortened is too big: a link, say."""
        ...


@dataclass(frozen=True, slots=True)
class Part(Generic[BlockT]):
    """One message: its header, its blocks in order, and the papers whose delivery it completes."""

    header: str
    blocks: tuple[BlockT, ...]
    paper_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PackedDigest(Generic[BlockT]):
    """The digest as messages, and the papers (digest order) that only the Markdown file carries."""

    parts: tuple[Part[BlockT], ...]
    file_only: tuple[str, ...]

    @property
    def needs_file(self) -> bool:
        """Whether more papers matched than were laid out, so the whole digest must go as a file."""
        return bool(self.file_only)


# -- the algorithm ------------------------------------------------------------------------------------


def _within(used: Size, budget: Size) -> bool:
    """Whether every count is within its limit."""
    return all(count <= limit for count, limit in zip(used, budget, strict=True))


def _plus(*sizes: Size) -> Size:
    """Component-wise sum."""
    return tuple(sum(counts) for counts in zip(*sizes, strict=True))


def paper_text(paper: Paper, topic: str, also_in: Sequence[str]) -> PaperText:
    """A paper's displayable fields: one line each, at most six authors, a title never empty."""
    return PaperText(
        title=one_line(paper.title) or f"arXiv:{paper.arxiv_id}",
        authors=one_line(authors_line(paper.authors)),
        abstract=one_line(paper.abstract),
        topic=one_line(topic),
        also_in=", ".join(one_line(name) for name in also_in),
    )


def _clip_field(
    fields: PaperText, name: str, render: Callable[[PaperText], Any], fits: Callable[[Any], bool]
) -> tuple[PaperText, bool]:
    """Shorten one field (binary search on its length) until the block fits; False if even empty fails."""
    full: str = getattr(fields, name)

    def variant(length: int) -> PaperText:
        """The fields with this one clipped to `length` characters (0: dropped)."""
        changes: dict[str, Any] = {name: clip(full, length) if length else ""}
        if name == "title" and not length:
            changes[name] = ELLIPSIS  # a block keeps something to click
        if name == "abstract":
            changes["abstract_clipped"] = True
        return replace(fields, **changes)

    if not fits(render(variant(0))):
        return variant(0), False
    low, high = 0, len(full)  # `low` always fits; `high` does not (the full field did not)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(render(variant(middle))):
            low = middle
        else:
            high = middle
    return variant(low), True


def fit_paper(
    paper: Paper, text: PaperText, style: DigestStyle[BlockT], fits: Callable[[BlockT], bool]
) -> BlockT:
    """The paper's block, shortened (fields in `SHORTEN_ORDER`) until `fits` accepts it."""

    def render(candidate: PaperText) -> BlockT:
        """The block for these fields."""
        return style.paper_block(paper, candidate)

    block = render(text)
    if fits(block):
        return block
    log.debug("shortening paper %s to fit one message", paper.arxiv_id)
    for name in SHORTEN_ORDER:
        text, fitted = _clip_field(text, name, render, fits)
        if fitted:
            return render(text)
    # Only absurd metadata (thousands of categories) gets here: give it up rather than the paper.
    return style.bare_paper_block(paper)


@dataclass
class _Draft(Generic[BlockT]):
    """A message being filled: its blocks after the header, the papers it carries, what it uses."""

    blocks: list[BlockT]
    paper_ids: list[str]
    used: Size

    def fits(self, style: DigestStyle[BlockT], *blocks: BlockT) -> bool:
        """Whether these blocks fit after what the message holds."""
        return _within(_plus(self.used, *(style.block_size(block) for block in blocks)), style.budget)

    def add(self, style: DigestStyle[BlockT], block: BlockT, paper_id: str | None = None) -> None:
        """Append a block (the caller checked that it fits, or it is a paper that has to go somewhere)."""
        self.blocks.append(block)
        self.used = _plus(self.used, style.block_size(block))
        if paper_id is not None:
            self.paper_ids.append(paper_id)


def _topics_of(digest: Digest) -> dict[str, list[str]]:
    """Each paper's topics, in digest order: the first is where it is shown, the rest are "also in"."""
    topics_of: dict[str, list[str]] = {}
    for section in digest.topics:
        for paper in section.papers:
            names = topics_of.setdefault(paper.arxiv_id, [])
            if section.topic.name not in names:
                names.append(section.topic.name)
    return topics_of


def _numbered_parts(
    drafts: Sequence[_Draft[BlockT]], digest: Digest, style: DigestStyle[BlockT], inline: int
) -> tuple[Part[BlockT], ...]:
    """The drafts as parts whose headers carry the real part numbers."""
    total = len(drafts)

    def header(part: int) -> str:
        """The first message's header, or a later one's."""
        if part == 1:
            return style.first_header(digest, inline=inline, part=part, total=total)
        return style.next_header(digest, part=part, total=total)

    return tuple(
        Part(header=header(part), blocks=tuple(draft.blocks), paper_ids=tuple(draft.paper_ids))
        for part, draft in enumerate(drafts, start=1)
    )


def pack_digest(
    digest: Digest, style: DigestStyle[BlockT], *, max_inline_papers: int = 30
) -> PackedDigest[BlockT]:
    """The digest laid out as messages in `style`; see the module docstring for the rules."""
    if max_inline_papers < 0:
        raise ValueError("max_inline_papers must be >= 0")
    papers = digest.papers
    inline_ids = {paper.arxiv_id for paper in papers[:max_inline_papers]}
    inline = min(max_inline_papers, len(papers))
    topics_of = _topics_of(digest)
    several_topics = len(digest.topics) > 1
    # Every message holds at least a paper or a section line, which bounds the number of parts.
    widest = 10 ** len(str(len(inline_ids) + len(digest.topics) + 1)) - 1

    def start(header: str) -> _Draft[BlockT]:
        """A message holding only its header."""
        return _Draft([], [], style.header_size(header))

    def next_draft() -> _Draft[BlockT]:
        """A later message, measured with the widest part numbers."""
        return start(style.next_header(digest, part=widest, total=widest))

    drafts = [start(style.first_header(digest, inline=inline, part=widest, total=widest))]
    placed: set[str] = set()
    for section in digest.topics:
        # Papers shown in an earlier section, or only in the file, are counted but not repeated.
        fresh = [p for p in section.papers if p.arxiv_id in inline_ids and p.arxiv_id not in placed]
        above = sum(1 for p in section.papers if p.arxiv_id in placed)
        in_file = sum(1 for p in section.papers if p.arxiv_id not in inline_ids)
        notes = ([f"{above} listed above"] if above else []) + ([f"{in_file} in the file"] if in_file else [])
        line = (
            style.section_block(section.topic.name, len(section.papers), notes, continued=False)
            if several_topics
            else None
        )
        if not fresh:
            if line is not None:
                if not drafts[-1].fits(style, line):
                    drafts.append(next_draft())
                drafts[-1].add(style, line)
            continue
        pending = line  # goes into the message that gets the section's first paper
        for paper in fresh:
            if paper.arxiv_id in placed:  # listed twice in one topic
                continue
            placed.add(paper.arxiv_id)
            also_in = [name for name in topics_of[paper.arxiv_id] if name != section.topic.name]
            text = paper_text(paper, section.topic.name, also_in)
            block = style.paper_block(paper, text)
            lead = () if pending is None else (pending,)
            if not drafts[-1].fits(style, *lead, block) and drafts[-1].blocks:
                drafts.append(next_draft())
                if several_topics and pending is None:
                    pending = style.section_block(section.topic.name, 0, (), continued=True)
                lead = () if pending is None else (pending,)
            if not drafts[-1].fits(style, *lead, block):
                # Too big even for a message of its own: shorten it to what this message has left.
                block = fit_paper(paper, text, style, partial(drafts[-1].fits, style, *lead))
            if pending is not None:
                drafts[-1].add(style, pending)
                pending = None
            drafts[-1].add(style, block, paper.arxiv_id)

    parts = _numbered_parts(drafts, digest, style, inline)
    file_only = tuple(paper.arxiv_id for paper in papers if paper.arxiv_id not in inline_ids)
    return PackedDigest(parts=parts, file_only=file_only)
