"""Starting and stopping `arxiv-digest run` as a real process: start-up retries, SIGTERM within 5 s.

The child runs in real time against the fakes in this process on 127.0.0.1 (see
tests/test_both_platforms.py for why the anchor listing is served re-dated to today).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

from tests.test_both_platforms import collect
from tests.test_cli import start_arxiv_digest
from tests.test_telegram_e2e import until

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sigterm_while_retrying_to_reach_telegram_exits_0_at_once(tmp_path: Path) -> None:
    """Telegram unreachable at start-up: each attempt is logged, and SIGTERM meanwhile ends it promptly."""
    env = {
        "TELEGRAM_BOT_TOKEN": "123:secret-for-this-test",
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
