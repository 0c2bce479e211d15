"""Markdown (the anchor's format and the phone-friendly chat file), JSON and text output of a digest."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re

from adapters.markdown_output import (
    authors_line,
    render_chat_markdown,
    render_json,
    render_markdown,
    render_text,
)
from bot.models import AnnounceType, Digest, LoadedView, Paper, Topic, TopicDigest
from bot.views import view_of
from tests import builders

DATE = dt.date(2025, 11, 12)


make_paper = functools.partial(
    builders.make_paper,
    title="A Title",
    abstract="An abstract.",
    authors=("Ada Lovelace", "Alan Turing"),
    categories=("cs.CV", "cs.AI"),
)


def make_digest(*papers: Paper, topic: Topic | None = None) -> Digest:
    """A one-topic digest of these papers."""
    topic = topic or Topic(name="MLLM", keywords=("VLM", "MLLM"))
    return Digest(date=DATE, topics=(TopicDigest(topic=topic, papers=papers),), announced_count=496)


def test_authors_line_caps_at_six() -> None:
    """At most six authors are named, then "et al."; six or fewer are all named."""
    seven = tuple(f"Author {n}" for n in range(7))
    assert authors_line(seven) == ", ".join(seven[:6]) + ", et al."
    assert authors_line(seven[:6]) == ", ".join(seven[:6])


def test_markdown_paper_layout_matches_the_anchor() -> None:
    """A new paper is laid out exactly like an entry of the anchor's MLLM.md."""
    paper = make_paper(
        "2511.08409",
        title="FaithAct: Faithfulness Planning and Acting in MLLMs",
        authors=("Junxian Li", "Xinyue Xu", "Sai Ma", "Sichao Li"),
        categories=("cs.AI",),
        abstract="Unfaithfulness remains a persistent challenge.",
    )
    text = render_markdown(make_digest(paper))
    expected = (
        "- **[FaithAct: Faithfulness Planning and Acting in MLLMs](https://arxiv.org/abs/2511.08409)**"
        "  `arXiv:2511.08409`  `cs.AI`  \n"
        "  _Junxian Li, Xinyue Xu, Sai Ma, Sichao Li_\n"
        "  <details open><summary>Abstract</summary>\n"
        "  Unfaithfulness remains a persistent challenge.\n"
        "  </details>\n"
    )
    assert expected in text
    assert text.startswith("# 🔍 MLLM Papers · 2025-11-12\n")
    assert "[![Total Papers](https://img.shields.io/badge/Papers-1-2688EB)]()" in text
    assert "**Keywords**: `VLM` `MLLM`  \n**Filter**: `None`\n" in text


def test_markdown_marks_replacements_and_cross_lists() -> None:
    """Non-new papers carry their announce type after the category tags."""
    text = render_markdown(
        make_digest(
            make_paper("2401.1", announce_type=AnnounceType.REPLACE),
            make_paper("2401.2", announce_type=AnnounceType.CROSS),
        )
    )
    assert "`cs.CV` `cs.AI` _(replace)_  \n" in text
    assert "`cs.CV` `cs.AI` _(cross)_  \n" in text


def test_markdown_hostile_paper_text_cannot_break_structure() -> None:
    """Brackets, tags, entities and line breaks in paper text stay inside their paper's entry."""
    paper = make_paper(
        title="Breaking [links](http://evil) and <b>tags</b>",
        abstract="Line one\n\nLine two </details> &amp; <script>alert(1)</script> p<0.05 a & b",
        authors=("Mallory <img src=x>",),
    )
    text = render_markdown(make_digest(paper))
    assert (
        "[Breaking \\[links\\](http://evil) and &lt;b>tags&lt;/b>](https://arxiv.org/abs/2511.00001)" in text
    )
    assert "Line one Line two &lt;/details> &amp;amp; &lt;script>alert(1)&lt;/script> p<0.05 a & b" in text
    assert text.count("</details>") == 1
    assert "_Mallory &lt;img src=x>_" in text


def test_markdown_topics_follow_each_other() -> None:
    """A digest with two topics renders both sections, each with its own header and count."""
    first = TopicDigest(Topic(name="A", keywords=("x",)), (make_paper("1"),))
    second = TopicDigest(
        Topic(name="B", keywords=("y",), excludes=("survey",)), (make_paper("2"), make_paper("3"))
    )
    text = render_markdown(Digest(date=DATE, topics=(first, second), announced_count=10))
    assert "# 🔍 A Papers" in text
    assert "# 🔍 B Papers" in text
    assert "Papers-2-2688EB" in text
    assert "**Filter**: `survey`" in text


def test_a_topic_named_papers_is_not_doubled_in_its_heading() -> None:
    """The chat's default topic "Papers" heads its file "Papers · DATE", not "Papers Papers"."""
    section = TopicDigest(Topic(name="Papers", keywords=("x",)), (make_paper("1"),))
    text = render_markdown(Digest(date=DATE, topics=(section,), announced_count=1))
    assert f"# 🔍 Papers · {DATE.isoformat()}" in text
    assert "Papers Papers" not in text


def test_json_shape() -> None:
    """JSON output is one object with the documented keys and unversioned ids."""
    paper = make_paper("2511.07738", version=3, announce_type=AnnounceType.REPLACE_CROSS)
    document = json.loads(render_json(make_digest(paper)))
    assert document == {
        "date": "2025-11-12",
        "topics": [
            {
                "name": "MLLM",
                "keywords": ["VLM", "MLLM"],
                "excludes": [],
                "papers": [
                    {
                        "id": "2511.07738",
                        "version": 3,
                        "title": "A Title",
                        "authors": ["Ada Lovelace", "Alan Turing"],
                        "categories": ["cs.CV", "cs.AI"],
                        "abstract": "An abstract.",
                        "announce_type": "replace-cross",
                    }
                ],
            }
        ],
    }


def test_text_output_lists_papers_and_counts() -> None:
    """The terminal listing states the counts and shows each paper's id, type, link and abstract start."""
    long_abstract = "word " * 200
    text = render_text(make_digest(make_paper(abstract=long_abstract), make_paper("2511.2", title="Other")))
    assert text.startswith("arXiv digest for 2025-11-12: 2 of 496 papers matched")
    assert "arXiv:2511.00001v1  [cs.CV cs.AI]  new" in text
    assert "https://arxiv.org/abs/2511.2" in text
    assert "…" in text
    assert max(len(line) for line in text.splitlines()) <= 100


# -- the chat file ----------------------------------------------------------------------------------


def chat_view(digest: Digest) -> LoadedView:
    """The digest as a stored view with its papers."""
    view, papers = view_of(digest, "telegram", "1", ("cs.CV", "cs.AI"))
    return LoadedView(view, view.entries, papers)


def test_chat_markdown_layout() -> None:
    """Plain headings, the counts, then per paper a numbered heading, link line, authors, match, abstract."""
    paper = make_paper(3, title="Seeing VLMs", abstract="We test VLMs.\nThey see.")
    text = render_chat_markdown(chat_view(make_digest(paper)))
    assert text == (
        "# arXiv digest · 2025-11-12\n\n"
        "**MLLM**\n\n"
        "1 of 496 announced papers matched\n\n"
        "### 1. Seeing VLMs\n\n"
        "[arXiv:2511.00003](https://arxiv.org/abs/2511.00003) · cs.CV, cs.AI · new\n\n"
        "*Ada Lovelace, Alan Turing*\n\n"
        "Matched: VLM\n\n"
        "We test VLMs. They see.\n"
    )


def test_chat_markdown_has_no_github_only_markup_and_escapes_paper_text() -> None:
    """No badge, no <details>, no HTML; a title's markup and Markdown show as written."""
    hostile = make_paper(
        1,
        title="<b>VLM</b> *bold* [x](http://e.example) & #1 `c` _u_",
        abstract="- VLM list? <details>no</details> &amp; 1. not a list",
    )
    text = render_chat_markdown(chat_view(make_digest(hostile, make_paper(2, title="VLM two"))))
    assert re.search(r"(?<!\\)<", text) is None, "no tag a viewer could read as HTML"
    assert "shields.io" not in text
    assert "### 1. \\<b\\>VLM\\</b\\> \\*bold\\* \\[x\\](http://e.example) \\& \\#1 \\`c\\` \\_u\\_" in text
    assert "\n\\- VLM list? \\<details\\>no\\</details\\> \\&amp; 1. not a list\n" in text
    assert "### 2. VLM two" in text


def test_chat_markdown_sections_by_topic() -> None:
    """With several topics, each topic's papers come under a `##` heading; "also in" names the others."""
    first, second = make_paper(1, title="VLM a"), make_paper(2, title="VLM b")
    digest = Digest(
        date=DATE,
        topics=(
            TopicDigest(Topic("MLLM", ("VLM",)), (first,)),
            TopicDigest(Topic("Robots", ("VLM",)), (first, second)),
        ),
        announced_count=496,
    )
    text = render_chat_markdown(chat_view(digest))
    assert text.index("## MLLM") < text.index("### 1. VLM a") < text.index("## Robots") < text.index("### 2.")
    assert "Matched: VLM · also in: Robots" in text


def test_render_markdown_is_unchanged_by_the_chat_variant() -> None:
    """The anchor format (the CLI's --output) still carries its badge and <details>."""
    text = render_markdown(make_digest(make_paper(1)))
    assert "img.shields.io/badge/Papers-1-2688EB" in text
    assert "<details open><summary>Abstract</summary>" in text
