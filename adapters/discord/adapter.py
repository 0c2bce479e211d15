"""Discord: slash commands in, digests out as embeds, through discord.py 2.x.

Translates, decides nothing: interactions become the core's typed commands, core digests become the
messages `adapters.discord.format` lays out, and Discord's answers become the core's delivery errors
(`adapters.discord.errors`: `403 Missing Access/Permissions` and `404 Unknown Channel` mean the
channel is gone for the bot, and the core turns it off once, so the bot never collects the
401/403/429 answers Discord bans for).

- Minimal intents: `guilds` only (no privileged intent). Digests go over REST, so deliveries need a
  login but not the gateway; commands need the gateway.
- Shards (DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS): one shard is a `discord.Client` with `shard_id`,
  several an `AutoShardedClient`; each process of a deployment runs its own shards and gets only their
  servers' events and interactions (DMs: shard 0), while it delivers to any channel over REST.
- Every message is sent with `AllowedMentions.none()` (set on the client), so nothing pings anyone.
- Commands are synced at start-up: to DISCORD_GUILD_ID when set (instant), globally otherwise.
- Changing a channel's settings needs Manage Channels there: declared as the commands' default
  permissions and checked again here on the interaction's permissions (discord.py enforces nothing);
  ADMIN_USER_IDS may do everything; in a DM with the bot the user is the admin.
- A digest is one message showing a page of a stored view (`adapters.discord.paging`); its buttons
  carry only the view, page and style, and `on_interaction` answers each press by updating that
  message (UPDATE_MESSAGE) with the page looked up in the store, well within Discord's 3 s: any
  member may turn pages, after a restart too, on ephemeral messages too. A choice in a page's
  👍/👎/🔖 menus is recorded for the member who made it (the core's FeedbackService), the page is
  updated with the chat's new counts, and the member alone gets the answer (an ephemeral follow-up).
  The file comes silently
  (SUPPRESS_NOTIFICATIONS), so a digest notifies once; with `own_thread` each day's digest starts a
  thread of its own.
- `/digest` is deferred at once (Discord's 3-second deadline), ephemerally for a member in a server
  (only an admin's `public: True` posts it for everyone), then answered by editing that response
  into the digest's paged message; other commands are answered directly, or deferred if the core is
  slower than `DEFER_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.commands import SYNTAX, install_commands
from adapters.discord.errors import (
    connection_problem,
    delivery_error,
    is_html,
    may_pass,
    retry_after,
    status_text,
)
from adapters.discord.format import (
    DiscordMessage,
    DiscordPage,
    render_chat_file,
    render_empty_day,
    render_page,
    render_text,
)
from adapters.discord.paging import (
    DIGEST_THREAD_ARCHIVE_MINUTES,
    GONE,
    UNKNOWN_BUTTON,
    DigestPart,
    button_view,
    choice_of,
    file_caption,
    message_ref,
    page_part,
    press_of,
    repeat_text,
    thread_name,
)
from adapters.discord.settings import DEFAULT_API_URL, DEFAULT_GATEWAY_URL, DiscordSettings
from bot.channels import ChannelRegistry
from bot.commands.service import CommandService
from bot.commands.values import (
    Command,
    CommandContext,
    CommandReply,
    DigestNow,
    ImportTopics,
    answers_privately,
    changes_chat,
)
from bot.feedback import FeedbackOutcome, FeedbackService
from bot.models import Channel, Digest, LoadedView
from bot.platforms.lifecycle import (
    APOLOGY,
    STOP_GRACE,
    CommandsInFlight,
    answer_or_apologise,
    connect_with_retries,
)
from bot.platforms.port import (
    AdapterStartupError,
    OutgoingMessage,
    TemporaryDeliveryError,
)
from bot.platforms.spec import AdapterServices
from bot.retry import STARTUP_BACKOFF, Backoff, RetryableError
from bot.views import FeedbackPress, FilePress, NoopPress, PagePress, Press, ViewService

log = logging.getLogger(__name__)

PLATFORM = "discord"
DISCORD_HINT = "check DISCORD_API_URL"
MAX_CONFIG_FILE = 256 * 1024
DEFER_AFTER = 2.0  # seconds a command may take before its answer is deferred (Discord allows 3)
MAX_KNOWN_THREADS = 1024  # the digest threads remembered for the file that follows a page into its thread
T = TypeVar("T")
# Discord's global limit is 50 requests/s per bot; stay below it so a large fan-out is spread, not
# answered with 429s (discord.py already honours each route's bucket headers).
MESSAGES_PER_SECOND = 40.0
STRING_SELECT = 3  # an interaction's data.component_type for a choice in a string select menu
NO_FEEDBACK = "Feedback is not taken on this bot."


class _Pacer:
    """Spaces message sends evenly below Discord's global request limit."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._spacing = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Wait for this send's turn."""
        async with self._lock:
            now = self._clock()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = self._clock()
            self._next = max(now, self._next) + self._spacing


def from_settings(
    settings: DiscordSettings, services: AdapterServices, options: Mapping[str, Any]
) -> DiscordAdapter:
    """The Discord adapter for these settings (`options`: test hooks)."""
    if settings.discord_bot_token is None:
        raise AdapterStartupError("DISCORD_BOT_TOKEN is not set")
    return DiscordAdapter(
        settings.discord_bot_token.get_secret_value(),
        services.commands,
        services.channels,
        views=services.views,
        feedback=services.feedback,
        api_url=settings.discord_api_url,
        gateway_url=settings.discord_gateway_url,
        guild_id=settings.discord_guild_id,
        admin_user_ids=services.admin_user_ids,
        shards=settings.shards,
        **options,
    )


def _client(shards: tuple[tuple[int, ...], int] | None, **options: Any) -> discord.Client:
    """The client for these shards: unsharded, one shard (`Client(shard_id=…)`), or several
    (`AutoShardedClient(shard_ids=…)`, which spaces their IDENTIFYs 5 s apart as Discord requires)."""
    if shards is None:
        return discord.Client(**options)
    ids, count = shards
    if len(ids) == 1:
        return discord.Client(shard_id=ids[0], shard_count=count, **options)
    return discord.AutoShardedClient(shard_ids=list(ids), shard_count=count, **options)


def _shards_text(shards: tuple[tuple[int, ...], int] | None) -> str:
    """` (shards 0, 1 of 4)` for the start-up line; empty when unsharded."""
    if shards is None:
        return ""
    ids, count = shards
    dms = "" if 0 in ids else "; DMs go to the process running shard 0"
    return f" (shard{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))} of {count}{dms})"


def _embeds(message: DiscordMessage) -> list[discord.Embed]:
    """The message's embeds as discord.py objects."""
    return [discord.Embed.from_dict(dict(embed)) for embed in message.embeds]


def _file(message: DiscordMessage) -> discord.File | None:
    """The message's attachment, if it has one."""
    if message.file is None:
        return None
    return discord.File(io.BytesIO(message.file), filename=message.file_name or "digest.md")


def _discord_message(message: OutgoingMessage) -> DiscordMessage:
    """The Discord rendering an OutgoingMessage carries (or a plain one built from its text)."""
    if isinstance(message.payload, DigestPart):
        return message.payload.message
    if isinstance(message.payload, DiscordMessage):
        return message.payload
    return DiscordMessage(
        content=render_text(message.text)[0],
        paper_ids=message.paper_ids,
        file_name=message.document_name,
        file=message.document,
    )


class DiscordAdapter:
    """The Discord side of the bot: a `ChatAdapter` for deliveries plus the slash commands."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        commands: CommandService,
        channels: ChannelRegistry,
        *,
        views: ViewService | None = None,
        feedback: FeedbackService | None = None,
        api_url: str = DEFAULT_API_URL,
        gateway_url: str = DEFAULT_GATEWAY_URL,
        guild_id: int | None = None,
        admin_user_ids: Collection[int] = (),
        guild_ready_timeout: float = 2.0,
        messages_per_second: float = MESSAGES_PER_SECOND,
        startup_backoff: Backoff = STARTUP_BACKOFF,
        stop_grace: float = STOP_GRACE,
        shards: tuple[tuple[int, ...], int] | None = None,
    ) -> None:
        """`views`: the stored digests whose pages buttons turn (None: the command service's);
        `feedback`: where 👍/👎/🔖 choices are recorded (None: they are refused privately).
        `shards`: (the shard ids this process runs, the shard count); None: one unsharded connection.

        `startup_backoff`: how long start-up keeps trying to reach Discord (tests shorten it).
        """
        self._token = token
        self._views = views if views is not None else commands.views
        self._feedback = feedback  # None: 👍/👎/🔖 choices are refused (an adapter built without it)
        # (chat, day) -> the thread that day's digest started, for the file that follows the page.
        self._threads: OrderedDict[tuple[str, dt.date], int] = OrderedDict()
        self._startup_backoff = startup_backoff
        self._commands = commands
        self._channels = channels
        self._api_url = api_url.rstrip("/")
        self._gateway_url = gateway_url
        self._guild_id = guild_id
        self._admin_user_ids = frozenset(admin_user_ids)
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()  # set while stopping: a send waiting for the login gives up
        self._closing = False
        self._in_flight = CommandsInFlight("Discord", stop_grace)
        self._pacer = _Pacer(messages_per_second)
        # The bot has no voice: discord.py's "PyNaCl/davey is not installed" warnings only alarm operators.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # GUILD_CREATE/DELETE and channel events; not privileged
        self._shards = shards
        self.client = _client(
            shards,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            chunk_guilds_at_startup=False,
            max_messages=None,
        )
        self.tree = app_commands.CommandTree(self.client)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        install_commands(self.tree, self)
        self.client.event(self.on_guild_remove)
        self.client.event(self.on_guild_channel_delete)
        self.client.event(self.on_interaction)

    # -- the ChatAdapter port ---------------------------------------------------------------------
    def render_digest(self, view: LoadedView, channel: Channel) -> list[OutgoingMessage]:
        """The digest's one paged message (its first page, naming every paper), then the file if asked.

        The file message is silent and names no paper: the page already carries them all.
        """
        page = render_page(view)
        date = view.view.announcement_date
        messages = [
            OutgoingMessage(
                text=page.message.content,
                paper_ids=view.view.paper_ids,
                payload=page_part(page, date),
            )
        ]
        if channel.send_file:
            name, data = render_chat_file(view)
            caption = file_caption(date)
            file_message = DiscordMessage(content=caption, file_name=name, file=data)
            messages.append(
                OutgoingMessage(
                    text=caption,
                    document_name=name,
                    document=data,
                    payload=DigestPart(file_message, (), date),
                    silent=True,
                )
            )
        return messages

    def render_empty_day(self, digest: Digest, channel: Channel) -> OutgoingMessage:
        """The one-liner for a day with no match."""
        message = render_empty_day(digest)
        return OutgoingMessage(text=message.content, payload=message)

    async def send(self, channel: Channel, message: OutgoingMessage) -> str | None:
        """Post one message (silently if asked); its reference `channel_id/message_id`.

        A digest's message goes into that day's thread of its own when the channel has `own_thread`
        (the page starts the thread, the file follows it). Discord's answers become the core's
        delivery errors.
        """
        await self._wait_until_ready()
        rendered = _discord_message(message)
        try:
            target_id = await self._target(channel, message.payload)
            target = self.client.get_partial_messageable(target_id)
            part = message.payload if isinstance(message.payload, DigestPart) else None
            view = button_view(part.buttons, part.menus) if part is not None else None
            await self._pacer.wait()
            sent = await target.send(
                content=rendered.content or None,
                embeds=_embeds(rendered),
                file=_file(rendered) or discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                silent=message.silent,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as error:
            raise delivery_error(error) from error
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TemporaryDeliveryError(f"cannot reach Discord: {error}") from error
        return message_ref(target_id, sent.id)

    async def _target(self, channel: Channel, payload: object) -> int:
        """Where a message goes: the channel, or with `own_thread` the digest's thread of that day."""
        if not channel.own_thread or not isinstance(payload, DigestPart):
            return int(channel.chat_id)
        key = (channel.chat_id, payload.date)
        thread_id = self._threads.get(key)
        if thread_id is None:
            await self._pacer.wait()
            thread = await self.client.http.start_thread_without_message(
                int(channel.chat_id),
                name=thread_name(payload.date),
                auto_archive_duration=DIGEST_THREAD_ARCHIVE_MINUTES,
                type=discord.ChannelType.public_thread.value,
            )
            thread_id = int(thread["id"])
            self._threads[key] = thread_id
            while len(self._threads) > MAX_KNOWN_THREADS:
                self._threads.popitem(last=False)
        return thread_id

    async def _wait_until_ready(self) -> None:
        """Wait for the login (REST needs no gateway); a send during shutdown fails instead of hanging."""
        if not self._ready.is_set():
            closing = asyncio.ensure_future(self._closed.wait())
            ready = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({closing, ready}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                ready.cancel()
        if self._closing or not self._ready.is_set():
            raise TemporaryDeliveryError("the Discord adapter is stopping")

    # -- running ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _aimed(self) -> Any:
        """Point discord.py at DISCORD_API_URL / DISCORD_GATEWAY_URL (class attributes), then restore."""
        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self._api_url
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._gateway_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    async def run(self, stop: asyncio.Event) -> None:
        """Log in, sync the commands, hold the gateway until `stop`, then close.

        Start-up keeps trying through network trouble and Discord's 5xx/429 (see
        `bot.platforms.lifecycle.connect_with_retries`); a rejected token, or a server that is not Discord's
        API, raises AdapterStartupError at once. `stop` during the retries returns promptly.
        """
        client = self.client
        with self._aimed():
            try:
                started = await connect_with_retries(
                    f"Discord at {self._api_url}",
                    lambda: self._start(client),
                    stop,
                    backoff=self._startup_backoff,
                    between=self._reset_http,
                )
                if started is None:
                    log.info("Discord adapter stopped before it connected")
                    return
                connection = asyncio.create_task(client.connect(reconnect=True), name="discord gateway")
                self._closing = False
                self._closed.clear()
                self._ready.set()
                log.info("Discord adapter running as %s%s", client.user, _shards_text(self._shards))
                stopping = asyncio.create_task(stop.wait())
                try:
                    done, _ = await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if connection in done and not stop.is_set():
                        self._raise_gateway_failure(connection)
                finally:
                    stopping.cancel()
                    self._closing = True
                    self._closed.set()
                    self._ready.clear()
                    await self._in_flight.finish()
                    await client.close()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await connection
            finally:
                self._closing = True  # a send still waiting for the login gives up
                self._closed.set()
                if not client.is_closed():
                    await client.close()
                log.info("Discord adapter stopped")

    async def _start(self, client: discord.Client) -> bool:
        """Log in and sync the slash commands, once; what may pass raises RetryableError.

        A rejected token, a 4xx or a page that is not Discord's API become one-line
        AdapterStartupErrors (no retry); connection trouble, 5xx and 429 are worth another try.
        """
        try:
            await client.login(self._token)
        except discord.LoginFailure:
            raise AdapterStartupError(
                "Discord rejected DISCORD_BOT_TOKEN (copy the bot token from the Developer Portal's Bot page)"
            ) from None
        except discord.HTTPException as error:
            raise self._startup_error(error, "at login") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise RetryableError(connection_problem(error)) from None
        except (TypeError, KeyError, AttributeError):  # a 2xx answer that is not Discord's JSON
            log.debug("Discord's login answer was not understood", exc_info=True)
            raise AdapterStartupError(
                f"{self._api_url} answered with something that is not Discord's API: {DISCORD_HINT}"
            ) from None
        try:
            await self._sync_commands()
        except discord.HTTPException as error:
            if may_pass(error):
                raise RetryableError(status_text(error), retry_after=retry_after(error)) from None
            where = f"DISCORD_GUILD_ID={self._guild_id}" if self._guild_id else "the application"
            raise AdapterStartupError(
                f"Discord refused the slash commands for {where} ({error.status}: {error.text[:200]}); "
                "is the bot invited with the applications.commands scope?"
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise RetryableError(connection_problem(error)) from None
        return True

    def _startup_error(self, error: discord.HTTPException, when: str) -> Exception:
        """A start-up HTTP error answer: retryable (5xx, 429) or one line saying what to check."""
        if may_pass(error):
            return RetryableError(status_text(error), retry_after=retry_after(error))
        if is_html(error):
            return AdapterStartupError(
                f"{self._api_url} answered {error.status} with an HTML page, not Discord's API: "
                f"{DISCORD_HINT}"
            )
        return AdapterStartupError(
            f"Discord answered {error.status} {when} ({DISCORD_HINT}): {' '.join(error.text.split())[:200]}"
        )

    async def _reset_http(self) -> None:
        """Close a failed attempt's HTTP session; the next login opens a fresh one (and connector)."""
        await self.client.http.close()
        self.client.http.connector = discord.utils.MISSING

    @staticmethod
    def _raise_gateway_failure(connection: asyncio.Task[None]) -> None:
        """The gateway task ended by itself: say why in one line."""
        error = connection.exception()
        if isinstance(error, discord.PrivilegedIntentsRequired):
            raise AdapterStartupError("Discord refused the gateway intents") from None
        if error is not None:
            raise AdapterStartupError(f"the Discord gateway connection failed: {error}") from None
        raise AdapterStartupError("the Discord gateway connection ended unexpectedly")

    async def _sync_commands(self) -> None:
        """Sync the slash commands: to DISCORD_GUILD_ID (instant) or globally (up to an hour to appear)."""
        if self._guild_id is not None:
            guild = discord.Object(id=self._guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to guild %s", len(synced), self._guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global slash commands (they can take up to an hour to appear)", len(synced))

    # -- gateway events ------------------------------------------------------------------------------
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot was removed from a server (kicked, banned, or the server deleted)."""
        await self._channels.server_left(PLATFORM, str(guild.id), "the bot was removed from the server")

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel was deleted."""
        await self._channels.gone_by_id(PLATFORM, str(channel.id), "the channel was deleted")

    # -- interactions -----------------------------------------------------------------------------------
    def _may_change(self, interaction: discord.Interaction) -> bool:
        """Manage Channels in this channel, an ADMIN_USER_IDS entry, or one's own DM."""
        if interaction.user.id in self._admin_user_ids:
            return True
        if interaction.guild_id is None:
            return True  # a DM with the bot: a personal subscription
        return interaction.permissions.manage_channels

    def _context(
        self, interaction: discord.Interaction, command: str, *, private: bool = False
    ) -> CommandContext:
        """Who asks, where and when, for the core; `private`: the answer is ephemeral."""
        return CommandContext(
            platform=PLATFORM,
            chat_id=str(interaction.channel_id),
            user_id=str(interaction.user.id),
            is_admin=self._may_change(interaction),
            server_id=None if interaction.guild_id is None else str(interaction.guild_id),
            syntax=SYNTAX,
            sent_at=interaction.created_at,
            private=private,
        )

    async def _refuse(self, interaction: discord.Interaction, command: Command) -> bool:
        """Answer a member who may not make this change (ephemeral); True if refused.

        Reading a setting is anyone's; the core decides what is a change (`changes_chat`).
        """
        if not changes_chat(command) or self._may_change(interaction):
            return False
        await interaction.response.send_message(SYNTAX.admin_only_message, ephemeral=True)
        return True

    async def run_command(self, interaction: discord.Interaction, command: Command) -> None:
        """Run a command through the core and answer: directly, or deferred if it takes a while."""
        self._in_flight.track()
        if await self._refuse(interaction, command):
            return
        private = answers_privately(command)  # the asker's bookmarks: ephemeral, deferred or not
        context = self._context(interaction, command.name, private=private)
        work = asyncio.ensure_future(self._handle(context, command))
        done, _ = await asyncio.wait({work}, timeout=DEFER_AFTER)
        if not done:
            await interaction.response.defer(thinking=True, ephemeral=private)
        reply = await work
        await self._named(interaction)
        await self._answer(interaction, reply, private=private)

    async def _handle(self, context: CommandContext, command: Command) -> CommandReply:
        """The core's answer; an unexpected failure is logged and apologised for."""
        return await answer_or_apologise(
            self._commands.run(context, command), f"/{command.name} in Discord channel {context.chat_id}"
        )

    async def _named(self, interaction: discord.Interaction) -> None:
        """Tell the registry what the channel and its server are called (for `arxiv-digest channels`)."""
        if interaction.guild_id is None:
            title: str | None = f"@{interaction.user.name}"  # a DM: the user's name
        else:
            title = getattr(interaction.channel, "name", None)
        server = interaction.guild.name if interaction.guild is not None else None
        await self._channels.named(PLATFORM, str(interaction.channel_id), title, server)

    async def _answer(
        self, interaction: discord.Interaction, reply: CommandReply, *, private: bool = False
    ) -> None:
        """Send a reply: the digest's paged message, a pointer to the one already there, a file with its
        caption, or text pieces. A refusal and a private reply are ephemeral (seen by the asker alone)."""
        ephemeral = not reply.ok or reply.private or private
        if reply.document is not None:
            caption = render_text(reply.text)[0]
            attached = DiscordMessage(content=caption, file=reply.document, file_name=reply.document_name)
            await self._respond(interaction, attached, ephemeral=ephemeral)
            return
        if reply.view is not None:
            await self._respond(interaction, render_page(reply.view), ephemeral=ephemeral)
            return
        if reply.repeat_of is not None:
            text = repeat_text(reply.text, reply.repeat_of.message_ref, interaction.guild_id)
            await self._respond(interaction, DiscordMessage(content=text), ephemeral=ephemeral)
            return
        for piece in render_text(reply.text):
            await self._respond(interaction, DiscordMessage(content=piece), ephemeral=ephemeral)

    async def _respond(
        self,
        interaction: discord.Interaction,
        message: DiscordMessage | DiscordPage,
        *,
        ephemeral: bool,
    ) -> discord.Message | None:
        """The first answer through the interaction response (unless deferred), the rest as follow-ups.

        A page comes with its buttons. Returns the message sent, when Discord says which it is.
        """
        page = message if isinstance(message, DiscordPage) else None
        shown = page.message if page is not None else message
        assert isinstance(shown, DiscordMessage)
        view = button_view(page.buttons, page.menus) if page is not None else None
        file = _file(shown)
        if not interaction.response.is_done():
            callback = await interaction.response.send_message(
                content=shown.content or None,
                embeds=_embeds(shown),
                file=file or discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                ephemeral=ephemeral,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            resource = callback.resource if callback is not None else None
            return resource if isinstance(resource, discord.Message) else None
        return await interaction.followup.send(
            content=shown.content or discord.utils.MISSING,
            embeds=_embeds(shown),
            file=file or discord.utils.MISSING,
            view=view or discord.utils.MISSING,
            ephemeral=ephemeral,
            allowed_mentions=discord.AllowedMentions.none(),
            wait=True,
        )

    async def _answer_deferred(self, interaction: discord.Interaction, reply: CommandReply) -> str | None:
        """Turn a deferred /digest response into its answer; the digest message's reference, if one."""
        if reply.view is not None:
            page = render_page(reply.view)
            edited = await interaction.edit_original_response(
                content=page.message.content or None,
                embeds=_embeds(page.message),
                view=button_view(page.buttons, page.menus),
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return message_ref(interaction.channel_id or edited.channel.id, edited.id)
        if reply.repeat_of is not None:
            text = repeat_text(reply.text, reply.repeat_of.message_ref, interaction.guild_id)
        else:
            text, *rest = render_text(reply.text)
        await interaction.edit_original_response(
            content=text, allowed_mentions=discord.AllowedMentions.none()
        )
        if reply.repeat_of is None:
            for piece in rest:
                await self._respond(interaction, DiscordMessage(content=piece), ephemeral=False)
        return None

    async def digest(self, interaction: discord.Interaction, command: DigestNow) -> None:
        """/digest: deferred at once, then that response becomes the digest's one paged message.

        In a server it is ephemeral (seen by the asker alone), unless a member who may change the
        channel's settings asks for it `public`; then the message is remembered for a repeated request.
        """
        self._in_flight.track()
        in_server = interaction.guild_id is not None
        public = bool(command.public) and self._may_change(interaction)
        private = in_server and not public
        await interaction.response.defer(thinking=True, ephemeral=private)
        context = self._context(interaction, command.name, private=private)
        reply = await self._handle(context, command)
        await self._named(interaction)
        if not reply.ok and not private:
            # The deferred answer is public; a refusal should not be: replace it with a private one.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            for piece in render_text(reply.text):
                await interaction.followup.send(
                    piece, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
                )
            return
        ref = await self._answer_deferred(interaction, reply)
        if reply.view is not None and not private:
            await self._views.sent(reply.view.view, ref)
        if command.public and not public:
            await interaction.followup.send(
                "Only members who can Manage Channels here can post a digest for everyone; "
                "this one is for you alone.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )

    # -- button presses -----------------------------------------------------------------------------
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A press on a digest's button or a choice in its 👍/👎/🔖 menus: turn the page, send the file,
        record the feedback, or nothing (the "n/N" label).

        Answered within Discord's 3 s: the page is looked up and rendered at once (a few ms), and
        if that ever takes longer than `DEFER_AFTER` the press is acknowledged first and the message
        edited after. Any member may press; the view must belong to the channel the message is in
        (for a digest thread, the channel the thread belongs to).
        """
        if interaction.type is not discord.InteractionType.component:
            return
        self._in_flight.track()
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = str(data.get("custom_id") or "")
        press: Press | None
        if data.get("component_type") == STRING_SELECT:
            values = data.get("values")
            press = choice_of(custom_id, values if isinstance(values, list) else ())
        else:
            press = press_of(custom_id)
        try:
            if isinstance(press, NoopPress):
                await interaction.response.defer()
            elif isinstance(press, PagePress):
                await self._turn_page(interaction, press)
            elif isinstance(press, FilePress):
                await self._send_view_file(interaction, press.view_id)
            elif isinstance(press, FeedbackPress):
                await self._give_feedback(interaction, press)
            else:
                await self._press_refused(interaction, UNKNOWN_BUTTON)
        except discord.HTTPException as error:
            log.warning("a Discord button press could not be answered: %s", error)

    async def _turn_page(self, interaction: discord.Interaction, press: PagePress) -> None:
        """Show the asked page of the view in the pressed message (UPDATE_MESSAGE)."""

        async def page() -> DiscordPage | None:
            """The asked page, or None when the view is gone or another channel's."""
            loaded = await self._load(interaction, press.view_id)
            return None if loaded is None else render_page(loaded, style=press.style, page=press.page)

        shown = await self._in_time(interaction, page())
        if shown is None:
            await self._press_refused(interaction, GONE)
            return
        await self._show_page(interaction, shown)

    async def _give_feedback(self, interaction: discord.Interaction, press: FeedbackPress) -> None:
        """A 👍/👎/🔖 choice: recorded for the member who chose it, the page shown again with the chat's
        counts (UPDATE_MESSAGE, which also clears the menu's choice), then the answer to the member
        alone (an ephemeral follow-up: an interaction gets one response, the update)."""
        feedback = self._feedback
        if feedback is None:
            await self._press_refused(interaction, NO_FEEDBACK)
            return
        user_id = str(interaction.user.id)

        async def record() -> tuple[DiscordPage, FeedbackOutcome] | None:
            """The press applied, and the page it was on with the counts it left; None: the view is gone."""
            loaded = await self._load(interaction, press.view_id)
            if loaded is None:
                return None
            outcome = await feedback.press(loaded, press, user_id)
            if outcome.changed_page:
                loaded = await self._load(interaction, press.view_id) or loaded
            return render_page(loaded, style=press.style, page=press.page), outcome

        try:
            done = await self._in_time(interaction, record())
        except Exception:
            log.exception("a feedback choice on digest view %s failed", press.view_id)
            await self._press_refused(interaction, APOLOGY)
            return
        if done is None:
            await self._press_refused(interaction, GONE)
            return
        shown, outcome = done
        await self._show_page(interaction, shown)
        await interaction.followup.send(
            outcome.answer, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def _show_page(self, interaction: discord.Interaction, shown: DiscordPage) -> None:
        """Put the page into the pressed message: the interaction's update, or an edit once deferred."""
        content = shown.message.content or None
        embeds = _embeds(shown.message)
        view = button_view(shown.buttons, shown.menus)
        if not interaction.response.is_done():
            await interaction.response.edit_message(
                content=content, embeds=embeds, view=view, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.edit_original_response(
                content=content, embeds=embeds, view=view, allowed_mentions=discord.AllowedMentions.none()
            )

    async def _send_view_file(self, interaction: discord.Interaction, view_id: int) -> None:
        """The view's Markdown file, to the presser alone (no one else is notified or flooded)."""
        loaded = await self._in_time(interaction, self._load(interaction, view_id))
        if loaded is None:
            await self._press_refused(interaction, GONE)
            return
        name, data = render_chat_file(loaded)
        file = discord.File(io.BytesIO(data), filename=name)
        if not interaction.response.is_done():
            await interaction.response.send_message(file=file, ephemeral=True)
        else:
            await interaction.followup.send(file=file, ephemeral=True)

    async def _in_time(self, interaction: discord.Interaction, work: Awaitable[T]) -> T:
        """The work's result; if it takes longer than `DEFER_AFTER`, the press is acknowledged meanwhile."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
        if not done:
            await interaction.response.defer()
        return await task

    async def _load(self, interaction: discord.Interaction, view_id: int) -> LoadedView | None:
        """The pressed message's view, if it belongs to this channel (or the thread's channel)."""
        candidates = [interaction.channel_id]
        parent_id = getattr(interaction.channel, "parent_id", None)
        if isinstance(parent_id, int):
            candidates.append(parent_id)
        for chat_id in candidates:
            if chat_id is None:
                continue
            try:
                loaded = await self._views.load(view_id, PLATFORM, str(chat_id))
            except Exception:
                log.exception("cannot look up digest view %s", view_id)
                return None
            if loaded is not None:
                return loaded
        return None

    async def _press_refused(self, interaction: discord.Interaction, text: str) -> None:
        """A press that cannot be served: one private line to the presser."""
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
        else:
            await interaction.followup.send(text, ephemeral=True)

    async def import_config(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """/topics import: admins only (refused before download), size-capped, then the core parses it."""
        self._in_flight.track()
        if await self._refuse(interaction, ImportTopics(b"")):
            return
        if file.size > MAX_CONFIG_FILE:
            await interaction.response.send_message(
                f"That file is larger than {MAX_CONFIG_FILE // 1024} KiB.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)
        try:
            data = await file.read()
        except (discord.HTTPException, aiohttp.ClientError) as error:
            log.warning("cannot download a config attachment: %s", error)
            await self._answer(
                interaction, CommandReply("I could not download that file; try again.", ok=False)
            )
            return
        reply = await answer_or_apologise(
            self._commands.run(self._context(interaction, "topics"), ImportTopics(data)),
            f"config import in Discord channel {interaction.channel_id}",
        )
        await self._answer(interaction, reply)

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Log a command's failure (never a traceback to the user) and answer with an apology."""
        log.error("a Discord command failed: %s", error, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(APOLOGY, ephemeral=True)
            else:
                await interaction.response.send_message(APOLOGY, ephemeral=True)
