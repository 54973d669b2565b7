"""Sharding in the fake Discord, proven with real discord.py clients: two bots identifying
as shards 0 and 1 of 2 each get only their own guilds and their guilds' events; one
AutoShardedBot running both shards gets everything."""

from __future__ import annotations

import discord
from discord.ext import commands

from .fixtures import running_bot
from .server import FakeDiscord


def where_bot(name: str, base: type[commands.Bot] = commands.Bot, **shards) -> commands.Bot:
    """A bot whose /where says which bot (which process, in a deployment) answered."""
    bot = base(command_prefix=commands.when_mentioned, intents=discord.Intents.default(),
               guild_ready_timeout=0.05, **shards)

    @bot.tree.command(description="Which bot answers here")
    async def where(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(name)

    async def setup_hook() -> None:
        await bot.tree.sync()

    async def identify_now(shard_id: int | None, *, initial: bool = False) -> None:
        return  # discord.py waits 5 s between IDENTIFYs (Discord's limit); the fake has none

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.before_identify_hook = identify_now  # type: ignore[method-assign]
    return bot


async def ask_where(fake: FakeDiscord, guild) -> str:
    member = next(m for m in guild.members.values() if m.user.username.startswith("fan"))
    asked = await fake.slash_command(guild, guild.channel_named("general"), member, "where")
    return (await fake.wait_for_response(asked)).content


async def test_each_guild_goes_to_the_shard_that_owns_it(fake_discord: FakeDiscord) -> None:
    zero = fake_discord.add_guild("Zero", shard=(0, 2))
    one = fake_discord.add_guild("One", shard=(1, 2))
    for guild in (zero, one):
        fake_discord.add_member(guild, f"fan-of-{guild.name}")
    async with (running_bot(where_bot("first", shard_id=0, shard_count=2), fake_discord)
                as first,
                running_bot(where_bot("second", shard_id=1, shard_count=2), fake_discord)
                as second):
        await fake_discord.wait_for(lambda: fake_discord.gateway.live_shards() == {0, 1},
                                    what="both shards")
        assert [guild.id for guild in first.guilds] == [zero.id]
        assert [guild.id for guild in second.guilds] == [one.id]
        assert [await ask_where(fake_discord, guild) for guild in (zero, one, zero)] == [
            "first", "second", "first"]
        fake_discord.gateway.move_guild(zero.id, 1)  # as after resharding
        assert await ask_where(fake_discord, zero) == "second"
    assert fake_discord.unknown_requests == []


async def test_one_auto_sharded_bot_runs_both_shards(fake_discord: FakeDiscord) -> None:
    guilds = [fake_discord.add_guild(name, shard=(n, 2)) for n, name in enumerate("AB")]
    for guild in guilds:
        fake_discord.add_member(guild, f"fan-of-{guild.name}")
    bot = where_bot("auto", commands.AutoShardedBot, shard_ids=[0, 1], shard_count=2)
    async with running_bot(bot, fake_discord):
        await fake_discord.wait_for(lambda: fake_discord.gateway.live_shards() == {0, 1},
                                    what="both shards")
        await fake_discord.wait_for(lambda: len(bot.guilds) == 2, what="both guilds")
        assert {guild.shard_id for guild in bot.guilds} == {0, 1}
        assert [await ask_where(fake_discord, guild) for guild in guilds] == ["auto", "auto"]
