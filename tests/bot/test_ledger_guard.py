"""The ledger, not the cursor, decides what a chat already has: a paper sent is never in its next digest.

A chat's cursor (`done_up_to`) can be behind what the ledger knows: a restored backup of the channels,
a cursor an operator reset, a chat whose earlier round was cut short. Delivery must then still leave
out every paper the ledger holds as `sent` for that chat, while papers only `pending` (a crash
between a send and its confirmation) and papers sent to other chats are delivered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from bot.delivery import DeliveryService
from bot.models import Announcement, AnnounceType, Channel, Digest, LoadedView, Paper, Topic, TopicDigest
from bot.platforms.port import DeliveryError, OutgoingMessage
from storage.sqlite_store import SqliteStore

DAY1 = dt.date(2025, 11, 12)
DAY2 = dt.date(2025, 11, 13)
LATER = dt.datetime(2025, 11, 13, 12, tzinfo=dt.UTC)
PER_MESSAGE = 2  # papers per rendered message, so one message can mix old and new papers


def paper(arxiv_id: str, title: str, announce_type: AnnounceType = AnnounceType.NEW) -> Paper:
    """A cs.CV paper."""
    return Paper(
        arxiv_id=arxiv_id,
        version=1,
        title=title,
        abstract="Abstract text.",
        authors=("A. Author",),
        categories=("cs.CV",),
        announce_type=announce_type,
    )


@dataclass
class PackingAdapter:
    """A ChatAdapter that renders like the real ones: a header without papers, then packed messages."""

    platform: str = "test"
    sent: list[OutgoingMessage] = field(default_factory=list)
    views: list[LoadedView] = field(default_factory=list)

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """A header naming the count, then PER_MESSAGE papers a message."""
        self.views.append(view)
        papers = view.papers
        header = OutgoingMessage(text=f"{view.matched_count} of {view.view.announced_count} papers")
        packed = [
            OutgoingMessage(
                text="\n".join(p.title for p in papers[start : start + PER_MESSAGE]),
                paper_ids=tuple(p.arxiv_id for p in papers[start : start + PER_MESSAGE]),
            )
            for start in range(0, len(papers), PER_MESSAGE)
        ]
        return [header, *packed]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner of a day without a match."""
        return OutgoingMessage(text=f"0 of {digest.announced_count} matched")

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing to connect to: wait for the stop."""
        await stop.wait()

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Record the message."""
        self.sent.append(message)

    def papers(self) -> list[str]:
        """Every paper id sent, in order, duplicates kept."""
        return [arxiv_id for message in self.sent for arxiv_id in message.paper_ids]


@dataclass
class FailingAdapter(PackingAdapter):
    """Refuses for good (a DeliveryError) the message carrying paper `fail_with`."""

    fail_with: str = ""

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Fail on that paper's message, else record."""
        if self.fail_with in message.paper_ids:
            raise DeliveryError("Bad Request: refused")
        await super().send(channel, message)


@dataclass
class StoppingAdapter(PackingAdapter):
    """Sets the service's stop event during its first send (the send itself succeeds)."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Record, then ask the service to stop."""
        await super().send(channel, message)
        self.stop.set()


def delivery(store: SqliteStore, adapter: PackingAdapter, now: dt.datetime = LATER) -> DeliveryService:
    """A delivery service over the store with the packing adapter, its clock standing at `now`."""
    return DeliveryService(store, {"test": adapter}, ("cs.CV",), clock=lambda: now)


async def subscribed(store: SqliteStore, chat_id: str = "c1", *topics: Topic) -> Channel:
    """An active chat watching 'diffusion' (or the given topics), cursor unset."""
    chosen = topics or (Topic("Diffusion", ("diffusion",)),)
    channel = await store.save_channel(Channel("test", chat_id, active=True, topics=chosen))
    assert channel.id is not None
    return channel


def reset_cursors(db_path: Path) -> None:
    """Set every chat's cursor back to none, as a restored channels table or an operator would."""
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE channels SET done_up_to = NULL")
    db.close()


async def cursor_of(store: SqliteStore, chat_id: str = "c1") -> dt.date | None:
    """The chat's stored cursor."""
    channel = await store.get_channel("test", chat_id)
    assert channel is not None
    return channel.done_up_to


async def test_a_paper_the_ledger_holds_as_sent_is_left_out_though_the_cursor_never_moved(
    store: SqliteStore,
) -> None:
    """With papers already `sent` for the chat and no cursor, only the others are delivered (once)."""
    await store.save_announcement(
        Announcement(
            DAY1,
            ("cs.CV",),
            (paper("1", "diffusion one"), paper("2", "diffusion two"), paper("3", "diffusion three")),
        )
    )
    channel = await subscribed(store)
    assert channel.id is not None
    await store.record_delivery(channel.id, DAY1, "1")  # e.g. restored from a backup of the ledger
    await store.record_delivery(channel.id, DAY1, "3")
    adapter = PackingAdapter()
    report = await delivery(store, adapter).deliver_due()
    assert adapter.papers() == ["2"]
    assert adapter.sent[0].text == "1 of 3 papers"  # the header counts what this chat gets
    assert report.papers_sent == 1
    assert await store.delivered_ids(channel.id) == {"1", "2", "3"}
    assert await cursor_of(store) == DAY1


async def test_after_a_cursor_reset_a_delivered_day_sends_nothing_again(
    store: SqliteStore, db_path: Path
) -> None:
    """A day delivered, then the cursor reset: the next round sends no header, no paper, no notice."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion one"), paper("2", "diffusion two")))
    )
    await subscribed(store)
    adapter = PackingAdapter()
    service = delivery(store, adapter)
    await service.deliver_due()
    assert adapter.papers() == ["1", "2"]
    first_round = len(adapter.sent)
    reset_cursors(db_path)
    assert await cursor_of(store) is None
    report = await service.deliver_due()
    assert adapter.sent[first_round:] == []
    assert [outcome.result for outcome in report.outcomes] == ["ok"]
    assert await cursor_of(store) == DAY1


async def test_after_a_cursor_reset_catching_up_sends_only_what_the_ledger_lacks(
    store: SqliteStore, db_path: Path
) -> None:
    """Two days, the first delivered, cursor reset: day 2 brings its new paper, never day 1's again."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion one"), paper("2", "diffusion two")))
    )
    adapter = PackingAdapter()
    await subscribed(store)
    await delivery(store, adapter, dt.datetime(2025, 11, 12, 12, tzinfo=dt.UTC)).deliver_due()
    assert adapter.papers() == ["1", "2"]
    # Day 2 repeats paper 2 as a replacement, next to a new paper in the same packed message.
    await store.save_announcement(
        Announcement(
            DAY2,
            ("cs.CV",),
            (paper("2", "diffusion two, v2", AnnounceType.REPLACE), paper("4", "diffusion four")),
        )
    )
    reset_cursors(db_path)
    await delivery(store, adapter).deliver_due()
    assert adapter.papers() == ["1", "2", "4"]
    assert await cursor_of(store) == DAY2


async def test_a_paper_in_two_topics_already_sent_is_left_out_of_both(store: SqliteStore) -> None:
    """A paper two of the chat's topics match, already sent, is in neither topic's section."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion robots"), paper("2", "diffusion only")))
    )
    channel = await subscribed(store, "c1", Topic("Diffusion", ("diffusion",)), Topic("Robots", ("robots",)))
    assert channel.id is not None
    await store.record_delivery(channel.id, DAY1, "1")
    adapter = PackingAdapter()
    await delivery(store, adapter).deliver_due()
    (view,) = adapter.views
    assert [(entry.arxiv_id, entry.topic) for entry in view.entries] == [("2", "Diffusion")]
    assert view.view.topics == ("Diffusion", "Robots")
    assert adapter.papers() == ["2"]


async def test_a_pending_paper_and_one_sent_to_another_chat_are_delivered(store: SqliteStore) -> None:
    """Only `sent` for this very chat leaves a paper out: a pending one and another chat's go out."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion one"), paper("2", "diffusion two")))
    )
    mine = await subscribed(store, "c1")
    other = await subscribed(store, "c2")
    assert mine.id is not None
    assert other.id is not None
    await store.reserve_deliveries(mine.id, DAY1, ["1"])  # sent, but the confirmation never came
    await store.record_delivery(other.id, DAY1, "2")
    adapter = PackingAdapter()
    await delivery(store, adapter).deliver_due()
    assert await store.delivered_ids(mine.id) == {"1", "2"}
    assert await store.delivered_ids(other.id) == {"1", "2"}
    assert sorted(adapter.papers()) == ["1", "1", "2"]  # c1 gets both, c2 only the one it lacked


async def test_delivered_ids_answers_only_about_the_papers_asked(store: SqliteStore) -> None:
    """delivered_ids(channel, ids) is the sent papers among `ids`; without ids, all sent papers."""
    channel = await subscribed(store)
    assert channel.id is not None
    for arxiv_id in ("1", "2"):
        await store.record_delivery(channel.id, DAY1, arxiv_id)
    await store.reserve_deliveries(channel.id, DAY1, ["3"])
    assert await store.delivered_ids(channel.id, ["1", "3", "9"]) == {"1"}
    assert await store.delivered_ids(channel.id, []) == set()
    assert await store.delivered_ids(channel.id) == {"1", "2"}


async def test_deliver_digest_skips_a_message_whose_papers_were_all_sent(store: SqliteStore) -> None:
    """Handed a digest with a paper already sent, deliver_digest leaves out the message carrying only it."""
    papers = (paper("1", "diffusion one"), paper("2", "diffusion two"), paper("3", "diffusion three"))
    channel = await subscribed(store)
    assert channel.id is not None
    await store.record_delivery(channel.id, DAY1, "3")
    digest = Digest(DAY1, (TopicDigest(channel.topics[0], papers),), announced_count=3)
    adapter = PackingAdapter()
    outcome = await delivery(store, adapter).deliver_digest(channel, digest)
    assert [message.paper_ids for message in adapter.sent] == [(), ("1", "2")]  # header, then [1, 2]
    assert outcome.papers_sent == 2
    assert await store.delivered_ids(channel.id) == {"1", "2", "3"}


async def test_a_message_that_failed_for_good_leaves_no_row_in_the_ledger(
    store: SqliteStore, db_path: Path
) -> None:
    """A permanent send error releases the message's papers: the ledger holds only what was sent."""
    await store.save_announcement(
        Announcement(
            DAY1,
            ("cs.CV",),
            tuple(paper(str(n), f"diffusion {n}") for n in range(1, 5)),
        )
    )
    channel = await subscribed(store)
    assert channel.id is not None
    adapter = FailingAdapter(fail_with="3")
    report = await delivery(store, adapter).deliver_due()
    assert [outcome.result for outcome in report.outcomes] == ["failed"]
    with sqlite3.connect(db_path) as db:
        rows = sorted(
            db.execute("SELECT arxiv_id, status FROM deliveries WHERE channel_id = ?", (channel.id,))
        )
    db.close()
    assert rows == [("1", "sent"), ("2", "sent")]
    assert await cursor_of(store) is None


async def test_each_chats_round_is_recorded_for_status(store: SqliteStore) -> None:
    """After a round every chat served has its last delivery result: the day, the outcome, the papers."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion one"), paper("2", "robots")))
    )
    served = await subscribed(store, "c1")
    quiet = await subscribed(store, "c2", Topic("Whales", ("whale",)))
    assert served.id is not None
    assert quiet.id is not None
    await delivery(store, PackingAdapter()).deliver_due()
    first = await store.last_delivery_result(served.id)
    second = await store.last_delivery_result(quiet.id)
    assert first is not None
    assert second is not None
    assert (first.announcement_date, first.result, first.papers) == (DAY1, "ok", 1)
    assert (second.announcement_date, second.result, second.papers) == (DAY1, "empty", 0)


async def test_a_chat_not_started_before_the_stop_gets_nothing_and_keeps_its_cursor(
    store: SqliteStore,
) -> None:
    """Stopping mid-round: a chat not yet started gets no message (not even an empty day's) and no record."""
    await store.save_announcement(
        Announcement(DAY1, ("cs.CV",), (paper("1", "diffusion one"), paper("2", "diffusion two")))
    )
    await subscribed(store, "c1")
    quiet = await subscribed(store, "c2", Topic("Whales", ("whale",)))
    assert quiet.id is not None
    stop, wake = asyncio.Event(), asyncio.Event()
    adapter = StoppingAdapter(stop=stop)
    service = DeliveryService(store, {"test": adapter}, ("cs.CV",), clock=lambda: LATER, concurrency=1)
    await asyncio.wait_for(service.run(stop, wake, tick=60), 5)
    assert [message.text for message in adapter.sent] == ["2 of 2 papers"]  # c1's header, then the stop
    assert await cursor_of(store, "c2") is None
    assert await store.last_delivery_result(quiet.id) is None
