"""Reading commands about papers: /saved (one's bookmarks), /export (a citation file), /why (the order).

They change nothing, so every member may send them. /saved and `/export … saved` answer privately
(`CommandReply.private`): bookmarks belong to the user who pressed 🔖, not to the chat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.arxiv_client.api import split_arxiv_id
from bot.commands.editing import ChannelEditor
from bot.commands.table import CommandSyntax, usage
from bot.commands.values import CommandContext, CommandReply, Export, ExportFormat, ExportScope, Why
from bot.commands.wording import clip, day, plural
from bot.digests import build_digest
from bot.exports import BIBTEX_SUFFIX, RIS_SUFFIX, render_bibtex, render_ris
from bot.feedback import MIN_DISLIKED, MIN_LIKED
from bot.models import Bookmark, Channel, Paper
from bot.ports import Explanation, Ranker
from bot.views import ViewService

EXPORT_FORMATS: dict[str, ExportFormat] = {"bibtex": "bibtex", "bib": "bibtex", "ris": "ris"}
EXPORT_SCOPES: dict[str, ExportScope] = {"saved": "saved", "bookmarks": "saved", "today": "today"}
EXPORT_USAGE = (
    "Use /export bibtex or /export ris for your bookmarks (BibTeX if you name neither),"
    " or /export bibtex today for the chat's latest digest."
)
SAVED_SHOWN = 30  # bookmarks listed in /saved; the export has them all
WHY_DAYS = 14  # how far back /why looks for a paper in the stored announcements
WHY_TERMS = 5  # terms shown each way
WHY_VOTES = 3
NO_USER = "I can't tell who you are here (an anonymous admin?): send it from your own account."
NO_BOOKMARKS = "🔖 No bookmarks yet: the 🔖 button under a paper on a digest page saves it for you."
RANKING_OFF_HERE = "The learned order is off on this bot, so papers come in the listing's order."
_FORMAT_NAMES = {"bibtex": "BibTeX", "ris": "RIS"}
_SUFFIXES = {"bibtex": BIBTEX_SUFFIX, "ris": RIS_SUFFIX}
_IMPORT_HINTS = {
    "bibtex": "arXiv's own format, for LaTeX, JabRef or Zotero (File → Import)",
    "ris": "for Zotero (File → Import), EndNote or Mendeley",
}


def export_hint(syntax: CommandSyntax) -> str:
    """How to get one's bookmarks as a file, in the platform's syntax."""
    bibtex = usage(syntax, "export", "bibtex", format="bibtex")
    ris = usage(syntax, "export", "ris", format="ris")
    return f"As a file: {bibtex} or {ris}."


def saved_text(bookmarks: Sequence[Bookmark], syntax: CommandSyntax) -> str:
    """/saved: the bookmarks, newest first, each a title with its link, then how to export them."""
    if not bookmarks:
        return NO_BOOKMARKS
    lines = [f"🔖 Your bookmarks, newest first ({len(bookmarks)}):"]
    for bookmark in bookmarks[:SAVED_SHOWN]:
        paper = bookmark.paper
        lines.append(f"• {clip(paper.title, 160)} — {paper.abs_url}")
    if len(bookmarks) > SAVED_SHOWN:
        lines.append(f"… and {len(bookmarks) - SAVED_SHOWN} more, all in the export.")
    lines.append(export_hint(syntax))
    return "\n".join(lines)


def citation_file(papers: Sequence[Paper], export_format: ExportFormat) -> bytes:
    """The papers as a .bib or .ris file's bytes (UTF-8)."""
    text = render_bibtex(papers) if export_format == "bibtex" else render_ris(papers)
    return text.encode("utf-8")


def explanation_text(paper: Paper, explanation: Explanation) -> str:
    """/why's answer: the score, the terms that raised and lowered it, the chat's votes that weigh most."""
    if not explanation.trained:
        return (
            "Not enough votes yet: the order is the listing's; it learns once this chat has liked"
            f" {MIN_LIKED} and disliked {MIN_DISLIKED} papers (now: {explanation.liked} liked,"
            f" {explanation.disliked} disliked)."
        )
    lines = [
        f"{clip(paper.title, 120)} ({paper.arxiv_id}): score {explanation.score:.2f}, how likely this chat"
        f" likes it (learned from {explanation.liked} liked and {explanation.disliked} disliked papers)."
    ]
    if explanation.raised:
        raised = ", ".join(
            f"{term.term} (+{abs(term.weight):.2f})" for term in explanation.raised[:WHY_TERMS]
        )
        lines.append(f"Raised by: {raised}")
    if explanation.lowered:
        lowered = ", ".join(
            f"{term.term} (−{abs(term.weight):.2f})" for term in explanation.lowered[:WHY_TERMS]
        )
        lines.append(f"Lowered by: {lowered}")
    if explanation.votes:
        votes = "; ".join(
            f"{'👍' if weighted.voted.tally.net > 0 else '👎'} {clip(weighted.voted.paper.title, 60)}"
            for weighted in explanation.votes[:WHY_VOTES]
        )
        lines.append(f"Votes that weigh most: {votes}")
    return "\n".join(lines)


class PaperCommands:
    """/saved, /export and /why."""

    def __init__(self, editor: ChannelEditor, views: ViewService, ranker: Ranker | None) -> None:
        self._editor = editor
        self._views = views
        self._ranker = ranker

    async def saved(self, context: CommandContext) -> CommandReply:
        """The asker's bookmarks, newest first, privately."""
        if context.user_id is None:
            return CommandReply(NO_USER, ok=False)
        bookmarks = await self._editor.store.bookmarks(context.platform, context.user_id)
        if not bookmarks:
            return CommandReply(NO_BOOKMARKS)  # one line where asked: nothing private in it
        return CommandReply(
            saved_text(bookmarks, context.syntax),
            private=True,
            private_notice="🔖 I sent you your bookmarks privately.",
        )

    async def export(self, context: CommandContext, command: Export) -> CommandReply:
        """A citation file: the asker's bookmarks (privately), or the chat's latest digest."""
        name, suffix = _FORMAT_NAMES[command.format], _SUFFIXES[command.format]
        if command.scope == "saved":
            if context.user_id is None:
                return CommandReply(NO_USER, ok=False)
            bookmarks = await self._editor.store.bookmarks(context.platform, context.user_id)
            if not bookmarks:
                return CommandReply(NO_BOOKMARKS)
            papers: Sequence[Paper] = [bookmark.paper for bookmark in bookmarks]
            return CommandReply(
                f"🔖 Your {plural(len(papers), 'bookmark')} as {name}, {_IMPORT_HINTS[command.format]}.",
                document=citation_file(papers, command.format),
                document_name=f"arxiv-bookmarks-{self._editor.today().isoformat()}{suffix}",
                private=True,
                private_notice=f"🔖 I sent you your bookmarks as {name} privately.",
            )
        found = await self._latest_digest(context)
        if isinstance(found, CommandReply):
            return found
        date, papers = found
        return CommandReply(
            f"The digest of {day(date)}: {plural(len(papers), 'paper')} as {name},"
            f" {_IMPORT_HINTS[command.format]}.",
            document=citation_file(papers, command.format),
            document_name=f"arxiv-digest-{date.isoformat()}{suffix}",
        )

    async def _latest_digest(self, context: CommandContext) -> tuple[dt.date, list[Paper]] | CommandReply:
        """The papers of the chat's digest of the newest announcement: its daily view's, in the order
        the chat saw them, or (none sent yet) the digest of its filters; a one-line reply when none."""
        store = self._editor.store
        announcement = await store.latest_announcement()
        if announcement is None:
            return CommandReply("No announcement stored yet; I check arXiv regularly.", ok=False)
        channel = await store.get_channel(context.platform, context.chat_id)
        if channel is not None:
            stored = await self._views.stored_daily(channel, announcement.date)
            if stored is not None and stored.papers:
                return announcement.date, list(stored.papers)
        topics = tuple(topic for topic in (channel.topics if channel else ()) if topic.keywords)
        if not topics:
            subscribe = usage(context.syntax, "subscribe", "WORDS", keywords="WORDS")
            return CommandReply(f"No keywords yet, so no digest to export: {subscribe}.", ok=False)
        digest = build_digest(announcement, topics, self._editor.default_categories)
        if not digest.matched_count:
            return CommandReply(
                f"No paper of {day(announcement.date)} matches this chat's keywords: nothing to export.",
                ok=False,
            )
        return announcement.date, list(digest.papers)

    async def why(self, context: CommandContext, command: Why) -> CommandReply:
        """Why the paper ranks where it does for this chat."""
        example = usage(context.syntax, "why", "2511.07738", paper="2511.07738")
        if not command.paper:
            return CommandReply(f"Which paper? e.g. {example}", ok=False)
        parsed = split_arxiv_id(command.paper)
        if parsed is None:
            return CommandReply(
                f"{clip(command.paper, 40)!r} is not an arXiv id: e.g. {example} (a link works too).",
                ok=False,
            )
        arxiv_id = parsed[0]
        channel = await self._editor.load(context)
        if self._ranker is None:
            return CommandReply(RANKING_OFF_HERE)
        paper = await self._recent_paper(arxiv_id)
        if paper is None:
            return CommandReply(
                f"{arxiv_id} is not in the announcements of the last {WHY_DAYS} days I keep.", ok=False
            )
        explanation = await self._ranker.explain(context.platform, context.chat_id, paper)
        text = explanation_text(paper, explanation)
        if not channel.ranking:
            text += "\n" + _ranking_off_in_chat(context.syntax, channel)
        return CommandReply(text)

    async def _recent_paper(self, arxiv_id: str) -> Paper | None:
        """The paper as the newest stored announcement of the last WHY_DAYS days has it."""
        store = self._editor.store
        since = self._editor.today() - dt.timedelta(days=WHY_DAYS)
        for date in reversed(await store.announcement_dates(since)):
            papers = await store.get_papers(date, [arxiv_id])
            if papers:
                return papers[0]
        return None


def _ranking_off_in_chat(syntax: CommandSyntax, channel: Channel) -> str:
    """The note under /why in a chat that switched its learned order off."""
    turn_on = usage(syntax, "settings", "ranking on", ranking="on")
    return f"This chat's digests use the listing's order, not this one ({turn_on} switches it on)."
