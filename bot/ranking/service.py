"""The learned order: each chat's model, refitted only when its votes changed, in a worker thread.

`RankingService` implements the core's `Ranker` port. A chat's model is rebuilt from the votes in the
store (nothing about it is only in memory, so a restart loses nothing but a few milliseconds of fitting
per chat); it is kept, with the chat's vote version, until the chat votes again or the cache of
`CACHED_MODELS` drops it. All numeric work (vectorizing papers, fitting, scoring) runs in worker threads
(`WORKER_THREADS`), so the event loop is never held for more than a thread switch; the store is read
on the loop.

The model only orders: every paper of a topic stays in it, and a chat without enough votes (fewer than
`MIN_LIKED` liked or `MIN_DISLIKED` disliked papers) keeps the listing's order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import math
import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from bot.clock import Clock, utc_now
from bot.feedback import MIN_DISLIKED, MIN_LIKED
from bot.models import Digest, Paper, TopicDigest, VotedPaper
from bot.ports import Explanation, Store, WeightedTerm, WeightedVote
from bot.ranking.features import PaperVector, terms_by_slot, vectorize
from bot.ranking.model import ChatModel, contributions, fit, scores

log = logging.getLogger(__name__)

WEAK_NEGATIVES = 100  # random unrated papers per fit
MAX_VOTED = 400  # a fit learns from the chat's newest voted papers: its cost grows with their cube
POOL_DAYS = 30  # where they are drawn from: the papers of the last month's announcements
POOL_SIZE = 1000
POOL_CHUNK = 100  # papers vectorized per worker job: ~20 ms of pure Python holding the GIL
CACHED_MODELS = 4096  # models kept in memory (about 2 KB each); a dropped one is refitted when needed
CACHED_VECTORS = 4000  # papers kept vectorized (~1 KB each): a day's digests, recent votes
# One thread: a second one (numpy releases the GIL in its solves) measured slower with 64 chats
# delivered at once on 2 cores: 2,000 refits in 15.7 s against 10.4 s, the fits fighting for the GIL.
WORKER_THREADS = 1
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL while another waits for it
EXPLAINED_TERMS = 5
EXPLAINED_VOTES = 3

ChatKey = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Fitted:
    """A chat's model as of a vote version; `model` None: not enough votes yet."""

    version: int
    model: ChatModel | None
    liked: int
    disliked: int


_UNTRAINED = _Fitted(0, None, 0, 0)


class RankingService:
    """Per-chat models learned from votes; orders digests and explains scores."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utc_now,
        weak_negatives: int = WEAK_NEGATIVES,
        cached_models: int = CACHED_MODELS,
        min_liked: int = MIN_LIKED,
        min_disliked: int = MIN_DISLIKED,
    ) -> None:
        self._store = store
        self._clock = clock
        self._weak_negatives = weak_negatives
        self._cached_models = cached_models
        self._min_liked = max(min_liked, 1)  # a model needs a paper of each kind
        self._min_disliked = max(min_disliked, 1)
        self._models: OrderedDict[ChatKey, _Fitted] = OrderedDict()
        self._vectors: OrderedDict[tuple[str, int], PaperVector] = OrderedDict()
        self._pool: tuple[dt.date, tuple[str, ...], list[PaperVector]] | None = None
        self._pool_lock = asyncio.Lock()
        self._fitting: dict[ChatKey, asyncio.Task[_Fitted]] = {}
        self._executor = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="ranking")
        # The worker's pure-Python stretches (vectorizing papers) hand the GIL back to the event loop
        # every millisecond, not every 5: the loop's longest stall over 10,000 refits fell from
        # 110 ms to 68 ms (benchmarks/ranking.py).
        self._previous_switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._previous_switch_interval, SWITCH_INTERVAL))
        self._vectors_lock = threading.Lock()  # the worker threads share the vector cache
        self.fits = 0  # models fitted since start (for tests and benchmarks)

    def close(self) -> None:
        """Stop the worker thread, and give the process its switch interval back."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        sys.setswitchinterval(self._previous_switch_interval)

    # -- the port ---------------------------------------------------------------------------------
    async def rank(self, platform: str, chat_id: str, digest: Digest) -> Digest:
        """Each topic's papers by the chat's model, best first (ties, and chats without one: as listed)."""
        fitted = await self._fitted((platform, chat_id), digest.date)
        if fitted.model is None or not digest.topics:
            return digest
        model = fitted.model
        sections = [section.papers for section in digest.topics]
        orders = await self._run(lambda: [self._order(model, papers) for papers in sections])
        topics = tuple(
            TopicDigest(section.topic, tuple(section.papers[index] for index in order))
            for section, order in zip(digest.topics, orders, strict=True)
        )
        return replace(digest, topics=topics)

    async def explain(self, platform: str, chat_id: str, paper: Paper) -> Explanation:
        """The paper's score for the chat, the terms that moved it most, and the votes most like it."""
        key = (platform, chat_id)
        fitted = await self._fitted(key, self._clock().date())
        if fitted.model is None:
            return Explanation(trained=False, liked=fitted.liked, disliked=fitted.disliked)
        model = fitted.model
        voted = await self._store.chat_votes(platform, chat_id)
        return await self._run(lambda: self._explanation(model, paper, voted))

    # -- models -----------------------------------------------------------------------------------
    async def refresh(self, chats: Sequence[ChatKey], date: dt.date) -> int:
        """Refit the models of these chats whose votes changed since their last fit; return how many."""
        before = self.fits
        for key in chats:
            await self._fitted(key, date)
        return self.fits - before

    async def _fitted(self, key: ChatKey, date: dt.date) -> _Fitted:
        """The chat's model for its current votes: the cached one, or a new fit (one at a time per chat)."""
        version = await self._store.vote_version(*key)
        if version == 0:  # never voted, like most chats: nothing to fit, nothing to remember
            return _UNTRAINED
        cached = self._models.get(key)
        if cached is not None and cached.version == version:
            self._models.move_to_end(key)
            return cached
        pending = self._fitting.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._fit(key, version, date))
            self._fitting[key] = pending
            pending.add_done_callback(lambda _: self._fitting.pop(key, None))
        fitted = await asyncio.shield(pending)
        self._models[key] = fitted
        self._models.move_to_end(key)
        while len(self._models) > self._cached_models:
            self._models.popitem(last=False)
        return fitted

    async def _fit(self, key: ChatKey, version: int, date: dt.date) -> _Fitted:
        voted = (await self._store.chat_votes(*key))[-MAX_VOTED:]
        liked = [vote for vote in voted if vote.tally.net > 0]
        disliked = [vote for vote in voted if vote.tally.net < 0]
        if len(liked) < self._min_liked or len(disliked) < self._min_disliked:
            return _Fitted(version, None, len(liked), len(disliked))
        pool_ids, pool = await self._negative_pool(date)
        voted_ids = {vote.paper.arxiv_id for vote in voted}
        seed = zlib.crc32(f"{key[0]}:{key[1]}".encode())

        def work() -> ChatModel:
            # Twice as many draws as needed, minus the chat's own voted papers: O(weak), not O(pool).
            rng = np.random.default_rng(seed)
            draws = min(len(pool_ids), 2 * self._weak_negatives)
            drawn = rng.choice(len(pool_ids), draws, replace=False).tolist() if draws else []
            chosen = [index for index in drawn if pool_ids[index] not in voted_ids][: self._weak_negatives]
            return fit(
                [self._vector(vote.paper) for vote in liked],
                [self._vector(vote.paper) for vote in disliked],
                [pool[index] for index in chosen],
                liked_weights=[_vote_weight(vote) for vote in liked],
                disliked_weights=[_vote_weight(vote) for vote in disliked],
            )

        model = await self._run(work)
        self.fits += 1
        return _Fitted(version, model, len(liked), len(disliked))

    async def _negative_pool(self, date: dt.date) -> tuple[tuple[str, ...], list[PaperVector]]:
        """Recent papers to draw weak negatives from, vectorized once per announcement date."""
        async with self._pool_lock:
            if self._pool is not None and self._pool[0] == date:
                return self._pool[1], self._pool[2]
            papers = await self._store.recent_papers(date - dt.timedelta(days=POOL_DAYS), POOL_SIZE)
            vectors: list[PaperVector] = []
            for start in range(0, len(papers), POOL_CHUNK):  # in chunks: the loop runs in between
                chunk = papers[start : start + POOL_CHUNK]
                vectors += await self._run(functools.partial(_vectorized, chunk))
            self._pool = (date, tuple(paper.arxiv_id for paper in papers), vectors)
            return self._pool[1], self._pool[2]

    # -- worker-thread work -----------------------------------------------------------------------
    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _vector(self, paper: Paper) -> PaperVector:
        key = (paper.arxiv_id, paper.version)
        with self._vectors_lock:
            vector = self._vectors.get(key)
        if vector is None:
            vector = vectorize(paper)  # outside the lock: two threads may both vectorize, both right
            with self._vectors_lock:
                self._vectors[key] = vector
                while len(self._vectors) > CACHED_VECTORS:
                    self._vectors.popitem(last=False)
        return vector

    def _order(self, model: ChatModel, papers: Sequence[Paper]) -> list[int]:
        """Indices of the papers, best score first; equal scores keep the listing's order."""
        values = scores(model, [self._vector(paper) for paper in papers])
        return sorted(range(len(papers)), key=lambda index: (-float(values[index]), index))

    def _explanation(self, model: ChatModel, paper: Paper, voted: Sequence[VotedPaper]) -> Explanation:
        vector = self._vector(paper)
        slots, amounts = contributions(model, vector)
        names = terms_by_slot(paper)
        terms = [
            WeightedTerm(" / ".join(names.get(int(slot), ["?"])), float(amount))
            for slot, amount in zip(slots, amounts, strict=True)
        ]
        raised = sorted((term for term in terms if term.weight > 0), key=lambda term: -term.weight)
        lowered = sorted((term for term in terms if term.weight < 0), key=lambda term: term.weight)
        weighed = []
        for vote in voted:
            if vote.tally.net == 0 or vote.paper.arxiv_id == paper.arxiv_id:
                continue
            similarity = vector.dot(self._vector(vote.paper))
            if similarity > 0:
                weighed.append(
                    WeightedVote(vote, similarity * math.copysign(_vote_weight(vote), vote.tally.net))
                )
        weighed.sort(key=lambda item: -abs(item.weight))
        return Explanation(
            trained=True,
            liked=model.liked,
            disliked=model.disliked,
            score=float(scores(model, [vector])[0]),
            raised=tuple(raised[:EXPLAINED_TERMS]),
            lowered=tuple(lowered[:EXPLAINED_TERMS]),
            votes=tuple(weighed[:EXPLAINED_VOTES]),
        )


def _vectorized(papers: Sequence[Paper]) -> list[PaperVector]:
    return [vectorize(paper) for paper in papers]


def _vote_weight(vote: VotedPaper) -> float:
    """A paper many members agree on weighs more, but not linearly: 1, 1.7, 2.1, ..."""
    return 1.0 + math.log(abs(vote.tally.net))
