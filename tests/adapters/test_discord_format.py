"""Discord formatting: digest pages within Discord's limits, escaping, buttons, the file, plain replies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.digest_packing import MAX_PER_PAGE
from adapters.discord.format import (
    MAX_ACTION_ROWS,
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_FIELD_VALUE,
    MAX_OPTION_LABEL,
    MAX_OPTIONS,
    MAX_PLACEHOLDER,
    MAX_TITLE,
    PAGE_ABSTRACT,
    DiscordMessage,
    DiscordPage,
    embed_length,
    escape_markdown,
    render_chat_file,
    render_empty_day,
    render_page,
    render_text,
)
from bot.digests import build_digest
from bot.feeds import parse_feed_file
from bot.models import Announcement, AnnounceType, Digest, LoadedView, Paper, Style
from bot.topic_config import load_topic_config
from bot.views import MAX_BUTTON_DATA, PagePress, decode_menu_choice, decode_press, view_of
from tests.builders import make_digest, make_listed_paper, one_topic

ANCHOR = Path(__file__).parents[1] / "fixtures" / "anchor"
DATE = dt.date(2025, 11, 12)
ABSTRACT = "We ground vision and language in one model; it beats prior work on five benchmarks. " * 8
MARKDOWN_CHARS = "\\*_~`|[<"  # what escape_markdown backslash-escapes anywhere
HOSTILE = "@everyone **bold** <@&1> _x_ `code` ~~gone~~ ||spoiler|| <@123> @here [a](https://evil.example)"


# The formatters' papers carry a long abstract.
make_paper = functools.partial(make_listed_paper, abstract=ABSTRACT)


def anchor_digest() -> Digest:
    """The anchor day: its 12 Nov 2025 listing filtered by its config-mllm.yml (34 papers)."""
    topics = load_topic_config(ANCHOR / "config-mllm.yml")
    announcement = parse_feed_file(ANCHOR / "listing-2025-11-12.rss.xml", topics[0].categories)
    assert isinstance(announcement, Announcement)
    return build_digest(announcement, topics, topics[0].categories)


def unescape(text: str) -> str:
    """What Discord shows for escaped text: backslash escapes resolved, zero-width spaces invisible."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text).replace("\u200b", "")


def strings_of(embed: dict[str, Any]) -> list[str]:
    """Every text an embed shows."""
    texts = [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", "")]
    for field in embed.get("fields", ()):
        texts.extend([field["name"], field["value"]])
    return [text for text in texts if text]


HOSTILE_TITLE = (
    "@everyone <@123> **bold** [link](https://evil.example) a]b `x` <b>&amp;</b> 🧪𝔸 $\\alpha<\\beta$"
)


def loaded_of(digest: Digest, *, style: Style = Style.COMPACT, view_id: int | None = 52) -> LoadedView:
    """The digest as a stored view with its papers (what delivery and a press render)."""
    view, papers = view_of(digest, "discord", "900", ("cs.CV", "cs.CL", "cs.LG"), style=style)
    view = dataclasses.replace(view, id=view_id)
    return LoadedView(view, view.entries, papers)


def all_pages(loaded: LoadedView, style: Style) -> list[DiscordPage]:
    """Every page of the view in this style."""
    first = render_page(loaded, style=style)
    return [first] + [render_page(loaded, style=style, page=n) for n in range(1, first.page_count)]


def assert_page_within_limits(page: DiscordPage) -> None:
    """Content, embeds and buttons keep Discord's limits; each shown paper is linked; nothing can ping."""
    message = page.message
    assert 0 < len(message.content) <= MAX_CONTENT
    assert 1 <= len(message.embeds) <= MAX_EMBEDS
    assert sum(embed_length(embed) for embed in message.embeds) <= MAX_EMBED_TOTAL
    for embed in message.embeds:
        assert len(embed.get("title", "")) <= MAX_TITLE
        assert 0 < len(embed.get("description", "x")) <= MAX_DESCRIPTION
        for field in embed.get("fields", ()):
            assert 0 < len(field["value"]) <= MAX_FIELD_VALUE
        assert len(discord.Embed.from_dict(embed)) == embed_length(embed)
    shown = "\n".join([message.content, *(text for embed in message.embeds for text in strings_of(embed))])
    assert re.search(r"(?<!\\)<@", shown) is None, "a user or role mention could form"
    assert re.search(r"@(everyone|here)", shown) is None, "@everyone must carry a zero-width space"
    urls = [embed["url"] for embed in message.embeds if "url" in embed]
    assert len(urls) == len(set(urls)), "embeds sharing a URL would be merged"
    for paper_id in page.paper_ids:
        assert f"https://arxiv.org/abs/{paper_id}" in shown + " ".join(urls)
    assert len(page.buttons) + len(page.menus) <= MAX_ACTION_ROWS
    assert len(page.buttons) <= 1  # the page's buttons in one row, the menus under it
    for found in page.menus:
        assert 1 <= len(found.options) <= MAX_OPTIONS
        assert len(found.placeholder) <= MAX_PLACEHOLDER
        assert 1 <= len(found.data) <= 100
        assert len({option.value for option in found.options}) == len(found.options)
        for option in found.options:
            assert 1 <= len(option.label) <= MAX_OPTION_LABEL
            assert len(option.description) <= MAX_OPTION_LABEL
            assert decode_menu_choice(found.data, option.value) is not None
    for row in page.buttons:
        assert 1 <= len(row) <= 5
        for button in row:
            assert 1 <= len(button.data) <= 100
            assert len(button.data.encode("utf-8")) <= MAX_BUTTON_DATA
            assert decode_press(button.data) is not None
    assert message.paper_ids == page.paper_ids


def hostile_digest() -> Digest:
    """The anchor's papers plus papers built to break a page (huge title, markup and mentions, huge lists)."""
    anchor = anchor_digest().papers
    papers = [
        make_paper(1, title="T" * 10_000),
        make_paper(2, title=HOSTILE_TITLE, abstract="@here we show <#1> & `a` hold. " * 3),
        make_paper(3, abstract="𝔸🧪 *" * 5_000),
        make_paper(4, authors=tuple(f"Author Number{n}" for n in range(2_000))),
        make_paper(5, title="]" * 3_000, abstract="\\" * 5_000),
        *anchor,
    ]
    return make_digest(("MLLM", papers), ("Robotics @everyone", [anchor[3], make_paper(77)]))


def shown(pages: list[DiscordPage]) -> list[str]:
    """Every paper id the pages show, in order."""
    return [paper_id for page in pages for paper_id in page.paper_ids]


def full_pages(digest: Digest) -> list[DiscordPage]:
    """Every full-style page of the digest as a view, each checked against Discord's limits."""
    pages = all_pages(loaded_of(digest), Style.FULL)
    for page in pages:
        assert_page_within_limits(page)
    return pages


def full_embed(paper: Paper) -> dict[str, Any]:
    """The embed of a lone paper on its full page."""
    (page,) = full_pages(one_topic(paper))
    (embed,) = page.message.embeds
    return embed


def test_full_paper_embed_layout() -> None:
    """A full paper: linked title, abstract, authors, categories and type fields, its id in the footer."""
    paper = make_paper(7, announce_type=AnnounceType.REPLACE, version=3)
    (page,) = full_pages(one_topic(paper))
    (embed,) = page.message.embeds
    assert embed["title"] == "1. Paper number 7: grounding vision and language"
    assert embed["url"] == "https://arxiv.org/abs/2511.00007"
    assert embed["description"] == ABSTRACT.strip()
    assert embed["fields"] == [
        {"name": "Authors", "value": "Ada Lovelace, Alan Turing, Grace Hopper", "inline": False},
        {"name": "Categories", "value": "cs.CV cs.CL", "inline": True},
        {"name": "Type", "value": "updated v3", "inline": True},
    ]
    assert embed["footer"] == {"text": "arXiv:2511.00007"}
    assert (
        page.message.content == "📚 **arXiv digest · 2025-11-12 · MLLM**\n1 of 496 announced papers matched"
    )
    assert page.paper_ids == ("2511.00007",)


@pytest.mark.parametrize(
    ("announce_type", "label"),
    [
        (AnnounceType.NEW, "new"),
        (AnnounceType.CROSS, "cross-list"),
        (AnnounceType.REPLACE, "updated v2"),
        (AnnounceType.REPLACE_CROSS, "updated cross-list v2"),
    ],
)
def test_announce_types_are_labelled_and_coloured(announce_type: AnnounceType, label: str) -> None:
    """Each announce type gets its own label in the Type field and its own colour."""
    digest = one_topic(*(make_paper(n, announce_type=kind, version=2) for n, kind in enumerate(AnnounceType)))
    (page,) = full_pages(digest)
    embeds = {embed["url"]: embed for embed in page.message.embeds}
    number = list(AnnounceType).index(announce_type)
    embed = embeds[f"https://arxiv.org/abs/2511.{number:05d}"]
    assert embed["fields"][-1] == {"name": "Type", "value": label, "inline": True}
    assert len({embed["color"] for embed in embeds.values()}) == 4


def test_more_than_six_authors_end_with_et_al() -> None:
    """In full, at most six authors are named, then "et al."."""
    embed = full_embed(make_paper(authors=tuple(f"Author {letter}" for letter in "ABCDEFGH")))
    assert embed["fields"][0]["value"] == "Author A, Author B, Author C, Author D, Author E, Author F, et al."


def test_hostile_paper_text_shows_as_written() -> None:
    """Mentions, markdown and masked links in a title and abstract are escaped and read back as written."""
    embed = full_embed(make_paper(title=HOSTILE, abstract=f"> quoted\n# heading\n- item\n1. first {HOSTILE}"))
    assert unescape(embed["title"]) == f"1. {HOSTILE}"
    assert unescape(embed["description"]) == f"> quoted # heading - item 1. first {HOSTILE}"
    for text in (embed["title"], embed["description"]):
        assert "@everyone" not in text
        assert "@here" not in text
        assert "<@" not in text.replace("\\<@", "")
        assert "](" not in text.replace("\\[a](", "")
        # Every markdown character is preceded by its escaping backslash.
        unescaped = re.sub(r"\\[^0-9A-Za-z\s]", "", text)
        assert not set(MARKDOWN_CHARS) & set(unescaped), unescaped


def test_whitespace_in_arxiv_text_is_folded() -> None:
    """arXiv's hard-wrapped titles and abstracts are folded to single spaces."""
    embed = full_embed(
        make_paper(title="A title\n  wrapped  by arXiv", abstract="An abstract\n  wrapped\n\nhere.")
    )
    assert embed["title"] == "1. A title wrapped by arXiv"
    assert embed["description"] == "An abstract wrapped here."


def test_full_pages_hold_at_most_ten_embeds() -> None:
    """Forty short papers fill full pages of exactly ten embeds, the limit, not the characters."""
    pages = full_pages(one_topic(*(make_paper(number, abstract="Short.") for number in range(40))))
    assert [len(page.message.embeds) for page in pages] == [10, 10, 10, 10]


def test_a_huge_paper_is_shortened_not_dropped() -> None:
    """A 20,000-character abstract and a 1,000-character title are clipped with "…"; the paper is shown."""
    huge = make_paper(2, title="Title " * 166 + "end", abstract="Diffusion tokens " * 1200)
    pages = full_pages(one_topic(make_paper(1), huge, make_paper(3)))
    assert shown(pages) == ["2511.00001", "2511.00002", "2511.00003"]
    embed = next(e for p in pages for e in p.message.embeds if e["url"].endswith("2511.00002"))
    assert embed["title"].endswith("…")
    assert len(embed["title"]) > MAX_TITLE - 10
    assert embed["description"].endswith("…")
    # Clipped to the page's abstract length, not to a stub (the title links to the whole abstract).
    assert PAGE_ABSTRACT - 150 < len(embed["description"]) <= PAGE_ABSTRACT + 1


def test_a_long_abstract_is_clipped_so_a_full_page_holds_several_papers() -> None:
    """Abstracts past the page's length end in "…"; a full page of real-sized papers holds several."""
    papers = [
        make_paper(n, abstract="We propose a model of vision and language. " * 40) for n in range(1, 13)
    ]
    first = full_pages(one_topic(*papers))[0]
    assert len(first.message.embeds) >= 3
    for embed in first.message.embeds:
        assert embed["description"].endswith("…")
        assert len(embed["description"]) <= PAGE_ABSTRACT + 1


def test_text_that_escaping_inflates_is_bounded_after_escaping() -> None:
    """A title and abstract of nothing but markdown characters still fit once every one is escaped."""
    paper = make_paper(title="*_" * 500, abstract="`|" * 5000, authors=tuple("~" * 400 for _ in range(6)))
    pages = full_pages(one_topic(paper, make_paper(2)))
    assert shown(pages) == ["2511.00001", "2511.00002"]
    embed = pages[0].message.embeds[0]
    assert embed["title"].startswith("1. \\*\\_")
    assert embed["description"].startswith("\\`\\|")


def test_absurd_metadata_still_leaves_a_linked_paper() -> None:
    """Thousands of categories and a long topic list cannot push a paper out: it is shortened to fit."""
    paper = make_paper(1, categories=tuple(f"cs.X{n}" for n in range(3000)))
    digest = make_digest(("Main", (paper,)), *((f"Topic {n} " + "x" * 70, (paper,)) for n in range(60)))
    assert shown(full_pages(digest)) == ["2511.00001"]


def test_three_topics_are_attributed() -> None:
    """With three topics the header names them, and every full paper's footer names its topics."""
    shared = make_paper(2)
    digest = make_digest(
        ("MLLM", (make_paper(1), shared)), ("Diffusion", (shared, make_paper(3))), ("Robots", (shared,))
    )
    (page,) = full_pages(digest)
    assert page.message.content == (
        "📚 **arXiv digest · 2025-11-12 · MLLM, Diffusion, Robots**\n3 of 496 announced papers matched"
    )
    footers = {embed["url"][-10:]: embed["footer"]["text"] for embed in page.message.embeds}
    assert footers == {
        "2511.00001": "arXiv:2511.00001 · MLLM",
        "2511.00002": "arXiv:2511.00002 · MLLM · also in: Diffusion, Robots",
        "2511.00003": "arXiv:2511.00003 · Diffusion",
    }
    assert page.paper_ids == ("2511.00001", "2511.00002", "2511.00003")


def test_topic_names_are_escaped_where_markdown_renders_and_guarded_in_footers() -> None:
    """A topic with markdown and @everyone is escaped in content and section lines, guarded in footers."""
    loaded = loaded_of(make_digest(("**MLLM** @everyone", (make_paper(1),)), ("B", (make_paper(2),))))
    compact = render_page(loaded)
    assert "\\*\\*MLLM\\*\\* @\u200beveryone, B" in compact.message.content
    assert compact.message.embeds[0]["description"].startswith("**▍\\*\\*MLLM\\*\\* @\u200beveryone**\n")
    full = render_page(loaded, style=Style.FULL)
    assert full.message.embeds[0]["footer"]["text"] == "arXiv:2511.00001 · **MLLM** @\u200beveryone"


@pytest.mark.parametrize("style", list(Style))
def test_the_header_stays_within_2000_characters_with_huge_topic_names(style: Style) -> None:
    """Fifty topics with 500-character names of markdown characters still give pages within the limits."""
    sections = tuple((f"{n}" + "*" * 500, (make_paper(n),)) for n in range(50))
    pages = all_pages(loaded_of(make_digest(*sections)), style)
    for page in pages:
        assert_page_within_limits(page)
    assert len(shown(pages)) == 50


@pytest.mark.parametrize("style", list(Style))
def test_pages_show_every_paper_once_within_discords_limits(style: Style) -> None:
    """Each style's pages show every paper once, in order, each page within every Discord limit."""
    loaded = loaded_of(hostile_digest())
    pages = all_pages(loaded, style)
    assert [paper_id for page in pages for paper_id in page.paper_ids] == list(loaded.view.paper_ids)
    limit = MAX_PER_PAGE[style] or MAX_EMBEDS
    for number, page in enumerate(pages):
        assert (page.page, page.page_count) == (number, len(pages))
        assert 1 <= len(page.paper_ids) <= limit
        assert_page_within_limits(page)


def test_anchor_day_compact_is_four_pages_of_one_embed() -> None:
    """The anchor's 34 papers in compact: pages of 10, 10, 10, 4, each one embed listing masked links."""
    loaded = loaded_of(anchor_digest())
    pages = all_pages(loaded, Style.COMPACT)
    assert [len(page.paper_ids) for page in pages] == [10, 10, 10, 4]
    second = pages[1]
    assert second.message.content == (
        "📚 **arXiv digest · 2025-11-12 · MLLM**\n34 of 496 announced papers matched · papers 11–20 of 34"
    )
    (embed,) = second.message.embeds
    paper = loaded.papers[10]
    assert embed["description"].startswith(f"**11. [{escape_markdown(' '.join(paper.title.split()))}](")


def test_hostile_title_shows_literally_and_cannot_ping() -> None:
    """A title with mentions, markdown, a masked link and `]` is escaped: shown as written, pinging nobody."""
    loaded = loaded_of(one_topic(make_paper(2, title=HOSTILE_TITLE)))
    for style in Style:
        page = render_page(loaded, style=style)
        assert_page_within_limits(page)
        embed = page.message.embeds[0]
        text = embed.get("title") or embed["description"]
        assert re.search(r"(?<!\\)\[link", text) is None, "the title's masked link must not form"
        if style is Style.FULL:
            assert unescape(embed["title"]) == f"1. {HOSTILE_TITLE}"
        else:
            linked = re.search(r"\[(.*)\]\(https://arxiv\.org/abs/2511\.00002\)", embed["description"])
            assert linked is not None
            assert unescape(linked.group(1)) == HOSTILE_TITLE


def test_compact_item_layout() -> None:
    """A compact item: bold numbered masked link, first authors · `category` · type, matches, italic TL;DR."""
    paper = make_paper(
        7,
        authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"),
        announce_type=AnnounceType.CROSS,
        abstract="We explain vision in language, i.e. words. It works.",
    )
    (embed,) = render_page(loaded_of(one_topic(paper))).message.embeds
    assert embed["description"] == (
        "**1. [Paper number 7: grounding vision and language](https://arxiv.org/abs/2511.00007)**\n"
        "A. Lovelace, A. Turing et al. · `cs.CV` · cross-list\n"
        "🔑 x\n"
        "*We explain vision in language, i.e. words.*"
    )


def test_titles_and_full_styles() -> None:
    """Titles: a numbered masked link per line, 25 a page; full: one embed per paper with the abstract."""
    loaded = loaded_of(one_topic(*(make_paper(n) for n in range(1, 31))))
    titles = render_page(loaded, style=Style.TITLES)
    lines = titles.message.embeds[0]["description"].split("\n")
    assert len(lines) == 25
    assert (
        lines[1] == "**2.** [Paper number 2: grounding vision and language](https://arxiv.org/abs/2511.00002)"
    )
    full = render_page(loaded, style=Style.FULL)
    assert [embed["url"] for embed in full.message.embeds] == [
        f"https://arxiv.org/abs/{paper_id}" for paper_id in full.paper_ids
    ]
    assert full.message.embeds[0]["description"].startswith("We ground vision")


def test_discord_toggle_keeps_the_place_and_arrows_wrap() -> None:
    """The toggle opens full at the page holding this page's first paper, and back; arrows wrap around."""
    loaded = loaded_of(anchor_digest())
    page = render_page(loaded, page=3)
    (row,) = page.buttons  # one action row: ◀ 4/4 ▶, the toggle, the file
    arrows, (toggle, file_button) = row[:3], row[3:]
    assert decode_press(arrows[2].data) == PagePress(52, 0, Style.COMPACT)
    assert decode_press(arrows[0].data) == PagePress(52, 2, Style.COMPACT)
    press = decode_press(toggle.data)
    assert isinstance(press, PagePress)
    full = render_page(loaded, style=press.style, page=press.page)
    assert page.paper_ids[0] in full.paper_ids
    assert file_button.data == "fl:52"


def test_discord_pages_are_deterministic_and_clamped() -> None:
    """The same view gives the same pages; a page past the end is the last one."""
    first, second = loaded_of(hostile_digest()), loaded_of(hostile_digest())
    for style in Style:
        assert all_pages(first, style) == all_pages(second, style)
    last = render_page(first, page=10_000)
    assert last.page == last.page_count - 1


def test_discord_chat_file() -> None:
    """The chat file: `arxiv-digest-DATE.md`, phone-friendly Markdown of every paper."""
    loaded = loaded_of(anchor_digest())
    name, data = render_chat_file(loaded)
    assert name == "arxiv-digest-2025-11-12.md"
    text = data.decode("utf-8")
    assert "<details" not in text
    assert text.count("\n### ") == 34


def test_escape_markdown_neutralises_line_starts_and_keeps_urls() -> None:
    """Quotes, headings, lists and numbered lists at a line's start are escaped; URLs are left intact."""
    assert escape_markdown("> a\n# b\n-# c\n  - d\n12. e\nx > y - z # w") == (
        "\\> a\n\\# b\n\\-# c\n  \\- d\n12\\. e\nx > y - z # w"
    )
    assert escape_markdown("code at https://github.com/a_b/c_d, see *this*") == (
        "code at https://github.com/a_b/c_d, see \\*this\\*"
    )
    assert escape_markdown("$\\alpha<\\beta$ & `x`") == "$\\\\alpha\\<\\\\beta$ & \\`x\\`"


def test_render_text_splits_a_long_reply_at_line_breaks() -> None:
    """A 5,000-character reply of 50 lines comes back as pieces of at most 2000, split between lines."""
    lines = [f"{n:02d} " + "a" * 97 for n in range(50)]
    text = "\n".join(lines)
    assert len(text) == 5049
    pieces = render_text(text)
    assert len(pieces) == 3
    assert all(0 < len(piece) <= MAX_CONTENT for piece in pieces)
    assert "\n".join(pieces).split("\n") == lines


def test_render_text_cuts_one_overlong_line_at_spaces() -> None:
    """A 6,000-character line without breaks is cut at spaces, never inside a word, into pieces of ≤ 2000."""
    text = " ".join(["alpha"] * 1000)
    pieces = render_text(text)
    assert len(pieces) == 4
    assert all(0 < len(piece) <= MAX_CONTENT for piece in pieces)
    assert all(word == "alpha" for piece in pieces for word in piece.split())
    assert " ".join(pieces) == text


def test_render_text_escapes_and_never_returns_an_empty_piece() -> None:
    """Replies are escaped as written; blank lines at piece edges go; an empty reply is still one piece."""
    assert render_text("Topic **x**: @everyone <@123>\n\n- one\n") == [
        "Topic \\*\\*x\\*\\*: @\u200beveryone \\<@123>\n\n\\- one"
    ]
    assert render_text("a" * 2000 + "\n\nb") == ["a" * 2000, "b"]
    assert render_text("") == ["…"]
    assert render_text("\n \n") == ["…"]
    pieces = render_text("\n".join(["*" * 999] * 3))  # each line escapes to 1998 characters
    assert [len(piece) for piece in pieces] == [1998, 1998, 1998]


def test_empty_day_is_a_one_liner() -> None:
    """A day without matches gets "0 of N announced papers matched your filters on DATE."."""
    digest = one_topic()
    assert render_empty_day(digest) == DiscordMessage(
        content="0 of 496 announced papers matched your filters on 2025-11-12."
    )


def test_a_day_without_announcement_says_so() -> None:
    """When nothing was announced in the watched categories, the line says that instead of "0 of 0"."""
    assert render_empty_day(make_digest(("MLLM", ()), announced=0)).content == (
        "No papers were announced in your categories on 2025-11-12."
    )
