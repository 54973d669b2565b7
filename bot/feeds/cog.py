"""`/feeds add|list|remove|check` for moderators (Manage Server), and the background poller.

A server's feeds feed that server's own library only. The poll runs in a worker thread
(asyncio.to_thread), so the event loop (and every /ask) never waits for a download or an
embedding; it starts with the cog (in setup_hook) and stops when the bot closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.feeds.announce import announce
from bot.feeds.render import check_message, feeds_embed, subscribed_message
from bot.library.ingest import check_url
from bot.render import truncate
from bot.services import Services
from index.errors import DatabaseUnavailableError
from index.feeds import FeedError, Feeds, PollResult

log = logging.getLogger(__name__)

moderator_only = app_commands.checks.has_permissions(manage_guild=True)
MAX_FEEDS_PER_SERVER = 20
# How long closing waits for a poll in progress (it starts nothing new once asked to stop).
STOP_WAIT_SECONDS = 10.0


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class FeedsCog(commands.GroupCog, group_name="feeds", group_description="Follow news feeds"):
    def __init__(self, bot: discord.Client, services: Services, feeds: Feeds) -> None:
        self.bot = bot
        self.services = services
        self.feeds = feeds
        self._task: asyncio.Task | None = None
        self._polling: asyncio.Future | None = None
        super().__init__()

    # -- the background poll -------------------------------------------------------------
    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._poll_forever(), name="spotlight-feeds")

    async def cog_unload(self) -> None:
        self.feeds.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._polling is not None and not self._polling.done():
            # The worker thread cannot be cancelled; let it finish what it is writing.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._polling), STOP_WAIT_SECONDS)

    async def _poll_forever(self) -> None:
        try:
            await self.bot.wait_until_ready()
        except RuntimeError:  # set up without logging in (tests of the command tree)
            return
        while True:
            wait = self.feeds.config.wake_seconds
            try:
                self._polling = asyncio.ensure_future(asyncio.to_thread(self.feeds.poll_round))
                results, wait = await asyncio.shield(self._polling)
                await self._announce(results)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailableError as error:  # an outage: one line, no traceback
                log.warning("Feed poll round skipped (%s); trying again in %.0f s", error, wait)
            except Exception:  # one bad round must never end the poller
                log.exception("Feed poll round failed; trying again in %.0f s", wait)
            await asyncio.sleep(wait)

    async def _announce(self, results: list[PollResult]) -> None:
        for result in results:
            await announce(self.bot, self.feeds, result)

    # -- commands -----------------------------------------------------------------------
    @app_commands.command(name="add", description="Follow an RSS or Atom feed")
    @app_commands.describe(url="The feed's address (RSS or Atom)",
                           announce="Post new stories from it in this channel")
    @moderator_only
    async def add(self, interaction: discord.Interaction, url: str,
                  announce: discord.TextChannel | None = None) -> None:
        url = check_url(url)
        guild_id = interaction.guild_id
        feeds = self.feeds
        held = await asyncio.to_thread(feeds.list, guild_id=guild_id)
        if len(held) >= MAX_FEEDS_PER_SERVER and all(f.url != url for f in held):
            raise UserFacingError(f"A server can follow {MAX_FEEDS_PER_SERVER} feeds; "
                                  "remove one with /feeds remove first.")
        if announce is not None and interaction.guild is not None:
            allowed = announce.permissions_for(interaction.guild.me)
            if not (allowed.view_channel and allowed.send_messages and allowed.embed_links):
                raise UserFacingError(f"I can't post embeds in {announce.mention}: give me "
                                      "View Channel, Send Messages and Embed Links there.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Checked at once: a wrong address is said now, and its stories are answerable
        # when this returns (they are not announced: a back catalogue is not news).
        try:
            feed, created, result = await asyncio.to_thread(
                feeds.subscribe_and_check, url, guild_id=guild_id, origin="discord",
                announce_channel=announce.id if announce else None)
        except FeedError as error:
            raise UserFacingError(str(error)) from None
        if result is not None and result.outcome in ("error", "gone") and created:
            await asyncio.to_thread(feeds.unsubscribe, feed.url, guild_id=guild_id)
            raise UserFacingError(truncate(f"Not subscribed: {result.error}", 1900))
        if result is None:  # another poller holds it right now; it is subscribed anyway
            message = "Subscribed; its first check is under way."
        else:
            checked = await asyncio.to_thread(feeds.store.by_id, feed.id)  # with its title
            result = dataclasses.replace(result, feed=checked or feed)
            message = subscribed_message(result, created=created,
                                         interval_minutes=feeds.config.interval_seconds / 60)
        await interaction.followup.send(message, ephemeral=True)

    @app_commands.command(name="list", description="The feeds this server follows")
    @moderator_only
    async def list_feeds(self, interaction: discord.Interaction) -> None:
        held = await asyncio.to_thread(self.feeds.list, guild_id=interaction.guild_id)
        await interaction.response.send_message(embed=feeds_embed(held), ephemeral=True)

    @app_commands.command(name="remove", description="Stop following a feed")
    @app_commands.describe(url="The feed's address (see /feeds list)")
    @moderator_only
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        removed = await asyncio.to_thread(self.feeds.unsubscribe, url,
                                          guild_id=interaction.guild_id)
        if not removed:
            raise UserFacingError("This server does not follow that feed (see /feeds list).")
        await interaction.response.send_message(
            "Unsubscribed. The articles it brought stay (remove them with /library remove).",
            ephemeral=True)

    @remove.autocomplete("url")
    async def remove_autocomplete(self, interaction: discord.Interaction,
                                  current: str) -> list[app_commands.Choice[str]]:
        held = await asyncio.to_thread(self.feeds.list, guild_id=interaction.guild_id)
        needle = current.casefold().strip()
        return [app_commands.Choice(name=truncate(feed.title or feed.url, 100),
                                    value=feed.url[:100])
                for feed in held
                if needle in feed.url.casefold() or needle in (feed.title or "").casefold()
                ][:25]

    @app_commands.command(name="check", description="Check this server's feeds now")
    @moderator_only
    async def check(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id
        results = await asyncio.to_thread(self.feeds.check, guild_id=guild_id)
        await self._announce(results)
        following = len(await asyncio.to_thread(self.feeds.list, guild_id=guild_id))
        await interaction.followup.send(check_message(results, following=following),
                                        ephemeral=True)
