"""Laying a digest view out into pages under a platform's limits: one algorithm for every platform.

A chat's digest is one message showing one page of a stored view (`bot.models.LoadedView`); its
buttons turn the pages and switch the style. A platform's format module renders each paper as a
block in a style (compact, titles, full), measures it (a tuple of counts, e.g. visible and raw
characters for Telegram, or embed characters and embeds for Discord) and hands `paginate` the room a
page has; everything else is done here the same way everywhere:

- papers go in the view's order, each on exactly one page of a style, at most `MAX_PER_PAGE` a page;
- a page is split only between papers; a paper too big for a page of its own is shortened
  (`fit_fields`: abstract first, then title, authors, the matched/also-in line, each by binary
  search), never dropped;
- the same view and style always give the same pages, so a press carries only a page number;
- `page_buttons` turns pages ("◀ n/N ▶") and toggles the style at the reader's place;
- `page_feedback` gives each paper on a page its 👍/👎/🔖 data (numbered by its position in the
  digest, as the page text numbers it) and its tally; each platform lays those out as controls.

Pure functions, no platform library.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Generic, TypeVar

from adapters.markdown_output import authors_line
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style, ViewEntry, VoteTally
from bot.views import (
    NOOP_DATA,
    FeedbackAction,
    encode_feedback,
    encode_feedback_menu,
    encode_file,
    encode_page,
)

log = logging.getLogger(__name__)

ELLIPSIS = "…"
SHORTEN_ORDER = ("abstract", "title", "authors", "also_in")  # what gives way first when a paper is too big

Size = tuple[int, ...]  # what a block uses of a page's room, one count per limit
BlockT = TypeVar("BlockT")

_WHITESPACE = re.compile(r"\s+")


# -- text helpers shared by the platforms -------------------------------------------------------------


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
    """The chat file's name, e.g. `arxiv-digest-2025-11-12.md`."""
    return f"arxiv-digest-{date.isoformat()}.md"


# What a digest's "M of N" counts: N is every paper announced in the watched categories, new papers,
# cross-lists and replacements alike ("new papers" would undercount what N means).
ANNOUNCED_LABEL = "announced papers"
MAX_TOPIC_NAME = 80  # one topic's name in a header or section line
MAX_TOPIC_LIST = 300  # all of a digest's topic names in a header


def empty_day_words(digest: Digest) -> str:
    """The plain one-liner for an announcement day on which nothing matched."""
    date = digest.date.isoformat()
    if digest.announced_count == 0:
        return f"No papers were announced in your categories on {date}."
    counts = f"{digest.matched_count} of {digest.announced_count} {ANNOUNCED_LABEL}"
    return f"{counts} matched your filters on {date}."


@dataclass(frozen=True, slots=True)
class PaperText:
    """A paper block's text fields, folded to one line and possibly clipped; the platform renders them.

    `topic` is the section the paper is shown under (never clipped here; a platform bounds it itself),
    `also_in` the line that gives way last: in full blocks the other topics that matched it, joined by
    ", ", in compact ones the matched keywords (`matched_line`). `abstract_clipped` says the abstract
    was shortened (it then ends in "…", or is empty when nothing of it fitted).
    """

    title: str
    authors: str
    abstract: str
    topic: str = ""
    also_in: str = ""
    abstract_clipped: bool = False


# -- shortening a paper that does not fit -------------------------------------------------------------


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


def fit_fields(
    text: PaperText,
    render: Callable[[PaperText], BlockT],
    fits: Callable[[BlockT], bool],
    bare: Callable[[], BlockT],
    *,
    paper_id: str = "",
) -> BlockT:
    """`render(text)`, its fields shortened in `SHORTEN_ORDER` (binary search) until `fits` accepts it.

    When even every field emptied does not fit, `bare()` is the last resort (a linked id, say).
    """
    block = render(text)
    if fits(block):
        return block
    log.debug("shortening paper %s to fit one page", paper_id)
    for name in SHORTEN_ORDER:
        text, fitted = _clip_field(text, name, render, fits)
        if fitted:
            return render(text)
    # Only absurd metadata (thousands of categories) gets here: give it up rather than the paper.
    return bare()


# -- pages of a digest view -------------------------------------------------------------------------

# Papers a page shows at most. Each paper carries feedback controls: 25 is what a Discord select holds
# (one option a paper) and leaves Telegram room (25 × 3 buttons + 5 to turn pages ≤ 100).
MAX_PER_PAGE: dict[Style, int | None] = {Style.COMPACT: 10, Style.TITLES: 25, Style.FULL: 25}
MAX_SHOWN_AUTHORS = 3  # compact: this many names, or two and "et al."
TLDR_LIMIT = 200  # a TL;DR's characters at most, "…" included
SHORT_TITLE = 300  # compact and titles: a title's characters at most (real ones stay under 250)
MATCHED_LIMIT = 120  # the matched keywords' line
STYLE_NAMES = {Style.COMPACT: "Compact", Style.FULL: "Abstracts", Style.TITLES: "Titles"}


@dataclass(frozen=True, slots=True)
class Button:
    """One button of a page: its label and its data (`bot.views` button data, at most 64 bytes)."""

    label: str
    data: str  # encode_page(...), encode_file(...) or NOOP_DATA


@dataclass(frozen=True, slots=True)
class PageWords:
    """A page's header words, plain text; each platform adds its markup and escaping."""

    title: str  # "📚 arXiv digest · 2025-11-11"
    topics: str  # "MLLM, Robotics", or ""
    count: str  # "34 of 496 announced papers matched"
    position: str  # "papers 11–20 of 34", or "" on a one-page digest

    @property
    def first_line(self) -> str:
        """`📚 arXiv digest · 2025-11-11 · MLLM`."""
        return f"{self.title} · {self.topics}" if self.topics else self.title

    @property
    def second_line(self) -> str:
        """`34 of 496 announced papers matched · papers 11–20 of 34`."""
        return f"{self.count} · {self.position}" if self.position else self.count


def view_topic_names(loaded: LoadedView, limit: int = MAX_TOPIC_LIST) -> str:
    """The view's topic names (plain, unescaped), each and all clipped."""
    names = [clip(one_line(name), MAX_TOPIC_NAME) for name in loaded.view.topics]
    return clip(", ".join(name for name in names if name), limit)


def page_words(loaded: LoadedView, first: int, last: int, *, pages: int) -> PageWords:
    """The header words of the page showing papers `first`..`last` (1-based) of a `pages`-page digest."""
    shown = len(loaded.papers)
    position = ""
    if pages > 1:
        position = f"papers {first}–{last} of {shown}" if first != last else f"paper {first} of {shown}"
    return PageWords(
        title=f"📚 arXiv digest · {loaded.view.announcement_date.isoformat()}",
        topics=view_topic_names(loaded),
        count=f"{loaded.matched_count} of {loaded.view.announced_count} {ANNOUNCED_LABEL} matched",
        position=position,
    )


def widest_page_words(loaded: LoadedView) -> PageWords:
    """Header words at least as long as any page's: what a page's room is measured with."""
    shown = len(loaded.papers)
    return replace(page_words(loaded, shown, shown, pages=2), position=f"papers {shown}–{shown} of {shown}")


def type_label(paper: Paper) -> str:
    """How the paper was announced: new, cross-list, updated vN, updated cross-list vN."""
    if paper.announce_type is AnnounceType.CROSS:
        return "cross-list"
    if paper.announce_type is AnnounceType.REPLACE:
        return f"updated v{paper.version}"
    if paper.announce_type is AnnounceType.REPLACE_CROSS:
        return f"updated cross-list v{paper.version}"
    return "new"


def _initials(name: str) -> str:
    """`Ada King Lovelace` → `A. K. Lovelace`; particles (`van`, `de`) and one-word names stay."""
    words = name.split()
    if len(words) < 2:
        return name
    given = []
    for word in words[:-1]:
        if not word[0].isupper():  # "de", "van": part of the surname
            given.append(word)
            continue
        given.append("-".join(f"{part[0]}." for part in word.split("-") if part))
    return " ".join([*given, words[-1]])


def short_authors(authors: Sequence[str]) -> str:
    """At most three names as initials and surname: all of up to three, else two and "et al."."""
    names: list[str] = []
    for name in authors:  # only the first few matter: a paper may list thousands
        folded = one_line(name)
        if folded:
            names.append(_initials(folded))
            if len(names) > MAX_SHOWN_AUTHORS:
                return ", ".join(names[: MAX_SHOWN_AUTHORS - 1]) + " et al."
    return ", ".join(names)


def matched_line(entry: ViewEntry) -> str:
    """The keywords that matched the paper, and the chat's other topics it is also in (plain)."""
    line = ", ".join(one_line(word) for word in entry.matched)
    if entry.also_in:
        also = ", ".join(clip(one_line(name), MAX_TOPIC_NAME) for name in entry.also_in)
        line = f"{line} · also in: {also}" if line else f"also in: {also}"
    return clip(line, MATCHED_LIMIT)


@lru_cache(maxsize=2048)  # a day's papers are rendered for every chat they matched in
def short_fields(paper: Paper) -> tuple[str, str, str]:
    """The paper's compact title (clipped, never empty), first authors and TL;DR, plain text."""
    title = clip(one_line(paper.title), SHORT_TITLE) or f"arXiv:{paper.arxiv_id}"
    return title, short_authors(paper.authors), tldr(paper.abstract)


def compact_fields(paper: Paper, entry: ViewEntry) -> PaperText:
    """A compact block's fields: short title, first authors, the TL;DR as the abstract, and the
    matched keywords and other topics (`matched_line`) as `also_in`, the last to give way."""
    title, authors, summary = short_fields(paper)
    return PaperText(
        title=title, authors=authors, abstract=summary, topic=entry.topic, also_in=matched_line(entry)
    )


def full_fields(paper: Paper, entry: ViewEntry) -> PaperText:
    """A full block's fields (`paper_text`: every field one line, at most six authors)."""
    return _full_fields(paper, entry.topic, entry.also_in)


@lru_cache(maxsize=2048)
def _full_fields(paper: Paper, topic: str, also_in: tuple[str, ...]) -> PaperText:
    """`paper_text`, remembered (a day's papers are rendered for every chat they matched in)."""
    return paper_text(paper, topic, also_in)


# Words that end with a period but rarely end a sentence in an abstract (compared in lower case).
_ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "al", "fig", "figs", "eq", "eqs", "sec", "secs", "ref", "refs", "vs", "cf",
        "approx", "resp", "ch", "tab", "thm", "lem", "prop", "cor", "def", "app", "appx", "viz", "ca",
        "vol", "pp", "dr", "mr", "ms", "prof", "st", "jr", "inc", "ltd", "u.s",
    }
)  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?]")
_CLOSERS = "\"')]”’»"
_MIN_SENTENCE = 30  # a shorter "first sentence" ("Context.", "Background.") takes the next one too


@lru_cache(maxsize=2048)  # a day's papers are rendered for every chat they matched in
def tldr(abstract: str, limit: int = TLDR_LIMIT) -> str:
    """The abstract's first sentence, cut sensibly, at most `limit` characters (clipped with "…").

    A period ends a sentence only before white space and a word that does not start in lower case,
    and not after an abbreviation ("e.g.", "et al.", "Fig."), an initial or inside a number ("3.5").
    """
    window = 3 * limit  # a sentence end further on would be clipped away anyway
    text = one_line(abstract[:window])
    cut_short = len(abstract) > window
    for mark in _SENTENCE_END.finditer(text):
        end = mark.end()
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        if end >= len(text) and cut_short:
            break  # the window ends here, not the sentence
        if end < len(text) and not text[end].isspace():
            continue  # "3.5", "e.g.,", a URL
        if mark.group() == "." and _abbreviation_before(text, mark.start()):
            continue
        rest = text[end:].lstrip()
        if rest and rest[0].islower():
            continue  # "et al. show", "etc. and"
        if end < _MIN_SENTENCE and rest:
            continue
        return clip(text[:end], limit)
    if cut_short and len(text) <= limit:  # only white space folded the window this short
        return text.rstrip() + ELLIPSIS
    return clip(text, limit)


def _abbreviation_before(text: str, period: int) -> bool:
    """Whether the word before the period at `period` is an abbreviation or a single initial."""
    start = period
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:period].lstrip("(\"'[").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


@dataclass(frozen=True, slots=True)
class Page(Generic[BlockT]):
    """One page: the index (in the view's papers) of its first paper, and one block per paper."""

    start: int
    blocks: tuple[BlockT, ...]

    @property
    def stop(self) -> int:
        """The index after its last paper."""
        return self.start + len(self.blocks)


def paginate(
    count: int,
    block: Callable[[int, bool], BlockT],
    size: Callable[[BlockT], Size],
    room: Size,
    per_page: int | None,
    shorten: Callable[[int, bool, Callable[[BlockT], bool]], BlockT],
) -> Iterator[Page[BlockT]]:
    """`count` papers laid out in order into pages, lazily (a caller may stop early).

    `block(i, lead)` renders paper i (`lead`: it opens its page, so it may carry its topic's line);
    `size` measures a block with its separator; a page's blocks stay within `room` and number at most
    `per_page`. A paper too big for a page of its own is `shorten`ed until it fits, never dropped.
    """
    index = 0
    while index < count:
        start = index
        blocks: list[BlockT] = []
        used: Size = tuple(0 for _ in room)
        while index < count and (per_page is None or len(blocks) < per_page):
            lead = not blocks
            candidate = block(index, lead)
            total = _plus(used, size(candidate))
            if not _within(total, room):
                if blocks:
                    break
                candidate = shorten(index, lead, lambda shortened: _within(size(shortened), room))
                total = _plus(used, size(candidate))
            blocks.append(candidate)
            used = total
            index += 1
        yield Page(start, tuple(blocks))


class Pages(Generic[BlockT]):
    """A style's pages of one view, laid out only as far as asked for, the same every time."""

    def __init__(self, pages: Iterator[Page[BlockT]]) -> None:
        self._source = pages
        self._pages: list[Page[BlockT]] = []
        self._done = False

    def _more(self) -> bool:
        """Lay out one more page; False when there is none."""
        if self._done:
            return False
        page = next(self._source, None)
        if page is None:
            self._done = True
            return False
        self._pages.append(page)
        return True

    def all(self) -> list[Page[BlockT]]:
        """Every page."""
        while self._more():
            pass
        return self._pages

    def holding(self, index: int) -> int:
        """The number (0-based) of the page holding paper `index`; 0 if none does."""
        number = 0
        while True:
            while number >= len(self._pages):
                if not self._more():
                    return 0
            if self._pages[number].start <= index < self._pages[number].stop:
                return number
            number += 1


# -- feedback on the papers of a page ---------------------------------------------------------------

FEEDBACK_SIGNS = {FeedbackAction.UP: "👍", FeedbackAction.DOWN: "👎", FeedbackAction.BOOKMARK: "🔖"}
MAX_SHOWN_COUNT = 9999  # a larger count shows as "9999+", so a tally's width is bounded


def offered_actions(loaded: LoadedView) -> tuple[FeedbackAction, ...]:
    """What a page offers on each paper: 👍 👎 🔖, or only 🔖 when votes are off."""
    if loaded.votes:
        return (FeedbackAction.UP, FeedbackAction.DOWN, FeedbackAction.BOOKMARK)
    return (FeedbackAction.BOOKMARK,)


def shown_count(count: int) -> str:
    """A vote count as a page shows it: at most four digits, then "+"."""
    return str(count) if count <= MAX_SHOWN_COUNT else f"{MAX_SHOWN_COUNT}+"


def tally_words(tally: VoteTally) -> str:
    """`👍 2 · 👎 1` (only the non-zero counts); "" for a paper nobody voted on."""
    parts = [f"👍 {shown_count(tally.up)}"] if tally.up else []
    if tally.down:
        parts.append(f"👎 {shown_count(tally.down)}")
    return " · ".join(parts)


# The widest `tally_words` can be: what a page reserves for it, so votes never move a page boundary.
TALLY_ROOM = len(tally_words(VoteTally(MAX_SHOWN_COUNT + 1, MAX_SHOWN_COUNT + 1)))


@dataclass(frozen=True, slots=True)
class PaperFeedback:
    """One paper's feedback controls on a page: its number in the digest, its tally, each action's data."""

    number: int  # 1-based position in the digest: the number the page text shows it under
    arxiv_id: str
    title: str  # plain text, one line (for a menu option's label)
    tally: VoteTally
    index: int  # the paper's index in the stored view's entries (what the data names)
    actions: tuple[tuple[FeedbackAction, str], ...]  # (action, its button data), in offered order


@dataclass(frozen=True, slots=True)
class FeedbackMenu:
    """A menu offering one action on any paper of the page (a Discord select): its data, its papers."""

    action: FeedbackAction
    data: str  # encode_feedback_menu(...); each option's value is a paper's `index`


def page_feedback(
    loaded: LoadedView, style: Style, page: int, start: int, stop: int
) -> tuple[PaperFeedback, ...]:
    """The feedback controls of papers `start`..`stop` (0-based, end excluded) on page `page` of `style`.

    None for a view not stored (no id): nothing could look a press up.
    """
    view_id = loaded.view.id
    if view_id is None:
        return ()
    stored_index = {entry.arxiv_id: index for index, entry in enumerate(loaded.view.entries)}
    actions = offered_actions(loaded)
    controls = []
    for position in range(start, stop):
        paper = loaded.papers[position]
        index = stored_index.get(paper.arxiv_id)
        if index is None:
            continue  # cannot happen for a loaded view: its entries are the stored ones, some pruned
        controls.append(
            PaperFeedback(
                number=position + 1,
                arxiv_id=paper.arxiv_id,
                title=one_line(paper.title) or f"arXiv:{paper.arxiv_id}",
                tally=loaded.tallies.get(paper.arxiv_id, VoteTally()) if loaded.votes else VoteTally(),
                index=index,
                actions=tuple(
                    (action, encode_feedback(view_id, index, action, page, style)) for action in actions
                ),
            )
        )
    return tuple(controls)


def page_menus(loaded: LoadedView, style: Style, page: int) -> tuple[FeedbackMenu, ...]:
    """One menu per offered action (for platforms whose controls are menus); none for an unstored view."""
    view_id = loaded.view.id
    if view_id is None or not loaded.papers:
        return ()
    return tuple(
        FeedbackMenu(action, encode_feedback_menu(view_id, action, page, style))
        for action in offered_actions(loaded)
    )


@dataclass(frozen=True, slots=True)
class ChosenPage(Generic[BlockT]):
    """The page a render shows: its number after clamping, the page count, its blocks, ids and buttons.

    `feedback` holds each shown paper's 👍/👎/🔖 (empty for an unstored view), `menus` the same as one
    menu per action.
    """

    number: int
    count: int
    page: Page[BlockT]
    paper_ids: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...]
    words: PageWords
    feedback: tuple[PaperFeedback, ...] = ()
    menus: tuple[FeedbackMenu, ...] = ()


def choose_page(
    loaded: LoadedView, style: Style, page: int, layout: Callable[[Style], Pages[BlockT]]
) -> ChosenPage[BlockT]:
    """Page `page` (clamped) of `style`, with its header words and buttons; `layout` lays out a style."""
    pages = layout(style).all()
    if not pages:  # nothing left to show (the papers were pruned): one page, no buttons
        empty: Page[BlockT] = Page(0, ())
        return ChosenPage(0, 1, empty, (), (), page_words(loaded, 0, 0, pages=1))
    number = min(max(page, 0), len(pages) - 1)
    chosen = pages[number]
    ids = tuple(paper.arxiv_id for paper in loaded.papers[chosen.start : chosen.stop])
    position = {paper.arxiv_id: index for index, paper in enumerate(loaded.papers)}
    layouts: dict[Style, Pages[BlockT]] = {}

    def first_paper_page(target: Style, paper_id: str) -> int:
        """The page of `target` holding this paper (laid out only as far as needed)."""
        if target not in layouts:
            layouts[target] = layout(target)
        return layouts[target].holding(position.get(paper_id, 0))

    buttons = page_buttons(
        loaded, style, number, len(pages), first_paper_page=first_paper_page, first_paper=ids[0]
    )
    words = page_words(loaded, chosen.start + 1, chosen.stop, pages=len(pages))
    feedback = page_feedback(loaded, style, number, chosen.start, chosen.stop)
    menus = page_menus(loaded, style, number)
    return ChosenPage(number, len(pages), chosen, ids, buttons, words, feedback, menus)


def toggle_target(loaded: LoadedView, style: Style) -> Style:
    """Where a page's style toggle leads: compact and titles to full; full back to the chat's style."""
    if style is not Style.FULL:
        return Style.FULL
    return loaded.view.style if loaded.view.style is not Style.FULL else Style.COMPACT


def page_buttons(
    loaded: LoadedView,
    style: Style,
    page: int,
    page_count: int,
    *,
    first_paper_page: Callable[[Style, str], int],
    first_paper: str | None = None,
) -> tuple[tuple[Button, ...], ...]:
    """A page's buttons: "◀ n/N ▶" (when there are pages), then the style toggle and the file.

    The arrows wrap around. The toggle opens the other style at the page holding `first_paper` (the
    current page's first paper; without it, the other style's first page), so the reader keeps their
    place. A view not stored yet (no id) gets no buttons: nothing could look it up.
    """
    view_id = loaded.view.id
    if view_id is None or not loaded.papers:
        return ()
    rows: list[tuple[Button, ...]] = []
    if page_count > 1:
        rows.append(
            (
                Button("◀", encode_page(view_id, (page - 1) % page_count, style)),
                Button(f"{page + 1}/{page_count}", NOOP_DATA),
                Button("▶", encode_page(view_id, (page + 1) % page_count, style)),
            )
        )
    target = toggle_target(loaded, style)
    target_page = first_paper_page(target, first_paper) if first_paper is not None else 0
    label = "📖 Abstracts" if target is Style.FULL else f"📋 {STYLE_NAMES[target]}"
    rows.append(
        (
            Button(label, encode_page(view_id, target_page, target)),
            Button("📄 .md file", encode_file(view_id)),
        )
    )
    return tuple(rows)
