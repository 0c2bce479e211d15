"""Crash and restart: `arxiv-digest run` SIGKILLed 20 times mid-fan-out loses nothing, repeats only in flight.

A real child process (as in tests/test_shutdown.py) serves 700 Telegram chats, each due one paged
digest message of the anchor's 34 MLLM papers (and every fourth chat, with `/settings file on`, the
day's Markdown file after it) of a feed the fake arXiv serves re-dated to today. It is killed with
SIGKILL at a seeded random moment after the first sendMessage of each run, restarted on the same
database, 20 times, and then left to finish.

Why nothing is lost, the counts stay right and only the message in flight can come twice
(`bot.delivery`, `bot.views`, `storage`):

- Before a chat's message leaves, its digest *view* is stored (papers in order, counts, topics), then
  the papers the message carries (all of them: every page is a tap away) are *reserved* in the ledger
  as `pending` and committed. Only then is it sent, then the file if the chat wants one; once Telegram
  has answered both, the papers are *confirmed* (`sent`).
- A restart finds each chat's stored view again, so a resumed digest says the same "34 of N" and
  keeps every page; a chat's cursor (`done_up_to`) moves only after its message (and file) went out.
- A kill before the reservation commits, or while a request still waits in the rate limiter, leaves
  nothing at Telegram: the restart sends it (no loss). A kill after the confirmation: the restart
  leaves it out (no repeat). A kill between the page and the file: both again, so the file is never
  lost and the page never comes without the file it belongs to.
- A kill after Telegram accepted the page but before the confirmation committed sends it again: the
  only at-least-once window, at most one page (and its file) per chat and kill.

The test asserts exactly that from the fake's records and the database: every chat's view holds all
34 papers and every page message says "34 of", every file chat got its file, every chat's ledger has
34 `sent` rows and none pending, a chat's page came twice only after a kill caught it in flight, and
the last page message's buttons name the chat's stored view.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
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
from bot.views import decode_press
from storage.sqlite_store import open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_both_platforms import EASTERN, anchor_feed_dated
from tests.test_shutdown import Child, cursors
from tests.test_telegram_e2e import MLLM_KEYWORDS, mllm_ids, until

KILLS = 20
CHATS = [8_100 + n for n in range(700)]  # private chats: one page message each
FILE_CHATS = set(CHATS[::4])  # these asked for the Markdown file too: 875 messages in all
MAX_KILL_DELAY = 1.0  # s after a run's first sendMessage; at ~30 messages/s 20 kills send ≤ ~600
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


def daily_views(database: Path, today: dt.date) -> dict[str, tuple[int, list[str], int]]:
    """Per chat id: its daily view of `today` (id, paper ids in order, announced count)."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT chat_id, id, entries, announced_count FROM digest_views"
            " WHERE kind = 'daily' AND announcement_date = ?",
            (today.isoformat(),),
        ).fetchall()
    return {
        str(chat): (int(view), [entry[0] for entry in json.loads(entries)], int(n))
        for chat, view, entries, n in rows
    }


def button_views(call: RecordedCall) -> set[int]:
    """The view ids a message's inline buttons name."""
    markup = call.params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    pressed = [
        decode_press(button.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]
    return {press.view_id for press in pressed if press is not None and hasattr(press, "view_id")}


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
                send_file=chat in FILE_CHATS,
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
    views = daily_views(database, today)
    announced = {view[2] for view in views.values()}
    assert len(announced) == 1, announced  # every chat's view counts the same announced papers
    repeats: dict[int, int] = {}
    for chat in CHATS:
        view_id, paper_ids, _ = views[str(chat)]
        assert set(paper_ids) == expected, f"chat {chat}'s view"
        assert len(paper_ids) == len(expected), f"chat {chat}'s view lists a paper twice"
        pages_seen = files_seen = repeated_messages = served_kills = 0
        in_flight = False  # the last thing a killed process got accepted for this chat was its page
        last_page: RecordedCall | None = None
        for run in runs:
            calls = [
                call
                for call in telegram.calls[run.begin : run.end]
                if call.method in {"sendMessage", "sendDocument"} and call.chat_id == str(chat) and call.ok
            ]
            for call in calls:
                if call.method == "sendDocument":
                    assert chat in FILE_CHATS, f"chat {chat} got a file it never asked for"
                    assert pages_seen > files_seen, f"chat {chat}: a file without its page"
                    files_seen += 1
                    continue
                text = call.params["text"]
                assert f"{len(expected)} of " in text, f"chat {chat}: wrong counts in {text[:200]!r}"
                assert "attached" not in text.lower(), f"chat {chat}: a page promising a file"
                if pages_seen:
                    repeated_messages += 1
                    assert in_flight, f"chat {chat}: its page came again without a kill catching it in flight"
                pages_seen += 1
                last_page = call
            if run.killed:
                served_kills += bool(calls)
                in_flight = bool(calls) or in_flight
        assert pages_seen >= 1, f"chat {chat} never got its digest"
        if chat in FILE_CHATS:
            assert files_seen >= 1, f"chat {chat} never got the file it asked for"
        assert repeated_messages <= served_kills, (
            f"chat {chat}: {repeated_messages} repeats, {served_kills} kills"
        )
        assert last_page is not None
        assert view_id in button_views(last_page), f"chat {chat}: its buttons do not name its view {view_id}"
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
        f"\ncrash-restart: {KILLS} SIGKILLs mid-fan-out ({len(CHATS)} chats x 1 paged message, "
        f"{len(FILE_CHATS)} with a file); "
        f"{total_repeats} repeated messages in all (chats by number of repeats: {per_chat}); "
        f"messages accepted per run {accepted}; chats incomplete at each kill "
        f"{[run.incomplete_at_kill for run in runs if run.killed]}; "
        f"start to first send {min(starts):.2f}-{max(starts):.2f} s; "
        f"last run finished in {final_took:.1f} s; whole test {total_took:.1f} s"
    )
    record_property("crash_restart_repeats", total_repeats)
    record_property("crash_restart_seconds", round(total_took, 1))
