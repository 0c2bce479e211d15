"""The learned order over a real store: votes in, an order out that drops nothing; refits on new votes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.feedback import FeedbackService
from bot.models import Paper, Vote
from bot.ranking import RankingService
from bot.views import FeedbackAction, FeedbackPress, ViewService
from storage.sqlite_store import SqliteStore
from tests.builders import make_announcement, make_channel, make_digest, make_paper

DAY = dt.date(2025, 11, 12)
NOW = dt.datetime(2025, 11, 12, 12, tzinfo=dt.UTC)
PLATFORM, CHAT = "telegram", "-100"

ROBOT = [
    make_paper(
        n,
        f"Robot grasping policy {n}",
        abstract="A robot arm learns dexterous grasping.",
        categories=("cs.RO",),
    )
    for n in range(1, 9)
]
SPEECH = [
    make_paper(n, f"Speech recognition model {n}", abstract="Automatic speech recognition with transformers.")
    for n in range(11, 19)
]
OTHER = [make_paper(n, f"Graph study {n}", abstract=f"Graphs and protein number {n}.") for n in range(21, 81)]


@pytest.fixture
async def ranker(store: SqliteStore) -> AsyncIterator[RankingService]:
    await store.save_announcement(
        make_announcement(DAY, [*ROBOT, *SPEECH, *OTHER], categories=("cs.RO", "cs.CL"))
    )
    service = RankingService(store, clock=lambda: NOW)
    yield service
    service.close()


async def vote(
    store: SqliteStore, papers: list[Paper], choice: Vote, user: str = "1", chat: str = CHAT
) -> None:
    for paper in papers:
        await store.set_vote(PLATFORM, chat, user, paper.arxiv_id, DAY, choice, NOW)


def ids(papers: tuple[Paper, ...]) -> list[str]:
    return [paper.arxiv_id for paper in papers]


async def test_without_enough_votes_the_order_is_the_listings(
    store: SqliteStore, ranker: RankingService
) -> None:
    digest = make_digest(("mixed", [*SPEECH[4:], *ROBOT[4:]]), date=DAY)
    await vote(store, ROBOT[:3], Vote.UP)
    await vote(store, SPEECH[:2], Vote.DOWN)  # two dislikes: one short
    assert await ranker.rank(PLATFORM, CHAT, digest) == digest
    explanation = await ranker.explain(PLATFORM, CHAT, ROBOT[5])
    assert (explanation.trained, explanation.liked, explanation.disliked) == (False, 3, 2)


async def test_votes_put_what_the_chat_likes_first_and_drop_nothing(
    store: SqliteStore, ranker: RankingService
) -> None:
    await vote(store, ROBOT[:3], Vote.UP)
    await vote(store, SPEECH[:3], Vote.DOWN)
    digest = make_digest(
        ("mixed", [*SPEECH[4:], *OTHER[:4], *ROBOT[4:]]), ("second", [SPEECH[7], ROBOT[7]]), date=DAY
    )
    ranked = await ranker.rank(PLATFORM, CHAT, digest)
    first = ranked.topics[0].papers
    assert sorted(ids(first)) == sorted(ids(digest.topics[0].papers))
    assert set(ids(first[:4])) == set(ids(tuple(ROBOT[4:])))
    assert set(ids(first[-4:])) <= set(ids(tuple(SPEECH[4:])) + ids(tuple(OTHER[:4])))
    assert ids(ranked.topics[1].papers) == [ROBOT[7].arxiv_id, SPEECH[7].arxiv_id]  # each topic on its own


async def test_another_chats_votes_do_not_change_this_chats_order(
    store: SqliteStore, ranker: RankingService
) -> None:
    await vote(store, ROBOT[:3], Vote.UP, chat="-200")
    await vote(store, SPEECH[:3], Vote.DOWN, chat="-200")
    digest = make_digest(("mixed", [*SPEECH[4:], *ROBOT[4:]]), date=DAY)
    assert await ranker.rank(PLATFORM, CHAT, digest) == digest
    assert (await ranker.rank(PLATFORM, "-200", digest)).topics[0].papers[0] in ROBOT


async def test_a_model_is_refitted_only_when_the_chats_votes_change(
    store: SqliteStore, ranker: RankingService
) -> None:
    await vote(store, ROBOT[:3], Vote.UP)
    await vote(store, SPEECH[:3], Vote.DOWN)
    digest = make_digest(("mixed", [*SPEECH[4:], *ROBOT[4:]]), date=DAY)
    await ranker.rank(PLATFORM, CHAT, digest)
    await ranker.rank(PLATFORM, CHAT, digest)
    assert ranker.fits == 1
    feedback = FeedbackService(store, clock=lambda: NOW)
    await feedback.vote(PLATFORM, CHAT, "2", ROBOT[3].arxiv_id, DAY, Vote.UP)
    await ranker.rank(PLATFORM, CHAT, digest)
    assert ranker.fits == 2
    # A vote another process recorded is seen the same way: through the chat's vote version.
    await store.set_vote(PLATFORM, CHAT, "3", ROBOT[4].arxiv_id, DAY, Vote.UP, NOW)
    await ranker.rank(PLATFORM, CHAT, digest)
    assert ranker.fits == 3
    assert await ranker.refresh([(PLATFORM, CHAT), (PLATFORM, "-999")], DAY) == 0


async def test_a_new_service_rebuilds_the_same_order_from_the_stored_votes(
    store: SqliteStore, ranker: RankingService
) -> None:
    await vote(store, ROBOT[:3], Vote.UP)
    await vote(store, SPEECH[:3], Vote.DOWN)
    digest = make_digest(("mixed", [*SPEECH[4:], *OTHER[:6], *ROBOT[4:]]), date=DAY)
    before = await ranker.rank(PLATFORM, CHAT, digest)
    restarted = RankingService(store, clock=lambda: NOW)
    try:
        assert await restarted.rank(PLATFORM, CHAT, digest) == before
    finally:
        restarted.close()


async def test_why_names_the_terms_and_the_votes_behind_a_score(
    store: SqliteStore, ranker: RankingService
) -> None:
    await vote(store, ROBOT[:3], Vote.UP)
    await vote(store, SPEECH[:3], Vote.DOWN)
    explanation = await ranker.explain(PLATFORM, CHAT, ROBOT[6])
    assert explanation.trained
    assert explanation.score > 0.5
    raised = [term.term for term in explanation.raised]
    assert "grasping" in raised or "robot" in raised
    assert all(term.weight > 0 for term in explanation.raised)
    assert {vote.voted.paper.arxiv_id for vote in explanation.votes} <= {p.arxiv_id for p in ROBOT[:3]}
    assert explanation.votes[0].weight > 0
    low = await ranker.explain(PLATFORM, CHAT, SPEECH[6])
    assert low.score < explanation.score
    assert any(term.term in ("speech", "recognition") for term in low.lowered)


async def test_ranking_in_views_orders_the_daily_digest_and_a_press_teaches_it(
    store: SqliteStore, ranker: RankingService
) -> None:
    channel = await store.save_channel(make_channel(CHAT))
    views = ViewService(store, ("cs.CL",), clock=lambda: NOW, ranker=ranker, votes=True)
    feedback = FeedbackService(store, clock=lambda: NOW)
    day_one = make_digest(("mixed", [*SPEECH[:3], *ROBOT[:3]]), date=DAY)
    loaded = await views.daily(channel, day_one)
    assert ids(loaded.papers) == ids(day_one.topics[0].papers)  # no votes yet: the listing's order
    assert loaded.votes
    for index, paper in enumerate(loaded.papers):
        action = FeedbackAction.UP if paper in ROBOT else FeedbackAction.DOWN
        assert loaded.view.id is not None
        outcome = await feedback.press(
            loaded, FeedbackPress(loaded.view.id, index, action, 0, loaded.view.style), "7"
        )
        assert outcome.changed_page
    reloaded = await views.load(loaded.view.id or 0, PLATFORM, CHAT)
    assert reloaded is not None
    assert reloaded.tallies[ROBOT[0].arxiv_id].up == 1
    day_two = make_digest(("mixed", [*SPEECH[3:6], *ROBOT[3:6]]), date=DAY + dt.timedelta(days=1))
    await store.save_announcement(make_announcement(day_two.date, [*SPEECH[3:6], *ROBOT[3:6]]))
    second = await views.daily(channel, day_two)
    assert set(ids(second.papers[:3])) == set(ids(tuple(ROBOT[3:6])))
    off = await views.daily(await store.save_channel(make_channel("-300", ranking=False)), day_two)
    assert ids(off.papers) == ids(day_two.topics[0].papers)


async def test_refits_run_in_the_worker_thread_not_on_the_event_loop(
    store: SqliteStore, ranker: RankingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.ranking import model

    threads: set[str] = set()
    real_fit, real_scores = model.fit, model.scores

    def fit(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.current_thread().name)
        return real_fit(*args, **kwargs)

    def scores(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.current_thread().name)
        return real_scores(*args, **kwargs)

    monkeypatch.setattr("bot.ranking.service.fit", fit)
    monkeypatch.setattr("bot.ranking.service.scores", scores)
    for chat in range(20):
        await vote(store, ROBOT[:3], Vote.UP, chat=str(chat))
        await vote(store, SPEECH[:3], Vote.DOWN, chat=str(chat))
    digest = make_digest(("mixed", [*SPEECH, *OTHER, *ROBOT]), date=DAY)
    await asyncio.gather(*(ranker.rank(PLATFORM, str(chat), digest) for chat in range(20)))
    assert ranker.fits == 20
    assert threads
    assert all(name.startswith("ranking") for name in threads), threads


async def test_a_members_double_tap_is_set_then_undo_never_two_sets(store: SqliteStore) -> None:
    feedback = FeedbackService(store, clock=lambda: NOW)
    outcomes = await asyncio.gather(
        *(feedback.vote(PLATFORM, CHAT, "5", ROBOT[0].arxiv_id, DAY, Vote.UP) for _ in range(3))
    )
    assert [state for state, _ in outcomes] == [Vote.UP, None, Vote.UP]
    assert await store.user_vote(PLATFORM, CHAT, "5", ROBOT[0].arxiv_id) is Vote.UP
    assert not feedback._pressing  # no lock left behind


async def test_the_ranker_shortens_the_gil_switch_interval_while_it_exists(store: SqliteStore) -> None:
    before = sys.getswitchinterval()
    ranker = RankingService(store, clock=lambda: NOW)
    assert sys.getswitchinterval() == min(before, 0.001)
    ranker.close()
    assert sys.getswitchinterval() == before
