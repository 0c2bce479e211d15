"""The store's feedback: 👍/👎 per chat, member and paper, each chat's vote version, 🔖 per user.

A vote or a bookmark names its paper by arXiv id and the announcement it came from. The paper comes
back as that announcement listed it (version, announce type) while the announcement is stored; once it
is pruned, as the `papers` row has it, announced as new. Pruning keeps every paper a vote or a
bookmark names (`storage.announcements`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from bot.models import Bookmark, Paper, Vote, VotedPaper, VoteTally
from storage.announcements import paper_from_row
from storage.base import Connection, StoreBase, date_text, timestamp

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit

# A changed vote, or a new one; the same vote again changes nothing (rowcount 0: no version bump).
_UPSERT_VOTE = """
INSERT INTO votes (platform, chat_id, user_id, arxiv_id, vote, announcement_date, voted_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (platform, chat_id, user_id, arxiv_id) DO UPDATE SET
    vote = excluded.vote,
    announcement_date = excluded.announcement_date,
    voted_at = excluded.voted_at
WHERE votes.vote <> excluded.vote
"""
_TALLIES = """
SELECT arxiv_id, count(CASE WHEN vote = 'up' THEN 1 END), count(CASE WHEN vote = 'down' THEN 1 END) FROM votes
 WHERE platform = ? AND chat_id = ? AND arxiv_id IN ({marks})
 GROUP BY arxiv_id
"""
_BUMP_VERSION = """
INSERT INTO vote_versions (platform, chat_id, version) VALUES (?, ?, 1)
ON CONFLICT (platform, chat_id) DO UPDATE SET version = vote_versions.version + 1
"""

# The queries below read a paper as announced on the vote's or bookmark's announcement_date while
# that announcement is stored (ap), else as `papers` has it, announced as new.

# Per paper: the chat's counts, its latest vote, and the newest announcement a vote came from.
_CHAT_VOTES = """
SELECT p.arxiv_id, coalesce(ap.version, p.version) AS version, p.title, p.abstract, p.authors,
       p.categories, coalesce(ap.announce_type, 'new') AS announce_type, p.doi, p.journal_ref,
       t.up, t.down, t.last_voted_at
  FROM (SELECT arxiv_id, count(CASE WHEN vote = 'up' THEN 1 END) AS up,
               count(CASE WHEN vote = 'down' THEN 1 END) AS down,
               max(voted_at) AS last_voted_at, max(announcement_date) AS announcement_date
          FROM votes WHERE platform = ? AND chat_id = ? GROUP BY arxiv_id) AS t
  JOIN papers AS p ON p.arxiv_id = t.arxiv_id
  LEFT JOIN announcement_papers AS ap
         ON ap.announcement_date = t.announcement_date AND ap.arxiv_id = t.arxiv_id
 ORDER BY t.last_voted_at, t.arxiv_id
"""

_BOOKMARKS = """
SELECT p.arxiv_id, coalesce(ap.version, p.version) AS version, p.title, p.abstract, p.authors,
       p.categories, coalesce(ap.announce_type, 'new') AS announce_type, p.doi, p.journal_ref,
       b.saved_at, b.announcement_date AS saved_from
  FROM bookmarks AS b
  JOIN papers AS p ON p.arxiv_id = b.arxiv_id
  LEFT JOIN announcement_papers AS ap
         ON ap.announcement_date = b.announcement_date AND ap.arxiv_id = b.arxiv_id
 WHERE b.platform = ? AND b.user_id = ?
 ORDER BY b.saved_at DESC, b.rowid DESC
"""

# Each paper once, from the newest announcement that lists it; newest announcement first, feed order.
_RECENT_PAPERS = """
SELECT p.arxiv_id, ap.version, p.title, p.abstract, p.authors, p.categories, ap.announce_type,
       p.doi, p.journal_ref
  FROM announcement_papers AS ap JOIN papers AS p ON p.arxiv_id = ap.arxiv_id
 WHERE ap.announcement_date >= ?
   AND NOT EXISTS (SELECT 1 FROM announcement_papers AS newer
                    WHERE newer.arxiv_id = ap.arxiv_id AND newer.announcement_date > ap.announcement_date)
 ORDER BY ap.announcement_date DESC, ap.position
 LIMIT ?
"""


def _moment(text: str) -> dt.datetime:
    """A stored timestamp back as an aware datetime (`timestamp` writes them in UTC, offset included)."""
    return dt.datetime.fromisoformat(text)


class FeedbackSection(StoreBase):
    """Votes, vote versions and bookmarks."""

    async def set_vote(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        arxiv_id: str,
        announcement_date: dt.date,
        vote: Vote | None,
        at: dt.datetime,
    ) -> None:
        """Set (or, with None, remove) one member's vote on a paper in a chat; bump the chat's vote version.

        The version grows in the same transaction, and only when the chat's votes changed: the same
        vote again, or removing a vote that is not there, leaves both alone.
        """
        async with self._write() as db:
            if vote is None:
                changed = await db.execute(
                    "DELETE FROM votes WHERE platform = ? AND chat_id = ? AND user_id = ? AND arxiv_id = ?",
                    (platform, chat_id, user_id, arxiv_id),
                )
            else:
                changed = await db.execute(
                    _UPSERT_VOTE,
                    (
                        platform,
                        chat_id,
                        user_id,
                        arxiv_id,
                        vote.value,
                        date_text(announcement_date),
                        timestamp(at),
                    ),
                )
            if changed > 0:
                await db.execute(_BUMP_VERSION, (platform, chat_id))

    async def user_vote(self, platform: str, chat_id: str, user_id: str, arxiv_id: str) -> Vote | None:
        """The member's current vote on the paper in that chat, if any."""
        async with self._read() as db:
            rows = list(
                await db.fetchall(
                    "SELECT vote FROM votes"
                    " WHERE platform = ? AND chat_id = ? AND user_id = ? AND arxiv_id = ?",
                    (platform, chat_id, user_id, arxiv_id),
                )
            )
        return Vote(rows[0][0]) if rows else None

    async def vote_tallies(
        self, platform: str, chat_id: str, arxiv_ids: Sequence[str]
    ) -> dict[str, VoteTally]:
        """The chat's tallies of these papers (every member's vote counts once); unvoted papers left out."""
        wanted = list(dict.fromkeys(arxiv_ids))
        tallies: dict[str, VoteTally] = {}
        async with self._read() as db:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))  # only placeholders are formatted in, never values
                rows = await db.fetchall(_TALLIES.format(marks=marks), (platform, chat_id, *chunk))
                for arxiv_id, up, down in rows:
                    tallies[str(arxiv_id)] = VoteTally(up=int(up), down=int(down))
        return tallies

    async def chat_votes(self, platform: str, chat_id: str) -> list[VotedPaper]:
        """Every paper the chat has votes on (net zero included), with its tally, oldest latest vote first.

        A paper whose row is gone (it should not be: pruning keeps voted papers) is left out.
        """
        async with self._read() as db:
            rows = await db.fetchall(_CHAT_VOTES, (platform, chat_id))
        return [
            VotedPaper(
                paper=paper_from_row(row),
                tally=VoteTally(up=int(row["up"]), down=int(row["down"])),
                last_voted_at=_moment(row["last_voted_at"]),
            )
            for row in rows
        ]

    async def vote_version(self, platform: str, chat_id: str) -> int:
        """A number that grows with every change of the chat's votes; 0 before the first."""
        async with self._read() as db:
            rows = list(
                await db.fetchall(
                    "SELECT version FROM vote_versions WHERE platform = ? AND chat_id = ?",
                    (platform, chat_id),
                )
            )
        return int(rows[0][0]) if rows else 0

    async def voting_chats(self) -> list[tuple[str, str]]:
        """Every (platform, chat_id) with at least one vote, in key order."""
        async with self._read() as db:
            rows = await db.fetchall(
                "SELECT DISTINCT platform, chat_id FROM votes ORDER BY platform, chat_id"
            )
        return [(str(platform), str(chat_id)) for platform, chat_id in rows]

    async def toggle_bookmark(
        self, platform: str, user_id: str, arxiv_id: str, announcement_date: dt.date, at: dt.datetime
    ) -> bool:
        """Save the paper for the user, or unsave it if saved; True when it is saved now."""
        async with self._write() as db:
            changed = await db.execute(
                "DELETE FROM bookmarks WHERE platform = ? AND user_id = ? AND arxiv_id = ?",
                (platform, user_id, arxiv_id),
            )
            if changed > 0:
                return False
            await db.execute(
                "INSERT INTO bookmarks (platform, user_id, arxiv_id, announcement_date, saved_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (platform, user_id, arxiv_id, date_text(announcement_date), timestamp(at)),
            )
        return True

    async def bookmarks(self, platform: str, user_id: str) -> list[Bookmark]:
        """The user's bookmarks, newest first (a paper whose row is somehow gone is left out)."""
        async with self._read() as db:
            rows = await db.fetchall(_BOOKMARKS, (platform, user_id))
        return [
            Bookmark(
                paper=paper_from_row(row),
                saved_at=_moment(row["saved_at"]),
                announcement_date=dt.date.fromisoformat(row["saved_from"]),
            )
            for row in rows
        ]

    async def recent_papers(self, since: dt.date, limit: int) -> list[Paper]:
        """Up to `limit` papers of the announcements on or after `since`, newest announcement first.

        Each paper once, as the newest of those announcements lists it.
        """
        if limit <= 0:  # SQLite reads a negative LIMIT as none
            return []
        async with self._read() as db:
            rows = await db.fetchall(_RECENT_PAPERS, (date_text(since), limit))
        return [paper_from_row(row) for row in rows]


# A member who voted on a paper under both chat ids keeps the newer vote (the moved chat's on a tie).
_DROP_OLDER_TARGET_VOTES = """
DELETE FROM votes
 WHERE platform = ? AND chat_id = ?
   AND EXISTS (SELECT 1 FROM votes AS moved
                WHERE moved.platform = votes.platform AND moved.chat_id = ?
                  AND moved.user_id = votes.user_id AND moved.arxiv_id = votes.arxiv_id
                  AND moved.voted_at >= votes.voted_at)
"""


async def move_votes(db: Connection, platform: str, old_chat_id: str, new_chat_id: str) -> None:
    """Re-key a chat's votes and vote version to its new chat id, inside the caller's transaction.

    Where both ids hold a member's vote on one paper, the newer stays. The new id's version ends
    above both, so a model cached under it is seen as stale.
    """
    await db.execute(_DROP_OLDER_TARGET_VOTES, (platform, new_chat_id, old_chat_id))
    await db.execute(
        "UPDATE votes SET chat_id = ? WHERE platform = ? AND chat_id = ?"
        " AND NOT EXISTS (SELECT 1 FROM votes AS kept WHERE kept.platform = votes.platform"
        "  AND kept.chat_id = ? AND kept.user_id = votes.user_id AND kept.arxiv_id = votes.arxiv_id)",
        (new_chat_id, platform, old_chat_id, new_chat_id),
    )
    await db.execute("DELETE FROM votes WHERE platform = ? AND chat_id = ?", (platform, old_chat_id))
    rows = list(
        await db.fetchall(
            "SELECT version FROM vote_versions WHERE platform = ? AND chat_id = ?", (platform, old_chat_id)
        )
    )
    if not rows:
        return
    await db.execute("DELETE FROM vote_versions WHERE platform = ? AND chat_id = ?", (platform, old_chat_id))
    await db.execute(
        "INSERT INTO vote_versions (platform, chat_id, version) VALUES (?, ?, ?)"
        " ON CONFLICT (platform, chat_id)"
        " DO UPDATE SET version = CASE WHEN vote_versions.version + 1 > excluded.version"
        " THEN vote_versions.version + 1 ELSE excluded.version END",
        (platform, new_chat_id, int(rows[0][0]) + 1),
    )
