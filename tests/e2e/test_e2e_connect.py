"""Connecting: the auto-sharded bot works with the same code; a wrong token fails cleanly
without the token reaching the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from bot.client import ShardedSpotlightBot, SpotlightBot
from index.library import Library
from tests.e2e.conftest import JAPAN_TITLE, World, make_settings
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import running_bot


async def test_auto_sharded_bot_answers(fake_discord: FakeDiscord, world: World,
                                        library: Library, tmp_path: Path) -> None:
    settings = make_settings(fake_discord, tmp_path, sharded=True)
    bot = ShardedSpotlightBot(settings=settings, library=library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        asked = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                                 {"question": "why was Kim criticized?"})
        reply = await fake_discord.wait_for_response(asked)
    assert JAPAN_TITLE in reply.text()
    assert fake_discord.requests_to("GET", "/gateway/bot")  # sharding asks Discord first
    identify = next(p for p in fake_discord.gateway.connections[0].received if p["op"] == 2)
    assert identify["d"]["shard"] == [0, 1]
    assert fake_discord.unknown_requests == []


async def test_wrong_token_fails_without_leaking_it(
        fake_discord: FakeDiscord, world: World, library: Library, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    wrong = "MTIz.wrong-token-value.xyz"
    settings = make_settings(fake_discord, tmp_path, token=wrong)
    bot = SpotlightBot(settings=settings, library=library)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(discord.LoginFailure):
        async with bot:  # what Client.run does; closes the bot on the way out
            await bot.start(wrong)
    assert bot.is_closed()
    assert fake_discord.gateway.connections == []
    assert wrong not in caplog.text
    assert wrong not in repr(settings)
