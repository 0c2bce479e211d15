"""Three `arxiv-digest run` processes on one PostgreSQL: the leader SIGKILLed mid-fan-out loses nothing.

Three real child processes share one PostgreSQL schema and one bot token, against the fake Bot API and
the fake arXiv in this process (each process aimed at its own URL prefix of both fakes, `a`, `b`, `c`,
so the fakes tell who asked). 60 Telegram chats are seeded through the store; the anchor listing
(34 MLLM papers for each chat) is served once all three are up. The process that fetches the feed
(it holds the ingest role, and says so in its log) is SIGKILLed after 20 of the 60 digests, and the
others must finish the round:

- lost 0: every chat's page message says "34 of" and the ledger has the chat's 34 papers `sent`, none
  pending; a chat's page came twice only if the killed leader had it reserved but not confirmed (in
  flight) when it died, and at most once more;
- arXiv asked once per check for the whole deployment: every feed request came from the process that
  held the ingest role at the time (one before the kill, one after), consecutive requests are
  ARXIV_POLL_INTERVAL apart, and never two within ARXIV_REQUEST_INTERVAL (3 s), the failover included;
- Telegram's updates are taken by one process at a time: no getUpdates is ever answered 409 Conflict
  (the fake ends an older long poll with 409 when a newer one comes, as Telegram does);
- a command sent after the kill is answered; every survivor exits 0 on SIGTERM.

The killed leader's unfinished chats stay claimed (`Store.claim_channel`, 20 s) and the new leader
takes them as their claims run out, so the round ends about 20 s after the fan-out began.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import asyncpg
import pytest

from bot.models import Channel, Topic
from storage.open import open_database
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_both_platforms import EASTERN, anchor_feed_dated, linked_ids
from tests.test_shutdown import Child
from tests.test_telegram_e2e import EMPTY_FEED, MLLM_KEYWORDS, mllm_ids, until

CLIENTS = ("a", "b", "c")
CHATS = [9_100 + n for n in range(60)]  # private chats: one paged message each
COMMAND_CHAT = 7_777  # not subscribed: it asks /start after the kill
KILL_AFTER = 20  # digests the leader sends before it is killed
POLL_INTERVAL = 4.0
REQUEST_INTERVAL = 3.0
CATEGORIES = "cs.AI,cs.CL,cs.CV,cs.LG"


async def ledger(url: str) -> dict[str, Counter[str]]:
    """Per chat id: how many ledger rows are `sent` and how many `pending`."""
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT c.chat_id, d.status, count(*) FROM deliveries d JOIN channels c ON c.id = d.channel_id"
            " GROUP BY c.chat_id, d.status"
        )
    finally:
        await db.close()
    counts: dict[str, Counter[str]] = {}
    for chat, status, count in rows:
        counts.setdefault(str(chat), Counter())[str(status)] = int(count)
    return counts


async def chats_done(url: str, day: dt.date) -> int:
    """How many chats' cursors say their digest of `day` is complete."""
    db = await asyncpg.connect(url)
    try:
        return int(await db.fetchval("SELECT count(*) FROM channels WHERE done_up_to = $1", day.isoformat()))
    finally:
        await db.close()


def pages(telegram: FakeTelegramServer) -> list[RecordedCall]:
    """The digest page messages Telegram accepted (those linking to papers), in order."""
    return [
        call
        for call in telegram.calls_to("sendMessage", ok=True)
        if call.chat_id in {str(chat) for chat in CHATS} and linked_ids(str(call.params.get("text")))
    ]


@pytest.mark.slow
@pytest.mark.postgresql_only
@pytest.mark.xdist_group("heavy")  # timing-sensitive child processes: one at a time
async def test_three_processes_on_postgresql_survive_the_leader_killed_mid_fan_out(
    tmp_path: Path, arxiv_server: FakeArxiv, postgres_schema_url: str
) -> None:
    """Leader SIGKILLed mid-fan-out: lost 0, repeats only in flight, one arXiv fetch a check, no 409."""
    started = dt.datetime.now(EASTERN)  # the feed's date must stay today's (US Eastern) throughout
    if started.replace(hour=23, minute=58, second=0, microsecond=0) <= started:
        await until(lambda: dt.datetime.now(EASTERN).date() > started.date(), timeout=150, what="midnight")
    today = dt.datetime.now(EASTERN).date()
    arxiv_server.default_rss = Reply.feed(EMPTY_FEED)  # nothing announced until all three are up
    url = postgres_schema_url
    store = await open_database(url)
    keywords = tuple(MLLM_KEYWORDS.split(", "))
    try:
        for chat in CHATS:
            await store.save_channel(
                Channel("telegram", str(chat), active=True, topics=(Topic("MLLM", keywords),))
            )
    finally:
        await store.close()
    telegram = FakeTelegramServer()
    await telegram.start()
    telegram.enable_rate_limits()  # Telegram's: 30 messages/s for the token, whichever process sends
    children: dict[str, Child] = {}
    began = time.monotonic()
    try:
        for client in CLIENTS:
            rss_url, api_url = arxiv_server.client_urls(client)
            env = {
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_API_URL": telegram.client_url(client),
                "DATABASE_URL": url,
                "ARXIV_RSS_URL": rss_url,
                "ARXIV_API_URL": api_url,
                "ARXIV_POLL_INTERVAL": str(POLL_INTERVAL),
                "ARXIV_REQUEST_INTERVAL": str(REQUEST_INTERVAL),
                "ARXIV_MAX_RETRIES": "0",
                "RECOVERY_DAYS": "0",
                "DEFAULT_CATEGORIES": CATEGORIES,
                "LOG_LEVEL": "INFO",
            }
            children[client] = await Child.start(tmp_path, env)

        def all_up() -> bool:
            """Every process has its roles sorted out and its adapter talking to Telegram."""
            sorted_out = [child for child in children.values() if "holds the ingest role" in child.log]
            talking = {call.client for call in telegram.calls}
            checked = bool(arxiv_server.of_kind("rss"))
            alive = all(child.alive() for child in children.values())
            return alive and len(sorted_out) == len(CLIENTS) and talking >= set(CLIENTS) and checked

        await until(all_up, timeout=30, what="three processes up, one of them checking the feed")
        up_after = time.monotonic() - began
        (leader,) = {request.client for request in arxiv_server.of_kind("rss")}
        assert "this process now holds the ingest role" in children[leader].log
        assert all("another process holds the ingest role" in children[c].log for c in CLIENTS if c != leader)
        survivors = [client for client in CLIENTS if client != leader]

        switched = time.monotonic()
        arxiv_server.default_rss = Reply(body=anchor_feed_dated(today))
        await until(lambda: len(pages(telegram)) >= KILL_AFTER, timeout=30, what=f"{KILL_AFTER} digests")
        children[leader].process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        kill_after_switch = killed - switched
        await asyncio.wait_for(children[leader].process.wait(), timeout=10)
        await asyncio.sleep(0.05)  # let the fake finish answering what was on the wire
        at_kill = await ledger(url)  # the new leader waits ≥ 3 s before it acts: this is the dead one's
        in_flight = {chat for chat, counts in at_kill.items() if counts["pending"]}
        done_at_kill = await chats_done(url, today)
        sent_by_leader = {call.chat_id for call in pages(telegram)}
        assert len(sent_by_leader) < len(CHATS), "the fan-out was over before the kill"

        telegram.push_message(COMMAND_CHAT, "/start")
        (answer, *_) = await telegram.wait_for_call("sendMessage", chat_id=COMMAND_CHAT, ok=True, timeout=20)
        assert answer.client in survivors
        answered_after = time.monotonic() - killed
        deadline = time.monotonic() + 45
        while await chats_done(url, today) < len(CHATS):
            assert all(children[c].alive() for c in survivors)
            assert time.monotonic() < deadline, "the survivors did not finish the round"
            await asyncio.sleep(0.2)
        finished_after = time.monotonic() - killed
        await asyncio.sleep(0.5)  # nothing more may follow
        signalled = time.monotonic()
        for client in survivors:
            children[client].process.send_signal(signal.SIGTERM)
        stop_times = {}
        for client in survivors:
            await asyncio.wait_for(children[client].process.wait(), timeout=15)
            stop_times[client] = time.monotonic() - signalled
            await asyncio.wait_for(asyncio.gather(*children[client].readers), timeout=10)
    finally:
        for child in children.values():
            await child.kill()
        await telegram.close()
        for client, child in children.items():  # kept with the test's tmp_path, for a failure's story
            (tmp_path / f"{client}.log").write_text(child.log)

    for client in survivors:
        child = children[client]
        assert child.process.returncode == 0, f"{client}: {child.log[-3000:]}"
        assert "Traceback" not in child.log, child.log[-3000:]
    assert "Traceback" not in children[leader].log

    # Every chat got every paper: its page message carries all 34, its ledger has them sent.
    expected = mllm_ids()
    rows = await ledger(url)
    assert all(rows.get(str(chat)) == Counter(sent=len(expected)) for chat in CHATS), rows
    by_chat: dict[str, list[RecordedCall]] = {}
    for call in pages(telegram):
        assert f"{len(expected)} of " in call.params["text"], call.params["text"][:200]
        by_chat.setdefault(str(call.chat_id), []).append(call)
    assert set(by_chat) == {str(chat) for chat in CHATS}, "a chat never got its digest"
    # Repeated only what the leader had in flight (reserved, not confirmed) when it died, once at most.
    repeated = {chat for chat, calls in by_chat.items() if len(calls) > 1}
    assert all(len(calls) <= 2 for calls in by_chat.values())
    assert repeated <= in_flight, (repeated, in_flight)
    for repeated_chat in repeated:
        first, second = by_chat[repeated_chat]
        assert first.client == leader
        assert first.time < second.time
    # One new leader sent what the killed one had not.
    after_kill = {call.client for call in pages(telegram) if call.chat_id not in sent_by_leader}
    assert len(after_kill) == 1
    assert after_kill <= set(survivors)

    # arXiv: one process at a time asks, once a check, never twice within 3 s.
    rss = arxiv_server.of_kind("rss")
    assert arxiv_server.of_kind("api") == []
    before = [request for request in rss if request.started < killed]
    after = [request for request in rss if request.started >= killed]
    assert {request.client for request in before} == {leader}
    # The new leader finds today's announcement stored: it may wait for tomorrow's without asking.
    assert {request.client for request in after} <= after_kill
    gaps = [later.started - earlier.finished for earlier, later in pairwise(rss)]
    assert min(gaps) >= REQUEST_INTERVAL - 0.05, gaps
    within_a_term = [
        later.started - earlier.finished for earlier, later in pairwise(rss) if earlier.client == later.client
    ]
    assert min(within_a_term) >= POLL_INTERVAL - 0.25, f"two feed fetches in one check: {within_a_term}"

    # Telegram: one getUpdates consumer at a time, the command answered after the kill.
    polls = telegram.calls_to("getUpdates")
    assert [call for call in polls if call.status == 409] == []
    assert {call.client for call in polls} <= set(CLIENTS)
    print(
        f"\nmultiprocess test: all up {up_after:.1f} s after the start; leader {leader} killed after "
        f"{len(sent_by_leader)} of {len(CHATS)} digests ({kill_after_switch:.1f} s after the feed changed); "
        f"{done_at_kill} complete in the database, in flight {len(in_flight)}, repeated {len(repeated)}; "
        f"/start answered {answered_after:.1f} s after the kill, round done "
        f"{finished_after:.1f} s after it; feed requests {len(rss)}; 429s {telegram.rate_limited_count}; "
        f"SIGTERM took {', '.join(f'{t:.1f}' for t in stop_times.values())} s; "
        f"{time.monotonic() - began:.1f} s in all"
    )
