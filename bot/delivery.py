"""Delivering digests: each channel at its own time, each paper exactly once, through any error.

The core decides what is due and keeps the ledger; a `ChatAdapter` renders a digest and sends it. A
chat's digest of one announcement is one paged message: its view (papers, counts, topics) is stored
first (`bot.views.ViewService.daily`), then the message showing its first page, whose buttons turn the
other pages, carries every paper in the ledger: reserved, sent, confirmed; a message that surely never
left is released again. A crash between a send and its confirmation leaves the papers pending, and the
next start sends the same stored view again (the same counts, the same pages): the only window in
which a digest can arrive twice, and it is milliseconds wide. The Markdown file, when the chat asked
for it, follows silently and carries no paper of its own; the stored view records once it is out, so a
crash between the page and the file sends the file alone at the next start.

Stopping (SIGTERM) is prompt, whatever the fan-out: once `run`'s stop event is set no chat is started
and every chat in progress stops before its next message; the sends already handed to an adapter get
`stop_grace` seconds, then are cancelled (their papers stay pending, so the next start sends them: a
message cancelled on the wire is the one that may arrive twice). A chat cut short keeps its cursor, and
the next start sends it only the papers it is missing. Only sends are ever cancelled, never the
ledger's writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.channels import ChannelRegistry
from bot.clock import Clock, Sleep, utc_now
from bot.digests import build_digests
from bot.models import Announcement, Channel, DeliveryResult, Digest, LoadedView, TopicDigest
from bot.platforms.port import (
    ChannelGoneError,
    ChannelMovedError,
    ChatAdapter,
    DeliveryError,
    OutgoingMessage,
    TemporaryDeliveryError,
)
from bot.ports import Store, StoreError
from bot.retry import unless_stopped
from bot.schedule import due_at
from bot.views import ViewService

log = logging.getLogger(__name__)

STOP_GRACE = 1.5  # seconds a send in progress may take to finish once stopping; then it is cancelled
#: Seconds a process's claim on a chat's delivery lasts: a claim of a process that died mid-delivery
#: is taken over after it, well within the 30 s a failover may take.
CLAIM_LEASE = 20.0
#: Seconds before a round looks again at chats it left to another process's claim (instead of the
#: tick, 30 s): the claims of a leader that died mid-fan-out run out `CLAIM_LEASE` after they were
#: taken, and the new leader must send those chats' digests soon after, not a tick later. Such a round
#: costs a claim attempt per chat still claimed (at most one per worker of the dead leader: 64).
CLAIM_RETRY = 2.0


@dataclass(slots=True)
class ChannelOutcome:
    """What one channel's delivery of one announcement came to."""

    channel: Channel
    announcement_date: dt.date
    papers_sent: int = 0
    messages_sent: int = 0
    result: str = "ok"  # ok, empty, gone, failed, skipped (stopping: not started, or cut short)
    claimed_elsewhere: bool = False  # skipped: another process's claim on the chat had not run out


class _Stopped(Exception):
    """The service is stopping: this chat's delivery ends here and continues at the next start."""


@dataclass(slots=True)
class DeliveryReport:
    """What one round of deliveries did."""

    outcomes: list[ChannelOutcome] = field(default_factory=list)

    @property
    def papers_sent(self) -> int:
        """Papers delivered in this round, over all channels."""
        return sum(outcome.papers_sent for outcome in self.outcomes)


def _leaving_out(digest: Digest, delivered: set[str]) -> Digest:
    """The digest without the papers its channel already has."""
    if not delivered:
        return digest
    sections = tuple(
        TopicDigest(section.topic, tuple(p for p in section.papers if p.arxiv_id not in delivered))
        for section in digest.topics
    )
    return replace(digest, topics=sections)


class DeliveryService:
    """Finds due digests and delivers them through the adapters, exactly once per channel and paper."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, ChatAdapter],
        default_categories: Sequence[str],
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        concurrency: int = 64,
        max_attempts: int = 5,
        retention_days: int = 14,
        channels: ChannelRegistry | None = None,
        stop_grace: float = STOP_GRACE,
        views: ViewService | None = None,
        claim_holder: str | None = None,
        claim_lease: float = CLAIM_LEASE,
        claim_retry: float = CLAIM_RETRY,
    ) -> None:
        """`stop_grace`: seconds a send in progress may still take once `run` is told to stop.

        `claim_holder` names this process when several share the database: each chat is then claimed
        (`Store.claim_channel`, for `claim_lease` seconds) before its digest is sent and released after,
        so two processes never send one chat's digest at once; the ledger stays the final guard. A
        round that left chats to another's claim runs again `claim_retry` seconds later (not a tick).
        """
        self._holder = claim_holder
        self._lease = dt.timedelta(seconds=claim_lease)
        self._claim_retry = claim_retry
        self._store = store
        self._views = views or ViewService(store, default_categories, clock=clock)
        self._stop_grace = stop_grace
        self._abandon = asyncio.Event()  # set `stop_grace` after stopping: sends in progress are cancelled
        self._channels = channels or ChannelRegistry(store)
        self._adapters = dict(adapters)
        self._default_categories = tuple(default_categories)
        self._clock = clock
        self._sleep = sleep
        self._workers = max(concurrency, 1)  # chats served at once: one worker each
        self._max_attempts = max_attempts
        self._retention = dt.timedelta(days=retention_days)
        self._round_lock = asyncio.Lock()
        # A chat whose delivery failed waits before the next try: 1, 2, 4 … minutes, at most an hour.
        self._retry_after: dict[int, tuple[dt.datetime, int]] = {}
        self._stopping: asyncio.Event | None = None  # set by `run`: once set, no new chat is started

    def _is_stopping(self) -> bool:
        """Whether `run` was told to stop (a round then starts no chat and no further message)."""
        return self._stopping is not None and self._stopping.is_set()

    async def deliver_due(self) -> DeliveryReport:
        """Deliver every digest whose time has come: oldest announcement first, channels concurrently."""
        async with self._round_lock:
            report = DeliveryReport()
            now = self._clock()
            dates = await self._store.announcement_dates(now.date() - self._retention)
            if not dates:
                return report
            channels = [
                channel
                for channel in await self._store.list_channels(active_only=True)
                if channel.platform in self._adapters
                and any(topic.keywords for topic in channel.topics)
                and not self._backing_off(channel, now)
            ]
            for date in dates:
                if self._is_stopping():
                    break
                due = [
                    channel
                    for channel in channels
                    if (channel.done_up_to is None or channel.done_up_to < date)
                    and due_at(date, channel.delivery_time, channel.timezone) <= now
                ]
                if not due:
                    continue
                announcement = await self._store.get_announcement(date)
                if announcement is None:
                    continue
                outcomes = await self._deliver_announcement(announcement, due)
                report.outcomes.extend(outcomes)
                self._note_failures(outcomes, now)
                by_id = {outcome.channel.id: outcome for outcome in outcomes}
                remaining = []
                for channel in channels:
                    outcome = by_id.get(channel.id)
                    if outcome is None:
                        remaining.append(channel)
                    elif outcome.result in {"ok", "empty"}:
                        remaining.append(outcome.channel)
                    # A channel that failed (or is gone) must not skip ahead to a later date this round.
                channels = remaining
            return report

    def _backing_off(self, channel: Channel, now: dt.datetime) -> bool:
        """Whether a channel that failed recently must wait longer before the next try."""
        waiting = self._retry_after.get(channel.id) if channel.id is not None else None
        return waiting is not None and waiting[0] > now

    def _note_failures(self, outcomes: Sequence[ChannelOutcome], now: dt.datetime) -> None:
        """Back off from channels that failed; forget the back-off of those that succeeded."""
        for outcome in outcomes:
            channel_id = outcome.channel.id
            if channel_id is None:
                continue
            if outcome.result == "failed":
                failures = self._retry_after.get(channel_id, (now, 0))[1] + 1
                wait = dt.timedelta(minutes=min(2 ** (failures - 1), 60))
                self._retry_after[channel_id] = (now + wait, failures)
            elif outcome.result != "skipped":
                self._retry_after.pop(channel_id, None)

    async def _deliver_announcement(
        self, announcement: Announcement, channels: Sequence[Channel]
    ) -> list[ChannelOutcome]:
        """One matching pass for all these channels, then each channel's digest, concurrently.

        A fixed set of workers takes the channels in order, so 10,000 due chats cost as many
        coroutines as the concurrency allows, not one task each, and sending starts with the first
        chat instead of after a ledger look-up for every chat.
        """
        matched = build_digests(announcement, channels, self._default_categories)
        outcomes: list[ChannelOutcome | None] = [None] * len(channels)
        positions = iter(range(len(channels)))  # shared by the workers: each position is taken once

        async def one(position: int) -> ChannelOutcome:
            channel, full = channels[position], matched[position]
            if self._is_stopping():  # left for the next start; its cursor stays where it is
                return ChannelOutcome(channel=channel, announcement_date=full.date, result="skipped")
            assert channel.id is not None
            if self._holder is not None:
                now = self._clock()
                if not await self._store.claim_channel(channel.id, self._holder, now, now + self._lease):
                    log.info(
                        "%s chat %s is being delivered by another process: left to it",
                        channel.platform,
                        channel.chat_id,
                    )
                    return ChannelOutcome(
                        channel=channel, announcement_date=full.date, result="skipped", claimed_elsewhere=True
                    )
            try:
                # The ledger is asked only about the channel's matches (tens of papers), not the whole
                # day (and only now, claimed: another process may have sent some a moment ago).
                ids = [paper.arxiv_id for paper in full.papers]
                delivered = await self._store.delivered_ids(channel.id, ids) if ids else set()
                digest = _leaving_out(full, delivered)
                return await self.deliver_digest(
                    channel, digest, delivered_before=full.matched_count - digest.matched_count
                )
            finally:
                if self._holder is not None:
                    await self._store.release_channel(channel.id, self._holder)

        async def worker() -> None:
            for position in positions:
                outcomes[position] = await one(position)

        await asyncio.gather(*(worker() for _ in range(min(self._workers, len(channels)))))
        return [outcome for outcome in outcomes if outcome is not None]

    async def deliver_digest(
        self, channel: Channel, digest: Digest, *, delivered_before: int = 0
    ) -> ChannelOutcome:
        """Deliver one channel's digest of one announcement and move its cursor past that date.

        `delivered_before` counts matching papers left out of `digest` because the channel already
        has them: when that is all there was (a round interrupted after its last message, or a
        replacement of a paper sent earlier), the chat gets nothing, not a "nothing matched" notice.
        """
        adapter = self._adapters[channel.platform]
        outcome = ChannelOutcome(channel=channel, announcement_date=digest.date)
        try:
            if digest.matched_count == 0 and delivered_before:
                # Every match was sent; what followed the page (the file) may still be owed.
                stored = await self._views.stored_daily(channel, digest.date)
                if stored is None or stored.view.followers_sent:
                    log.debug("%s chat %s already has every match", channel.platform, channel.chat_id)
                else:
                    channel = await self._send_view(adapter, channel, stored, outcome, followers_only=True)
            elif digest.matched_count == 0:
                outcome.result = "empty"
                if channel.notify_empty:
                    channel = await self._send(
                        adapter, channel, adapter.render_empty_day(digest, channel), outcome
                    )
            else:
                view = await self._views.daily(channel, digest)
                channel = await self._send_view(adapter, channel, view, outcome)
        except _Stopped:
            # Left for the next start: the cursor stays, the ledger knows what this chat already has.
            log.debug(
                "stopping: %s chat %s gets the rest of %s at the next start (%d papers sent now)",
                channel.platform,
                channel.chat_id,
                digest.date.isoformat(),
                outcome.papers_sent,
            )
            outcome.result = "skipped"
            outcome.channel = channel
            return outcome
        except ChannelGoneError as error:
            outcome.result = "gone"
            channel = await self._channels.gone(channel, str(error))
        except DeliveryError as error:
            outcome.result = "failed"
            log.warning("delivery to %s chat %s failed: %s", channel.platform, channel.chat_id, error)
        else:
            assert channel.id is not None
            await self._store.set_done_up_to(channel.id, digest.date)
            channel = replace(channel, done_up_to=digest.date)
        outcome.channel = channel
        assert channel.id is not None
        await self._store.record_delivery_result(
            DeliveryResult(
                channel_id=channel.id,
                delivered_at=self._clock(),
                announcement_date=digest.date,
                result=outcome.result,
                papers=outcome.papers_sent,
            )
        )
        return outcome

    async def _send_view(
        self,
        adapter: ChatAdapter,
        channel: Channel,
        view: LoadedView,
        outcome: ChannelOutcome,
        *,
        followers_only: bool = False,
    ) -> Channel:
        """Send a stored digest's messages: those with papers through the ledger, then their followers.

        A follower is a paper-less message after the page (the Markdown file). The page's papers are
        confirmed as soon as the page is out; the followers are owed until the view records them sent,
        so a crash between the page and the file sends the file alone at the next start, never the
        page again (`followers_only`: the page is known to be out).
        """
        date = view.view.announcement_date
        paged = sent_followers = False
        for message in adapter.render_digest(view, channel):
            if self._is_stopping():
                raise _Stopped
            if message.paper_ids or not paged:  # a page (or a line before the first page)
                paged = paged or bool(message.paper_ids)
                if not followers_only:
                    channel = await self._send_with_ledger(adapter, channel, date, message, outcome)
            elif not view.view.followers_sent:
                channel = await self._send(adapter, channel, message, outcome)
                sent_followers = True
        if sent_followers:
            await self._views.followers_sent(view.view)
        return channel

    async def _send_with_ledger(
        self,
        adapter: ChatAdapter,
        channel: Channel,
        date: dt.date,
        message: OutgoingMessage,
        outcome: ChannelOutcome,
    ) -> Channel:
        """Reserve the message's papers, send it, confirm them; release them if it surely never left."""
        assert channel.id is not None
        if message.paper_ids:
            pending = await self._store.reserve_deliveries(channel.id, date, message.paper_ids)
            if not pending:
                return channel  # every paper here was delivered before
        try:
            channel = await self._send(adapter, channel, message, outcome)
        except DeliveryError:
            assert channel.id is not None
            await self._store.release_deliveries(channel.id, message.paper_ids)
            raise
        assert channel.id is not None
        await self._store.confirm_deliveries(channel.id, message.paper_ids)
        outcome.papers_sent += len(message.paper_ids)
        return channel

    async def _send(
        self, adapter: ChatAdapter, channel: Channel, message: OutgoingMessage, outcome: ChannelOutcome
    ) -> Channel:
        """Send with retries: follow a moved chat, wait out rate limits, back off on network trouble."""
        delay = 1.0
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._abandonable(adapter.send(channel, message))
            except ChannelMovedError as moved:
                relocated = await self._channels.moved(channel.platform, channel.chat_id, moved.new_chat_id)
                channel = relocated or replace(channel, chat_id=moved.new_chat_id)
                continue
            except TemporaryDeliveryError as error:
                if attempt == self._max_attempts:
                    raise
                wait = error.retry_after if error.retry_after is not None else delay
                delay = min(delay * 2, 60.0)
                if self._is_stopping():  # no waiting to retry now: the next start sends it
                    raise _Stopped from None
                log.info("retrying %s chat %s in %.1f s: %s", channel.platform, channel.chat_id, wait, error)
                await self._sleep(wait)
                continue
            outcome.messages_sent += 1
            return channel
        raise TemporaryDeliveryError(f"gave up after {self._max_attempts} attempts")

    async def _abandonable(self, send: Awaitable[object]) -> None:
        """Run one send; once stopping and `stop_grace` has passed, cancel it and raise _Stopped."""
        stopped, _ = await unless_stopped(self._abandon, send)
        if stopped:
            raise _Stopped

    async def _abandon_after_grace(self, stop: asyncio.Event) -> None:
        """Once `stop` is set, give the sends in progress `stop_grace` seconds, then cancel them."""
        await stop.wait()
        await asyncio.sleep(self._stop_grace)
        self._abandon.set()

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, *, tick: float = 30.0) -> None:
        """Deliver due digests every `tick` seconds, or at once when `wake` is set, until `stop`.

        When `stop` is set during a round, no chat is started, the chats in progress stop before their
        next message, and a send still under way after `stop_grace` seconds is cancelled: shutting
        down never waits for a fan-out (see the module docstring for what the next start does).
        """
        self._stopping = stop
        self._abandon.clear()  # run again (this process took the role back): sends are not abandoned
        abandoning = asyncio.create_task(self._abandon_after_grace(stop), name="delivery stop grace")
        try:
            await self._rounds(stop, wake, tick)
        finally:
            abandoning.cancel()

    async def _rounds(self, stop: asyncio.Event, wake: asyncio.Event, tick: float) -> None:
        """`run`'s loop: a round, then wait for the tick, a wake-up or the stop."""
        while not stop.is_set():
            # Cleared before the round, not after: a wake-up that comes during the round (a new
            # announcement, a changed setting) then starts the next round at once instead of being lost.
            wake.clear()
            wait = tick
            try:
                report = await self.deliver_due()
                if report.outcomes:
                    elsewhere = sum(outcome.claimed_elsewhere for outcome in report.outcomes)
                    later = sum(outcome.result == "skipped" for outcome in report.outcomes) - elsewhere
                    served = sum(o.result != "skipped" or o.papers_sent > 0 for o in report.outcomes)
                    log.info(
                        "delivered %d papers to %d channels%s%s",
                        report.papers_sent,
                        served,
                        f"; stopping: {later} channels get the rest at the next start" if later else "",
                        f"; {elsewhere} channels claimed by another process: looking again in "
                        f"{self._claim_retry:.0f} s"
                        if elsewhere
                        else "",
                    )
                    if elsewhere:
                        wait = min(tick, self._claim_retry)
            except StoreError as error:  # the database is away (a server restarting): said in one line
                log.error("delivery round failed: %s; trying again next round", error)
            except Exception:
                log.exception("delivery round failed; trying again next round")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:  # cancelled too (an adapter failed to start): leave no waiter behind
                for waiter in waiters:
                    waiter.cancel()
