"""The Discord client: wires the services into the cogs and syncs the slash commands.

`SpotlightBot` is a `commands.Bot`; `ShardedSpotlightBot` is the same bot on
`commands.AutoShardedBot`, for deployments past ~2,500 servers (where Discord requires
sharding). Both share every line through `SpotlightMixin`.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import discord
from discord.ext import commands

from bot.ask.cog import AskCog
from bot.backends import make_cooldowns, open_state
from bot.config.cog import ConfigCog
from bot.errors import SpotlightTree
from bot.feedback.buttons import FeedbackButton
from bot.feeds.cog import FeedsCog
from bot.feeds.setup import open_feeds
from bot.help.cog import HelpCog
from bot.library.cog import LibraryCog
from bot.services import Services
from bot.settings import Settings
from bot.sources.cog import SourcesCog
from bot.state import BotState
from index.feeds import FeedConfig
from index.library import Library

log = logging.getLogger(__name__)

# The young generation is collected every this many new container objects (CPython: 700).
GC_YOUNG_THRESHOLD = 7000
_gc_settled = False  # settle_gc ran in this process


def settle_gc() -> None:
    """Once the bot is up, what it loaded to serve (the library, the model, discord.py's
    caches) lives as long as the process: the cyclic garbage collector stops walking it
    (`gc.freeze`), and walks the young generation a tenth as often. In bursts of questions a
    full collection over the ~100k startup objects held the GIL for 80-140 ms and young
    ones for 10-30 ms (the question threads took their turns in between), the event loop's
    worst stalls (benchmarks/load.py); objects still die by reference counting as before."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)


def default_intents() -> discord.Intents:
    """No privileged intents: a message that mentions the bot carries its content anyway."""
    return discord.Intents(guilds=True, guild_messages=True)


class SpotlightMixin:
    """Everything Spotlight adds to a discord.py bot class (plain or auto-sharded)."""

    services: Services

    def __init__(
        self,
        *,
        settings: Settings,
        library: Library,
        state: BotState | None = None,
        sync_commands: bool = True,
        feed_config: FeedConfig | None = None,
        tune_gc: bool = False,
        **kwargs: Any,
    ) -> None:
        options: dict[str, Any] = {
            "command_prefix": commands.when_mentioned,  # required; no prefix commands exist
            "intents": default_intents(),
            "allowed_mentions": discord.AllowedMentions.none(),
            "help_command": None,
            "tree_cls": SpotlightTree,
        }
        options.update(kwargs)
        super().__init__(**options)
        database = library.database  # PostgreSQL (shared by every process), or None
        self.services = Services(
            settings=settings,
            library=library,
            state=state if state is not None else open_state(settings, database),
            cooldowns=make_cooldowns(database),
        )
        self._owns_state = state is None
        self.sync_commands = sync_commands
        self._feed_config = feed_config
        self._tune_gc = tune_gc  # settle_gc at the first on_ready (the serving process's bot)

    async def setup_hook(self) -> None:
        services = self.services
        services.feeds = open_feeds(services.library, services.settings, self._feed_config)
        for cog in (
            AskCog(self, self.services),
            SourcesCog(self.services),
            HelpCog(self.services),
            LibraryCog(self.services),
            ConfigCog(self.services),
            FeedsCog(self, self.services, services.feeds),  # its poller starts here
        ):
            await self.add_cog(cog)
        # Feedback buttons carry their question id, so answers sent before a restart work.
        self.add_dynamic_items(FeedbackButton)
        if self.sync_commands:
            await self.sync_app_commands()

    async def sync_app_commands(self) -> None:
        """To the development server when set (instant), else globally (up to an hour)."""
        guild_id = self.services.settings.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to development server %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("Synced %d global commands", len(synced))

    async def on_message(self, message: discord.Message) -> None:
        # Replaces commands.Bot's prefix-command processing: questions by mention are
        # handled by the ask cog's listener, and there are no prefix commands.
        return

    async def on_ready(self) -> None:
        log.info("Logged in as %s in %d servers", self.user, len(self.guilds))
        global _gc_settled
        if self._tune_gc and not _gc_settled:
            _gc_settled = True
            settle_gc()

    async def close(self) -> None:
        await super().close()  # unloads the cogs: the feed poller stops first
        await self.services.close_search()  # questions being answered finish first
        await self.services.answers.flush()  # replies to the last answers stay follow-ups
        if self.services.feeds is not None:
            self.services.feeds.close()
        if self._owns_state:
            self.services.state.close()


class SpotlightBot(SpotlightMixin, commands.Bot):
    pass


class ShardedSpotlightBot(SpotlightMixin, commands.AutoShardedBot):
    pass


def make_bot(settings: Settings, library: Library, **kwargs: Any) -> commands.Bot:
    """The bot for these settings' shards: SPOTLIGHT_SHARD_IDS of SPOTLIGHT_SHARD_COUNT (one
    shard: a plain Bot identifying as it; several: AutoShardedBot running just those), else
    every shard (AutoShardedBot asking Discord how many with SPOTLIGHT_SHARDED, else one)."""
    kwargs.setdefault("tune_gc", True)  # the process serves with this bot
    ids, count = settings.shard_ids, settings.shard_count
    if ids is not None and len(ids) == 1:
        return SpotlightBot(settings=settings, library=library, shard_id=ids[0],
                            shard_count=count, **kwargs)
    if ids is not None:
        return ShardedSpotlightBot(settings=settings, library=library, shard_ids=list(ids),
                                   shard_count=count, **kwargs)
    bot_class = ShardedSpotlightBot if settings.sharded else SpotlightBot
    return bot_class(settings=settings, library=library, **kwargs)
