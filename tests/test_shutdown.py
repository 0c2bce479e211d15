"""Starting and stopping `arxiv-digest run` as a real process: start-up retries, SIGTERM within 5 s.

The child runs in real time against the fakes in this process on 127.0.0.1 (see
tests/test_both_platforms.py for why the anchor listing is served re-dated to today).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.models import Channel, Topic
from storage.sqlite_store import open_store
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_model import RateLimits as ServerRateLimits
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_both_platforms import EASTERN, anchor_feed_dated, collect
from tests.test_cli import start_arxiv_digest
from tests.test_telegram_e2e import ids_in, until

FIXTURES = Path(__file__).parent / "fixtures"
CATEGORIES = "cs.AI,cs.CL,cs.CV,cs.LG"
KEYWORD = "MLLM"  # 11 papers of the anchor day: one paged message a chat (two pages)
PRIVATE_CHATS = [7_000 + n for n in range(280)]  # 1 message/s each
GROUPS = [-1_000_700 - n for n in range(20)]  # 1/s and 20/min each; 300 chats: ~10 s at 30 messages/s
CHATS = PRIVATE_CHATS + GROUPS


@dataclass
class Child:
    """A running `arxiv-digest run` and what it wrote."""

    process: asyncio.subprocess.Process
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, tmp_path: Path, env: dict[str, str]) -> Child:
        """Start it, reading both pipes to their end."""
        child = cls(await start_arxiv_digest("run", cwd=tmp_path, env=env))
        child.readers = [
            asyncio.create_task(collect(child.process.stdout, child.out)),
            asyncio.create_task(collect(child.process.stderr, child.err)),
        ]
        return child

    def alive(self) -> bool:
        """Still running (fails the test with its log if it ended)."""
        assert self.process.returncode is None, f"the bot exited early: {self.log[-3000:]}"
        return True

    @property
    def log(self) -> str:
        """Everything it wrote."""
        return self.err.decode() + self.out.decode()

    async def terminate(self, timeout: float = 15.0) -> float:
        """SIGTERM; the seconds until it exited."""
        self.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(self.process.wait(), timeout=timeout)
        took = time.monotonic() - signalled
        await asyncio.wait_for(asyncio.gather(*self.readers), timeout=10)
        return took

    async def kill(self) -> None:
        """Make sure it is gone (after a failure)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


def cursors(database: Path) -> dict[int, str | None]:
    """Each Telegram chat's last complete digest date, as the bot's database holds it."""
    try:
        with sqlite3.connect(database, timeout=0.2) as db:
            rows = db.execute("SELECT chat_id, done_up_to FROM channels").fetchall()
    except sqlite3.OperationalError:  # busy this instant
        return {}
    return {int(chat): day for chat, day in rows}


def sent_papers(database: Path) -> dict[str, set[str]]:
    """Per chat id: the papers its ledger says were sent."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT c.chat_id, d.arxiv_id FROM deliveries AS d JOIN channels AS c ON c.id = d.channel_id"
            " WHERE d.status = 'sent'"
        ).fetchall()
    papers: dict[str, set[str]] = {}
    for chat, arxiv_id in rows:
        papers.setdefault(str(chat), set()).add(str(arxiv_id))
    return papers


def messages_to(server: FakeTelegramServer, chat: int) -> list[list[str]]:
    """The arXiv ids of each message Telegram accepted into a chat, in order."""
    return [ids_in(call.params["text"]) for call in server.calls_to("sendMessage", chat_id=chat, ok=True)]


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
async def test_sigterm_while_retrying_to_reach_telegram_exits_0_at_once(tmp_path: Path) -> None:
    """Telegram unreachable at start-up: each attempt is logged, and SIGTERM meanwhile ends it promptly."""
    env = {
        "TELEGRAM_BOT_TOKEN": "123:secret-for-this-test-0123456789abcdef",
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "ARXIV_RSS_URL": str(FIXTURES / "rss" / "empty-feed.xml"),
        "RECOVERY_DAYS": "0",
    }
    out, err = bytearray(), bytearray()
    process = await start_arxiv_digest("run", cwd=tmp_path, env=env)
    readers = [
        asyncio.create_task(collect(process.stdout, out)),
        asyncio.create_task(collect(process.stderr, err)),
    ]
    try:
        await until(lambda: err.count(b"trying again in") >= 2, timeout=20, what="two logged retries")
        assert process.returncode is None
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(process.wait(), timeout=10)
        stopped_after = time.monotonic() - signalled
        await asyncio.wait_for(asyncio.gather(*readers), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log
    assert stopped_after < 2.0
    assert "Traceback" not in log
    assert "secret-for-this-test" not in log
    assert "connection was refused" in log
    assert " WARNING bot.retry: the Telegram Bot API at http://127.0.0.1:" in log


@pytest.mark.slow
@pytest.mark.xdist_group("heavy")  # timing-sensitive child processes: one at a time
async def test_sigterm_mid_fan_out_exits_within_5_s_and_the_next_start_sends_the_rest(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    """300 chats mid-fan-out at Telegram's real limits: SIGTERM exits 0 in < 5 s; a restart completes each."""
    started = dt.datetime.now(EASTERN)  # the feed's date must stay today's (US Eastern) throughout
    if started.replace(hour=23, minute=58, second=0, microsecond=0) <= started:
        await until(lambda: dt.datetime.now(EASTERN).date() > started.date(), timeout=150, what="midnight")
    today = dt.datetime.now(EASTERN).date()
    arxiv_server.default_rss = Reply(body=anchor_feed_dated(today))
    database = tmp_path / "digest.db"
    store = await open_store(database)
    for chat in CHATS:
        channel = Channel(
            platform="telegram", chat_id=str(chat), active=True, topics=(Topic("P", (KEYWORD,)),)
        )
        await store.save_channel(channel)
    await store.close()
    telegram = FakeTelegramServer()
    await telegram.start()
    telegram.enable_rate_limits(ServerRateLimits())  # 30/s overall, 20/min a group, 1/s a chat
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
    first = second = None
    try:
        first = await Child.start(tmp_path, env)
        await until(
            lambda: first.alive() and len(telegram.calls_to("sendMessage", ok=True)) >= len(CHATS) // 4,
            timeout=30,
            what="the fan-out to be well under way",
        )
        stopped_after = await first.terminate()
        at_stop = {chat: messages_to(telegram, chat) for chat in CHATS}
        assert first.process.returncode == 0, first.log[-3000:]
        done_at_stop = cursors(database)

        # A page cut off on the wire counts at Telegram (1 message/s a chat): a restart within that
        # second would be answered 429 for it. Supervisors take longer than that to restart.
        await asyncio.sleep(1.1)
        second = await Child.start(tmp_path, env)
        await until(
            lambda: second.alive() and all(day == today.isoformat() for day in cursors(database).values()),
            timeout=60,
            what="every chat's digest to be complete",
        )
        await asyncio.sleep(0.5)  # nothing more may follow
        await second.terminate()
        assert second.process.returncode == 0, second.log[-3000:]
    finally:
        for child in (first, second):
            if child is not None:
                await child.kill()
        await telegram.close()

    print(f"\nSIGTERM mid-fan-out: exited after {stopped_after:.2f} s")
    assert stopped_after < 5.0
    assert "Traceback" not in first.log + second.log
    cut = [chat for chat in CHATS if not at_stop[chat]]
    assert len(cut) >= len(CHATS) // 3, at_stop  # the stop came mid-fan-out: most chats had nothing yet
    assert all(done_at_stop.get(chat) is None for chat in cut)  # their cursors stayed
    rows = sent_papers(database)
    expected: set[str] | None = None
    for chat in CHATS:
        pages = messages_to(telegram, chat)
        assert pages, f"chat {chat} never got its digest"
        assert all(pages), f"chat {chat} got a message without papers (a 'nothing matched' notice?)"
        assert len(pages) <= 2, f"chat {chat}: {pages}"  # at most the page in flight at the stop, again
        if len(pages) == 2:
            assert at_stop[chat], f"chat {chat} got its page twice, neither in flight at the stop"
        expected = expected or rows[str(chat)]
        assert rows[str(chat)] == expected, chat  # every chat's ledger ends with every paper
    assert expected is not None
    assert len(expected) == 11
    assert telegram.rate_limited_count == 0
