"""Digests as files and terminal text: the anchor's Markdown, JSON and plain text.

The Markdown follows awesome-daily-AI-arxiv's daily file (one per topic): a header with topic and
date, a paper-count badge, the keyword and filter lines, then per paper the linked title, `arXiv:ID`,
category tags, at most six authors then "et al.", and the abstract in `<details open>`.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from bot.models import AnnounceType, Digest, Paper, TopicDigest

MAX_AUTHORS = 6

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def authors_line(authors: tuple[str, ...]) -> str:
    """At most six authors, then "et al." when there are more."""
    shown = list(authors[:MAX_AUTHORS])
    if len(authors) > MAX_AUTHORS:
        shown.append("et al.")
    return ", ".join(shown)


def _one_line(text: str) -> str:
    """Fold line breaks so a paper's text cannot end its list item."""
    return _LINE_BREAKS.sub(" ", text.strip())


def _inline_html_safe(text: str) -> str:
    """Neutralise only what GitHub would read as a tag or entity; everything else stays verbatim."""
    return _TAG_START.sub("&lt;", _ENTITY.sub("&amp;", text))


def _link_text(title: str) -> str:
    """A title that cannot close its Markdown link early."""
    escaped = title.replace("\\]", "\\\\]").replace("[", "\\[").replace("]", "\\]")
    return _inline_html_safe(_one_line(escaped))


def _code_span(text: str) -> str:
    """A code span that survives backticks inside the text."""
    text = _one_line(text)
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _paper_markdown(paper: Paper, *, mark_types: bool) -> str:
    """One paper as the anchor lays it out; `mark_types` adds the announce type of non-new papers."""
    tags = " ".join(_code_span(category) for category in paper.categories)
    marker = ""
    if mark_types and paper.announce_type is not AnnounceType.NEW:
        marker = f" _({paper.announce_type.value})_"
    lines = [
        f"- **[{_link_text(paper.title)}]({paper.abs_url})**  `arXiv:{paper.arxiv_id}`  {tags}{marker}  ",
        f"  _{_inline_html_safe(_one_line(authors_line(paper.authors)))}_",
        "  <details open><summary>Abstract</summary>",
        f"  {_inline_html_safe(_one_line(paper.abstract))}",
        "  </details>",
        "",
    ]
    return "\n".join(lines)


def _heading_name(name: str) -> str:
    """`MLLM Papers`, as the anchor titles a topic's file; a topic already named "Papers" is not doubled."""
    shown = _one_line(name)
    return shown if shown.lower().endswith("papers") else f"{shown} Papers"


def render_topic_markdown(section: TopicDigest, digest: Digest, *, mark_types: bool = True) -> str:
    """One topic's daily file in the anchor's format."""
    topic = section.topic
    keywords = " ".join(_code_span(keyword) for keyword in topic.keywords) or "`None`"
    excludes = " ".join(_code_span(exclude) for exclude in topic.excludes) or "`None`"
    count = len(section.papers)
    head = [
        f"# 🔍 {_heading_name(topic.name)} · {digest.date.isoformat()}",
        "",
        f"[![Total Papers](https://img.shields.io/badge/Papers-{count}-2688EB)]()",
        "",
        "---",
        "",
        "## 📌 Filter by Category",
        f"**Keywords**: {keywords}  ",
        f"**Filter**: {excludes}",
        "",
        "---",
        "",
        "## 📚 Paper List",
        "",
    ]
    body = [_paper_markdown(paper, mark_types=mark_types) for paper in section.papers]
    return "\n".join(head) + "\n" + "\n".join(body)


def render_markdown(digest: Digest, *, mark_types: bool = True) -> str:
    """The whole digest as one Markdown document: every topic's file one after the other."""
    return "\n".join(
        render_topic_markdown(section, digest, mark_types=mark_types) for section in digest.topics
    )


def paper_json(paper: Paper) -> dict[str, Any]:
    """One paper in the JSON output's shape."""
    return {
        "id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "abstract": paper.abstract,
        "announce_type": paper.announce_type.value,
    }


def render_json(digest: Digest) -> str:
    """Exactly one JSON object: the date and, per topic, its filters and matched papers."""
    document = {
        "date": digest.date.isoformat(),
        "topics": [
            {
                "name": section.topic.name,
                "keywords": list(section.topic.keywords),
                "excludes": list(section.topic.excludes),
                "papers": [paper_json(paper) for paper in section.papers],
            }
            for section in digest.topics
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


_TYPE_LABELS = {
    AnnounceType.NEW: "new",
    AnnounceType.CROSS: "cross-list",
    AnnounceType.REPLACE: "updated",
    AnnounceType.REPLACE_CROSS: "updated cross-list",
}


def _papers(count: int) -> str:
    """`1 paper`, `2 papers`."""
    return f"{count} paper{'' if count == 1 else 's'}"


def render_text(digest: Digest, *, width: int = 100, abstract_chars: int = 300) -> str:
    """A compact terminal listing: per topic, each paper's title, id, type, authors and abstract start."""
    lines = [
        f"arXiv digest for {digest.date.isoformat()}: {digest.matched_count} of "
        f"{_papers(digest.announced_count)} matched",
    ]
    for section in digest.topics:
        lines.append("")
        lines.append(f"== {_one_line(section.topic.name)} ({_papers(len(section.papers))}) ==")
        for number, paper in enumerate(section.papers, start=1):
            lines.append("")
            title = textwrap.fill(
                _one_line(paper.title), width=width, initial_indent=f"{number}. ", subsequent_indent="   "
            )
            lines.append(title)
            categories = " ".join(paper.categories)
            kind = _TYPE_LABELS[paper.announce_type]
            lines.append(f"   arXiv:{paper.arxiv_id}v{paper.version}  [{categories}]  {kind}")
            lines.append(
                textwrap.fill(
                    authors_line(paper.authors), width=width, initial_indent="   ", subsequent_indent="   "
                )
            )
            lines.append(f"   {paper.abs_url}")
            abstract = _one_line(paper.abstract)
            if abstract_chars and abstract:
                if len(abstract) > abstract_chars:
                    abstract = abstract[: abstract_chars - 1].rstrip() + "…"
                lines.append(
                    textwrap.fill(abstract, width=width, initial_indent="   ", subsequent_indent="   ")
                )
        if not section.papers:
            lines.append("(no matching papers)")
    return "\n".join(lines) + "\n"
