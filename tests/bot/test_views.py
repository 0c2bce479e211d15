"""Digest views: stored before the send, found again by a press, a resumed digest or a repeated /digest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.digests import build_digest
from bot.models import Announcement, DigestView, Style, Topic, ViewEntry, ViewKind
from bot.views import (
    MAX_BUTTON_DATA,
    NOOP_DATA,
    REPEAT_WINDOW,
    FilePress,
    NoopPress,
    PagePress,
    ViewService,
    decode_press,
    encode_file,
    encode_page,
    view_of,
)
from storage.sqlite_store import SqliteStore, open_store
from tests.builders import SettableClock, make_announcement, make_channel, make_paper

DAY = dt.date(2025, 11, 26)
LATER = dt.date(2025, 11, 27)
DEFAULTS = ("cs.CL",)


def announcement_of_day(date: dt.date = DAY) -> Announcement:
    """Four papers: two on VLMs, one on robots and VLMs, one on neither."""
    return make_announcement(
        date,
        [
            make_paper(1, "A VLM for charts"),
            make_paper(2, "Robots that see: a VLM policy"),
            make_paper(3, "Robots in the kitchen"),
            make_paper(4, "Protein folding"),
        ],
    )


TOPICS = (Topic("Vision", ("VLM", "vision language model")), Topic("Robots", ("robot",)))


# -- button data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("style", list(Style))
def test_page_data_round_trips_within_telegrams_limit(style: Style) -> None:
    """Page data names the view, the page and the style, and fits callback_data's 64 bytes."""
    data = encode_page(9_223_372_036_854_775_807, 9999, style)
    assert len(data.encode()) <= MAX_BUTTON_DATA
    assert decode_press(data) == PagePress(9_223_372_036_854_775_807, 9999, style)


def test_file_and_noop_data_round_trip() -> None:
    """The file button and the page label decode to what they ask."""
    assert decode_press(encode_file(12)) == FilePress(12)
    assert decode_press(NOOP_DATA) == NoopPress()


@pytest.mark.parametrize(
    "data",
    [
        "",
        "pg",
        "pg:1:2",
        "pg:x:1:c",
        "pg:1:-1:c",
        "pg:0:1:c",
        "pg:1:1:z",
        "fl:",
        "fl:-3",
        "vote:1",
        "pg:1:1:c:9",
    ],
)
def test_data_this_bot_never_wrote_decodes_to_none(data: str) -> None:
    """Old, forged or foreign button data is recognised as such, never as a page."""
    assert decode_press(data) is None


# -- building a view -----------------------------------------------------------------------------
def test_a_view_shows_each_paper_once_under_its_first_topic_with_the_keywords_that_matched() -> None:
    """A paper two topics match is under the first, "also in" the second; `matched` names its keywords."""
    digest = build_digest(announcement_of_day(), TOPICS, DEFAULTS)
    view, papers = view_of(digest, "telegram", "100", DEFAULTS)
    assert [paper.arxiv_id for paper in papers] == list(view.paper_ids)
    assert view.entries == (
        ViewEntry("2511.00001", "Vision", matched=("VLM",)),
        ViewEntry("2511.00002", "Vision", also_in=("Robots",), matched=("VLM",)),
        ViewEntry("2511.00003", "Robots", matched=("robot",)),
    )
    assert (view.matched_count, view.announced_count, view.topics) == (3, 4, ("Vision", "Robots"))


# -- the store and the service -------------------------------------------------------------------
async def test_a_stored_view_comes_back_whole(store: SqliteStore) -> None:
    """Every field of a view survives the store, topic names included."""
    await store.save_announcement(announcement_of_day())
    digest = build_digest(announcement_of_day(), TOPICS, DEFAULTS)
    view, _ = view_of(digest, "telegram", "100", DEFAULTS, style=Style.TITLES)
    saved = await store.save_view(view)
    assert saved.id is not None
    assert saved.created_at is not None
    again = await store.get_view(saved.id)
    assert again == saved
    assert (again.entries, again.style, again.kind, again.topics) == (
        view.entries,
        Style.TITLES,
        ViewKind.DAILY,
        ("Vision", "Robots"),
    )
    assert await store.get_view(saved.id + 1) is None


async def test_one_daily_view_per_chat_and_day_even_when_saved_twice(store: SqliteStore) -> None:
    """A second daily view of the same chat and date returns the first (a resumed digest keeps its counts)."""
    first = await store.save_view(DigestView("telegram", "100", DAY, (ViewEntry("1", "A"),), 10, ("A",)))
    second = await store.save_view(
        DigestView("telegram", "100", DAY, (ViewEntry("1", "A"), ViewEntry("2", "A")), 99, ("A",))
    )
    assert second == first
    assert await store.daily_view("telegram", "100", DAY) == first
    assert await store.daily_view("telegram", "101", DAY) is None
    other_day = await store.save_view(DigestView("telegram", "100", LATER, (), 0))
    assert other_day.id != first.id


async def test_the_service_resumes_a_stored_daily_view_with_its_counts(store: SqliteStore) -> None:
    """After a crash the digest is rebuilt from what is left; the stored view keeps the whole count."""
    await store.save_announcement(announcement_of_day())
    views = ViewService(store, DEFAULTS)
    channel = make_channel(chat_id="100", topics=TOPICS)
    full = build_digest(announcement_of_day(), TOPICS, DEFAULTS)
    first = await views.daily(channel, full)
    rest = build_digest(announcement_of_day(), (Topic("Robots", ("robot",)),), DEFAULTS)
    resumed = await views.daily(channel, rest)
    assert resumed.view.id == first.view.id
    assert (resumed.matched_count, [p.arxiv_id for p in resumed.papers]) == (3, list(first.view.paper_ids))


async def test_a_press_finds_its_view_only_from_its_own_chat(store: SqliteStore) -> None:
    """`load` answers the chat the view was made for; another chat or platform gets None."""
    await store.save_announcement(announcement_of_day())
    views = ViewService(store, DEFAULTS)
    digest = build_digest(announcement_of_day(), TOPICS, DEFAULTS)
    loaded = await views.on_demand("discord", "555", digest, style=Style.COMPACT, request_key="chat")
    assert loaded.view.id is not None
    found = await views.load(loaded.view.id, "discord", "555")
    assert found is not None
    assert found.papers == loaded.papers
    assert await views.load(loaded.view.id, "discord", "556") is None
    assert await views.load(loaded.view.id, "telegram", "555") is None
    assert await views.load(loaded.view.id + 100, "discord", "555") is None


async def test_a_pruned_announcement_takes_its_views_with_it(store: SqliteStore) -> None:
    """Views go with their announcement: a press on a pruned day's message finds nothing."""
    old = dt.date(2025, 10, 1)
    await store.save_announcement(announcement_of_day(old))
    views = ViewService(store, DEFAULTS)
    digest = build_digest(announcement_of_day(old), TOPICS, DEFAULTS)
    loaded = await views.daily(make_channel(chat_id="100", topics=TOPICS), digest)
    assert loaded.view.id is not None
    assert await store.prune_announcements(dt.date(2025, 10, 2)) == 1
    assert await store.get_view(loaded.view.id) is None
    assert await views.load(loaded.view.id, "telegram", "100") is None


async def test_a_repeated_digest_is_found_only_once_sent_and_within_the_window(db_path: Path) -> None:
    """`repeated` finds the same request's sent view within REPEAT_WINDOW, not before its send, not after."""
    clock = SettableClock(dt.datetime(2025, 11, 26, 12, tzinfo=dt.UTC))
    async with await open_store(db_path, clock=clock) as store:
        await store.save_announcement(announcement_of_day())
        views = ViewService(store, DEFAULTS, clock=clock)
        digest = build_digest(announcement_of_day(), TOPICS, DEFAULTS)
        loaded = await views.on_demand("telegram", "100", digest, style=Style.COMPACT, request_key="chat")
        assert await views.repeated("telegram", "100", DAY, "chat") is None  # not sent yet
        await views.sent(loaded.view, "4242")
        clock.advance(seconds=REPEAT_WINDOW.total_seconds() - 5)
        earlier = await views.repeated("telegram", "100", DAY, "chat")
        assert earlier is not None
        assert earlier.message_ref == "4242"
        assert await views.repeated("telegram", "100", DAY, "k:VLM") is None
        assert await views.repeated("telegram", "101", DAY, "chat") is None
        clock.advance(seconds=10)
        assert await views.repeated("telegram", "100", DAY, "chat") is None


async def test_get_papers_keeps_the_asked_order_and_skips_unknown_ids(store: SqliteStore) -> None:
    """Papers come back in the order asked, as announced that day; ids not announced then are left out."""
    await store.save_announcement(announcement_of_day())
    papers = await store.get_papers(DAY, ["2511.00003", "9999.99999", "2511.00001"])
    assert [paper.arxiv_id for paper in papers] == ["2511.00003", "2511.00001"]
    assert papers[0].title == "Robots in the kitchen"
    assert await store.get_papers(LATER, ["2511.00001"]) == []
