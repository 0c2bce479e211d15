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

from bot.models import AnnounceType, Digest, LoadedView, Paper, TopicDigest, ViewEntry

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


# -- the chat file: a digest view as Markdown that reads well in phone viewers -------------------------
# Telegram's and Discord's file viewers (and most phone Markdown apps) show inline HTML as raw tags and
# badges as broken images, so this variant uses nothing but headings, emphasis, links and paragraphs,
# with every piece of paper text backslash-escaped so it shows as written.

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&!])")
_LINE_START = re.compile(r"^([-+>=]|\d+[.)])")


def escape_markdown_text(text: str) -> str:
    """Text on one line that any CommonMark viewer shows literally (no emphasis, link, tag or list)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))
    return _LINE_START.sub(r"\\\1", escaped)


def _chat_type_label(paper: Paper) -> str:
    """new, cross-list, updated vN, updated cross-list vN."""
    label = _TYPE_LABELS[paper.announce_type]
    return f"{label} v{paper.version}" if paper.announce_type in _UPDATED else label


_UPDATED = (AnnounceType.REPLACE, AnnounceType.REPLACE_CROSS)


def _chat_paper(number: int, paper: Paper, entry: ViewEntry) -> list[str]:
    """One paper's block: numbered title heading, link line, authors, match line, abstract."""
    title = escape_markdown_text(paper.title) or f"arXiv:{paper.arxiv_id}"
    meta = [f"[arXiv:{paper.arxiv_id}]({paper.abs_url})"]
    if paper.categories:
        meta.append(escape_markdown_text(", ".join(paper.categories)))
    meta.append(_chat_type_label(paper))
    lines = [f"### {number}. {title}", "", " · ".join(meta), ""]
    if paper.authors:
        lines += [f"*{escape_markdown_text(authors_line(paper.authors))}*", ""]
    match = []
    if entry.matched:
        match.append("Matched: " + escape_markdown_text(", ".join(entry.matched)))
    if entry.also_in:
        match.append("also in: " + escape_markdown_text(", ".join(entry.also_in)))
    if match:
        lines += [" · ".join(match), ""]
    abstract = escape_markdown_text(paper.abstract)
    if abstract:
        lines += [abstract, ""]
    return lines


def render_chat_markdown(loaded: LoadedView) -> str:
    """A digest view as one phone-friendly Markdown document: a heading, counts, then every paper.

    The papers come in the view's order, numbered as on the pages, under a `##` heading per topic
    when the digest has several.
    """
    view = loaded.view
    date = view.announcement_date.isoformat()
    names = ", ".join(_one_line(name) for name in view.topics if _one_line(name))
    lines = [f"# arXiv digest · {date}", ""]
    if names:
        lines += [f"**{escape_markdown_text(names)}**", ""]
    count = f"{loaded.matched_count} of {view.announced_count} announced papers matched"
    lines += [count, ""]
    several = len(view.topics) > 1
    topic: str | None = None
    for number, (paper, entry) in enumerate(zip(loaded.papers, loaded.entries, strict=True), start=1):
        if several and entry.topic != topic:
            topic = entry.topic
            lines += ["---", "", f"## {escape_markdown_text(topic) or '…'}", ""]
        elif number > 1:
            lines += ["---", ""]
        lines += _chat_paper(number, paper, entry)
    if not loaded.papers:
        lines += ["The papers of this digest are no longer stored.", ""]
    return "\n".join(lines)
