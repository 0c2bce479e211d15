"""A chat the operator blocked (`arxiv-digest channels --block`): no digest, and nothing its admins do
lifts it; they are told, politely, that the bot's operator stopped it."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.commands.service import BLOCKED_MESSAGE, CommandService
from bot.commands.values import CommandContext, CommandRequest
from bot.models import Channel, InactiveReason, Topic
from storage.sqlite_store import SqliteStore
from tests.bot.test_delivery import RecordingAdapter, announcement, paper, service, subscribe
from tests.builders import SettableClock

pytestmark = pytest.mark.both_engines

NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=dt.UTC)
DAY = dt.date(2025, 11, 13)
ADMIN = CommandContext("telegram", "-5", is_admin=True)


def ask(text: str) -> CommandRequest:
    """An admin's `/name args` in the chat -5."""
    name, _, args = text.lstrip("/").partition(" ")
    return CommandRequest("telegram", "-5", name, args, is_admin=True)


async def blocked_chat(store: SqliteStore, *, active: bool = True) -> Channel:
    """The chat -5 with keywords, blocked by the operator."""
    channel = await store.save_channel(
        Channel("telegram", "-5", active=active, topics=(Topic("Papers", ("diffusion",)),))
    )
    assert channel.id is not None
    await store.set_channel_blocked(channel.id, True)
    return channel


async def test_admins_cannot_subscribe_change_or_ask_a_digest_in_a_blocked_chat(store: SqliteStore) -> None:
    """/subscribe, /unsubscribe, /keywords add, /time and /digest in a blocked chat get the polite line
    naming the operator, and nothing stored changes."""
    before = await blocked_chat(store, active=False)
    service = CommandService(store, ("cs.CV",), clock=SettableClock(NOW))
    for text in ("/subscribe robots", "/unsubscribe", "/keywords add robots", "/time 08:00", "/digest"):
        reply = await service.handle(ask(text))
        assert (reply.ok, reply.text) == (False, BLOCKED_MESSAGE), text
    assert "operator" in BLOCKED_MESSAGE
    after = await store.get_channel("telegram", "-5")
    assert after is not None
    assert (after.blocked, after.active, after.topics, after.delivery_time) == (
        True,
        False,
        before.topics,
        None,
    )


async def test_a_blocked_chat_can_still_read_and_status_says_who_stopped_it(store: SqliteStore) -> None:
    """Reading is still answered (/keywords, /help); /status says the bot's operator stopped the digests
    and promises no next digest."""
    await blocked_chat(store)
    service = CommandService(store, ("cs.CV",), clock=SettableClock(NOW))
    keywords = await service.handle(ask("/keywords"))
    assert keywords.ok
    assert "diffusion" in keywords.text
    assert (await service.handle(ask("/help"))).ok
    status = await service.handle(ask("/status"))
    assert "The operator of this bot has stopped its digests in this chat" in status.text
    assert "Next digest" not in status.text


async def test_unsubscribe_records_why_the_chat_is_off(store: SqliteStore) -> None:
    """/unsubscribe turns the digest off with the reason `unsubscribed`; /subscribe clears it."""
    await store.save_channel(Channel("telegram", "-5", active=True, topics=(Topic("Papers", ("x",)),)))
    service = CommandService(store, ("cs.CV",), clock=SettableClock(NOW))
    assert (await service.handle(ask("/unsubscribe"))).ok
    off = await store.get_channel("telegram", "-5")
    assert off is not None
    assert (off.active, off.inactive_reason) == (False, InactiveReason.UNSUBSCRIBED)
    assert (await service.handle(ask("/subscribe y"))).ok
    on = await store.get_channel("telegram", "-5")
    assert on is not None
    assert (on.active, on.inactive_reason) == (True, None)


async def test_a_blocked_chat_gets_no_digest_and_gets_it_once_unblocked(store: SqliteStore) -> None:
    """The delivery round skips a blocked chat whose digest is due; unblocked, the next round sends it."""
    await store.save_announcement(announcement(DAY, paper("1", "diffusion a")))
    blocked = await subscribe(store, "-5", "diffusion")
    await subscribe(store, "-6", "diffusion")
    assert blocked.id is not None
    await store.set_channel_blocked(blocked.id, True)
    adapter = RecordingAdapter()
    delivery = service(store, adapter, SettableClock(NOW))
    await delivery.deliver_due()
    assert {chat for chat, _, _ in adapter.sent} == {"-6"}
    await store.set_channel_blocked(blocked.id, False)
    await delivery.deliver_due()
    assert adapter.papers_to("-5") == [paper("1").arxiv_id]
    assert adapter.papers_to("-6") == [paper("1").arxiv_id]
