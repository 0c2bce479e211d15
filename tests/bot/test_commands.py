"""Chat commands against the real SQLite store: every command's answers, its refusals, and hostile input."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.commands.editing import MAX_FILTERS_PER_CHAT, MAX_KEYWORDS_PER_TOPIC, MAX_TOPICS_PER_CHAT
from bot.commands.service import ADMIN_ONLY_MESSAGE, INTERNAL_ERROR_MESSAGE, CommandService
from bot.commands.table import COMMANDS, CommandExample, CommandInfo
from bot.commands.text import parse_command
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    CommandContext,
    CommandError,
    CommandReply,
    CommandRequest,
    DigestNow,
    EditFilters,
    ListTopics,
    Preview,
    RemoveTopic,
    SetCategories,
    SetTime,
    Status,
    Subscribe,
    split_keywords,
)
from bot.delivery import DeliveryService
from bot.digests import build_digests
from bot.matching import Matcher
from bot.models import Announcement, Channel, Digest, FeedCheck, LoadedView, Paper, Style, Topic
from bot.platforms.port import OutgoingMessage
from bot.ports import NO_ANNOUNCEMENT_KEY
from storage.sqlite_store import SqliteStore
from tests.builders import SettableClock as Clock
from tests.builders import make_announcement, make_paper

UTC = dt.UTC
DEFAULTS = ("cs.CV", "cs.CL")
MON = dt.date(2025, 11, 10)
TUE = dt.date(2025, 11, 11)
WED = dt.date(2025, 11, 12)
THU = dt.date(2025, 11, 13)
FRI = dt.date(2025, 11, 14)
SAT = dt.date(2025, 11, 15)
# Thursday 13 Nov 2025, 12:00 UTC = 07:00 US Eastern = 13:00 Europe/Berlin.
NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=UTC)
ANCHOR_CONFIG = Path(__file__).parents[1] / "fixtures" / "anchor" / "config-mllm.yml"
ADMIN_ONLY = sorted(info.name for info in COMMANDS if info.admin_only)
OPEN = sorted(info.name for info in COMMANDS if not info.admin_only)


@dataclass
class Recorder:
    """A ChatAdapter for the delivery service that records every message; counts schedule changes too."""

    platform: str = "telegram"
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    changes: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing to connect to: wait for `stop` (these tests never run the adapter)."""
        await stop.wait()

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """One message per paper."""
        return [OutgoingMessage(text=paper.title, paper_ids=(paper.arxiv_id,)) for paper in view.papers]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """A one-liner."""
        return OutgoingMessage(text="nothing today")

    async def send(self, channel: Channel, message: OutgoingMessage) -> None:
        """Record the message."""
        self.sent.append((channel.chat_id, message.paper_ids))

    async def changed(self) -> None:
        """The command service's on_change hook."""
        self.changes += 1


# The commands' papers: new, one author, in cs.CV unless told otherwise.
paper = functools.partial(make_paper, authors=("A. Author",), categories=("cs.CV",))


def announcement(date: dt.date, *papers: Paper) -> Announcement:
    """An announcement of these papers."""
    return make_announcement(date, papers, categories=DEFAULTS)


@pytest.fixture
def clock() -> Clock:
    """Thursday 2025-11-13 12:00 UTC."""
    return Clock(NOW)


@pytest.fixture
def recorder() -> Recorder:
    """Records deliveries and schedule changes."""
    return Recorder()


@pytest.fixture
def service(store: SqliteStore, clock: Clock, recorder: Recorder) -> CommandService:
    """The command service over the real store, with the fake clock."""
    return CommandService(store, DEFAULTS, clock=clock, on_change=recorder.changed)


async def run(
    service: CommandService,
    command: str,
    args: str = "",
    *,
    chat: str = "100",
    admin: bool = True,
    platform: str = "telegram",
) -> CommandReply:
    """Send one command as an adapter would."""
    request = CommandRequest(
        platform=platform, chat_id=chat, command=command, args=args, user_id="7", is_admin=admin
    )
    return await service.handle(request)


async def ok(service: CommandService, command: str, args: str = "", **options: Any) -> str:
    """Run a command that must succeed; its reply text."""
    reply = await run(service, command, args, **options)
    assert reply.ok, reply.text
    return reply.text


async def refused(service: CommandService, command: str, args: str = "", **options: Any) -> str:
    """Run a command that must be refused with one short line; its reply text."""
    reply = await run(service, command, args, **options)
    assert not reply.ok, reply.text
    assert reply.text != INTERNAL_ERROR_MESSAGE
    assert len(reply.text) < 400, reply.text
    return reply.text


async def channel_of(store: SqliteStore, chat: str = "100", platform: str = "telegram") -> Channel:
    """The stored channel, which must exist."""
    channel = await store.get_channel(platform, chat)
    assert channel is not None
    return channel


async def import_config(
    service: CommandService, text: str | bytes, *, chat: str = "100", admin: bool = True
) -> CommandReply:
    """Send a config file as an adapter would."""
    data = text.encode() if isinstance(text, str) else text
    request = CommandRequest(platform="telegram", chat_id=chat, command="topics", is_admin=admin)
    return await service.import_config(request, data)


# -- /start, /help, unknown commands -------------------------------------------------------------------------
async def test_start_registers_the_chat_and_explains_in_three_lines(
    service: CommandService, store: SqliteStore
) -> None:
    """/start stores the chat (digest off), says in three lines what the bot does and shows the settings."""
    text = await ok(service, "start")
    intro = text.split("\n\n")[0].splitlines()
    assert len(intro) == 3
    assert "/subscribe" in intro[1]
    assert "Daily digest: off" in text
    channel = await channel_of(store)
    assert channel.active is False
    assert channel.topics == ()


async def test_start_again_keeps_the_settings(service: CommandService, store: SqliteStore) -> None:
    """/start in a subscribed chat changes nothing and shows its keywords."""
    await ok(service, "subscribe", "diffusion")
    text = await ok(service, "start")
    assert "diffusion" in text
    assert "Daily digest: on" in text
    assert (await channel_of(store)).active


async def test_help_lists_every_command(service: CommandService) -> None:
    """/help names every command with an example."""
    text = await ok(service, "help", admin=False)
    for info in COMMANDS:
        assert f"/{info.name} " in text


class SlashSyntax:
    """A toy slash-command syntax: `/name action option=value`, without /start."""

    def offers(self, info: CommandInfo) -> bool:
        """Everything but /start."""
        return info.name != "start"

    def example(self, info: CommandInfo, example: CommandExample) -> str:
        """`/keywords add words=diffusion, =GAN`."""
        options = " ".join(f"{name}={value}" for name, value in example.options)
        return " ".join(part for part in (f"/{info.name}", example.action or "", options) if part)

    @property
    def extra_help(self) -> tuple[str, ...]:
        """One closing line."""
        return ("Import a config with /topics import.",)

    @property
    def admins(self) -> str:
        """The toy platform's admins."""
        return "moderators"

    @property
    def admin_only_message(self) -> str:
        """The toy platform's refusal."""
        return "Only moderators change settings."


async def test_help_is_written_in_the_platforms_syntax(service: CommandService) -> None:
    """/help shows each example in the asking platform's syntax and only the commands it offers."""
    request = CommandRequest(platform="discord", chat_id="1", command="help", syntax=SlashSyntax())
    reply = await service.handle(request)
    assert "/keywords add words=diffusion, =GAN" in reply.text
    assert "/time time=08:00 timezone=Europe/Berlin" in reply.text
    assert "/start" not in reply.text
    assert reply.text.endswith("Import a config with /topics import.")
    text = await ok(service, "help")
    assert "/keywords add diffusion, =GAN  ·  /keywords remove GAN" in text
    assert "captioned /topics in groups" in text


async def test_a_new_channel_remembers_its_server(service: CommandService, store: SqliteStore) -> None:
    """A command from a server's channel stores the channel with that server's id."""
    request = CommandRequest(
        platform="discord", chat_id="55", command="subscribe", args="VLM", is_admin=True, server_id="900"
    )
    assert (await service.handle(request)).ok
    assert [c.chat_id for c in await store.channels_of_server("discord", "900")] == ["55"]


async def test_unknown_command_is_answered(service: CommandService, store: SqliteStore) -> None:
    """An unknown command gets a pointer to /help and stores nothing."""
    text = await refused(service, "frobnicate")
    assert "/help" in text
    assert await store.get_channel("telegram", "100") is None


async def test_command_names_ignore_case_and_a_leading_slash(service: CommandService) -> None:
    """`/Status` and `STATUS` are /status."""
    assert "Last announcement" in await ok(service, "/Status")
    assert "Last announcement" in await ok(service, "STATUS")


# -- /subscribe and /unsubscribe -----------------------------------------------------------------------------
async def test_subscribe_stores_keywords_and_turns_the_digest_on(
    service: CommandService, store: SqliteStore, recorder: Recorder
) -> None:
    """/subscribe a, b stores both keywords in one topic and turns the daily digest on."""
    text = await ok(service, "subscribe", 'VLM, "vision, language", =GAN')
    channel = await channel_of(store)
    assert channel.active
    assert [topic.keywords for topic in channel.topics] == [("VLM", '"vision, language"', "=GAN")]
    assert "Subscribed" in text
    assert recorder.changes == 1


async def test_subscribe_without_keywords_explains_usage(service: CommandService, store: SqliteStore) -> None:
    """/subscribe alone in a chat without keywords explains the usage and stores nothing."""
    text = await refused(service, "subscribe")
    assert "/subscribe VLM" in text
    assert await store.get_channel("telegram", "100") is None


async def test_subscribe_adds_to_existing_keywords_once(service: CommandService, store: SqliteStore) -> None:
    """/subscribe in a subscribed chat adds only new keywords (each once) and keeps the old ones."""
    await ok(service, "subscribe", "VLM, MLLM")
    before = await channel_of(store)
    text = await ok(service, "subscribe", "MLLM, diffusion, diffusion")
    after = await channel_of(store)
    assert after.topics[0].keywords == ("VLM", "MLLM", "diffusion")
    assert after.done_up_to == before.done_up_to
    assert "diffusion" in text


async def test_subscribe_with_only_known_keywords_changes_nothing(
    service: CommandService, store: SqliteStore
) -> None:
    """/subscribe with keywords the chat follows already says so."""
    await ok(service, "subscribe", "VLM")
    text = await ok(service, "subscribe", "VLM")
    assert "already" in text
    assert (await channel_of(store)).topics[0].keywords == ("VLM",)


async def test_subscribe_alone_turns_on_a_chat_that_has_keywords(
    service: CommandService, store: SqliteStore
) -> None:
    """/subscribe with no words in a chat with keywords (e.g. imported) just turns the digest on."""
    await ok(service, "keywords", "add diffusion")
    assert not (await channel_of(store)).active
    await ok(service, "subscribe")
    channel = await channel_of(store)
    assert channel.active
    assert channel.topics[0].keywords == ("diffusion",)
    assert "already" in await ok(service, "subscribe")


async def test_subscribe_refuses_a_bad_keyword_and_keeps_everything(
    service: CommandService, store: SqliteStore
) -> None:
    """A keyword that does not parse is refused by name; the chat's keywords stay as they were."""
    await ok(service, "subscribe", "VLM")
    text = await refused(service, "subscribe", 'MLLM, "unclosed')
    assert "unclosed" in text
    text = await refused(service, "subscribe", "NOT survey")
    assert "NOT" in text
    assert (await channel_of(store)).topics[0].keywords == ("VLM",)


async def test_first_digest_is_the_next_announcements(
    service: CommandService, store: SqliteStore, clock: Clock, recorder: Recorder
) -> None:
    """A new subscriber gets nothing from the announcement stored before it subscribed, then the next one."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion old")))
    await ok(service, "subscribe", "diffusion")
    assert (await channel_of(store)).done_up_to == WED
    delivery = DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=clock)
    await delivery.deliver_due()
    assert recorder.sent == []
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    await delivery.deliver_due()
    assert recorder.sent == [("100", ("2511.2",))]


async def test_first_digest_without_any_stored_announcement(
    service: CommandService, store: SqliteStore, clock: Clock, recorder: Recorder
) -> None:
    """Subscribed before anything is stored: the first stored announcement is the first digest."""
    await ok(service, "subscribe", "diffusion")
    assert (await channel_of(store)).done_up_to is None
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    await DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=clock).deliver_due()
    assert recorder.sent == [("100", ("2511.2",))]


async def test_resubscribing_skips_what_came_while_off(
    service: CommandService, store: SqliteStore, clock: Clock, recorder: Recorder
) -> None:
    """After /unsubscribe and /subscribe, announcements stored while off are not delivered."""
    await store.save_announcement(announcement(TUE, paper("2511.1", "diffusion a")))
    await ok(service, "subscribe", "diffusion")
    await ok(service, "unsubscribe")
    await store.save_announcement(announcement(WED, paper("2511.2", "diffusion b")))
    await ok(service, "subscribe")
    assert (await channel_of(store)).done_up_to == WED
    await DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=clock).deliver_due()
    assert recorder.sent == []


async def test_unsubscribe_turns_off_and_keeps_filters(
    service: CommandService, store: SqliteStore, recorder: Recorder
) -> None:
    """/unsubscribe turns the daily digest off; keywords, exclusions and categories stay."""
    await ok(service, "subscribe", "VLM")
    await ok(service, "exclude", "add survey")
    await ok(service, "categories", "cs.RO")
    before = await channel_of(store)
    changes = recorder.changes
    text = await ok(service, "unsubscribe")
    after = await channel_of(store)
    assert "off" in text
    assert not after.active
    assert after.topics == before.topics
    assert recorder.changes == changes + 1
    assert "already" in await ok(service, "unsubscribe")


async def test_unsubscribe_in_an_unknown_chat_stores_nothing(
    service: CommandService, store: SqliteStore
) -> None:
    """/unsubscribe where nothing was ever set says the digest is off and creates no chat."""
    assert "off already" in await ok(service, "unsubscribe")
    assert await store.get_channel("telegram", "100") is None


# -- /keywords and /exclude ----------------------------------------------------------------------------------
async def test_keywords_show_add_remove_set_clear(service: CommandService, store: SqliteStore) -> None:
    """/keywords shows the list; add, remove (any case), set and clear change it."""
    assert "(none)" in await ok(service, "keywords")
    await ok(service, "keywords", "add diffusion, GAN, =VLM")
    assert "diffusion, GAN, =VLM" in await ok(service, "keywords")
    await ok(service, "keywords", "remove gan")
    assert (await channel_of(store)).topics[0].keywords == ("diffusion", "=VLM")
    await ok(service, "keywords", "set robot, agent")
    assert (await channel_of(store)).topics[0].keywords == ("robot", "agent")
    await ok(service, "keywords", "clear")
    assert (await channel_of(store)).topics[0].keywords == ()


async def test_keywords_errors_change_nothing(service: CommandService, store: SqliteStore) -> None:
    """Removing a keyword the chat lacks, an unknown action or a missing word is refused; nothing changes."""
    await ok(service, "keywords", "add diffusion")
    assert "GAN" in await refused(service, "keywords", "remove GAN")
    assert "/keywords add" in await refused(service, "keywords", "frob diffusion")
    assert "Which keywords" in await refused(service, "keywords", "add")
    assert "doesn't work" in await refused(service, "keywords", "add (a OR")
    assert (await channel_of(store)).topics[0].keywords == ("diffusion",)


async def test_removing_the_last_keyword_of_a_subscribed_chat_warns(service: CommandService) -> None:
    """Clearing every keyword while subscribed says the digest has nothing to look for."""
    await ok(service, "subscribe", "diffusion")
    assert "nothing to look for" in await ok(service, "keywords", "clear")


async def test_exclude_before_subscribe_keeps_the_exclusion(
    service: CommandService, store: SqliteStore
) -> None:
    """/exclude before /subscribe makes a keyword-less topic; /subscribe then keeps the exclusion."""
    await ok(service, "exclude", "add survey")
    channel = await channel_of(store)
    assert not channel.active
    assert [(t.keywords, t.excludes) for t in channel.topics] == [((), ("survey",))]
    await ok(service, "subscribe", "VLM")
    channel = await channel_of(store)
    assert [(t.keywords, t.excludes) for t in channel.topics] == [(("VLM",), ("survey",))]
    assert "survey" in await ok(service, "exclude")
    await ok(service, "exclude", "remove survey")
    assert (await channel_of(store)).topics[0].excludes == ()


async def test_a_topic_without_keywords_matches_nothing_and_breaks_no_digest(
    service: CommandService, store: SqliteStore
) -> None:
    """A stored keyword-less topic compiles, matches nothing, and other chats' digests are unaffected."""
    await ok(service, "exclude", "add survey", chat="1")
    await ok(service, "subscribe", "diffusion", chat="2")
    channels = await store.list_channels(active_only=False)
    day = announcement(THU, paper("2511.1", "diffusion survey"), paper("2511.2", "diffusion"))
    digests = build_digests(day, channels, DEFAULTS)
    assert [digest.matched_count for digest in digests] == [0, 2]
    assert Matcher.compile(channels[0].topics, DEFAULTS, strict=True).match(day.papers) == [[]]


async def test_topic_selector_edits_the_named_topic(service: CommandService, store: SqliteStore) -> None:
    """`/keywords Robots: add humanoid` and `/exclude robots: add survey` change only that topic."""
    await ok(service, "subscribe", "VLM")
    await ok(service, "topics", "add Robots: embodied")
    await ok(service, "keywords", "Robots: add humanoid")
    await ok(service, "exclude", "robots: add survey")
    first, robots = (await channel_of(store)).topics
    assert first.keywords == ("VLM",)
    assert first.excludes == ()
    assert robots.keywords == ("embodied", "humanoid")
    assert robots.excludes == ("survey",)
    assert "embodied, humanoid" in await ok(service, "keywords", "Robots:")


async def test_a_misspelt_topic_name_is_named(service: CommandService) -> None:
    """`/keywords Robts: add x` says there is no topic Robts."""
    await ok(service, "subscribe", "VLM")
    assert "No topic 'Robts'" in await refused(service, "keywords", "Robts: add x")


async def test_field_keywords_are_not_taken_for_topic_names(
    service: CommandService, store: SqliteStore
) -> None:
    """`/keywords add ti:agent` adds a title keyword; the colon names no topic."""
    await ok(service, "keywords", "add ti:agent, au:Hinton")
    assert (await channel_of(store)).topics[0].keywords == ("ti:agent", "au:Hinton")


@pytest.mark.parametrize("count", [MAX_KEYWORDS_PER_TOPIC + 1, 5000])
async def test_too_many_keywords_are_refused(service: CommandService, store: SqliteStore, count: int) -> None:
    """More than the per-topic limit of keywords at once is refused with the limit; nothing is stored."""
    words = ", ".join(f"kw{index}" for index in range(count))
    text = await refused(service, "subscribe", words)
    assert str(MAX_KEYWORDS_PER_TOPIC) in text
    assert await store.get_channel("telegram", "100") is None


async def test_a_chat_over_the_limits_can_still_shrink(service: CommandService, store: SqliteStore) -> None:
    """A topic stored with more keywords than the limit (older data) can lose some but not grow."""
    many = tuple(f"kw{index}" for index in range(MAX_KEYWORDS_PER_TOPIC + 50))
    await store.save_channel(Channel("telegram", "100", topics=(Topic("Papers", many),)))
    await ok(service, "keywords", "remove kw0")
    assert len((await channel_of(store)).topics[0].keywords) == len(many) - 1
    await refused(service, "keywords", "add another")


async def test_the_chat_wide_filter_limit(service: CommandService, store: SqliteStore) -> None:
    """A chat holds at most MAX_FILTERS_PER_CHAT keywords and exclusions over all topics."""
    per_topic = MAX_KEYWORDS_PER_TOPIC
    topics = tuple(
        Topic(f"T{t}", tuple(f"t{t}k{k}" for k in range(per_topic)))
        for t in range(MAX_FILTERS_PER_CHAT // per_topic)
    )
    await store.save_channel(Channel("telegram", "100", topics=topics))
    text = await refused(service, "topics", "add More: one")
    assert str(MAX_FILTERS_PER_CHAT) in text
    assert len((await channel_of(store)).topics) == len(topics)


# -- /categories ---------------------------------------------------------------------------------------------
async def test_categories_show_and_set(service: CommandService, store: SqliteStore) -> None:
    """/categories shows the defaults, sets canonical codes, and `default` goes back."""
    assert "cs.CV cs.CL (default)" in await ok(service, "categories")
    text = await ok(service, "categories", "cs.cv, CS.RO")
    assert "cs.CV cs.RO" in text
    assert (await channel_of(store)).topics[0].categories == ("cs.CV", "cs.RO")
    await ok(service, "categories", "default")
    assert (await channel_of(store)).topics[0].categories == ()


async def test_unknown_categories_are_refused_by_name(service: CommandService, store: SqliteStore) -> None:
    """Unknown codes are named in the answer and nothing changes."""
    await ok(service, "categories", "cs.CV")
    text = await refused(service, "categories", "cs.CV cs.XX bogus")
    assert "cs.XX" in text
    assert "bogus" in text
    assert (await channel_of(store)).topics[0].categories == ("cs.CV",)


async def test_a_whole_archive_means_all_its_categories(service: CommandService, store: SqliteStore) -> None:
    """`/categories cs` watches every cs.* category (a paper is never filed under plain `cs`)."""
    text = await ok(service, "categories", "cs")
    categories = (await channel_of(store)).topics[0].categories
    assert "cs.RO" in categories
    assert "cs.AI" in categories
    assert "cs" not in categories
    assert "cs.*" in text


async def test_categories_apply_to_every_topic_or_to_the_named_one(
    service: CommandService, store: SqliteStore
) -> None:
    """/categories sets all topics; `/categories Robots: cs.RO` only that one; the listing shows both."""
    await ok(service, "subscribe", "VLM")
    await ok(service, "topics", "add Robots: embodied")
    assert "all 2 topics" in await ok(service, "categories", "cs.CV cs.CL")
    assert [t.categories for t in (await channel_of(store)).topics] == [("cs.CV", "cs.CL")] * 2
    await ok(service, "categories", "Robots: cs.RO")
    assert [t.categories for t in (await channel_of(store)).topics] == [("cs.CV", "cs.CL"), ("cs.RO",)]
    text = await ok(service, "categories")
    assert "Papers: cs.CV cs.CL" in text
    assert "Robots: cs.RO" in text


async def test_categories_before_subscribe_are_kept(service: CommandService, store: SqliteStore) -> None:
    """Categories set before /subscribe stay after it."""
    await ok(service, "categories", "cs.RO")
    await ok(service, "subscribe", "robot")
    assert (await channel_of(store)).topics[0].categories == ("cs.RO",)


# -- /time ---------------------------------------------------------------------------------------------------
async def test_time_with_a_zone(service: CommandService, store: SqliteStore) -> None:
    """/time 08:00 Europe/Berlin stores both."""
    text = await ok(service, "time", "08:00 Europe/Berlin")
    channel = await channel_of(store)
    assert (channel.delivery_time, channel.timezone) == (dt.time(8, 0), "Europe/Berlin")
    assert "08:00 Europe/Berlin" in text


async def test_time_alone_keeps_the_zone(service: CommandService, store: SqliteStore) -> None:
    """/time 7.30 after /time 08:00 Europe/Berlin keeps Europe/Berlin."""
    await ok(service, "time", "08:00 Europe/Berlin")
    await ok(service, "time", "7.30")
    channel = await channel_of(store)
    assert (channel.delivery_time, channel.timezone) == (dt.time(7, 30), "Europe/Berlin")


async def test_zone_alone_keeps_the_time_and_any_case_works(
    service: CommandService, store: SqliteStore
) -> None:
    """/time america/new_york keeps the time and stores the canonical zone name."""
    await ok(service, "time", "08:00")
    await ok(service, "time", "america/new_york")
    channel = await channel_of(store)
    assert (channel.delivery_time, channel.timezone) == (dt.time(8, 0), "America/New_York")


async def test_time_asap_and_show(service: CommandService, store: SqliteStore) -> None:
    """/time asap delivers as soon as possible; /time shows the setting."""
    await ok(service, "time", "08:00 Asia/Tokyo")
    await ok(service, "time", "asap")
    channel = await channel_of(store)
    assert (channel.delivery_time, channel.timezone) == (None, "Asia/Tokyo")
    assert "as soon as" in await ok(service, "time")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("25:00", "00:00 to 23:59"),
        ("noon", "not a time"),
        ("08:00 Mars/Olympus", "time zone"),
        ("08:00 Europe", "time zone"),
        ("08:00 ../../etc/passwd", "time zone"),
        ("08:00 Europe/Berlin extra", "Did you mean Europe/Berlin? e.g. /time 08:00 Europe/Berlin"),
    ],
)
async def test_bad_times_are_refused(
    service: CommandService, store: SqliteStore, args: str, expected: str
) -> None:
    """A bad time, an unknown zone (even a tz directory name) or extra words are refused; nothing stored."""
    assert expected in await refused(service, "time", args)
    assert await store.get_channel("telegram", "100") is None


# -- /topics and config import -------------------------------------------------------------------------------
async def test_topics_add_list_remove(service: CommandService, store: SqliteStore) -> None:
    """/topics add makes a named topic, /topics lists them, /topics remove drops one."""
    assert "No topics yet" in await ok(service, "topics")
    await ok(service, "subscribe", "VLM")
    await ok(service, "topics", "add Robots: embodied, =VLA")
    listing = await ok(service, "topics")
    assert "• Papers" in listing
    assert "• Robots" in listing
    assert "embodied, =VLA" in listing
    await ok(service, "topics", "remove robots")
    assert [topic.name for topic in (await channel_of(store)).topics] == ["Papers"]


async def test_each_topic_is_a_section_of_the_digest(service: CommandService, store: SqliteStore) -> None:
    """/digest in a chat with two topics gives one section per topic."""
    await store.save_announcement(
        announcement(THU, paper("2511.1", "VLM"), paper("2511.2", "embodied agent"))
    )
    await ok(service, "subscribe", "VLM")
    await ok(service, "topics", "add Robots: embodied")
    reply = await run(service, "digest")
    assert reply.view is not None
    assert [(entry.topic, entry.arxiv_id) for entry in reply.view.entries] == [
        ("Papers", "2511.1"),
        ("Robots", "2511.2"),
    ]
    assert reply.view.view.topics == ("Papers", "Robots")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("add Robots", "/topics add NAME:"),
        ("add : embodied", "/topics add NAME:"),
        ("add Robots:", "/topics add NAME:"),
        ("add " + "x" * 65 + ": a", "at most 64"),
        ("add papers: again", "already"),
        ("add Robots: (unbalanced", "doesn't work"),
        ("remove Nothing", "No topic"),
        ("remove", "Which topic"),
        ("rename a b", "/topics add"),
    ],
)
async def test_topics_errors_change_nothing(
    service: CommandService, store: SqliteStore, args: str, expected: str
) -> None:
    """Bad /topics requests are refused with a hint; the chat's topics stay as they were."""
    await ok(service, "subscribe", "VLM")
    before = await channel_of(store)
    assert expected in await refused(service, "topics", args)
    assert (await channel_of(store)).topics == before.topics


async def test_topics_limit(service: CommandService, store: SqliteStore) -> None:
    """A chat holds at most MAX_TOPICS_PER_CHAT topics."""
    topics = tuple(Topic(f"T{index}", ("x",)) for index in range(MAX_TOPICS_PER_CHAT))
    await store.save_channel(Channel("telegram", "100", topics=topics))
    assert str(MAX_TOPICS_PER_CHAT) in await refused(service, "topics", "add One more: y")


async def test_removing_the_last_topic_of_a_subscribed_chat_warns(service: CommandService) -> None:
    """Removing the only topic while subscribed says the digest has nothing to look for."""
    await ok(service, "subscribe", "VLM")
    assert "nothing to look for" in await ok(service, "topics", "remove Papers")


async def test_import_the_anchor_config(service: CommandService, store: SqliteStore) -> None:
    """The anchor's config-mllm.yml becomes one topic MLLM with six keywords and six categories."""
    reply = await import_config(service, ANCHOR_CONFIG.read_bytes())
    assert reply.ok, reply.text
    assert "MLLM" in reply.text
    (topic,) = (await channel_of(store)).topics
    assert topic.name == "MLLM"
    assert len(topic.keywords) == 6
    assert topic.excludes == ()
    assert topic.categories == ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO")


async def test_import_list_keywords_and_filters(service: CommandService, store: SqliteStore) -> None:
    """List keywords become conjunctions and filters exclusions; the imported topics replace the old ones."""
    await ok(service, "subscribe", "old")
    config = """
category:
  cs.CL: Computation and Language
topic:
  Reasoning:
    keywords: [[LLM, Reasoning], chain-of-thought]
    filters: [survey, [benchmark, dataset]]
  Agents:
    keywords: agent
"""
    reply = await import_config(service, config)
    assert reply.ok, reply.text
    assert "replace" in reply.text
    reasoning, agents = (await channel_of(store)).topics
    assert reasoning.keywords == ("LLM AND Reasoning", "chain-of-thought")
    assert reasoning.excludes == ("survey", "benchmark AND dataset")
    assert agents.keywords == ("agent",)
    assert reasoning.categories == agents.categories == ("cs.CL",)
    papers = (
        paper("1", "LLM reasoning", categories=("cs.CL",)),
        paper("2", "LLM only", categories=("cs.CL",)),
        paper("3", "LLM reasoning survey", categories=("cs.CL",)),
        paper("4", "LLM reasoning benchmark", categories=("cs.CL",)),
        paper("5", "LLM reasoning benchmark dataset", categories=("cs.CL",)),
    )
    assert Matcher.compile([reasoning], DEFAULTS).match(papers) == [[0, 3]]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("topic: [unclosed", "not valid YAML"),
        ("category: {cs.XX: nope}\ntopic: {A: {keywords: [a]}}", "cs.XX"),
        ("category: {cs.CV: x}\ntopic: {A: {keywords: []}}", "no keywords"),
        ("just text", "mapping"),
        ("topic: {A: {keywords: [" + "k" * 301 + "]}}", "longer than 300"),
    ],
)
async def test_import_errors_keep_the_topics(
    service: CommandService, store: SqliteStore, config: str, expected: str
) -> None:
    """A config that can't be used is refused with the reason; the chat keeps its topics."""
    await ok(service, "subscribe", "VLM")
    before = await channel_of(store)
    reply = await import_config(service, config)
    assert not reply.ok
    assert expected in reply.text
    assert "\n" not in reply.text
    assert (await channel_of(store)).topics == before.topics


async def test_import_refuses_a_config_that_is_too_big(service: CommandService, store: SqliteStore) -> None:
    """A file over 256 KiB is refused unread."""
    reply = await import_config(service, b"# " + b"x" * (256 * 1024) + b"\ntopic: {A: {keywords: [a]}}")
    assert not reply.ok
    assert "256 KiB" in reply.text
    assert await store.get_channel("telegram", "100") is None


async def test_import_refuses_more_topics_than_a_chat_holds(
    service: CommandService, store: SqliteStore
) -> None:
    """A config with more topics than a chat may hold is refused."""
    body = "\n".join(f"  T{index}: {{keywords: [k{index}]}}" for index in range(MAX_TOPICS_PER_CHAT + 1))
    reply = await import_config(service, f"topic:\n{body}\n")
    assert not reply.ok
    assert str(MAX_TOPICS_PER_CHAT) in reply.text
    assert await store.get_channel("telegram", "100") is None


async def test_import_applies_the_per_topic_keyword_limit(
    service: CommandService, store: SqliteStore
) -> None:
    """A config topic with more keywords than a chat's topic may hold is refused."""
    keywords = ", ".join(f"k{index}" for index in range(MAX_KEYWORDS_PER_TOPIC + 1))
    reply = await import_config(service, f"topic: {{A: {{keywords: [{keywords}]}}}}")
    assert not reply.ok
    assert str(MAX_KEYWORDS_PER_TOPIC) in reply.text
    assert await store.get_channel("telegram", "100") is None


async def test_import_is_for_admins_only(service: CommandService, store: SqliteStore) -> None:
    """A non-admin's config is refused and nothing is stored."""
    reply = await import_config(service, ANCHOR_CONFIG.read_bytes(), admin=False)
    assert not reply.ok
    assert reply.text == ADMIN_ONLY_MESSAGE
    assert await store.get_channel("telegram", "100") is None


# -- /settings -----------------------------------------------------------------------------------------------
async def test_settings_show_and_change(service: CommandService, store: SqliteStore) -> None:
    """/settings shows style, file and the empty-day notice with how to change each; empty on|off changes."""
    shown = await ok(service, "settings")
    assert shown.splitlines() == [
        "Style of the digest's pages: compact (/settings style compact|full|titles)",
        "The day's Markdown file with each digest: off (/settings file on|off)",
        "Notice on days with no match: on (/settings empty on|off)",
        "Papers ordered by what this chat's 👍/👎 taught: on (/settings ranking on|off)",
    ]
    await ok(service, "settings", "empty off")
    channel = await channel_of(store)
    assert channel.notify_empty is False
    assert "Notice on days with no match: off" in await ok(service, "settings")


@pytest.mark.parametrize(
    "args", ["style", "style huge", "file maybe", "empty on empty off", "loud on", "style titles file"]
)
async def test_settings_errors(service: CommandService, store: SqliteStore, args: str) -> None:
    """Unknown settings or values are refused with the usage; nothing is stored."""
    text = await refused(service, "settings", args)
    assert "/settings style compact|full|titles" in text
    assert "max" not in text
    assert await store.get_channel("telegram", "100") is None


@pytest.mark.parametrize("args", ["max 50", "max 0", "MAX", "max " + "9" * 10_000, "empty off max 5"])
async def test_settings_max_explains_that_it_is_gone(
    service: CommandService, store: SqliteStore, args: str
) -> None:
    """/settings max N means nothing now: one line points to /settings style; nothing is stored."""
    text = await refused(service, "settings", args)
    assert "\n" not in text
    assert text.startswith("/settings max is gone: every paper is in the digest's one paged message")
    assert "/settings style compact|full|titles" in text
    assert await store.get_channel("telegram", "100") is None


# -- /digest -------------------------------------------------------------------------------------------------
async def test_digest_of_the_chats_filters(service: CommandService, store: SqliteStore) -> None:
    """/digest gives the latest announcement's digest for the chat's keywords, exclusions and categories."""
    await store.save_announcement(announcement(WED, paper("2511.0", "diffusion yesterday")))
    await store.save_announcement(
        announcement(
            THU,
            paper("2511.1", "diffusion model"),
            paper("2511.2", "diffusion survey"),
            paper("2511.3", "GAN"),
            paper("2511.4", "diffusion in language", categories=("cs.CL",)),
        )
    )
    await ok(service, "subscribe", "diffusion")
    await ok(service, "exclude", "add survey")
    await ok(service, "categories", "cs.CV")
    reply = await run(service, "digest", admin=False)
    assert reply.ok
    assert reply.view is not None
    assert reply.view.view.announcement_date == THU
    assert [p.arxiv_id for p in reply.view.papers] == ["2511.1"]
    assert "1 of 3 papers" in reply.text


async def test_digest_without_keywords_or_announcement(service: CommandService, store: SqliteStore) -> None:
    """/digest without keywords explains how to get some; without a stored announcement it says so."""
    assert "/subscribe" in await refused(service, "digest")
    await ok(service, "subscribe", "VLM")
    assert "No announcement stored" in await refused(service, "digest")


async def test_adhoc_digest_saves_nothing_and_records_no_delivery(
    service: CommandService, store: SqliteStore, recorder: Recorder
) -> None:
    """/digest WORDS answers for those words; no chat, topic, cursor, ledger row or state is written."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion"), paper("2511.2", "GAN")))
    reply = await run(service, "digest", "GAN", chat="200", admin=False)
    assert reply.view is not None
    assert [p.arxiv_id for p in reply.view.papers] == ["2511.2"]
    assert await store.get_channel("telegram", "200") is None
    await ok(service, "subscribe", "diffusion", chat="300")
    before = await channel_of(store, "300")
    changes = recorder.changes
    reply = await run(service, "digest", "GAN", chat="300")
    assert reply.view is not None
    assert [p.arxiv_id for p in reply.view.papers] == ["2511.2"]
    after = await channel_of(store, "300")
    assert after == before
    assert after.id is not None
    assert await store.delivered_ids(after.id) == set()
    assert await store.last_delivery_result(after.id) is None
    assert recorder.changes == changes


async def test_adhoc_digest_uses_the_chats_categories(service: CommandService, store: SqliteStore) -> None:
    """/digest WORDS in a chat watching cs.RO looks at cs.RO papers."""
    await store.save_announcement(
        announcement(THU, paper("2511.1", "robot", categories=("cs.RO",)), paper("2511.2", "robot"))
    )
    await ok(service, "categories", "cs.RO")
    reply = await run(service, "digest", "robot")
    assert reply.view is not None
    assert [p.arxiv_id for p in reply.view.papers] == ["2511.1"]


async def test_adhoc_digest_refuses_bad_keywords(service: CommandService, store: SqliteStore) -> None:
    """/digest with a keyword that does not parse is refused by name."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion")))
    assert "dangling" in await refused(service, "digest", "diffusion AND")


# -- /preview ------------------------------------------------------------------------------------------------
async def test_preview_counts_each_stored_day_of_the_last_week(
    service: CommandService, store: SqliteStore
) -> None:
    """/preview counts matches per stored announcement of the last 7 days, newest first, with titles."""
    await store.save_announcement(announcement(dt.date(2025, 11, 5), paper("2511.0", "VLM too old")))
    await store.save_announcement(announcement(MON, paper("2511.1", "VLM one"), paper("2511.2", "other")))
    await store.save_announcement(
        announcement(
            THU,
            *(paper(f"2511.1{index}", f"VLM number {index}") for index in range(5)),
            paper("2511.20", "GAN"),
        )
    )
    text = await ok(service, "preview", "=VLM", admin=False)
    lines = text.splitlines()
    thursday = lines.index("Thu 2025-11-13: 5 of 6 papers")
    monday = lines.index("Mon 2025-11-10: 1 of 2 papers")
    assert thursday < monday
    assert lines[thursday + 1 : thursday + 5] == [
        "  · VLM number 0",
        "  · VLM number 1",
        "  · VLM number 2",
        "  · … and 2 more",
    ]
    assert lines[monday + 1] == "  · VLM one"
    assert "too old" not in text
    assert "2025-11-05" not in text
    assert await store.get_channel("telegram", "100") is None


async def test_preview_errors(service: CommandService, store: SqliteStore) -> None:
    """/preview needs keywords, valid ones, and a stored announcement of the last week."""
    assert "Which keywords" in await refused(service, "preview")
    assert "No announcement" in await refused(service, "preview", "VLM")
    await store.save_announcement(announcement(THU, paper("2511.1", "VLM")))
    assert "doesn't work" in await refused(service, "preview", "NOT VLM")


# -- /status -------------------------------------------------------------------------------------------------
async def test_status_shows_announcement_filters_next_and_last_delivery(
    service: CommandService, store: SqliteStore, clock: Clock, recorder: Recorder
) -> None:
    """/status: last announcement, the chat's filters, next digest in the chat's zone, last result."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    await ok(service, "time", "08:00 Europe/Berlin")
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion"), paper("2511.3", "GAN")))
    await DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=clock).deliver_due()
    text = await ok(service, "status", admin=False)
    assert "Last announcement: Thu 2025-11-13, 2 papers." in text
    assert "keywords: diffusion" in text
    assert "Daily digest: on, at 08:00 Europe/Berlin" in text
    assert "Next digest: Fri 2025-11-14 08:00 Europe/Berlin, with the announcement of Fri 2025-11-14." in text
    assert (
        "Last digest: the announcement of 2025-11-13, 1 paper sent (Thu 2025-11-13 13:00 Europe/Berlin)."
        in text
    )


async def test_status_on_a_weekend_says_why_nothing_came(
    service: CommandService, store: SqliteStore, clock: Clock, recorder: Recorder
) -> None:
    """On Saturday /status says arXiv announces nothing on weekends and that the next digest is Monday's."""
    await store.save_announcement(announcement(FRI, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    clock.now = dt.datetime(2025, 11, 15, 15, 0, tzinfo=UTC)
    await store.record_feed_check(
        FeedCheck(
            checked_at=dt.datetime(2025, 11, 15, 15, 0, tzinfo=UTC),
            date=SAT,
            outcome="no_announcement",
            message="no announcement on Saturdays (the feed's skipDays), 2025-11-15",
        )
    )
    text = await ok(service, "status")
    assert "No announcement today (Sat 2025-11-15): arXiv announces nothing on Saturdays and Sundays" in text
    assert "nothing was sent" in text
    assert "the announcement of Mon 2025-11-17" in text


async def test_status_on_a_holiday_gives_the_feeds_reason(
    service: CommandService, store: SqliteStore
) -> None:
    """On a weekday whose feed was empty /status gives the ingest's reason and points to the next day."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    reason = (
        "no announcement for Thursday 2025-11-13 (an arXiv holiday, or nothing in these categories that day)"
    )
    await store.record_feed_check(
        FeedCheck(checked_at=NOW, date=THU, outcome="no_announcement", message=reason)
    )
    text = await ok(service, "status")
    assert (
        "No announcement today (Thu 2025-11-13): an arXiv holiday, or nothing in these categories that day, "
        "so nothing was sent today." in text
    )
    assert "no announcement for" not in text  # the day is said once
    assert "the announcement of Fri 2025-11-14" in text


async def test_status_uses_the_recorded_holiday(service: CommandService, store: SqliteStore) -> None:
    """A weekday the ingest remembered as announcement-free is explained even after later checks."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion")))
    await store.set_state(
        NO_ANNOUNCEMENT_KEY + THU.isoformat(), "the arXiv API has no new submissions (holiday?)"
    )
    text = await ok(service, "status")
    assert "No announcement today (Thu 2025-11-13): the arXiv API has no new submissions (holiday?)" in text


async def test_status_when_the_latest_announcement_is_still_to_deliver(
    service: CommandService, store: SqliteStore
) -> None:
    """A stored announcement the chat has not had yet is the next digest, due now if its time has passed."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion")))
    await store.save_channel(Channel("telegram", "100", active=True, topics=(Topic("T", ("diffusion",)),)))
    assert "Next digest: the announcement of Thu 2025-11-13, due now." in await ok(service, "status")


async def test_status_next_digest_after_missed_days_is_not_in_the_past(
    service: CommandService, store: SqliteStore
) -> None:
    """With Monday's the last digest and Thursday today, the next digest is Thursday's, not Tuesday's."""
    await store.save_announcement(announcement(MON, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    await ok(service, "time", "20:00 Europe/Berlin")
    text = await ok(service, "status")
    assert "Next digest: Thu 2025-11-13 20:00 Europe/Berlin, with the announcement of Thu 2025-11-13." in text
    assert "Today's announcement (Thu 2025-11-13) is not in yet" in text


async def test_status_reports_a_failed_feed_check(service: CommandService, store: SqliteStore) -> None:
    """When today's announcement is missing and the last check failed, /status says so."""
    await store.record_feed_check(FeedCheck(checked_at=NOW, outcome="error", message="arXiv answered 503"))
    text = await ok(service, "status")
    assert "Last announcement: none stored yet." in text
    assert "the last arXiv check failed (arXiv answered 503)" in text


async def test_status_without_a_time_or_a_delivery_yet(service: CommandService, store: SqliteStore) -> None:
    """Without a delivery time the next digest comes as soon as it is out; no last digest is claimed."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    text = await ok(service, "status")
    assert (
        "Next digest: as soon as the announcement of Fri 2025-11-14 is out (from Fri 2025-11-14 05:00 UTC)."
        in text
    )
    assert "Last digest" not in text


# -- who may do what -----------------------------------------------------------------------------------------
ADMIN_ARGS = {
    "subscribe": "VLM",
    "unsubscribe": "",
    "keywords": "add VLM",
    "exclude": "add survey",
    "categories": "cs.RO",
    "time": "08:00 Europe/Berlin",
    "topics": "add Robots: embodied",
    "settings": "style titles",
}
# What the open commands that need arguments are sent with where any will do.
OPEN_ARGS = {"preview": "diffusion", "why": "2511.00001", "export": "bibtex today"}


@pytest.mark.parametrize("command", ADMIN_ONLY)
async def test_non_admins_cannot_change_settings(
    service: CommandService, store: SqliteStore, command: str
) -> None:
    """Every admin-only command refuses a non-admin and changes nothing."""
    await ok(service, "subscribe", "diffusion")
    before = await channel_of(store)
    reply = await run(service, command, ADMIN_ARGS[command], admin=False)
    assert not reply.ok
    assert reply.text == ADMIN_ONLY_MESSAGE
    assert await channel_of(store) == before


@pytest.mark.parametrize("command", ADMIN_ONLY)
async def test_admins_can_change_settings(service: CommandService, store: SqliteStore, command: str) -> None:
    """Every admin-only command works for an admin."""
    await ok(service, "subscribe", "diffusion")
    await ok(service, command, ADMIN_ARGS[command])


@pytest.mark.parametrize("command", OPEN)
async def test_anyone_may_use_the_open_commands(
    service: CommandService, store: SqliteStore, command: str
) -> None:
    """/start, /help, /digest, /preview, /status, /saved, /export and /why answer a non-admin."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    args = OPEN_ARGS.get(command, "")
    reply = await run(service, command, args, admin=False)
    assert reply.ok, reply.text
    assert reply.text != ADMIN_ONLY_MESSAGE


# -- two chats -----------------------------------------------------------------------------------------------
async def test_two_chats_never_affect_each_other(service: CommandService, store: SqliteStore) -> None:
    """Every change in one chat leaves another chat (and the same id on another platform) untouched."""
    await ok(service, "subscribe", "robot", chat="B")
    await ok(service, "subscribe", "robot", chat="A", platform="discord")
    other = await channel_of(store, "B")
    same_id_elsewhere = await channel_of(store, "A", "discord")
    for command, args in [
        ("subscribe", "VLM"),
        ("keywords", "set VLM, MLLM"),
        ("exclude", "add survey"),
        ("categories", "cs.CV"),
        ("time", "08:00 Asia/Tokyo"),
        ("topics", "add Robots: embodied"),
        ("settings", "empty off"),
        ("keywords", "Robots: add humanoid"),
        ("topics", "remove Robots"),
        ("unsubscribe", ""),
    ]:
        await ok(service, command, args, chat="A")
    assert (await import_config(service, ANCHOR_CONFIG.read_bytes(), chat="A")).ok
    assert await channel_of(store, "B") == other
    assert await channel_of(store, "A", "discord") == same_id_elsewhere
    assert [topic.name for topic in (await channel_of(store, "A")).topics] == ["MLLM"]


# -- robustness ----------------------------------------------------------------------------------------------
HOSTILE = [
    "x" * 10_000,
    ", ".join(f"k{index}" for index in range(5000)),
    '"unbalanced, quote',
    'a\\", b',
    "((((((((((((((((((((((a))))))))))))))))))))",
    "@everyone, @here",
    "<b>bold</b>, <script>alert(1)</script>, &amp;",
    "🙂 émoji, 漢字, עברית, \u202eevil",
    "\ud800lone surrogate, ok",
    "nul\x00byte, bell\x07",
    "Robots: add x",
    ":",
    ", , ,",
    "AND, OR, NOT",
    "ti:, =, cat:zz.ZZ",
    "add " + ", ".join(["word"] * 300),
    "max 99999999999999999999999",
    "add " + "y" * 70 + ": z",
]


@pytest.mark.parametrize("command", [info.name for info in COMMANDS])
async def test_hostile_input_gets_a_clear_answer(
    service: CommandService, store: SqliteStore, command: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Huge, unbalanced, unicode, mention and HTML arguments get a reply to every command, never an error."""
    await store.save_announcement(announcement(THU, paper("2511.1", "diffusion")))
    await ok(service, "subscribe", "diffusion")
    with caplog.at_level(logging.ERROR):
        for args in HOSTILE:
            reply = await run(service, command, args)
            assert isinstance(reply, CommandReply)
            assert reply.text
            assert reply.text != INTERNAL_ERROR_MESSAGE
            if not reply.ok:
                assert len(reply.text) < 400, reply.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    channel = await channel_of(store)
    Matcher.compile(channel.topics, DEFAULTS, strict=True)
    assert len(channel.topics) <= MAX_TOPICS_PER_CHAT


async def test_a_lone_surrogate_is_stored_safely(service: CommandService, store: SqliteStore) -> None:
    """A keyword with an unpaired surrogate (valid JSON from a platform) is stored with a replacement."""
    await ok(service, "subscribe", "ok\ud800word")
    assert (await channel_of(store)).topics[0].keywords == ("ok?word",)


_WORDS = [
    "VLM",
    "diffusion",
    "robot",
    "x",
    "AND",
    "OR",
    "NOT",
    "ti:agent",
    "abs:",
    "au:=Li",
    "cat:cs.CV",
    "cat:zz",
    "=GAN",
    "=",
    '"quoted, phrase"',
    '"open',
    "\\",
    "(",
    ")",
    ",",
    ":",
    "add",
    "remove",
    "set",
    "clear",
    "default",
    "asap",
    "max",
    "empty",
    "on",
    "²",
    "٣",
    "9" * 5000,
    "cs.CV",
    "cs",
    "math.xx",
    "Europe/Berlin",
    "europe/berlin",
    "Europe",
    "08:00",
    "7.30",
    "25:61",
    "Papers:",
    "Robots:",
    "🙂",
    "é",
    "\u0301",
    "\u202e",
    "\ud800",
    "\x00",
    "\x1b",
    "\n",
    "@everyone",
    "<b>",
    "&amp;",
]
_FUZZ_CONFIGS = [
    "topic: {A: {keywords: [a]}}",
    "topic: {A: {keywords: [[a, [b]]]}}",
    "a: &a [x, *a]",
    "[" * 3000 + "]" * 3000,
    "topic: {A: {keywords: [yes, no]}}",
    "category: [[cs.CV]]\ntopic: {A: {keywords: [a]}}",
    "topic: {A: {keywords: a}, a: {keywords: b}}",
    'category: [cs]\ntopic: {A: {keywords: ["\\ud800"]}}',
    "",
]


def _fuzz_args(rng: random.Random) -> str:
    """Random words, separators and garbage, sometimes very long."""
    if rng.random() < 0.03:
        return "".join(rng.choice(_WORDS) for _ in range(3000))
    pieces = [rng.choice(_WORDS) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 20]))]
    return "".join(piece + rng.choice([" ", ", ", "", "\n"]) for piece in pieces)


async def test_seeded_fuzz_never_raises(
    service: CommandService, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Random garbage to every command (and config import), as admin or not, always gets a CommandReply."""
    await store.save_announcement(announcement(WED, paper("2511.0", "diffusion")))
    await store.save_announcement(announcement(THU, paper("2511.1", "VLM agent", abstract="robot survey")))
    rng = random.Random(20251113)
    names = [info.name for info in COMMANDS] + ["nope", "", "/subscribe"]
    accepted = 0
    with caplog.at_level(logging.ERROR):
        for _ in range(1000):
            args = _fuzz_args(rng)
            chat = rng.choice(["1", "2"])
            if rng.random() < 0.05:
                text = rng.choice(_FUZZ_CONFIGS) if rng.random() < 0.5 else args
                request = CommandRequest("telegram", chat, "topics", is_admin=rng.random() < 0.9)
                reply = await service.import_config(request, text.encode("utf-8", "surrogatepass"))
            else:
                reply = await run(service, rng.choice(names), args, chat=chat, admin=rng.random() < 0.9)
            assert isinstance(reply, CommandReply)
            assert reply.text, args
            assert reply.text != INTERNAL_ERROR_MESSAGE, args
            accepted += reply.ok
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert accepted > 200  # the garbage reaches the stores' writes, not only the parsers' refusals
    channels = await store.list_channels(active_only=False)
    for channel in channels:
        Matcher.compile(channel.topics, DEFAULTS, strict=True)
    build_digests(announcement(THU, paper("2511.1", "VLM agent")), channels, DEFAULTS)


class BrokenStore:
    """A store whose reads fail, standing in for a disk problem."""

    def __getattr__(self, name: str) -> Any:
        """Every store method raises."""

        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise OSError("disk I/O error")

        return fail


@pytest.mark.parametrize("command", [info.name for info in COMMANDS])
async def test_an_internal_failure_gets_an_apology_not_a_traceback(
    command: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A store failure is logged and answered with a short apology."""
    service = CommandService(BrokenStore(), DEFAULTS, clock=Clock(NOW))
    with caplog.at_level(logging.ERROR, logger="bot.commands"):
        reply = await run(service, command, (ADMIN_ARGS | OPEN_ARGS).get(command, "VLM"))
    if command == "help":
        assert reply.ok
        return
    assert not reply.ok
    assert reply.text == INTERNAL_ERROR_MESSAGE
    assert "disk I/O error" in caplog.text


async def test_concurrent_edits_of_one_chat_both_stick(service: CommandService, store: SqliteStore) -> None:
    """Two admins adding keywords at the same moment both keep their keyword."""
    await ok(service, "subscribe", "start")
    replies = await asyncio.gather(*(run(service, "keywords", f"add k{index}") for index in range(5)))
    assert all(reply.ok for reply in replies)
    assert set((await channel_of(store)).topics[0].keywords) == {"start", "k0", "k1", "k2", "k3", "k4"}


class CursorRace:
    """The real store, except that a delivery finishes right after a command reads the chat once."""

    def __init__(self, store: SqliteStore, date: dt.date) -> None:
        """Wrap `store`; the first get_channel marks `date` done behind the caller's back."""
        self._store = store
        self._date = date
        self._fired = False

    def __getattr__(self, name: str) -> Any:
        """Everything else goes to the real store."""
        return getattr(self._store, name)

    async def get_channel(self, platform: str, chat_id: str) -> Channel | None:
        """Read the chat, then let the delivery service move its cursor."""
        channel = await self._store.get_channel(platform, chat_id)
        if channel is not None and channel.id is not None and not self._fired:
            self._fired = True
            await self._store.set_done_up_to(channel.id, self._date)
        return channel


async def test_a_delivery_during_a_command_is_not_undone(service: CommandService, store: SqliteStore) -> None:
    """A digest marked done while a command runs stays done after the command saves the chat."""
    await store.save_announcement(announcement(WED, paper("2511.0", "x")))
    await ok(service, "subscribe", "diffusion")
    racing = CommandService(CursorRace(store, THU), DEFAULTS, clock=Clock(NOW))
    assert (await run(racing, "keywords", "add GAN")).ok
    channel = await channel_of(store)
    assert channel.done_up_to == THU
    assert channel.topics[0].keywords == ("diffusion", "GAN")


def test_split_keywords_keeps_quoted_commas() -> None:
    """Commas and newlines split keywords, except inside double quotes; blanks are dropped."""
    assert split_keywords('a, "b, c" ,\n d,,') == ["a", '"b, c"', "d"]
    assert split_keywords('x \\", y') == ['x \\"', "y"]
    assert split_keywords("   ") == []


async def test_replies_are_plain_text(service: CommandService, store: SqliteStore) -> None:
    """Replies carry user text as typed (HTML and mentions unescaped) for the adapters to escape."""
    text = await ok(service, "subscribe", "<b>x</b>, @everyone")
    assert "<b>x</b>, @everyone" in text
    assert replace(await channel_of(store)).topics[0].keywords == ("<b>x</b>", "@everyone")


# -- typed commands, the text parser, one write per command -------------------------------------------------
TEXT_AND_TYPED = [
    ("subscribe", "VLM, =GAN", Subscribe(("VLM", "=GAN"))),
    ("keywords", "Robots: add humanoid", EditFilters("keywords", "add", ("humanoid",), "Robots")),
    ("keywords", "rm diffusion", EditFilters("keywords", "remove", ("diffusion",))),
    ("exclude", "robots : clear", EditFilters("excludes", "clear", (), "robots ")),
    ("exclude", "", EditFilters("excludes")),
    ("categories", "Robots: cs.RO, cs.CV", SetCategories(("cs.RO", "cs.CV"), "Robots")),
    ("categories", "DEFAULT", SetCategories("default")),
    ("categories", "", SetCategories()),
    ("time", "08:00 Europe/Berlin", SetTime("08:00", "Europe/Berlin")),
    ("time", "europe/berlin", SetTime(None, "europe/berlin")),
    ("time", "asap", SetTime("asap")),
    ("topics", "", ListTopics()),
    ("topics", "add Cats: cat, kitten", AddTopic("Cats", ("cat", "kitten"))),
    ("topics", "delete Robots", RemoveTopic("Robots")),
    ("settings", "empty off", ChangeSettings(notify_empty=False)),
    ("settings", "STYLE Titles", ChangeSettings(style=Style.TITLES)),
    ("settings", "file on empty on", ChangeSettings(notify_empty=True, send_file=True)),
    ("time", "8 pm", SetTime("8pm")),
    ("digest", "", DigestNow()),
    ("preview", "=VLM, MLLM", Preview(("=VLM", "MLLM"))),
    ("status", "ignored", Status()),
]


@pytest.mark.parametrize(("name", "args", "typed"), TEXT_AND_TYPED)
def test_text_commands_parse_into_typed_values(name: str, args: str, typed: Command) -> None:
    """`/name args` becomes the typed command; a `NAME:` prefix is a topic only when the chat has it."""
    assert parse_command(name, args, ("Robots", "Papers")) == typed


def test_every_command_of_the_table_has_a_text_form() -> None:
    """The parser knows every command in the table, and each value names its table entry."""
    for info in COMMANDS:
        assert parse_command(info.name, "").name == info.name


def test_a_prefix_that_is_no_topic_is_explained_by_the_parser() -> None:
    """`/keywords Nope: add x` and `/categories Nope: cs.RO` name the missing topic."""
    with pytest.raises(CommandError, match=r"^No topic 'Nope' \(/topics lists them\)\. Use /keywords add"):
        parse_command("keywords", "Nope: add x", ("Robots",))
    with pytest.raises(CommandError, match=r"^No topic 'Nope' \(/topics lists them\)\.$"):
        parse_command("categories", "Nope: cs.RO", ("Robots",))


async def test_typed_and_text_commands_answer_alike(service: CommandService, store: SqliteStore) -> None:
    """A typed command (as Discord sends it) gets the answer the same text command gets, for the same chat."""
    context = CommandContext("telegram", "200", is_admin=True)
    for name, args in [
        ("subscribe", "VLM"),
        ("topics", "add Robots: embodied"),
        ("keywords", "Robots: add x"),
    ]:
        typed = await service.run(context, parse_command(name, args, ("Robots",)))
        assert typed == await run(service, name, args)
    assert (await channel_of(store, "200")).topics == (await channel_of(store)).topics


async def test_typed_commands_are_checked_like_text(service: CommandService, store: SqliteStore) -> None:
    """The typed path refuses non-admins, names an unknown topic, and strips control characters."""
    member = CommandContext("discord", "300")
    admin = CommandContext("discord", "300", is_admin=True)
    assert (await service.run(member, Subscribe(("VLM",)))).text == ADMIN_ONLY_MESSAGE
    assert await store.get_channel("discord", "300") is None
    missing = await service.run(admin, EditFilters("keywords", "add", ("x",), "Nope"))
    assert not missing.ok
    assert missing.text.startswith("No topic 'Nope' (/topics lists them).")
    assert (await service.run(admin, Subscribe(("V\x00LM",)))).ok
    assert (await channel_of(store, "300", "discord")).topics[0].keywords == ("VLM",)


class CountingStore:
    """The real store, recording every call that writes."""

    WRITES = frozenset(
        {
            "save_channel",
            "set_channel_active",
            "set_done_up_to",
            "move_channel",
            "save_announcement",
            "extend_announcement",
            "prune_announcements",
            "reserve_deliveries",
            "confirm_deliveries",
            "release_deliveries",
            "record_delivery",
            "record_feed_check",
            "record_delivery_result",
            "set_state",
        }
    )

    def __init__(self, store: SqliteStore) -> None:
        """Wrap `store`."""
        self._store = store
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        """The real store's attribute; a write method is recorded when called."""
        attribute = getattr(self._store, name)
        if name not in self.WRITES:
            return attribute

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.writes.append(name)
            return await attribute(*args, **kwargs)

        return recorded


ONE_WRITE_COMMANDS = [
    ("start", ""),
    ("subscribe", "fresh"),
    ("keywords", "Robots: add humanoid"),
    ("exclude", "set survey"),
    ("categories", "cs.RO"),
    ("time", "07:30 Europe/Berlin"),
    ("topics", "add Cats: cat"),
    ("topics", "remove Robots"),
    ("settings", "empty off"),
    ("unsubscribe", ""),
]


@pytest.mark.parametrize(("name", "args"), ONE_WRITE_COMMANDS)
@pytest.mark.parametrize("active", [False, True])
async def test_one_command_is_one_store_write(
    store: SqliteStore, clock: Clock, name: str, args: str, active: bool
) -> None:
    """Every change a command makes reaches the store in one write call (one transaction)."""
    await store.save_announcement(announcement(WED, paper("2511.0", "x")))
    topics = (Topic("Papers", ("diffusion",)), Topic("Robots", ("embodied",)))
    await store.save_channel(Channel("telegram", "100", active=active, topics=topics))
    counting = CountingStore(store)
    service = CommandService(counting, DEFAULTS, clock=clock)
    reply = await run(service, name, args)
    assert reply.ok, reply.text
    assert len(counting.writes) <= 1, counting.writes
    if name not in {"start", "unsubscribe"} or (name == "unsubscribe" and active):
        assert len(counting.writes) == 1


async def test_a_config_import_is_one_store_write(store: SqliteStore, clock: Clock) -> None:
    """Importing a config replaces the chat's topics with one write call."""
    counting = CountingStore(store)
    service = CommandService(counting, DEFAULTS, clock=clock)
    assert (await import_config(service, ANCHOR_CONFIG.read_bytes())).ok
    assert counting.writes == ["save_channel"]
