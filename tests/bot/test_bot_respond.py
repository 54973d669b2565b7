"""bot/respond.py: a result ready soon is the reply itself (one request); a slow one shows
"thinking..." first and replaces it. Through /ask and /sources on the fake Discord."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.client import SpotlightBot
from bot.respond import reply_budget
from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from tests.bot.conftest import KIM_TEXT, KIM_TITLE, Server, bot_settings
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import running_bot
from tests.fakediscord.recorder import CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE

CREATED = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
QUESTION = "why was Kim criticized?"


def test_the_budget_counts_from_the_interactions_creation() -> None:
    assert reply_budget(CREATED, 1000, CREATED) == 1.0
    assert reply_budget(CREATED, 1000, CREATED + timedelta(milliseconds=400)) == 0.6
    assert reply_budget(CREATED, 1000, CREATED + timedelta(seconds=2)) == 0.0
    assert reply_budget(CREATED, 0, CREATED) == 0.0


def test_a_local_clock_behind_discords_never_waits_longer_than_asked() -> None:
    assert reply_budget(CREATED, 1000, CREATED - timedelta(seconds=5)) == 1.0


class HeldEmbedder(FakeEmbedder):
    """Questions wait until `release` is set: an answer slower than the reply budget."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.hold = False

    def encode(self, texts):
        if self.hold:
            assert self.release.wait(30), "the test never released the question"
        return super().encode(texts)


async def ask_and_wait(fake: FakeDiscord, server: Server, command: str, options: dict):
    asked = await fake.slash_command(server.guild, server.channel, server.member, command,
                                     options)
    return asked, await fake.wait_for_response(asked, timeout=30)


async def test_a_quick_answer_is_the_response_itself_in_one_request(
        fake_discord: FakeDiscord, server: Server, small_library: Library,
        tmp_path: Path) -> None:
    settings = bot_settings(fake_discord, tmp_path, answer_within_ms=2000)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=small_library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        _, reply = await ask_and_wait(fake_discord, server, "ask", {"question": QUESTION})
        assert reply.callback_type == CHANNEL_MESSAGE and not reply.rejections
        assert KIM_TITLE in reply.text() and reply.custom_ids()  # feedback buttons too
        assert fake_discord.requests_to("POST", "/webhooks/") == []  # no follow-up
        # Remembered under the response's own message: a reply to it is a follow-up.
        answer_id = int(reply.message["id"])
        context = None
        for _ in range(300):
            context = bot.services.state.answer_context(answer_id)
            if context is not None:
                break
            await asyncio.sleep(0.01)
        assert context is not None and context.question == QUESTION

        _, listed = await ask_and_wait(fake_discord, server, "sources", {"topic": "Kim"})
        assert listed.callback_type == CHANNEL_MESSAGE and KIM_TITLE in listed.text()


async def test_a_slow_answer_shows_thinking_first_then_replaces_it(
        fake_discord: FakeDiscord, server: Server, tmp_path: Path) -> None:
    embedder = HeldEmbedder()
    library = Library.open(tmp_path / "index", embedder, create=True)
    library.build([Article(title=KIM_TITLE, text=KIM_TEXT, source="kim.txt")])
    embedder.hold = True
    settings = bot_settings(fake_discord, tmp_path, answer_within_ms=50)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=library, guild_ready_timeout=0.05)
    try:
        async with running_bot(bot, fake_discord):
            asked = await fake_discord.slash_command(server.guild, server.channel,
                                                     server.member, "ask",
                                                     {"question": QUESTION})
            thinking = await fake_discord.wait_for_response(
                asked, timeout=30, predicate=lambda reply: reply.loading)
            assert thinking.callback_type == DEFERRED_CHANNEL_MESSAGE
            embedder.release.set()
            reply = await fake_discord.wait_for_response(asked, timeout=30)
            assert not reply.loading and not reply.rejections
            assert KIM_TITLE in reply.text() and reply.custom_ids()
    finally:
        embedder.release.set()
        library.close()


async def test_no_budget_defers_at_once(fake_discord: FakeDiscord, server: Server,
                                        small_library: Library, tmp_path: Path) -> None:
    settings = bot_settings(fake_discord, tmp_path, answer_within_ms=0)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=small_library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        _, reply = await ask_and_wait(fake_discord, server, "ask", {"question": QUESTION})
        assert reply.callback_type == DEFERRED_CHANNEL_MESSAGE and KIM_TITLE in reply.text()
