"""What the cogs need, handed to them by the bot's setup_hook."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from discord import app_commands

from bot.cooldowns import MemberCooldowns
from bot.settings import Settings
from bot.state import BotState
from index.feeds import Feeds
from index.library import Library

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    library: Library
    state: BotState
    cooldowns: MemberCooldowns = field(default_factory=MemberCooldowns)
    feeds: Feeds | None = None  # set in setup_hook
    # The question threads (run_search), made at the first question.
    _search_pool: ThreadPoolExecutor | None = field(default=None, init=False,
                                                    repr=False)

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

    async def run_search(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """function(*args, **kwargs), blocking search or answering, on the question threads:
        at most settings.ask_workers at once, off the event loop. A burst of questions waits
        its turn in their queue instead of taking a thread each, and leaves the threads of
        the bot's other blocking calls (asyncio.to_thread) free."""
        if self._search_pool is None:
            self._search_pool = ThreadPoolExecutor(max_workers=self.settings.ask_workers,
                                                   thread_name_prefix="ask")
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._search_pool, call)

    async def close_search(self) -> None:
        """Drop the questions still queued and wait, off the loop, for those being answered."""
        pool, self._search_pool = self._search_pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
