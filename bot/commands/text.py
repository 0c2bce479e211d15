"""Commands typed as text (`/name args`) turned into the typed commands, platform-free.

Telegram sends every command through here, and so would any other platform without slash options.
A topic prefix (`/keywords Robots: add humanoid`) is only a topic when the chat has one by that name,
so the parser is given the chat's topic names; `needs_topic_names` says when it needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Literal

from bot.commands.delivery_settings import ASAP_WORDS, MAX_GONE, SETTINGS_USAGE
from bot.commands.filters import edit_usage, no_topic_error
from bot.commands.papers import EXPORT_FORMATS, EXPORT_SCOPES, EXPORT_USAGE
from bot.commands.table import COMMANDS_BY_NAME
from bot.commands.values import (
    AddTopic,
    ChangeSettings,
    Command,
    CommandError,
    DigestNow,
    EditFilters,
    Export,
    Help,
    ListTopics,
    Preview,
    RemoveTopic,
    Saved,
    SetCategories,
    SetTime,
    Start,
    Status,
    Subscribe,
    Unsubscribe,
    Why,
    split_keywords,
)
from bot.models import Style
from bot.topic_config import clean_name

_EDIT_ACTIONS: dict[str, Literal["add", "remove", "set", "clear"]] = {
    "add": "add",
    "remove": "remove",
    "rm": "remove",
    "delete": "remove",
    "set": "set",
    "clear": "clear",
}
_SETTING_VALUES = {
    "style": frozenset(style.value for style in Style),
    "file": frozenset({"on", "off"}),
    "empty": frozenset({"on", "off"}),
    "ranking": frozenset({"on", "off"}),
}
_AM_PM = frozenset({"am", "pm", "a.m.", "p.m."})
_TOPIC_PREFIXED = frozenset({"keywords", "exclude", "categories"})


#: The commands that only read when sent without arguments (every other admin-only form may change).
READ_WITHOUT_ARGUMENTS = frozenset({"keywords", "exclude", "categories", "time", "topics", "settings"})


def needs_admin(name: str, args: str) -> bool:
    """Whether a text platform must find out if the sender is an admin before running `/name args`.

    True for every admin-only command (`table.CommandInfo.admin_only`) except the reads sent without
    arguments; a look-up where none is needed costs only a call, one skipped refuses a change (the core
    decides with `values.changes_chat`, and `is_admin` defaults to False).
    """
    info = COMMANDS_BY_NAME.get(name)
    if info is None or not info.admin_only:
        return False
    return bool(args.strip()) or name not in READ_WITHOUT_ARGUMENTS


def needs_topic_names(name: str, args: str) -> bool:
    """Whether parsing this command needs the chat's topic names (it may start with `NAME:`)."""
    return name in _TOPIC_PREFIXED and ":" in args


def category_codes(text: str) -> tuple[str, ...] | Literal["default"] | None:
    """Codes separated by spaces or commas; `default` alone; None when there are none (show them)."""
    codes = tuple(text.replace(",", " ").split())
    if not codes:
        return None
    return "default" if [code.lower() for code in codes] == ["default"] else codes


def _topic_prefix(args: str, topic_names: Collection[str]) -> tuple[str | None, str]:
    """`NAME: rest` picks the chat's topic NAME (any case); otherwise no topic is picked and args stay."""
    head, colon, rest = args.partition(":")
    if colon:
        wanted = clean_name(head).casefold()
        if any(name.casefold() == wanted for name in topic_names):
            return head, rest.strip()
    return None, args.strip()


def _edit(name: str, args: str, topic_names: Collection[str]) -> EditFilters:
    """/keywords and /exclude: `[TOPIC:] [add|remove|set|clear] items`."""
    field: Literal["keywords", "excludes"] = "keywords" if name == "keywords" else "excludes"
    topic, rest = _topic_prefix(args, topic_names)
    words = rest.split(None, 1)
    if not words:
        return EditFilters(field, None, (), topic)
    action = _EDIT_ACTIONS.get(words[0].lower())
    if action is None:
        head, colon, _ = args.partition(":")
        if topic is None and colon:
            raise no_topic_error(head, name)
        raise CommandError(edit_usage(name))
    items = tuple(split_keywords(words[1] if len(words) > 1 else ""))
    return EditFilters(field, action, items, topic)


def _time(args: str) -> SetTime:
    """/time [HH:MM|asap] [time zone], or only a time zone (the time stays); `8 pm` is one time."""
    parts = args.split()
    if len(parts) >= 2 and parts[1].lower() in _AM_PM:
        parts[:2] = [parts[0] + parts[1]]
    if not parts:
        return SetTime()
    first = parts[0]
    if first.lower() not in ASAP_WORDS and not any(char.isdigit() for char in first):
        return SetTime(zone=" ".join(parts))  # no time, only a place: `/time Berlin`, `/time New York`
    return SetTime(first, " ".join(parts[1:]) or None)


def _topics(args: str) -> Command:
    """/topics, /topics add NAME: keywords, /topics remove NAME."""
    words = args.split(None, 1)
    action = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if not action:
        return ListTopics()
    if action == "add":
        raw_name, colon, keywords_text = rest.partition(":")
        if not colon:
            raise CommandError(
                "Use /topics add NAME: keyword, keyword — e.g. /topics add Robots: embodied, =VLA"
            )
        return AddTopic(raw_name, tuple(split_keywords(keywords_text)))
    if action in {"remove", "rm", "delete"}:
        return RemoveTopic(rest)
    raise CommandError("Use /topics, /topics add NAME: keywords, or /topics remove NAME.")


def _settings(args: str) -> ChangeSettings:
    """/settings, or any of `style compact|full|titles`, `file on|off`, `empty on|off` (one change)."""
    parts = args.lower().split()
    if "max" in parts:
        raise CommandError(MAX_GONE)
    if len(parts) % 2:
        raise CommandError(SETTINGS_USAGE)
    values: dict[str, str] = {}
    for key, value in zip(parts[::2], parts[1::2], strict=True):
        if key in values or key not in _SETTING_VALUES or value not in _SETTING_VALUES[key]:
            raise CommandError(SETTINGS_USAGE)
        values[key] = value
    return ChangeSettings(
        notify_empty=None if "empty" not in values else values["empty"] == "on",
        style=None if "style" not in values else Style(values["style"]),
        send_file=None if "file" not in values else values["file"] == "on",
        ranking=None if "ranking" not in values else values["ranking"] == "on",
    )


def _export(args: str) -> Export:
    """/export [bibtex|ris] [saved|today], in either order: BibTeX of one's bookmarks unless told."""
    words = args.lower().split()
    formats = [word for word in words if word in EXPORT_FORMATS]
    scopes = [word for word in words if word in EXPORT_SCOPES]
    if len(formats) > 1 or len(scopes) > 1 or len(formats) + len(scopes) != len(words):
        raise CommandError(EXPORT_USAGE)
    return Export(
        EXPORT_FORMATS[formats[0]] if formats else "bibtex", EXPORT_SCOPES[scopes[0]] if scopes else "saved"
    )


#: The commands whose text needs no topic names, each built from its argument text.
_PARSERS: dict[str, Callable[[str], Command]] = {
    "start": lambda args: Start(),
    "help": lambda args: Help(),
    "subscribe": lambda args: Subscribe(tuple(split_keywords(args))),
    "unsubscribe": lambda args: Unsubscribe(),
    "time": _time,
    "topics": _topics,
    "settings": _settings,
    "digest": lambda args: DigestNow(tuple(split_keywords(args))),
    "preview": lambda args: Preview(tuple(split_keywords(args))),
    "status": lambda args: Status(),
    "saved": lambda args: Saved(),
    "export": _export,
    "why": lambda args: Why(args.strip()),
}


def _categories(args: str, topic_names: Collection[str]) -> SetCategories:
    """/categories [TOPIC:] codes|default."""
    topic, rest = _topic_prefix(args, topic_names)
    first = rest.split(None, 1)[0] if rest.strip() else ""
    if topic is None and first.endswith(":") and len(first) > 1:
        raise no_topic_error(first[:-1], "categories")  # `Nope: cs.RO` names a topic, not a category
    return SetCategories(category_codes(rest), topic)


def parse_command(name: str, args: str, topic_names: Collection[str] = ()) -> Command:
    """The typed command for `/name args` (name known, args cleaned); a CommandError explains a mistake."""
    if name in ("keywords", "exclude"):
        return _edit(name, args, topic_names)
    if name == "categories":
        return _categories(args, topic_names)
    parser = _PARSERS.get(name)
    if parser is not None:
        return parser(args)
    raise ValueError(f"no command /{name}")
