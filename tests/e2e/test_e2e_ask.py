"""Members asking: /ask, mentions, follow-up replies, feedback, limits, a dropped socket.
The real SpotlightBot and the real model, over sockets to the fake Discord."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.client import SpotlightBot
from bot.feedback.buttons import THANKS
from bot.render import NOT_FOUND
from index.library import Library
from tests.e2e.conftest import JAPAN_TITLE, MET_GALA_TITLE, World, make_settings
from tests.fakediscord import ClientWouldNotSend, FakeDiscord, InteractionReply, Perm
from tests.fakediscord.fixtures import running_bot


def sources_of(reply: InteractionReply | dict) -> str:
    """The text of the answer embed's Sources field(s)."""
    message = reply.message if isinstance(reply, InteractionReply) else reply
    fields = [f for embed in message["embeds"] for f in embed.get("fields", [])]
    return "\n".join(f["value"] for f in fields if f["name"].startswith("Sources"))


async def test_ask_answers_from_the_japan_article(fake_discord: FakeDiscord, world: World,
                                                  spotlight: SpotlightBot) -> None:
    asked = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                             {"question": "why was Kim criticized?"})
    reply = await fake_discord.wait_for_response(asked)

    assert not reply.rejections  # the response (or "thinking..." then a follow-up) in time
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == "why was Kim criticized?"
    assert embed["description"].startswith("> ")  # quoted sentences from the articles
    first_source = sources_of(reply).splitlines()[0]
    assert JAPAN_TITLE in first_source
    assert reply.message["mentions"] == []  # AllowedMentions.none(): nobody pinged
    votes = reply.custom_ids()
    assert [v.split(":")[2] for v in votes] == ["up", "down"]

    click = await fake_discord.click_button(reply.message, votes[0], world.member)
    thanks = await fake_discord.wait_for_response(click)
    assert thanks.content == THANKS and thanks.ephemeral


async def test_private_ask_is_ephemeral(fake_discord: FakeDiscord, world: World,
                                        spotlight: SpotlightBot) -> None:
    asked = await fake_discord.slash_command(
        world.guild, world.channel, world.member, "ask",
        {"question": "who went to the Met Gala?", "private": True})
    reply = await fake_discord.wait_for_response(asked)
    assert reply.ephemeral
    assert MET_GALA_TITLE in sources_of(reply)


async def test_abstains_when_articles_do_not_cover_it(fake_discord: FakeDiscord, world: World,
                                                      spotlight: SpotlightBot) -> None:
    asked = await fake_discord.slash_command(
        world.guild, world.channel, world.member, "ask",
        {"question": "What is the boiling point of liquid nitrogen in kelvin?"})
    reply = await fake_discord.wait_for_response(asked)
    embed = reply.embeds[0]
    assert embed["description"].startswith(NOT_FOUND)
    assert sources_of(reply) == ""  # no citations when abstaining...
    closest = "\n".join(f["value"] for f in embed.get("fields", []))
    assert "Kim Kardashian" in closest  # ...but the nearest articles are offered


async def test_mention_then_follow_up_reply(fake_discord: FakeDiscord, world: World,
                                            spotlight: SpotlightBot) -> None:
    bot_mention = fake_discord.bot_user.mention
    question = await fake_discord.send_message(
        world.channel, world.member, f"{bot_mention} who did North West blast at the Met Gala?")
    answer = await fake_discord.wait_for_message(world.channel, reply_to=question)
    assert MET_GALA_TITLE in sources_of(answer)
    assert answer["mentions"] == []  # replies without pinging the asker

    # A reply to the bot's answer pings it by default, so the bot can read it.
    follow_up = await fake_discord.send_message(world.channel, world.member, "why?",
                                                reference=answer)
    second = await fake_discord.wait_for_message(world.channel, reply_to=follow_up)
    assert second["embeds"][0]["title"] == "why?"
    assert MET_GALA_TITLE in sources_of(second)  # understood in the earlier question's context


async def test_plain_chatter_is_ignored(fake_discord: FakeDiscord, world: World,
                                        spotlight: SpotlightBot) -> None:
    question = "why was Kim criticized?"
    chatter = await fake_discord.send_message(world.channel, world.member, question)
    asked = await fake_discord.send_message(world.channel, world.member,
                                            f"{fake_discord.bot_user.mention} {question}")
    await fake_discord.wait_for_message(world.channel, reply_to=asked)
    replied_to = [m["message_reference"]["message_id"]
                  for m in fake_discord.bot_messages(world.channel)]
    assert replied_to == [asked["id"]]
    assert chatter["id"] not in replied_to


async def test_cooldown_set_by_moderator(fake_discord: FakeDiscord, world: World,
                                         spotlight: SpotlightBot) -> None:
    setting = await fake_discord.slash_command(world.guild, world.channel, world.moderator,
                                               "settings cooldown", {"seconds": 120})
    assert "120 s" in (await fake_discord.wait_for_response(setting)).content

    first = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                             {"question": "why was Kim criticized?"})
    assert (await fake_discord.wait_for_response(first)).embeds
    second = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                              {"question": "who went to the Met Gala?"})
    refused = await fake_discord.wait_for_response(second)
    assert refused.ephemeral
    assert refused.content.startswith("Slow down — try again in ")
    assert refused.embeds == []
    # Another member is not held back by alice's cooldown.
    other = await fake_discord.slash_command(world.guild, world.channel, world.moderator, "ask",
                                             {"question": "who went to the Met Gala?"})
    assert (await fake_discord.wait_for_response(other)).embeds


async def test_oversized_and_empty_questions(fake_discord: FakeDiscord, world: World,
                                             spotlight: SpotlightBot) -> None:
    long_question = "why was Kim criticized " * 40  # ~920 characters, the cap is 500
    # /ask carries the cap as its max_length: Discord's client refuses to send it...
    with pytest.raises(ClientWouldNotSend, match="max_length 500"):
        await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                         {"question": long_question})
    # ...and a question by mention, which Discord does not limit, gets the bot's own line.
    by_mention = await fake_discord.send_message(
        world.channel, world.member, f"{fake_discord.bot_user.mention} {long_question}")
    reply = await fake_discord.wait_for_message(world.channel, reply_to=by_mention)
    assert "please keep it under 500" in reply["content"]

    mention_only = await fake_discord.send_message(world.channel, world.member,
                                                   fake_discord.bot_user.mention)
    answer = await fake_discord.wait_for_message(world.channel, reply_to=mention_only)
    assert "empty" in answer["content"]


async def test_sources_and_help(fake_discord: FakeDiscord, world: World,
                                spotlight: SpotlightBot) -> None:
    sources = await fake_discord.slash_command(world.guild, world.channel, world.member,
                                               "sources", {"topic": "Met Gala"})
    listed = await fake_discord.wait_for_response(sources)
    assert MET_GALA_TITLE in listed.text()

    shown = await fake_discord.wait_for_response(
        await fake_discord.slash_command(world.guild, world.channel, world.member, "help"))
    assert "2" in shown.text()  # how many articles it knows


async def test_commands_registered_as_discord_accepts(fake_discord: FakeDiscord, world: World,
                                                      spotlight: SpotlightBot) -> None:
    # The fake validated names, lengths, option order and nesting when the bot synced.
    commands = {c["name"]: c for c in fake_discord.global_commands}
    assert set(commands) == {"ask", "sources", "help", "library", "settings", "feeds"}
    manage_guild = str(Perm.MANAGE_GUILD)
    for moderators_only in ("library", "settings", "feeds"):
        assert commands[moderators_only]["default_member_permissions"] == manage_guild
    assert commands["ask"]["default_member_permissions"] is None
    subcommands = {o["name"] for o in commands["library"]["options"]}
    assert subcommands == {"add", "remove", "list", "search", "stats"}
    assert fake_discord.guild_commands == {}


async def test_dev_guild_sync(fake_discord: FakeDiscord, world: World, library: Library,
                              tmp_path: Path) -> None:
    settings = make_settings(fake_discord, tmp_path, dev_guild_id=world.guild.id)
    bot = SpotlightBot(settings=settings, library=library, guild_ready_timeout=0.05)
    async with running_bot(bot, fake_discord):
        asked = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                                 {"question": "why was Kim criticized?"})
        assert JAPAN_TITLE in sources_of(await fake_discord.wait_for_response(asked))
    assert fake_discord.global_commands == []
    assert {c["name"] for c in fake_discord.commands_for(world.guild)} >= {"ask", "library"}


async def test_socket_dropped_mid_run_resumes_and_answers(
        fake_discord: FakeDiscord, world: World, spotlight: SpotlightBot) -> None:
    in_flight = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                                 {"question": "why was Kim criticized?"})
    await fake_discord.gateway.drop_connection()
    while_away = await fake_discord.slash_command(world.guild, world.channel, world.moderator,
                                                  "ask", {"question": "who went to the Met Gala?"})
    await fake_discord.wait_for_resume()
    after = await fake_discord.slash_command(world.guild, world.channel, world.member, "ask",
                                             {"question": "who went to the Met Gala?"})

    assert JAPAN_TITLE in sources_of(await fake_discord.wait_for_response(in_flight))
    assert MET_GALA_TITLE in sources_of(await fake_discord.wait_for_response(while_away))
    assert MET_GALA_TITLE in sources_of(await fake_discord.wait_for_response(after))
    assert fake_discord.gateway.identify_count == 1  # resumed the session, no new IDENTIFY
