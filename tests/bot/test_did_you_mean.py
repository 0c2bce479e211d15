""" "Did you mean …?": a mistyped command, a city for a time zone, a time written as people write it."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.discord.commands import SYNTAX as DISCORD_SYNTAX
from bot.commands.service import CommandService
from bot.commands.values import CommandContext, CommandReply, CommandRequest, SetTime
from bot.models import Channel
from bot.schedule import zone_suggestions
from storage.sqlite_store import SqliteStore

NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def service(store: SqliteStore) -> CommandService:
    """The command service over the real store."""
    return CommandService(store, ("cs.CV",), clock=lambda: NOW)


async def text(service: CommandService, command: str, args: str = "") -> CommandReply:
    """An admin's text command in chat 100."""
    return await service.handle(CommandRequest("telegram", "100", command, args, is_admin=True))


async def stored(store: SqliteStore) -> Channel | None:
    """Chat 100 as stored."""
    return await store.get_channel("telegram", "100")


# -- commands ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "meant"),
    [("subscrbe", "subscribe"), ("SUSBCRIBE", "subscribe"), ("keyword", "keywords"), ("setings", "settings")],
)
async def test_a_mistyped_command_gets_the_nearest(service: CommandService, typed: str, meant: str) -> None:
    """An unknown command close to one names it."""
    reply = await text(service, typed)
    assert not reply.ok
    assert f"Did you mean /{meant}?" in reply.text


async def test_a_command_far_from_all_gets_help(service: CommandService, store: SqliteStore) -> None:
    """Nothing near: only the pointer to /help; nothing stored."""
    reply = await text(service, "xyzzy")
    assert reply.text == "Unknown command /xyzzy. Try /help."
    assert await stored(store) is None


# -- time zones ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("Berlin", "Europe/Berlin"),
        ("berlin", "Europe/Berlin"),
        ("new york", "America/New_York"),
        ("NEW_YORK", "America/New_York"),
        ("Europe/Berln", "Europe/Berlin"),
        ("Berlim", "Europe/Berlin"),
        ("america/new york", "America/New_York"),
    ],
)
def test_zone_suggestions_find_the_city(typed: str, first: str) -> None:
    """A city (any case, spaces or underscores) or a near spelling suggests the zone."""
    assert zone_suggestions(typed)[0] == first


def test_zone_suggestions_are_few_and_empty_when_nothing_is_near() -> None:
    """At most three, and none for text that is near no zone."""
    assert len(zone_suggestions("Eastern")) <= 3
    assert zone_suggestions("qqqqqq") == []
    assert zone_suggestions("") == []
    assert zone_suggestions("x" * 1000) == []


async def test_time_with_a_city_suggests_its_zone(service: CommandService, store: SqliteStore) -> None:
    """`/time Berlin` is a time zone, not a time: the answer suggests Europe/Berlin; nothing is stored."""
    reply = await text(service, "time", "Berlin")
    assert not reply.ok
    assert reply.text == (
        "'Berlin' is not a time zone I know. Did you mean Europe/Berlin? e.g. /time Europe/Berlin"
    )
    assert await stored(store) is None
    second = await text(service, "time", "08:00 berlin")
    assert "Did you mean Europe/Berlin?" in second.text


async def test_discord_time_option_with_a_city_suggests_in_discords_syntax(service: CommandService) -> None:
    """Discord's `/time time: Berlin` is read as a place too; the example is in slash syntax."""
    context = CommandContext("discord", "55", is_admin=True, syntax=DISCORD_SYNTAX)
    reply = await service.run(context, SetTime("Berlin"))
    assert reply.text.endswith("Did you mean Europe/Berlin? e.g. /time timezone: Europe/Berlin")


async def test_a_zone_far_from_all_is_explained(service: CommandService) -> None:
    """No zone near: the usual explanation, without a guess."""
    reply = await text(service, "time", "08:00 Nowhere/Qqqq")
    assert reply.text == "'Nowhere/Qqqq' is not a time zone I know: use a name like Europe/Berlin or UTC."


# -- times ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored_time"),
    [
        ("8am", dt.time(8)),
        ("8 am", dt.time(8)),
        ("8pm", dt.time(20)),
        ("8 PM", dt.time(20)),
        ("8:30pm", dt.time(20, 30)),
        ("12am", dt.time(0)),
        ("12pm", dt.time(12)),
        ("8.30", dt.time(8, 30)),
        ("8h", dt.time(8)),
        ("20h", dt.time(20)),
        ("7 p.m.", dt.time(19)),
    ],
)
async def test_unambiguous_times_are_taken(
    service: CommandService, store: SqliteStore, typed: str, stored_time: dt.time
) -> None:
    """12-hour times and `8h` are unambiguous: stored as the 24-hour time."""
    reply = await text(service, "time", typed)
    assert reply.ok, reply.text
    channel = await stored(store)
    assert channel is not None
    assert channel.delivery_time == stored_time


async def test_a_12_hour_time_with_a_zone(service: CommandService, store: SqliteStore) -> None:
    """`/time 8 pm Europe/Berlin` sets both."""
    assert (await text(service, "time", "8 pm Europe/Berlin")).ok
    channel = await stored(store)
    assert channel is not None
    assert (channel.delivery_time, channel.timezone) == (dt.time(20), "Europe/Berlin")


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("8", "'8' is not a time. Did you mean 08:00 (or 20:00 in the evening)? e.g. /time 08:00"),
        ("20", "'20' is not a time. Did you mean 20:00? e.g. /time 20:00"),
        ("0830", "'0830' is not a time. Did you mean 08:30? e.g. /time 08:30"),
        ("830", "'830' is not a time. Did you mean 08:30? e.g. /time 08:30"),
    ],
)
async def test_ambiguous_times_are_asked_back(
    service: CommandService, store: SqliteStore, typed: str, answer: str
) -> None:
    """A bare hour or a time without its colon is not guessed: the answer suggests, nothing is stored."""
    reply = await text(service, "time", typed)
    assert (reply.ok, reply.text) == (False, answer)
    assert await stored(store) is None


@pytest.mark.parametrize("typed", ["13pm", "0am", "25", "99:99", "8:75am"])
async def test_impossible_times_are_refused(service: CommandService, store: SqliteStore, typed: str) -> None:
    """Times that cannot be are refused with a reason and no guess."""
    reply = await text(service, "time", typed)
    assert not reply.ok
    assert "Did you mean" not in reply.text
    assert await stored(store) is None


async def test_a_zone_of_two_words_is_one_place_and_its_suggestion_keeps_the_time(
    service: CommandService,
) -> None:
    """`/time New York` is a place (not the time "New"); `/time 8pm Berlin`'s suggestion keeps the 8 pm."""
    reply = await text(service, "time", "New York")
    assert not reply.ok
    assert "America/New_York" in reply.text
    assert "is not a time:" not in reply.text  # not read as the time "New"
    reply = await text(service, "time", "8pm Berlin")
    assert not reply.ok
    assert "e.g. /time 8pm Europe/Berlin" in reply.text


async def test_categories_for_a_topic_that_does_not_exist_names_the_topic(service: CommandService) -> None:
    """`/categories Nope: cs.RO` says there is no topic Nope, not that "Nope:" is an unknown category."""
    assert (await text(service, "subscribe", "VLM")).ok
    reply = await text(service, "categories", "Nope: cs.RO")
    assert not reply.ok
    assert "No topic 'Nope'" in reply.text
