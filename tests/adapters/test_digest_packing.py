"""The shared page layout: shortening, text helpers, TL;DR, first authors, the paginator and buttons."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from adapters.digest_packing import (
    ELLIPSIS,
    TLDR_LIMIT,
    Button,
    Pages,
    PaperText,
    clip,
    digest_file_name,
    fit_fields,
    one_line,
    page_buttons,
    page_words,
    paginate,
    paper_text,
    short_authors,
    tldr,
    widest_page_words,
)
from bot.models import DigestView, LoadedView, Paper, Style, ViewEntry
from bot.views import MAX_BUTTON_DATA, FilePress, NoopPress, PagePress, decode_press
from tests import builders

DATE = dt.date(2025, 11, 12)


def make_paper(number: int, **fields: Any) -> Paper:
    """A small paper titled "Title <number>", so the block's own text is what fills the room."""
    defaults: dict[str, Any] = {
        "title": f"Title {number}",
        "abstract": "A short abstract.",
        "authors": ("Ada", "Alan"),
    }
    return builders.make_paper(number, **{**defaults, "categories": ("cs.CV",), **fields})


ROOM = 300  # the toy block's characters at most


def toy_block(paper: Paper, text: PaperText) -> str:
    """Plain text: `[id] title / authors / abstract {categories}` plus the also-in line."""
    more = " (more)" if text.abstract_clipped else ""
    also = f" also in: {text.also_in}" if text.also_in else ""
    fields = f"{text.title} / {text.authors} / {text.abstract}{more}"
    return f"[{paper.arxiv_id}] {fields} {{{' '.join(paper.categories)}}}{also}"


def fitted(paper: Paper, also_in: Sequence[str] = ()) -> str:
    """The paper's toy block shortened by `fit_fields` to at most `ROOM` characters."""
    return fit_fields(
        paper_text(paper, "T", also_in),
        functools.partial(toy_block, paper),
        lambda block: len(block) <= ROOM,
        lambda: f"[{paper.arxiv_id}]",
        paper_id=paper.arxiv_id,
    )


def test_a_block_that_fits_is_left_whole() -> None:
    """A paper whose block fits is rendered as it is, with every field."""
    assert fitted(make_paper(1), ["B"]) == (
        "[2511.00001] Title 1 / Ada, Alan / A short abstract. {cs.CV} also in: B"
    )


def test_an_over_long_abstract_is_shortened_to_fit_not_to_a_stub() -> None:
    """A 25,000-character abstract is cut with "…" to what the room has left, and marked as clipped."""
    block = fitted(make_paper(1, abstract="word " * 5000))
    assert f"{ELLIPSIS} (more)" in block
    assert block.endswith("{cs.CV}")
    assert ROOM - 6 <= len(block) <= ROOM  # filled up to a word's length of the limit


def test_the_abstract_gives_way_before_the_title() -> None:
    """With a huge title and abstract, the abstract is emptied first, then the title is clipped."""
    block = fitted(make_paper(1, title="Long " * 200, abstract="a " * 500))
    title, _authors, abstract = block.split(" / ")
    assert abstract.startswith(" (more)")  # nothing of the abstract is left
    assert title.startswith("[2511.00001] Long Long")
    assert title.endswith(ELLIPSIS)
    assert len(block) <= ROOM


def test_the_also_in_line_gives_way_last() -> None:
    """Huge authors and topics: abstract, title and authors go before the also-in line is clipped."""
    block = fitted(make_paper(1, authors=tuple("N" * 500 for _ in range(9))), ["Topic " + "x" * 400])
    title, authors, rest = block.split(" / ")
    assert title == f"[2511.00001] {ELLIPSIS}"
    assert authors == ""
    assert rest.startswith(" (more) {cs.CV} also in: Topic xxx")
    assert rest.endswith(ELLIPSIS)
    assert len(block) <= ROOM


def test_unfittable_metadata_falls_back_to_the_bare_block() -> None:
    """When even a block with every field emptied is too big, the bare block is the last resort."""
    assert fitted(make_paper(1, categories=tuple(f"cs.X{n}" for n in range(200)))) == "[2511.00001]"


def test_text_helpers_fold_and_clip() -> None:
    """Whitespace runs fold to one space; clipping prefers a nearby word boundary and ends with "…"."""
    assert one_line("  a\n  wrapped\ttitle ") == "a wrapped title"
    assert clip("short", 10) == "short"
    assert clip("hello wonderful world", 17) == "hello wonderful…"
    assert clip("abcdefghij", 4) == "abcd…"
    assert digest_file_name(DATE) == "arxiv-digest-2025-11-12.md"


# -- pages: TL;DR, first authors, the paginator, buttons ---------------------------------------------


# (first sentence, what follows it): the TL;DR is the first sentence alone.
FIRST_SENTENCES = [
    ("We propose a new model for vision.", "It is fast."),
    ("Models, e.g. GPT-4 and Gemini, reason well.", "We test that."),
    ("Smith et al. Showed that it fails often.", "We fix it."),
    ("As Fig. 3 shows, accuracy rises with size.", "We explain why."),
    ("Accuracy rises by 3.5 points over the baseline.", "We explain why."),
    ("One model, i.e. A single network, suffices for all tasks.", "Then more."),
    ("Does scale help reasoning in practice?", "We find it does."),
    ('They call it "grounding in the wild."', "Then we test it."),
    ("We study the model (see Sec. 4) in detail here.", "More."),
    ("J. Smith and K. Lee proposed this task in 2020.", "We revisit it."),
    ("No period at all in this abstract", ""),
]


@pytest.mark.parametrize(("first", "rest"), FIRST_SENTENCES)
def test_tldr_is_the_first_sentence_cut_sensibly(first: str, rest: str) -> None:
    """The TL;DR ends at the first real sentence end, not at abbreviations, decimals or initials."""
    assert tldr(f"{first} {rest}") == first


@pytest.mark.parametrize(
    ("abstract", "expected"),
    [
        ("We propose X. It is fast.", "We propose X. It is fast."),  # a very short first sentence takes more
        (
            "  A sentence\n  wrapped over lines by arXiv is folded.   Next.",
            "A sentence wrapped over lines by arXiv is folded.",
        ),
        ("", ""),
    ],
)
def test_tldr_folds_and_joins_short_sentences(abstract: str, expected: str) -> None:
    """Line breaks are folded; a first sentence under 30 characters ("Context.") takes the next one."""
    assert tldr(abstract) == expected


def test_tldr_is_clipped_at_a_word() -> None:
    """A first sentence over 200 characters is clipped at a word boundary and ends in "…"."""
    sentence = " ".join(["word"] * 80) + ". Next."
    short = tldr(sentence)
    assert len(short) <= TLDR_LIMIT + 1
    assert short.endswith("word…")


@pytest.mark.parametrize(
    ("authors", "expected"),
    [
        ((), ""),
        (("Ada Lovelace",), "A. Lovelace"),
        (("Ada King Lovelace", "Jean-Pierre Serre", "Plato"), "A. K. Lovelace, J.-P. Serre, Plato"),
        (("Ludwig van Beethoven", "B", "C", "D"), "L. van Beethoven, B et al."),
    ],
)
def test_short_authors(authors: tuple[str, ...], expected: str) -> None:
    """At most three names as initials and surname: all of up to three, else two and "et al."."""
    assert short_authors(authors) == expected


def test_paginate_keeps_order_budget_and_page_size() -> None:
    """Every item once and in order; pages within the room and the per-page maximum; oversize shortened."""
    sizes = [30, 50, 10, 500, 20, 20, 20, 20, 70, 5]
    shortened: list[int] = []

    def block(index: int, lead: bool) -> str:
        """An item of its size."""
        return "x" * sizes[index]

    def shorten(index: int, lead: bool, fits: Callable[[str], bool]) -> str:
        """The item cut to what fits."""
        shortened.append(index)
        text = block(index, lead)
        while not fits(text):
            text = text[:-1]
        return text

    pages = list(paginate(len(sizes), block, lambda text: (len(text),), (100,), 3, shorten))
    assert [(page.start, page.stop) for page in pages] == [(0, 3), (3, 4), (4, 7), (7, 10)]
    assert shortened == [3]
    assert all(sum(len(block) for block in page.blocks) <= 100 for page in pages)
    assert list(paginate(0, block, lambda text: (len(text),), (100,), 3, shorten)) == []


def test_pages_lays_out_only_as_far_as_asked() -> None:
    """`Pages.holding` stops at the page it needs; `all` lays out the rest."""
    rendered: list[int] = []

    def block(index: int, lead: bool) -> str:
        """Record that the item was rendered."""
        rendered.append(index)
        return "x"

    pages = Pages(paginate(100, block, lambda text: (1,), (100,), 10, lambda i, lead, fits: "x"))
    assert pages.holding(0) == 0
    assert max(rendered) <= 10
    assert pages.holding(55) == 5
    assert len(pages.all()) == 10
    assert pages.holding(1000) == 0


def loaded_view(count: int, *, view_id: int | None = 9, style: Style = Style.COMPACT) -> LoadedView:
    """A stored view of `count` papers."""
    papers = tuple(builders.make_paper(n) for n in range(1, count + 1))
    view = DigestView(
        platform="telegram",
        chat_id="1",
        announcement_date=DATE,
        entries=tuple(ViewEntry(paper.arxiv_id, "MLLM") for paper in papers),
        announced_count=496,
        topics=("MLLM",),
        style=style,
        id=view_id,
    )
    return LoadedView(view, view.entries, papers)


@pytest.mark.parametrize("style", list(Style))
def test_page_buttons_data_is_short_and_decodable(style: Style) -> None:
    """Arrows wrap, the label is a no-op, the toggle and file decode; every data string ≤ 64 bytes."""
    loaded = loaded_view(30, view_id=2**62, style=Style.TITLES)
    rows = page_buttons(loaded, style, 0, 99_999, first_paper_page=lambda target, paper_id: 12_345)
    arrows, (toggle, file_button) = rows
    for button in (*arrows, toggle, file_button):
        assert len(button.data.encode("utf-8")) <= MAX_BUTTON_DATA
    assert decode_press(arrows[0].data) == PagePress(2**62, 99_998, style)
    assert isinstance(decode_press(arrows[1].data), NoopPress)
    assert arrows[1].label == "1/99999"
    assert decode_press(arrows[2].data) == PagePress(2**62, 1, style)
    assert decode_press(file_button.data) == FilePress(2**62)
    # Without the current page's first paper the toggle falls back to the other style's first page.
    expected = Style.FULL if style is not Style.FULL else Style.TITLES
    assert decode_press(toggle.data) == PagePress(2**62, 0, expected)


def test_the_toggle_asks_for_the_page_of_the_current_first_paper() -> None:
    """The toggle's page is what `first_paper_page` says for the current page's first paper."""
    loaded = loaded_view(30)
    asked: list[tuple[Style, str]] = []

    def first_paper_page(target: Style, paper_id: str) -> int:
        """Record the question; answer 7."""
        asked.append((target, paper_id))
        return 7

    first = "2511.00011"
    rows = page_buttons(loaded, Style.COMPACT, 1, 3, first_paper_page=first_paper_page, first_paper=first)
    assert asked == [(Style.FULL, first)]
    assert rows[-1][0] == Button("📖 Abstracts", "pg:9:7:f")
    full = page_buttons(loaded, Style.FULL, 4, 9, first_paper_page=first_paper_page, first_paper=first)
    assert full[-1][0] == Button("📋 Compact", "pg:9:7:c")


def test_a_single_page_or_an_unstored_view() -> None:
    """One page: no arrows; no view id or no papers: no buttons at all."""
    one = page_buttons(loaded_view(3), Style.COMPACT, 0, 1, first_paper_page=lambda target, paper_id: 0)
    assert [[button.label for button in row] for row in one] == [["📖 Abstracts", "📄 .md file"]]
    assert (
        page_buttons(loaded_view(3, view_id=None), Style.COMPACT, 0, 2, first_paper_page=lambda t, p: 0) == ()
    )
    assert page_buttons(loaded_view(0), Style.COMPACT, 0, 1, first_paper_page=lambda t, p: 0) == ()


def test_page_words() -> None:
    """The header's words: date and topics, the counts, and the page's papers when there are pages."""
    loaded = loaded_view(34)
    words = page_words(loaded, 11, 20, pages=4)
    assert words.first_line == "📚 arXiv digest · 2025-11-12 · MLLM"
    assert words.second_line == "34 of 496 announced papers matched · papers 11–20 of 34"
    assert page_words(loaded, 1, 34, pages=1).second_line == "34 of 496 announced papers matched"
    assert page_words(loaded, 34, 34, pages=4).position == "paper 34 of 34"
    assert len(widest_page_words(loaded).second_line) >= len(words.second_line)
