"""Bad input, property-based: thousands of generated hostile commands through the core and both adapters.

Hypothesis generates the commands: random unicode (astral characters, right-to-left text, combining marks,
zero-width and other format characters, unassigned code points), control characters, arguments of up to
10,000 characters, SQL and HTML injection strings, Discord markdown and mentions, and unbalanced filter
syntax, mixed with the words the commands understand so that the hostile text reaches the stores' writes
and the renderers, not only the parsers' refusals. Every run tries the same examples (derandomized, no
example database), so CI is deterministic.

Two layers, one event loop in a background thread (Hypothesis' `@given` tests are synchronous; each
example hands its coroutine to that loop and waits):

- the core: ≥ 2000 commands straight through `CommandService.handle` (and the config import) on the real
  SQLite store; every reply is rendered with Telegram's and Discord's formatters and checked against
  each platform's limits;
- the adapters: a few hundred messages through the real `TelegramAdapter` polling the fake Bot API and
  a few hundred interactions through the real `DiscordAdapter` on the fake gateway, over 127.0.0.1;
  every message they send is checked as the platform would check it.

Throughout: no exception escapes (no ERROR record from the bot's, adapters', store's or libraries'
loggers, no apology for an internal failure), and no chat but the one a command came from changes,
on either platform, including sentinel chats that share a chat id with a fuzzed chat of the other
platform.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.commands import SYNTAX as DISCORD_SYNTAX
from adapters.discord.format import (
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FOOTER,
    MAX_TITLE,
    DiscordMessage,
    embed_length,
    render_text,
)
from adapters.discord.format import render_page as discord_render_page
from adapters.telegram.adapter import MAX_CAPTION, MAX_TEXT, TelegramAdapter
from adapters.telegram.format import render_page as telegram_render_page
from adapters.telegram.format import split_text
from adapters.telegram.ratelimit import RateLimits
from bot.channels import ChannelRegistry
from bot.commands.service import INTERNAL_ERROR_MESSAGE, CommandService
from bot.commands.table import COMMANDS, TEXT_SYNTAX
from bot.commands.values import CommandReply, CommandRequest
from bot.feeds import parse_feed_file
from bot.matching import Matcher
from bot.models import Announcement, AnnounceType, Channel, Paper, Style, Topic
from storage.sqlite_store import SqliteStore, open_store
from tests.fakes.discord_model import MANAGE_CHANNELS
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_html import parse_telegram_html, utf16_length
from tests.fakes.telegram_model import RecordedCall
from tests.fakes.telegram_server import FakeTelegramServer

T = TypeVar("T")

# -- the world the commands run in -----------------------------------------------------------------------

DAY = dt.date(2025, 11, 12)  # the anchor listing's announcement (a Wednesday)
NOW = dt.datetime(2025, 11, 12, 15, 0, tzinfo=dt.UTC)  # 10:00 US Eastern, that day
DEFAULTS = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
LISTING = Path(__file__).parent / "fixtures" / "anchor" / "listing-2025-11-12.rss.xml"

# 1,200: each example renders its answer for both platforms, pages with 👍/👎/🔖 included; 2,000 took
# 98 s of the suite's 4 minutes, in one worker.
CORE_EXAMPLES = 1200
TELEGRAM_EXAMPLES = 500
DISCORD_EXAMPLES = 500
REPLY_TIMEOUT = 10.0  # seconds an adapter may take to answer one command

BOT_NAME = "arxiv_digest_test_bot"  # the fake Bot API's bot
TG_PRIVATE = 1001  # a user's private chat with the bot (the user is its admin)
TG_GROUP = -100200  # a supergroup with one admin and one plain member
TG_ADMIN = 7
TG_MEMBER = 8
GUILD = 900000000000000001
DC_CHANNEL = 900000000000000011  # the guild channel the interactions come from
DC_SENTINEL = 900000000000000012  # another channel of the same guild, never commanded
DC_DM = 900000000000000021  # a DM channel with the bot
DC_USER = 900000000000000031

# ChannelEditor that are never commanded; two share a chat id with a fuzzed chat of the other platform.
SENTINEL_TOPICS = (
    Topic("Sentinel", ("=VLM", "vision language model", 'ti:"world model"'), ("survey",), ("cs.CV",)),
    Topic("Robots", ("humanoid", "au:Levine"), categories=("cs.RO",)),
)
SENTINELS = (
    Channel(
        "telegram",
        "-100999",
        timezone="Europe/Berlin",
        delivery_time=dt.time(8, 0),
        active=True,
        notify_empty=False,
        style=Style.FULL,
        topics=SENTINEL_TOPICS,
        done_up_to=DAY - dt.timedelta(days=1),
    ),
    Channel("telegram", str(DC_CHANNEL), timezone="Asia/Tokyo", active=True, topics=SENTINEL_TOPICS[:1]),
    Channel("discord", str(TG_PRIVATE), active=True, send_file=True, topics=SENTINEL_TOPICS[1:]),
    Channel(
        "discord",
        str(DC_SENTINEL),
        server_id=str(GUILD),
        timezone="America/New_York",
        delivery_time=dt.time(6, 30),
        active=True,
        topics=SENTINEL_TOPICS,
        done_up_to=DAY,
    ),
)
# The chats the core layer commands, with the server each belongs to.
CORE_CHATS = (
    ("telegram", str(TG_PRIVATE), None),
    ("telegram", str(TG_GROUP), None),
    ("discord", str(DC_CHANNEL), str(GUILD)),
    ("discord", str(DC_DM), None),
)


def hostile_papers() -> tuple[Paper, ...]:
    """Papers whose text is as hostile as the commands (they reach the digests the fuzz asks for)."""
    texts = [
        ('<b>VLM</b> </blockquote> &amp; &nbsp; <a href="javascript:alert(1)">x</a>', "diffusion <i>"),
        ("@everyone **VLM** `code` <@&1> <#1> ||spoiler|| ~~x~~ > quote", "# heading\n- list\n1. item"),
        ("'; DROP TABLE channels; -- VLM", "robot OR 1=1; --"),
        ("\u202eVLM\u202c שלום مرحبا \u0301\u0301 \u200b\u200d\ufeff", "𝕍𝕃𝕄 🙂👨‍👩‍👧 " * 40),
        ("VLM " * 300, "vision language model " * 800),  # far longer than any message
    ]
    return tuple(
        Paper(
            arxiv_id=f"2511.{99000 + number}",
            version=2 if number % 2 else 1,
            title=title,
            abstract=abstract,
            authors=("A. <Author>", "@here", "B. & C.") * (1 + 60 * (number == 4)),
            categories=("cs.CV", "cs.CL"),
            announce_type=list(AnnounceType)[number % 4],
        )
        for number, (title, abstract) in enumerate(texts)
    )


def the_announcement() -> Announcement:
    """The anchor's real 496-paper day plus the hostile papers."""
    listing = parse_feed_file(LISTING, DEFAULTS)
    assert isinstance(listing, Announcement)
    return Announcement(date=DAY, categories=listing.categories, papers=listing.papers + hostile_papers())


# -- the generated input ---------------------------------------------------------------------------------

# fmt: off
SQL = [
    "'; DROP TABLE channels; --", "'); DELETE FROM topics; --", '" OR 1=1 --',
    "' UNION SELECT * FROM sqlite_master --", "1; UPDATE channels SET active = 0", "%", "_", "\\", "NULL",
]
MARKUP = [
    "<b>", "</b>", "</blockquote>", "<blockquote expandable>", "&amp;", "&lt;", "&", "&#0;", "&nbsp;",
    '<a href="javascript:alert(1)">x</a>', "<script>alert(1)</script>", "<tg-spoiler>", "<pre><code>",
    "<!--", "]]>",
]
DISCORD_MARKUP = [
    "@everyone", "@here", "<@&1>", "<@1>", "<#1>", "<t:0:R>", "</help:1>", "**", "__", "`", "```", "~~",
    "||", "> ", "# ", "-# ", "1. ", "[x](https://evil.example)", "https://example.com/a_b*c",
]
FILTER_SYNTAX = [
    "(((", ")))", '"', "ti:", "abs:", "au:", "cat:", "cat:cs.", "AND OR NOT", "AND", "OR", "NOT", "=",
    "=VLM", "ti:=", "NOT NOT", "( )", '"unbalanced', "a AND (b OR", ",", ":", "Papers:", "Robots:",
    "-100999", str(DC_SENTINEL),  # other chats' ids
]
ODD_UNICODE = [
    "\u202e", "\u202d", "\u200f", "\u0301", "\u0300\u0301\u0302", "\u200b", "\u200d", "\ufeff", "\u2060",
    "👨‍👩‍👧", "𝕍𝕃𝕄", "🙂", "\U00010348", "\U0010fffd", "שלום", "مرحبا", "ﬃ", "İ", "ß", "\u00a0", "\u3000",
    "\u2028", "\u2029",
]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\r", "\n", "\t", "\r\n",
           "\x85"]
WORDS = [
    "VLM", "diffusion", "vision language model", "robot", "survey", "add", "remove", "set", "clear", "max",
    "empty", "on", "off", "08:00", "25:61", "Europe/Berlin", "europe/berlin", "asap", "cs.CV", "cs.*", "cs",
    "default", "math.PR", "UTC", "-1", "0", "200", "201", "999999", "style", "compact", "full", "titles",
    "file", "8pm", "Berlin", "12am",
]
# fmt: on
# What the commands understand, put before the generated text so that it reaches the stores' writes.
_EDITS = ["", "add ", "add ", "remove ", "set ", "clear", "Robots: add ", "Papers: remove ", "Nope: add "]
PREFIXES = {
    "keywords": _EDITS,
    "exclude": _EDITS,
    "topics": ["", "add ", "add Robots: ", "remove ", "remove Robots", "list "],
    "time": ["", "08:00 ", "asap", "07:30 Europe/Berlin", "europe/berlin ", "25:00 "],
    "settings": [
        "",
        "max ",
        "empty ",
        "max 5",
        "empty off",
        "style ",
        "style titles",
        "file on",
        "file ",
        "ranking off",
    ],
    "categories": ["", "cs.CV ", "default", "Robots: ", "cs "],
    "export": ["", "bibtex ", "ris ", "bibtex today ", "ris saved ", "today ", "pdf "],
    "why": ["", "2511.0", "2511.00001 ", "https://arxiv.org/abs/2511.00002v1 ", "hep-th/"],
}
COMMAND_NAMES = [info.name for info in COMMANDS]


@st.composite
def weighted(draw: st.DrawFn, choices: Sequence[tuple[int, st.SearchStrategy[T]]]) -> T:
    """A value from one of the strategies, picked in proportion to its weight."""
    pick = draw(st.integers(0, sum(weight for weight, _ in choices) - 1))
    for weight, strategy in choices:
        if pick < weight:
            return draw(strategy)
        pick -= weight
    raise AssertionError("unreachable")


_HOSTILE = st.sampled_from(SQL + MARKUP + DISCORD_MARKUP + ODD_UNICODE + CONTROL)
_ANY_TEXT = st.text(max_size=30)  # any code point but lone surrogates
_ODD_TEXT = st.text(st.characters(categories=("M", "Cc", "Cf", "Co", "Cn", "Z")), max_size=12)
_RTL_TEXT = st.text(st.characters(min_codepoint=0x0590, max_codepoint=0x08FF), max_size=12)
_ASTRAL_TEXT = st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=8)
PIECES = weighted(
    [
        (4, _HOSTILE),
        (1, st.sampled_from(FILTER_SYNTAX)),
        (3, st.sampled_from(WORDS)),
        (2, _ANY_TEXT),
        (1, _ODD_TEXT),
        (1, _RTL_TEXT),
        (1, _ASTRAL_TEXT),
    ]
)
_SEPARATORS = st.sampled_from([" ", " ", ", ", ",", "\n", "", ": ", " AND ", '"', "\t"])
SHORT_ARGS = st.lists(st.tuples(PIECES, _SEPARATORS), min_size=1, max_size=8).map(
    lambda parts: "".join(piece + separator for piece, separator in parts)
)


def _repeated(seed: str, length: int) -> str:
    """`seed` repeated to exactly `length` characters."""
    return (seed * (length // len(seed) + 1))[:length]


def _numbered(seed: str, count: int, separator: str = ", ") -> str:
    """`count` distinct items made from `seed`, joined: enough of them reach the per-chat limits."""
    return separator.join(f"{seed}{number}" for number in range(count))


# Past each platform's message size, 10,000 characters, and past the core's MAX_ARGS_CHARS (100,000).
LENGTHS = [2001, 4096, 4097, 6000, 10_000, 10_000, 100_001]
LONG_ARGS = st.builds(_repeated, SHORT_ARGS.filter(bool), st.sampled_from(LENGTHS))
# Just under, at and over MAX_KEYWORDS_PER_TOPIC (200) and MAX_FILTERS_PER_CHAT (1000).
MANY_ITEMS = st.builds(_numbered, PIECES, st.sampled_from([50, 199, 200, 201, 999, 1001]))
ARGS = weighted([(16, SHORT_ARGS), (2, LONG_ARGS), (1, MANY_ITEMS)])


@st.composite
def arguments(draw: st.DrawFn, command: str) -> str:
    """Generated argument text for a command, often behind words it understands (`add `, `08:00 `)."""
    if command == "topics" and draw(st.booleans()):
        return f"add {draw(PIECES)}: {draw(ARGS)}"  # a new named topic
    prefixes = PREFIXES.get(command, [""])
    return draw(st.sampled_from(prefixes)) + draw(ARGS)


@st.composite
def command_names(draw: st.DrawFn, anything: st.SearchStrategy[str]) -> str:
    """A real command name mostly (/digest, whose paged answer reaches the most code, a little more
    often); now and then typed oddly, or `anything`."""
    choice = draw(st.integers(0, 9))
    name = draw(st.sampled_from(COMMAND_NAMES))
    if choice == 7:
        return "digest"
    if choice == 8:
        return f"/{name.upper()} "
    if choice == 9:
        return draw(anything)
    return name


YAML_CONFIGS = st.one_of(
    st.builds(  # up to one topic more than a chat may hold (MAX_TOPICS_PER_CHAT = 20)
        lambda name, count, keywords: yaml.safe_dump(
            {"topic": {f"{name} {n}": {"keywords": keywords} for n in range(count)}}, allow_unicode=True
        ),
        PIECES,
        st.sampled_from([1, 19, 20, 21]),
        st.lists(PIECES, min_size=1, max_size=6),
    ),
    st.builds(
        lambda name, keywords: yaml.safe_dump({"topic": {name: {"keywords": keywords}}}, allow_unicode=True),
        PIECES,
        st.lists(PIECES, max_size=6),
    ),
    st.builds(lambda name, keywords: f"topic:\n  {name}:\n    keywords: [{keywords}]\n", PIECES, ARGS),
    st.sampled_from(["", "[" * 3000, "a: &a [x, *a]", "topic: {A: {keywords: a}}", "\x00\xff"]),
)


@dataclass(frozen=True)
class CoreCommand:
    """One generated command for the core: which chat, who, what."""

    platform: str
    chat_id: str
    server_id: str | None
    name: str
    args: str
    is_admin: bool
    config: bytes | None = None  # set: a config import (a YAML file sent to the chat) instead


@st.composite
def core_commands(draw: st.DrawFn) -> CoreCommand:
    """A command to one of the fuzzed chats, as an admin mostly; now and then a config import."""
    platform, chat_id, server_id = draw(st.sampled_from(CORE_CHATS))
    is_admin = draw(st.sampled_from([True] * 9 + [False]))
    if draw(st.integers(0, 19)) == 0:
        config = draw(YAML_CONFIGS).encode("utf-8", "surrogatepass")
        return CoreCommand(platform, chat_id, server_id, "topics", "", is_admin, config)
    name = draw(command_names(PIECES))
    canonical = name.strip().lstrip("/").lower()
    return CoreCommand(platform, chat_id, server_id, name, draw(arguments(canonical)), is_admin)


@dataclass(frozen=True)
class TelegramMessage:
    """One generated message to the bot: the chat, the sender, the text."""

    chat_id: int
    user_id: int | None
    text: str
    config: bytes | None = None  # set: a config.yml sent with `text` as its caption


@st.composite
def telegram_messages(draw: st.DrawFn) -> TelegramMessage:
    """`/<name> <text>` (maybe addressed to the bot) in the private chat or the group; or a config file."""
    chat_id, user_id = draw(
        st.sampled_from([(TG_PRIVATE, None), (TG_GROUP, TG_ADMIN), (TG_GROUP, TG_MEMBER)])
    )
    if draw(st.integers(0, 19)) == 0:
        config = draw(YAML_CONFIGS).encode("utf-8", "surrogatepass")
        return TelegramMessage(chat_id, user_id, "/topics", config)  # groups need the caption
    # Telegram only delivers /[A-Za-z0-9_]{1,32} as a command.
    name = draw(command_names(st.from_regex(r"[A-Za-z0-9_]{1,32}", fullmatch=True))).strip(" /")
    # In a group a command another bot may own is ignored unless addressed: address it, to get an answer.
    must_address = chat_id == TG_GROUP and name not in COMMAND_NAMES
    addressed = must_address or draw(st.booleans())
    head = f"/{name}@{BOT_NAME}" if addressed else f"/{name}"
    return TelegramMessage(chat_id, user_id, f"{head} {draw(arguments(name.lower()))}")


@dataclass(frozen=True)
class DiscordInteraction:
    """One generated interaction: the command, its options, where and by whom."""

    name: str
    options: list[dict[str, Any]]
    in_guild: bool
    may_manage: bool
    autocomplete: bool = False
    attachment: bytes | None = None  # a YAML file for /topics import


def _string(name: str, value: str) -> dict[str, Any]:
    """A string option as Discord sends it."""
    return {"type": 3, "name": name, "value": value}


def _sub(name: str, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A sub-command with its options."""
    return [{"type": 1, "name": name, "options": options}]


@st.composite
def discord_interactions(draw: st.DrawFn) -> DiscordInteraction:
    """A slash command (every command, every option filled with generated text) or an autocomplete."""
    text = draw(ARGS)

    def maybe(option: str) -> list[dict[str, Any]]:
        """The option with generated text, or left out."""
        return [_string(option, draw(ARGS))] if draw(st.booleans()) else []

    kind = draw(st.integers(0, 15))
    options: list[dict[str, Any]]
    autocomplete = False
    attachment = None
    if kind == 0:
        name, options = draw(st.sampled_from(["help", "status", "unsubscribe"])), []
    elif kind in (1, 2):
        name = draw(st.sampled_from(["digest", "preview", "subscribe"]))
        options = [_string("keywords", text)] if name == "preview" or draw(st.booleans()) else []
    elif kind in (3, 4, 5, 6):
        name = draw(st.sampled_from(["keywords", "exclude"]))
        sub = draw(st.sampled_from(["add", "add", "remove", "list"]))
        words = [] if sub == "list" else [_string("words", text)]
        options = _sub(sub, words + maybe("topic"))
    elif kind == 7:
        name, options = "categories", maybe("codes") + maybe("topic")
    elif kind == 8:
        name, options = "time", maybe("time") + maybe("timezone")
    elif kind == 9:
        name = "settings"
        options = []
        if draw(st.booleans()):
            options.append({"type": 4, "name": "max", "value": draw(st.integers(1, 200))})
        if draw(st.booleans()):
            options.append(_string("empty", draw(st.sampled_from(["on", "off"]))))
    elif kind in (10, 11, 12):
        name = "topics"
        sub = draw(st.sampled_from(["add", "add", "remove", "list"]))
        if sub == "add":
            options = _sub(sub, [_string("name", draw(ARGS)), _string("keywords", text)])
        elif sub == "remove":
            options = _sub(sub, [_string("name", text)])
        else:
            options = _sub(sub, [])
    elif kind == 13:
        name = "topics"
        attachment = draw(YAML_CONFIGS).encode("utf-8", "surrogatepass")
        options = []  # the attachment option is added once the fake serves the file
    else:
        autocomplete = True
        name, option = draw(st.sampled_from([("categories", "codes"), ("time", "timezone")]))
        options = [{**_string(option, text), "focused": True}]
    in_guild = draw(st.sampled_from([True, True, True, False]))
    may_manage = draw(st.sampled_from([True, True, True, False]))
    return DiscordInteraction(name, options, in_guild, may_manage, autocomplete, attachment)


FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is deterministic
    database=None,  # no example database: a run never depends on the runs before it
    suppress_health_check=[HealthCheck.too_slow],
)


# -- checks of what would be sent --------------------------------------------------------------------------

_MENTION_WORD = re.compile(r"@(?:everyone|here)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 but tab and line breaks, and DEL
_AUTOLINK = re.compile(r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]")  # what Discord turns into a link
# In the core's INTERNAL_ERROR_MESSAGE and in both adapters' "Something went wrong on my side; …".
APOLOGY = "went wrong on my side"
assert APOLOGY in INTERNAL_ERROR_MESSAGE


def check_telegram_text(text: str, *, html: bool, limit: int = MAX_TEXT) -> None:
    """A message (or caption) Telegram accepts: valid HTML when sent as HTML, not blank, within `limit`."""
    visible = parse_telegram_html(text, strict=True) if html else text
    assert visible.strip(), f"a blank message: {text!r}"
    assert utf16_length(visible) <= limit, f"{utf16_length(visible)} UTF-16 units, more than {limit}"


def every_page(pages: Callable[[Style, int], Any], style: Style) -> list[Any]:
    """Every page of a view in one style (`pages(style, n)` renders page n; the last is clamped)."""
    first = pages(style, 0)
    return [first, *(pages(style, number) for number in range(1, first.page_count))]


def check_telegram_reply(reply: CommandReply) -> None:
    """What Telegram would get for this reply fits it: the text, or every page in every style."""
    if reply.view is None:
        for piece in split_text(reply.text):
            check_telegram_text(piece, html=False)
        return
    view = reply.view
    for style in Style:
        for page in every_page(
            lambda style, number: telegram_render_page(view, style=style, page=number), style
        ):
            check_telegram_text(page.text, html=True)
            assert all(len(button.data.encode()) <= 64 for row in page.buttons for button in row)


def _escaped_at(text: str, index: int) -> bool:
    """Whether the character at `index` follows an odd number of backslashes (a markdown escape)."""
    backslashes = len(text[:index]) - len(text[:index].rstrip("\\"))
    return backslashes % 2 == 1


def check_discord_text(text: str, *, markdown: bool = True) -> None:
    """Shown as written: no `@everyone`/`@here`; where markdown renders, every `<` is escaped (no mention).

    Where markdown renders, a URL is a link whose text Discord does not parse further (so a mention
    inside one is no mention), and `adapters.discord.format` leaves URLs verbatim so they still work.
    """
    shown = _AUTOLINK.sub(" ", text) if markdown else text
    assert not _MENTION_WORD.search(shown), f"a live mention in {text[:300]!r}"
    if markdown:
        for match in re.finditer("<", text):
            assert _escaped_at(text, match.start()), f"an unescaped '<' in {text[:300]!r}"


def check_discord_message(message: DiscordMessage) -> None:
    """Within Discord's message and embed limits, not empty, and pinging nobody."""
    assert len(message.content) <= MAX_CONTENT, f"{len(message.content)} characters of content"
    assert message.content.strip() or message.embeds or message.file, "an empty message"
    check_discord_text(message.content)
    assert len(message.embeds) <= MAX_EMBEDS
    assert sum(embed_length(embed) for embed in message.embeds) <= MAX_EMBED_TOTAL
    for embed in message.embeds:
        assert 0 < len(embed.get("title", "…")) <= MAX_TITLE
        assert len(embed.get("description", "")) <= MAX_DESCRIPTION
        check_discord_text(embed.get("title", "") + embed.get("description", ""))
        for item in embed.get("fields", ()):
            assert 0 < len(item["name"]) <= MAX_FIELD_NAME
            assert 0 < len(item["value"]) <= MAX_FIELD_VALUE
            check_discord_text(item["value"])
        footer = embed.get("footer", {}).get("text", "")
        assert len(footer) <= MAX_FOOTER
        check_discord_text(footer, markdown=False)  # footers render no markdown


def check_discord_reply(reply: CommandReply) -> None:
    """What Discord would get for this reply fits it: the text, or every page in every style."""
    pieces = render_text(reply.text)
    assert pieces
    for piece in pieces:
        check_discord_message(DiscordMessage(content=piece))
    if reply.view is None:
        return
    view = reply.view
    for style in Style:
        for page in every_page(
            lambda style, number: discord_render_page(view, style=style, page=number), style
        ):
            check_discord_message(page.message)
            assert len(page.buttons) <= 5
            assert all(len(row) <= 5 and all(len(b.data) <= 100 for b in row) for row in page.buttons)


def check_no_apology(text: str) -> None:
    """Not the core's or an adapter's apology for an internal failure, nor a traceback."""
    assert APOLOGY not in text, text
    assert "Traceback" not in text, text


def check_core_reply(reply: CommandReply) -> None:
    """An answer, never a traceback or the apology for an internal failure."""
    assert isinstance(reply, CommandReply)
    assert reply.text.strip()
    assert reply.text != INTERNAL_ERROR_MESSAGE
    check_no_apology(reply.text)


# -- the machinery: one event loop in a thread, and the error log ------------------------------------------


class LoopThread:
    """An asyncio event loop running in a background thread; `run` waits for a coroutine on it."""

    def __init__(self) -> None:
        """Start the loop's thread."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run `work` on the loop and return its result (its exception is raised here)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread, then close it (nothing may still be running on it)."""

        async def leftovers() -> list[asyncio.Task[Any]]:
            """The loop's unfinished tasks but this one."""
            current = asyncio.current_task()
            return [task for task in asyncio.all_tasks() if task is not current and not task.done()]

        left = self.run(leftovers())
        self.run(self.loop.shutdown_asyncgens())
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        assert not left, f"tasks still running after the fuzz: {left}"


class ErrorLog(logging.Handler):
    """Collects ERROR (and worse) records of the loggers an escaping exception would show up in."""

    WATCHED = ("adapters", "bot", "storage", "telegram", "discord", "asyncio", "aiohttp")

    def __init__(self) -> None:
        """A handler for ERROR and worse."""
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record if it comes from a watched logger."""
        if record.name.split(".", 1)[0] in self.WATCHED:
            self.records.append(record)

    def since(self, start: int) -> list[str]:
        """The records logged after the first `start` ones, as text."""
        return [f"{record.name}: {record.getMessage()}" for record in self.records[start:]]


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    """The event loop every example runs on (module-scoped: Hypothesis runs examples synchronously)."""
    running = LoopThread()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    """ERROR records of the bot, the adapters, the store and the libraries while this module runs.

    httpx logs every request URL (with the bot token) at INFO: held at WARNING meanwhile.
    """
    handler = ErrorLog()
    root = logging.getLogger()
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        httpx_logger.setLevel(level)


async def seed(store: SqliteStore) -> dict[tuple[str, str], Channel]:
    """Store the announcement and the sentinel chats; return the sentinels as stored."""
    await store.save_announcement(the_announcement())
    stored = [await store.save_channel(channel) for channel in SENTINELS]
    return {(channel.platform, channel.chat_id): channel for channel in stored}


async def stored_channels(store: SqliteStore, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored Channel (or None) of each (platform, chat id)."""
    return {key: await store.get_channel(*key) for key in keys}


# -- layer 1: the core, with every platform's renderers ----------------------------------------------------


@dataclass
class Core:
    """The command service on a real store, and what it must not change."""

    loop: LoopThread
    store: SqliteStore
    service: CommandService
    sentinels: dict[tuple[str, str], Channel]
    last_seen: dict[tuple[str, str], Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def core(loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    """The command service on a real SQLite store holding the announcement and the sentinels."""
    store = loop.run(open_store(tmp_path_factory.mktemp("fuzz-core") / "bot.sqlite3"))
    try:
        sentinels = loop.run(seed(store))
        service = CommandService(store, DEFAULTS, clock=lambda: NOW)
        state = Core(loop, store, service, sentinels)
        keys = [*sentinels, *((platform, chat) for platform, chat, _ in CORE_CHATS)]
        state.last_seen = loop.run(stored_channels(store, keys))
        yield state
    finally:
        loop.run(store.close())


async def core_round(state: Core, command: CoreCommand) -> tuple[CommandReply, dict[tuple[str, str], Any]]:
    """Run one command; return its reply and every watched chat now."""
    request = CommandRequest(
        platform=command.platform,
        chat_id=command.chat_id,
        command=command.name,
        args=command.args,
        user_id="42",
        is_admin=command.is_admin,
        server_id=command.server_id,
        syntax=DISCORD_SYNTAX if command.platform == "discord" else TEXT_SYNTAX,
    )
    if command.config is not None:
        reply = await state.service.import_config(request, command.config)
    else:
        reply = await state.service.handle(request)
    now = await stored_channels(state.store, list(state.last_seen))
    return reply, now


def _core(name: str, args: str, platform: str = "telegram") -> CoreCommand:
    """An admin's command to the fuzzed private Telegram chat or Discord channel."""
    chat = str(TG_PRIVATE) if platform == "telegram" else str(DC_CHANNEL)
    return CoreCommand(platform, chat, None if platform == "telegram" else str(GUILD), name, args, True)


# Well-known hostile input, tried first on every run.
KNOWN_HOSTILE = [
    ("subscribe", "'; DROP TABLE channels; --"),
    ("topics", 'add <b>x</b> </blockquote>: <a href="javascript:alert(1)">x</a>, &amp;, </blockquote>'),
    ("keywords", "add @everyone, <@&1>, **bold**, `code`, ||x||"),
    ("keywords", 'add (((, ", ti:, AND OR NOT'),
    ("exclude", "add \u202eVLM\u0301\u200b, 𝕍𝕃𝕄, \x00\x1b[31m"),
    ("digest", "VLM, " * 2000),
    ("preview", "vision language model " * 455),
]


@settings(FUZZ, max_examples=CORE_EXAMPLES)
@given(command=core_commands())
@example(command=_core("subscribe", "VLM, robot"))
@example(command=_core("topics", "add @everyone <b>&amp;: diffusion, VLM", "discord"))
@example(command=_core("digest", ""))
@example(command=_core("status", "", "discord"))
@example(command=_core(*KNOWN_HOSTILE[0]))
@example(command=_core(*KNOWN_HOSTILE[1], "discord"))
@example(command=_core(*KNOWN_HOSTILE[2], "discord"))
@example(command=_core(*KNOWN_HOSTILE[3]))
@example(command=_core(*KNOWN_HOSTILE[4]))
@example(command=_core(*KNOWN_HOSTILE[5], "discord"))
@example(command=_core(*KNOWN_HOSTILE[6]))
def fuzz_core_command(core: Core, error_log: ErrorLog, command: CoreCommand) -> None:
    """Any command gets an answer that renders within both platforms' limits; only its own chat changes."""
    logged = len(error_log.records)
    reply, now = core.loop.run(core_round(core, command))
    check_core_reply(reply)
    check_telegram_reply(reply)
    check_discord_reply(reply)
    assert error_log.since(logged) == []
    target = (command.platform, command.chat_id)
    changed = [key for key in now if key != target and now[key] != core.last_seen[key]]
    assert changed == [], f"{command} changed other chats: {changed}"
    for key, sentinel in core.sentinels.items():
        assert now[key] == sentinel
    channel = now[target]
    stored = channel is not None and channel != core.last_seen[target]
    if stored:
        Matcher.compile(channel.topics, DEFAULTS, strict=True)  # whatever was stored still compiles
        texts = [text for topic in channel.topics for text in (topic.name, *topic.keywords, *topic.excludes)]
        assert not [text for text in texts if _CONTROL.search(text)], "control characters were stored"
    core.last_seen = now
    outcome = "digest" if reply.view else "stored" if stored else "answered" if reply.ok else "refused"
    core.counts[outcome] = core.counts.get(outcome, 0) + 1
    if stored and re.search(r"[<>&@'`*_\"\\]|[^\x00-\x7f]", command.args):
        core.counts["stored hostile"] = core.counts.get("stored hostile", 0) + 1


@pytest.mark.slow
def test_core_answers_hostile_commands_within_both_platforms_limits(core: Core, error_log: ErrorLog) -> None:
    """Hostile commands get answers within both platforms' limits; hostile text got stored, digests made."""
    core.counts.clear()
    fuzz_core_command(core, error_log)
    assert core.counts.get("stored", 0) > CORE_EXAMPLES // 40, core.counts
    assert core.counts.get("digest", 0) > 10, core.counts
    assert core.counts.get("stored hostile", 0) > 20, core.counts  # markup, quotes, non-ASCII


# -- layer 2: the real adapters against the fake Telegram and Discord ---------------------------------------


@dataclass
class Platforms:
    """Both adapters running on one store, the fakes they talk to, and what must not change."""

    loop: LoopThread
    store: SqliteStore
    telegram: FakeTelegramServer
    telegram_adapter: TelegramAdapter
    discord: FakeDiscord
    discord_adapter: DiscordAdapter
    sentinels: dict[tuple[str, str], Channel]
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        """Count one thing the fuzz reached."""
        self.counts[what] = self.counts.get(what, 0) + 1


async def _until(
    condition: Callable[[], bool], what: Callable[[], str], timeout: float = REPLY_TIMEOUT
) -> None:
    """Poll until `condition()` holds (AssertionError naming `what()` after `timeout` seconds)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what()}") from None


def _idle(adapter: TelegramAdapter | DiscordAdapter) -> bool:
    """Whether the adapter has no command handler running (its own in-flight bookkeeping)."""
    return adapter._in_flight.idle


@pytest.fixture(scope="module")
def platforms(
    loop: LoopThread, error_log: ErrorLog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platforms]:
    """TelegramAdapter polling the fake Bot API and DiscordAdapter on the fake gateway, one real store."""
    path = tmp_path_factory.mktemp("fuzz-adapters") / "bot.sqlite3"
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start() -> Platforms:
        """Open the store, seed it, start both fakes and both adapters; wait until both are serving."""
        store = await open_store(path)
        sentinels = await seed(store)
        service = CommandService(store, DEFAULTS, clock=lambda: NOW)
        telegram = FakeTelegramServer(bot_username=BOT_NAME)
        await telegram.start()
        telegram.add_chat(TG_GROUP, "supergroup")
        telegram.set_admins(TG_GROUP, [TG_ADMIN])
        telegram_adapter = TelegramAdapter(
            telegram.token,
            service,
            ChannelRegistry(store),
            api_url=telegram.url,
            rate_limits=RateLimits(overall_per_second=0, group_per_minute=0, chat_interval=0.0, padding=0.0),
            poll_timeout=1.0,
            monotonic=lambda: 0.0,  # the admin cache never expires: one getChatMember per user
        )
        discord = FakeDiscord()
        await discord.start()
        discord.add_guild(GUILD, [(DC_CHANNEL, "papers"), (DC_SENTINEL, "robots")])
        discord_adapter = DiscordAdapter(
            discord.token,
            service,
            ChannelRegistry(store),
            api_url=discord.api_url,
            gateway_url=discord.gateway_url,
            guild_id=GUILD,
            guild_ready_timeout=0.05,
            messages_per_second=0,
        )
        tasks.append(asyncio.create_task(telegram_adapter.run(stop)))
        tasks.append(asyncio.create_task(discord_adapter.run(stop)))
        await telegram.wait_for_call("getUpdates")
        await discord.wait_ready()
        return Platforms(loop, store, telegram, telegram_adapter, discord, discord_adapter, sentinels)

    async def finish(state: Platforms | None) -> None:
        """Stop both adapters (they must stop by themselves), then the fakes and the store."""
        stop.set()
        async with asyncio.timeout(15):
            await asyncio.gather(*tasks)
        if state is not None:
            await state.telegram.close()
            await state.discord.close()
            await state.store.close()

    state = None
    try:
        state = loop.run(start())
        yield state
    finally:
        loop.run(finish(state))
    assert state.discord.validation_errors == []
    assert error_log.records == []  # stopping logged no error either


def check_sentinels(state: Platforms) -> None:
    """The chats no command came from are exactly as seeded."""
    now = state.loop.run(stored_channels(state.store, list(state.sentinels)))
    for key, sentinel in state.sentinels.items():
        assert now[key] == sentinel, f"{key} changed"


def check_telegram_call(call: RecordedCall) -> None:
    """A sendMessage/sendDocument the fake accepted, valid and within Telegram's limits."""
    assert call.ok, f"{call.method} answered {call.status}: {call.answer}"
    html = str(call.params.get("parse_mode") or "").lower() == "html"
    if call.method == "sendMessage":
        check_telegram_text(str(call.params["text"]), html=html)
        check_no_apology(str(call.params["text"]))
    elif call.method == "sendDocument":
        assert call.files["document"].data
        if call.params.get("caption") is not None:
            check_telegram_text(str(call.params["caption"]), html=html, limit=MAX_CAPTION)
    else:
        raise AssertionError(f"unexpected {call.method}")


async def telegram_round(state: Platforms, message: TelegramMessage) -> list[RecordedCall]:
    """Push the message to the fake Bot API and return the bot's sends once its handler is done."""
    fake = state.telegram
    before = len(fake.calls)

    def sends() -> list[RecordedCall]:
        """The messages and files the bot sent since the push."""
        return [call for call in fake.calls[before:] if call.method in ("sendMessage", "sendDocument")]

    document = None if message.config is None else ("config.yml", message.config)
    fake.push_message(message.chat_id, message.text, from_user=message.user_id, document=document)
    await _until(lambda: bool(sends()), lambda: f"a reply to {message.text[:200]!r}")
    await _until(lambda: _idle(state.telegram_adapter), lambda: "the Telegram handler to finish")
    return sends()


@settings(FUZZ, max_examples=TELEGRAM_EXAMPLES)
@given(message=telegram_messages())
@example(message=TelegramMessage(TG_PRIVATE, None, f"/{KNOWN_HOSTILE[1][0]} {KNOWN_HOSTILE[1][1]}"))
@example(message=TelegramMessage(TG_PRIVATE, None, f"/{KNOWN_HOSTILE[2][0]} {KNOWN_HOSTILE[2][1]}"))
@example(message=TelegramMessage(TG_PRIVATE, None, "/digest VLM, <b>, &amp;"))
@example(message=TelegramMessage(TG_PRIVATE, None, "/digest model, <i>"))  # more papers than fit: a file
@example(message=TelegramMessage(TG_GROUP, TG_MEMBER, f"/{KNOWN_HOSTILE[0][0]} {KNOWN_HOSTILE[0][1]}"))
def fuzz_telegram_message(platforms: Platforms, error_log: ErrorLog, message: TelegramMessage) -> None:
    """A hostile /command is answered in its chat with messages the Bot API accepts; no other chat changes."""
    logged = len(error_log.records)
    sent = platforms.loop.run(telegram_round(platforms, message))
    for call in sent:
        assert call.chat_id == str(message.chat_id), f"a message to another chat: {call.chat_id}"
        check_telegram_call(call)
        platforms.count(f"telegram {call.method} {call.params.get('parse_mode') or 'plain'}")
    assert error_log.since(logged) == []
    check_sentinels(platforms)


def check_discord_response(response: dict[str, Any]) -> None:
    """An interaction callback or follow-up within Discord's limits that pings nobody."""
    data = response.get("data") or {}
    if response["type"] == 8:  # autocomplete choices
        choices = data.get("choices", [])
        assert len(choices) <= 25
        for choice in choices:
            assert 1 <= len(choice["name"]) <= 100
            assert len(str(choice["value"])) <= 100
        return
    content = data.get("content") or ""
    assert len(content) <= MAX_CONTENT, f"{len(content)} characters of content"
    check_no_apology(content)
    check_discord_text(content)
    if content or data.get("embeds"):
        assert data.get("allowed_mentions") == {"parse": []}, data.get("allowed_mentions")


def _shape(response: dict[str, Any]) -> str:
    """What an interaction response carried, for the fuzz's counts: `text ephemeral`, `embeds`, …."""
    data = response.get("data") or {}
    if "choices" in data:
        return "choices"
    shape = "file" if response["files"] else "embeds" if data.get("embeds") else "text"
    return f"{shape} ephemeral" if response["ephemeral"] else shape


async def discord_round(state: Platforms, interaction: DiscordInteraction) -> list[dict[str, Any]]:
    """Dispatch the interaction on the fake gateway and return every response once the handler is done."""
    fake = state.discord
    options = interaction.options
    attachments = []
    if interaction.attachment is not None:
        attachment = fake.add_attachment("config.yml", interaction.attachment)
        attachments.append(attachment)
        options = _sub("import", [{"type": 11, "name": "file", "value": attachment["id"]}])
    place: dict[str, Any] = {"guild_id": GUILD, "channel_id": DC_CHANNEL}
    if not interaction.in_guild:
        place = {"channel_id": DC_DM}
    send = fake.send_autocomplete if interaction.autocomplete else fake.send_interaction
    sent = await send(
        interaction.name,
        options,
        user_id=DC_USER,
        permissions=MANAGE_CHANNELS if interaction.may_manage else 0,
        attachments=attachments,
        **place,
    )
    await fake.wait_for_responses(sent.id, timeout=REPLY_TIMEOUT)
    await _until(lambda: _idle(state.discord_adapter), lambda: "the Discord handler to finish")
    return fake.responses(sent.id)


@settings(FUZZ, max_examples=DISCORD_EXAMPLES)
@given(interaction=discord_interactions())
@example(
    interaction=DiscordInteraction(
        "topics",
        _sub("add", [_string("name", "@everyone <@&1>"), _string("keywords", "VLM, **x**")]),
        True,
        True,
    )
)
@example(
    interaction=DiscordInteraction(
        "keywords", _sub("add", [_string("words", KNOWN_HOSTILE[3][1])]), True, True
    )
)
@example(interaction=DiscordInteraction("digest", [_string("keywords", "VLM, <@1>, `x`")], True, True))
@example(interaction=DiscordInteraction("digest", [_string("keywords", "model, @here")], True, True))
@example(interaction=DiscordInteraction("preview", [_string("keywords", KNOWN_HOSTILE[6][1])], False, True))
def fuzz_discord_interaction(
    platforms: Platforms, error_log: ErrorLog, interaction: DiscordInteraction
) -> None:
    """A slash command with hostile options is answered within Discord's limits; nothing else changes."""
    logged = len(error_log.records)
    checked = len(platforms.discord.validation_errors)
    responses = platforms.loop.run(discord_round(platforms, interaction))
    for response in responses:
        check_discord_response(response)
        platforms.count(f"discord {response['kind']} {_shape(response)}")
    if not interaction.autocomplete:
        answers = [r for r in responses if r["kind"] in ("followup", "edit_original") or r["type"] == 4]
        assert answers, f"no answer, only {responses}"
    assert platforms.discord.requests_to("POST", r"^/channels/") == []  # answers go to the interaction
    assert platforms.discord.validation_errors[checked:] == []
    assert platforms.discord.answer_errors == []
    assert error_log.since(logged) == []
    check_sentinels(platforms)


@pytest.mark.slow
def test_telegram_adapter_answers_hostile_commands_with_valid_messages(
    platforms: Platforms, error_log: ErrorLog
) -> None:
    """Hostile /commands get messages the Bot API accepts; the fuzz reached paged HTML digests and refusals.

    A /digest answer is one paged message (sendMessage HTML); commands send no file any more.
    """
    platforms.counts.clear()
    fuzz_telegram_message(platforms, error_log)
    counts = platforms.counts
    assert counts.get("telegram sendMessage HTML", 0) > 5, counts
    assert counts.get("telegram sendDocument HTML", 0) == 0, counts
    assert counts.get("telegram sendMessage plain", 0) > TELEGRAM_EXAMPLES // 2, counts


@pytest.mark.slow
def test_discord_adapter_answers_hostile_interactions_with_valid_messages(
    platforms: Platforms, error_log: ErrorLog
) -> None:
    """Hostile slash commands get answers within Discord's limits; the fuzz reached paged digests, choices."""
    platforms.counts.clear()
    fuzz_discord_interaction(platforms, error_log)
    counts = platforms.counts
    assert counts.get("discord edit_original embeds", 0) > 5, counts  # /digest's paged message
    assert counts.get("discord callback text ephemeral", 0) > 5, counts
    assert counts.get("discord callback choices", 0) > 5, counts


def test_the_checks_reject_what_the_platforms_reject() -> None:
    """The checks can fail: broken HTML, over-long or blank text, live mentions, over-full embeds."""
    for bad_html in ("<b>x", "x &nbsp; y", "<br>", "a &", "x" * 4097):
        with pytest.raises((AssertionError, ValueError)):
            check_telegram_text(bad_html, html=True)
    for bad_text in ("🙂" * 2049, " \n "):
        with pytest.raises(AssertionError):
            check_telegram_text(bad_text, html=False)
    check_telegram_text("🙂" * 2048, html=False)
    for live in ("@everyone", "hi @here", "hi <@1>", "\\\\<#1>"):
        with pytest.raises(AssertionError):
            check_discord_text(live)
    check_discord_text("\\<@1> \\\\\\<#1> @\u200beveryone https://example.com/@here")
    with pytest.raises(AssertionError):
        check_discord_text("https://example.com/@here", markdown=False)  # a footer shows no link
    too_long = {"title": "t", "description": "d" * (MAX_DESCRIPTION + 1)}
    for bad_message in (DiscordMessage(content="x" * 2001), DiscordMessage(content="", embeds=(too_long,))):
        with pytest.raises(AssertionError):
            check_discord_message(bad_message)
    pinging = {"kind": "callback", "type": 4, "data": {"content": "hi"}, "files": [], "ephemeral": False}
    with pytest.raises(AssertionError):
        check_discord_response(pinging)  # no allowed_mentions: the client's default would apply
