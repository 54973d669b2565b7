"""The bot on a PostgreSQL library through the fake Discord: its state is in the database,
and when the database goes away the member is told the library is unavailable (in time,
without its address), and the bot answers again once it is back, without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.client import SpotlightBot
from bot.errors import LIBRARY_UNAVAILABLE
from bot.pg.state import PgBotState
from corpus.records import Article
from index.config import LibraryConfig
from index.embedder import FakeEmbedder
from index.library import Library, open_library
from tests.bot.conftest import KIM_TEXT, KIM_TITLE, Server, bot_settings
from tests.conftest import block_database
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import running_bot

pytestmark = pytest.mark.postgres


def database_answers(library: Library) -> bool:
    database = library.database
    assert database is not None
    with database.connection() as connection:
        return connection.execute("SELECT true").fetchone()[0]


async def test_outage_is_told_briefly_then_recovered_without_restart(
        fake_discord: FakeDiscord, server: Server, tmp_path: Path, postgres_server: str,
        postgres_url: str) -> None:
    library = open_library(LibraryConfig(database_url=postgres_url), FakeEmbedder(),
                           folder=tmp_path / "index", create=True)
    library.build([Article(title=KIM_TITLE, text=KIM_TEXT, source="kim.txt",
                           url="https://news.example/kim-japan")])
    bot = SpotlightBot(settings=bot_settings(fake_discord, tmp_path), library=library,
                       guild_ready_timeout=0.05)
    try:
        async with running_bot(bot, fake_discord):
            assert isinstance(bot.services.state, PgBotState)
            cooldown = await fake_discord.slash_command(
                server.guild, server.channel, server.moderator, "settings cooldown",
                {"seconds": 30})
            assert "30 s" in (await fake_discord.wait_for_response(cooldown)).content

            block_database(postgres_server, postgres_url, blocked=True)
            asked = await fake_discord.slash_command(server.guild, server.channel, server.member,
                                                     "ask", {"question": "why was Kim criticized?"})
            refused = await fake_discord.wait_for_response(asked)
            assert refused.content == LIBRARY_UNAVAILABLE and refused.ephemeral
            assert refused.rejections == []  # told within Discord's 3 s

            block_database(postgres_server, postgres_url, blocked=False)
            # The pool reconnects by itself; the bot was not restarted.
            while not await asyncio.to_thread(database_answers, library):
                await asyncio.sleep(0.1)
            again = await fake_discord.slash_command(server.guild, server.channel, server.member,
                                                     "ask", {"question": "why was Kim criticized?"})
            answered = await fake_discord.wait_for_response(again, timeout=20)
            assert answered.embeds and KIM_TITLE in str(answered.embeds[0]), answered.content
            # The server's cooldown (in the database) holds again: the turn was used.
            third = await fake_discord.slash_command(server.guild, server.channel, server.member,
                                                     "ask", {"question": "why was Kim criticized?"})
            slow = await fake_discord.wait_for_response(third)
            assert slow.content.startswith("Slow down — try again in ")
    finally:
        library.close()
