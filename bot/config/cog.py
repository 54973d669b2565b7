"""`/settings channels` and `/settings cooldown` for moderators (Manage Server)."""

from __future__ import annotations

import asyncio
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.services import Services
from bot.state import GuildSettings

moderator_only = app_commands.checks.has_permissions(manage_guild=True)
MAX_COOLDOWN_SECONDS = 3600
MAX_RETENTION_DAYS = 3650


def channels_summary(settings: GuildSettings) -> str:
    if not settings.answer_channels:
        return "I answer mentions in every channel I can read."
    listed = ", ".join(f"<#{channel_id}>" for channel_id in sorted(settings.answer_channels))
    return f"I answer mentions only in: {listed}. /ask works everywhere."


def cooldown_summary(seconds: float, *, is_default: bool) -> str:
    if seconds <= 0:
        return "No cooldown: members can ask as often as they like."
    origin = " (the default)" if is_default else ""
    return f"Each member can ask once every {seconds:g} s{origin}."


def retention_summary(days: int | None) -> str:
    if not days:
        return "Articles from this server's feeds are kept until removed."
    return (f"Articles from this server's feeds are dropped {days} days after they were "
            "published (within a minute of setting this, then as they age).")


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ConfigCog(commands.GroupCog, group_name="settings", group_description="Spotlight settings"):
    def __init__(self, services: Services) -> None:
        self.services = services
        super().__init__()

    @app_commands.command(name="channels", description="Where I answer when mentioned")
    @app_commands.describe(
        action="add or remove a channel, clear the list (answer everywhere), or show it",
        channel="The channel to add or remove",
    )
    @moderator_only
    async def channels(
        self,
        interaction: discord.Interaction,
        action: Literal["show", "add", "remove", "clear"] = "show",
        channel: discord.TextChannel | None = None,
    ) -> None:
        state = self.services.state
        guild_id = interaction.guild_id
        if action in ("add", "remove") and channel is None:
            raise UserFacingError(f"Pick the channel to {action}.")
        if action == "add":
            await asyncio.to_thread(state.add_answer_channel, guild_id, channel.id)
        elif action == "remove":
            if not await asyncio.to_thread(state.remove_answer_channel, guild_id, channel.id):
                raise UserFacingError(f"{channel.mention} was not in the list.")
        elif action == "clear":
            await asyncio.to_thread(state.clear_answer_channels, guild_id)
        await interaction.response.send_message(
            channels_summary(state.guild(guild_id)), ephemeral=True
        )

    @app_commands.command(name="cooldown", description="How often each member may ask")
    @app_commands.describe(seconds="Seconds between questions per member (0: no cooldown)")
    @moderator_only
    async def cooldown(
        self,
        interaction: discord.Interaction,
        seconds: app_commands.Range[int, 0, MAX_COOLDOWN_SECONDS] | None = None,
    ) -> None:
        guild_id = interaction.guild_id
        if seconds is not None:
            await asyncio.to_thread(self.services.state.set_cooldown, guild_id, float(seconds))
        is_default = self.services.state.guild(guild_id).cooldown_seconds is None
        await interaction.response.send_message(
            cooldown_summary(self.services.cooldown_for(guild_id), is_default=is_default),
            ephemeral=True,
        )

    @app_commands.command(name="retention", description="How long feed articles are kept")
    @app_commands.describe(days="Drop this server's feed articles older than this (0: keep)")
    @moderator_only
    async def retention(
        self,
        interaction: discord.Interaction,
        days: app_commands.Range[int, 0, MAX_RETENTION_DAYS] | None = None,
    ) -> None:
        feeds = self.services.feeds
        if feeds is None:
            raise UserFacingError("Feeds are not running in this bot.")
        guild_id = interaction.guild_id
        if days is not None:
            await asyncio.to_thread(feeds.set_retention, guild_id=guild_id, days=days or None)
        current = await asyncio.to_thread(feeds.retention, guild_id=guild_id)
        await interaction.response.send_message(retention_summary(current), ephemeral=True)
