"""Answering a slash command with its result as the reply itself when the result is ready
soon, and with "thinking..." first when it is not.

Discord wants the first response to an interaction within 3 s. Deferring at once ("thinking...")
then sending a follow-up costs two requests per answer; a reply that is ready within
`Settings.answer_within_ms` is sent as the response itself, in one. Under a burst of
questions that halves the bot's Discord requests for most of them, and a member who gets
an answer in half a second never sees a "thinking..." flash before it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

import discord

T = TypeVar("T")


def reply_budget(created_at: datetime, within_ms: float, now: datetime | None = None) -> float:
    """Seconds still to wait for a result that is to be the reply itself: `within_ms` from
    the interaction's creation (Discord's clock, from its id). A local clock behind
    Discord's counts as no time passed: never more than `within_ms` is waited."""
    now = now or datetime.now(UTC)
    age = max(0.0, (now - created_at).total_seconds())
    return max(0.0, within_ms / 1000.0 - age)


async def result_or_defer(interaction: discord.Interaction, work: asyncio.Future[T], *,
                          within_ms: float, ephemeral: bool = False) -> bool:
    """Wait for `work` while its result can still be the reply; past that, defer with
    "thinking...". True when deferred (the result then goes out as a follow-up). `work`
    keeps running either way; if deferring fails it is cancelled."""
    budget = reply_budget(interaction.created_at, within_ms)
    if budget > 0:
        done, _ = await asyncio.wait({work}, timeout=budget)
        if done:
            return False
    try:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    except BaseException:
        work.cancel()
        raise
    return True


async def send_result(interaction: discord.Interaction, *, deferred: bool,
                      **message: Any) -> discord.Message | None:
    """Send the result: as a follow-up replacing "thinking..." when deferred, else as the
    response itself. The message sent, when Discord returned it."""
    if deferred:
        return await interaction.followup.send(wait=True, **message)
    callback = await interaction.response.send_message(**message)
    resource = callback.resource
    return resource if isinstance(resource, discord.Message) else None
