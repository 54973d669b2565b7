"""What the cogs need, handed to them by the bot's setup_hook."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from discord import app_commands

from bot.answers import AnswerMemory
from bot.cooldowns import Cooldowns, MemberCooldowns
from bot.settings import Settings
from bot.state import BotState
from index.batching import BatchingEmbedder
from index.errors import DatabaseUnavailableError
from index.feeds import Feeds
from index.library import Library

T = TypeVar("T")
# Checks that run before an interaction is acknowledged (Discord allows 3 s) and may wait on
# the database get this long, in threads of their own (never queued behind answers being
# computed); past it the database counts as unavailable and the member is told so in time.
BEFORE_ACK_SECONDS = 1.5
_before_ack_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="before-ack")


async def before_ack(function: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    call = loop.run_in_executor(_before_ack_threads, functools.partial(function, *args))
    try:
        return await asyncio.wait_for(call, BEFORE_ACK_SECONDS)
    except TimeoutError:
        raise DatabaseUnavailableError(
            f"The database did not answer within {BEFORE_ACK_SECONDS:g} s") from None


@dataclass
class Services:
    settings: Settings
    library: Library
    state: BotState
    cooldowns: Cooldowns = field(default_factory=MemberCooldowns)
    feeds: Feeds | None = None  # set in setup_hook
    # The question behind each answer message, saved in batches (bot/answers.py).
    answers: AnswerMemory = field(init=False, repr=False)
    # The question threads (run_search), made at the first question.
    _search_pool: ThreadPoolExecutor | None = field(default=None, init=False,
                                                    repr=False)

    def __post_init__(self) -> None:
        self.answers = AnswerMemory(self.state)

    def cooldown_for(self, guild_id: int | None) -> float:
        """Seconds between questions for one member: the server's choice, else the default."""
        if guild_id is not None:
            chosen = self.state.guild(guild_id).cooldown_seconds
            if chosen is not None:
                return chosen
        return self.settings.cooldown_seconds

    async def check_cooldown(self, guild_id: int | None, user_id: int, kind: str) -> None:
        """Count one use, or raise CommandOnCooldown (the global handler words it)."""
        per = self.cooldown_for(guild_id)
        key = (guild_id, user_id, kind)
        if self.cooldowns.blocking:
            retry_after = await before_ack(self.cooldowns.try_use, key, per)
        else:
            retry_after = self.cooldowns.try_use(key, per)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, per), retry_after)

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.settings.owner_ids

    def prefetch_question(self, question: str) -> None:
        """Queue the question's embedding now, from the event loop: a burst then reaches
        the model in a few big batches instead of at most `ask_workers` at a time."""
        embedder = self.library.embedder
        if isinstance(embedder, BatchingEmbedder):
            embedder.prefetch(question)

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
