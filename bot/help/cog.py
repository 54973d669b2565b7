"""`/help`: what Spotlight does, how many articles it knows and how fresh they are."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import ANSWER_COLOUR, escape_title, fit_embed, relative_time, short_date
from bot.services import Services
from index.library import Library
from index.results import ArticleInfo, IndexInfo

HOW_TO = (
    "I answer questions about celebrities from the news articles I hold, quoting the "
    "sentences that answer and citing each article. If my articles don't cover something, "
    "I say so instead of guessing."
)
MEMBER_COMMANDS = (
    "`/ask question:` — ask (add `private:True` to see the answer alone)\n"
    "`@Spotlight your question` — ask in the channel; reply to an answer to follow up\n"
    "`/sources topic:` — the articles I hold on a topic\n"
    "👍 / 👎 under an answer — tell the moderators what worked"
)
MODERATOR_COMMANDS = (
    "`/library add` (url, file or pasted text), `/library remove`, `/library list`, "
    "`/library search`, `/library stats`, `/settings channels`, `/settings cooldown` "
    "— need Manage Server"
)


def help_embed(info: IndexInfo, newest: ArticleInfo | None) -> discord.Embed:
    embed = discord.Embed(title="Spotlight", description=HOW_TO, colour=ANSWER_COLOUR)
    embed.add_field(name="Ask", value=MEMBER_COMMANDS, inline=False)
    library = f"{info.articles:,} articles ({info.passages:,} passages), updated " + relative_time(
        info.updated_at
    )
    if newest is not None:
        dated = f" ({short_date(newest.date)})" if newest.date else ""
        library += f"\nNewest: {escape_title(newest.title)}{dated}"
    embed.add_field(name="What I know", value=library, inline=False)
    embed.add_field(name="Moderators", value=MODERATOR_COMMANDS, inline=False)
    return fit_embed(embed)


def library_overview(
    library: Library, guild_id: int | None
) -> tuple[IndexInfo, ArticleInfo | None]:
    """Counts and the most recently added article visible here (blocking)."""
    newest = library.list_articles(guild_id=guild_id, limit=1)
    return library.info(guild_id=guild_id), (newest[0] if newest else None)


class HelpCog(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="help", description="What I can do and what I know.")
    async def help(self, interaction: discord.Interaction) -> None:
        info, newest = await asyncio.to_thread(
            library_overview, self.services.library, interaction.guild_id
        )
        await interaction.response.send_message(embed=help_embed(info, newest), ephemeral=True)
