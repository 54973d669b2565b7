"""The fake Discord proven against the real discord.py: a tiny bot defined here logs in,
syncs commands, answers slash commands, buttons, modals and mentions, survives a dropped
socket, and fails the way it would on real Discord (bad token, late or double
acknowledgement, invalid commands)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from .fixtures import running_bot
from .payloads import Intent, MessageFlag
from .server import RESUME_GATEWAY_PATH, ClientWouldNotSend, FakeDiscord
from .validation import validate_commands, validate_message


class ArticleForm(discord.ui.Modal, title="Add an article"):
    article_title = discord.ui.TextInput(label="Title", custom_id="title", max_length=200)
    body = discord.ui.TextInput(label="Text", custom_id="body",
                                style=discord.TextStyle.paragraph, min_length=5)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"saved {self.article_title.value}: {len(self.body.value)} chars", ephemeral=True)


class VoteView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Helpful", custom_id="probe:up", emoji="👍")
    async def up(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"thanks {interaction.user.name}",
                                                view=None)


class ProbeBot(commands.Bot):
    """Just enough bot to exercise every path of the fake."""

    def __init__(self, *, intents: discord.Intents | None = None) -> None:
        super().__init__(command_prefix=commands.when_mentioned,
                         intents=intents or discord.Intents.default(),
                         guild_ready_timeout=0.05)
        self.unmentioned: list[discord.Message] = []
        self.errors: list[Exception] = []
        self.late_delay = 0.0
        self._add_commands()

    async def setup_hook(self) -> None:
        self.add_view(VoteView())
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if self.user in message.mentions:
            await message.reply(f"heard: {message.content}", mention_author=False)
        else:
            self.unmentioned.append(message)

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Say it back")
        async def echo(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.send_message(f"echo: {text}")

        @tree.command(description="Think first, then answer")
        async def think(interaction: discord.Interaction, question: str,
                        private: bool = False) -> None:
            await interaction.response.defer(thinking=True, ephemeral=private)
            await asyncio.sleep(0.05)
            await interaction.followup.send(f"answer to {question}")

        @tree.command(description="Answers after late_delay seconds")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(self.late_delay)
            try:
                await interaction.response.send_message("too late?")
            except discord.HTTPException as exc:
                self.errors.append(exc)

        @tree.command(description="A message with a vote button")
        async def vote(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("was this helpful?", view=VoteView())

        @tree.command(description="Opens a modal")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(ArticleForm())

        @tree.command(description="Moderators only")
        @app_commands.default_permissions(manage_guild=True)
        async def secret(interaction: discord.Interaction) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message("welcome" if allowed else "refused",
                                                    ephemeral=True)

        library = app_commands.Group(name="library", description="Manage articles")

        @library.command(name="add", description="Add a file")
        async def add(interaction: discord.Interaction, file: discord.Attachment) -> None:
            await interaction.response.defer(ephemeral=True)
            data = await file.read()
            await interaction.followup.send(f"{file.filename}: {data.decode()}", ephemeral=True)

        tree.add_command(library)


@pytest.fixture
def world(fake_discord: FakeDiscord):
    guild = fake_discord.add_guild("Fan Club")
    channel = guild.channel_named("general")
    member = fake_discord.add_member(guild, "alice")
    moderator = fake_discord.add_member(guild, "mod", moderator=True)
    return guild, channel, member, moderator


async def test_login_sync_ready_and_guild(fake_discord: FakeDiscord, world) -> None:
    guild, channel, _, _ = world
    async with running_bot(ProbeBot(), fake_discord) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        assert bot.user is not None and bot.user.id == fake_discord.bot_user.id
        assert bot.application_id == fake_discord.application_id
        assert {c["name"] for c in fake_discord.global_commands} == {
            "echo", "think", "late", "vote", "form", "secret", "library"}
        synced = bot.get_guild(guild.id)
        assert synced is not None and not synced.unavailable
        assert synced.me is not None and synced.get_channel(channel.id) is not None
        connection = fake_discord.gateway.connections[0]
        assert connection.query["compress"] == "zlib-stream"
        assert connection.compressor is not None
        assert fake_discord.gateway.heartbeats >= 1
    assert fake_discord.unknown_requests == []


async def test_json_content_type_is_exact_and_unknown_routes_are_recorded(
        fake_discord: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake_discord.api_base}/users/@me", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
        async with session.get(f"{fake_discord.api_base}/no/such/route", headers=headers) as resp:
            assert resp.status == 404
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["message"] == "404: Not Found"
        async with session.get(f"{fake_discord.api_base}/users/@me") as resp:
            assert resp.status == 401
    assert [r.path for r in fake_discord.unknown_requests] == ["/no/such/route"]


async def test_invalid_command_is_rejected_like_discord(fake_discord: FakeDiscord) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())

    @bot.tree.command(description="fine")
    async def ok(interaction: discord.Interaction) -> None: ...

    ok.name = "Not Valid"  # discord.py checks names on creation; Discord checks again.
    await bot.login(fake_discord.token)
    try:
        with pytest.raises(app_commands.CommandSyncFailure) as failure:
            await bot.tree.sync()
        assert failure.value.code == 50035
        assert "Command name is invalid" in str(failure.value)
        assert fake_discord.global_commands == []
    finally:
        await bot.close()


def test_command_rules() -> None:
    def command(**fields):
        return {"name": "ask", "description": "Ask", "type": 1, **fields}

    def codes(commands_payload):
        return {error.code for error in validate_commands(commands_payload)}

    string = {"type": 3, "name": "q", "description": "question"}
    assert codes([command(options=[{**string, "required": True}])]) == set()
    assert codes([command(name="x" * 33)]) == {"APPLICATION_COMMAND_INVALID_NAME"}
    assert codes([command(name="ask me")]) == {"APPLICATION_COMMAND_INVALID_NAME"}
    assert codes([command(name="frage-ü_2")]) == set()
    assert codes([command(description="")]) == {"BASE_TYPE_BAD_LENGTH"}
    assert codes([command(description="d" * 101)]) == {"BASE_TYPE_BAD_LENGTH"}
    assert codes([command(options=[{**string, "name": f"o{i}"} for i in range(26)])]) == {
        "BASE_TYPE_MAX_LENGTH"}
    assert codes([command(options=[string, {**string, "name": "r", "required": True}])]) == {
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"}
    sub = {"type": 1, "name": "add", "description": "Add"}
    assert codes([command(options=[sub, string])]) == {"APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"}
    group = {"type": 2, "name": "g", "description": "G", "options": [
        {**sub, "options": [{"type": 1, "name": "deep", "description": "D"}]}]}
    assert codes([command(options=[group])]) == {"APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"}
    choices = [{"name": "A", "value": "a"}, {"name": "B", "value": 2}]
    assert codes([command(options=[{**string, "choices": choices}])]) == {"BASE_TYPE_CHOICES"}
    assert codes([command(), command()]) == {"APPLICATION_COMMANDS_DUPLICATE_NAME"}


def test_message_rules() -> None:
    assert validate_message({"content": "hi"}) is None
    assert validate_message({})[1]["code"] == 50006
    assert validate_message({"content": "x" * 2001})[0] == 400
    big_field = {"name": "n", "value": "v" * 1025}
    assert "BASE_TYPE_MAX_LENGTH" in str(validate_message({"embeds": [{"fields": [big_field]}]}))
    six_k = [{"description": "d" * 4000}, {"description": "d" * 2001}]
    assert "MAX_EMBED_SIZE_EXCEEDED" in str(validate_message({"embeds": six_k}))
    assert "URL_TYPE_INVALID_URL" in str(validate_message({"embeds": [{"url": "not a url"}]}))
    row = {"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "a", "label": "A"}] * 2}
    assert "COMPONENT_CUSTOM_ID_DUPLICATED" in str(validate_message({"components": [row]}))


async def test_slash_command_direct_reply(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord):
        interaction = await fake_discord.slash_command(guild, channel, member, "echo",
                                                       {"text": "hi"})
        reply = await fake_discord.wait_for_response(interaction)
    assert reply.callback_type == 4
    assert reply.content == "echo: hi"
    assert interaction.delivered_at <= interaction.answered_at <= interaction.acknowledged_at
    assert not reply.ephemeral
    assert reply.message["interaction_metadata"]["user"]["id"] == str(member.id)


async def test_defer_then_followup_replaces_thinking(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord):
        interaction = await fake_discord.slash_command(
            guild, channel, member, "think", {"question": "why?", "private": True})
        reply = await fake_discord.wait_for_response(interaction)
    assert reply.callback_type == 5
    assert [m["content"] for m in reply.messages] == ["answer to why?"]
    assert reply.ephemeral  # ephemerality comes from the defer
    assert not int(reply.message["flags"]) & MessageFlag.LOADING
    # "thinking..." is not an answer: the follow-up that replaced it is.
    assert interaction.delivered_at <= interaction.acknowledged_at < interaction.answered_at


async def test_late_acknowledgement_is_rejected(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    fake_discord.ack_deadline = 0.2  # Discord's 3 s, shortened to keep the test quick
    async with running_bot(ProbeBot(), fake_discord) as bot:
        bot.late_delay = 0.4
        interaction = await fake_discord.slash_command(guild, channel, member, "late")
        await fake_discord.wait_for(lambda: bot.errors, what="the bot's failed response")
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062
    assert interaction.callback_type is None
    assert interaction.rejections == [(404, {"code": 10062, "message": "Unknown interaction"})]


async def test_second_acknowledgement_and_early_followup_are_rejected(
        fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord):
        answered = await fake_discord.slash_command(guild, channel, member, "echo", {"text": "a"})
        await fake_discord.wait_for_response(answered)
        # No view listens for this button: discord.py never acknowledges it.
        message = (await fake_discord.wait_for_response(answered)).message
        message["components"] = [{"type": 1, "components": [
            {"type": 2, "style": 1, "custom_id": "nobody", "label": "x"}]}]
        ignored = await fake_discord.send_interaction(fake_discord.interaction_payload(
            3, {"custom_id": "nobody", "component_type": 2}, member, channel, message=message))
        await fake_discord.wait_for(lambda: ignored.delivered_at, what="delivery")
        base = fake_discord.api_base
        async with aiohttp.ClientSession() as session:
            callback = f"{base}/interactions/{answered.id}/{answered.token}/callback"
            async with session.post(callback, json={"type": 4, "data": {"content": "again"}},
                                    params={"with_response": "1"}) as resp:
                assert resp.status == 400
                assert (await resp.json())["code"] == 40060
            followup = f"{base}/webhooks/{fake_discord.application_id}/{ignored.token}"
            async with session.post(followup, json={"content": "too early"},
                                    params={"wait": "true"}) as resp:
                assert resp.status == 404
                assert (await resp.json())["code"] == 10015


async def test_mention_gets_reply_and_plain_message_has_no_content(
        fake_discord: FakeDiscord, world) -> None:
    _guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord) as bot:
        await fake_discord.send_message(channel, member, "just chatting")
        asked = await fake_discord.send_message(
            channel, member, f"{fake_discord.bot_user.mention} who went to the Met Gala?")
        reply = await fake_discord.wait_for_message(channel, reply_to=asked)
        await fake_discord.wait_for(lambda: bot.unmentioned, what="the unmentioned message")
    assert bot.unmentioned[0].content == ""  # no message-content intent, not mentioned
    assert reply["content"] == f"heard: {fake_discord.bot_user.mention} who went to the Met Gala?"
    # mention_author=False: the asker is not pinged (the echoed <@bot> still counts).
    assert [user["id"] for user in reply["mentions"]] == [str(fake_discord.bot_user.id)]
    assert reply["message_reference"]["message_id"] == asked["id"]


async def test_reply_to_bot_counts_as_mention(fake_discord: FakeDiscord, world) -> None:
    _guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord) as bot:
        asked = await fake_discord.send_message(channel, member, f"{bot.user.mention} hello")
        answer = await fake_discord.wait_for_message(channel, reply_to=asked)
        follow_up = await fake_discord.send_message(channel, member, "why?", reference=answer)
        second = await fake_discord.wait_for_message(channel, reply_to=follow_up)
        quiet = await fake_discord.send_message(channel, member, "and?", reference=answer,
                                                mention_author=False)
        await fake_discord.wait_for(lambda: bot.unmentioned, what="the quiet reply")
    assert second["content"] == "heard: why?"
    assert bot.unmentioned[0].id == int(quiet["id"]) and bot.unmentioned[0].content == ""


async def test_message_content_intent_shows_everything(fake_discord: FakeDiscord, world) -> None:
    _guild, channel, member, _ = world
    intents = discord.Intents.default()
    intents.message_content = True
    async with running_bot(ProbeBot(intents=intents), fake_discord) as bot:
        await fake_discord.send_message(channel, member, "just chatting")
        await fake_discord.wait_for(lambda: bot.unmentioned, what="the message")
    assert bot.unmentioned[0].content == "just chatting"


async def test_button_click_updates_the_message(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord):
        asked = await fake_discord.slash_command(guild, channel, member, "vote")
        shown = await fake_discord.wait_for_response(asked)
        assert shown.custom_ids() == ["probe:up"]
        click = await fake_discord.click_button(shown.message, "probe:up", member)
        clicked = await fake_discord.wait_for_response(click)
    assert clicked.callback_type == 7
    assert clicked.content == "thanks alice"
    assert clicked.components == []
    assert fake_discord.reply(asked).content == "thanks alice"  # the same message, edited


async def test_modal_submit(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord):
        opened = await fake_discord.slash_command(guild, channel, member, "form")
        shown = await fake_discord.wait_for_response(opened)
        assert shown.modal is not None and shown.modal["title"] == "Add an article"
        with pytest.raises(ClientWouldNotSend):  # min_length=5, enforced by the client
            await fake_discord.submit_modal(opened, {"title": "T", "body": "tiny"})
        submitted = await fake_discord.submit_modal(opened, {"title": "Gala", "body": "x" * 12})
        reply = await fake_discord.wait_for_response(submitted)
    assert reply.content == "saved Gala: 12 chars"
    assert reply.ephemeral


async def test_attachment_option_served_by_fake_cdn(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, _ = world
    upload = fake_discord.upload_attachment("note.txt", b"Kim went to Japan", "text/plain")
    async with running_bot(ProbeBot(), fake_discord):
        interaction = await fake_discord.slash_command(guild, channel, member, "library add",
                                                       {"file": upload})
        reply = await fake_discord.wait_for_response(interaction)
    assert reply.content == "note.txt: Kim went to Japan"


async def test_default_member_permissions(fake_discord: FakeDiscord, world) -> None:
    guild, channel, member, moderator = world
    async with running_bot(ProbeBot(), fake_discord):
        with pytest.raises(ClientWouldNotSend):
            await fake_discord.slash_command(guild, channel, member, "secret")
        as_mod = await fake_discord.slash_command(guild, channel, moderator, "secret")
        overridden = await fake_discord.slash_command(guild, channel, member, "secret",
                                                      bypass_default_permissions=True)
        assert (await fake_discord.wait_for_response(as_mod)).content == "welcome"
        assert (await fake_discord.wait_for_response(overridden)).content == "refused"
        with pytest.raises(ClientWouldNotSend):
            await fake_discord.slash_command(guild, channel, member, "echo", {"txt": "typo"})


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-4000", "reset"])
async def test_dropped_socket_resumes_and_replays(fake_discord: FakeDiscord, world,
                                                  abrupt: bool) -> None:
    guild, channel, member, _ = world
    async with running_bot(ProbeBot(), fake_discord) as bot:
        resumed = asyncio.Event()

        async def on_resumed() -> None:
            resumed.set()

        bot.add_listener(on_resumed)
        await fake_discord.gateway.drop_connection(abrupt=abrupt)
        # Sent while the bot is away: Discord keeps it and replays it on RESUME.
        missed = await fake_discord.slash_command(guild, channel, member, "echo",
                                                  {"text": "while away"})
        await fake_discord.wait_for_resume()
        await asyncio.wait_for(resumed.wait(), 5)
        after = await fake_discord.slash_command(guild, channel, member, "echo", {"text": "back"})
        assert (await fake_discord.wait_for_response(missed)).content == "echo: while away"
        assert (await fake_discord.wait_for_response(after)).content == "echo: back"
    paths = [connection.path for connection in fake_discord.gateway.connections]
    assert paths[1] == RESUME_GATEWAY_PATH
    assert fake_discord.gateway.identify_count == 1  # resumed, not re-identified


async def test_wrong_token_fails_login(fake_discord: FakeDiscord) -> None:
    bot = ProbeBot()
    # `async with` as Client.run does: a bare start() leaves the HTTP session open.
    with pytest.raises(discord.LoginFailure):
        async with bot:
            await bot.start("not-the-token")
    assert bot.is_closed()
    assert fake_discord.gateway.connections == []


async def test_gateway_rejects_wrong_token_with_4004(fake_discord: FakeDiscord) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
    await bot.login(fake_discord.token)
    bot.http.token = "revoked-since-login"
    with pytest.raises(discord.ConnectionClosed) as closed:
        await bot.connect()
    assert closed.value.code == 4004
    assert bot.is_closed()


async def test_disallowed_privileged_intent(fake_discord: FakeDiscord) -> None:
    fake_discord.enabled_privileged_intents = Intent.GUILD_MEMBERS
    intents = discord.Intents.default()
    intents.message_content = True
    bot = ProbeBot(intents=intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with bot:
            await bot.start(fake_discord.token)
    assert fake_discord.gateway.connections[0].close_code == 4014


async def test_clean_shutdown(fake_discord: FakeDiscord, world) -> None:
    gc.collect()  # earlier tests' garbage must not be counted against this bot's shutdown
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_bot(ProbeBot(), fake_discord) as bot:
            session = bot.http._HTTPClient__session  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        gc.collect()
    assert session.closed
    assert bot.is_closed()
    # Client.close() asks for 1000, but its reader task wakes first and closes with 4000
    # (discord.py 2.7 + aiohttp): either way the client, not the server, closed the socket.
    assert fake_discord.gateway.connections[-1].close_code in (1000, 4000)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
