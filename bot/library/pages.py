"""What moderators see: article pages (with Previous/Next), search results and stats."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence

import discord
from discord import ui

from bot.errors import report_error
from bot.render import (
    ANSWER_COLOUR,
    DISCORD,
    add_list_fields,
    escape_discord,
    escape_title,
    fit_embed,
    join_within,
    relative_time,
    source_line,
    truncate,
)
from index.library import Library
from index.results import ArticleInfo, Hit, IndexInfo, QuestionStats

PAGE_SIZE = 10
SNIPPET_CHARS = 180
PAGER_TIMEOUT_SECONDS = 600  # under the 15 minutes an interaction token can edit its reply


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / size))


def scope_label(article: ArticleInfo, guild_id: int | None) -> str:
    return "this server" if article.scope == str(guild_id) else "global"


def article_line(article: ArticleInfo, guild_id: int | None) -> str:
    line = source_line(
        title=article.title,
        url=article.url,
        date=article.date,
        source=article.source,
        style=DISCORD,
    )
    return f"`{article.article_id}` {line} · {scope_label(article, guild_id)}"


def articles_page_embed(
    articles: Sequence[ArticleInfo], *, page: int, total: int, guild_id: int | None
) -> discord.Embed:
    embed = discord.Embed(title="Library", colour=ANSWER_COLOUR)
    if articles:
        embed.description = join_within(
            [article_line(article, guild_id) for article in articles], 4096
        )
    else:
        embed.description = "No articles yet. Add one with `/library add`."
    embed.set_footer(text=f"Page {page + 1} of {page_count(total)} · {total:,} articles")
    return fit_embed(embed)


def search_embed(query: str, hits: Sequence[Hit]) -> discord.Embed:
    """Best passages with their article ids (for /library remove)."""
    lines = [
        f"{hit.rank}. `{hit.article_id}` "
        + source_line(title=hit.title, url=hit.url, date=hit.date, source=hit.source, style=DISCORD)
        + f"\n> {escape_discord(truncate(' '.join(hit.passage.split()), SNIPPET_CHARS))}"
        for hit in hits
    ]
    embed = discord.Embed(title=f"Search: {escape_title(query)}", colour=ANSWER_COLOUR)
    embed.description = join_within(lines, 4096, separator="\n\n") if lines else "No matches."
    return fit_embed(embed)


def stats_embed(info: IndexInfo, stats: QuestionStats) -> discord.Embed:
    """What the community asks that the library lacks."""
    embed = discord.Embed(title="Library stats", colour=ANSWER_COLOUR)
    share = f" ({stats.unanswered / stats.asked:.0%})" if stats.asked else ""
    for name, value in (
        ("Articles", f"{info.articles:,}"),
        ("Passages", f"{info.passages:,}"),
        ("Last update", relative_time(info.updated_at)),
        ("Questions asked", f"{stats.asked:,}"),
        ("Unanswered", f"{stats.unanswered:,}{share}"),
    ):
        embed.add_field(name=name, value=value, inline=True)
    add_list_fields(
        embed,
        "Most asked, not answered",
        [f"“{escape_title(question)}” ×{times}" for question, times in stats.top_unanswered]
        or ["None yet."],
    )
    add_list_fields(
        embed,
        "👎 answers",
        [f"“{escape_title(question)}” ×{votes}" for question, votes in stats.downvoted]
        or ["None yet."],
    )
    return fit_embed(embed)


def articles_page(
    library: Library, *, guild_id: int | None, page: int
) -> tuple[list[ArticleInfo], int, int]:
    """(articles, total, page) with `page` clamped to what exists now (blocking)."""
    total = library.count_articles(guild_id=guild_id)
    page = min(max(page, 0), page_count(total) - 1)
    articles = library.list_articles(guild_id=guild_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    return articles, total, page


class ArticlePager(ui.View):
    """Previous/Next over `/library list`; only the moderator who asked can turn pages."""

    def __init__(self, library: Library, *, guild_id: int | None, user_id: int) -> None:
        super().__init__(timeout=PAGER_TIMEOUT_SECONDS)
        self.library = library
        self.guild_id = guild_id
        self.user_id = user_id
        self.page = 0
        self.total = 0
        self.interaction: discord.Interaction | None = None  # to disable the buttons later

    async def render(self, page: int) -> discord.Embed:
        articles, self.total, self.page = await asyncio.to_thread(
            articles_page, self.library, guild_id=self.guild_id, page=page
        )
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= page_count(self.total) - 1
        return articles_page_embed(
            articles, page=self.page, total=self.total, guild_id=self.guild_id
        )

    @ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: ui.Button) -> None:
        embed = await self.render(self.page - 1)
        await interaction.response.edit_message(embed=embed, view=self)

    @ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: ui.Button) -> None:
        embed = await self.render(self.page + 1)
        await interaction.response.edit_message(embed=embed, view=self)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: ui.Item
    ) -> None:
        await report_error(interaction, error)

    async def on_timeout(self) -> None:
        if self.interaction is None:
            return
        # The message may have been dismissed already: nothing left to tidy then.
        with contextlib.suppress(discord.HTTPException):
            await self.interaction.edit_original_response(view=None)
