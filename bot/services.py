"""What the cogs need, handed to them by the bot's setup_hook."""

from __future__ import annotations

from dataclasses import dataclass, field

from discord import app_commands

from bot.cooldowns import MemberCooldowns
from bot.settings import Settings
from bot.state import BotState
from index.feeds import Feeds
from index.library import Library


@dataclass
class Services:
    settings: Settings
    library: Library
    state: BotState
    cooldowns: MemberCooldowns = field(default_factory=MemberCooldowns)
    feeds: Feeds | None = None  # set in setup_hook

    def cooldown_for(self, guild_id: int | None) -> float:
        """Seconds between questions for one member: the server's choice, else the default."""
        if guild_id is not None:
            chosen = self.state.guild(guild_id).cooldown_seconds
            if chosen is not None:
                return chosen
        return self.settings.cooldown_seconds

    def check_cooldown(self, guild_id: int | None, user_id: int, kind: str) -> None:
        """Count one use, or raise CommandOnCooldown (the global handler words it)."""
        per = self.cooldown_for(guild_id)
        retry_after = self.cooldowns.try_use((guild_id, user_id, kind), per)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, per), retry_after)

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.settings.owner_ids
