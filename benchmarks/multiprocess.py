"""Several processes on one PostgreSQL: 10,000 chats served by 1 and by 3 `arxiv-digest run` processes.

    python benchmarks/multiprocess.py [--chats 10000] [--runs 1,3,3k] [--kill-at 0.3]
                                      [--database-url postgresql://…] [--poll-interval 5]

One run per item of `--runs` (default `1,3k`), in turn: P processes (the number), the leader killed
mid-round when a `k` follows it; each on a new schema of one PostgreSQL database:

1. `--chats` Telegram chats are seeded through the store (`save_channel`), each with one realistic
   topic (3–8 keywords, the generator of benchmarks/matching.py and footprint.py); every chat is due
   as soon as the day is stored, and one with no match gets the one-line "nothing matched" notice, so
   each chat is owed exactly one message.
2. The fake arXiv and the fake Bot API run in this process (127.0.0.1). The fake Bot API enforces
   Telegram's limits for the token (30 messages/s overall, 1/s a chat) and answers 429 past them,
   whichever process sends. P real `python -m bot run` processes start against both, each through
   its own URL prefix, so the fakes tell the processes apart. The feed is empty until every process
   is up (one holds the ingest role, the others wait for it).
3. The feed then changes to a ~3,000-paper day (the real all-archives day of 2024-11-28, doubled,
   dated today). In a `k` run the ingest leader is SIGKILLed once `--kill-at` (a share) of the chats'
   messages are out; failover is the time from the kill to another process's first digest message or
   arXiv request. The run ends when every chat's cursor says today's digest is complete; the
   survivors get SIGTERM and must exit 0.

Figures: the first and the last digest message after the feed changed; arXiv requests (every RSS and
API request of the whole run, by every process); lost = a (chat, paper) the bot's own matching of the
stored day owes that the ledger does not have as sent, or a chat that got no message; duplicates =
messages beyond one per chat (the fake's records); with a kill, the chats the dead leader had
reserved but not confirmed (in flight). The last digest is Telegram-limited: at least chats / 30 s
after the first.

Without `--database-url` (or TEST_DATABASE_URL) it starts its own throwaway server with
`.ci/start-postgres` and stops it afterwards. Ends with one line per run:
`multiprocess: 10000 chats, P processes: first digest F s after the feed changed, last L s; arXiv
requests Q; lost 0; duplicates D; failover T s` (failover `-` without a kill), and exits 1 when a
chat is lost or behind, a chat got more than two messages, a run without a kill repeated one, a survivor
did not exit 0, or failover took over 30 s. Only 127.0.0.1 (and the database's socket) is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import _common
import asyncpg

from bot.digests import build_digests
from bot.models import Channel, Topic
from bot.schedule import arxiv_today
from storage.open import open_database
from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_model import RateLimits
from tests.fakes.telegram_server import FakeTelegramServer

CLIENTS = "abcdefghij"
DEFAULT_CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
EMPTY_FEED = _common.ROOT / "tests" / "fixtures" / "rss" / "empty-feed.xml"
OVERALL_PER_SECOND = 30
FAILOVER_TARGET = 30.0
MB = 1_000_000


@dataclasses.dataclass
class RunResult:
    """What one run with P processes came to."""

    processes: int
    spec: str = ""  # the run as asked: the process count, `k` when the leader is killed
    seeded_s: float = 0.0
    up_s: float = 0.0
    first_s: float = 0.0
    last_s: float = 0.0
    messages: int = 0
    arxiv_requests: int = 0
    arxiv_before_switch: int = 0
    arxiv_clients: str = ""
    min_arxiv_gap: float = 0.0
    lost: int = 0
    duplicates: int = 0
    behind: int = 0
    pending: int = 0
    most_to_one_chat: int = 0
    killed_after: int = 0  # messages out when the leader was killed (0: no kill)
    in_flight: int = 0
    failover_s: float | None = None
    takeover_s: float | None = None  # from the kill to the survivor's log saying it holds the role
    exits: list[int | None] = dataclasses.field(default_factory=list)
    rate_limited: int = 0
    peaks: list[int] = dataclasses.field(default_factory=list)
    tracebacks: int = 0
    papers_owed: int = 0
    senders: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)


def _peak(pid: int) -> int:
    """A live process's VmHWM in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.asynccontextmanager
async def new_schema(url: str) -> AsyncIterator[str]:
    """A new, empty schema (dropped afterwards): the URL whose search_path names it."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')  # a generated name, not input
        try:
            yield f"{url}{'&' if '?' in url else '?'}search_path={schema}"
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


async def _done(url: str, day: dt.date) -> int:
    """Chats whose cursor says the digest of `day` is complete."""
    db = await asyncpg.connect(url)
    try:
        return int(await db.fetchval("SELECT count(*) FROM channels WHERE done_up_to = $1", day.isoformat()))
    finally:
        await db.close()


async def _ledger(url: str) -> tuple[dict[str, set[str]], dict[str, int]]:
    """Per chat id: the papers the ledger has as sent, and how many rows are pending."""
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT c.chat_id, d.arxiv_id, d.status FROM deliveries d JOIN channels c ON c.id = d.channel_id"
        )
    finally:
        await db.close()
    sent: dict[str, set[str]] = {}
    pending: Counter[str] = Counter()
    for chat, paper, status in rows:
        if status == "sent":
            sent.setdefault(str(chat), set()).add(str(paper))
        else:
            pending[str(chat)] += 1
    return sent, dict(pending)


@dataclasses.dataclass
class Deployment:
    """The fakes and the bot processes of one run, and where each process logs."""

    url: str
    folder: Path
    arxiv: FakeArxiv
    telegram: FakeTelegramServer
    children: dict[str, asyncio.subprocess.Process] = dataclasses.field(default_factory=dict)
    logs: dict[str, Path] = dataclasses.field(default_factory=dict)

    @classmethod
    async def start(cls, url: str, processes: int, poll_interval: float) -> Deployment:
        """Both fakes (the feed empty, Telegram's limits on), then the processes, each on its own prefix."""
        arxiv = FakeArxiv()
        await arxiv.start()
        arxiv.default_rss = Reply(body=EMPTY_FEED.read_bytes())
        telegram = FakeTelegramServer()
        await telegram.start()
        telegram.enable_rate_limits(RateLimits())
        deployment = cls(url, Path(tempfile.mkdtemp(prefix="multiprocess-")), arxiv, telegram)
        for client in CLIENTS[:processes]:
            rss_url, api_url = arxiv.client_urls(client)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(deployment.folder),
                "PYTHONPATH": str(_common.ROOT),
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_API_URL": telegram.client_url(client),
                "DATABASE_URL": url,
                "ARXIV_RSS_URL": rss_url,
                "ARXIV_API_URL": api_url,
                "ARXIV_POLL_INTERVAL": str(poll_interval),
                "RECOVERY_DAYS": "0",
                "DEFAULT_CATEGORIES": ",".join(DEFAULT_CATEGORIES),
                "LOG_LEVEL": "INFO",
            }
            deployment.logs[client] = deployment.folder / f"{client}.log"
            with deployment.logs[client].open("wb") as log:  # the child keeps its own descriptor
                deployment.children[client] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    cwd=deployment.folder,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
        return deployment

    def up(self) -> bool:
        """Every process sorted its roles out and talks to Telegram, and the leader checked the feed."""
        if any(child.returncode is not None for child in self.children.values()):
            raise SystemExit(f"a bot process exited while starting: see {self.folder}")
        sorted_out = all(_log_lines(self.logs[c], "holds the ingest role") for c in self.children)
        talking = {call.client for call in self.telegram.calls} >= set(self.children)
        return sorted_out and talking and bool(self.arxiv.of_kind("rss"))

    def alive(self) -> dict[str, asyncio.subprocess.Process]:
        """The processes still running."""
        return {c: child for c, child in self.children.items() if child.returncode is None}

    async def stop(self) -> list[int | None]:
        """SIGTERM to every survivor; their exit statuses."""
        survivors = self.alive()
        for child in survivors.values():
            child.send_signal(signal.SIGTERM)
        for child in survivors.values():
            try:
                await asyncio.wait_for(child.wait(), timeout=60)
            except TimeoutError:
                child.kill()
                await child.wait()
        return [child.returncode for child in survivors.values()]

    async def close(self) -> None:
        """Kill what still runs, stop the fakes."""
        for child in self.alive().values():
            child.kill()
            await child.wait()
        await self.telegram.close()
        await self.arxiv.close()


def _log_lines(path: Path, needle: str) -> list[str]:
    """Lines of a child's log that contain `needle`."""
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if needle in line]
    except OSError:
        return []


def _stamp(line: str) -> float:
    """The wall-clock time (epoch seconds) of a log line `YYYY-MM-DD HH:MM:SS,mmm …`."""
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


async def _seed(url: str, topics: list[Topic]) -> float:
    """One Telegram chat per topic, through the store; the seconds it took."""
    seeding = time.perf_counter()
    store = await open_database(url)
    try:
        for number, topic in enumerate(topics):
            await store.save_channel(Channel("telegram", str(100_000 + number), active=True, topics=(topic,)))
    finally:
        await store.close()
    return time.perf_counter() - seeding


@dataclasses.dataclass
class Kill:
    """When the leader was killed (monotonic and wall clock), after how many messages."""

    leader: str
    at: float
    wall: float
    after: int
    in_flight: int


async def _watch(
    deployment: Deployment, chats: set[str], today: dt.date, kill_at: float, leader: str, limit: float
) -> tuple[Kill | None, list[str]]:
    """Follow the round until every chat is done (killing the leader on the way if asked)."""
    telegram = deployment.telegram
    seen = out = 0  # calls looked at so far; digest messages out so far
    kill: Kill | None = None
    deadline = time.monotonic() + limit
    last_check = 0.0
    while True:
        calls = telegram.calls
        while seen < len(calls):
            call = calls[seen]
            if call.method == "sendMessage" and call.status == 0 and call.time > time.monotonic() - 5:
                break  # not answered yet: look again next time (a dead process's never will be)
            out += call.method == "sendMessage" and call.chat_id in chats and call.status == 200
            seen += 1
        if kill_at and kill is None and out >= kill_at * len(chats):
            deployment.children[leader].send_signal(signal.SIGKILL)
            at, wall = time.monotonic(), time.time()
            await deployment.children[leader].wait()
            await asyncio.sleep(0.05)
            _, pending_at_kill = await _ledger(deployment.url)
            kill = Kill(leader, at, wall, out, len(pending_at_kill))
        now = time.monotonic()
        if now - last_check >= 2.0:
            last_check = now
            if await _done(deployment.url, today) >= len(chats):
                return kill, []
        alive = deployment.alive()
        if not alive or (kill is None and leader not in alive):
            raise SystemExit(f"a bot process died during the round: see {deployment.folder}")
        if now > deadline:
            return kill, [f"the round did not end within {limit:.0f} s"]
        await asyncio.sleep(0.25)


def _measure(
    result: RunResult, deployment: Deployment, chats: set[str], switched: float, kill: Kill | None
) -> Counter[str]:
    """The figures from the fakes' records and the logs; the messages each chat got."""
    arxiv, telegram = deployment.arxiv, deployment.telegram
    digests = [
        call
        for call in telegram.calls
        if call.method == "sendMessage" and call.status == 200 and call.chat_id in chats
    ]
    per_chat = Counter(str(call.chat_id) for call in digests)
    result.messages = len(digests)
    result.first_s = digests[0].time - switched if digests else 0.0
    result.last_s = digests[-1].time - switched if digests else 0.0
    result.duplicates = sum(count - 1 for count in per_chat.values())
    result.most_to_one_chat = max(per_chat.values(), default=0)
    result.senders = ", ".join(
        f"{c}: {n}" for c, n in sorted(Counter(call.client for call in digests).items())
    )
    result.rate_limited = telegram.rate_limited_count
    result.arxiv_requests = len(arxiv.requests)
    result.arxiv_clients = ", ".join(
        f"{c}: {n}" for c, n in sorted(Counter(request.client for request in arxiv.requests).items())
    )
    starts = [request.started for request in arxiv.requests]
    ends = [request.finished or request.started for request in arxiv.requests]
    gaps = [later - earlier for earlier, later in zip(ends, starts[1:], strict=False)]
    result.min_arxiv_gap = min(gaps) if gaps else 0.0
    if kill is not None:
        result.killed_after, result.in_flight = kill.after, kill.in_flight
        after = [call.time for call in digests if call.client != kill.leader and call.time >= kill.at]
        asked = [request.started for request in arxiv.requests if request.client != kill.leader]
        firsts = [moment for moment in (min(after, default=0.0), min(asked, default=0.0)) if moment]
        result.failover_s = min(firsts) - kill.at if firsts else None
        takeovers = [
            _stamp(line) - kill.wall
            for client in deployment.children
            if client != kill.leader
            for line in _log_lines(deployment.logs[client], "this process now holds the ingest role")
        ]
        result.takeover_s = min((t for t in takeovers if t > 0), default=None)
    result.tracebacks = sum(bool(_log_lines(path, "Traceback")) for path in deployment.logs.values())
    return per_chat


async def _owed(result: RunResult, url: str, today: dt.date, per_chat: Counter[str]) -> None:
    """Lost, behind and pending: the bot's own matching of the day it stored against the ledger."""
    store = await open_database(url)
    try:
        announcement = await store.get_announcement(today)
        channels = await store.list_channels()
    finally:
        await store.close()
    sent, pending = await _ledger(url)
    result.pending = sum(pending.values())
    result.behind = sum(1 for channel in channels if channel.done_up_to != today)
    if announcement is None:
        result.problems.append("the day was not stored")
        return
    owed = build_digests(announcement, channels, DEFAULT_CATEGORIES)
    for channel, digest in zip(channels, owed, strict=True):
        papers = {paper.arxiv_id for paper in digest.papers}
        result.papers_owed += len(papers)
        missing = papers - sent.get(channel.chat_id, set())
        result.lost += len(missing) if per_chat.get(channel.chat_id) else max(len(papers), 1)


def _judge(result: RunResult, folder: Path) -> None:
    """What misses a target or breaks exactly-once, in `result.problems`."""
    if result.lost:
        result.problems.append(f"{result.lost} lost")
    if result.behind or result.pending:
        result.problems.append(f"{result.behind} chats behind, {result.pending} ledger rows pending")
    if result.most_to_one_chat > 2 or (result.duplicates and not result.killed_after):
        result.problems.append(
            f"{result.duplicates} duplicates (at most {result.most_to_one_chat} to one chat)"
        )
    if any(status != 0 for status in result.exits):
        result.problems.append(f"exit statuses {result.exits}")
    if result.tracebacks:
        result.problems.append(f"tracebacks in {result.tracebacks} logs: see {folder}")
    if result.killed_after and (result.failover_s is None or result.failover_s > FAILOVER_TARGET):
        result.problems.append(f"failover {result.failover_s} s")


async def one_run(
    options: argparse.Namespace,
    database_url: str,
    spec: str,
    topics: list[Topic],
    feed: bytes,
    today: dt.date,
) -> RunResult:
    """Seed a new schema, start the processes, change the feed, watch the round (and a kill), check.

    `spec` is a process count, with `k` after it to SIGKILL the leader at `--kill-at` (e.g. `3k`).
    """
    processes = int(spec.rstrip("k"))
    kill_at = options.kill_at if spec.endswith("k") else 0.0
    result = RunResult(processes=processes, spec=spec)
    chats = {str(100_000 + number) for number in range(len(topics))}
    async with new_schema(database_url) as url:
        result.seeded_s = await _seed(url, topics)
        began = time.monotonic()
        deployment = await Deployment.start(url, processes, options.poll_interval)
        try:
            while not deployment.up():
                if time.monotonic() - began > 120:
                    raise SystemExit(
                        f"the bot processes did not come up within 120 s: see {deployment.folder}"
                    )
                await asyncio.sleep(0.2)
            result.up_s = time.monotonic() - began
            (leader,) = {request.client for request in deployment.arxiv.of_kind("rss")}
            result.arxiv_before_switch = len(deployment.arxiv.requests)
            switched = time.monotonic()
            deployment.arxiv.default_rss = Reply(body=feed)
            kill, problems = await _watch(deployment, chats, today, kill_at, leader, options.timeout)
            result.problems.extend(problems)
            await asyncio.sleep(1.0)  # nothing more may follow
            result.peaks = [_peak(child.pid) for child in deployment.alive().values()]
            result.exits = await deployment.stop()
        finally:
            await deployment.close()
        per_chat = _measure(result, deployment, chats, switched, kill)
        await _owed(result, url, today, per_chat)
    _judge(result, deployment.folder)
    return result


def _rows(results: list[RunResult], chats: int, poll: float) -> list[tuple[str, str, str]]:
    """The table's rows: one per figure, the runs side by side in the figure column."""

    def each(figure: str) -> str:
        return " / ".join(figure.format(r=r) for r in results)

    base = results[0]
    limited = chats / OVERALL_PER_SECOND
    rows = [
        ("run", each("{r.spec}"), "processes (k: the leader SIGKILLed mid-round); each on a new schema"),
        ("chats seeded", f"{chats:,}", "save_channel; " + each("{r.seeded_s:.0f} s")),
        ("all up", each("{r.up_s:.1f} s"), "from spawn: every process sorted out its roles"),
        (
            "first digest",
            each("{r.first_s:.1f} s"),
            f"after the feed changed (ARXIV_POLL_INTERVAL {poll:g} s: the next check, stored, matched)",
        ),
        (
            "last digest",
            each("{r.last_s:.1f} s"),
            f"Telegram-limited: ≥ first + {limited:.0f} s ({chats:,} messages at {OVERALL_PER_SECOND}/s)",
        ),
        ("messages", each("{r.messages:,}"), "digest pages and nothing-matched notices, one a chat owed"),
        ("sent by", each("{r.senders}"), "process (URL prefix): messages"),
        (
            "arXiv requests",
            each("{r.arxiv_requests}"),
            "the whole run, every process; by process: "
            + each("{r.arxiv_clients}")
            + "; before the change: "
            + each("{r.arxiv_before_switch}"),
        ),
        (
            "min gap between arXiv requests",
            each("{r.min_arxiv_gap:.1f} s"),
            "end of one to start of the next",
        ),
        ("429s answered", each("{r.rate_limited}"), "the fake's Telegram limits, for the token"),
        (
            "lost",
            each("{r.lost}"),
            "papers owed (" + each("{r.papers_owed:,}") + ") not sent, or chats without a message",
        ),
        (
            "duplicates",
            each("{r.duplicates}"),
            "messages beyond one a chat; at most " + each("{r.most_to_one_chat}") + " a chat",
        ),
        ("chats behind / ledger rows pending", each("{r.behind} / {r.pending}"), "after the round"),
    ]
    killed = [r for r in results if r.killed_after]
    if killed:
        rows += [
            (
                "leader killed after",
                each("{r.killed_after:,}"),
                "messages out; SIGKILL; chats in flight (reserved, not confirmed): " + each("{r.in_flight}"),
            ),
            (
                "failover",
                " / ".join(f"{r.failover_s:.1f} s" if r.failover_s is not None else "-" for r in results),
                "kill to another process's first digest or arXiv request; the role taken after "
                + " / ".join(f"{r.takeover_s:.1f} s" if r.takeover_s is not None else "-" for r in results)
                + f"; target ≤ {FAILOVER_TARGET:.0f} s",
            ),
        ]
    rows += [
        ("exit on SIGTERM", each("{r.exits}"), "every surviving process; target 0"),
        (
            "peak RSS",
            " / ".join(", ".join(f"{p / MB:.0f}" for p in r.peaks) + " MB" for r in results),
            "VmHWM of each survivor",
        ),
    ]
    if len(results) > 1:
        over = [r.last_s / base.last_s - 1 if base.last_s else 0.0 for r in results[1:]]
        rows.append(
            (
                "last digest against one process",
                ", ".join(f"{o * 100:+.1f} %" for o in over),
                "target within 10 %",
            )
        )
    return rows


def _start_postgres() -> tuple[str, dict[str, str]]:
    """A throwaway server from .ci/start-postgres: its URL and the variables .ci/stop-postgres needs."""
    script = _common.ROOT / ".ci" / "start-postgres"
    done = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"could not start PostgreSQL ({script}):\n{done.stderr.strip()}")
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = shlex.split(value)[0]
    return found["TEST_DATABASE_URL"], found


def _stop_postgres(variables: dict[str, str]) -> None:
    """Stop the server `_start_postgres` started."""
    subprocess.run(
        [str(_common.ROOT / ".ci" / "stop-postgres")], env={**os.environ, **variables}, check=False
    )


async def run(options: argparse.Namespace, database_url: str) -> int:
    """Every run in turn, then the table and the summary lines."""
    real = _common.real_day(options.feed)
    papers = _common.doubled(real.papers)
    today = arxiv_today(dt.datetime.now(dt.UTC))
    feed = _common.feed_xml(today, papers)
    vocab = _common.Vocabulary.of(papers)
    topics = _common.realistic_topics(vocab, options.chats, seed=options.seed)
    results = []
    for spec in options.runs:
        result = await one_run(options, database_url, spec, topics, feed, today)
        results.append(result)
        print(
            f"(run {spec}: last digest {result.last_s:.1f} s, "
            f"problems: {'; '.join(result.problems) or 'none'})",
            file=sys.stderr,
        )
    _common.print_table(
        f"multiprocess ({len(papers):,}-paper day, {options.chats:,} chats, PostgreSQL)",
        _rows(results, options.chats, options.poll_interval),
    )
    for result in results:
        failover = f"{result.failover_s:.1f} s" if result.failover_s is not None else "-"
        print(
            f"multiprocess: {options.chats} chats, {result.processes} processes: first digest "
            f"{result.first_s:.1f} s after the feed changed, last {result.last_s:.1f} s; arXiv requests "
            f"{result.arxiv_requests}; lost {result.lost}; duplicates {result.duplicates}; "
            f"failover {failover}"
        )
    problems = [f"run {r.spec}: {p}" for r in results for p in r.problems]
    if problems:
        print("PROBLEMS: " + "; ".join(problems), file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    """Parse the options, find (or start) PostgreSQL, and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument(
        "--runs",
        type=lambda text: [part.strip() for part in text.split(",")],
        default=["1", "3k"],
        help="one run per item: a process count, with k to SIGKILL the leader mid-round (default 1,3k)",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        default=0.3,
        help="a k run kills the leader once this share of chats got theirs",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="ARXIV_POLL_INTERVAL of the processes"
    )
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds a round may take")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", ""),
        help="a PostgreSQL database for the runs' schemas (default: TEST_DATABASE_URL, else its own server)",
    )
    parser.add_argument("--feed", type=Path, default=_common.ALL_ARCHIVES, help="the all-archives RSS file")
    parser.add_argument("--seed", type=int, default=11)
    options = parser.parse_args()
    for spec in options.runs:
        if not spec.rstrip("k").isdigit() or not 1 <= int(spec.rstrip("k")) <= len(CLIENTS):
            parser.error(
                f"--runs: {spec!r} is not a process count of 1 to {len(CLIENTS)} (k after it: a kill)"
            )
        if spec.endswith("k") and int(spec.rstrip("k")) < 2:
            parser.error(f"--runs: {spec!r} would kill the only process")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started: dict[str, str] = {}
    url = options.database_url
    if url and not url.startswith(("postgresql://", "postgres://")):
        parser.error(f"--database-url must be a postgresql:// URL, not {url.split(':', 1)[0]}:")
    if not url:
        url, started = _start_postgres()
    try:
        return asyncio.run(run(options, url))
    finally:
        if started:
            _stop_postgres(started)


if __name__ == "__main__":
    sys.exit(main())
