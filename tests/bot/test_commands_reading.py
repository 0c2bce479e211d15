"""Issue 12's command side against the real store: /settings style and file, members reading settings,
match counts and the flood warning, a /subscribe judged by when it was sent, and where digests go."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from dataclasses import dataclass, field

import pytest

from bot.commands.service import ADMIN_ONLY_MESSAGE, CommandService
from bot.commands.text import needs_admin, parse_command
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    CommandContext,
    CommandReply,
    CommandRequest,
    DigestNow,
    EditFilters,
    Help,
    ImportTopics,
    ListTopics,
    Preview,
    RemoveTopic,
    SetCategories,
    SetTime,
    Start,
    Status,
    Subscribe,
    Unsubscribe,
    changes_chat,
)
from bot.delivery import DeliveryService
from bot.models import Announcement, Channel, Digest, LoadedView, Paper, Style, Topic
from bot.platforms.port import OutgoingMessage
from storage.sqlite_store import SqliteStore
from tests.builders import SettableClock, make_announcement, make_paper

UTC = dt.UTC
DEFAULTS = ("cs.CV", "cs.CL")
MON, TUE, WED, THU = (dt.date(2025, 11, day) for day in (10, 11, 12, 13))
NOW = dt.datetime(2025, 11, 13, 12, 0, tzinfo=UTC)  # Thursday, 07:00 US Eastern

paper = functools.partial(make_paper, authors=("A. Author",), categories=("cs.CV",))


def announcement(date: dt.date, *papers: Paper) -> Announcement:
    """An announcement of these papers."""
    return make_announcement(date, papers, categories=DEFAULTS)


def day_of(
    date: dt.date, count: int, about: str = "robots", matching: int = 0, word: str = "diffusion"
) -> Announcement:
    """`count` papers about `about`, the first `matching` of them about `word` too."""
    papers = [
        paper(f"2511.{date.day:02d}{index:03d}", f"{word} and {about}" if index < matching else f"On {about}")
        for index in range(count)
    ]
    return announcement(date, *papers)


@dataclass
class Recorder:
    """A ChatAdapter for the delivery service that records which papers went to which chat."""

    platform: str = "telegram"
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Never run here."""
        await stop.wait()

    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """One message for the whole view."""
        return [OutgoingMessage(text="digest", paper_ids=tuple(p.arxiv_id for p in view.papers))]

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """A one-liner."""
        return OutgoingMessage(text="nothing today")

    async def send(self, channel: Channel, message: OutgoingMessage) -> str | None:
        """Record the message."""
        self.sent.append((channel.chat_id, message.paper_ids))
        return None


@pytest.fixture
def store_clock() -> SettableClock:
    """What stamps the store's rows (an announcement's stored_at): set by each test."""
    return SettableClock(NOW)


@pytest.fixture
def service(store: SqliteStore, store_clock: SettableClock) -> CommandService:
    """The command service over the real store; its clock is the store's."""
    return CommandService(store, DEFAULTS, clock=store_clock)


async def text_command(
    service: CommandService, command: str, args: str = "", *, admin: bool = True, **context: object
) -> CommandReply:
    """Send one text command to chat 100 as Telegram would."""
    request = CommandRequest("telegram", "100", command, args, user_id="7", is_admin=admin, **context)  # type: ignore[arg-type]
    return await service.handle(request)


async def channel_of(store: SqliteStore, chat: str = "100", platform: str = "telegram") -> Channel:
    """The stored channel, which must exist."""
    channel = await store.get_channel(platform, chat)
    assert channel is not None
    return channel


# -- item 1: /settings style and file ------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "style"), [("style full", Style.FULL), ("STYLE titles", Style.TITLES)])
async def test_settings_style_is_stored_and_shown(
    service: CommandService, store: SqliteStore, args: str, style: Style
) -> None:
    """/settings style X stores the chat's style (a restart keeps it) and /settings shows it."""
    reply = await text_command(service, "settings", args)
    assert reply.ok, reply.text
    assert reply.text.startswith(f"Style: {style.value} — ")
    assert (await channel_of(store)).style is style
    shown = (await text_command(service, "settings")).text
    assert f"Style of the digest's pages: {style.value} " in shown


async def test_settings_file_and_notice_in_one_change(service: CommandService, store: SqliteStore) -> None:
    """`/settings file on empty off` changes both in one answer; `file off` turns the file off again."""
    reply = await text_command(service, "settings", "file on empty off")
    assert reply.ok, reply.text
    assert reply.text.splitlines() == [
        "The day's Markdown file now comes with each digest, without a notification.",
        "Notice on days with no match: off.",
    ]
    channel = await channel_of(store)
    assert (channel.send_file, channel.notify_empty, channel.style) == (True, False, Style.COMPACT)
    assert (await text_command(service, "settings", "file off")).ok
    assert (await channel_of(store)).send_file is False


async def test_typed_settings_change_only_what_is_given(service: CommandService, store: SqliteStore) -> None:
    """A typed /settings (Discord's options) with style only leaves the file and the notice as they were."""
    admin = CommandContext("telegram", "100", is_admin=True)
    assert (await service.run(admin, ChangeSettings(send_file=True, notify_empty=False))).ok
    assert (await service.run(admin, ChangeSettings(style=Style.TITLES))).ok
    channel = await channel_of(store)
    assert (channel.style, channel.send_file, channel.notify_empty) == (Style.TITLES, True, False)


async def test_status_shows_the_settings_values(service: CommandService, store: SqliteStore) -> None:
    """/status (and /start) show the chat's style, file and empty-day notice."""
    await text_command(service, "settings", "style full file on empty off")
    line = "Style full, Markdown file on, notice on days with no match off."
    assert line in (await text_command(service, "status", admin=False)).text.splitlines()
    assert line in (await text_command(service, "start", admin=False)).text.splitlines()


# -- item 2: members read, only changes are admin-only -------------------------------------------------------
READS = [
    ("keywords", ""),
    ("exclude", ""),
    ("categories", ""),
    ("time", ""),
    ("settings", ""),
    ("topics", ""),
]
CHANGES = [
    ("subscribe", ""),
    ("subscribe", "GAN"),
    ("unsubscribe", ""),
    ("keywords", "add GAN"),
    ("keywords", "clear"),
    ("exclude", "set survey"),
    ("categories", "cs.LG"),
    ("categories", "default"),
    ("time", "09:00"),
    ("time", "Asia/Tokyo"),
    ("settings", "style titles"),
    ("settings", "file on"),
    ("settings", "max 5"),
    ("topics", "add Robots: humanoid"),
    ("topics", "remove Papers"),
    ("topics", "nonsense"),
    ("keywords", "nonsense words"),
]


async def subscribed(store: SqliteStore) -> Channel:
    """Chat 100, subscribed to 'diffusion' (excluding 'survey') by an admin earlier."""
    return await store.save_channel(
        Channel("telegram", "100", active=True, topics=(Topic("Papers", ("diffusion",), ("survey",)),))
    )


@pytest.mark.parametrize(("command", "args"), READS)
async def test_a_member_may_read_every_setting(
    service: CommandService, store: SqliteStore, command: str, args: str
) -> None:
    """/keywords, /exclude, /categories, /time, /settings and /topics without arguments answer a member."""
    before = await subscribed(store)
    reply = await text_command(service, command, args, admin=False)
    assert reply.ok, reply.text
    assert reply.text != ADMIN_ONLY_MESSAGE
    assert await channel_of(store) == before


async def test_a_member_reads_the_actual_values(service: CommandService, store: SqliteStore) -> None:
    """What a member reads is the chat's: its keywords, exclusions and time."""
    await subscribed(store)
    assert (await text_command(service, "keywords", admin=False)).text.startswith("Keywords: diffusion\n")
    assert (await text_command(service, "exclude", admin=False)).text.startswith("Excluded words: survey\n")
    assert "Papers" in (await text_command(service, "topics", admin=False)).text


@pytest.mark.parametrize(("command", "args"), CHANGES)
async def test_a_member_is_refused_every_change(
    service: CommandService, store: SqliteStore, command: str, args: str
) -> None:
    """Every change (or what does not parse as one) refuses a member with the one message; nothing moves."""
    before = await subscribed(store)
    reply = await text_command(service, command, args, admin=False)
    assert (reply.ok, reply.text) == (False, ADMIN_ONLY_MESSAGE)
    assert await channel_of(store) == before


async def test_a_member_reads_a_named_topic(service: CommandService, store: SqliteStore) -> None:
    """`/keywords Robots:` (a topic named, no change) is a read too."""
    await store.save_channel(
        Channel("telegram", "100", topics=(Topic("Papers", ("a1",)), Topic("Robots", ("humanoid",))))
    )
    reply = await text_command(service, "keywords", "Robots:", admin=False)
    assert reply.ok, reply.text
    assert reply.text.startswith("Keywords of Robots: humanoid")


def test_the_refusal_says_what_members_may_do() -> None:
    """The refusal names what anyone may still do: read the settings, /digest, /preview, /status, /help."""
    assert ADMIN_ONLY_MESSAGE.startswith("Only chat admins can change this chat's settings.")
    for named in ("/settings", "/keywords", "/digest", "/preview", "/status", "/help"):
        assert named in ADMIN_ONLY_MESSAGE


@pytest.mark.parametrize(("command", "args"), READS + CHANGES)
def test_text_platforms_know_when_to_look_up_an_admin(command: str, args: str) -> None:
    """`needs_admin` is False exactly for the text forms that parse into a read, True for every change."""
    assert needs_admin(command, args) == ((command, args) not in READS)
    if (command, args) in READS:
        assert not changes_chat(parse_command(command, args))


@pytest.mark.parametrize("command", ["help", "start", "digest", "preview", "status", "nonsense"])
def test_open_commands_need_no_admin_look_up(command: str) -> None:
    """Commands open to everyone (and unknown ones) never need the look-up, whatever their arguments."""
    assert not needs_admin(command, "")
    assert not needs_admin(command, "diffusion")


READ_VALUES: list[Command] = [
    Start(),
    Help(),
    Status(),
    DigestNow(),
    DigestNow(public=True),
    Preview(("x",)),
    ListTopics(),
    EditFilters("keywords"),
    EditFilters("excludes", topic="Robots"),
    SetCategories(),
    SetCategories(topic="Robots"),
    SetTime(),
    ChangeSettings(),
]
CHANGE_VALUES: list[Command] = [
    Subscribe(),
    Subscribe(own_thread=True),
    Unsubscribe(),
    EditFilters("keywords", "add", ("x",)),
    EditFilters("excludes", "clear"),
    SetCategories("default"),
    SetCategories(("cs.RO",), "Robots"),
    SetTime("08:00"),
    SetTime(zone="UTC"),
    ChangeSettings(notify_empty=True),
    ChangeSettings(style=Style.FULL),
    ChangeSettings(send_file=False),
    AddTopic("R", ("x",)),
    RemoveTopic("R"),
    ImportTopics(b""),
]


def test_one_place_tells_reads_from_changes() -> None:
    """`changes_chat` is True for every changing command value and False for every reading one."""
    assert [changes_chat(command) for command in READ_VALUES] == [False] * len(READ_VALUES)
    assert [changes_chat(command) for command in CHANGE_VALUES] == [True] * len(CHANGE_VALUES)


@pytest.mark.parametrize("command", READ_VALUES[6:], ids=repr)
async def test_typed_reads_answer_a_member(
    service: CommandService, store: SqliteStore, command: Command
) -> None:
    """Typed reads (Discord's list sub-commands, /settings, /time, /categories without options) are open."""
    await store.save_channel(
        Channel("telegram", "100", topics=(Topic("Papers", ("a1",)), Topic("Robots", ("b",))))
    )
    reply = await service.run(CommandContext("telegram", "100"), command)
    assert reply.ok, reply.text


@pytest.mark.parametrize("command", CHANGE_VALUES, ids=repr)
async def test_typed_changes_refuse_a_member(
    service: CommandService, store: SqliteStore, command: Command
) -> None:
    """Every typed change refuses a member, in the asking platform's words."""
    before = await subscribed(store)
    reply = await service.run(CommandContext("telegram", "100"), command)
    assert (reply.ok, reply.text) == (False, ADMIN_ONLY_MESSAGE)
    assert await channel_of(store) == before


# -- item 3: match counts and the flood warning --------------------------------------------------------------
async def three_days(store: SqliteStore) -> None:
    """Mon–Wed stored: 40, 30 and 24 papers, of which 4, 3 and 2 are about diffusion."""
    await store.save_announcement(day_of(MON, 40, matching=4))
    await store.save_announcement(day_of(TUE, 30, matching=3))
    await store.save_announcement(day_of(WED, 24, matching=2))


async def test_subscribe_says_what_it_would_have_matched(service: CommandService, store: SqliteStore) -> None:
    """/subscribe ends with the matches on each of the last stored announcements, newest first."""
    await three_days(store)
    reply = await text_command(service, "subscribe", "diffusion")
    assert reply.ok, reply.text
    assert (
        reply.text.splitlines()[-1]
        == "Would have matched: Wed 12 Nov 2 of 24, Tue 11 Nov 3 of 30, Mon 10 Nov 4 of 40."
    )
    assert "⚠" not in reply.text


async def test_keywords_and_topics_say_it_too(service: CommandService, store: SqliteStore) -> None:
    """A /keywords change, /topics and /topics add end with the figures of the chat's filters after it."""
    await three_days(store)
    await text_command(service, "subscribe", "diffusion")
    added = (await text_command(service, "keywords", "add robots")).text
    assert "'robots' alone matches that much" in added.splitlines()[-1]
    assert (
        added.splitlines()[-2]
        == "Would have matched: Wed 12 Nov 24 of 24, Tue 11 Nov 30 of 30, Mon 10 Nov 40 of 40."
    )
    removed = (await text_command(service, "keywords", "remove robots")).text
    assert "Wed 12 Nov 2 of 24" in removed
    listed = (await text_command(service, "topics", admin=False)).text
    assert listed.splitlines()[-1].startswith("Would have matched: Wed 12 Nov 2 of 24,")
    topic = (await text_command(service, "topics", "add Other: nothing-like-this")).text
    assert "Would have matched: Wed 12 Nov 2 of 24," in topic


async def test_a_read_of_keywords_shows_no_figures(service: CommandService, store: SqliteStore) -> None:
    """/keywords without a change only lists (the figures come after changes and with /topics)."""
    await three_days(store)
    await text_command(service, "subscribe", "diffusion")
    assert "Would have matched" not in (await text_command(service, "keywords")).text


async def test_a_flood_is_named_plainly(service: CommandService, store: SqliteStore) -> None:
    """`/subscribe a` matches every paper under the substring rule: the answer warns and names 'a'."""
    await three_days(store)
    reply = await text_command(service, "subscribe", "diffusion, a")
    assert reply.ok, reply.text
    *_, counts, warning = reply.text.splitlines()
    assert counts == "Would have matched: Wed 12 Nov 24 of 24, Tue 11 Nov 30 of 30, Mon 10 Nov 40 of 40."
    assert warning.startswith("⚠ That is more than half of the announced papers (")
    assert "'a' alone matches that much" in warning
    assert "diffusion" not in warning
    assert "=WORD" in warning
    assert (await channel_of(store)).active  # warned, not refused: the admin decides


async def test_half_is_no_flood_and_small_days_prove_nothing(
    service: CommandService, store: SqliteStore
) -> None:
    """Exactly half of the papers is no flood; nor is every paper of a day with fewer than 20."""
    await store.save_announcement(day_of(TUE, 10, matching=10))
    await store.save_announcement(day_of(WED, 20, matching=10))
    reply = await text_command(service, "subscribe", "diffusion")
    assert "Would have matched: Wed 12 Nov 10 of 20, Tue 11 Nov 10 of 10." in reply.text
    assert "⚠" not in reply.text


async def test_no_stored_announcement_means_no_figures(service: CommandService) -> None:
    """Before the first announcement is stored there is nothing to count, and nothing is said."""
    reply = await text_command(service, "subscribe", "diffusion")
    assert reply.ok
    assert "Would have matched" not in reply.text


# -- item 5: a /subscribe is judged by when it was sent ------------------------------------------------------
async def test_an_announcement_stored_after_the_command_was_sent_is_delivered(
    service: CommandService, store: SqliteStore, store_clock: SettableClock
) -> None:
    """A /subscribe sent before an announcement was stored, but run after it, still gets that announcement."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion old")))
    sent_at = NOW + dt.timedelta(seconds=30)
    store_clock.advance(seconds=40)  # Thursday's announcement is stored 10 s after the command was sent
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    store_clock.advance(seconds=5)
    reply = await text_command(service, "subscribe", "diffusion", sent_at=sent_at)
    assert reply.ok, reply.text
    assert (await channel_of(store)).done_up_to == WED
    recorder = Recorder()
    await DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=store_clock).deliver_due()
    assert recorder.sent == [("100", ("2511.2",))]


async def test_an_announcement_stored_before_the_command_was_sent_is_done(
    service: CommandService, store: SqliteStore, store_clock: SettableClock
) -> None:
    """Stored a second or more before the command was sent: that announcement is not the chat's."""
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    store_clock.advance(seconds=5)
    reply = await text_command(service, "subscribe", "diffusion", sent_at=NOW + dt.timedelta(seconds=1))
    assert reply.ok, reply.text
    assert (await channel_of(store)).done_up_to == THU
    recorder = Recorder()
    await DeliveryService(store, {"telegram": recorder}, DEFAULTS, clock=store_clock).deliver_due()
    assert recorder.sent == []


async def test_the_same_second_counts_as_after(
    service: CommandService, store: SqliteStore, store_clock: SettableClock
) -> None:
    """Stored times are whole seconds: stored in the second the command was sent, it is still delivered."""
    await store.save_announcement(announcement(WED, paper("2511.1", "diffusion old")))
    store_clock.advance(seconds=10)
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    sent = NOW + dt.timedelta(seconds=10, milliseconds=900)
    assert (await text_command(service, "subscribe", "diffusion", sent_at=sent)).ok
    assert (await channel_of(store)).done_up_to == WED


async def test_sent_before_anything_was_stored(
    service: CommandService, store: SqliteStore, store_clock: SettableClock
) -> None:
    """Sent before every stored announcement: the cursor stays unset, so the newest is delivered."""
    store_clock.advance(seconds=10)
    await store.save_announcement(announcement(THU, paper("2511.2", "diffusion new")))
    assert (await text_command(service, "subscribe", "diffusion", sent_at=NOW)).ok
    assert (await channel_of(store)).done_up_to is None


async def test_announcement_stored_at_is_the_stores_clock(
    store: SqliteStore, store_clock: SettableClock
) -> None:
    """`Store.announcement_stored_at` is the store's time of the write (UTC), None for a date not stored."""
    store_clock.now = dt.datetime(2025, 11, 13, 5, 0, 1, 700_000, tzinfo=UTC)
    await store.save_announcement(announcement(THU, paper("2511.2", "x")))
    assert await store.announcement_stored_at(THU) == dt.datetime(2025, 11, 13, 5, 0, 1, tzinfo=UTC)
    assert await store.announcement_stored_at(WED) is None


# -- item 7 and Discord's thread: where digests go -----------------------------------------------------------
async def test_subscribing_in_a_forum_topic_posts_there(service: CommandService, store: SqliteStore) -> None:
    """A /subscribe sent in a Telegram forum topic stores that topic; one from the chat itself clears it."""
    reply = await text_command(service, "subscribe", "diffusion", thread_id="42")
    assert reply.ok, reply.text
    assert "Daily digests come into this topic." in reply.text
    assert (await channel_of(store)).thread_id == "42"
    assert (await text_command(service, "subscribe", "GAN", thread_id="42")).text.count("topic") == 0
    moved = await text_command(service, "subscribe")
    assert moved.ok, moved.text
    assert "Daily digests come here." in moved.text
    assert (await channel_of(store)).thread_id is None


async def test_subscribe_with_its_own_thread(service: CommandService, store: SqliteStore) -> None:
    """Discord's `/subscribe thread: True` stores own_thread; leaving the option out keeps it."""
    admin = CommandContext("discord", "55", is_admin=True)
    reply = await service.run(admin, Subscribe(("diffusion",), own_thread=True))
    assert reply.ok, reply.text
    assert "Each day's digest comes in a thread of its own." in reply.text
    assert (await channel_of(store, "55", "discord")).own_thread is True
    assert (await service.run(admin, Subscribe(("GAN",)))).ok
    assert (await channel_of(store, "55", "discord")).own_thread is True
    assert (await service.run(admin, Subscribe(own_thread=False))).ok
    assert (await channel_of(store, "55", "discord")).own_thread is False
