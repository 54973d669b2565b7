"""Feeds end to end: the real bot and model on the fake Discord, a news site on 127.0.0.1,
a clock the test moves. Subscribe, poll, ask, see it announced, restart: nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.client import SpotlightBot
from index.feeds import FeedConfig
from index.library import Library
from tests.e2e.conftest import World, make_settings
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import running_bot
from tests.feedserver import FeedServer, item
from tests.index.test_feeds_poller import START, Clock

BEYONCE_TITLE = "Beyonce announces Renaissance film premiere in London"
BEYONCE_SUMMARY = "Beyonce will premiere her concert film in London."
BEYONCE_PAGE = [
    "Beyonce announced on Tuesday that her Renaissance concert film will have its world "
    "premiere in London next month, with a red carpet at the Royal Festival Hall.",
    "The singer said the film follows her world tour from rehearsals in Stockholm to the "
    "final show in Kansas City, and that her daughter Blue Ivy features throughout.",
]
QUESTION = "Where will Beyonce premiere her concert film?"


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.page("/beyonce", BEYONCE_TITLE, BEYONCE_PAGE)
        yield server


async def ask(fake: FakeDiscord, world: World, *, other: bool = False) -> str:
    guild, channel, member = ((world.other_guild, world.other_channel, world.other_member)
                              if other else (world.guild, world.channel, world.member))
    asked = await fake.slash_command(guild, channel, member, "ask", {"question": QUESTION})
    return (await fake.wait_for_response(asked)).text()


async def test_subscribe_poll_ask_announce_restart(
        fake_discord: FakeDiscord, world: World, library: Library, real_embedder,
        site: FeedServer, tmp_path: Path) -> None:
    clock = Clock(START)
    config = FeedConfig(allow_private_urls=True, clock=clock, jitter=0.0, wake_seconds=0.1)
    settings = make_settings(fake_discord, tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    news = world.guild.channel_named("news")
    site.feed("/celeb.xml", [item("North at the Met Gala", "/north", "North West went to "
                                  "the Met Gala with her mother.", guid="n1",
                                  date=START - timedelta(days=2))])

    bot = SpotlightBot(settings=settings, library=library, feed_config=config,
                       guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        added = await fake_discord.wait_for_response(await fake_discord.slash_command(
            world.guild, world.channel, world.moderator, "feeds add",
            {"url": site.url("/celeb.xml"), "announce": news}))
        assert "Subscribed to Celebrity news" in added.content
        assert "Royal Festival Hall" not in await ask(fake_discord, world)

        site.feed("/celeb.xml", [
            item(BEYONCE_TITLE, "/beyonce?utm_source=rss", BEYONCE_SUMMARY, guid="b1",
                 date=START),
            item("North at the Met Gala", "/north", "North West went to the Met Gala with "
                 "her mother.", guid="n1", date=START - timedelta(days=2)),
        ])
        clock.advance(minutes=16)
        posted = await fake_discord.wait_for_message(news, timeout=20)
        assert posted["embeds"][0]["title"] == BEYONCE_TITLE
        answer = await ask(fake_discord, world)
        assert "Royal Festival Hall" in answer  # the linked page's text, not the summary
        assert "2026-11-20" in answer
        assert "Royal Festival Hall" not in await ask(fake_discord, world, other=True)
        articles = library.count_articles(guild_id=world.guild.id, own_only=True)
        [feed] = bot.services.feeds.list(guild_id=world.guild.id)
        checked_at = feed.last_check

    # A restart: a new bot on the same index folder; the feed is re-fetched in full.
    folder = library.folder
    reopened = Library.open(folder, real_embedder)
    try:
        site.routes["/celeb.xml"].body += b"\n"  # a new ETag, the same entries
        clock.advance(minutes=16)
        bot = SpotlightBot(settings=settings, library=reopened, feed_config=config,
                           guild_ready_timeout=0.05)
        async with running_bot(bot, fake_discord):
            feeds = bot.services.feeds
            await fake_discord.wait_for(  # the restarted bot's background poll
                lambda: feeds.list(guild_id=world.guild.id)[0].last_check != checked_at,
                timeout=20, what="a poll after the restart")
            [feed] = feeds.list(guild_id=world.guild.id)
            assert feed.last_error is None and feed.articles_added == 2
            assert reopened.count_articles(guild_id=world.guild.id, own_only=True) == articles
            assert len(fake_discord.bot_messages(news)) == 1
    finally:
        reopened.close()
    assert fake_discord.unknown_requests == []
