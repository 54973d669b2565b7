"""Posting new feed articles to a server's channel, and stopping cleanly when we can't."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.feeds.render import announcement
from index.feeds import Feeds, PollResult

log = logging.getLogger(__name__)


async def announce(client: discord.Client, feeds: Feeds, result: PollResult) -> bool:
    """Post `result`'s new articles to its feed's channel; False (and announcements for
    the feed switched off, with a log line and a note in /feeds list) when the channel is
    gone or the bot may not post there. Never pings anyone."""
    feed = result.feed
    # A feed's first check brings its back catalogue, not news: nothing is announced.
    if not result.added or feed.announce_channel is None or feed.last_success is None:
        return False
    content, embeds = announcement(result)
    try:
        channel = client.get_channel(feed.announce_channel) or await client.fetch_channel(
            feed.announce_channel)
        if not isinstance(channel, discord.abc.Messageable):
            raise TypeError("not a text channel")
        await channel.send(content, embeds=embeds,
                           allowed_mentions=discord.AllowedMentions.none())
    except (discord.NotFound, discord.Forbidden, TypeError) as error:
        reason = "the channel is gone" if isinstance(error, discord.NotFound) else (
            "I may not post there" if isinstance(error, discord.Forbidden)
            else "it is not a text channel")
        log.warning("Feed %s: announcements in channel %s stopped: %s", feed.url,
                    feed.announce_channel, reason)
        await asyncio.to_thread(feeds.store.stop_announcing, feed.id,
                                f"announcements stopped: {reason}")
        return False
    except discord.HTTPException as error:  # a hiccup: the next poll posts again
        log.warning("Feed %s: could not announce in channel %s (%s)", feed.url,
                    feed.announce_channel, error)
        return False
    return True
