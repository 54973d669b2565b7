"""End-to-end fixtures: the real SpotlightBot, the real model and the seed articles, talking
to the fake Discord over real sockets.

The seed index is built once per session; each test opens its own copy, so articles one
test adds never leak into another.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import SpotlightBot
from bot.settings import Settings
from index.library import Library
from tests.fakediscord import FakeChannel, FakeDiscord, FakeGuild, FakeMember
from tests.fakediscord.fixtures import fake_discord, running_bot

__all__ = ["fake_discord"]  # re-exported fixture

JAPAN_TITLE = "Kim Kardashian & Daughter North’s Latest Photos Are Facing Backlash"
MET_GALA_TITLE = "North West Blasts Mother Kim Kardashian after deserting her at Met Gala"


@pytest.fixture(scope="session")
def seed_index_dir(real_embedder, seeds_dir: Path, tmp_path_factory) -> Path:
    import corpus

    folder = tmp_path_factory.mktemp("seed-index") / "index"
    library = Library.open(folder, real_embedder, create=True)
    try:
        loaded = corpus.load_path(seeds_dir)
        library.build(loaded.articles)
    finally:
        library.close()
    return folder


@pytest.fixture
def library(seed_index_dir: Path, real_embedder, tmp_path: Path) -> Iterator[Library]:
    folder = tmp_path / "index"
    shutil.copytree(seed_index_dir, folder)
    opened = Library.open(folder, real_embedder)
    try:
        yield opened
    finally:
        opened.close()


@dataclass
class World:
    """Two servers: A (where most things happen) and B (to prove isolation)."""

    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember
    moderator: FakeMember
    other_guild: FakeGuild
    other_channel: FakeChannel
    other_member: FakeMember


@pytest.fixture
def world(fake_discord: FakeDiscord) -> World:
    guild = fake_discord.add_guild("Celebrity Fans", channels=("general", "news"))
    other = fake_discord.add_guild("Other Server")
    return World(
        guild=guild,
        channel=guild.channel_named("general"),
        member=fake_discord.add_member(guild, "alice"),
        moderator=fake_discord.add_member(guild, "modmin", moderator=True),
        other_guild=other,
        other_channel=other.channel_named("general"),
        other_member=fake_discord.add_member(other, "bob"),
    )


def make_settings(fake: FakeDiscord, tmp_path: Path, **overrides) -> Settings:
    fields = {
        "token": fake.token,
        "data_dir": tmp_path / "data",
        "index_dir": tmp_path / "index",
        "corpus_dir": tmp_path / "no-corpus",
        "cooldown_seconds": 0.0,  # scenarios ask several times; the cooldown test sets one
        "allow_private_urls": True,  # the test's article server is on 127.0.0.1
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest_asyncio.fixture(loop_scope="function")
async def spotlight(fake_discord: FakeDiscord, world: World, library: Library,
                    tmp_path: Path) -> AsyncIterator[SpotlightBot]:
    """The real bot, logged in, commands synced globally, connected and sent its guilds."""
    settings = make_settings(fake_discord, tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
    # on_ready; 2 s by default, per test.
    bot = SpotlightBot(settings=settings, library=library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        yield bot
    assert fake_discord.unknown_requests == [], "the bot called routes Discord does not have"
