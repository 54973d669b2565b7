"""What `/feeds` shows: plain functions from feed records to text and embeds (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.render import (
    EMBED_TITLE_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    MAX_FIELDS,
    MESSAGE_LIMIT,
    escape_discord,
    escape_title,
    join_within,
    relative_time,
    safe_url,
    short_date,
    truncate,
)
from index.feeds import Feed, NewArticle, PollResult

# A poll may bring dozens of stories; a channel gets at most this many per feed per poll.
MAX_ANNOUNCED = 5
FEEDS_COLOUR = discord.Colour.orange()
NO_FEEDS = ("This server follows no feeds yet. Add one with `/feeds add url:` (an RSS or "
            "Atom address); new stories become answerable within one check.")


def feed_name(feed: Feed) -> str:
    return escape_title(feed.title or feed.url)


def feed_status(feed: Feed) -> str:
    if feed.gone:
        return f"⛔ gone: {escape_discord(feed.last_error or 'the feed was removed')}"
    if feed.last_error:
        line = f"⚠️ {escape_discord(feed.last_error)}"
        if feed.last_success:
            line += f"\nlast successful check {relative_time(feed.last_success)}"
        return line
    if feed.last_success:
        return f"✅ checked {relative_time(feed.last_success)}"
    return "⏳ not checked yet"


def feeds_embed(feeds: Sequence[Feed]) -> discord.Embed:
    embed = discord.Embed(title="Feeds this server follows", colour=FEEDS_COLOUR)
    if not feeds:
        embed.description = NO_FEEDS
        return embed
    for feed in feeds[:MAX_FIELDS]:
        lines = [f"<{safe_url(feed.url) or escape_discord(feed.url)}>", feed_status(feed),
                 f"{feed.articles_added} articles added"]
        if feed.announce_channel:
            lines.append(f"announced in <#{feed.announce_channel}>")
        if feed.last_note:
            lines.append(f"note: {escape_discord(feed.last_note)}")
        embed.add_field(name=truncate(feed_name(feed), FIELD_NAME_LIMIT),
                        value=join_within(lines, FIELD_VALUE_LIMIT), inline=False)
    if len(feeds) > MAX_FIELDS:
        embed.set_footer(text=f"…and {len(feeds) - MAX_FIELDS} more")
    return embed


def subscribed_message(result: PollResult, *, created: bool, interval_minutes: float) -> str:
    feed = result.feed
    name = feed_name(feed) if feed.title else f"<{safe_url(feed.url) or feed.url}>"
    verb = "Subscribed to" if created else "Still subscribed to"
    parts = [f"{verb} {name}."]
    if result.outcome in ("new", "unchanged"):
        parts.append(f"{len(result.added)} new articles added"
                     + (", answerable now." if result.added else "."))
    elif result.outcome == "not-modified":
        parts.append("Nothing new since the last check.")
    else:
        parts.append(f"Its check failed: {escape_discord(result.error or 'unknown error')}.")
    parts.append(f"I check it about every {interval_minutes:g} minutes.")
    if feed.announce_channel:
        parts.append(f"New stories will be announced in <#{feed.announce_channel}>.")
    return truncate(" ".join(parts), MESSAGE_LIMIT)


def check_message(results: Sequence[PollResult], *, following: int) -> str:
    if not results:
        return (NO_FEEDS if not following else
                "Those feeds are being checked right now; see /feeds list in a moment.")
    lines = []
    for result in results:
        name = feed_name(result.feed)
        if result.outcome in ("error", "gone"):
            lines.append(f"⚠️ {name}: {escape_discord(result.error or '')}")
        elif result.outcome == "not-modified":
            lines.append(f"✅ {name}: nothing new")
        else:
            lines.append(f"✅ {name}: {len(result.added)} new, {result.updated} updated")
    return join_within(lines, MESSAGE_LIMIT)


def article_embed(article: NewArticle) -> discord.Embed:
    embed = discord.Embed(title=truncate(escape_title(article.title), EMBED_TITLE_LIMIT),
                          url=safe_url(article.url), colour=FEEDS_COLOUR)
    if article.date:
        embed.description = f"Published {short_date(article.date)}"
    return embed


def announcement(result: PollResult) -> tuple[str, list[discord.Embed]]:
    """One message per feed per poll: a line, then at most MAX_ANNOUNCED short embeds."""
    added = result.added
    shown = added[:MAX_ANNOUNCED]
    text = f"New from {feed_name(result.feed)}"
    if len(added) > len(shown):
        text += f" ({len(shown)} of {len(added)}; ask me about the rest)"
    return truncate(text, MESSAGE_LIMIT), [article_embed(article) for article in shown]
