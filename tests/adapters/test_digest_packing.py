"""The shared digest packer, driven by a toy plain-text style with a small budget."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.digest_packing import (
    ELLIPSIS,
    TLDR_LIMIT,
    Button,
    PackedDigest,
    Pages,
    PaperText,
    Size,
    clip,
    digest_file_name,
    one_line,
    pack_digest,
    page_buttons,
    page_words,
    paginate,
    short_authors,
    tldr,
    widest_page_words,
)
from bot.models import Digest, DigestView, LoadedView, Paper, Style, ViewEntry
from bot.views import MAX_BUTTON_DATA, FilePress, NoopPress, PagePress, decode_press
from tests import builders

DATE = dt.date(2025, 11, 12)


@dataclass(frozen=True)
class ToyStyle:
    """Plain text: one line per block, a size of (characters, blocks), a budget of both."""

    chars: int = 300
    max_blocks: int = 100
    sections: bool = True  # False: a style that shows no section lines (topics attributed otherwise)

    @property
    def budget(self) -> Size:
        """Characters and blocks per message."""
        return self.chars, self.max_blocks

    def header_size(self, header: str) -> Size:
        """A header's characters; it is no block."""
        return len(header), 0

    def block_size(self, block: str) -> Size:
        """A block's characters and the newline before it; one block."""
        return len(block) + 1, 1

    def first_header(self, digest: Digest, *, inline: int, part: int, total: int) -> str:
        """Date, part, how many are laid out of how many matched."""
        return f"DIGEST {digest.date} {part}/{total} showing {inline} of {digest.matched_count}"

    def next_header(self, digest: Digest, *, part: int, total: int) -> str:
        """Date and part."""
        return f"{digest.date} {part}/{total}"

    def section_block(self, name: str, count: int, notes: Sequence[str], *, continued: bool) -> str | None:
        """`# name (count; notes)`, or `# name (cont.)`."""
        if not self.sections:
            return None
        if continued:
            return f"# {name} (cont.)"
        return f"# {name} ({'; '.join([str(count), *notes])})"

    def paper_block(self, paper: Paper, text: PaperText) -> str:
        """`[id] title / authors / abstract {categories}` plus topic notes."""
        more = " (more)" if text.abstract_clipped else ""
        also = f" also in: {text.also_in}" if text.also_in else ""
        categories = " ".join(paper.categories)
        fields = f"{text.title} / {text.authors} / {text.abstract}{more}"
        return f"[{paper.arxiv_id}] {fields} {{{categories}}}{also}"

    def bare_paper_block(self, paper: Paper) -> str:
        """The id alone."""
        return f"[{paper.arxiv_id}]"


def make_paper(number: int, **fields: Any) -> Paper:
    """A small paper titled "Title <number>", so the style's own text is what fills a message."""
    defaults: dict[str, Any] = {
        "title": f"Title {number}",
        "abstract": "A short abstract.",
        "authors": ("Ada", "Alan"),
    }
    return builders.make_paper(number, **{**defaults, "categories": ("cs.CV",), **fields})


make_digest = functools.partial(builders.make_digest, announced=500)


def texts(packed: PackedDigest[str]) -> list[list[str]]:
    """Each message's header then blocks."""
    return [[part.header, *part.blocks] for part in packed.parts]


def carried(packed: PackedDigest[str]) -> list[str]:
    """Every carried paper id, in message order."""
    return [paper_id for part in packed.parts for paper_id in part.paper_ids]


def assert_within(packed: PackedDigest[str], style: ToyStyle) -> None:
    """Every message, as sent (with its real header), stays within the style's budget."""
    for part in packed.parts:
        size = style.header_size(part.header)
        for block in part.blocks:
            size = tuple(a + b for a, b in zip(size, style.block_size(block), strict=True))
        assert all(used <= limit for used, limit in zip(size, style.budget, strict=True)), (part, size)


def test_messages_split_only_between_papers() -> None:
    """Twenty papers over a 300-character budget: several messages, each paper's block whole in one."""
    style = ToyStyle()
    papers = [make_paper(n) for n in range(20)]
    packed = pack_digest(make_digest(("T", papers)), style)
    assert len(packed.parts) > 1
    assert_within(packed, style)
    for part in packed.parts:
        assert [block.split("]")[0][1:] for block in part.blocks] == list(part.paper_ids)
        for block in part.blocks:
            assert block.endswith("{cs.CV}")  # a block is never cut
    assert carried(packed) == [paper.arxiv_id for paper in papers]


def test_messages_are_filled_before_a_new_one_starts() -> None:
    """A message ends only when the next paper would not fit in it."""
    style = ToyStyle()
    packed = pack_digest(make_digest(("T", [make_paper(n) for n in range(20)])), style)
    for part, following in zip(packed.parts, packed.parts[1:], strict=False):
        used = len(part.header) + sum(len(block) + 1 for block in part.blocks)
        assert used + len(following.blocks[0]) + 1 > style.chars


def test_no_paper_is_ever_dropped() -> None:
    """Small, huge-abstract, huge-title and huge-author papers all arrive, each in exactly one message."""
    papers = [
        make_paper(1),
        make_paper(2, abstract="word " * 5000),
        make_paper(3, title="T" * 3000),
        make_paper(4, authors=tuple("N" * 500 for _ in range(9))),
        make_paper(5, title="x " * 500, abstract="y " * 500, authors=("z" * 900,)),
        make_paper(6),
    ]
    style = ToyStyle()
    packed = pack_digest(make_digest(("T", papers)), style, max_inline_papers=100)
    assert_within(packed, style)
    assert carried(packed) == [paper.arxiv_id for paper in papers]
    assert not packed.needs_file
    for part in packed.parts:
        for paper_id in part.paper_ids:
            assert any(block.startswith(f"[{paper_id}]") for block in part.blocks)


def test_an_over_long_abstract_is_shortened_to_fit_not_to_a_stub() -> None:
    """A 25,000-character abstract is cut with "…" to what the message has left, and marked as clipped."""
    style = ToyStyle()
    packed = pack_digest(make_digest(("T", [make_paper(1, abstract="word " * 5000)])), style)
    assert len(packed.parts) == 1
    (block,) = packed.parts[0].blocks
    assert f"{ELLIPSIS} (more)" in block
    used = len(packed.parts[0].header) + len(block) + 1
    assert style.chars - 6 <= used <= style.chars  # filled up to a word's length of the limit


def test_the_abstract_gives_way_before_the_title() -> None:
    """With a huge title and abstract, the abstract is emptied first, then the title is clipped."""
    style = ToyStyle()
    packed = pack_digest(make_digest(("T", [make_paper(1, title="Long " * 200, abstract="a " * 500)])), style)
    (block,) = packed.parts[0].blocks
    title, _authors, abstract = block.split(" / ")
    assert abstract.startswith(" (more)")  # nothing of the abstract is left
    assert title.startswith("[2511.00001] Long Long")
    assert title.endswith(ELLIPSIS)


def test_unfittable_metadata_falls_back_to_the_bare_block() -> None:
    """When even a block with every field emptied is too big, the style's bare block is sent instead."""
    style = ToyStyle()
    paper = make_paper(1, categories=tuple(f"cs.X{n}" for n in range(200)))
    packed = pack_digest(make_digest(("T", [make_paper(0), paper, make_paper(2)])), style)
    assert carried(packed) == ["2511.00000", "2511.00001", "2511.00002"]
    assert "[2511.00001]" in [block for part in packed.parts for block in part.blocks]
    assert_within(packed, style)


def test_papers_beyond_max_inline_are_reported_for_the_file() -> None:
    """With 12 papers and max_inline 5, five are laid out and the other seven are in `file_only`."""
    papers = [make_paper(n) for n in range(12)]
    packed = pack_digest(make_digest(("T", papers)), ToyStyle(), max_inline_papers=5)
    assert carried(packed) == [paper.arxiv_id for paper in papers[:5]]
    assert packed.file_only == tuple(paper.arxiv_id for paper in papers[5:])
    assert packed.needs_file
    assert "showing 5 of 12" in packed.parts[0].header


def test_max_inline_zero_gives_a_header_only() -> None:
    """max_inline_papers=0 lays out a lone header and reports every paper for the file."""
    packed = pack_digest(make_digest(("T", [make_paper(1), make_paper(2)])), ToyStyle(), max_inline_papers=0)
    assert texts(packed) == [[f"DIGEST {DATE} 1/1 showing 0 of 2"]]
    assert packed.file_only == ("2511.00001", "2511.00002")


def test_a_negative_max_inline_is_refused() -> None:
    """max_inline_papers below zero is a caller's bug, not an empty digest."""
    with pytest.raises(ValueError, match="max_inline_papers"):
        pack_digest(make_digest(("T", [make_paper(1)])), ToyStyle(), max_inline_papers=-1)


def test_the_block_count_limit_is_respected() -> None:
    """A budget of three blocks a message splits ten tiny papers 3+3+3+1, with room to spare in characters."""
    style = ToyStyle(chars=10_000, max_blocks=3)
    packed = pack_digest(make_digest(("T", [make_paper(n) for n in range(10)])), style)
    assert [len(part.blocks) for part in packed.parts] == [3, 3, 3, 1]
    assert_within(packed, style)


def test_section_lines_count_against_the_block_limit() -> None:
    """Section lines are blocks too: with two topics and three blocks a message none holds more than three."""
    style = ToyStyle(chars=10_000, max_blocks=3)
    digest = make_digest(
        ("A", [make_paper(n) for n in range(4)]), ("B", [make_paper(n) for n in range(4, 8)])
    )
    packed = pack_digest(digest, style)
    assert_within(packed, style)
    assert all(len(part.blocks) <= 3 for part in packed.parts)
    assert carried(packed) == [f"2511.{n:05d}" for n in range(8)]


def test_several_topics_get_section_lines_notes_and_no_paper_twice() -> None:
    """Each topic gets its line; a paper in two topics is shown once, and the later topic counts it."""
    shared = make_paper(2)
    digest = make_digest(("A", [make_paper(1), shared]), ("B", [shared, make_paper(3)]))
    packed = pack_digest(digest, ToyStyle(chars=1000))
    assert texts(packed) == [
        [
            f"DIGEST {DATE} 1/1 showing 3 of 3",
            "# A (2)",
            "[2511.00001] Title 1 / Ada, Alan / A short abstract. {cs.CV}",
            "[2511.00002] Title 2 / Ada, Alan / A short abstract. {cs.CV} also in: B",
            "# B (2; 1 listed above)",
            "[2511.00003] Title 3 / Ada, Alan / A short abstract. {cs.CV}",
        ]
    ]


def test_a_topic_that_spills_over_repeats_its_line_and_one_beyond_the_limit_points_to_the_file() -> None:
    """A topic continued in the next message says so; a topic with every paper in the file still appears."""
    digest = make_digest(("A", [make_paper(n) for n in range(6)]), ("B", [make_paper(99)]))
    packed = pack_digest(digest, ToyStyle(chars=200), max_inline_papers=6)
    assert "# A (cont.)" in packed.parts[1].blocks
    assert packed.parts[-1].blocks[-1] == "# B (1; 1 in the file)"
    assert packed.file_only == ("2511.00099",)


def test_a_topic_with_every_paper_shown_above_gets_only_its_line() -> None:
    """A topic whose papers were all shown under earlier topics is listed by its line alone."""
    shared = make_paper(1)
    packed = pack_digest(make_digest(("A", [shared]), ("B", [shared])), ToyStyle(chars=1000))
    assert packed.parts[0].blocks[-1] == "# B (1; 1 listed above)"
    assert carried(packed) == ["2511.00001"]


def test_section_lines_alone_also_move_to_a_new_message_when_full() -> None:
    """Many topics of already-shown papers: their lines spill into further messages within the budget."""
    style = ToyStyle(chars=200)
    shared = [make_paper(n) for n in range(3)]
    digest = make_digest(("A", shared), *((f"Topic {n}", shared) for n in range(20)))
    packed = pack_digest(digest, style)
    assert_within(packed, style)
    lines = [block for part in packed.parts for block in part.blocks if block.startswith("# Topic")]
    assert len(lines) == 20
    assert len(packed.parts) > 2


def test_a_style_without_section_lines_still_places_every_paper() -> None:
    """A style may return None for section lines: no line is laid out, and every paper still lands once."""
    style = ToyStyle(chars=200, sections=False)
    digest = make_digest(("A", [make_paper(n) for n in range(6)]), ("B", [make_paper(3), make_paper(7)]))
    packed = pack_digest(digest, style)
    assert all(block.startswith("[") for part in packed.parts for block in part.blocks)
    assert carried(packed) == [f"2511.{n:05d}" for n in (0, 1, 2, 3, 4, 5, 7)]


def test_headers_carry_the_real_part_numbers() -> None:
    """Headers are rewritten with part k of n once the number of messages is known."""
    packed = pack_digest(make_digest(("T", [make_paper(n) for n in range(20)])), ToyStyle())
    total = len(packed.parts)
    assert packed.parts[0].header.startswith(f"DIGEST {DATE} 1/{total} ")
    assert [part.header for part in packed.parts[1:]] == [f"{DATE} {k}/{total}" for k in range(2, total + 1)]


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
