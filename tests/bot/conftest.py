"""Bot tests: the fake Discord's fixtures, and `spotlight`, the real SpotlightBot on a small
library with the hashing embedder (fast: no model), connected to the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import SpotlightBot
from bot.settings import Settings
from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from tests.fakediscord import FakeChannel, FakeDiscord, FakeGuild, FakeMember
from tests.fakediscord.fixtures import fake_discord, running_bot

__all__ = ["fake_discord"]  # re-exported fixture

KIM_TITLE = "Kim Kardashian criticized over Japan trip"
KIM_TEXT = (
    "Fans criticized Kim Kardashian for taking only North to Japan. "
    "She left Saint, Chicago and Psalm at home, and comments called her the worst mother."
)


@dataclass
class Server:
    """One server with a member and a moderator in #general."""

    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember
    moderator: FakeMember


@pytest.fixture
def server(fake_discord: FakeDiscord) -> Server:
    guild = fake_discord.add_guild("Celebrity Fans")
    return Server(guild=guild, channel=guild.channel_named("general"),
                  member=fake_discord.add_member(guild, "alice"),
                  moderator=fake_discord.add_member(guild, "modmin", moderator=True))


@pytest.fixture
def small_library(tmp_path: Path) -> Iterator[Library]:
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    try:
        library.build([Article(title=KIM_TITLE, text=KIM_TEXT, source="kim.txt",
                               url="https://news.example/kim-japan")])
        yield library
    finally:
        library.close()


def bot_settings(fake: FakeDiscord, tmp_path: Path, **overrides) -> Settings:
    fields = {"token": fake.token, "data_dir": tmp_path / "data", "index_dir": tmp_path / "index",
              "corpus_dir": tmp_path / "no-corpus", "cooldown_seconds": 0.0}
    fields.update(overrides)
    return Settings(**fields)


@pytest_asyncio.fixture(loop_scope="function")
async def spotlight(fake_discord: FakeDiscord, server: Server, small_library: Library,
                    tmp_path: Path) -> AsyncIterator[SpotlightBot]:
    """The real bot, logged in to the fake Discord, commands synced, its guild received."""
    settings = bot_settings(fake_discord, tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=small_library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        yield bot
    assert fake_discord.unknown_requests == [], "the bot called routes Discord does not have"
