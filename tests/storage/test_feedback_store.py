"""The SQLite store's feedback against real files: votes, vote versions, bookmarks, recent papers, V5."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib

import pytest

from bot.models import AnnounceType, Bookmark, Vote, VotedPaper, VoteTally
from storage.migrations import load_migrations
from storage.sqlite_store import SqliteStore, open_store
from tests.builders import DAY, SettableClock, make_announcement, make_channel, make_paper
from tests.storage.conftest import Peek, raw, rows

pytestmark = pytest.mark.both_engines

AT = dt.datetime(2025, 11, 27, 9, 0, tzinfo=dt.UTC)
OLD_DAY = dt.date(2025, 10, 1)  # older than the prune cutoffs below
CHAT = ("telegram", "-100")


def later(minutes: int) -> dt.datetime:
    """`AT` plus some minutes."""
    return AT + dt.timedelta(minutes=minutes)


async def vote(
    store: SqliteStore,
    user_id: str,
    arxiv_id: str,
    value: Vote | None,
    *,
    chat: tuple[str, str] = CHAT,
    at: dt.datetime = AT,
    date: dt.date = DAY,
) -> None:
    """One member's vote in a chat (the default chat unless told)."""
    await store.set_vote(chat[0], chat[1], user_id, arxiv_id, date, value, at)


# -- votes ------------------------------------------------------------------------------------------
async def test_a_vote_is_set_replaced_and_removed(store: SqliteStore) -> None:
    """A member's vote is stored, a 👎 replaces their 👍, and None removes it."""
    assert await store.user_vote(*CHAT, "u1", "2511.00003") is None
    await vote(store, "u1", "2511.00003", Vote.UP)
    assert await store.user_vote(*CHAT, "u1", "2511.00003") is Vote.UP
    await vote(store, "u1", "2511.00003", Vote.DOWN, at=later(1))
    assert await store.user_vote(*CHAT, "u1", "2511.00003") is Vote.DOWN
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {"2511.00003": VoteTally(up=0, down=1)}
    await vote(store, "u1", "2511.00003", None, at=later(2))
    assert await store.user_vote(*CHAT, "u1", "2511.00003") is None
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {}


async def test_a_member_has_one_vote_per_paper(store: SqliteStore, peek: Peek) -> None:
    """Voting 👍 twice, or 👍 then 👎, leaves one row and one vote in the tally."""
    await vote(store, "u1", "2511.00003", Vote.UP)
    await vote(store, "u1", "2511.00003", Vote.UP, at=later(1))
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {"2511.00003": VoteTally(up=1, down=0)}
    await vote(store, "u1", "2511.00003", Vote.DOWN, at=later(2))
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {"2511.00003": VoteTally(up=0, down=1)}
    assert await peek("SELECT user_id, arxiv_id, vote FROM votes") == [("u1", "2511.00003", "down")]


async def test_tallies_count_every_member_and_leave_unvoted_papers_out(store: SqliteStore) -> None:
    """Each member's vote counts once; a paper nobody voted on (or asked twice) is not in the answer."""
    await vote(store, "u1", "A", Vote.UP)
    await vote(store, "u2", "A", Vote.UP)
    await vote(store, "u3", "A", Vote.DOWN)
    await vote(store, "u3", "B", Vote.DOWN)
    tallies = await store.vote_tallies(*CHAT, ["A", "B", "C", "A"])
    assert tallies == {"A": VoteTally(up=2, down=1), "B": VoteTally(up=0, down=1)}
    assert tallies["A"].net == 1


async def test_tallies_of_more_ids_than_one_query_takes(store: SqliteStore) -> None:
    """Asking for more ids than fit in one IN (...) still finds the voted papers in every chunk."""
    ids = [f"p{n:04d}" for n in range(1_200)]
    for arxiv_id in (ids[0], ids[700], ids[-1]):
        await vote(store, "u1", arxiv_id, Vote.UP)
    assert set(await store.vote_tallies(*CHAT, ids)) == {ids[0], ids[700], ids[-1]}


async def test_the_vote_version_grows_with_every_change_only(store: SqliteStore) -> None:
    """A new vote, a replaced one and a removal each bump the chat's version; a no-op does not."""
    assert await store.vote_version(*CHAT) == 0
    await vote(store, "u1", "A", Vote.UP)
    assert await store.vote_version(*CHAT) == 1
    await vote(store, "u1", "A", Vote.DOWN)
    assert await store.vote_version(*CHAT) == 2
    await vote(store, "u2", "A", Vote.UP)
    assert await store.vote_version(*CHAT) == 3
    await vote(store, "u1", "A", None)
    assert await store.vote_version(*CHAT) == 4
    await vote(store, "u1", "A", None)  # nothing to remove
    await vote(store, "u2", "A", Vote.UP)  # the vote it already is
    assert await store.vote_version(*CHAT) == 4
    assert await store.vote_version("telegram", "-200") == 0


async def test_another_chats_votes_never_count(store: SqliteStore) -> None:
    """Votes in one chat (or the same chat id on another platform) are invisible to every other chat."""
    await store.save_announcement(make_announcement())
    await vote(store, "u1", "2511.00003", Vote.UP, chat=("telegram", "-200"))
    await vote(store, "u1", "2511.00003", Vote.DOWN, chat=("discord", "-100"))
    await vote(store, "u2", "2511.00003", Vote.UP)
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {"2511.00003": VoteTally(up=1, down=0)}
    assert await store.user_vote(*CHAT, "u1", "2511.00003") is None
    assert [voted.tally for voted in await store.chat_votes(*CHAT)] == [VoteTally(up=1, down=0)]
    assert await store.vote_version(*CHAT) == 1
    assert await store.chat_votes("telegram", "-300") == []


async def test_chat_votes_lists_each_voted_paper_with_its_tally_oldest_first(store: SqliteStore) -> None:
    """Every voted paper comes back whole, as announced, with its tally and last vote (UTC), oldest first."""
    announcement = make_announcement()
    await store.save_announcement(announcement)
    papers = {paper.arxiv_id: paper for paper in announcement.papers}
    berlin = dt.timezone(dt.timedelta(hours=1))
    await vote(store, "u1", "2511.00001", Vote.UP, at=later(5))
    await vote(store, "u2", "2511.00001", Vote.DOWN, at=later(1))  # net zero: still listed
    await vote(store, "u1", "2510.09999", Vote.DOWN, at=later(3).astimezone(berlin))
    await vote(store, "u1", "2511.00003", Vote.UP, at=later(0))
    await vote(store, "u1", "2511.00003", None, at=later(9))  # its only vote is gone: not listed
    assert await store.chat_votes(*CHAT) == [
        VotedPaper(papers["2510.09999"], VoteTally(up=0, down=1), later(3)),
        VotedPaper(papers["2511.00001"], VoteTally(up=1, down=1), later(5)),
    ]
    voted = await store.chat_votes(*CHAT)
    assert voted[1].paper.announce_type is AnnounceType.CROSS
    assert voted[0].last_voted_at.utcoffset() == dt.timedelta(0)


async def test_a_vote_whose_paper_row_is_gone_is_left_out(store: SqliteStore) -> None:
    """chat_votes lists only papers the store still holds; the vote itself still counts in tallies."""
    await store.save_announcement(make_announcement())
    await vote(store, "u1", "no-such-paper", Vote.UP)
    await vote(store, "u1", "2511.00003", Vote.UP, at=later(1))
    assert [voted.paper.arxiv_id for voted in await store.chat_votes(*CHAT)] == ["2511.00003"]
    assert await store.vote_tallies(*CHAT, ["no-such-paper"]) == {"no-such-paper": VoteTally(up=1)}


async def test_voting_chats_are_those_with_a_vote_left(store: SqliteStore) -> None:
    """Chats with at least one vote row are listed once each; a chat whose votes were all removed is not."""
    await vote(store, "u1", "A", Vote.UP, chat=("telegram", "1"))
    await vote(store, "u2", "B", Vote.DOWN, chat=("telegram", "1"))
    await vote(store, "u1", "A", Vote.UP, chat=("discord", "1"))
    await vote(store, "u1", "A", Vote.UP, chat=("telegram", "2"))
    await vote(store, "u1", "A", None, chat=("telegram", "2"))
    assert await store.voting_chats() == [("discord", "1"), ("telegram", "1")]


# -- bookmarks --------------------------------------------------------------------------------------
async def test_a_bookmark_toggles(store: SqliteStore) -> None:
    """The first press saves the paper, the second unsaves it, a third saves it again."""
    await store.save_announcement(make_announcement())
    assert await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, AT) is True
    assert [b.paper.arxiv_id for b in await store.bookmarks("telegram", "u1")] == ["2511.00003"]
    assert await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, later(1)) is False
    assert await store.bookmarks("telegram", "u1") == []
    assert await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, later(2)) is True
    assert [b.saved_at for b in await store.bookmarks("telegram", "u1")] == [later(2)]


async def test_bookmarks_are_per_user_and_newest_first(store: SqliteStore) -> None:
    """A user sees only their own bookmarks on that platform, newest first (same second: last saved first)"""
    announcement = make_announcement()
    await store.save_announcement(announcement)
    papers = {paper.arxiv_id: paper for paper in announcement.papers}
    await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, later(1))
    await store.toggle_bookmark("telegram", "u1", "2510.09999", DAY, later(7))
    await store.toggle_bookmark("telegram", "u1", "2511.00001", DAY, later(7))
    await store.toggle_bookmark("telegram", "u2", "2511.00003", DAY, later(3))
    await store.toggle_bookmark("discord", "u1", "2511.00001", DAY, later(4))
    assert await store.bookmarks("telegram", "u1") == [
        Bookmark(papers["2511.00001"], later(7), DAY),
        Bookmark(papers["2510.09999"], later(7), DAY),
        Bookmark(papers["2511.00003"], later(1), DAY),
    ]
    assert [b.paper.arxiv_id for b in await store.bookmarks("telegram", "u2")] == ["2511.00003"]
    assert [b.paper.arxiv_id for b in await store.bookmarks("discord", "u1")] == ["2511.00001"]
    assert await store.bookmarks("discord", "u2") == []


# -- pruning ----------------------------------------------------------------------------------------
async def test_prune_keeps_voted_and_bookmarked_papers_and_drops_the_rest(
    store: SqliteStore, peek: Peek
) -> None:
    """After their announcement is pruned, voted and saved papers remain (announced as new); others go."""
    old = make_announcement(
        OLD_DAY,
        (
            make_paper("voted", version=2, announce_type=AnnounceType.REPLACE),
            make_paper("saved", announce_type=AnnounceType.CROSS),
            make_paper("unvoted-again"),
            make_paper("neither"),
        ),
    )
    await store.save_announcement(old)
    await vote(store, "u1", "voted", Vote.UP, date=OLD_DAY)
    await vote(store, "u1", "unvoted-again", Vote.DOWN, date=OLD_DAY)
    await vote(store, "u1", "unvoted-again", None, date=OLD_DAY)
    await store.toggle_bookmark("telegram", "u1", "saved", OLD_DAY, AT)
    # While the announcement is stored, both read as it listed them.
    assert [v.paper.announce_type for v in await store.chat_votes(*CHAT)] == [AnnounceType.REPLACE]
    assert await store.prune_announcements(dt.date(2025, 11, 1)) == 1
    assert await peek("SELECT arxiv_id FROM papers ORDER BY arxiv_id") == [("saved",), ("voted",)]
    [voted] = await store.chat_votes(*CHAT)
    assert voted.paper == dataclasses.replace(old.papers[0], announce_type=AnnounceType.NEW)
    assert voted.tally == VoteTally(up=1)
    assert await store.bookmarks("telegram", "u1") == [
        Bookmark(dataclasses.replace(old.papers[1], announce_type=AnnounceType.NEW), AT, OLD_DAY)
    ]


async def test_prune_drops_a_paper_once_its_last_vote_and_bookmark_are_gone(
    store: SqliteStore, peek: Peek
) -> None:
    """A kept paper goes with the next prune after its vote is removed and its bookmark unsaved."""
    await store.save_announcement(make_announcement(OLD_DAY, (make_paper("kept-a-while"),)))
    await vote(store, "u1", "kept-a-while", Vote.UP, date=OLD_DAY)
    await store.toggle_bookmark("telegram", "u2", "kept-a-while", OLD_DAY, AT)
    await store.prune_announcements(dt.date(2025, 11, 1))
    assert await peek("SELECT arxiv_id FROM papers") == [("kept-a-while",)]
    await vote(store, "u1", "kept-a-while", None, date=OLD_DAY)
    await store.prune_announcements(dt.date(2025, 11, 1))
    assert await peek("SELECT arxiv_id FROM papers") == [("kept-a-while",)]  # still bookmarked
    await store.toggle_bookmark("telegram", "u2", "kept-a-while", OLD_DAY, AT)
    await store.prune_announcements(dt.date(2025, 11, 1))
    assert await peek("SELECT arxiv_id FROM papers") == []


# -- a chat that moved ------------------------------------------------------------------------------
async def test_move_channel_re_keys_the_chats_votes_and_version(store: SqliteStore) -> None:
    """A group upgraded to a supergroup keeps its votes and a version above the old one; bookmarks stay."""
    await store.save_announcement(make_announcement())
    await store.save_channel(make_channel("-100"))
    await vote(store, "u1", "2511.00003", Vote.UP)
    await vote(store, "u2", "2511.00003", Vote.DOWN)
    await vote(store, "u1", "2511.00001", Vote.UP, chat=("telegram", "-500"))  # another chat: untouched
    await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, AT)
    old_version = await store.vote_version(*CHAT)
    await store.move_channel("telegram", "-100", "-1009999")
    assert await store.vote_tallies("telegram", "-1009999", ["2511.00003"]) == {
        "2511.00003": VoteTally(up=1, down=1)
    }
    assert await store.user_vote("telegram", "-1009999", "u2", "2511.00003") is Vote.DOWN
    assert await store.vote_tallies(*CHAT, ["2511.00003"]) == {}
    assert await store.vote_version("telegram", "-1009999") > old_version
    assert await store.vote_version(*CHAT) == 0
    assert await store.voting_chats() == [("telegram", "-1009999"), ("telegram", "-500")]
    assert [b.paper.arxiv_id for b in await store.bookmarks("telegram", "u1")] == ["2511.00003"]


async def test_a_chats_votes_move_even_without_a_stored_channel(store: SqliteStore) -> None:
    """A chat that only voted on on-demand digests (no subscription) still takes its votes along."""
    await vote(store, "u1", "A", Vote.UP)
    assert await store.move_channel("telegram", "-100", "-1009999") is None
    assert await store.vote_tallies("telegram", "-1009999", ["A"]) == {"A": VoteTally(up=1)}
    assert await store.vote_version("telegram", "-1009999") == 2


async def test_moving_onto_a_chat_with_votes_keeps_each_members_newer_vote(store: SqliteStore) -> None:
    """Where a member voted on a paper under both ids the newer vote stays; the version passes both."""
    target = ("telegram", "-1009999")
    await vote(store, "u1", "A", Vote.UP, at=later(5))  # newer than its vote on the target
    await vote(store, "u1", "A", Vote.DOWN, chat=target, at=later(1))
    await vote(store, "u2", "A", Vote.UP, at=later(1))
    await vote(store, "u2", "A", Vote.DOWN, chat=target, at=later(5))  # newer than its vote here
    await vote(store, "u3", "B", Vote.UP, chat=target)
    await vote(store, "u3", "B", Vote.DOWN, chat=target)
    await vote(store, "u3", "B", Vote.UP, chat=target)  # the target's version is 5, the moved one's 2
    await store.move_channel("telegram", "-100", "-1009999")
    assert await store.user_vote(*target, "u1", "A") is Vote.UP
    assert await store.user_vote(*target, "u2", "A") is Vote.DOWN
    assert await store.vote_tallies(*target, ["A", "B"]) == {"A": VoteTally(1, 1), "B": VoteTally(1, 0)}
    assert await store.vote_version(*target) == 6


# -- recent papers ----------------------------------------------------------------------------------
async def test_recent_papers_are_newest_first_each_once_and_limited(store: SqliteStore) -> None:
    """Papers of announcements since a date: newest day first, feed order, each once as last listed."""
    monday, tuesday, wednesday = dt.date(2025, 11, 24), dt.date(2025, 11, 25), DAY
    await store.save_announcement(make_announcement(monday, (make_paper("too-old"),)))
    await store.save_announcement(make_announcement(tuesday, (make_paper("t1"), make_paper("again"))))
    replaced = make_paper("again", version=2, announce_type=AnnounceType.REPLACE)
    await store.save_announcement(
        make_announcement(wednesday, (make_paper("w1"), replaced, make_paper("w3")))
    )
    recent = await store.recent_papers(tuesday, 10)
    assert [paper.arxiv_id for paper in recent] == ["w1", "again", "w3", "t1"]
    assert recent[1] == replaced
    assert [paper.arxiv_id for paper in await store.recent_papers(tuesday, 2)] == ["w1", "again"]
    assert [paper.arxiv_id for paper in await store.recent_papers(monday, 10)][-1] == "too-old"
    assert await store.recent_papers(tuesday, 0) == []
    assert await store.recent_papers(DAY + dt.timedelta(days=1), 10) == []


# -- channels.ranking -------------------------------------------------------------------------------
async def test_a_channels_ranking_setting_round_trips(store: SqliteStore) -> None:
    """Ranking is on for a new channel; switched off it stays off when read back, listed, and saved again."""
    first = await store.save_channel(make_channel("-100"))
    assert first.ranking is True
    off = await store.save_channel(dataclasses.replace(first, ranking=False))
    assert off.ranking is False
    assert await store.get_channel(*CHAT) == off
    assert [channel.ranking for channel in await store.list_channels()] == [False]
    assert (await store.save_channel(dataclasses.replace(off, ranking=True))).ranking is True


# -- the file -------------------------------------------------------------------------------------
async def test_a_version_4_database_gains_votes_bookmarks_and_ranking_on(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """Upgrading a file made before V5 keeps its channels (ranking on) and its papers, and takes votes."""
    before_v5 = [migration for migration in load_migrations() if migration.version < 5]
    async with await open_store(db_path, clock=clock, migrations=before_v5) as old:
        await old.save_announcement(make_announcement())
    with raw(db_path) as db:
        db.execute(
            "INSERT INTO channels (platform, chat_id, timezone, active, notify_empty, created_at, updated_at,"
            " style) VALUES ('telegram', '-100', 'UTC', 1, 1, 'x', 'x', 'full')"
        )
    assert "votes" not in {name for (name,) in rows(db_path, "SELECT name FROM sqlite_master")}
    async with await open_store(db_path, clock=clock) as store:
        channel = await store.get_channel(*CHAT)
        assert channel is not None
        assert (channel.ranking, channel.style.value) == (True, "full")
        await vote(store, "u1", "2511.00003", Vote.UP)
        assert [voted.paper.arxiv_id for voted in await store.chat_votes(*CHAT)] == ["2511.00003"]
        assert await store.toggle_bookmark("telegram", "u1", "2511.00003", DAY, AT) is True
    assert rows(db_path, "SELECT version, name FROM schema_migrations WHERE version = 5") == [
        (5, "votes_and_bookmarks")
    ]


async def test_votes_and_bookmarks_survive_closing_and_reopening(
    db_path: pathlib.Path, clock: SettableClock
) -> None:
    """Votes, the vote version, bookmarks and the ranking setting are all still there after a restart."""
    async with await open_store(db_path, clock=clock) as store:
        await store.save_announcement(make_announcement())
        await store.save_channel(make_channel("-100", ranking=False))
        await vote(store, "u1", "2511.00003", Vote.UP)
        await vote(store, "u2", "2511.00003", Vote.DOWN, at=later(2))
        await store.toggle_bookmark("telegram", "u1", "2511.00001", DAY, AT)
        votes_before = await store.chat_votes(*CHAT)
    async with await open_store(db_path, clock=clock) as store:
        assert await store.chat_votes(*CHAT) == votes_before
        assert votes_before[0].tally == VoteTally(up=1, down=1)
        assert votes_before[0].last_voted_at == later(2)
        assert await store.user_vote(*CHAT, "u1", "2511.00003") is Vote.UP
        assert await store.vote_version(*CHAT) == 2
        assert await store.voting_chats() == [CHAT]
        assert [b.paper.arxiv_id for b in await store.bookmarks("telegram", "u1")] == ["2511.00001"]
        assert await store.get_channel(*CHAT) == dataclasses.replace(
            make_channel("-100", ranking=False), id=1
        )
