"""Telegram formatting: digest pages (escaping, limits measured as Telegram does, buttons), the file."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from adapters.digest_packing import MAX_PER_PAGE
from adapters.telegram.format import (
    MAX_BUTTONS,
    MAX_MESSAGE_LENGTH,
    MAX_RAW_LENGTH,
    MAX_ROW_BUTTONS,
    READ_MORE,
    TelegramMessage,
    TelegramPage,
    render_chat_file,
    render_empty_day,
    render_page,
    render_plain_text,
)
from bot.models import AnnounceType, Digest, LoadedView, Paper, Style
from bot.views import MAX_BUTTON_DATA, PagePress, decode_press, view_of
from tests.builders import make_digest, make_listed_paper, one_topic
from tests.builders import make_paper as make_plain_paper
from tests.fakes.telegram_html import (
    TelegramHTMLError,
    assert_valid_telegram_html,
    parse_telegram_html,
    visible_length,
)

ABSTRACT = (
    "We present a vision-language model that grounds $\\alpha<\\beta$ relations in images; "
    "it beats prior work by 3.2 points on five benchmarks & runs in real time. "
) * 4


# The formatters' papers carry a long abstract.
make_paper = functools.partial(make_listed_paper, abstract=ABSTRACT)


HOSTILE_TITLE = "<b>bold</b> & <i>x</i> @everyone 🧪𝔸 $\\alpha<\\beta$ &amp; </a>"


def loaded_of(digest: Digest, *, style: Style = Style.COMPACT, view_id: int | None = 41) -> LoadedView:
    """The digest as a stored view with its papers (what delivery and a press render)."""
    view, papers = view_of(digest, "telegram", "-100", ("cs.CV", "cs.CL", "cs.LG"), style=style)
    view = dataclasses.replace(view, id=view_id)
    return LoadedView(view, view.entries, papers)


def all_pages(loaded: LoadedView, style: Style) -> list[TelegramPage]:
    """Every page of the view in this style."""
    first = render_page(loaded, style=style)
    return [first] + [render_page(loaded, style=style, page=n) for n in range(1, first.page_count)]


def assert_page_valid(page: TelegramPage) -> None:
    """A page is valid Telegram HTML within 4096 visible units and the raw bound, with sane buttons."""
    assert_valid_telegram_html(page.text)
    assert len(page.text) <= MAX_RAW_LENGTH
    assert sum(len(row) for row in page.keyboard) <= MAX_BUTTONS
    for row in page.keyboard:
        assert 1 <= len(row) <= MAX_ROW_BUTTONS
        for button in row:
            assert 1 <= len(button.data.encode("utf-8")) <= MAX_BUTTON_DATA
            assert decode_press(button.data) is not None


def hostile_digest() -> Digest:
    """Papers built to break a page: huge title, markup, mentions, astral emoji, huge abstract and lists."""
    papers = [
        make_paper(1, title="T" * 10_000),
        make_paper(2, title=HOSTILE_TITLE, abstract="We show $a<b$ & $c>d$ hold. " * 3),
        make_paper(3, abstract="𝔸🧪 " * 5_000),
        make_paper(4, authors=tuple(f"Author Number{n}" for n in range(2_000))),
        make_paper(5, title="🧪" * 3_000, abstract="<b>" * 3_000),
        *(make_paper(n) for n in range(6, 40)),
    ]
    return make_digest(("MLLM", papers), ("Robotics & <Control>", [papers[2], make_paper(77)]))


def full_page(*papers: Paper) -> TelegramPage:
    """The first full-style page of a one-topic view of these papers."""
    return render_page(loaded_of(one_topic(*papers)), style=Style.FULL)


def test_latex_survives_intact() -> None:
    """LaTeX like `$\\alpha<\\beta$` in a title and abstract reaches the reader unchanged."""
    paper = make_paper(
        title="Bounds for $\\alpha<\\beta$ & $x>y$", abstract="We show $\\alpha<\\beta$ holds."
    )
    page = full_page(paper)
    assert_page_valid(page)
    visible = parse_telegram_html(page.text)
    assert "Bounds for $\\alpha<\\beta$ & $x>y$" in visible
    assert "We show $\\alpha<\\beta$ holds." in visible


def test_full_paper_layout() -> None:
    """A full paper is a bold linked title, its id in code with categories, italic authors, a quote."""
    text = full_page(make_paper(7)).text
    assert '<b>1. <a href="https://arxiv.org/abs/2511.00007">Paper number 7: grounding' in text
    assert "<code>arXiv:2511.00007</code> · cs.CV cs.CL" in text
    assert "<i>Ada Lovelace, Alan Turing, Grace Hopper</i>" in text
    assert "<blockquote expandable>We present" in text


def test_whitespace_in_arxiv_text_is_folded() -> None:
    """arXiv's hard-wrapped titles and abstracts are folded to single spaces."""
    paper = make_paper(title="A title\n  wrapped  by arXiv", abstract="An abstract\n  wrapped\n\nhere.")
    visible = parse_telegram_html(full_page(paper).text)
    assert "A title wrapped by arXiv" in visible
    assert "An abstract wrapped here." in visible


def test_full_pages_are_filled_close_to_the_limit() -> None:
    """Full pages hold as many papers as fit: every page but the last has no room for the next paper."""
    loaded = loaded_of(one_topic(*(make_paper(number) for number in range(60))))
    pages = all_pages(loaded, Style.FULL)
    assert len(pages) > 1
    one_paper = visible_length(full_page(make_paper(1)).text)
    for page in pages[:-1]:
        assert visible_length(page.text) > MAX_MESSAGE_LENGTH - one_paper


def test_a_huge_abstract_is_shortened_with_a_read_more_link() -> None:
    """A 20,000-character abstract is cut with "…" and a "(read more)" link; the page stays valid."""
    abstract = "Diffusion & <tokens> " * 1000  # 21,000 characters, escaping makes it longer still
    page = full_page(make_paper(abstract=abstract))
    assert_page_valid(page)
    assert page.page_count == 1
    assert f'… <a href="https://arxiv.org/abs/2511.00001">{READ_MORE}</a></blockquote>' in page.text
    assert page.paper_ids == ("2511.00001",)
    assert visible_length(page.text) > 3000  # shortened to the limit, not to a stub


def test_an_abstract_of_escapes_is_bounded_by_the_raw_length() -> None:
    """An abstract that escaping inflates fivefold is cut to keep the raw HTML under the raw bound."""
    page = full_page(make_paper(abstract="&<>" * 7000))
    assert_page_valid(page)
    assert page.page_count == 1
    assert len(page.text) > 9000
    assert READ_MORE in page.text


def test_more_than_six_authors_end_with_et_al() -> None:
    """In full, at most six authors are named, then "et al."."""
    text = full_page(make_paper(authors=tuple(f"Author {letter}" for letter in "ABCDEFGH"))).text
    assert "<i>Author A, Author B, Author C, Author D, Author E, Author F, et al.</i>" in text
    assert "Author G" not in text


@pytest.mark.parametrize(
    ("announce_type", "version", "marks"),
    [
        (AnnounceType.NEW, 1, []),
        (AnnounceType.CROSS, 1, ["↔ cross-list"]),
        (AnnounceType.REPLACE, 3, ["♻ updated v3"]),
        (AnnounceType.REPLACE_CROSS, 2, ["♻ updated v2", "↔ cross-list"]),
    ],
)
def test_cross_list_and_replacement_marks(
    announce_type: AnnounceType, version: int, marks: list[str]
) -> None:
    """In full, cross-lists and replacements are marked on the id line; new papers carry no mark."""
    page = full_page(make_paper(announce_type=announce_type, version=version))
    id_line = page.text.split("\n")[4]  # header, counts, blank line, title, then the id line
    assert id_line == " · ".join(["<code>arXiv:2511.00001</code>", "cs.CV cs.CL", *marks])


def test_plain_text_fallback_has_no_markup() -> None:
    """The plain-text fallback strips tags and unescapes entities, and matches the visible text."""
    page = full_page(make_paper(title="<b>x</b> & <script>", abstract="a < b & c > d"))
    plain = render_plain_text(TelegramMessage(page.text, page.paper_ids))
    assert "<b>" not in plain.replace("<b>x</b>", "")
    assert "&lt;" not in plain
    assert "&amp;" not in plain
    assert "blockquote" not in plain
    assert "<b>x</b> & <script>" in plain
    assert "a < b & c > d" in plain
    assert plain == parse_telegram_html(page.text)


def test_empty_day_is_a_one_liner() -> None:
    """A day without matches gets "0 of N announced papers matched your filters on DATE."."""
    assert render_empty_day(one_topic()) == TelegramMessage(
        "0 of 496 announced papers matched your filters on 2025-11-12.", ()
    )


@pytest.mark.parametrize("style", list(Style))
def test_every_paper_exactly_once_across_the_pages(style: Style) -> None:
    """Each style's pages show every paper once, in the view's order, each page within Telegram's limits."""
    loaded = loaded_of(hostile_digest())
    pages = all_pages(loaded, style)
    shown = [paper_id for page in pages for paper_id in page.paper_ids]
    assert shown == list(loaded.view.paper_ids)
    for number, page in enumerate(pages):
        assert page.page == number
        assert page.page_count == len(pages)
        assert_page_valid(page)
        limit = MAX_PER_PAGE[style]
        assert 1 <= len(page.paper_ids) <= (limit or len(shown))
        for paper_id in page.paper_ids:
            assert f'href="https://arxiv.org/abs/{paper_id}"' in page.text


def test_hostile_title_shows_literally_on_every_style() -> None:
    """Markup, entities and @everyone in a title are escaped and reach the reader as written."""
    loaded = loaded_of(one_topic(make_paper(2, title=HOSTILE_TITLE)))
    for style in Style:
        page = render_page(loaded, style=style)
        assert_page_valid(page)
        assert HOSTILE_TITLE in parse_telegram_html(page.text)
        assert "<b>bold</b>" not in page.text


def test_a_huge_title_is_shortened_never_dropped() -> None:
    """A 10,000-character title still gets its paper a (shortened) place, within 4096 visible units."""
    loaded = loaded_of(one_topic(make_paper(1, title="T" * 10_000), make_paper(2)))
    for style in Style:
        pages = all_pages(loaded, style)
        assert [paper_id for page in pages for paper_id in page.paper_ids] == ["2511.00001", "2511.00002"]
        for page in pages:
            assert_page_valid(page)
            assert visible_length(page.text) <= 4096


def test_astral_emoji_count_two_units() -> None:
    """Titles of astral emoji are measured as Telegram does (2 UTF-16 units each) and still fit."""
    loaded = loaded_of(one_topic(*(make_paper(n, title="🧪" * 280) for n in range(1, 26))))
    for style in Style:
        for page in all_pages(loaded, style):
            assert_page_valid(page)


def test_compact_paper_shows_title_authors_category_type_match_and_tldr() -> None:
    """A compact paper: linked bold title, first authors, primary category, type, matched keywords, TL;DR."""
    paper = make_paper(
        7,
        authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"),
        announce_type=AnnounceType.REPLACE,
        version=3,
        abstract="We ground vision in language, e.g. for robots. It works. More text follows here.",
    )
    digest = make_digest(("MLLM", [paper]), ("Robots", [paper]))
    loaded = loaded_of(digest)
    text = render_page(loaded).text
    assert '<b>1. <a href="https://arxiv.org/abs/2511.00007">Paper number 7: grounding' in text
    assert "A. Lovelace, A. Turing et al. · <code>cs.CV</code> · updated v3" in text
    assert "🔑 x · also in: Robots" in text  # the builders' topics match with keyword "x"
    assert "<i>We ground vision in language, e.g. for robots.</i>" in text
    assert "More text" not in text


def test_header_says_where_the_page_is() -> None:
    """Header: date and topics, the counts, and "papers 11–20 of 34"; a one-page digest has no range."""
    loaded = loaded_of(one_topic(*(make_paper(n) for n in range(1, 35))))
    second = render_page(loaded, page=1)
    assert second.text.startswith(
        "<b>📚 arXiv digest · 2025-11-12 · MLLM</b>\n"
        "34 of 496 announced papers matched · papers 11–20 of 34\n\n"
    )
    single = render_page(loaded_of(one_topic(make_paper(1))))
    assert single.text.startswith(
        "<b>📚 arXiv digest · 2025-11-12 · MLLM</b>\n1 of 496 announced papers matched\n\n"
    )
    assert single.page_count == 1


def test_pages_are_clamped_and_deterministic() -> None:
    """A page number past the end shows the last page; the same view and style give the same pages."""
    loaded = loaded_of(hostile_digest())
    last = render_page(loaded, page=999)
    assert last.page == last.page_count - 1
    assert render_page(loaded, page=-3).page == 0
    again = loaded_of(hostile_digest())
    for style in Style:
        assert all_pages(loaded, style) == all_pages(again, style)


def test_buttons_turn_pages_and_toggle_keeps_the_place() -> None:
    """◀ n/N ▶ wrap around; the toggle opens the other style at the page holding this page's first paper."""
    loaded = loaded_of(one_topic(*(make_paper(n) for n in range(1, 35))))
    page = render_page(loaded, page=2)
    arrows, (toggle, file_button) = page.buttons
    assert [button.label for button in arrows] == ["◀", "3/4", "▶"]
    assert decode_press(arrows[0].data) == PagePress(41, 1, Style.COMPACT)
    assert decode_press(arrows[2].data) == PagePress(41, 3, Style.COMPACT)
    assert decode_press(render_page(loaded, page=3).buttons[0][2].data) == PagePress(41, 0, Style.COMPACT)
    assert toggle.label == "📖 Abstracts"
    press = decode_press(toggle.data)
    assert isinstance(press, PagePress)
    assert press.style is Style.FULL
    full = render_page(loaded, style=Style.FULL, page=press.page)
    assert page.paper_ids[0] in full.paper_ids
    back = decode_press(full.buttons[-1][0].data)
    assert isinstance(back, PagePress)
    assert back.style is Style.COMPACT
    assert full.paper_ids[0] in render_page(loaded, page=back.page).paper_ids
    assert file_button.data == "fl:41"


def test_one_page_has_no_arrows_and_an_unstored_view_no_buttons() -> None:
    """A one-page digest gets only the toggle and the file; a view without an id gets no buttons."""
    page = render_page(loaded_of(one_topic(make_paper(1))))
    assert [[button.label for button in row] for row in page.buttons] == [["📖 Abstracts", "📄 .md file"]]
    assert render_page(loaded_of(one_topic(make_paper(1)), view_id=None)).buttons == ()


def test_titles_style_is_a_linked_title_per_line() -> None:
    """Titles: one numbered linked title per line, up to 25 a page."""
    loaded = loaded_of(one_topic(*(make_paper(n) for n in range(1, 31))), style=Style.TITLES)
    page = render_page(loaded)
    assert len(page.paper_ids) == 25
    lines = page.text.split("\n\n", 1)[1].split("\n")
    assert (
        lines[0]
        == '1. <a href="https://arxiv.org/abs/2511.00001">Paper number 1: grounding vision and language</a>'
    )
    assert len(lines) == 25


def test_full_style_keeps_the_expandable_abstract() -> None:
    """Full: today's block with the abstract in an expandable quote."""
    text = render_page(loaded_of(one_topic(make_paper(1))), style=Style.FULL).text
    assert "<blockquote expandable>We present" in text
    assert "<i>Ada Lovelace, Alan Turing, Grace Hopper</i>" in text


def test_sections_name_the_topic_on_each_page() -> None:
    """With several topics, a topic's line opens each page and marks where the next topic starts."""
    digest = make_digest(
        ("MLLM", [make_paper(n) for n in range(1, 13)]), ("Robots", [make_paper(n) for n in range(20, 23)])
    )
    loaded = loaded_of(digest)
    first, second = all_pages(loaded, Style.COMPACT)
    assert first.text.count("<b>▍MLLM</b>") == 1
    assert "<b>▍MLLM</b>" in second.text
    assert "<b>▍Robots</b>" in second.text


def test_a_view_whose_papers_are_gone_still_renders() -> None:
    """A view whose papers were pruned renders one page saying so, without buttons."""
    loaded = loaded_of(one_topic(make_paper(1)))
    empty = LoadedView(loaded.view, (), ())
    page = render_page(empty)
    assert_page_valid(page)
    assert (page.page_count, page.paper_ids, page.buttons) == (1, (), ())


def test_chat_file_is_the_phone_markdown() -> None:
    """The chat file is `arxiv-digest-DATE.md` in the phone-friendly Markdown: no badge, no <details>."""
    name, data = render_chat_file(loaded_of(one_topic(make_paper(1), make_plain_paper(2))))
    assert name == "arxiv-digest-2025-11-12.md"
    text = data.decode("utf-8")
    assert "<details" not in text
    assert "shields.io" not in text
    assert "### 1. Paper number 1" in text
    assert "### 2. Title of 2511.00002" in text


def test_the_validator_rejects_what_telegram_rejects() -> None:
    """The test validator itself catches unknown tags, bad nesting, unclosed tags and unescaped text."""
    for bad in (
        "<script>x</script>",
        "<b><i>x</b></i>",
        "<b>x",
        "a < b",
        "a & b",
        "&nbsp;",
        '<a title="t">x</a>',
    ):
        with pytest.raises(TelegramHTMLError):
            parse_telegram_html(bad)
    assert parse_telegram_html('<span class="tg-spoiler">s</span> &#128512; &quot;') == 's 😀 "'
