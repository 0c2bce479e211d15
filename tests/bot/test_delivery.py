"""Delivery: due times, the ledger's exactly-once promise, and what each platform error leads to."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from dataclasses import dataclass, field, replace

from bot.delivery import DeliveryService
from bot.models import Announcement, AnnounceType, Channel, Digest, LoadedView, Paper, Topic
from bot.platforms.port import (
    ChannelGoneError,
    ChannelMovedError,
    DeliveryError,
    OutgoingMessage,
    TemporaryDeliveryError,
)
from storage.sqlite_store import SqliteStore
from tests.builders import SettableClock as Clock
from tests.builders import make_announcement, make_paper

UTC = dt.UTC
DAY1 = dt.date(2025, 11, 12)  # Wednesday
DAY2 = dt.date(2025, 11, 13)


# Delivery's papers: one author, in cs.CV (the category its channels follow).
paper = functools.partial(
    make_paper, abstract="Abstract text.", authors=("A. Author",), categories=("cs.CV",)
)


def announcement(date: dt.date, *papers: Paper) -> Announcement:
    """An announcement of these papers."""
    return make_announcement(date, papers, categories=("cs.CV",))


@dataclass
class RecordingAdapter:
    """A ChatAdapter that records what it sends; `failures` scripts errors per chat, in order."""

    platform: str = "test"
    sent: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing to connect to: wait for `stop` (delivery tests never run the adapter)."""
        await stop.wait()

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """One message per paper, so partial deliveries can be scripted."""
        return [OutgoingMessage(text=p.title, paper_ids=(p.arxiv_id,)) for p in view.papers]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """A one-liner naming the counts."""
        return OutgoingMessage(text=f"0 of {digest.announced_count} matched")

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Fail as scripted, else record."""
        queue = self.failures.get(channel.chat_id)
        if queue:
            raise queue.pop(0)
        self.sent.append((channel.chat_id, message.paper_ids, message.text))

    def papers_to(self, chat_id: str) -> list[str]:
        """Every paper id sent to a chat, in order, duplicates kept."""
        return [pid for chat, ids, _ in self.sent if chat == chat_id for pid in ids]


async def no_sleep(seconds: float) -> None:
    """Retries happen at once in tests."""


def service(store: SqliteStore, adapter: RecordingAdapter, clock: Clock) -> DeliveryService:
    """A delivery service over the store with one test adapter."""
    return DeliveryService(store, {"test": adapter}, ("cs.CV",), clock=clock, sleep=no_sleep)


async def subscribe(store: SqliteStore, chat_id: str, *keywords: str, **changes: object) -> Channel:
    """An active channel with one topic."""
    channel = Channel(platform="test", chat_id=chat_id, active=True, topics=(Topic("T", keywords),))
    return await store.save_channel(replace(channel, **changes))  # type: ignore[arg-type]


async def test_delivers_matching_papers_once(store: SqliteStore) -> None:
    """Matching papers arrive once; a second round sends nothing more."""
    await store.save_announcement(
        announcement(DAY1, paper("1", "diffusion a"), paper("2", "other"), paper("3", "Diffusion b"))
    )
    await subscribe(store, "c1", "diffusion")
    adapter = RecordingAdapter()
    delivery = service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC)))
    report = await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1", "3"]
    assert report.papers_sent == 2
    await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1", "3"]
    channel = await store.get_channel("test", "c1")
    assert channel is not None
    assert channel.id is not None
    assert channel.done_up_to == DAY1
    assert await store.delivered_ids(channel.id) == {"1", "3"}


async def test_waits_for_the_channels_local_time(store: SqliteStore) -> None:
    """08:00 Europe/Berlin: nothing at 06:59 UTC, the digest at 07:00 UTC (winter)."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    await subscribe(store, "c1", "diffusion", delivery_time=dt.time(8, 0), timezone="Europe/Berlin")
    adapter = RecordingAdapter()
    clock = Clock(dt.datetime(2025, 11, 12, 6, 59, tzinfo=UTC))
    delivery = service(store, adapter, clock)
    await delivery.deliver_due()
    assert adapter.sent == []
    clock.now = dt.datetime(2025, 11, 12, 7, 0, tzinfo=UTC)
    await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1"]


async def test_catches_up_missed_days_oldest_first(store: SqliteStore) -> None:
    """A bot down over two delivery times sends both digests once, oldest first, when it is back."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion one")))
    await store.save_announcement(announcement(DAY2, paper("2", "diffusion two")))
    await subscribe(store, "c1", "diffusion", delivery_time=dt.time(8, 0), timezone="Europe/Berlin")
    adapter = RecordingAdapter()
    delivery = service(store, adapter, Clock(dt.datetime(2025, 11, 14, 12, tzinfo=UTC)))
    await delivery.deliver_due()
    await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1", "2"]


async def test_replacement_of_a_delivered_paper_is_not_sent_again(store: SqliteStore) -> None:
    """A paper delivered as new is not delivered again when it comes back as a replacement."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    await store.save_announcement(
        announcement(
            DAY2,
            paper("1", "diffusion", announce_type=AnnounceType.REPLACE, version=2),
            paper("2", "diffusion 2"),
        )
    )
    await subscribe(store, "c1", "diffusion")
    adapter = RecordingAdapter()
    await service(store, adapter, Clock(dt.datetime(2025, 11, 13, 12, tzinfo=UTC))).deliver_due()
    assert adapter.papers_to("c1") == ["1", "2"]


async def test_temporary_errors_are_retried_without_duplicates(store: SqliteStore) -> None:
    """A rate limit and a network error are retried; every paper still arrives exactly once."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion"), paper("2", "diffusion")))
    await subscribe(store, "c1", "diffusion")
    adapter = RecordingAdapter(
        failures={"c1": [TemporaryDeliveryError("429", retry_after=3), TemporaryDeliveryError("network")]}
    )
    await service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))).deliver_due()
    assert adapter.papers_to("c1") == ["1", "2"]


@dataclass
class FailsSecondSend(RecordingAdapter):
    """The second send ever fails for good (a DeliveryError); every other one is recorded."""

    calls: int = 0

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Fail the second call, else record."""
        self.calls += 1
        if self.calls == 2:
            raise DeliveryError("Bad Request: something odd")
        await super().send(channel, message)


async def test_failed_message_is_sent_next_round_and_nothing_twice(store: SqliteStore) -> None:
    """A message that fails for good is released and sent in a later round; sent ones are not repeated."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion"), paper("2", "diffusion")))
    channel = await subscribe(store, "c1", "diffusion")
    adapter = FailsSecondSend()
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    delivery = service(store, adapter, clock)
    report = await delivery.deliver_due()
    assert report.outcomes[0].result == "failed"
    assert adapter.papers_to("c1") == ["1"]
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == {"1"}
    await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1"], "a failed chat waits before it is tried again"
    clock.now += dt.timedelta(minutes=1)
    await delivery.deliver_due()
    assert adapter.papers_to("c1") == ["1", "2"]


async def test_gone_chat_is_deactivated(store: SqliteStore) -> None:
    """A blocked or kicked chat is turned off and gets nothing more."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    channel = await subscribe(store, "c1", "diffusion")
    adapter = RecordingAdapter(failures={"c1": [ChannelGoneError("Forbidden: bot was blocked by the user")]})
    delivery = service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC)))
    await delivery.deliver_due()
    stored = await store.get_channel("test", "c1")
    assert stored is not None
    assert stored.active is False
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == set()
    assert await store.reserve_deliveries(channel.id, DAY1, ["1"]) == ["1"]  # released, not left as sent


async def test_moved_chat_keeps_settings_and_gets_digest(store: SqliteStore) -> None:
    """A chat that moved to a new id is re-keyed and the digest goes there."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    await subscribe(store, "-100", "diffusion")
    adapter = RecordingAdapter(failures={"-100": [ChannelMovedError("-100999")]})
    await service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))).deliver_due()
    assert adapter.papers_to("-100999") == ["1"]
    moved = await store.get_channel("test", "-100999")
    assert moved is not None
    assert moved.topics[0].keywords == ("diffusion",)
    assert await store.get_channel("test", "-100") is None


async def test_empty_day_notice_once_and_can_be_off(store: SqliteStore) -> None:
    """A day with no match gives one short line, once; a chat that turned it off gets nothing."""
    await store.save_announcement(announcement(DAY1, paper("1", "nothing relevant")))
    await subscribe(store, "on", "diffusion")
    await subscribe(store, "off", "diffusion", notify_empty=False)
    adapter = RecordingAdapter()
    delivery = service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC)))
    await delivery.deliver_due()
    await delivery.deliver_due()
    assert [(chat, text) for chat, _, text in adapter.sent] == [("on", "0 of 1 matched")]


async def test_inactive_and_other_chats_are_untouched(store: SqliteStore) -> None:
    """Only active channels get digests, each with its own filters."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion"), paper("2", "robots")))
    await subscribe(store, "a", "diffusion")
    await subscribe(store, "b", "robots")
    await subscribe(store, "c", "diffusion", active=False)
    adapter = RecordingAdapter()
    await service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))).deliver_due()
    assert adapter.papers_to("a") == ["1"]
    assert adapter.papers_to("b") == ["2"]
    assert adapter.papers_to("c") == []


async def test_a_chat_that_keeps_failing_is_tried_less_and_less_often(store: SqliteStore) -> None:
    """Repeated failures back off 1, 2, 4 … minutes instead of retrying every round forever."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    await subscribe(store, "c1", "diffusion")
    adapter = RecordingAdapter(failures={"c1": [DeliveryError("Bad Request: odd")] * 3})
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    delivery = service(store, adapter, clock)
    attempts = []
    for minute in range(8):
        clock.now = dt.datetime(2025, 11, 12, 6, minute, tzinfo=UTC)
        report = await delivery.deliver_due()
        if report.outcomes:
            attempts.append((minute, report.outcomes[0].result))
    assert attempts == [(0, "failed"), (1, "failed"), (3, "failed"), (7, "ok")]
    assert adapter.papers_to("c1") == ["1"]


# -- stopping mid-fan-out ------------------------------------------------------------------------------


@dataclass
class SlowAdapter(RecordingAdapter):
    """Each send takes `seconds`; a chat in `hang` never gets an answer (the send stays in flight)."""

    seconds: float = 0.02
    hang: set[str] = field(default_factory=set)

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Take a while (or forever), then record."""
        if channel.chat_id in self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(self.seconds)
        await super().send(channel, message)


async def test_stop_cuts_chats_between_messages_and_the_next_start_sends_only_the_rest(
    store: SqliteStore,
) -> None:
    """Stop mid-round: chats stop before their next message, keep their cursor; a restart sends the rest."""
    papers = [paper(str(n), f"diffusion {n}") for n in range(1, 11)]
    await store.save_announcement(announcement(DAY1, *papers))
    chats = [f"c{n}" for n in range(5)]
    for chat in chats:
        await subscribe(store, chat, "diffusion")
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    first = SlowAdapter()
    delivery = DeliveryService(store, {"test": first}, ("cs.CV",), clock=clock, sleep=no_sleep, stop_grace=5)
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, wake, tick=60))
    while len(first.sent) < 12:
        await asyncio.sleep(0.005)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5  # one send in flight per chat, not ten messages
    before = {chat: first.papers_to(chat) for chat in chats}
    assert all(0 < len(ids) < 10 for ids in before.values()), before
    for chat in chats:
        channel = await store.get_channel("test", chat)
        assert channel is not None
        assert channel.done_up_to is None  # the cursor stays: the digest is not done

    second = RecordingAdapter()
    await service(store, second, clock).deliver_due()
    for chat in chats:
        assert sorted(before[chat] + second.papers_to(chat), key=int) == [str(n) for n in range(1, 11)]
        channel = await store.get_channel("test", chat)
        assert channel is not None
        assert channel.done_up_to == DAY1
    assert not [text for _, _, text in second.sent if text.startswith("0 of")]


async def test_a_send_still_in_flight_after_the_grace_is_cancelled_and_sent_again_next_start(
    store: SqliteStore,
) -> None:
    """A send that never returns is cancelled `stop_grace` after the stop; its paper stays pending."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion"), paper("2", "diffusion")))
    channel = await subscribe(store, "stuck", "diffusion")
    assert channel.id is not None
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    first = SlowAdapter(hang={"stuck"})
    delivery = DeliveryService(
        store, {"test": first}, ("cs.CV",), clock=clock, sleep=no_sleep, stop_grace=0.2
    )
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, wake, tick=60))
    await asyncio.sleep(0.1)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert 0.15 < time.monotonic() - started < 1.0
    assert await store.delivered_ids(channel.id) == set()  # pending, not confirmed

    second = RecordingAdapter()
    await service(store, second, clock).deliver_due()
    assert second.papers_to("stuck") == ["1", "2"]


async def test_a_wake_up_during_a_round_starts_the_next_round_at_once(store: SqliteStore) -> None:
    """A chat subscribing while a round is sending gets its digest right after it, not a tick later."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    await subscribe(store, "early", "diffusion")
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    adapter = SlowAdapter(seconds=0.2)
    delivery = DeliveryService(store, {"test": adapter}, ("cs.CV",), clock=clock, sleep=no_sleep)
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, wake, tick=60))
    try:
        await asyncio.sleep(0.05)  # the first round is sending to "early"
        await subscribe(store, "late", "diffusion")
        wake.set()  # what the command service's on_change does
        async with asyncio.timeout(3):  # far below the 60 s tick
            while not adapter.papers_to("late"):
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert adapter.papers_to("early") == ["1"]
    assert adapter.papers_to("late") == ["1"]


@dataclass
class PageAndFileAdapter(RecordingAdapter):
    """Renders like the real adapters: one page carrying every paper, then a paper-less file.

    `ledger_at_file` records what the ledger said had been sent when the file went out; `fail_file`
    makes the file's send fail for good.
    """

    store: SqliteStore | None = None
    ledger_at_file: list[set[str]] = field(default_factory=list)
    fail_file: bool = False

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """The page (all papers), then the file (none)."""
        page = OutgoingMessage(text="page", paper_ids=view.view.paper_ids)
        file = OutgoingMessage(text="file", document_name="d.md", document=b"x", silent=True)
        return [page, file]

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Note the ledger when the file goes; fail it if told."""
        if message.document is not None:
            assert self.store is not None
            assert channel.id is not None
            self.ledger_at_file.append(await self.store.delivered_ids(channel.id))
            if self.fail_file:
                raise DeliveryError("Bad Request: file refused")
        await super().send(channel, message)


async def test_the_page_is_confirmed_before_its_file_and_the_view_records_the_file(
    store: SqliteStore,
) -> None:
    """The page's papers are sent once the page is out; the file after it is recorded on the view."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion a"), paper("2", "diffusion b")))
    channel = await subscribe(store, "c1", "diffusion")
    adapter = PageAndFileAdapter(store=store)
    report = await service(store, adapter, Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))).deliver_due()
    assert [text for _, _, text in adapter.sent] == ["page", "file"]
    assert adapter.ledger_at_file == [{"1", "2"}]  # a crash now would not send the page again
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == {"1", "2"}
    assert report.outcomes[0].messages_sent == 2
    view = await store.daily_view("test", "c1", DAY1)
    assert view is not None
    assert view.followers_sent


async def test_a_file_owed_after_its_page_is_sent_alone_by_the_next_round(store: SqliteStore) -> None:
    """The page went out, the file failed (or a crash came between): the next round sends the file only."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion a")))
    channel = await subscribe(store, "c1", "diffusion")
    adapter = PageAndFileAdapter(store=store, fail_file=True)
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    report = await service(store, adapter, clock).deliver_due()
    assert report.outcomes[0].result == "failed"
    assert channel.id is not None
    assert await store.delivered_ids(channel.id) == {"1"}
    adapter.fail_file = False
    clock.now += dt.timedelta(hours=2)  # past the failed chat's back-off
    report = await service(store, adapter, clock).deliver_due()
    assert report.outcomes[0].result == "ok"
    assert [text for _, _, text in adapter.sent] == ["page", "file"]  # the page once, the file at last
    report = await service(store, adapter, clock).deliver_due()
    assert report.outcomes == []
    assert [text for _, _, text in adapter.sent] == ["page", "file"]


async def test_a_chat_another_process_is_delivering_is_left_to_it_then_taken_over(store: SqliteStore) -> None:
    """Two processes' delivery services on one store: a chat claimed by one is skipped by the other
    (not sent twice, its cursor left alone) until the claim runs out; then the other delivers it."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion a"), paper("2", "diffusion b")))
    claimed = await subscribe(store, "c1", "diffusion")
    await subscribe(store, "c2", "diffusion")
    assert claimed.id is not None
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    # The first process died mid-delivery of c1: its claim stands for its lease.
    assert await store.claim_channel(claimed.id, "first", clock(), clock() + dt.timedelta(seconds=20))
    adapter = RecordingAdapter()
    second = DeliveryService(
        store, {"test": adapter}, ("cs.CV",), clock=clock, sleep=no_sleep, claim_holder="second"
    )
    report = await second.deliver_due()
    assert adapter.papers_to("c1") == []
    assert adapter.papers_to("c2") == ["1", "2"]
    assert [outcome.result for outcome in report.outcomes if outcome.channel.chat_id == "c1"] == ["skipped"]
    assert (await store.get_channel("test", "c1")).done_up_to is None  # type: ignore[union-attr]
    clock.advance(seconds=21)
    await second.deliver_due()
    assert adapter.papers_to("c1") == ["1", "2"]
    assert adapter.papers_to("c2") == ["1", "2"]  # the claims were released: nothing sent twice
    assert await store.claim_channel(claimed.id, "third", clock(), clock() + dt.timedelta(seconds=20))


async def test_a_chat_claimed_by_a_dead_process_is_sent_soon_after_its_claim_runs_out(
    store: SqliteStore,
) -> None:
    """A leader died holding a chat's claim: the new one sends it once the lease ends, not a tick later."""
    await store.save_announcement(announcement(DAY1, paper("1", "diffusion")))
    channel = await subscribe(store, "c1", "diffusion")
    assert channel.id is not None
    clock = Clock(dt.datetime(2025, 11, 12, 6, tzinfo=UTC))
    assert await store.claim_channel(channel.id, "dead", clock(), clock() + dt.timedelta(seconds=20))
    adapter = RecordingAdapter()
    delivery = DeliveryService(
        store,
        {"test": adapter},
        ("cs.CV",),
        clock=clock,
        sleep=no_sleep,
        claim_holder="new",
        claim_retry=0.05,
    )
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, wake, tick=60))
    try:
        await asyncio.sleep(0.3)  # rounds that find the chat claimed: left alone
        assert adapter.sent == []
        clock.advance(seconds=20)  # the dead leader's claim runs out
        async with asyncio.timeout(3):  # far below the 60 s tick
            while not adapter.papers_to("c1"):
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert adapter.papers_to("c1") == ["1"]
