"""Several processes of one Telegram bot: one takes updates by long polling while it holds the role, or
every one through the webhook; all of them send."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.telegram.adapter import TelegramAdapter, Webhook
from adapters.telegram.ratelimit import RateLimits
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.models import Channel
from bot.platforms.port import OutgoingMessage
from bot.ports import TELEGRAM_UPDATES_ROLE
from storage.sqlite_store import SqliteStore
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer

NO_LIMITS = RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=0.0, padding=0.0)
SECRET = "webhook-secret-for-this-test-0123456789"


@dataclass
class Roles:
    """A fake `bot.ports.Leadership` for a whole deployment: each role held by one process at a time.

    Waiters get a role in the order they asked; `lose(role)` sets the holder's lost event (its
    database connection broke), and the next waiter gets the role once the holder has left its block.
    `log` says who took and released what, when (monotonic seconds).
    """

    log: list[tuple[float, str, str, str]] = field(default_factory=list)  # (time, what, role, process)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _holders: dict[str, tuple[str, asyncio.Event]] = field(default_factory=dict)

    def of(self, process: str) -> ProcessLeadership:
        """The Leadership one process of the deployment sees."""
        return ProcessLeadership(self, process)

    def holder(self, role: str) -> str | None:
        """The process holding the role now."""
        held = self._holders.get(role)
        return None if held is None else held[0]

    def lose(self, role: str) -> None:
        """The holder loses the role (it must stop the role's work promptly)."""
        self._holders[role][1].set()

    async def until_held_by(self, role: str, process: str, timeout: float = 5.0) -> None:
        """Wait until `process` holds the role."""
        async with asyncio.timeout(timeout):
            while self.holder(role) != process:
                await asyncio.sleep(0.01)

    def held_spans(self, role: str, process: str) -> list[tuple[float, float]]:
        """The (took, released) times of each hold of the role by the process (released: inf while held)."""
        spans: list[tuple[float, float]] = []
        for at, what, held_role, who in self.log:
            if held_role != role or who != process:
                continue
            if what == "took":
                spans.append((at, float("inf")))
            else:
                spans[-1] = (spans[-1][0], at)
        return spans


@dataclass
class ProcessLeadership:
    """One process's view of `Roles`: a `bot.ports.Leadership`."""

    roles: Roles
    process: str

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[asyncio.Event]:
        """Wait for the role, hold it for the block."""
        lock = self.roles._locks.setdefault(role, asyncio.Lock())
        async with lock:
            lost = asyncio.Event()
            self.roles._holders[role] = (self.process, lost)
            self.roles.log.append((time.monotonic(), "took", role, self.process))
            try:
                yield lost
            finally:
                del self.roles._holders[role]
                self.roles.log.append((time.monotonic(), "released", role, self.process))


@dataclass
class Process:
    """One bot process's Telegram adapter, running."""

    name: str
    adapter: TelegramAdapter
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def stopped(self, within: float = 2.0) -> float:
        """Stop it; how long run() took to return."""
        self.stop.set()
        started = time.monotonic()
        await asyncio.wait_for(self.task, within)
        return time.monotonic() - started


def process_adapter(
    name: str, server: FakeTelegramServer, store: SqliteStore, **options: Any
) -> TelegramAdapter:
    """The adapter of process `name`, its calls to the fake recorded under that name."""
    return TelegramAdapter(
        server.token,
        CommandService(store, ("cs.CV",)),
        ChannelRegistry(store),
        api_url=server.client_url(name),
        rate_limits=NO_LIMITS,
        poll_timeout=2.0,
        **options,
    )


async def start(name: str, server: FakeTelegramServer, store: SqliteStore, **options: Any) -> Process:
    """Start process `name`'s adapter and wait until it has started (and its webhook server listens)."""
    adapter = process_adapter(name, server, store, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop), name=f"telegram adapter {name}")
    async with asyncio.timeout(5):
        while not adapter.ready:
            assert not task.done(), task
            await asyncio.sleep(0.01)
    return Process(name, adapter, stop, task)


def polls(server: FakeTelegramServer, process: str) -> list[RecordedCall]:
    """The getUpdates calls process `process` made."""
    return [call for call in server.calls_to("getUpdates") if call.client == process]


async def until_polling(server: FakeTelegramServer, process: str, timeout: float = 5.0) -> None:
    """Wait until the process has a getUpdates call (a long poll) pending at the fake."""
    async with asyncio.timeout(timeout):
        while not [call for call in polls(server, process) if call.status == 0]:
            await asyncio.sleep(0.01)


async def answered_by(server: FakeTelegramServer, chat_id: int, text: str = "/help") -> str:
    """Send a command into a chat; the process whose sendMessage answered it."""
    server.push_message(chat_id, text)
    (answer,) = await server.wait_for_call("sendMessage", chat_id=chat_id, ok=True)
    return answer.client


async def test_only_the_role_holder_polls_and_the_other_takes_over_without_a_409(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """Two processes on one token: only the holder of the updates role calls getUpdates; the other sends
    but does not poll, takes over when the holder loses the role (it stops polling at once) or stops
    (it hands the role back), and no getUpdates ever gets 409 Conflict."""
    roles = Roles()
    first = await start("a", telegram_server, store, leadership=roles.of("a"))
    await until_polling(telegram_server, "a")
    second = await start("b", telegram_server, store, leadership=roles.of("b"))
    assert roles.holder(TELEGRAM_UPDATES_ROLE) == "a"
    # The waiting process sends all the same (deliveries come from any process).
    ref = await second.adapter.send(Channel("telegram", "42"), OutgoingMessage(text="a digest from b"))
    (sent,) = telegram_server.calls_to("sendMessage", chat_id=42)
    assert (sent.client, ref) == ("b", str(sent.answer["result"]["message_id"]))  # type: ignore[index]
    assert await answered_by(telegram_server, 55) == "a"

    roles.lose(TELEGRAM_UPDATES_ROLE)  # a's database connection broke
    lost_at = time.monotonic()
    await roles.until_held_by(TELEGRAM_UPDATES_ROLE, "b")
    (span,) = roles.held_spans(TELEGRAM_UPDATES_ROLE, "a")
    assert span[1] - lost_at < 0.5  # a stopped polling and left the role at once
    await until_polling(telegram_server, "b")
    assert await answered_by(telegram_server, 56) == "b"
    assert not first.task.done()  # a waits for the role again, still running

    assert await second.stopped() < 1.0  # b hands the role back on stopping…
    await roles.until_held_by(TELEGRAM_UPDATES_ROLE, "a")  # …and a takes over
    await until_polling(telegram_server, "a")
    assert await answered_by(telegram_server, 57) == "a"
    assert await first.stopped() < 1.0

    calls = telegram_server.calls_to("getUpdates")
    assert [call for call in calls if call.status == 409] == []
    for process in ("a", "b"):
        spans = roles.held_spans(TELEGRAM_UPDATES_ROLE, process)
        outside = [
            call
            for call in polls(telegram_server, process)
            if not any(t0 <= call.time <= t1 for t0, t1 in spans)
        ]
        assert outside == [], f"{process} polled without the role"
    assert len(polls(telegram_server, "b")) >= 1
    assert len({call.client for call in calls}) == 2


async def test_stop_while_waiting_for_the_role_is_prompt_and_never_polls(
    telegram_server: FakeTelegramServer, store: SqliteStore
) -> None:
    """A process whose role another holds never calls getUpdates, sends meanwhile, and stops at once."""
    roles = Roles()
    other = roles.of("elsewhere")
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold_forever() -> None:
        """Another process holds the updates role until the test ends."""
        async with other.hold(TELEGRAM_UPDATES_ROLE):
            held.set()
            await release.wait()

    keeper = asyncio.create_task(hold_forever())
    await held.wait()
    try:
        waiting = await start("a", telegram_server, store, leadership=roles.of("a"))
        await waiting.adapter.send(Channel("telegram", "43"), OutgoingMessage(text="still sending"))
        await asyncio.sleep(0.2)
        assert await waiting.stopped() < 0.5
    finally:
        release.set()
        await keeper
    assert telegram_server.calls_to("getUpdates") == []
    assert telegram_server.sent_texts(43) == ["still sending"]
    assert roles.held_spans(TELEGRAM_UPDATES_ROLE, "a") == []


def update_json(server: FakeTelegramServer, chat_id: int, text: str) -> dict[str, Any]:
    """A message update as Telegram posts it to a webhook (taken from the fake's queue, so never polled)."""
    update = server.push_message(chat_id, text)
    server._updates.remove(update)
    return update


async def test_webhook_mode_takes_updates_in_every_process_and_refuses_a_wrong_secret(
    telegram_server: FakeTelegramServer, store: SqliteStore, unused_tcp_port_factory: Any
) -> None:
    """With a webhook, each process sets it (the same URL), serves PTB's webhook server and answers the
    updates posted to it; a post without the secret header, or with a wrong one, is refused (403) and not
    answered; no process polls, and no role is asked for."""
    roles = Roles()
    url = "https://bot.example.test/hooks/telegram"
    ports = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    processes = [
        await start(
            name,
            telegram_server,
            store,
            leadership=roles.of(name),
            webhook=Webhook(url=url, secret=SECRET, listen="127.0.0.1", port=port, path="/hooks/telegram"),
        )
        for name, port in zip(("a", "b"), ports, strict=True)
    ]
    try:
        sets = telegram_server.calls_to("setWebhook", ok=True)
        assert [call.client for call in sets] == ["a", "b"]
        assert {call.params["url"] for call in sets} == {url}
        assert {call.params["secret_token"] for call in sets} == {SECRET}
        assert "callback_query" in sets[0].params["allowed_updates"]
        assert telegram_server.webhook is not None
        async with httpx.AsyncClient(timeout=5) as client:
            for number, (process, port) in enumerate(zip(processes, ports, strict=True)):
                chat = 600 + number
                hook = f"http://127.0.0.1:{port}/hooks/telegram"
                headers = {"Content-Type": "application/json"}
                for wrong in ({}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret-0123456789"}):
                    refused = await client.post(
                        hook,
                        content=json.dumps(update_json(telegram_server, chat, "/help")),
                        headers={**headers, **wrong},
                    )
                    assert refused.status_code == 403
                good = {**headers, "X-Telegram-Bot-Api-Secret-Token": SECRET}
                accepted = await client.post(
                    hook, content=json.dumps(update_json(telegram_server, chat, "/help")), headers=good
                )
                assert accepted.status_code == 200
                (answer,) = await telegram_server.wait_for_call("sendMessage", chat_id=chat, ok=True)
                assert answer.client == process.name
                assert "/subscribe" in answer.params["text"]
        await asyncio.sleep(0.1)
        assert len(telegram_server.calls_to("sendMessage")) == 2  # the refused posts were never answered
    finally:
        for process in processes:
            assert await process.stopped() < 2.0
    assert telegram_server.calls_to("getUpdates") == []
    assert telegram_server.calls_to("deleteWebhook") == []  # the others go on serving it
    assert roles.log == []
