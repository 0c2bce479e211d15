"""How a chat platform describes itself to the wiring: its name, its settings and how to build its adapter.

Each platform package (`adapters/telegram/`, …) exposes one `PlatformSpec` from its `__init__`, which
imports nothing heavy: `build` imports the adapter module (and with it the platform's library) only
when the platform is configured, so a Telegram-only bot never loads discord.py. The registry, one
tuple of specs, lives in the composition root (`bot.main.platforms.PLATFORMS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic_settings import BaseSettings

from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.feedback import FeedbackService
from bot.leadership import SoleProcess
from bot.platforms.port import ChatAdapter
from bot.ports import Leadership
from bot.settings import SettingsError
from bot.views import ViewService

S = TypeVar("S", bound=BaseSettings)


@dataclass(frozen=True, slots=True)
class AdapterServices:
    """What the wiring hands an adapter: commands, chat rules, digest views, feedback, its ADMIN_USER_IDS."""

    commands: CommandService
    channels: ChannelRegistry
    views: ViewService  # pages of stored digests, for button presses
    feedback: FeedbackService  # 👍/👎/🔖 presses on those pages
    admin_user_ids: frozenset[int] = field(default_factory=frozenset)  # this platform's operators
    # Who may take the roles one process of a deployment holds (Telegram's getUpdates).
    leadership: Leadership = field(default_factory=SoleProcess)


#: Builds a configured platform's adapter; `options` are test hooks (poll timeouts, rate limits),
#: keyed by the adapter's own parameter names.
AdapterBuilder = Callable[[S, AdapterServices, Mapping[str, Any]], ChatAdapter]


@dataclass(frozen=True, slots=True)
class PlatformSpec(Generic[S]):
    """One chat platform: what the wiring needs to know to configure and start it."""

    name: str  # the `Channel.platform` value and the ADMIN_USER_IDS prefix: "telegram"
    title: str  # how messages name it: "Telegram"
    settings_class: type[S]  # reads the platform's own settings (environment, `.env`)
    enabled_by: str  # the setting that turns the platform on (its token), for messages: "TELEGRAM_BOT_TOKEN"
    is_configured: Callable[[S], bool]  # its token is set
    build: AdapterBuilder[S]
    bare_admin_ids: bool = False  # a bare number in ADMIN_USER_IDS is this platform's user id


def admin_ids(entries: Sequence[str], platforms: Sequence[PlatformSpec[Any]]) -> dict[str, frozenset[int]]:
    """ADMIN_USER_IDS (`name:ID` entries, or bare numbers) as each platform's user ids, by platform name.

    The prefixes are the registered platforms' names; a bare number belongs to the platform that
    claims them (`bare_admin_ids`). Anything else raises SettingsError naming ADMIN_USER_IDS.
    """
    names = [spec.name for spec in platforms]
    bare = next((spec for spec in platforms if spec.bare_admin_ids), None)
    found: dict[str, set[int]] = {name: set() for name in names}
    for entry in entries:
        platform, colon, number = entry.strip().rpartition(":")
        platform = platform.lower() if colon else bare.name if bare is not None else ""
        if platform not in found or not number.lstrip("-").isdigit():
            forms = " or ".join(f"{name}:ID" for name in names)
            aside = f" (a bare number is a {bare.title} id)" if bare is not None else ""
            raise SettingsError(
                f"bad setting ADMIN_USER_IDS: {entry[:40]!r} is not a user id: use numbers, as {forms}"
                f"{aside}, comma-separated"
            )
        found[platform].add(int(number))
    return {name: frozenset(ids) for name, ids in found.items()}
