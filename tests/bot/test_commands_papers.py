"""/saved, /export, /why and /settings ranking on the real SQLite store (a small fake Ranker for /why)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from bot.commands.papers import NO_BOOKMARKS, RANKING_OFF_HERE, SAVED_SHOWN
from bot.commands.service import CommandService
from bot.commands.text import parse_command
from bot.commands.values import (
    ChangeSettings,
    CommandError,
    CommandReply,
    CommandRequest,
    Export,
    Saved,
    Why,
    answers_privately,
    changes_chat,
)
from bot.models import Digest, Paper, TopicDigest, VotedPaper, VoteTally
from bot.ports import Explanation, WeightedTerm, WeightedVote
from storage.sqlite_store import SqliteStore
from tests.builders import SettableClock, make_announcement, make_paper
from tests.citations import parsed_bibtex, parsed_ris

DEFAULTS = ("cs.CL",)
THU = dt.date(2025, 11, 13)
WED = dt.date(2025, 11, 12)
NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=dt.UTC)
USER = "7"


@dataclass
class FakeRanker:
    """A Ranker that answers /why with a set explanation and records what it was asked."""

    explanation: Explanation
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    async def rank(self, platform: str, chat_id: str, digest: Digest) -> Digest:
        """The digest as it is."""
        return digest

    async def explain(self, platform: str, chat_id: str, paper: Paper) -> Explanation:
        """The set explanation."""
        self.asked.append((platform, chat_id, paper.arxiv_id))
        return self.explanation


def service_with(store: SqliteStore, ranker: FakeRanker | None = None) -> CommandService:
    """The command service over the real store, on Thursday noon."""
    return CommandService(store, DEFAULTS, clock=SettableClock(NOW), ranker=ranker)


async def send(
    service: CommandService, command: str, args: str = "", *, user: str | None = USER, admin: bool = False
) -> CommandReply:
    """A text command from a member of chat 100 on Telegram."""
    request = CommandRequest("telegram", "100", command, args, user_id=user, is_admin=admin)
    return await service.handle(request)


async def stored_day(store: SqliteStore) -> list[Paper]:
    """Thursday's announcement of three papers (two about diffusion), stored."""
    papers = [
        make_paper("2511.00001", "Diffusion for Robots", abstract="diffusion"),
        make_paper("2511.00002", "Fast Diffusion & 100% Tricks", abstract="diffusion"),
        make_paper("2511.00003", "Unrelated Algebra", abstract="groups"),
    ]
    await store.save_announcement(make_announcement(THU, papers, categories=DEFAULTS))
    return papers


async def bookmark(store: SqliteStore, arxiv_id: str, minute: int, user: str = USER) -> None:
    """The user saves a paper of Thursday's announcement at 12:MM."""
    at = NOW.replace(minute=minute)
    assert await store.toggle_bookmark("telegram", user, arxiv_id, THU, at)


# -- parsing and who may send them ---------------------------------------------------------------------
def test_text_forms_of_the_new_commands() -> None:
    """/export takes a format and a scope in either order (BibTeX of one's bookmarks by default); /why
    keeps the text; /settings ranking on|off; anything else is one line with the usage."""
    assert parse_command("export", "") == Export("bibtex", "saved")
    assert parse_command("export", "RIS") == Export("ris", "saved")
    assert parse_command("export", "today bibtex") == Export("bibtex", "today")
    assert parse_command("saved", "") == Saved()
    assert parse_command("why", " arXiv:2511.00001v2 ") == Why("arXiv:2511.00001v2")
    assert parse_command("settings", "ranking off") == ChangeSettings(ranking=False)
    for bad in ("pdf", "bibtex ris", "today saved", "bibtex now"):
        with pytest.raises(CommandError, match=r"^Use /export bibtex or /export ris"):
            parse_command("export", bad)
    with pytest.raises(CommandError, match="ranking on\\|off"):
        parse_command("settings", "ranking maybe")


def test_reading_commands_change_nothing_and_bookmarks_are_private() -> None:
    """Every member may send /saved, /export and /why; /settings ranking is an admin's change; only the
    asker's bookmarks are answered privately."""
    assert not any(changes_chat(command) for command in (Saved(), Export("ris", "today"), Why("x")))
    assert changes_chat(ChangeSettings(ranking=True))
    assert answers_privately(Saved())
    assert answers_privately(Export("ris", "saved"))
    assert not answers_privately(Export("ris", "today"))
    assert not answers_privately(Why("2511.00001"))


# -- /saved ----------------------------------------------------------------------------------------------
async def test_saved_lists_the_askers_bookmarks_newest_first_privately(store: SqliteStore) -> None:
    """/saved: the asker's bookmarks only, newest first, each title with its link, and how to export;
    the reply is private, with a one-line notice for the group."""
    await stored_day(store)
    await bookmark(store, "2511.00001", 1)
    await bookmark(store, "2511.00002", 5)
    await bookmark(store, "2511.00003", 9, user="8")  # someone else's
    reply = await send(service_with(store), "saved")
    assert reply.ok
    assert reply.private
    assert reply.private_notice == "🔖 I sent you your bookmarks privately."
    assert reply.text.splitlines() == [
        "🔖 Your bookmarks, newest first (2):",
        "• Fast Diffusion & 100% Tricks — https://arxiv.org/abs/2511.00002",
        "• Diffusion for Robots — https://arxiv.org/abs/2511.00001",
        "As a file: /export bibtex or /export ris.",
    ]


async def test_saved_without_bookmarks_says_how_to_save_one(store: SqliteStore) -> None:
    """No bookmarks: one line where asked (nothing private in it) saying 🔖 on a page saves a paper."""
    reply = await send(service_with(store), "saved")
    assert (reply.ok, reply.private, reply.text) == (True, False, NO_BOOKMARKS)
    assert "🔖" in NO_BOOKMARKS


async def test_saved_shows_a_bounded_list(store: SqliteStore) -> None:
    """Many bookmarks: the newest SAVED_SHOWN, then how many more (the export has them all)."""
    papers = [make_paper(f"2511.{n:05d}") for n in range(1, SAVED_SHOWN + 6)]
    await store.save_announcement(make_announcement(THU, papers, categories=DEFAULTS))
    for minute, paper in enumerate(papers):
        await bookmark(store, paper.arxiv_id, minute % 60)
    lines = (await send(service_with(store), "saved")).text.splitlines()
    assert len(lines) == 1 + SAVED_SHOWN + 2
    assert lines[-2] == "… and 5 more, all in the export."


async def test_saved_needs_to_know_the_asker(store: SqliteStore) -> None:
    """A command without a user (an anonymous admin) gets one line, not somebody else's bookmarks."""
    reply = await send(service_with(store), "saved", user=None)
    assert not reply.ok
    assert "who you are" in reply.text


# -- /export ---------------------------------------------------------------------------------------------
async def test_export_saved_sends_the_bookmarks_as_a_private_file(store: SqliteStore) -> None:
    """/export ris: a .ris file of the asker's bookmarks (newest first), private, with a caption."""
    await stored_day(store)
    await bookmark(store, "2511.00001", 1)
    await bookmark(store, "2511.00003", 2)
    reply = await send(service_with(store), "export", "ris")
    assert reply.ok
    assert reply.private
    assert reply.document is not None
    assert reply.document_name == "arxiv-bookmarks-2025-11-13.ris"
    assert [record["id"] for record in parsed_ris(reply.document.decode())] == ["2511.00003", "2511.00001"]
    assert reply.text.startswith("🔖 Your 2 bookmarks as RIS")
    assert reply.private_notice == "🔖 I sent you your bookmarks as RIS privately."


async def test_export_without_bookmarks_is_one_line(store: SqliteStore) -> None:
    """Nothing saved: no empty file, the one line about 🔖."""
    reply = await send(service_with(store), "export", "bibtex")
    assert (reply.text, reply.document) == (NO_BOOKMARKS, None)


async def test_export_today_is_the_chats_digest_by_its_filters(store: SqliteStore) -> None:
    """/export bibtex today before any daily digest: the papers today's digest of the chat's keywords
    holds, as a .bib file for everyone in the chat (not private)."""
    await stored_day(store)
    service = service_with(store)
    assert (await send(service, "subscribe", "diffusion", admin=True)).ok
    reply = await send(service, "export", "bibtex today")
    assert reply.ok
    assert not reply.private
    assert reply.document is not None
    assert reply.document_name == "arxiv-digest-2025-11-13.bib"
    entries = parsed_bibtex(reply.document.decode())
    assert [entry["eprint"] for entry in entries] == ["2511.00001", "2511.00002"]
    assert entries[1]["title"] == r"Fast Diffusion \& 100\% Tricks"
    assert reply.text == "The digest of Thu 2025-11-13: 2 papers as BibTeX, " + (
        "arXiv's own format, for LaTeX, JabRef or Zotero (File → Import)."
    )


async def test_export_today_follows_the_daily_view_the_chat_got(store: SqliteStore) -> None:
    """Once the chat got its daily digest, /export today has that view's papers in the order shown."""
    papers = await stored_day(store)
    service = service_with(store)
    assert (await send(service, "subscribe", "diffusion", admin=True)).ok
    channel = await store.get_channel("telegram", "100")
    assert channel is not None
    shown = Digest(THU, (TopicDigest(channel.topics[0], (papers[1], papers[0])),), 3)
    await service.views.daily(channel, shown)
    reply = await send(service, "export", "ris today")
    assert reply.document is not None
    assert [record["id"] for record in parsed_ris(reply.document.decode())] == ["2511.00002", "2511.00001"]


async def test_export_today_explains_why_there_is_nothing(store: SqliteStore) -> None:
    """No announcement, no keywords, or no match: one line each, no file."""
    service = service_with(store)
    assert "No announcement stored yet" in (await send(service, "export", "bibtex today")).text
    await stored_day(store)
    assert "No keywords yet" in (await send(service, "export", "bibtex today")).text
    assert (await send(service, "subscribe", "quantum gravity", admin=True)).ok
    reply = await send(service, "export", "bibtex today")
    assert not reply.ok
    assert reply.document is None
    assert reply.text == "No paper of Thu 2025-11-13 matches this chat's keywords: nothing to export."


# -- /why ------------------------------------------------------------------------------------------------
TRAINED = Explanation(
    trained=True,
    liked=4,
    disliked=3,
    score=0.87,
    raised=(WeightedTerm("diffusion", 1.25), WeightedTerm("au:Lovelace", 0.5)),
    lowered=(WeightedTerm("cat:math.GR", -0.75),),
    votes=(
        WeightedVote(VotedPaper(make_paper("2511.00009", "Liked Before"), VoteTally(2, 0), NOW), 0.4),
        WeightedVote(VotedPaper(make_paper("2511.00008", "Disliked Before"), VoteTally(0, 1), NOW), 0.2),
    ),
)


async def test_why_explains_the_score_terms_and_votes(store: SqliteStore) -> None:
    """/why with an abs link: the ranker is asked about the stored paper for this chat; the answer gives
    the score, the terms that raised and lowered it, and the votes that weigh most."""
    await stored_day(store)
    ranker = FakeRanker(TRAINED)
    reply = await send(service_with(store, ranker), "why", "https://arxiv.org/abs/2511.00001v2")
    assert reply.ok
    assert ranker.asked == [("telegram", "100", "2511.00001")]
    assert reply.text.splitlines() == [
        "Diffusion for Robots (2511.00001): score 0.87, how likely this chat likes it (learned from 4 liked"
        " and 3 disliked papers).",
        "Raised by: diffusion (+1.25), au:Lovelace (+0.50)",
        "Lowered by: cat:math.GR (−0.75)",
        "Votes that weigh most: 👍 Liked Before; 👎 Disliked Before",
    ]


async def test_why_before_enough_votes_says_what_it_needs(store: SqliteStore) -> None:
    """An untrained chat: the listing's order, and how many likes and dislikes it takes (and has)."""
    await stored_day(store)
    ranker = FakeRanker(Explanation(trained=False, liked=1, disliked=0))
    reply = await send(service_with(store, ranker), "why", "2511.00002")
    assert reply.text == (
        "Not enough votes yet: the order is the listing's; it learns once this chat has liked 3 and disliked"
        " 3 papers (now: 1 liked, 0 disliked)."
    )


async def test_why_one_line_answers(store: SqliteStore) -> None:
    """No id, not an id, a paper not kept, ranking off on the bot: one line each."""
    await stored_day(store)
    ranker = FakeRanker(TRAINED)
    service = service_with(store, ranker)
    assert (await send(service, "why")).text == "Which paper? e.g. /why 2511.07738"
    assert "is not an arXiv id" in (await send(service, "why", "diffusion")).text
    gone = await send(service, "why", "2511.09999")
    assert (gone.ok, gone.text) == (
        False,
        "2511.09999 is not in the announcements of the last 14 days I keep.",
    )
    assert ranker.asked == []
    assert (await send(service_with(store), "why", "2511.00001")).text == RANKING_OFF_HERE


async def test_why_finds_a_paper_of_an_earlier_day(store: SqliteStore) -> None:
    """A paper of Wednesday's announcement is found too (the newest day that has it)."""
    await store.save_announcement(
        make_announcement(WED, [make_paper("2511.00007", "Older")], categories=DEFAULTS)
    )
    await stored_day(store)
    ranker = FakeRanker(TRAINED)
    reply = await send(service_with(store, ranker), "why", "2511.00007")
    assert reply.text.startswith("Older (2511.00007): score 0.87")


# -- /settings ranking -----------------------------------------------------------------------------------
async def test_settings_ranking_switches_the_learned_order(store: SqliteStore) -> None:
    """An admin's /settings ranking off is stored and shown by /settings and /status; a member may not;
    /why then says the chat uses the listing's order."""
    await stored_day(store)
    service = service_with(store, FakeRanker(TRAINED))
    refused = await send(service, "settings", "ranking off")
    assert not refused.ok
    off = await send(service, "settings", "ranking off", admin=True)
    assert off.text == "Learned order off: papers come in the listing's order."
    channel = await store.get_channel("telegram", "100")
    assert channel is not None
    assert channel.ranking is False
    assert "Papers ordered by what this chat's 👍/👎 taught: off" in (await send(service, "settings")).text
    assert "Learned order from votes: off." in (await send(service, "status")).text.splitlines()
    why = await send(service, "why", "2511.00001")
    assert why.text.endswith(
        "This chat's digests use the listing's order, not this one (/settings ranking on switches it on)."
    )
    on = await send(service, "settings", "ranking on", admin=True)
    assert on.text.startswith("Learned order on:")
    channel = await store.get_channel("telegram", "100")
    assert channel is not None
    assert channel.ranking is True
