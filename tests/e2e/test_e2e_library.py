"""Moderators curating: /library add by file, by URL and by modal, each answerable at once;
permissions, guild isolation and bad uploads. Real bot, real model, fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from bot.client import SpotlightBot
from bot.library.cog import PASTE_TEXT_ID, PASTE_TITLE_ID, PASTE_URL_ID
from tests.e2e.conftest import World
from tests.fakediscord import ClientWouldNotSend, FakeDiscord, InteractionReply

CAT_TITLE = "Taylor Swift Adopts a Ragdoll Kitten Named Benjamin Button"
CAT_TEXT = (
    "Taylor Swift has adopted a third cat, a ragdoll kitten she named Benjamin Button. "
    "The singer introduced the kitten on the set of a music video shoot in Nashville. "
    "Swift said the kitten was handed to her during filming and she fell in love at once. "
    "Benjamin Button joins her Scottish Fold cats Meredith Grey and Olivia Benson at home."
)
CAT_QUESTION = "what did Taylor Swift name her new kitten?"


def answer_sources(reply: InteractionReply) -> str:
    fields = [f for embed in reply.embeds for f in embed.get("fields", [])]
    return "\n".join(f["value"] for f in fields if f["name"].startswith("Sources"))


async def ask(fake: FakeDiscord, world: World, question: str, *, other_guild: bool = False
              ) -> InteractionReply:
    guild, channel, member = ((world.other_guild, world.other_channel, world.other_member)
                              if other_guild else (world.guild, world.channel, world.member))
    asked = await fake.slash_command(guild, channel, member, "ask", {"question": question})
    return await fake.wait_for_response(asked)


async def add_as_moderator(fake: FakeDiscord, world: World, **options) -> InteractionReply:
    added = await fake.slash_command(world.guild, world.channel, world.moderator, "library add",
                                     options)
    return await fake.wait_for_response(added)


async def test_add_by_file_then_ask_at_once(fake_discord: FakeDiscord, world: World,
                                            spotlight: SpotlightBot) -> None:
    before = await ask(fake_discord, world, CAT_QUESTION)
    assert CAT_TITLE not in answer_sources(before)

    upload = fake_discord.upload_attachment("kitten.txt", f"{CAT_TITLE}\n\n{CAT_TEXT}".encode(),
                                            "text/plain; charset=utf-8")
    confirmed = await add_as_moderator(fake_discord, world, file=upload)
    assert confirmed.ephemeral
    assert confirmed.content.startswith(f"Added “{CAT_TITLE}”")
    assert "answerable now" in confirmed.content

    after = await ask(fake_discord, world, CAT_QUESTION)
    assert CAT_TITLE in answer_sources(after)
    assert "Benjamin Button" in after.embeds[0]["description"]


@pytest_asyncio.fixture(loop_scope="function")
async def article_site() -> AsyncIterator[str]:
    """A local web server with one news page, for /library add url:."""
    page = (f"<html><head><title>{CAT_TITLE}</title></head><body><article>"
            f"<h1>{CAT_TITLE}</h1>" + "".join(f"<p>{s}.</p>" for s in CAT_TEXT.split(". "))
            + "</article></body></html>")

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/news/kitten.html", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/news/kitten.html"
    finally:
        await runner.cleanup()


async def test_add_by_url_then_ask_at_once(fake_discord: FakeDiscord, world: World,
                                           spotlight: SpotlightBot, article_site: str) -> None:
    confirmed = await add_as_moderator(fake_discord, world, url=article_site)
    assert confirmed.ephemeral
    assert "answerable now" in confirmed.content, confirmed.content

    after = await ask(fake_discord, world, CAT_QUESTION)
    assert CAT_TITLE in answer_sources(after)
    assert article_site in answer_sources(after)  # the source links to the page


async def test_add_by_modal_then_ask_at_once(fake_discord: FakeDiscord, world: World,
                                             spotlight: SpotlightBot) -> None:
    opened = await fake_discord.slash_command(world.guild, world.channel, world.moderator,
                                              "library add")
    shown = await fake_discord.wait_for_response(opened)
    assert shown.modal is not None and shown.callback_type == 9

    submitted = await fake_discord.submit_modal(
        opened, {PASTE_TITLE_ID: CAT_TITLE, PASTE_TEXT_ID: CAT_TEXT, PASTE_URL_ID: ""})
    confirmed = await fake_discord.wait_for_response(submitted)
    assert confirmed.ephemeral and "answerable now" in confirmed.content

    after = await ask(fake_discord, world, CAT_QUESTION)
    assert CAT_TITLE in answer_sources(after)


async def test_member_without_manage_server_is_refused(fake_discord: FakeDiscord, world: World,
                                                       spotlight: SpotlightBot) -> None:
    upload = fake_discord.upload_attachment("kitten.txt", f"{CAT_TITLE}\n\n{CAT_TEXT}".encode())
    # Hidden by default_member_permissions: the Discord client would not even offer it...
    with pytest.raises(ClientWouldNotSend):
        await fake_discord.slash_command(world.guild, world.channel, world.member,
                                         "library add", {"file": upload})
    # ...and when a server's Integrations settings open it up, the bot still checks.
    for command, options in (("library add", {"file": upload}), ("library stats", {}),
                             ("settings cooldown", {"seconds": 0})):
        refused = await fake_discord.wait_for_response(await fake_discord.slash_command(
            world.guild, world.channel, world.member, command, options,
            bypass_default_permissions=True))
        assert refused.ephemeral
        assert refused.content == "You need the Manage Server permission to use this command."
    assert CAT_TITLE not in answer_sources(await ask(fake_discord, world, CAT_QUESTION))


async def test_added_article_stays_in_its_guild(fake_discord: FakeDiscord, world: World,
                                                spotlight: SpotlightBot) -> None:
    upload = fake_discord.upload_attachment("kitten.md", f"# {CAT_TITLE}\n\n{CAT_TEXT}".encode())
    assert "answerable now" in (await add_as_moderator(fake_discord, world, file=upload)).content

    here = await ask(fake_discord, world, CAT_QUESTION)
    elsewhere = await ask(fake_discord, world, CAT_QUESTION, other_guild=True)
    assert CAT_TITLE in answer_sources(here)
    assert CAT_TITLE not in elsewhere.text()


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "I can't read .png"),
        ("huge.txt", b"Title\n\n" + b"word " * 500_000, "the limit is"),
        ("empty.txt", b"", "empty.txt: empty file"),
    ],
    ids=["wrong-type", "too-big", "empty"],
)
async def test_bad_attachment_gets_one_clear_line(
        fake_discord: FakeDiscord, world: World, spotlight: SpotlightBot,
        filename: str, data: bytes, expected: str) -> None:
    count_before = spotlight.services.library.count_articles(guild_id=world.guild.id)
    upload = fake_discord.upload_attachment(filename, data)
    reply = await add_as_moderator(fake_discord, world, file=upload)
    assert reply.ephemeral
    assert expected in reply.content
    assert "\n" not in reply.content and "Traceback" not in reply.content
    assert "error id" not in reply.content  # an expected problem, not a crash
    assert spotlight.services.library.count_articles(guild_id=world.guild.id) == count_before
