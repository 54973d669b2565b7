"""The fake Discord's world (users, guilds, channels, members) and the JSON Discord sends about it.

Shapes follow Discord's API v10 documentation and what discord.py 2.7 reads (state.py,
guild.py, member.py, message.py, interactions.py). The fake deliberately does not import
discord: it plays the server, and the client under test must not help build its own input.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000


# Permission bits (https://discord.com/developers/docs/topics/permissions).
class Perm:
    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1

    # What @everyone gets in a new server, roughly.
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
        | ATTACH_FILES | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS | SEND_MESSAGES_IN_THREADS
    )
    # The bot role an invite with "Send Messages, Embed Links, ..." creates.
    BOT_DEFAULT = (
        VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
        | ADD_REACTIONS | USE_EXTERNAL_EMOJIS | SEND_MESSAGES_IN_THREADS
    )


# Gateway intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents).
class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class MessageFlag:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    IS_COMPONENTS_V2 = 1 << 15


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_CATEGORY = 4


class SnowflakeFactory:
    """Real-looking snowflakes: timestamp in the high bits, so discord.py's created_at is now."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, *, shard: tuple[int, int] | None = None) -> int:
        """A new id; with `shard=(id, count)`, one that shard owns ((id >> 22) % count:
        the timestamp is moved back by at most count - 1 ms)."""
        with self._lock:
            increment = next(self._counter) & 0xFFF
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if shard is not None:
            shard_id, count = shard
            millis -= (millis - shard_id) % count
        return (millis << 22) | (1 << 17) | increment


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def new_token(nbytes: int = 48) -> str:
    return secrets.token_urlsafe(nbytes)


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if self.bot:
            payload["bot"] = True
        return payload


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int | None
    type: int = ChannelType.GUILD_TEXT
    position: int = 0
    topic: str | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "topic": self.topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        return payload


@dataclass
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    roles: list[FakeRole] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def permissions(self) -> int:
        """Guild-level permissions: @everyone's, plus every role's; owner and admins get all."""
        if self.user.id == self.guild.owner_id:
            return Perm.ALL
        value = self.guild.everyone_role.permissions
        for role in self.roles:
            value |= role.permissions
        return Perm.ALL if value & Perm.ADMINISTRATOR else value

    def to_payload(self, *, with_user: bool = True, with_permissions: bool = False) -> JSON:
        payload: JSON = {
            "roles": [str(role.id) for role in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        if with_permissions:
            payload["permissions"] = str(self.permissions)
        return payload


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    _snowflake: SnowflakeFactory = field(repr=False)
    roles: list[FakeRole] = field(default_factory=list)
    channels: list[FakeChannel] = field(default_factory=list)
    members: dict[int, FakeMember] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.roles:
            # The @everyone role's id is the guild's id.
            self.roles.append(FakeRole(self.id, "@everyone", Perm.EVERYONE_DEFAULT))

    @property
    def everyone_role(self) -> FakeRole:
        return self.roles[0]

    def add_role(self, name: str, permissions: int, *, managed: bool = False) -> FakeRole:
        role = FakeRole(self._snowflake(), name, permissions, len(self.roles), managed)
        self.roles.append(role)
        return role

    def add_channel(self, name: str, *, topic: str | None = None) -> FakeChannel:
        channel = FakeChannel(self._snowflake(), name, self.id, position=len(self.channels),
                              topic=topic)
        self.channels.append(channel)
        return channel

    def add_member(self, user: FakeUser, *, roles: list[FakeRole] | None = None) -> FakeMember:
        member = FakeMember(user, self, list(roles or []))
        self.members[user.id] = member
        return member

    def role_named(self, name: str) -> FakeRole:
        return next(role for role in self.roles if role.name == name)

    def channel_named(self, name: str) -> FakeChannel:
        return next(channel for channel in self.channels if channel.name == name)

    def channel(self, channel_id: int) -> FakeChannel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def partial_payload(self) -> JSON:
        """The `guild` object interactions carry."""
        return {"id": str(self.id), "locale": "en-US", "features": []}

    def to_create_payload(self, *, members: list[FakeMember]) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_payload() for role in self.roles],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            # GUILD_CREATE-only fields
            "joined_at": iso_now(),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [member.to_payload() for member in members],
            "channels": [channel.to_payload() for channel in self.channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class FakeAttachment:
    """A file a member attached; its bytes are served by the fake's own CDN route."""

    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "flags": 0,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        return payload


def mentioned_user_ids(content: str) -> list[int]:
    """User ids in `<@id>` / `<@!id>` mentions, in order, without repeats."""
    seen: list[int] = []
    for match in re.finditer(r"<@!?(\d+)>", content):
        user_id = int(match.group(1))
        if user_id not in seen:
            seen.append(user_id)
    return seen


def message_payload(
    *,
    message_id: int,
    channel_id: int,
    guild_id: int | None,
    author: FakeUser,
    member: FakeMember | None = None,
    content: str = "",
    embeds: list[JSON] | None = None,
    components: list[JSON] | None = None,
    attachments: list[JSON] | None = None,
    mentions: list[JSON] | None = None,
    mention_everyone: bool = False,
    flags: int = 0,
    reference: JSON | None = None,
    referenced_message: JSON | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: JSON | None = None,
) -> JSON:
    """A complete message object, as REST returns it and MESSAGE_CREATE carries it."""
    payload: JSON = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author.to_payload(),
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": mention_everyone,
        "mentions": mentions or [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "reactions": [],
        "pinned": False,
        "type": 19 if reference is not None else 0,
        "flags": flags,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    if member is not None:
        payload["member"] = member.to_payload(with_user=False)
    if reference is not None:
        payload["message_reference"] = reference
        payload["referenced_message"] = referenced_message
    if webhook_id is not None:
        payload["webhook_id"] = str(webhook_id)
    if application_id is not None:
        payload["application_id"] = str(application_id)
    if interaction_metadata is not None:
        payload["interaction_metadata"] = interaction_metadata
        payload["type"] = 20 if interaction_metadata.get("type") == 2 else 0
    return payload
