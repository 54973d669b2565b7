"""The bot as Discord sees it at registration: valid command payloads, moderator gating,
intents, mentions, persistent feedback buttons. No network: setup_hook runs without sync."""

from __future__ import annotations

import re
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.client import ShardedSpotlightBot, SpotlightBot
from bot.feedback.buttons import THANKS, FeedbackButton, feedback_view
from bot.settings import Settings
from bot.state import SqliteBotState
from index.embedder import FakeEmbedder
from index.library import Library

NAME = re.compile(r"^[-_\w]{1,32}$")
MODERATOR_GROUPS = {"library", "settings", "feeds"}


@pytest.fixture
async def bot(tmp_path):
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    spotlight = SpotlightBot(settings=Settings(data_dir=tmp_path), library=library,
                             state=SqliteBotState.open(":memory:"), sync_commands=False)
    await spotlight.setup_hook()
    yield spotlight
    await spotlight.close()
    library.close()


def walk(payload: dict, path: str = ""):
    """Every command and option payload, with its path."""
    yield path + payload["name"], payload
    for option in payload.get("options", []):
        yield from walk(option, path + payload["name"] + " ")


async def test_command_payloads_are_valid_for_discord(bot):
    payloads = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    assert {payload["name"] for payload in payloads} == {
        "ask", "sources", "help", "library", "settings", "feeds"
    }
    for payload in payloads:
        assert len(str(payload)) < 8000
        for path, item in walk(payload):
            assert NAME.match(item["name"]) and item["name"] == item["name"].lower(), path
            assert 1 <= len(item["description"]) <= 100, path
            options = item.get("options", [])
            assert len(options) <= 25, path
            required = [option.get("required", False) for option in options]
            assert required == sorted(required, reverse=True), f"{path}: required first"
            assert len(item.get("choices", [])) <= 25, path


async def test_moderator_groups_are_gated_by_default_and_at_run_time(bot):
    manage_guild = str(discord.Permissions(manage_guild=True).value)
    for group in bot.tree.get_commands():
        payload = group.to_dict(bot.tree)
        if group.name not in MODERATOR_GROUPS:
            assert payload["default_member_permissions"] is None
            continue
        assert str(payload["default_member_permissions"]) == manage_guild
        assert payload["contexts"] == [0]  # servers only
        for command in group.commands:
            member = SimpleNamespace(permissions=discord.Permissions(send_messages=True))
            moderator = SimpleNamespace(permissions=discord.Permissions(manage_guild=True))
            assert command.checks, f"{group.name} {command.name} has no run-time check"
            for check in command.checks:
                with pytest.raises(app_commands.MissingPermissions):
                    await discord.utils.maybe_coroutine(check, member)
                assert await discord.utils.maybe_coroutine(check, moderator)


async def test_no_privileged_intents_and_no_pings(bot):
    assert bot.intents.guilds and bot.intents.guild_messages
    assert not bot.intents.message_content and not bot.intents.members
    mentions = bot.allowed_mentions
    assert not (mentions.everyone or mentions.users or mentions.roles or mentions.replied_user)


async def test_the_sharded_bot_is_the_same_bot(tmp_path):
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    sharded = ShardedSpotlightBot(settings=Settings(data_dir=tmp_path), library=library,
                                  sync_commands=False)
    assert isinstance(sharded, commands.AutoShardedBot)
    await sharded.setup_hook()
    assert {command.name for command in sharded.tree.get_commands()} >= {"ask", "library"}
    assert (tmp_path / "bot.sqlite").exists()  # its own state file, under the data folder
    sharded.services.state.close()  # close() needs a started client; this one never logged in
    library.close()


def test_feedback_buttons_carry_their_question_in_the_custom_id():
    view = feedback_view(1234)
    assert view.timeout is None and view.is_persistent()
    ids = [item.custom_id for item in view.children]
    assert ids == ["spotlight:vote:up:1234", "spotlight:vote:down:1234"]
    match = FeedbackButton.__discord_ui_compiled_template__.fullmatch(ids[1])
    assert match and match["question_id"] == "1234" and match["vote"] == "down"


class VoteInteraction:
    def __init__(self, library) -> None:
        self.client = SimpleNamespace(services=SimpleNamespace(library=library))
        self.user = SimpleNamespace(id=55)
        self.sent: list[tuple[str, bool]] = []
        self.response = SimpleNamespace(is_done=lambda: False, send_message=self._send)

    async def _send(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


async def test_a_vote_is_stored_and_thanked_privately():
    votes = []

    class Library_:
        def record_feedback(self, question_id, *, user_id, vote):
            votes.append((question_id, user_id, vote))

    interaction = VoteInteraction(Library_())
    await FeedbackButton(1234, "down").callback(interaction)
    assert votes == [(1234, 55, -1)]
    assert interaction.sent == [(THANKS, True)]


async def test_a_vote_on_a_forgotten_answer_gets_a_clear_line():
    class Library_:
        def record_feedback(self, question_id, *, user_id, vote):
            raise KeyError(question_id)

    interaction = VoteInteraction(Library_())
    await FeedbackButton(1, "up").callback(interaction)
    assert interaction.sent == [("I no longer have that answer on record.", True)]
