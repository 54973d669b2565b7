"""`/library …` for moderators (Manage Server): add, remove, list, search, stats.

Every reply is ephemeral. Articles a server adds belong to that server alone; removal is
limited to the server's own articles (operators in SPOTLIGHT_OWNER_IDS may also remove
global ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import discord
from discord import app_commands, ui
from discord.ext import commands

import corpus
from bot.errors import UserFacingError, report_error
from bot.library.ingest import (
    MAX_ARTICLES_PER_ADD,
    add_blocking,
    add_summary,
    check_upload,
    check_url,
    parse_upload_blocking,
    pasted_article,
)
from bot.library.pages import ArticlePager, search_embed, stats_embed
from bot.options import limit_text_option
from bot.render import truncate
from bot.services import Services
from corpus.records import Article
from index.errors import EmptyIndexError
from index.library import normalise_question

# Checked at run time too: default permissions are only a default a server can change.
moderator_only = app_commands.checks.has_permissions(manage_guild=True)

# The form's id is made unique per opening (see paste_form_id): discord.py keeps one open
# modal per custom_id, so with a shared id a second moderator's form replaced the first and
# one of the two submissions was dropped. Its fields keep fixed ids (they are per form).
PASTE_MODAL_PREFIX = "spotlight:paste-form:"
PASTE_TITLE_ID = "spotlight:paste:title"
PASTE_TEXT_ID = "spotlight:paste:text"
PASTE_URL_ID = "spotlight:paste:url"
AUTOCOMPLETE_SCAN = 200  # own articles looked at per keystroke; Discord shows 25


def paste_form_id(interaction_id: int) -> str:
    """One id per opened form: the id of the command that opened it is unique already."""
    return f"{PASTE_MODAL_PREFIX}{interaction_id}"


class PasteArticleModal(ui.Modal, title="Add an article"):
    article_title = ui.Label(
        text="Title", component=ui.TextInput(custom_id=PASTE_TITLE_ID, max_length=256)
    )
    article_text = ui.Label(
        text="Article text",
        component=ui.TextInput(
            custom_id=PASTE_TEXT_ID, style=discord.TextStyle.paragraph, max_length=4000
        ),
    )
    article_url = ui.Label(
        text="Link (optional)",
        component=ui.TextInput(custom_id=PASTE_URL_ID, required=False, max_length=512),
    )

    def __init__(self, cog: LibraryCog, *, custom_id: str) -> None:
        # 15 minutes, like the interaction token: an abandoned modal does not linger.
        super().__init__(custom_id=custom_id, timeout=900)
        self.cog = cog

    @staticmethod
    def _value(label: ui.Label) -> str:
        return str(label.component).strip()

    async def on_submit(self, interaction: discord.Interaction) -> None:
        url = self._value(self.article_url)
        if url:
            check_url(url)
        article = pasted_article(
            self._value(self.article_title), self._value(self.article_text), url or None
        )
        await self.cog.add(interaction, [article])

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report_error(interaction, error)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class LibraryCog(commands.GroupCog, group_name="library", group_description="Curate articles"):
    def __init__(self, services: Services) -> None:
        self.services = services
        super().__init__()
        limit_text_option(self.search, "query", max_length=services.settings.max_question_chars)

    async def add(
        self,
        interaction: discord.Interaction,
        articles: list[Article],
        *,
        offered: int | None = None,
        left_out: Sequence[str] = (),
    ) -> None:
        """Add to this server's scope and confirm; answerable as soon as this returns."""
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        report, kept = await asyncio.to_thread(
            add_blocking, self.services.library, articles, guild_id=interaction.guild_id
        )
        summary = add_summary(report, kept, offered=offered or len(articles), left_out=left_out)
        await interaction.followup.send(summary, ephemeral=True)

    @app_commands.command(name="add", description="Add an article: a link, a file, or paste it")
    @app_commands.describe(
        url="A web page or RSS feed to fetch",
        file="A .txt, .md, .html, .json or .jsonl file",
    )
    @moderator_only
    async def add_command(
        self,
        interaction: discord.Interaction,
        url: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        settings = self.services.settings
        if url and file:
            raise UserFacingError("Give a link or a file, not both.")
        if url:
            url = check_url(url)
            await interaction.response.defer(ephemeral=True, thinking=True)
            articles = await asyncio.to_thread(
                corpus.fetch_url,
                url,
                timeout=settings.fetch_timeout,
                max_bytes=settings.fetch_max_bytes,
                max_feed_items=MAX_ARTICLES_PER_ADD,
                allow_private_hosts=settings.allow_private_urls,
            )
        elif file:
            check_upload(file.filename, file.size, max_bytes=settings.max_upload_bytes)
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await file.read()
            articles, left_out = await asyncio.to_thread(
                parse_upload_blocking, file.filename, data)
            await self.add(interaction, articles, left_out=left_out)
            return
        else:
            # A modal must be the first response, so no defer before it.
            form = PasteArticleModal(self, custom_id=paste_form_id(interaction.id))
            await interaction.response.send_modal(form)
            return
        await self.add(interaction, articles)

    @app_commands.command(name="remove", description="Remove one of this server's articles")
    @app_commands.describe(article_id="The article's id (see /library list or search)")
    @moderator_only
    async def remove(self, interaction: discord.Interaction, article_id: str) -> None:
        library = self.services.library
        article_id = article_id.strip()
        removed = await asyncio.to_thread(library.remove, article_id, guild_id=interaction.guild_id)
        if not removed and self.services.is_owner(interaction.user.id):
            removed = await asyncio.to_thread(library.remove, article_id, guild_id=None)
        if not removed:
            raise UserFacingError(
                f"No article `{truncate(article_id, 100)}` among this server's own articles."
            )
        await interaction.response.send_message(
            f"Removed `{article_id}`; it no longer appears in answers.", ephemeral=True
        )

    @remove.autocomplete("article_id")
    async def remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        articles = await asyncio.to_thread(
            self.services.library.list_articles,
            guild_id=interaction.guild_id,
            own_only=True,
            limit=AUTOCOMPLETE_SCAN,
        )
        needle = current.casefold().strip()
        return [
            app_commands.Choice(
                name=truncate(f"{article.title} ({article.article_id})", 100),
                value=article.article_id,
            )
            for article in articles
            if needle in article.title.casefold() or needle in article.article_id.casefold()
        ][:25]

    @app_commands.command(name="list", description="Browse the articles this server can ask about")
    @moderator_only
    async def list_articles(self, interaction: discord.Interaction) -> None:
        pager = ArticlePager(
            self.services.library, guild_id=interaction.guild_id, user_id=interaction.user.id
        )
        embed = await pager.render(0)
        await interaction.response.send_message(embed=embed, view=pager, ephemeral=True)
        pager.interaction = interaction

    @app_commands.command(name="search", description="Find articles and their ids")
    @app_commands.describe(query="Words to look for")
    @moderator_only
    async def search(self, interaction: discord.Interaction, query: str) -> None:
        query = normalise_question(query, self.services.settings.max_question_chars)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            hits = await asyncio.to_thread(
                self.services.library.search, query, guild_id=interaction.guild_id, k=10
            )
        except EmptyIndexError:
            hits = []
        await interaction.followup.send(embed=search_embed(query, hits), ephemeral=True)

    @app_commands.command(name="stats", description="What members ask, and what is missing")
    @moderator_only
    async def stats(self, interaction: discord.Interaction) -> None:
        library = self.services.library
        info, stats = await asyncio.gather(
            asyncio.to_thread(library.info, guild_id=interaction.guild_id),
            asyncio.to_thread(library.question_stats, guild_id=interaction.guild_id),
        )
        await interaction.response.send_message(embed=stats_embed(info, stats), ephemeral=True)
