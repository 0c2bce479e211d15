"""The fake Discord against the real discord.py client: login, gateway, commands, messages and faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl
from discord import app_commands
from discord.http import MultipartParameters

from tests.fakes.discord_faults import Fault
from tests.fakes.discord_model import (
    ATTACH_FILES,
    CREATE_PUBLIC_THREADS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_USER_ID,
    MANAGE_CHANNELS,
    SEND_MESSAGES,
)
from tests.fakes.discord_openapi import SPEC_PATH, OpenAPISpec
from tests.fakes.discord_server import FakeDiscord

GUILD_ID = 900000000000000001
CHANNEL_ID = 900000000000000011
OTHER_CHANNEL_ID = 900000000000000012
MESSAGES = r"^/channels/900000000000000011/messages$"


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A running fake Discord with one guild, discord.py aimed at it; its own answers must match the spec."""
    already_running = asyncio.all_tasks()
    server = FakeDiscord()
    await server.start()
    server.aim(monkeypatch)
    server.add_guild(GUILD_ID, [(CHANNEL_ID, "papers"), (OTHER_CHANNEL_ID, "general")], name="arXiv club")
    try:
        yield server
    finally:
        await server.close()
    assert server.answer_errors == []
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() - already_running if t is not current and not t.done()]
    assert not leftover, f"tasks still running after the test: {leftover}"


def make_client(intents: discord.Intents | None = None) -> tuple[discord.Client, app_commands.CommandTree]:
    """A real client (quick guild-ready wait) and its command tree."""
    client = discord.Client(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05)
    return client, app_commands.CommandTree(client)


def text_channel(client: discord.Client, channel_id: int = CHANNEL_ID) -> discord.TextChannel:
    """A text channel from the client's cache."""
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def test_trimmed_spec_is_self_contained() -> None:
    """Every `$ref` in the trimmed OpenAPI copy resolves inside it, and each served route has a schema."""
    spec = OpenAPISpec(SPEC_PATH)
    refs: list[str] = []

    def collect(node: Any) -> None:
        """Gather every `$ref` below a JSON value."""
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec.document)
    assert len(refs) > 100
    for ref in set(refs):
        assert spec.resolve(ref.removeprefix("#")) is not None
    for method, template in FakeDiscord().routes:
        assert method.lower() in spec.document["paths"][template], (method, template)


# -- login and gateway ------------------------------------------------------------------------------


async def test_client_logs_in_connects_and_caches_the_guild(fake: FakeDiscord) -> None:
    """Login hits GET /users/@me and /oauth2/applications/@me; READY + GUILD_CREATE fill the cache."""
    client, _ = make_client()
    async with fake.run_client(client):
        assert client.user is not None
        assert client.user.id == fake.bot_user_id
        assert client.application_id == fake.application_id
        channel = text_channel(client)
        assert channel.name == "papers"
        assert channel.guild.name == "arXiv club"
        assert channel.permissions_for(channel.guild.me).send_messages
        assert [(r.method, r.path) for r in fake.requests] == [
            ("GET", "/users/@me"),
            ("GET", "/oauth2/applications/@me"),
        ]
    assert fake.validation_errors == []


async def test_identify_is_recorded_with_intents_and_query(fake: FakeDiscord) -> None:
    """IDENTIFY's intents and token are recorded; the URL asks for v=10 JSON with zlib-stream."""
    intents = discord.Intents.default()
    client, _ = make_client(intents)
    async with fake.run_client(client):
        (identify,) = fake.identify_payloads
        assert identify["intents"] == intents.value
        assert identify["token"] == fake.token
        (connection,) = fake.gateway_log
        assert connection.path == "/gateway"
        assert connection.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
        assert connection.kind == "identify"
        assert connection.heartbeats >= 1


async def test_bad_token_raises_login_failure(fake: FakeDiscord) -> None:
    """Another token than the fake's is 401 on GET /users/@me, which discord.py turns into LoginFailure."""
    client, _ = make_client()
    with pytest.raises(discord.LoginFailure):
        await client.start("not-the-token")
    await client.close()
    assert [(r.path, r.status) for r in fake.requests] == [("/users/@me", 401)]
    assert fake.requests[0].answer == {"message": "401: Unauthorized", "code": 0}
    assert fake.gateway_connections == 0


async def test_privileged_intent_not_enabled_is_refused(fake: FakeDiscord) -> None:
    """Asking for message_content without enabling it closes with 4014: PrivilegedIntentsRequired."""
    client, _ = make_client(discord.Intents.all())
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with fake.run_client(client):
            pass
    assert fake.identify_payloads[0]["intents"] == discord.Intents.all().value


async def test_members_intent_chunking_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the members intent discord.py requests member chunks (op 8); the fake's answer lets it start."""
    server = FakeDiscord(privileged_intents=discord.Intents(members=True).value)
    await server.start()
    server.aim(monkeypatch)
    server.add_guild(GUILD_ID, [(CHANNEL_ID, "papers")])
    try:
        intents = discord.Intents.default()
        intents.members = True
        client, _ = make_client(intents)
        async with server.run_client(client, timeout=3.0):
            guild = client.get_guild(GUILD_ID)
            assert guild is not None
            assert guild.chunked
    finally:
        await server.close()


def test_aimed_sets_and_restores_the_class_attributes() -> None:
    """`aimed()` points Route.BASE and DEFAULT_GATEWAY at the fake and restores them afterwards."""
    server = FakeDiscord()
    server.url = "http://127.0.0.1:1"
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    with server.aimed():
        assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"
        assert isinstance(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY, yarl.URL)
    after = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert after == before


@pytest.mark.parametrize(("code", "seen_code"), [(None, 1006), (4000, 4000)], ids=["abrupt", "close-4000"])
async def test_dropped_gateway_resumes_and_keeps_working(
    fake: FakeDiscord, code: int | None, seen_code: int
) -> None:
    """After a dropped websocket discord.py RESUMEs at resume_gateway_url and still runs commands."""
    client, tree = make_client()
    answered: list[str] = []

    @tree.command(name="ping", description="Answer pong")
    async def ping(interaction: discord.Interaction) -> None:
        """Answer at once."""
        answered.append("ping")
        await interaction.response.send_message("pong")

    async with fake.run_client(client):
        await fake.drop_gateway(code)
        await fake.wait_ready()
        first, second = fake.gateway_log
        assert second.path == "/gateway/resume"
        assert second.kind == "resume"
        assert first.session is not None
        assert fake.resume_payloads[0]["session_id"] == first.session.session_id
        interaction_id, _ = await fake.send_interaction("ping", guild_id=GUILD_ID)
        (response,) = await fake.wait_for_responses(interaction_id)
        assert response["data"]["content"] == "pong"
        await text_channel(client).send("still here")
    assert answered == ["ping"]
    assert first.close_code == seen_code
    assert len(fake.identify_payloads) == 1
    assert [m["body"]["content"] for m in fake.channel_messages(CHANNEL_ID)] == ["still here"]


async def test_reconnect_request_makes_the_client_resume(fake: FakeDiscord) -> None:
    """op 7 RECONNECT makes discord.py close the socket and RESUME on the resume URL, without IDENTIFY."""
    client, _ = make_client()
    async with fake.run_client(client):
        await fake.request_reconnect()
        await fake.wait_ready()
        message = await text_channel(client).send("after RECONNECT")
    assert [(c.path, c.kind) for c in fake.gateway_log] == [
        ("/gateway", "identify"),
        ("/gateway/resume", "resume"),
    ]
    assert len(fake.identify_payloads) == 1
    assert message.content == "after RECONNECT"


class QuickReidentifyClient(discord.Client):
    """A client without discord.py's 5 s pause before every IDENTIFY but the first."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Identify at once."""


async def test_invalid_session_makes_the_client_identify_again(fake: FakeDiscord) -> None:
    """op 9 INVALID_SESSION (not resumable) makes discord.py IDENTIFY afresh on the default gateway."""
    client = QuickReidentifyClient(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    async with fake.run_client(client):
        second_ready = asyncio.ensure_future(client.wait_for("ready", timeout=5.0))
        await fake.invalidate_session(resumable=False)
        await second_ready  # on_ready fires once per IDENTIFY, not once per process
        assert [c.kind for c in fake.gateway_log] == ["identify", "identify"]
        assert fake.gateway_log[1].path == "/gateway"
        assert fake.resume_payloads == []
        assert text_channel(client).name == "papers"


async def test_guild_and_channel_removal_reach_the_client(fake: FakeDiscord) -> None:
    """GUILD_DELETE and CHANNEL_DELETE update the cache; the gone channels answer 403 and 404."""
    fake.add_guild(GUILD_ID + 1, [(CHANNEL_ID + 100, "other-guild")])
    client, _ = make_client()
    removed: list[int] = []
    client.event(_on_guild_remove(removed))
    async with fake.run_client(client):
        gone_guild_channel = text_channel(client, CHANNEL_ID + 100)
        deleted_channel = text_channel(client, OTHER_CHANNEL_ID)
        await fake.remove_guild(GUILD_ID + 1)
        await fake.delete_channel(OTHER_CHANNEL_ID)
        await _until(lambda: client.get_channel(OTHER_CHANNEL_ID) is None and removed)
        assert client.get_guild(GUILD_ID + 1) is None
        assert removed == [GUILD_ID + 1]
        with pytest.raises(discord.Forbidden) as forbidden:
            await gone_guild_channel.send("anyone?")
        with pytest.raises(discord.NotFound) as not_found:
            await deleted_channel.send("anyone?")
    assert forbidden.value.code == 50001
    assert not_found.value.code == 10003
    assert fake.invalid_request_count == 1


def _on_guild_remove(removed: list[int]) -> Any:
    """An `on_guild_remove` listener that notes the guild id."""

    async def on_guild_remove(guild: discord.Guild) -> None:
        """Note the removed guild."""
        removed.append(guild.id)

    return on_guild_remove


async def _until(predicate: Any, timeout: float = 2.0) -> None:
    """Wait until `predicate()` is true."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# -- application commands -----------------------------------------------------------------------------


def add_commands(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> None:
    """A `/topics add|list` group and a `/digest` command with a Manage Channels default."""
    topics = app_commands.Group(name="topics", description="Manage topics")

    @topics.command(name="add", description="Add a topic")
    @app_commands.describe(name="The topic's name")
    async def add(interaction: discord.Interaction, name: str, keywords: str | None = None) -> None:
        """Acknowledge privately."""
        await interaction.response.send_message(f"added {name}", ephemeral=True)

    @topics.command(name="list", description="List topics")
    async def list_(interaction: discord.Interaction) -> None:
        """List nothing."""
        await interaction.response.send_message("none")

    @app_commands.command(name="digest", description="Post today's digest here")
    @app_commands.default_permissions(manage_channels=True)
    async def digest(interaction: discord.Interaction, limit: app_commands.Range[int, 1, 50] = 10) -> None:
        """Say how many."""
        await interaction.response.send_message(str(limit))

    tree.add_command(topics, guild=guild)
    tree.add_command(digest, guild=guild)


async def test_commands_sync_to_a_guild_and_globally(fake: FakeDiscord) -> None:
    """tree.sync() PUTs valid command lists per scope; the answers carry ids, version and application id."""
    client, tree = make_client()
    guild = discord.Object(GUILD_ID)
    add_commands(tree, guild)
    add_commands(tree, None)
    async with fake.run_client(client):
        synced_guild = await tree.sync(guild=guild)
        synced_global = await tree.sync()
        fetched = await tree.fetch_commands(guild=guild)
    assert fake.validation_errors == []
    stored = fake.synced_commands[GUILD_ID]
    assert [c["name"] for c in stored] == ["topics", "digest"]
    assert [c["name"] for c in fake.synced_commands["global"]] == ["topics", "digest"]
    assert [c.id for c in synced_guild] == [int(c["id"]) for c in stored] == [c.id for c in fetched]
    assert {c["guild_id"] for c in stored} == {str(GUILD_ID)}
    assert all(c["application_id"] == str(fake.application_id) and c["version"] for c in stored)
    digest = next(c for c in synced_global if c.name == "digest")
    assert digest.default_member_permissions is not None
    assert digest.default_member_permissions.manage_channels
    assert [o["name"] for o in stored[0]["options"]] == ["add", "list"]
    (sent,) = fake.requests_to("PUT", rf"^/applications/{fake.application_id}/guilds/{GUILD_ID}/commands$")
    assert [c["name"] for c in sent.json] == ["topics", "digest"]
    assert sent.json[0]["options"] == stored[0]["options"]


async def test_slash_command_defer_and_followup_are_recorded_in_order(fake: FakeDiscord) -> None:
    """An injected command reaches its callback with options and permissions; defer + follow-up recorded."""
    client, tree = make_client()
    seen: list[tuple[str, bool, int | None]] = []

    @tree.command(name="digest", description="Post a digest", guild=discord.Object(GUILD_ID))
    async def digest(interaction: discord.Interaction, topic: str) -> None:
        """Defer, then follow up."""
        seen.append((topic, interaction.permissions.manage_channels, interaction.guild_id))
        await interaction.response.defer(thinking=True)
        none = discord.AllowedMentions.none()
        await interaction.followup.send(f"digest for {topic}", allowed_mentions=none)

    async with fake.run_client(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        interaction_id, token = await fake.send_interaction(
            "digest",
            [{"type": 3, "name": "topic", "value": "MLLM"}],
            guild_id=GUILD_ID,
            channel_id=CHANNEL_ID,
            permissions=MANAGE_CHANNELS,
        )
        callback, followup = await fake.wait_for_responses(interaction_id, count=2)
    assert seen == [("MLLM", True, GUILD_ID)]
    assert (callback["kind"], callback["type"]) == ("callback", 5)
    assert (followup["kind"], followup["type"]) == ("followup", None)
    assert followup["data"]["content"] == "digest for MLLM"
    assert followup["data"]["allowed_mentions"] == {"parse": []}
    (callback_request,) = fake.requests_to("POST", r"^/interactions/\d+/.+/callback$")
    assert callback_request.query == {"with_response": "1"}
    assert fake.requests_to("POST", rf"^/webhooks/{fake.application_id}/{token}$")[0].query["wait"] == "1"
    assert fake.validation_errors == []


async def test_followup_over_2000_characters_is_rejected(fake: FakeDiscord) -> None:
    """A follow-up longer than 2000 characters is answered 400 50035 and raises HTTPException."""
    client, tree = make_client()
    codes: list[int] = []

    @tree.command(name="long", description="Too long", guild=discord.Object(GUILD_ID))
    async def long(interaction: discord.Interaction) -> None:
        """Defer, then follow up with 2001 characters."""
        await interaction.response.defer()
        try:
            await interaction.followup.send("x" * 2001)
        except discord.HTTPException as error:
            codes.append(error.code)
            await interaction.followup.send("x" * 2000)

    async with fake.run_client(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        interaction_id, token = await fake.send_interaction("long", guild_id=GUILD_ID)
        callback, followup = await fake.wait_for_responses(interaction_id, count=2)
    assert codes == [50035]
    assert (callback["type"], len(followup["data"]["content"])) == (5, 2000)
    assert fake.validation_errors == [
        f"POST /webhooks/{fake.application_id}/{token}: content: BASE_TYPE_MAX_LENGTH: "
        "Must be 2000 or fewer in length."
    ]


async def test_subcommand_in_a_dm_answers_ephemerally_and_edits(fake: FakeDiscord) -> None:
    """A DM interaction (user, no member) with a subcommand reaches it; send and edit_original recorded."""
    client, tree = make_client()
    users: list[tuple[int, bool]] = []
    group = app_commands.Group(name="topics", description="Manage topics")

    @group.command(name="add", description="Add a topic")
    async def add(interaction: discord.Interaction, name: str) -> None:
        """Answer privately, then edit the answer."""
        users.append((interaction.user.id, interaction.guild is None))
        await interaction.response.send_message(f"adding {name}", ephemeral=True)
        await interaction.edit_original_response(content=f"added {name}")

    tree.add_command(group)
    async with fake.run_client(client):
        await tree.sync()
        interaction_id, _ = await fake.send_interaction(
            "topics",
            [{"type": 1, "name": "add", "options": [{"type": 3, "name": "name", "value": "LLM"}]}],
        )
        sent, edited = await fake.wait_for_responses(interaction_id, count=2)
    assert users == [(DEFAULT_USER_ID, True)]
    assert (sent["type"], sent["data"]["content"], sent["ephemeral"]) == (4, "adding LLM", True)
    assert (edited["kind"], edited["data"]["content"]) == ("edit_original", "added LLM")
    assert fake.validation_errors == []


async def test_autocomplete_choices_are_recorded(fake: FakeDiscord) -> None:
    """An autocomplete interaction (type 4) runs the autocomplete callback; its choices are recorded."""
    client, tree = make_client()

    async def topic_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Topics starting with what was typed."""
        names = ["MLLM", "ML systems", "Robotics"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.lower().startswith(current.lower())]

    @tree.command(name="show", description="Show a topic", guild=discord.Object(GUILD_ID))
    @app_commands.autocomplete(topic=topic_names)
    async def show(interaction: discord.Interaction, topic: str) -> None:
        """Not reached by autocomplete."""
        await interaction.response.send_message(topic)

    async with fake.run_client(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        interaction_id, _ = await fake.send_autocomplete(
            "show", [{"type": 3, "name": "topic", "value": "ml", "focused": True}], guild_id=GUILD_ID
        )
        (response,) = await fake.wait_for_responses(interaction_id)
    assert response["type"] == 8
    assert response["data"] == {
        "choices": [{"name": "MLLM", "value": "MLLM"}, {"name": "ML systems", "value": "ML systems"}]
    }
    assert fake.validation_errors == []


async def test_resolved_attachment_is_downloaded_from_the_fake(fake: FakeDiscord) -> None:
    """An attachment option resolves to a URL on the fake; reading it is recorded as a download."""
    client, tree = make_client()
    attachment = fake.add_attachment("topics.yml", b"MLLM:\n  - multimodal\n")

    @tree.command(name="import", description="Import topics", guild=discord.Object(GUILD_ID))
    async def import_(interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Echo the file's first line."""
        text = (await file.read()).decode()
        await interaction.response.send_message(text.splitlines()[0])

    async with fake.run_client(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        interaction_id, _ = await fake.send_interaction(
            "import",
            [{"type": 11, "name": "file", "value": attachment["id"]}],
            guild_id=GUILD_ID,
            attachments=[attachment],
        )
        (response,) = await fake.wait_for_responses(interaction_id)
    assert response["data"]["content"] == "MLLM:"
    assert fake.downloads == [attachment["url"]]


async def test_late_callback_is_an_unknown_interaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback more than 3 s after the interaction is answered 404 10062, which raises NotFound."""
    now = [0.0]
    server = FakeDiscord(clock=lambda: now[0])
    await server.start()
    server.aim(monkeypatch)
    server.add_guild(GUILD_ID, [(CHANNEL_ID, "papers")])
    client, tree = make_client()
    errors: list[int] = []

    @tree.command(name="slow", description="Too slow", guild=discord.Object(GUILD_ID))
    async def slow(interaction: discord.Interaction) -> None:
        """Let 3.5 s pass on the fake's clock, then answer."""
        now[0] += 3.5
        try:
            await interaction.response.defer()
        except discord.NotFound as error:
            errors.append(error.code)

    try:
        async with server.run_client(client):
            await tree.sync(guild=discord.Object(GUILD_ID))
            await server.send_interaction("slow", guild_id=GUILD_ID)
            await _until(lambda: errors)
    finally:
        await server.close()
    assert errors == [10062]
    assert server.requests_to("POST", "/callback$")[0].status == 404


# -- channel messages -----------------------------------------------------------------------------------


async def test_channel_send_records_embeds_and_allowed_mentions(fake: FakeDiscord) -> None:
    """channel.send with embeds and AllowedMentions.none() is recorded and answered with a Message."""
    client, _ = make_client()
    embed = discord.Embed(
        title="A paper about @everyone", description="Abstract", url="https://arxiv.org/abs/1"
    )
    embed.add_field(name="Authors", value="Ada Lovelace")
    embed.set_footer(text="cs.CL")
    async with fake.run_client(client):
        message = await text_channel(client).send(
            "Today's digest", embeds=[embed], allowed_mentions=discord.AllowedMentions.none()
        )
        (recorded,) = await fake.wait_for_messages(CHANNEL_ID, 1)
    assert message.content == "Today's digest"
    assert message.embeds[0].title == "A paper about @everyone"
    assert message.author.id == fake.bot_user_id
    assert message.id == int(recorded["message"]["id"])
    assert recorded["body"]["allowed_mentions"] == {"parse": []}
    assert recorded["body"]["embeds"][0]["fields"] == [
        {"name": "Authors", "value": "Ada Lovelace", "inline": True}
    ]
    (request,) = fake.requests_to("POST", MESSAGES)
    assert request.headers["Content-Type"] == "application/json"
    assert set(request.answer_headers) == {
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Reset-After",
        "X-RateLimit-Bucket",
    }
    assert fake.validation_errors == []


async def test_file_upload_arrives_multipart(fake: FakeDiscord) -> None:
    """A discord.File is sent multipart (payload_json + files[0]); the upload is served back."""
    client, _ = make_client()
    async with fake.run_client(client):
        message = await text_channel(client).send(
            "digest attached", file=discord.File(io.BytesIO(b"# Digest\n"), filename="digest.md")
        )
        downloaded = await message.attachments[0].read()
    (recorded,) = fake.channel_messages(CHANNEL_ID)
    (upload,) = recorded["files"]
    assert (upload.field, upload.filename, upload.data) == ("files[0]", "digest.md", b"# Digest\n")
    assert recorded["body"]["attachments"] == [{"id": 0, "filename": "digest.md"}]
    assert message.attachments[0].filename == "digest.md"
    assert downloaded == b"# Digest\n"
    assert fake.validation_errors == []


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"content": "x" * 2001}, "content", "BASE_TYPE_MAX_LENGTH"),
        ({"embed": discord.Embed(title="t" * 257)}, "embeds.0.title", "BASE_TYPE_MAX_LENGTH"),
        (
            {"embeds": [discord.Embed(description="d" * 4096), discord.Embed(description="d" * 1905)]},
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
        ),
    ],
    ids=["content-2001", "title-257", "embeds-6001"],
)
async def test_body_over_discord_limits_is_rejected(
    fake: FakeDiscord, kwargs: dict[str, Any], field: str, code: str
) -> None:
    """Bodies over Discord's limits are answered 400 50035, raise HTTPException and are recorded."""
    client, _ = make_client()
    async with fake.run_client(client):
        with pytest.raises(discord.HTTPException) as raised:
            await text_channel(client).send(**kwargs)
    assert raised.value.status == 400
    assert raised.value.code == 50035
    (error,) = fake.validation_errors
    assert f": {field}: {code}: " in error
    assert fake.channel_messages(CHANNEL_ID) == []


async def test_eleven_embeds_are_refused_by_discord_py_and_by_the_fake(fake: FakeDiscord) -> None:
    """discord.py refuses 11 embeds itself (ValueError); sent raw, the fake's spec check answers 400."""
    client, _ = make_client()
    embeds = [discord.Embed(title=str(n)) for n in range(11)]
    async with fake.run_client(client):
        with pytest.raises(ValueError, match="maximum of 10"):
            await text_channel(client).send(embeds=embeds)
        assert fake.requests_to("POST", MESSAGES) == []
        payload = {"embeds": [e.to_dict() for e in embeds]}
        raw = MultipartParameters(payload=payload, multipart=None, files=None)
        with pytest.raises(discord.HTTPException) as raised:
            await client.http.send_message(CHANNEL_ID, params=raw)
    assert raised.value.code == 50035
    assert fake.validation_errors == [
        f"POST /channels/{CHANNEL_ID}/messages: embeds: BASE_TYPE_MAX_LENGTH: Must be 10 or fewer in length."
    ]


async def test_missing_permissions_and_empty_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Send Messages a post is 403 50013; files need Attach Files; an empty message is 400 50006."""
    server = FakeDiscord()
    await server.start()
    server.aim(monkeypatch)
    server.add_guild(
        GUILD_ID,
        [(CHANNEL_ID, "read-only")],
        bot_permissions=DEFAULT_BOT_PERMISSIONS & ~SEND_MESSAGES & ~ATTACH_FILES,
        everyone_permissions=0,
    )
    server.add_guild(GUILD_ID + 1, [(OTHER_CHANNEL_ID, "open")])
    client, _ = make_client()
    try:
        async with server.run_client(client):
            channel = text_channel(client)
            assert not channel.permissions_for(channel.guild.me).send_messages
            with pytest.raises(discord.Forbidden) as forbidden:
                await channel.send("hello")
            with pytest.raises(discord.HTTPException) as empty:
                await client.http.send_message(
                    OTHER_CHANNEL_ID, params=MultipartParameters(payload={}, multipart=None, files=None)
                )
    finally:
        await server.close()
    assert forbidden.value.code == 50013
    assert (empty.value.status, empty.value.code) == (400, 50006)


# -- faults and rate limits ----------------------------------------------------------------------------


async def test_429_with_via_is_retried_and_then_succeeds(fake: FakeDiscord) -> None:
    """A 429 carrying Via and retry_after is slept off and retried by discord.py."""
    fake.fail_next("POST", MESSAGES, Fault.rate_limited(0.05))
    client, _ = make_client()
    async with fake.run_client(client):
        message = await text_channel(client).send("after a 429")
    assert message.content == "after a 429"
    assert [r.status for r in fake.requests_to("POST", MESSAGES)] == [429, 200]
    assert fake.rate_limited_count == 1
    assert len(fake.channel_messages(CHANNEL_ID)) == 1


async def test_429_without_via_raises_at_once(fake: FakeDiscord) -> None:
    """A 429 without Via (what a Cloudflare ban looks like) is not retried: HTTPException 429."""
    fake.fail_next("POST", MESSAGES, Fault.rate_limited(0.05, via=False))
    client, _ = make_client()
    async with fake.run_client(client):
        with pytest.raises(discord.HTTPException) as raised:
            await text_channel(client).send("no retry")
    assert raised.value.status == 429
    assert [r.status for r in fake.requests_to("POST", MESSAGES)] == [429]


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (Fault.missing_access(), discord.Forbidden, 50001),
        (Fault.missing_permissions(), discord.Forbidden, 50013),
        (Fault.unknown_channel(), discord.NotFound, 10003),
    ],
    ids=["missing-access", "missing-permissions", "unknown-channel"],
)
async def test_403_and_404_raise_forbidden_and_not_found(
    fake: FakeDiscord, fault: Fault, error: type[discord.HTTPException], code: int
) -> None:
    """Injected 403/404 answers raise Forbidden/NotFound with Discord's error code, without retry."""
    fake.fail_next("POST", MESSAGES, fault)
    client, _ = make_client()
    async with fake.run_client(client):
        with pytest.raises(error) as raised:
            await text_channel(client).send("hello")
        await text_channel(client).send("the fault was used up")
    assert raised.value.code == code
    assert [r.status for r in fake.requests_to("POST", MESSAGES)] == [fault.status, 200]


async def test_500_is_retried_but_503_raises_at_once(fake: FakeDiscord) -> None:
    """discord.py retries a 500 (after a 1 s sleep) but raises DiscordServerError on a 503."""
    fake.fail_next("POST", MESSAGES, Fault.server_error(500))
    client, _ = make_client()
    async with fake.run_client(client):
        await text_channel(client).send("after a 500")
        fake.fail_next("POST", MESSAGES, Fault.server_error(503))
        with pytest.raises(discord.DiscordServerError):
            await text_channel(client).send("503")
    assert [r.status for r in fake.requests_to("POST", MESSAGES)] == [500, 200, 503]


async def test_advertised_rate_limit_makes_discord_py_wait(fake: FakeDiscord) -> None:
    """With the bucket advertised in X-RateLimit-*, discord.py waits for the reset and never gets a 429."""
    fake.enforce_rate_limits(per_channel=2, per_seconds=0.3)
    client, _ = make_client()
    async with fake.run_client(client):
        for number in range(3):
            await text_channel(client).send(f"message {number}")
    first, second, third = fake.requests_to("POST", MESSAGES)
    assert second.answer_headers["X-RateLimit-Remaining"] == "0"
    assert third.time - first.time >= 0.25
    assert fake.rate_limited_count == 0
    assert len(fake.channel_messages(CHANNEL_ID)) == 3


async def test_hidden_rate_limit_gets_429s_that_discord_py_retries(fake: FakeDiscord) -> None:
    """With the real bucket hidden, the third message in a window gets a 429 and is retried after it."""
    fake.enforce_rate_limits(per_channel=2, per_seconds=0.3, advertise=False)
    client, _ = make_client()
    async with fake.run_client(client):
        for number in range(3):
            await text_channel(client).send(f"message {number}")
    assert [r.status for r in fake.requests_to("POST", MESSAGES)] == [200, 200, 429, 200]
    limited = fake.requests_to("POST", MESSAGES)[2]
    assert limited.answer_headers["Via"] == "1.1 google"
    assert limited.answer["retry_after"] > 0
    assert fake.rate_limited_count == 1
    assert fake.invalid_request_count == 1


async def test_past_50_requests_a_second_the_fake_answers_discords_global_429(fake: FakeDiscord) -> None:
    """Discord's global limit: 60 bot requests at once get 50 answers and then the global 429, shaped as
    the spec's RatelimitedResponse (`"global": true`, retry_after until the second has room) with the
    Via discord.py needs; after retry_after a request passes again."""
    headers = {"Authorization": f"Bot {fake.token}", "Content-Type": "application/json"}
    url = f"{fake.api_url}/channels/{CHANNEL_ID}/messages"
    async with aiohttp.ClientSession() as session:

        async def post(number: int) -> tuple[int, Any, Mapping[str, str]]:
            async with session.post(url, json={"content": f"burst {number}"}, headers=headers) as answer:
                return answer.status, await answer.json(), answer.headers

        answers = await asyncio.gather(*(post(number) for number in range(60)))
        statuses = [status for status, _, _ in answers]
        assert statuses.count(200) == 50
        assert statuses.count(429) == 10
        _, body, limited = next(answer for answer in answers if answer[0] == 429)
        assert body["global"] is True
        assert 0 < body["retry_after"] <= 1.0
        assert (
            list(
                OpenAPISpec(SPEC_PATH).validator("/components/schemas/RatelimitedResponse").iter_errors(body)
            )
            == []
        )
        assert limited["X-RateLimit-Global"] == "true"
        assert limited["X-RateLimit-Scope"] == "global"
        assert limited["Via"] == "1.1 google"
        assert "X-RateLimit-Bucket" not in limited  # not a route's bucket
        assert fake.global_rate_limited_count == fake.rate_limited_count == 10
        assert fake.global_window_peak == 50
        await asyncio.sleep(body["retry_after"])
        status, _, _ = await post(60)
        assert status == 200
    assert len(fake.channel_messages(CHANNEL_ID)) == 51


# -- buttons, page turns, ephemeral and silent messages, threads ------------------------------------------

MEMBER_ID = DEFAULT_USER_ID + 1  # another member of the guild


def page_view(page: int) -> discord.ui.View:
    """◀ n/N ▶ buttons whose custom ids name the page they lead to (the view itself is not kept)."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="◀", custom_id=f"pg:1:{page - 1}:c"))
    view.add_item(discord.ui.Button(label=f"{page + 1}/3", custom_id="noop", disabled=False))
    view.add_item(discord.ui.Button(label="▶", custom_id=f"pg:1:{page + 1}:c"))
    view.stop()  # finished: discord.py does not route presses to it; the listener below answers them
    return view


async def test_a_press_is_a_component_interaction_answered_by_updating_the_message(fake: FakeDiscord) -> None:
    """A press arrives as type 3 with custom_id, the message and the member; UPDATE_MESSAGE edits it."""
    client, _ = make_client()
    seen: list[tuple[str, int, int, bool, int]] = []

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        """Turn to the page the button names."""
        assert interaction.type is discord.InteractionType.component
        assert interaction.data is not None
        assert interaction.message is not None
        custom_id = str(interaction.data.get("custom_id"))
        seen.append(
            (
                custom_id,
                int(str(interaction.data.get("component_type", 0))),
                interaction.message.id,
                interaction.permissions.manage_channels,
                interaction.user.id,
            )
        )
        page = int(custom_id.split(":")[2])
        await interaction.response.edit_message(content=f"page {page + 1}", view=page_view(page))

    async with fake.run_client(client):
        sent = await text_channel(client).send("page 1", view=page_view(0))
        shown = fake.posted_message(sent.id)
        assert shown.custom_ids() == ["pg:1:-1:c", "noop", "pg:1:1:c"]
        assert shown.message["components"][0]["id"] == 1  # Discord numbers stored components
        press = await fake.press_button(sent.id, "pg:1:1:c", user_id=MEMBER_ID)
        (callback,) = await fake.wait_for_responses(press.id)
        with pytest.raises(ValueError, match="no enabled button"):
            await fake.press_button(sent.id, "pg:1:9:c")
    assert seen == [("pg:1:1:c", 2, sent.id, False, MEMBER_ID)]
    assert (callback["kind"], callback["type"], callback["message_id"]) == ("callback", 7, str(sent.id))
    assert shown.message["content"] == "page 2"
    assert shown.custom_ids() == ["pg:1:0:c", "noop", "pg:1:2:c"]
    assert len(fake.posted(CHANNEL_ID)) == 1  # a page turn sends no new message
    delay = fake.answer_delay(press.id)
    assert delay is not None
    assert delay < 3.0
    assert fake.failed_interactions() == []
    assert fake.validation_errors == []


def menu_view(options: int = 3) -> discord.ui.View:
    """A ◀ button, then a string select of `options` papers (values "0", "1", ...) in a row of its own."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="◀", custom_id="pg:1:0:c", row=0))
    choices = [discord.SelectOption(label=f"{n + 1}. Paper", value=str(n)) for n in range(options)]
    view.add_item(
        discord.ui.Select(custom_id="fm:1:u:0:c", placeholder="👍 Like a paper…", options=choices, row=1)
    )
    view.stop()
    return view


async def test_a_choice_in_a_select_arrives_with_its_values_and_bad_selects_are_refused(
    fake: FakeDiscord,
) -> None:
    """A pick is type 3 with component_type 3 and `values`; a select sharing a row, 26 options or repeated
    values are 400 and recorded; only an option the menu has can be picked."""
    client, _ = make_client()
    seen: list[tuple[str, int, list[str], int]] = []

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        """Record the pick and answer by updating the message."""
        assert interaction.data is not None
        data: dict[str, Any] = dict(interaction.data)
        seen.append(
            (
                str(data["custom_id"]),
                int(str(data["component_type"])),
                [str(value) for value in data["values"]],
                interaction.user.id,
            )
        )
        await interaction.response.edit_message(content="picked", view=menu_view())

    async with fake.run_client(client):
        sent = await text_channel(client).send("pick", view=menu_view())
        assert fake.posted_message(sent.id).custom_ids() == ["pg:1:0:c", "fm:1:u:0:c"]
        pick = await fake.choose_option(sent.id, "fm:1:u:0:c", "2", user_id=MEMBER_ID)
        (callback,) = await fake.wait_for_responses(pick.id)
        with pytest.raises(ValueError, match="no option"):
            await fake.choose_option(sent.id, "fm:1:u:0:c", "7")
        with pytest.raises(ValueError, match="no enabled menu"):
            await fake.choose_option(sent.id, "fm:1:d:0:c", "0")
        assert fake.validation_errors == []
        await text_channel(client).send("25 options", view=menu_view(25))
        assert fake.validation_errors == []
        button = {"type": 2, "style": 1, "label": "x", "custom_id": "x"}
        select: dict[str, Any] = {"type": 3, "custom_id": "m", "options": [{"label": "a", "value": "0"}]}
        bodies = [
            {"content": "shared", "components": [{"type": 1, "components": [button, select]}]},
            {
                "content": "many",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {**select, "options": [{"label": str(n), "value": str(n)} for n in range(26)]}
                        ],
                    }
                ],
            },
            {
                "content": "twice",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {
                                **select,
                                "options": [{"label": "a", "value": "0"}, {"label": "b", "value": "0"}],
                            }
                        ],
                    }
                ],
            },
        ]
        for body in bodies:
            raw = MultipartParameters(payload=body, multipart=None, files=None)
            with pytest.raises(discord.HTTPException) as raised:
                await client.http.send_message(CHANNEL_ID, params=raw)
            assert raised.value.code == 50035
    assert seen == [("fm:1:u:0:c", 3, ["2"], MEMBER_ID)]
    assert callback["type"] == 7
    assert fake.posted_message(sent.id).message["content"] == "picked"
    errors = fake.validation_errors
    assert len(errors) == 3
    assert "components.0.components.1: COMPONENT_LAYOUT_WIDTH_EXCEEDED" in errors[0]
    assert ": components.0.components.0" in errors[1]  # the schema's oneOf: no select takes 26 options
    assert "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED" in errors[2]
    fake.validation_errors.clear()


async def test_a_deferred_update_then_an_edit_of_the_original_turns_the_page(fake: FakeDiscord) -> None:
    """DEFERRED_UPDATE_MESSAGE (6) then PATCH .../messages/@original edits the pressed message."""
    client, _ = make_client()

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        """Acknowledge first, edit after."""
        await interaction.response.defer()
        await interaction.edit_original_response(content="page 2", view=page_view(1))

    async with fake.run_client(client):
        sent = await text_channel(client).send("page 1", view=page_view(0))
        press = await fake.press_button(sent.id, "pg:1:1:c")
        callback, edit = await fake.wait_for_responses(press.id, count=2)
    assert (callback["type"], edit["kind"]) == (6, "edit_original")
    assert fake.posted_message(sent.id).message["content"] == "page 2"
    assert fake.failed_interactions() == []


async def test_a_press_unanswered_for_3_seconds_has_failed() -> None:
    """A press nobody answers fails once 3 s pass; one answered later is refused 10062 and failed too."""
    now = [0.0]
    server = FakeDiscord(clock=lambda: now[0])
    await server.start()
    server.add_guild(GUILD_ID, [(CHANNEL_ID, "papers")])
    client, _ = make_client()
    codes: list[int] = []

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        """Answer only the second press, too late."""
        if interaction.data and interaction.data.get("custom_id") == "pg:1:1:c":
            now[0] += 3.5
            try:
                await interaction.response.defer()
            except discord.NotFound as error:
                codes.append(error.code)

    try:
        with server.aimed():
            async with server.run_client(client):
                sent = await text_channel(client).send("page 1", view=page_view(0))
                ignored = await server.press_button(sent.id, "noop")
                assert server.failed_interactions() == []  # no time has passed yet
                late = await server.press_button(sent.id, "pg:1:1:c")
                await _until(lambda: codes)
    finally:
        await server.close()
    assert codes == [10062]
    assert server.failed_interactions() == [
        f"interaction {ignored.id}: not answered within 3 s",
        f"interaction {late.id}: answered after the 3 s deadline",
    ]


async def test_an_ephemeral_answer_is_seen_by_its_asker_only_and_its_buttons_work(fake: FakeDiscord) -> None:
    """An ephemeral reply is shown to the asker alone; only they can press it; an update keeps it theirs."""
    client, tree = make_client()

    @tree.command(name="digest", description="A digest", guild=discord.Object(GUILD_ID))
    async def digest(interaction: discord.Interaction) -> None:
        """Answer privately with pages."""
        await interaction.response.send_message("page 1", view=page_view(0), ephemeral=True)

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        """Turn pages of the private message."""
        if interaction.type is discord.InteractionType.component:
            await interaction.response.edit_message(content="page 2", view=page_view(1))

    async with fake.run_client(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        asked = await fake.send_interaction("digest", guild_id=GUILD_ID, user_id=MEMBER_ID)
        (answer,) = await fake.wait_for_responses(asked.id)
        (shown,) = fake.posted(CHANNEL_ID)
        with pytest.raises(ValueError, match="cannot see"):
            await fake.press_button(shown.id, "pg:1:1:c", user_id=DEFAULT_USER_ID)
        press = await fake.press_button(shown.id, "pg:1:1:c", user_id=MEMBER_ID)
        await fake.wait_for_responses(press.id)
    assert answer["ephemeral"]
    assert (shown.audience, shown.source, shown.notifies) == (MEMBER_ID, "callback", False)
    assert fake.seen_by(CHANNEL_ID, DEFAULT_USER_ID) == []
    assert fake.seen_by(CHANNEL_ID, MEMBER_ID) == [shown]
    assert shown.message["content"] == "page 2"
    assert shown.flags & (1 << 6)
    assert fake.validation_errors == []


async def test_silent_messages_do_not_notify_and_other_flags_are_refused(fake: FakeDiscord) -> None:
    """SUPPRESS_NOTIFICATIONS (1<<12) marks a message as not notifying; flags a bot may not set are 400."""
    client, _ = make_client()
    async with fake.run_client(client):
        loud = await text_channel(client).send("digest")
        quiet = await text_channel(client).send("the file", silent=True)
        raw = MultipartParameters(payload={"content": "x", "flags": 1 << 1}, multipart=None, files=None)
        with pytest.raises(discord.HTTPException) as raised:
            await client.http.send_message(CHANNEL_ID, params=raw)
    assert [(p.id, p.notifies) for p in fake.posted(CHANNEL_ID)] == [(loud.id, True), (quiet.id, False)]
    assert fake.channel_messages(CHANNEL_ID)[1]["body"]["flags"] == 1 << 12
    assert raised.value.code == 50035
    assert fake.validation_errors == [
        f"POST /channels/{CHANNEL_ID}/messages: flags: MESSAGE_FLAGS_INVALID: Invalid message flags"
    ]


@pytest.mark.parametrize(
    ("components", "field", "code"),
    [
        (
            [{"type": 1, "components": [{"type": 2, "style": 1, "label": "x", "custom_id": "x" * 101}]}],
            "components.0.components.0.custom_id",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": "◀", "custom_id": "pg:1:1:c"},
                        {"type": 2, "style": 1, "label": "▶", "custom_id": "pg:1:1:c"},
                    ],
                }
            ],
            "components.0.components.1.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            [{"type": 1, "components": [{"type": 2, "style": 1, "label": "x"}]}],
            "components.0.components.0.custom_id",
            "BASE_TYPE_REQUIRED",
        ),
        (
            [
                {"type": 1, "components": [{"type": 2, "style": 1, "label": str(n), "custom_id": str(n)}]}
                for n in range(6)
            ],
            "components",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": str(n), "custom_id": str(n)} for n in range(6)
                    ],
                }
            ],
            "components.0.components",
            "BASE_TYPE_MAX_LENGTH",
        ),
    ],
    ids=["custom-id-101", "duplicate-custom-id", "no-custom-id", "six-rows", "six-buttons"],
)
async def test_components_over_discord_limits_are_refused(
    fake: FakeDiscord, components: list[dict[str, Any]], field: str, code: str
) -> None:
    """Buttons are checked: custom_id 1–100 and unique, ≤ 5 rows of ≤ 5; a failing body is 400 50035."""
    client, _ = make_client()
    async with fake.run_client(client):
        raw = MultipartParameters(
            payload={"content": "x", "components": components}, multipart=None, files=None
        )
        with pytest.raises(discord.HTTPException) as raised:
            await client.http.send_message(CHANNEL_ID, params=raw)
    assert raised.value.code == 50035
    assert any(f": {field}: {code}: " in error for error in fake.validation_errors), fake.validation_errors
    assert fake.posted(CHANNEL_ID) == []


async def test_threads_are_started_and_take_messages(fake: FakeDiscord) -> None:
    """POST .../threads starts a public thread (a message's thread takes its id); messages go into it."""
    client, _ = make_client()
    async with fake.run_client(client):
        channel = text_channel(client)
        thread = await channel.create_thread(
            name="arXiv digest 2025-11-11", type=discord.ChannelType.public_thread
        )
        inside = await thread.send("page 1", silent=True)
        starter = await channel.send("a digest")
        from_message = await starter.create_thread(name="Discussion")
        with pytest.raises(discord.Forbidden):
            await channel.create_thread(name="private", type=discord.ChannelType.private_thread)
        await _until(lambda: client.get_channel(thread.id) is not None)
    assert (thread.name, thread.parent_id, thread.type) == (
        "arXiv digest 2025-11-11",
        CHANNEL_ID,
        discord.ChannelType.public_thread,
    )
    assert from_message.id == starter.id
    assert [t["name"] for t in fake.threads_of(CHANNEL_ID)] == ["arXiv digest 2025-11-11", "Discussion"]
    assert [p.id for p in fake.posted(thread.id)] == [inside.id]
    assert [p.id for p in fake.posted(CHANNEL_ID)] == [starter.id]
    assert fake.validation_errors == []


async def test_a_thread_needs_create_public_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Create Public Threads starting a thread is 403 50013, as on Discord."""
    server = FakeDiscord()
    await server.start()
    server.aim(monkeypatch)
    server.add_guild(
        GUILD_ID, [(CHANNEL_ID, "papers")], bot_permissions=DEFAULT_BOT_PERMISSIONS & ~CREATE_PUBLIC_THREADS
    )
    client, _ = make_client()
    try:
        async with server.run_client(client):
            with pytest.raises(discord.Forbidden) as raised:
                await text_channel(client).create_thread(name="x", type=discord.ChannelType.public_thread)
    finally:
        await server.close()
    assert raised.value.code == 50013
