"""/feeds through the fake Discord with the hashing embedder: subscribe, the background
poll, announcements, /feeds list, errors, permissions, isolation between servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import SpotlightBot
from bot.feeds.render import MAX_ANNOUNCED, announcement
from index.embedder import FakeEmbedder
from index.feeds import FeedConfig, NewArticle, PollResult
from index.feeds.state import Feed
from index.library import Library
from tests.bot.conftest import Server, bot_settings
from tests.fakediscord import FakeDiscord, FakeGuild, Perm
from tests.fakediscord.fixtures import running_bot
from tests.feedserver import FeedServer, item
from tests.index.test_feeds_poller import START, TAYLOR_TEXT, Clock

RIHANNA = ("Rihanna opened a flagship beauty store in Paris on Saturday, and fans queued "
           "overnight along the Champs-Elysees to meet her.")


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.feed("/celeb.xml", [item("Taylor adds Tokyo dates", "/taylor", TAYLOR_TEXT,
                                        guid="t1", date=START - timedelta(days=1))])
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def other(fake_discord: FakeDiscord) -> FakeGuild:
    guild = fake_discord.add_guild("Other Server")
    fake_discord.add_member(guild, "bob")
    fake_discord.add_member(guild, "othermod", moderator=True)
    return guild


@pytest_asyncio.fixture(loop_scope="function")
async def bot(fake_discord: FakeDiscord, server: Server, other: FakeGuild, tmp_path: Path,
              clock: Clock) -> AsyncIterator[SpotlightBot]:
    server.guild.add_channel("news")
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    settings = bot_settings(fake_discord, tmp_path, allow_private_urls=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = FeedConfig(allow_private_urls=True, clock=clock, jitter=0.0, fetch_timeout=3.0,
                        wake_seconds=0.1)
    spotlight = SpotlightBot(settings=settings, library=library, feed_config=config,
                             guild_ready_timeout=0.05)
    try:
        async with running_bot(spotlight, fake_discord):
            yield spotlight
    finally:
        library.close()
    assert fake_discord.unknown_requests == []


async def command(fake: FakeDiscord, guild: FakeGuild, name: str, member_name: str = "modmin",
                  **options):
    member = next(m for m in guild.members.values() if m.user.username == member_name)
    asked = await fake.slash_command(guild, guild.channel_named("general"), member, name,
                                     options)
    return await fake.wait_for_response(asked)


async def test_subscribe_ask_announce_list(fake_discord: FakeDiscord, server: Server,
                                           other: FakeGuild, site: FeedServer, clock: Clock,
                                           bot: SpotlightBot) -> None:
    news = server.guild.channel_named("news")
    reply = await command(fake_discord, server.guild, "feeds add",
                          url=site.url("/celeb.xml"), announce=news)
    assert reply.ephemeral, reply.content
    assert "Subscribed to Celebrity news. 1 new articles added, answerable now." in reply.content
    assert f"announced in {news.mention}" in reply.content
    answer = await command(fake_discord, server.guild, "ask", "alice",
                           question="Where did Taylor Swift add concerts?")
    assert "Tokyo" in answer.text() and "2026-11-19" in answer.text()
    elsewhere = await command(fake_discord, other, "ask", "bob",
                              question="Where did Taylor Swift add concerts?")
    assert "Taylor adds Tokyo dates" not in elsewhere.text()
    assert fake_discord.bot_messages(news) == []  # the first check is not news

    site.feed("/celeb.xml", [
        item("Rihanna opens Paris store", "/rihanna?utm_source=rss", RIHANNA, guid="r1",
             date=START),
        item("Taylor adds Tokyo dates", "/taylor", TAYLOR_TEXT, guid="t1",
             date=START - timedelta(days=1)),
    ])
    clock.advance(minutes=16)  # the background poll finds it due
    posted = await fake_discord.wait_for_message(news, timeout=10)
    assert posted["content"] == "New from Celebrity news"
    [embed] = posted["embeds"]
    assert embed["title"] == "Rihanna opens Paris store"
    assert embed["url"] == site.url("/rihanna") and embed["description"] == "Published 2026-11-20"
    assert posted["mentions"] == []
    answer = await command(fake_discord, server.guild, "ask", "alice",
                           question="What did Rihanna open in Paris?")
    assert "Champs" in answer.text()

    listed = await command(fake_discord, server.guild, "feeds list")
    [field] = listed.embeds[0]["fields"]
    assert field["name"] == "Celebrity news"
    assert "✅ checked" in field["value"] and "2 articles added" in field["value"]
    assert f"announced in {news.mention}" in field["value"]
    assert "follows no feeds" in (await command(fake_discord, other, "feeds list",
                                                "othermod")).embeds[0]["description"]

    checked = await command(fake_discord, server.guild, "feeds check")
    assert "Celebrity news: nothing new" in checked.content
    removed = await command(fake_discord, server.guild, "feeds remove",
                            url=site.url("/celeb.xml"))
    assert "Unsubscribed" in removed.content
    answer = await command(fake_discord, server.guild, "ask", "alice",
                           question="What did Rihanna open in Paris?")
    assert "Champs" in answer.text()  # its articles stay


async def test_bad_addresses_are_refused_with_the_reason(
        fake_discord: FakeDiscord, server: Server, site: FeedServer, bot: SpotlightBot) -> None:
    site.set("/page", b"<!doctype html><html><body><p>Hi</p></body></html>",
             content_type="text/html")
    reply = await command(fake_discord, server.guild, "feeds add", url=site.url("/page"))
    assert reply.content == ("Not subscribed: that address is a web page, not an RSS or Atom "
                             "feed")
    reply = await command(fake_discord, server.guild, "feeds add", url=site.url("/nothing"))
    assert "Not subscribed: the server answered HTTP 404" in reply.content
    reply = await command(fake_discord, server.guild, "feeds add", url="ftp://example.org/x")
    assert "http://" in reply.content
    assert bot.services.feeds.list(guild_id=server.guild.id) == []


async def test_members_cannot_manage_feeds(fake_discord: FakeDiscord, server: Server,
                                           site: FeedServer, bot: SpotlightBot) -> None:
    asked = await fake_discord.slash_command(
        server.guild, server.channel, server.member, "feeds add",
        {"url": site.url("/celeb.xml")}, bypass_default_permissions=True)
    reply = await fake_discord.wait_for_response(asked)
    assert "Manage Server" in reply.content


async def test_lost_channel_stops_announcements(fake_discord: FakeDiscord, server: Server,
                                                site: FeedServer, clock: Clock,
                                                bot: SpotlightBot, caplog) -> None:
    feeds = bot.services.feeds
    feeds.subscribe(site.url("/celeb.xml"), guild_id=server.guild.id, origin="discord",
                    announce_channel=424242)  # a channel that was deleted
    await fake_discord.wait_for(lambda: feeds.list(guild_id=server.guild.id)[0].last_success,
                                timeout=10, what="the first check")
    site.feed("/celeb.xml", [item("Rihanna opens Paris store", "/rihanna", RIHANNA,
                                  guid="r1", date=START)])
    await command(fake_discord, server.guild, "feeds check")

    def stopped() -> Feed | None:
        [feed] = feeds.list(guild_id=server.guild.id)
        return feed if feed.announce_channel is None else None

    feed = await fake_discord.wait_for(stopped, timeout=5, what="announcements stopped")
    assert feed.last_note == "announcements stopped: the channel is gone"
    assert any("announcements in channel 424242 stopped" in r.message for r in caplog.records)


async def test_forbidden_channel_stops_announcements(
        fake_discord: FakeDiscord, server: Server, site: FeedServer, bot: SpotlightBot,
        caplog) -> None:
    news = server.guild.channel_named("news")
    feeds = bot.services.feeds
    feeds.subscribe(site.url("/celeb.xml"), guild_id=server.guild.id, origin="discord",
                    announce_channel=news.id)
    await fake_discord.wait_for(  # the background poll's first check, which is not news
        lambda: feeds.list(guild_id=server.guild.id)[0].last_success, timeout=10,
        what="the first check")
    site.feed("/celeb.xml", [item("Rihanna opens Paris store", "/rihanna", RIHANNA,
                                  guid="r1", date=START)])
    for role in (*fake_discord.bot_member(server.guild).roles, server.guild.everyone_role):
        role.permissions &= ~Perm.SEND_MESSAGES  # a moderator took it away
    checked = await command(fake_discord, server.guild, "feeds check")
    assert "1 new" in checked.content
    [feed] = feeds.list(guild_id=server.guild.id)
    assert feed.announce_channel is None
    assert feed.last_note == "announcements stopped: I may not post there"
    assert fake_discord.bot_messages(news) == []
    assert any("stopped: I may not post there" in r.message for r in caplog.records)


async def test_retention_setting(fake_discord: FakeDiscord, server: Server,
                                 bot: SpotlightBot) -> None:
    reply = await command(fake_discord, server.guild, "settings retention", days=30)
    assert "dropped 30 days after" in reply.content
    assert bot.services.feeds.retention(guild_id=server.guild.id) == 30
    reply = await command(fake_discord, server.guild, "settings retention", days=0)
    assert "kept until removed" in reply.content


async def test_ask_is_not_held_up_by_a_slow_poll(fake_discord: FakeDiscord, server: Server,
                                                 site: FeedServer, bot: SpotlightBot) -> None:
    site.set("/slow.xml", b"<rss version='2.0'><channel>" + b" " * 200 + b"</channel></rss>",
             trickle=0.01, conditional=False)
    bot.services.feeds.subscribe(site.url("/slow.xml"), guild_id=server.guild.id,
                                 origin="discord")
    await asyncio.sleep(0.2)  # the background poll is now downloading, byte by byte
    loop = asyncio.get_running_loop()
    lags = []
    for _ in range(30):  # the event loop stays free while the poll runs in its thread
        started = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - started - 0.01)
    assert site.hits["/slow.xml"] == 1 and max(lags) < 0.05, lags
    answer = await command(fake_discord, server.guild, "ask", "alice",
                           question="Why was Kim criticized?")
    assert answer.messages


def test_announcement_is_capped_and_short() -> None:
    feed = Feed(1, "1", "http://x/f.xml", "discord", "News", 5, None, None, None, 0, None,
                None, None, None, 0, False, 0)
    added = [NewArticle(f"id{n}", f"Story {n} @everyone", "2026-11-20", f"http://x/{n}")
             for n in range(12)]
    content, embeds = announcement(PollResult(feed, "new", added=added))
    assert len(embeds) == MAX_ANNOUNCED
    assert content == f"New from News ({MAX_ANNOUNCED} of 12; ask me about the rest)"
    assert "@everyone" not in embeds[0].title or "\\@" in embeds[0].title or (
        "@\u200beveryone" in embeds[0].title)
