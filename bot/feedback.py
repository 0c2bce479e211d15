"""Feedback: 👍/👎 per chat, member and paper, and 🔖 bookmarks per user.

A press names a view and a paper's index in it (`bot.views.FeedbackPress`); `FeedbackService.press`
looks the paper up in the view the press came from, records the press and says what to answer. In a
group every member's vote counts, one vote per member and paper: pressing the same vote again undoes
it, the other vote replaces it. A bookmark belongs to the user who pressed it, whatever chat the press
came from; `/saved` lists them privately.

The learned order itself is `bot.ranking`'s (it imports numpy), behind `bot.ports.Ranker`: with
ranking switched off by the operator nothing of it is imported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from bot.clock import Clock, utc_now
from bot.models import Bookmark, LoadedView, Vote, VoteTally
from bot.ports import Store
from bot.views import FeedbackAction, FeedbackPress

log = logging.getLogger(__name__)

# The learned order starts once a chat has this many papers it liked and this many it did not.
MIN_LIKED = 3
MIN_DISLIKED = 3

_VOTE_OF = {FeedbackAction.UP: Vote.UP, FeedbackAction.DOWN: Vote.DOWN}
_SIGN = {Vote.UP: "👍", Vote.DOWN: "👎"}
VOTES_OFF = "Votes are switched off on this bot; 🔖 still saves papers for you."
PAPER_GONE = "This paper is no longer in this digest."


# -- presses ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    """What a feedback press did: the answer to show the presser, and whether the page's counts changed."""

    answer: str
    changed_page: bool = False  # the chat's tallies changed: re-render the page
    alert: bool = False  # the answer is a refusal (shown as an alert where the platform has them)


class FeedbackService:
    """Records votes and bookmarks (the ranker sees new votes through the chat's vote version)."""

    def __init__(
        self,
        store: Store,
        *,
        votes: bool = True,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self.votes = votes  # the operator's RANKING: off, and 👍/👎 are neither offered nor taken
        # One member's presses on one paper, one at a time: a double tap is "set, then undo", never
        # two reads of the same old vote (presses of a chat are otherwise handled concurrently).
        self._pressing: dict[tuple[str, str, str, str], tuple[asyncio.Lock, list[int]]] = {}

    async def press(self, loaded: LoadedView, press: FeedbackPress, user_id: str) -> FeedbackOutcome:
        """Apply a 👍/👎/🔖 press on a paper of `loaded` (the view the press came from) by `user_id`."""
        view = loaded.view
        if press.index >= len(view.entries):
            return FeedbackOutcome(PAPER_GONE, alert=True)
        arxiv_id = view.entries[press.index].arxiv_id
        if press.action is FeedbackAction.BOOKMARK:
            saved = await self.toggle_bookmark(view.platform, user_id, arxiv_id, view.announcement_date)
            if saved:
                return FeedbackOutcome(f"🔖 Saved {arxiv_id} for you: /saved lists your bookmarks.")
            return FeedbackOutcome(f"🔖 Removed {arxiv_id} from your bookmarks.")
        if not self.votes:
            return FeedbackOutcome(VOTES_OFF, alert=True)
        vote = _VOTE_OF[press.action]
        now, tally = await self.vote(
            view.platform, view.chat_id, user_id, arxiv_id, view.announcement_date, vote
        )
        counts = f"{tally.up} 👍 · {tally.down} 👎 in this chat"
        if now is None:
            return FeedbackOutcome(
                f"Your {_SIGN[vote]} on {arxiv_id} is undone ({counts}).", changed_page=True
            )
        return FeedbackOutcome(f"{_SIGN[vote]} on {arxiv_id} noted ({counts}).", changed_page=True)

    async def vote(
        self, platform: str, chat_id: str, user_id: str, arxiv_id: str, date: dt.date, vote: Vote
    ) -> tuple[Vote | None, VoteTally]:
        """Toggle the member's vote: the same vote again undoes it, the other replaces it.

        Returns the member's vote now and the paper's new tally in the chat.
        """
        key = (platform, chat_id, user_id, arxiv_id)
        lock, users = self._pressing.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                current = await self._store.user_vote(platform, chat_id, user_id, arxiv_id)
                new = None if current is vote else vote
                await self._store.set_vote(platform, chat_id, user_id, arxiv_id, date, new, self._clock())
        finally:
            users[0] -= 1
            if not users[0]:  # nobody else is pressing it: forget the lock
                self._pressing.pop(key, None)
        tallies = await self._store.vote_tallies(platform, chat_id, [arxiv_id])
        return new, tallies.get(arxiv_id, VoteTally())

    async def toggle_bookmark(self, platform: str, user_id: str, arxiv_id: str, date: dt.date) -> bool:
        """Save the paper for the user, or unsave it; True when it is saved now."""
        return await self._store.toggle_bookmark(platform, user_id, arxiv_id, date, self._clock())

    async def saved(self, platform: str, user_id: str) -> list[Bookmark]:
        """The user's bookmarks, newest first."""
        return await self._store.bookmarks(platform, user_id)
