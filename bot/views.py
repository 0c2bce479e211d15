"""Digest views: a digest stored before its message is sent, so its pages can be turned for days.

A chat's digest is one message showing one page of papers; its buttons carry only the view's id, a
page number and a style (`encode_page`), at most a few dozen bytes, within Telegram's 64-byte
`callback_data` and Discord's 100-character `custom_id`. A press is answered by looking the view up
(`ViewService.load`), which checks that the view belongs to the chat the press came from, and
rendering the asked page again. Nothing about a page is kept in memory, so pages keep working after
a restart, for as long as the view's announcement is kept (views are pruned with it).

Storing the view before the send is also what makes a resumed digest honest: after a crash the
daily view of that chat and date is found again, with the counts and papers it had.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock, utc_now
from bot.matching import Matcher
from bot.models import (
    Channel,
    Digest,
    DigestView,
    LoadedView,
    Paper,
    Style,
    Topic,
    ViewEntry,
    ViewKind,
)
from bot.ports import Ranker, Store

log = logging.getLogger(__name__)

# The same /digest in the same chat within this long points to the message already there.
REPEAT_WINDOW = dt.timedelta(minutes=5)

_STYLE_CODES = {Style.COMPACT: "c", Style.FULL: "f", Style.TITLES: "t"}
_CODE_STYLES = {code: style for style, code in _STYLE_CODES.items()}
MAX_BUTTON_DATA = 64  # Telegram's callback_data limit, in bytes; Discord allows 100 characters


# -- button data ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PagePress:
    """A press that shows page `page` (0-based) of view `view_id` in `style`."""

    view_id: int
    page: int
    style: Style


@dataclass(frozen=True, slots=True)
class FilePress:
    """A press that asks for view `view_id` as a Markdown file."""

    view_id: int


@dataclass(frozen=True, slots=True)
class NoopPress:
    """A press on a label (the "3/4" between the arrows): answered, nothing changes."""


class FeedbackAction(StrEnum):
    """What a feedback button does to its paper."""

    UP = "u"  # 👍 (again: undo)
    DOWN = "d"  # 👎 (again: undo)
    BOOKMARK = "b"  # 🔖 for the presser alone (again: unsave)


@dataclass(frozen=True, slots=True)
class FeedbackPress:
    """A 👍/👎/🔖 on paper `index` (0-based, in the view's entries) of view `view_id`.

    `page` and `style` say what the message showed, so the answer re-renders that page with the new
    counts.
    """

    view_id: int
    index: int
    action: FeedbackAction
    page: int
    style: Style


Press = PagePress | FilePress | NoopPress | FeedbackPress


def encode_page(view_id: int, page: int, style: Style) -> str:
    """Button data for a page: `pg:<view>:<page>:<style code>`, e.g. `pg:1234:2:c`."""
    return f"pg:{view_id}:{page}:{_STYLE_CODES[style]}"


def encode_file(view_id: int) -> str:
    """Button data asking for the view's Markdown file: `fl:<view>`."""
    return f"fl:{view_id}"


def encode_feedback(view_id: int, index: int, action: FeedbackAction, page: int, style: Style) -> str:
    """Button data for a feedback button: `fb:<view>:<paper index>:<u|d|b>:<page>:<style>`, ≤ 40 bytes."""
    return f"fb:{view_id}:{index}:{action.value}:{page}:{_STYLE_CODES[style]}"


def encode_feedback_menu(view_id: int, action: FeedbackAction, page: int, style: Style) -> str:
    """A menu's data (a Discord select): `fm:<view>:<u|d|b>:<page>:<style>`; option values: paper indices."""
    return f"fm:{view_id}:{action.value}:{page}:{_STYLE_CODES[style]}"


def decode_menu_choice(data: str, value: str) -> FeedbackPress | None:
    """What choosing option `value` (a paper index) of menu `data` asks for; None if not this bot's."""
    parts = data.split(":")
    if len(parts) != 5 or parts[0] != "fm" or parts[4] not in _CODE_STYLES:
        return None
    return _feedback(parts[1], value, parts[2], parts[3], parts[4])


def _feedback(view: str, index: str, action: str, page: str, style: str) -> FeedbackPress | None:
    """A FeedbackPress from its data's parts, or None when any part is not one this bot writes."""
    if action not in _ACTIONS or style not in _CODE_STYLES:
        return None
    if not (view.isdigit() and index.isdigit() and page.isdigit()) or max(map(len, (view, index, page))) > 12:
        return None
    view_id = int(view)
    if view_id <= 0:
        return None
    return FeedbackPress(view_id, int(index), _ACTIONS[action], int(page), _CODE_STYLES[style])


_ACTIONS = {action.value: action for action in FeedbackAction}

NOOP_DATA = "noop"


def decode_press(data: str) -> Press | None:
    """What a button's data asks for; None for data this bot never wrote (old or forged)."""
    if data == NOOP_DATA:
        return NoopPress()
    parts = data.split(":")
    try:
        if len(parts) == 4 and parts[0] == "pg" and parts[3] in _CODE_STYLES:
            view_id, page = int(parts[1]), int(parts[2])
            if view_id > 0 and page >= 0:
                return PagePress(view_id, page, _CODE_STYLES[parts[3]])
        if len(parts) == 6 and parts[0] == "fb":
            return _feedback(parts[1], parts[2], parts[3], parts[4], parts[5])
        if len(parts) == 2 and parts[0] == "fl":
            view_id = int(parts[1])
            if view_id > 0:
                return FilePress(view_id)
    except ValueError:
        return None
    return None


# -- building a view --------------------------------------------------------------------------------
def _keywords_that_matched(
    topic: Topic, papers: Sequence[Paper], defaults: Sequence[str]
) -> list[tuple[str, ...]]:
    """For each paper, the topic's keywords that match it on their own (one compiled pass)."""
    singles = [
        Topic(
            name=keyword,
            keywords=(keyword,),
            categories=topic.categories,
            announce_types=topic.announce_types,
        )
        for keyword in topic.keywords
    ]
    hits = Matcher.compile(singles, defaults).match(papers)
    matched: list[list[str]] = [[] for _ in papers]
    for keyword, indices in zip(topic.keywords, hits, strict=True):
        for index in indices:
            matched[index].append(keyword)
    return [tuple(words) for words in matched]


def view_of(
    digest: Digest,
    platform: str,
    chat_id: str,
    default_categories: Sequence[str],
    *,
    style: Style = Style.COMPACT,
    kind: ViewKind = ViewKind.DAILY,
    request_key: str = "",
) -> tuple[DigestView, tuple[Paper, ...]]:
    """The view of a digest (each paper once, under the first topic that matched it), and its papers."""
    entries: list[ViewEntry] = []
    papers: list[Paper] = []
    position: dict[str, int] = {}
    also: dict[str, list[str]] = {}
    for section in digest.topics:
        fresh = [paper for paper in section.papers if paper.arxiv_id not in position]
        fresh = list({paper.arxiv_id: paper for paper in fresh}.values())  # a paper twice in one topic
        for paper in section.papers:
            if paper.arxiv_id in position and section.topic.name not in also[paper.arxiv_id]:
                also[paper.arxiv_id].append(section.topic.name)
        if not fresh:
            continue
        matched = _keywords_that_matched(section.topic, fresh, default_categories)
        for paper, words in zip(fresh, matched, strict=True):
            position[paper.arxiv_id] = len(entries)
            also[paper.arxiv_id] = [section.topic.name]
            entries.append(ViewEntry(paper.arxiv_id, section.topic.name, matched=words))
            papers.append(paper)
    final = tuple(
        ViewEntry(
            entry.arxiv_id,
            entry.topic,
            also_in=tuple(name for name in also[entry.arxiv_id] if name != entry.topic),
            matched=entry.matched,
        )
        for entry in entries
    )
    view = DigestView(
        platform=platform,
        chat_id=chat_id,
        announcement_date=digest.date,
        entries=final,
        announced_count=digest.announced_count,
        topics=tuple(section.topic.name for section in digest.topics),
        style=style,
        kind=kind,
        request_key=request_key,
    )
    return view, tuple(papers)


class ViewService:
    """Stores digest views and finds them again for a press, a resumed digest or a repeated /digest."""

    def __init__(
        self,
        store: Store,
        default_categories: Sequence[str],
        *,
        clock: Clock = utc_now,
        ranker: Ranker | None = None,
        votes: bool = False,
    ) -> None:
        self._store = store
        self._defaults = tuple(default_categories)
        self._clock = clock
        self._ranker = ranker  # None: the operator switched ranking off; the listing's order
        self.votes = votes  # pages offer 👍/👎 (🔖 always)

    async def _ranked(self, platform: str, chat_id: str, digest: Digest, ranked: bool) -> Digest:
        """The digest in the chat's learned order, when there is a ranker and the chat wants it."""
        if self._ranker is None or not ranked:
            return digest
        return await self._ranker.rank(platform, chat_id, digest)

    async def _with_tallies(self, loaded: LoadedView) -> LoadedView:
        """The view with the chat's votes on its papers, and whether its pages offer votes."""
        view = loaded.view
        tallies = (
            await self._store.vote_tallies(view.platform, view.chat_id, view.paper_ids) if self.votes else {}
        )
        return LoadedView(view, loaded.entries, loaded.papers, tallies=tallies, votes=self.votes)

    async def daily(self, channel: Channel, digest: Digest) -> LoadedView:
        """The chat's daily view of this announcement: the stored one (a resumed digest), or a new one.

        One write either way: `save_view` returns the view already stored for the chat and date, if any.
        """
        digest = await self._ranked(channel.platform, channel.chat_id, digest, channel.ranking)
        view, papers = view_of(digest, channel.platform, channel.chat_id, self._defaults, style=channel.style)
        saved = await self._store.save_view(view)
        if saved.entries != view.entries:  # stored before (a resumed digest, or another process): that one
            loaded = await self._loaded(saved)
            if loaded is not None:
                return loaded
        return await self._with_tallies(LoadedView(saved, saved.entries, papers))

    async def on_demand(
        self,
        platform: str,
        chat_id: str,
        digest: Digest,
        *,
        style: Style,
        request_key: str,
        ranked: bool = True,
    ) -> LoadedView:
        """A new view for a /digest answer (in the chat's learned order when `ranked`)."""
        digest = await self._ranked(platform, chat_id, digest, ranked)
        view, papers = view_of(
            digest,
            platform,
            chat_id,
            self._defaults,
            style=style,
            kind=ViewKind.ON_DEMAND,
            request_key=request_key,
        )
        saved = await self._store.save_view(view)
        return await self._with_tallies(LoadedView(saved, saved.entries, papers))

    async def repeated(
        self, platform: str, chat_id: str, date: dt.date, request_key: str
    ) -> DigestView | None:
        """The same /digest answered in this chat within `REPEAT_WINDOW`, if its message was sent."""
        return await self._store.recent_view(
            platform, chat_id, date, request_key, since=self._clock() - REPEAT_WINDOW
        )

    async def stored_daily(self, channel: Channel, date: dt.date) -> LoadedView | None:
        """The chat's stored daily view of that announcement, with its papers; None if there is none."""
        stored = await self._store.daily_view(channel.platform, channel.chat_id, date)
        return None if stored is None else await self._loaded(stored)

    async def followers_sent(self, view: DigestView) -> None:
        """Record that what follows the view's page (the Markdown file) is out too."""
        if view.id is not None:
            await self._store.set_view_followers_sent(view.id)

    async def sent(self, view: DigestView, message_ref: str | None) -> None:
        """Remember where the view's message is (for pointing to it), once it was sent."""
        if view.id is not None and message_ref is not None:
            await self._store.set_view_message(view.id, message_ref)

    async def load(self, view_id: int, platform: str, chat_id: str) -> LoadedView | None:
        """The view a press asks for, with its papers; None when it is gone or another chat's."""
        view = await self._store.get_view(view_id)
        if view is None or view.platform != platform or view.chat_id != chat_id:
            return None
        return await self._loaded(view)

    async def _loaded(self, view: DigestView) -> LoadedView | None:
        """The view with its papers from the store; None when its announcement is gone."""
        papers = await self._store.get_papers(view.announcement_date, view.paper_ids)
        if not papers and view.entries:
            return None
        by_id = {paper.arxiv_id: paper for paper in papers}
        entries = tuple(entry for entry in view.entries if entry.arxiv_id in by_id)
        return await self._with_tallies(
            LoadedView(view, entries, tuple(by_id[entry.arxiv_id] for entry in entries))
        )
