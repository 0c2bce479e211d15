"""Crash and restart: `arxiv-digest run` SIGKILLed 20 times mid-fan-out loses nothing, repeats only in flight.

A real child process (as in tests/test_shutdown.py) serves 40 Telegram chats, each due a 17-message
digest (the anchor's 34 MLLM papers, all inline) of a feed the fake arXiv serves re-dated to today.
It is killed with SIGKILL at a seeded random moment after the first sendMessage of each run, restarted
on the same database, 20 times, and then left to finish.

Why nothing is lost and only the message in flight can come twice (`bot.delivery`, `storage`):

- Before a message leaves, the papers it carries are *reserved*: written to the `deliveries` ledger
  as `pending` and committed. Only then is it sent; once Telegram has answered, they are *confirmed*
  (`sent`). A chat's messages go one at a time, reserve → send → confirm, before the next reservation.
- A restart rebuilds each chat's digest leaving out only its `sent` papers, and a chat's cursor
  (`done_up_to`) moves only after its last message, so every chat cut short is due again.
- A kill before a reservation commits, or while the request still waits in the rate limiter, leaves
  nothing at Telegram: the papers are not `sent`, so the restart sends them (no loss). A kill after the
  confirmation: the restart leaves them out (no repeat).
- A kill after Telegram accepted a message but before its confirmation committed leaves its papers
  `pending`: the restart sends them again. That is the only at-least-once window, and because a chat
  has at most one message between reserve and confirm, a kill repeats at most one message per chat:
  the last one Telegram accepted from the killed process.

The test asserts exactly that from the fake's records and the ledger: every chat ends with all 34
papers, each chat's repeated papers all belong to the last message it got from some killed process,
each chat has at most one repeated message per kill that found it being served, and there are at most
20 repeats overall.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.models import Channel, Topic
from storage.sqlite_store import open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_both_platforms import EASTERN, anchor_feed_dated
from tests.test_shutdown import Child, cursors
from tests.test_telegram_e2e import MLLM_KEYWORDS, ids_in, mllm_ids, until

KILLS = 20
CHATS = [8_100 + n for n in range(40)]  # private chats: 17 messages each, 680 in all
MAX_KILL_DELAY = 1.5  # s after a run's first sendMessage; at ~30 messages/s the 20 kills span ~2/3 of it
CATEGORIES = "cs.AI,cs.CL,cs.CV,cs.LG"


@dataclass
class Run:
    """One start of the child: where its calls are in the fake's records, and how it ended."""

    begin: int  # index into `telegram.calls` when it started
    end: int = 0  # index when the next one started (or the test ended)
    killed: bool = False
    first_send_after: float = 0.0  # seconds from the start of the process to its first sendMessage
    kill_delay: float = 0.0  # seconds from that first sendMessage to the SIGKILL
    incomplete_at_kill: int = 0  # chats whose digest was not complete when it was killed


def ledger(database: Path) -> dict[str, Counter[str]]:
    """Per chat id: how many ledger rows are `sent` and how many `pending`."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT c.chat_id, d.status, COUNT(*) FROM deliveries d JOIN channels c ON c.id = d.channel_id"
            " GROUP BY c.chat_id, d.status"
        ).fetchall()
    counts: dict[str, Counter[str]] = {}
    for chat, status, count in rows:
        counts.setdefault(str(chat), Counter())[str(status)] = int(count)
    return counts


def complete(database: Path, today: dt.date) -> bool:
    """Whether the database says every chat's digest of `today` is complete."""
    days = cursors(database)
    return len(days) == len(CHATS) and all(day == today.isoformat() for day in days.values())


def first_send_since(telegram: FakeTelegramServer, begin: int) -> Callable[[], bool]:
    """Whether the fake has seen a sendMessage since call number `begin`."""

    def check() -> bool:
        return any(call.method == "sendMessage" for call in telegram.calls[begin:])

    return check


def sending_or_done(
    child: Child, sent: Callable[[], bool], database: Path, today: dt.date
) -> Callable[[], bool]:
    """Whether the child is alive and has sent (or finds every digest of `today` already complete)."""

    def check() -> bool:
        return child.alive() and (sent() or complete(database, today))

    return check


@pytest.mark.slow
@pytest.mark.xdist_group("heavy")  # timing-sensitive child processes: one at a time
async def test_sigkill_20_times_mid_fan_out_loses_nothing_and_repeats_only_in_flight_messages(
    tmp_path: Path, arxiv_server: FakeArxiv, record_property: Callable[[str, object], None]
) -> None:
    """20 SIGKILLs mid-delivery, restarted on one database: every paper arrives, only in-flight ones twice."""
    started = dt.datetime.now(EASTERN)  # the feed's date must stay today's (US Eastern) throughout
    if started.replace(hour=23, minute=57, second=0, microsecond=0) <= started:
        await until(lambda: dt.datetime.now(EASTERN).date() > started.date(), timeout=200, what="midnight")
    today = dt.datetime.now(EASTERN).date()
    arxiv_server.default_rss = Reply(body=anchor_feed_dated(today))
    database = tmp_path / "digest.db"
    store = await open_store(database)
    keywords = tuple(MLLM_KEYWORDS.split(", "))
    for chat in CHATS:
        await store.save_channel(
            Channel(
                platform="telegram",
                chat_id=str(chat),
                active=True,  # delivery time unset: as soon as the announcement is stored
                max_inline_papers=50,  # all 34 papers as messages, no file
                topics=(Topic("MLLM", keywords),),
            )
        )
    await store.close()
    telegram = FakeTelegramServer()  # no flood limits: a crash test needs no real pacing (the bot paces)
    await telegram.start()
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "DATABASE_URL": f"sqlite:///{database}",
        "ARXIV_RSS_URL": arxiv_server.rss_url,
        "ARXIV_API_URL": arxiv_server.api_url,
        "ARXIV_MAX_RETRIES": "0",
        "RECOVERY_DAYS": "0",
        "DEFAULT_CATEGORIES": CATEGORIES,
    }
    runs: list[Run] = []
    children: list[Child] = []
    began = time.monotonic()
    try:
        for number in range(KILLS):
            run = Run(begin=len(telegram.calls), killed=True)
            runs.append(run)
            child = await Child.start(tmp_path, env)
            children.append(child)
            spawned = time.monotonic()
            sent = first_send_since(telegram, run.begin)
            await until(
                sending_or_done(child, sent, database, today),
                timeout=30,
                what=f"run {number}'s first sendMessage",
            )
            if not sent():  # nothing left to send (papers lost?): the checks below say what happened
                run.killed = False
                await child.terminate()
                run.end = len(telegram.calls)
                break
            run.first_send_after = time.monotonic() - spawned
            run.kill_delay = random.Random(number).uniform(0.0, MAX_KILL_DELAY)  # one seed per kill
            await asyncio.sleep(run.kill_delay)
            assert child.alive()
            child.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(child.process.wait(), timeout=10)
            assert child.process.returncode == -signal.SIGKILL
            await asyncio.sleep(0.05)  # let the fake finish answering what was on the wire
            run.incomplete_at_kill = sum(day != today.isoformat() for day in cursors(database).values())
            run.end = len(telegram.calls)

        final = Run(begin=len(telegram.calls))
        runs.append(final)
        child = await Child.start(tmp_path, env)
        children.append(child)
        spawned = time.monotonic()
        await until(
            lambda: child.alive() and complete(database, today),
            timeout=60,
            what="every chat's digest to be complete after the last restart",
        )
        final_took = time.monotonic() - spawned
        await asyncio.sleep(0.5)  # nothing more may follow
        await child.terminate()
        assert child.process.returncode == 0, child.log[-3000:]
        final.end = len(telegram.calls)
    finally:
        for child in children:
            await child.kill()
        await telegram.close()
    total_took = time.monotonic() - began

    assert "Traceback" not in "".join(child.log for child in children)
    expected = mllm_ids()
    repeats: dict[int, int] = {}
    for chat in CHATS:
        seen: set[str] = set()
        maybe_unconfirmed: set[str] = set()  # papers of the last message a killed process got accepted
        repeated_messages = 0
        served_kills = 0
        for run in runs:
            calls = [
                call
                for call in telegram.calls[run.begin : run.end]
                if call.method == "sendMessage" and call.chat_id == str(chat)
            ]
            messages = [ids_in(call.params["text"]) for call in calls if call.ok]
            for message in messages:
                assert message, f"chat {chat} got a message without papers (a 'nothing matched' notice?)"
                again = seen & set(message)
                if again:
                    repeated_messages += 1
                    assert again <= maybe_unconfirmed, (
                        f"chat {chat}: {sorted(again)} came again but were not in flight at a kill"
                    )
                seen |= set(message)
            if run.killed:
                served_kills += bool(calls)
                if messages:
                    maybe_unconfirmed |= set(messages[-1])
        assert seen == expected, f"chat {chat} is missing {sorted(expected - seen)}"
        assert repeated_messages <= served_kills, (
            f"chat {chat}: {repeated_messages} repeats, {served_kills} kills"
        )
        repeats[chat] = repeated_messages
    rows = ledger(database)
    assert all(rows[str(chat)] == Counter(sent=len(expected)) for chat in CHATS), rows  # none left pending
    kills = [run for run in runs if run.killed]
    assert len(kills) == KILLS, f"every digest was complete after {len(kills)} kills"
    # Every kill came in the middle of the delivery: some chat still had papers to get.
    assert all(run.incomplete_at_kill > 0 for run in kills), [run.incomplete_at_kill for run in kills]
    total_repeats = sum(repeats.values())
    assert total_repeats <= KILLS

    per_chat = dict(sorted(Counter(repeats.values()).items()))
    starts = [run.first_send_after for run in runs if run.killed]
    accepted = [
        sum(call.ok and call.method == "sendMessage" for call in telegram.calls[run.begin : run.end])
        for run in runs
    ]
    print(
        f"\ncrash-restart: {KILLS} SIGKILLs mid-fan-out ({len(CHATS)} chats x 17 messages); "
        f"{total_repeats} repeated messages in all (chats by number of repeats: {per_chat}); "
        f"messages accepted per run {accepted}; chats incomplete at each kill "
        f"{[run.incomplete_at_kill for run in runs if run.killed]}; "
        f"start to first send {min(starts):.2f}-{max(starts):.2f} s; "
        f"last run finished in {final_took:.1f} s; whole test {total_took:.1f} s"
    )
    record_property("crash_restart_repeats", total_repeats)
    record_property("crash_restart_seconds", round(total_took, 1))
