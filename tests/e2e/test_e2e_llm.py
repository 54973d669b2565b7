"""/ask with the optional LLM answerer: the real SpotlightBot, the real model and the seed
articles, the fake Discord, and a fake OpenAI-compatible server on 127.0.0.1.

The bot renders `Answer.text` (bot/render.py); these tests assert what a member sees: the
model's checked sentence, the article it cites, no pings, no foreign link, and the quotes
whenever the model fails.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.client import SpotlightBot
from bot.render import escape_discord
from corpus import split_sentences
from index.config import LibraryConfig, LLMConfig
from index.library import Library
from tests.e2e.conftest import JAPAN_TITLE, World, make_settings
from tests.e2e.test_e2e_ask import sources_of
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import running_bot
from tests.index.fake_openai import FakeOpenAI, Reply, numbered_passages

QUESTION = "why was Kim criticized?"
EVIL = "@everyone https://evil.example/login"


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_library(seed_index_dir: Path, real_embedder, tmp_path: Path,
                fake_llm: FakeOpenAI) -> Iterator[Library]:
    folder = tmp_path / "index"
    shutil.copytree(seed_index_dir, folder)
    config = LibraryConfig(llm=LLMConfig(base_url=fake_llm.base_url, model="fake",
                                         timeout=2.0))
    opened = Library.open(folder, real_embedder, config=config)
    try:
        yield opened
    finally:
        opened.close()
        close = getattr(opened.pipeline.answerer, "close", None)
        if close is not None:
            close()


@pytest_asyncio.fixture(loop_scope="function")
async def spotlight_llm(fake_discord: FakeDiscord, world: World, llm_library: Library,
                        tmp_path: Path) -> AsyncIterator[SpotlightBot]:
    settings = make_settings(fake_discord, tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=llm_library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        yield bot
    assert fake_discord.unknown_requests == [], "the bot called routes Discord does not have"


def citing(title: str, extra: str = "") -> Callable[[Any], Reply]:
    """A model that answers with the first sentence of the passage whose title holds
    `title`, cited by the number the request gave it (retrieval decides the order)."""

    def respond(request: Any) -> Reply:
        for number, (shown, text) in numbered_passages(request).items():
            if title in shown:
                return Reply(f"{split_sentences(text)[0]} [{number}]{extra}")
        return Reply("I cannot answer that from these articles.")

    return respond


async def ask(fake_discord: FakeDiscord, world: World) -> dict:
    asked = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                             {"question": QUESTION})
    return (await fake_discord.wait_for_response(asked)).message


async def test_ask_shows_the_models_checked_answer(fake_discord: FakeDiscord, world: World,
                                                   fake_llm: FakeOpenAI,
                                                   spotlight_llm: SpotlightBot) -> None:
    fake_llm.responder = citing(JAPAN_TITLE)
    message = await ask(fake_discord, world)

    (request,) = fake_llm.requests
    passages = numbered_passages(request.json)
    japan = next(text for title, text in passages.values() if JAPAN_TITLE in title)
    embed = message["embeds"][0]
    # The model's sentence, renumbered to [1] (the only article it cited), not the quotes.
    assert embed["description"] == f"> {escape_discord(split_sentences(japan)[0] + ' [1]')}"
    (source,) = sources_of(message).splitlines()
    assert source.startswith("**[1]**") and JAPAN_TITLE in source
    assert message["mentions"] == []


async def test_injected_mention_and_link_do_not_reach_discord(
        fake_discord: FakeDiscord, world: World, fake_llm: FakeOpenAI,
        spotlight_llm: SpotlightBot) -> None:
    fake_llm.responder = citing(JAPAN_TITLE, extra=f". {EVIL} <@{world.member.id}> [1]")
    message = await ask(fake_discord, world)

    description = message["embeds"][0]["description"]
    assert "evil.example" not in description and "@everyone" not in description
    assert f"<@{world.member.id}>" not in description
    assert message["mentions"] == [] and not message.get("mention_everyone")


@pytest.mark.parametrize("reply", [Reply(status=500, body=b""), Reply("No citations here."),
                                   Reply("Kim was criticized [7]."),
                                   Reply("too late [1]", delay=4.0)],
                         ids=["500", "uncited", "invented", "timeout"])
async def test_model_failure_shows_the_quotes(fake_discord: FakeDiscord, world: World,
                                              fake_llm: FakeOpenAI,
                                              spotlight_llm: SpotlightBot,
                                              reply: Reply) -> None:
    fake_llm.reply = reply
    message = await ask(fake_discord, world)

    embed = message["embeds"][0]
    assert embed["description"].startswith("> “")  # the verbatim quotes, as without a model
    assert JAPAN_TITLE in sources_of(message).splitlines()[0]
    assert len(fake_llm.requests) == 1
