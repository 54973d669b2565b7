"""`/sources topic:<text>`: the distinct articles held on a topic, with dates."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.options import limit_text_option
from bot.render import hits_embed
from bot.respond import result_or_defer, send_result
from bot.services import Services
from index.errors import EmptyIndexError
from index.library import Library, normalise_question
from index.results import Hit

SOURCES_SHOWN = 10
NO_SOURCES = "I don't hold any articles on that yet."


def find_sources(library: Library, topic: str, *, guild_id: int | None) -> list[Hit]:
    """Best-matching articles, one hit each (blocking); none when the library is empty."""
    try:
        return library.search(topic, guild_id=guild_id, k=SOURCES_SHOWN)
    except EmptyIndexError:
        return []


class SourcesCog(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services
        limit_text_option(self.sources, "topic", max_length=services.settings.max_question_chars)

    @app_commands.command(name="sources", description="List the articles I hold on a topic.")
    @app_commands.describe(topic="A person, event or subject, e.g. Met Gala")
    async def sources(self, interaction: discord.Interaction, topic: str) -> None:
        topic = normalise_question(topic, self.services.settings.max_question_chars)
        await self.services.check_cooldown(interaction.guild_id, interaction.user.id, "sources")
        searching = asyncio.ensure_future(self.services.run_search(
            find_sources, self.services.library, topic, guild_id=interaction.guild_id
        ))
        deferred = await result_or_defer(interaction, searching,
                                         within_ms=self.services.settings.answer_within_ms)
        hits = await searching
        await send_result(interaction, deferred=deferred,
                          embed=hits_embed(f"Articles on “{topic}”", hits, empty=NO_SOURCES))
