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
