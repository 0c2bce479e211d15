"""Two `arxiv-digest run` processes of one Telegram bot on one database: one polls, the other takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.arxiv_server import FIXTURES
from tests.fakes.telegram_server import FakeTelegramServer
from tests.test_shutdown import Child


async def until_polled_by(
    telegram: FakeTelegramServer, process: str, child: Child, timeout: float = 20
) -> None:
    """Wait until `process` has called getUpdates (the child still alive)."""
    async with asyncio.timeout(timeout):
        while not [call for call in telegram.calls_to("getUpdates") if call.client == process]:
            child.alive()
            await asyncio.sleep(0.05)


async def answered_by(telegram: FakeTelegramServer, chat_id: int) -> str:
    """Send /help into a chat; which process answered it."""
    telegram.push_message(chat_id, "/help")
    (answer,) = await telegram.wait_for_call("sendMessage", chat_id=chat_id, ok=True, timeout=15)
    return answer.client


@pytest.mark.slow
async def test_two_runs_one_polls_and_the_survivor_takes_over_after_a_kill(tmp_path: Path) -> None:
    """Two `run`s on one database (the roles a file lock beside it): only the first polls getUpdates while
    the second waits; SIGKILL the first and the second takes over and answers; no 409 Conflict ever."""
    telegram = FakeTelegramServer()
    await telegram.start()
    database = tmp_path / "digest.db"

    def env(process: str) -> dict[str, str]:
        """The settings of one process: the same bot and database, its own prefix at the fake."""
        return {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.client_url(process),
            "DATABASE_URL": f"sqlite:///{database}",
            "ARXIV_RSS_URL": str(FIXTURES / "rss" / "empty-feed.xml"),
            "RECOVERY_DAYS": "0",
        }

    first = second = None
    try:
        first = await Child.start(tmp_path, env("a"))
        await until_polled_by(telegram, "a", first)
        second = await Child.start(tmp_path, env("b"))
        async with asyncio.timeout(20):
            while not [call for call in telegram.calls_to("setMyCommands") if call.client == "b" and call.ok]:
                second.alive()
                await asyncio.sleep(0.05)
        assert await answered_by(telegram, 4242) == "a"
        assert not [call for call in telegram.calls_to("getUpdates") if call.client == "b"]

        first.process.kill()
        await first.process.wait()
        await until_polled_by(telegram, "b", second)
        assert await answered_by(telegram, 4343) == "b"
        assert await second.terminate() < 5.0
        assert second.process.returncode == 0, second.log[-3000:]
    finally:
        for child in (first, second):
            if child is not None:
                await child.kill()
        await telegram.close()
    assert [call for call in telegram.calls_to("getUpdates") if call.status == 409] == []
    assert "Traceback" not in second.log
