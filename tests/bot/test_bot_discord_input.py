"""What members and moderators type, through the real bot on the fake Discord: forms opened
at the same time, option lengths Discord enforces, control characters and hostile mentions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.client import SpotlightBot
from bot.library.cog import PASTE_TEXT_ID, PASTE_TITLE_ID, PASTE_URL_ID
from bot.options import STRING_OPTION_MAX
from bot.state import SqliteBotState
from index.library import Library
from tests.bot.conftest import Server, bot_settings
from tests.fakediscord import ClientWouldNotSend, FakeDiscord

CONTROL_CHARS = [chr(code) for code in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)]


def option(payloads: list[dict], path: str) -> dict:
    """The option payload at "command [subcommand] option" among the registered commands."""
    *names, leaf = path.split()
    items = payloads
    for name in [*names, leaf]:
        found = next(item for item in items if item["name"] == name)
        items = found.get("options", [])
    return found


async def test_two_moderators_paste_at_once_and_both_articles_are_added(
        fake_discord: FakeDiscord, server: Server, spotlight: SpotlightBot) -> None:
    other = fake_discord.add_member(server.guild, "second-mod", moderator=True)
    opened = [await fake_discord.slash_command(server.guild, server.channel, moderator,
                                               "library add")
              for moderator in (server.moderator, other)]
    forms = [(await fake_discord.wait_for_response(record)).modal for record in opened]
    assert forms[0]["custom_id"] != forms[1]["custom_id"]

    titles = ["Zendaya Wins an Emmy for Euphoria", "Pedro Pascal Hosts Saturday Night Live"]
    texts = ["Zendaya won her second Emmy for the drama Euphoria on Monday night.",
             "Pedro Pascal hosted Saturday Night Live for the first time this weekend."]
    # Submitted in the opposite order they were opened, each once the other is done (with
    # one shared id, the first submission consumed the only open form: the second was lost).
    for i in (1, 0):
        submitted = await fake_discord.submit_modal(
            opened[i], {PASTE_TITLE_ID: titles[i], PASTE_TEXT_ID: texts[i], PASTE_URL_ID: ""})
        confirmed = await fake_discord.wait_for_response(submitted, timeout=5)
        assert confirmed.ephemeral and titles[i] in confirmed.content, confirmed.content
        assert "answerable now" in confirmed.content
    held = {article.title for article in spotlight.services.library.list_articles(
        guild_id=server.guild.id, own_only=True)}
    assert held == set(titles)


async def test_text_options_carry_the_configured_length_limits(
        fake_discord: FakeDiscord, server: Server, spotlight: SpotlightBot) -> None:
    limit = spotlight.services.settings.max_question_chars
    payloads = fake_discord.commands_for()
    for path in ("ask question", "sources topic", "library search query"):
        assert option(payloads, path)["max_length"] == limit, path
        assert option(payloads, path)["min_length"] == 1, path
    # Discord's own client refuses longer input: the bot never sees it.
    with pytest.raises(ClientWouldNotSend, match="max_length"):
        await fake_discord.slash_command(server.guild, server.channel, server.member, "ask",
                                         {"question": "why " * limit})
    with pytest.raises(ClientWouldNotSend, match="max_length"):
        await fake_discord.slash_command(server.guild, server.channel, server.moderator,
                                         "library search", {"query": "kim " * limit})


async def test_a_limit_above_discords_is_capped_and_bots_do_not_share_limits(
        tmp_path: Path, fake_discord: FakeDiscord, small_library: Library) -> None:
    bots = [SpotlightBot(settings=bot_settings(fake_discord, tmp_path / str(chars),
                                               max_question_chars=chars),
                         library=small_library, state=SqliteBotState.open(":memory:"),
                         sync_commands=False)
            for chars in (10_000, 120)]
    for bot in bots:
        await bot.setup_hook()
    try:
        limits = [option([c.to_dict(bot.tree) for c in bot.tree.get_commands()],
                         "ask question")["max_length"] for bot in bots]
        assert limits == [STRING_OPTION_MAX, 120]
    finally:
        for bot in bots:
            bot.services.state.close()


async def test_control_characters_in_a_question_never_reach_the_answer(
        fake_discord: FakeDiscord, server: Server, spotlight: SpotlightBot) -> None:
    question = "why was " + "".join(CONTROL_CHARS[:8]) + "Kim\x1b[31m criticized?\x00"
    asked = await fake_discord.slash_command(server.guild, server.channel, server.member, "ask",
                                             {"question": question})
    reply = await fake_discord.wait_for_response(asked)
    title = reply.embeds[0]["title"]
    assert "Kim" in title and "criticized" in title
    for char in CONTROL_CHARS:
        assert char not in reply.text(), repr(char)


HOSTILE_QUESTION = "@everyone @here <@123> <@&1> <@&123456789012345678> why was Kim criticized?"


async def test_hostile_mentions_ping_no_one(fake_discord: FakeDiscord, server: Server,
                                            spotlight: SpotlightBot) -> None:
    asked = await fake_discord.slash_command(server.guild, server.channel, server.member, "ask",
                                             {"question": HOSTILE_QUESTION})
    reply = await fake_discord.wait_for_response(asked)
    assert "@everyone" not in reply.text() and "<@&1>" not in reply.text()
    by_mention = await fake_discord.send_message(
        server.channel, server.member, f"<@{fake_discord.bot_user.id}> {HOSTILE_QUESTION}")
    answer = await fake_discord.wait_for_message(server.channel, reply_to=by_mention)
    assert "@everyone" not in answer["embeds"][0]["title"]
    sent = [request for request in fake_discord.requests
            if request.method in ("POST", "PATCH") and isinstance(request.body, dict)
            and ("embeds" in request.body or "content" in request.body)]
    assert sent, "the bot sent nothing"
    for request in sent:
        mentions = request.body.get("allowed_mentions")
        assert mentions is not None and mentions.get("parse") == [], (request.path, mentions)
        assert not mentions.get("users") and not mentions.get("roles")
        assert not mentions.get("replied_user")
