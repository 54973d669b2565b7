"""A fake Discord (REST + gateway) on 127.0.0.1 that real discord.py bots talk to in tests.

    async def test_echo(fake_discord):                      # fixture from .fixtures
        guild = fake_discord.add_guild("Fans")              # before the bot connects
        member = fake_discord.add_member(guild, "alice")    # moderator=True: Manage Server
        async with running_bot(MyBot(...), fake_discord):   # login, sync, READY, guilds
            asked = await fake_discord.slash_command(guild, guild.channel_named("general"),
                                                     member, "echo", {"text": "hi"})
            reply = await fake_discord.wait_for_response(asked)   # what alice sees
        assert reply.content == "hi" and fake_discord.unknown_requests == []

Also: click_button, choose, submit_modal, send_message (mentions, replies; the
message-content rule applied), upload_attachment (served by the fake's CDN),
wait_for_message, gateway.drop_connection (then RESUME), ack_deadline,
enabled_privileged_intents. Requests the bot made are in `requests`; Discord's refusals
of its interaction responses in each InteractionRecord's `rejections`.
"""

from .payloads import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Intent,
    MessageFlag,
    Perm,
)
from .recorder import InteractionRecord, InteractionReply, RecordedRequest, message_text
from .server import ClientWouldNotSend, FakeDiscord

__all__ = [
    "ClientWouldNotSend",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "Intent",
    "InteractionRecord",
    "InteractionReply",
    "MessageFlag",
    "Perm",
    "RecordedRequest",
    "message_text",
]
