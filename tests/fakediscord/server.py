"""FakeDiscord: Discord's REST API, CDN and gateway on 127.0.0.1, for real discord.py clients.

The test builds a world (guilds, channels, members), starts the fake inside its own event
loop, points discord.py at it (see fixtures.py), then plays the members: slash commands,
button clicks, modal submits, messages. Everything the bot sends is recorded and checked
against Discord's rules (3 s to acknowledge, once; no follow-up before the acknowledgement;
message and command limits), so a test asserts on what a member would actually see.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from . import recorder as rec
from .gateway import Gateway, GatewaySession
from .payloads import (
    JSON,
    ChannelType,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeUser,
    Intent,
    MessageFlag,
    Perm,
    SnowflakeFactory,
    iso_now,
    mentioned_user_ids,
    message_payload,
    new_token,
)
from .recorder import InteractionRecord, InteractionReply, RecordedRequest
from .validation import (
    ATTACHMENT,
    BOOLEAN,
    CHANNEL,
    INTEGER,
    MENTIONABLE,
    NUMBER,
    ROLE,
    STRING,
    USER,
    FormError,
    form_error_body,
    validate_commands,
    validate_message,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway-ws/"
RESUME_GATEWAY_PATH = "/resume-gateway/"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
# Token-in-URL routes: Discord does not want the bot's Authorization header on these.
UNAUTHENTICATED_PREFIXES = (f"{API_PREFIX}/interactions/", f"{API_PREFIX}/webhooks/",
                            f"{API_PREFIX}/gateway")

# Application flags telling a client which privileged intents are enabled.
APP_FLAG_BY_INTENT = {Intent.GUILD_PRESENCES: 1 << 13, Intent.GUILD_MEMBERS: 1 << 15,
                      Intent.MESSAGE_CONTENT: 1 << 19}
APPLICATION_COMMAND_BADGE = 1 << 23

T = TypeVar("T")
BODY_KEY = web.RequestKey("fake_body", object)
FILES_KEY = web.RequestKey("fake_files", list)


class ClientWouldNotSend(Exception):
    """The Discord client itself would not let a member do this (hidden command, missing
    required option, value over max_length, disabled button...). No interaction was sent."""


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py reads "...; charset=utf-8" as text.
    return web.Response(status=status, body=json.dumps(data).encode(),
                        headers={"Content-Type": "application/json"})


def error_response(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status)


class FakeDiscord:
    def __init__(
        self,
        *,
        app_name: str = "Spotlight",
        heartbeat_interval_ms: int = 41_250,
        ack_deadline: float = 3.0,
        enabled_privileged_intents: int = Intent.PRIVILEGED,
    ) -> None:
        self.snowflake = SnowflakeFactory()
        self.token = f"fake.{new_token(24)}"
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_deadline = ack_deadline
        self.enabled_privileged_intents = enabled_privileged_intents
        self.application_id = self.snowflake()
        self.bot_user = FakeUser(self.application_id, app_name, bot=True)
        self.app_owner = FakeUser(self.snowflake(), "operator")
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.app_owner)}
        self.guilds: dict[int, FakeGuild] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._interactions_by_token: dict[str, InteractionRecord] = {}
        self.messages: dict[int, JSON] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.typing: list[int] = []
        self.requests: list[RecordedRequest] = []
        self.gateway = Gateway(self)
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, *, port: int = 0) -> None:
        """Serve on 127.0.0.1:`port` (0: any free port). Stopping and starting again on the
        same port is an outage the bot must ride out; the state (sessions, guilds) stays."""
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024 * 1024)
        api = API_PREFIX
        routes = [
            ("GET", f"{api}/users/@me", self._get_me),
            ("GET", f"{api}/users/{{user_id}}", self._get_user),
            ("GET", f"{api}/oauth2/applications/@me", self._get_application),
            ("GET", f"{api}/gateway", self._get_gateway),
            ("GET", f"{api}/gateway/bot", self._get_gateway_bot),
            ("GET", f"{api}/applications/{{app_id}}/commands", self._get_commands),
            ("PUT", f"{api}/applications/{{app_id}}/commands", self._put_commands),
            ("GET", f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands",
             self._get_commands),
            ("PUT", f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands",
             self._put_commands),
            ("POST", f"{api}/interactions/{{interaction_id}}/{{token}}/callback",
             self._interaction_callback),
            ("POST", f"{api}/webhooks/{{app_id}}/{{token}}", self._webhook_execute),
            ("GET", f"{api}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}",
             self._webhook_get_message),
            ("PATCH", f"{api}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}",
             self._webhook_edit_message),
            ("DELETE", f"{api}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}",
             self._webhook_delete_message),
            ("GET", f"{api}/channels/{{channel_id}}", self._get_channel),
            ("POST", f"{api}/channels/{{channel_id}}/messages", self._create_channel_message),
            ("GET", f"{api}/channels/{{channel_id}}/messages/{{message_id}}",
             self._get_channel_message),
            ("PATCH", f"{api}/channels/{{channel_id}}/messages/{{message_id}}",
             self._edit_channel_message),
            ("DELETE", f"{api}/channels/{{channel_id}}/messages/{{message_id}}",
             self._delete_channel_message),
            ("POST", f"{api}/channels/{{channel_id}}/typing", self._typing),
            ("PUT", f"{api}/channels/{{channel_id}}/messages/{{message_id}}/reactions/"
             "{emoji}/@me", self._add_reaction),
            ("DELETE", f"{api}/channels/{{channel_id}}/messages/{{message_id}}/reactions/"
             "{emoji}/@me", self._remove_reaction),
            ("GET", f"{api}/guilds/{{guild_id}}", self._get_guild),
            ("GET", f"{api}/guilds/{{guild_id}}/members/{{user_id}}", self._get_member),
            ("GET", "/attachments/{attachment_id}/{filename}", self._get_attachment),
            ("GET", GATEWAY_PATH, self.gateway.handle),
            ("GET", RESUME_GATEWAY_PATH, self.gateway.handle),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route, name="unknown")
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        for connection in self.gateway.connections:
            if connection.open:
                await asyncio.wait_for(connection.close(1001, "Fake Discord stopping"), 5)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        """What discord.http.Route.BASE must be."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What DiscordWebSocket.DEFAULT_GATEWAY must be (as a yarl.URL)."""
        return self.base_url.replace("http://", "ws://") + GATEWAY_PATH

    @property
    def resume_gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + RESUME_GATEWAY_PATH

    # --- building the world ---------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> FakeUser:
        user = FakeUser(self.snowflake(), username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str = "Test Server", *, channels: Iterable[str] = ("general",),
                  shard: tuple[int, int] | None = None) -> FakeGuild:
        """A guild the bot is in (with its managed role), with an owner and channels; with
        `shard=(id, count)`, one whose events go to that shard.
        Add guilds before the bot connects, or call `announce_guild` afterwards."""
        owner = self.add_user(f"{name.lower().replace(' ', '_')}_owner")
        guild = FakeGuild(self.snowflake(shard=shard), name, owner.id, self.snowflake)
        guild.add_member(owner)
        bot_role = guild.add_role(self.bot_user.username, Perm.BOT_DEFAULT, managed=True)
        guild.add_member(self.bot_user, roles=[bot_role])
        for channel_name in channels:
            guild.add_channel(channel_name)
        self.guilds[guild.id] = guild
        return guild

    def add_member(self, guild: FakeGuild, username: str, *, moderator: bool = False,
                   permissions: int = 0) -> FakeMember:
        """A new user in `guild`. moderator=True gives the "Moderator" role (Manage Server)."""
        roles = []
        if moderator:
            try:
                roles.append(guild.role_named("Moderator"))
            except StopIteration:
                roles.append(guild.add_role("Moderator", Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES))
        if permissions:
            roles.append(guild.add_role(f"{username}-role", permissions))
        return guild.add_member(self.add_user(username), roles=roles)

    async def announce_guild(self, guild: FakeGuild) -> None:
        """The bot joined `guild` while connected: GUILD_CREATE."""
        session = self._session()
        await self.gateway.dispatch("GUILD_CREATE", self.guild_create_payload(guild, session))

    def upload_attachment(self, filename: str, data: bytes, content_type: str | None = None
                          ) -> FakeAttachment:
        """A file a member attaches; its url is served by this fake's CDN route."""
        attachment_id = self.snowflake()
        attachment = FakeAttachment(attachment_id, filename, data, content_type,
                                    f"{self.base_url}/attachments/{attachment_id}/{filename}")
        self.attachments[attachment_id] = attachment
        return attachment

    def bot_member(self, guild: FakeGuild) -> FakeMember:
        return guild.members[self.bot_user.id]

    def guild_of(self, channel: FakeChannel) -> FakeGuild:
        if channel.guild_id is None or channel.guild_id not in self.guilds:
            raise ValueError(f"channel {channel.name} is not in a known guild")
        return self.guilds[channel.guild_id]

    # --- gateway payloads -----------------------------------------------------------------

    def application_flags(self) -> int:
        flags = APPLICATION_COMMAND_BADGE
        for intent, flag in APP_FLAG_BY_INTENT.items():
            if self.enabled_privileged_intents & intent:
                flags |= flag
        return flags

    def me_payload(self) -> JSON:
        return {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": False,
                "email": None, "locale": "en-US", "premium_type": 0}

    def ready_payload(self, session: GatewaySession) -> JSON:
        payload: JSON = {
            "v": 10,
            "user": self.me_payload(),
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in self.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["local"],
            "guild_join_requests": [],
            "user_settings": {},
            "_trace": ["[\"fake-gateway\",{\"micros\":0}]"],
        }
        if session.shard is not None:
            payload["shard"] = session.shard
        return payload

    def guild_create_payload(self, guild: FakeGuild, session: GatewaySession) -> JSON:
        # Without GUILD_MEMBERS Discord sends only the bot's own member.
        if session.has_intent(Intent.GUILD_MEMBERS):
            members = list(guild.members.values())
        else:
            members = [self.bot_member(guild)]
        return guild.to_create_payload(members=members)

    def _session(self) -> GatewaySession:
        if self.gateway.current is None:
            raise RuntimeError("the bot has not identified on the gateway yet")
        return self.gateway.current

    # --- waiting --------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every waiter: something was recorded."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, condition: Callable[[], T | None], *, timeout: float = 10.0,
                       what: str = "condition") -> T:
        """Wait until condition() returns something truthy; return it. The fake's own
        changes wake the wait at once; state elsewhere (the bot's) is polled every 20 ms."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n"
                                   + self.describe())
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 0.02))
            except TimeoutError:
                continue

    async def wait_until_ready(self, *, timeout: float = 15.0) -> None:
        """The bot identified and was sent READY and every GUILD_CREATE."""
        await self.wait_for(lambda: self.gateway.identify_count > 0 and self.gateway.connected,
                            timeout=timeout, what="the bot to identify on the gateway")

    async def wait_for_resume(self, *, count: int = 1, timeout: float = 20.0) -> None:
        await self.wait_for(lambda: self.gateway.resume_count >= count and self.gateway.connected,
                            timeout=timeout, what=f"gateway RESUME #{count}")

    async def wait_for_response(
        self,
        interaction: InteractionRecord | int,
        *,
        timeout: float = 10.0,
        predicate: Callable[[InteractionReply], bool] | None = None,
    ) -> InteractionReply:
        """What the member sees once the bot settled its answer: acknowledged and no longer
        "thinking" (unless `predicate` says what to wait for instead)."""
        interaction_id = interaction if isinstance(interaction, int) else interaction.id

        def settled() -> InteractionReply | None:
            reply = self.reply(interaction_id)
            if predicate is not None:
                return reply if predicate(reply) else None
            done = reply.callback_type is not None and not reply.loading
            return reply if done else None

        return await self.wait_for(settled, timeout=timeout,
                                   what=f"the response to interaction {interaction_id}")

    def reply(self, interaction: InteractionRecord | int) -> InteractionReply:
        """What the member sees now for this interaction."""
        interaction_id = interaction if isinstance(interaction, int) else interaction.id
        record = self.interactions[interaction_id]
        message_ids = [record.original_message_id] if record.original_message_id else []
        message_ids += record.followup_ids
        return InteractionReply(
            interaction_id=record.id,
            callback_type=record.callback_type,
            messages=[copy.deepcopy(self.messages[m]) for m in message_ids if m in self.messages],
            modal=record.modal,
            loading=record.loading,
            rejections=list(record.rejections),
        )

    async def wait_for_message(
        self,
        channel: FakeChannel,
        *,
        reply_to: JSON | None = None,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 10.0,
    ) -> JSON:
        """The first message the bot sent in `channel` (a reply to `reply_to` if given)."""

        def find() -> JSON | None:
            for message in self.bot_messages(channel):
                reference = message.get("message_reference") or {}
                if reply_to is not None and reference.get("message_id") != reply_to["id"]:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_for(find, timeout=timeout,
                                   what=f"a bot message in #{channel.name}")

    def bot_messages(self, channel: FakeChannel) -> list[JSON]:
        """Messages the bot posted in the channel (not interaction responses), oldest first."""
        return [copy.deepcopy(self.messages[m]) for m in self.channel_messages.get(channel.id, [])
                if m in self.messages and self.messages[m]["author"]["id"] == str(self.bot_user.id)
                and "webhook_id" not in self.messages[m]]

    # --- what the bot did -----------------------------------------------------------------

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes this fake does not serve: a test asserts this stays empty."""
        return [request for request in self.requests if not request.known_route]

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def commands_for(self, guild: FakeGuild | None = None) -> list[JSON]:
        return self.global_commands if guild is None else self.guild_commands.get(guild.id, [])

    def describe(self) -> str:
        """A summary for failure messages."""
        lines = [f"gateway: identified={self.gateway.identify_count} "
                 f"resumed={self.gateway.resume_count} connected={self.gateway.connected}"]
        for request in self.requests[-15:]:
            lines.append(f"  {request.method} {request.path} -> {request.status}"
                         + ("" if request.known_route else "  (UNKNOWN ROUTE)"))
        for record in list(self.interactions.values())[-5:]:
            lines.append(f"  interaction {record.id} type={record.type} "
                         f"callback={record.callback_type} loading={record.loading} "
                         f"rejections={record.rejections}")
        return "\n".join(lines)

    # --- playing members: interactions ----------------------------------------------------

    async def send_interaction(self, payload: JSON) -> InteractionRecord:
        """Send a ready-made INTERACTION_CREATE payload (must name a known guild, channel
        and member). The helpers below build these payloads."""
        guild = self.guilds[int(payload["guild_id"])]
        channel = guild.channel(int(payload["channel"]["id"]))
        member = guild.members[int(payload["member"]["user"]["id"])]
        if channel is None:
            raise ValueError("unknown channel in interaction payload")
        record = InteractionRecord(int(payload["id"]), payload["token"], payload["type"],
                                   payload, guild, channel, member)
        self.interactions[record.id] = record
        self._interactions_by_token[record.token] = record

        def delivered() -> None:
            record.delivered_at = time.monotonic()

        await self.gateway.dispatch("INTERACTION_CREATE", payload, on_sent=delivered)
        return record

    def interaction_payload(self, kind: int, data: JSON, member: FakeMember,
                            channel: FakeChannel, *, message: JSON | None = None) -> JSON:
        guild = self.guild_of(channel)
        payload: JSON = {
            "id": str(self.snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild": guild.partial_payload(),
            "guild_id": str(guild.id),
            "channel": {**channel.to_payload(), "permissions": str(member.permissions)},
            "channel_id": str(channel.id),
            "member": member.to_payload(with_permissions=True),
            "token": new_token(),
            "version": 1,
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": str(self.bot_member(guild).permissions),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def find_command(self, name: str, guild: FakeGuild | None) -> JSON:
        """A chat-input command registered for the guild (guild commands first) or globally."""
        candidates = (self.guild_commands.get(guild.id, []) if guild else []) + self.global_commands
        for command in candidates:
            if command["name"] == name and command.get("type", 1) == 1:
                return command
        raise ClientWouldNotSend(f"/{name} is not registered (synced: "
                                 f"{[c['name'] for c in candidates]})")

    async def slash_command(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        bypass_default_permissions: bool = False,
    ) -> InteractionRecord:
        """A member runs `/name [subcommand] option:value...` as the Discord client would
        send it. `name` may hold the subcommand path ("library add"). Option values: str, int,
        float, bool, FakeUser/FakeMember, FakeChannel, FakeRole, FakeAttachment.

        bypass_default_permissions: the server's Integrations settings let this member use a
        command its default_member_permissions would hide (to test the bot's own check)."""
        path = name.split() + (subcommand.split() if subcommand else [])
        command = self.find_command(path[0], guild)
        required = int(command.get("default_member_permissions") or 0)
        if (command.get("default_member_permissions") is not None and not bypass_default_permissions
                and (member.permissions & required) != required):
            raise ClientWouldNotSend(f"/{path[0]} is hidden from {member.user.username}: needs "
                                     f"permissions {required}")
        resolved: dict[str, dict[str, JSON]] = {}
        schema = command.get("options") or []
        nested_path: list[JSON] = []
        for part in path[1:]:
            found = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
            if found is None:
                raise ClientWouldNotSend(f"/{name}: no subcommand {part!r}")
            nested_path.append(found)
            schema = found.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise ClientWouldNotSend(f"/{name} needs a subcommand")
        leaf_options = self._build_options(schema, dict(options or {}), guild, resolved)
        for parent in reversed(nested_path):
            leaf_options = [{"type": parent["type"], "name": parent["name"],
                             "options": leaf_options}]
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1,
                      "options": leaf_options}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self.send_interaction(self.interaction_payload(2, data, member, channel))

    def _build_options(self, schema: list[JSON], given: dict[str, Any], guild: FakeGuild,
                       resolved: dict[str, dict[str, JSON]]) -> list[JSON]:
        unknown = set(given) - {o["name"] for o in schema}
        if unknown:
            raise ClientWouldNotSend(f"unknown options {sorted(unknown)}")
        built = []
        for option in schema:
            if option["name"] not in given:
                if option.get("required"):
                    raise ClientWouldNotSend(f"option {option['name']!r} is required")
                continue
            value = self._option_value(option, given[option["name"]], guild, resolved)
            built.append({"name": option["name"], "type": option["type"], "value": value})
        return built

    def _option_value(self, option: JSON, value: Any, guild: FakeGuild,
                      resolved: dict[str, dict[str, JSON]]) -> Any:
        kind, name = option["type"], option["name"]
        if kind == STRING:
            value = str(value)
            if option.get("max_length") is not None and len(value) > option["max_length"]:
                raise ClientWouldNotSend(f"{name}: longer than max_length {option['max_length']}")
            if option.get("min_length") is not None and len(value) < option["min_length"]:
                raise ClientWouldNotSend(f"{name}: shorter than min_length {option['min_length']}")
        elif kind in (INTEGER, NUMBER):
            value = int(value) if kind == INTEGER else float(value)
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ClientWouldNotSend(f"{name}: {value} outside [{low}, {high}]")
        elif kind == BOOLEAN:
            value = bool(value)
        elif kind in (USER, MENTIONABLE) and isinstance(value, FakeMember | FakeUser):
            user = value.user if isinstance(value, FakeMember) else value
            resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
            member = guild.members.get(user.id)
            if member is not None:
                resolved.setdefault("members", {})[str(user.id)] = member.to_payload(
                    with_user=False, with_permissions=True)
            value = str(user.id)
        elif kind == CHANNEL and isinstance(value, FakeChannel):
            bot_permissions = self.bot_member(guild).permissions
            resolved.setdefault("channels", {})[str(value.id)] = {
                **value.to_payload(), "permissions": str(bot_permissions)}
            value = str(value.id)
        elif kind in (ROLE, MENTIONABLE) and hasattr(value, "permissions"):
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            value = str(value.id)
        elif kind == ATTACHMENT and isinstance(value, FakeAttachment):
            resolved.setdefault("attachments", {})[str(value.id)] = value.to_payload()
            value = str(value.id)
        else:
            raise ClientWouldNotSend(f"{name}: cannot send {value!r} as option type {kind}")
        choices = option.get("choices")
        if choices and value not in [choice["value"] for choice in choices]:
            raise ClientWouldNotSend(f"{name}: {value!r} is not one of the choices")
        return value

    async def click_button(self, message: JSON, custom_id: str, member: FakeMember
                           ) -> InteractionRecord:
        """A member clicks a button on a message the bot sent."""
        component = self._find_component(message, custom_id)
        if component.get("type") != 2:
            raise ClientWouldNotSend(f"{custom_id!r} is not a button")
        data = {"custom_id": custom_id, "component_type": 2}
        if component.get("id") is not None:
            data["id"] = component["id"]
        return await self._component_interaction(message, data, member)

    async def choose(self, message: JSON, custom_id: str, values: list[str], member: FakeMember
                     ) -> InteractionRecord:
        """A member picks from a string select menu."""
        component = self._find_component(message, custom_id)
        offered = [option["value"] for option in component.get("options") or []]
        if component.get("type") != 3 or not set(values) <= set(offered):
            raise ClientWouldNotSend(f"{values} not offered by select {custom_id!r}")
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        return await self._component_interaction(message, data, member)

    def _find_component(self, message: JSON, custom_id: str) -> JSON:
        current = self.messages.get(int(message["id"]), message)
        for component in rec.iter_components(current.get("components") or []):
            if component.get("custom_id") == custom_id:
                if component.get("disabled"):
                    raise ClientWouldNotSend(f"{custom_id!r} is disabled")
                return component
        raise ClientWouldNotSend(f"no component {custom_id!r} on message {message['id']}: "
                                 f"{rec.message_custom_ids(current)}")

    async def _component_interaction(self, message: JSON, data: JSON, member: FakeMember
                                     ) -> InteractionRecord:
        current = copy.deepcopy(self.messages.get(int(message["id"]), message))
        guild = self.guilds[int(current.get("guild_id") or member.guild.id)]
        channel = guild.channel(int(current["channel_id"]))
        if channel is None:
            raise ValueError("message is not in a known channel")
        payload = self.interaction_payload(3, data, member, channel, message=current)
        return await self.send_interaction(payload)

    async def submit_modal(self, opened_by: InteractionRecord | int, values: Mapping[str, str],
                           member: FakeMember | None = None) -> InteractionRecord:
        """The member fills in the modal the bot opened in reply to `opened_by` and submits.
        `values` maps each text input's custom_id to what the member typed."""
        source = self.interactions[opened_by if isinstance(opened_by, int) else opened_by.id]
        modal = source.modal
        if modal is None:
            raise ClientWouldNotSend(f"interaction {source.id} opened no modal")
        submitted = [self._submitted_component(c, values) for c in modal["components"]]
        data = {"custom_id": modal["custom_id"], "components": submitted}
        payload = self.interaction_payload(5, data, member or source.member, source.channel,
                                           message=source.payload.get("message"))
        return await self.send_interaction(payload)

    def _submitted_component(self, component: JSON, values: Mapping[str, str]) -> JSON:
        kind = component.get("type")
        if kind == 1:
            return {"type": 1, "components": [self._submitted_component(c, values)
                                              for c in component.get("components") or []]}
        if kind == 18:
            return {"type": 18, "id": component.get("id"),
                    "component": self._submitted_component(component["component"], values)}
        if kind != 4:
            return {"type": kind, "id": component.get("id")}
        custom_id = component["custom_id"]
        value = values.get(custom_id, component.get("value") or "")
        if component.get("required", True) and not value:
            raise ClientWouldNotSend(f"text input {custom_id!r} is required")
        low, high = component.get("min_length"), component.get("max_length")
        if value and ((low is not None and len(value) < low)
                      or (high is not None and len(value) > high)):
            raise ClientWouldNotSend(f"text input {custom_id!r}: length outside [{low}, {high}]")
        return {"type": 4, "id": component.get("id"), "custom_id": custom_id, "value": value}

    # --- playing members: messages --------------------------------------------------------

    async def send_message(
        self,
        channel: FakeChannel,
        author: FakeMember,
        content: str = "",
        *,
        reference: JSON | None = None,
        mention_author: bool = True,
        attachments: Iterable[FakeAttachment] = (),
    ) -> JSON:
        """A member posts in a channel (a reply when `reference` is a message). Mentions come
        from `<@id>` in the content, plus the replied-to author when mention_author is on.
        The bot receives MESSAGE_CREATE if it has the GUILD_MESSAGES intent; the content is
        blanked unless it has MESSAGE_CONTENT or is mentioned, as Discord does."""
        guild = self.guild_of(channel)
        mentioned = [self.users[i] for i in mentioned_user_ids(content) if i in self.users]
        reference_payload = referenced = None
        if reference is not None:
            referenced = copy.deepcopy(self.messages.get(int(reference["id"]), reference))
            reference_payload = {"type": 0, "message_id": referenced["id"],
                                 "channel_id": referenced["channel_id"], "guild_id": str(guild.id)}
            replied_author = self.users.get(int(referenced["author"]["id"]))
            if mention_author and replied_author is not None and replied_author not in mentioned:
                mentioned.append(replied_author)
        message = message_payload(
            message_id=self.snowflake(), channel_id=channel.id, guild_id=guild.id,
            author=author.user, member=author, content=content,
            attachments=[a.to_payload() for a in attachments],
            mentions=[self._mention_payload(user, guild) for user in mentioned],
            reference=reference_payload, referenced_message=referenced,
        )
        self._store(message, channel)
        session = self._session()
        if session.has_intent(Intent.GUILD_MESSAGES):
            await self.gateway.dispatch("MESSAGE_CREATE", self._as_seen_by_bot(message, session))
        return copy.deepcopy(message)

    def _mention_payload(self, user: FakeUser, guild: FakeGuild | None) -> JSON:
        payload = user.to_payload()
        member = guild.members.get(user.id) if guild else None
        if member is not None:
            payload["member"] = member.to_payload(with_user=False)
        return payload

    def _as_seen_by_bot(self, message: JSON, session: GatewaySession) -> JSON:
        """Discord's message-content rule: without the MESSAGE_CONTENT intent a bot sees
        content, embeds, attachments and components only of messages that mention it, DMs,
        and its own messages."""
        seen = copy.deepcopy(message)
        if self._bot_may_read(message, session):
            return seen
        seen.update(content="", embeds=[], attachments=[], components=[])
        if isinstance(seen.get("referenced_message"), dict):
            seen["referenced_message"] = self._as_seen_by_bot(seen["referenced_message"], session)
        return seen

    def _bot_may_read(self, message: JSON, session: GatewaySession) -> bool:
        bot_id = str(self.bot_user.id)
        return (session.has_intent(Intent.MESSAGE_CONTENT)
                or message["author"]["id"] == bot_id
                or "guild_id" not in message
                or any(user["id"] == bot_id for user in message.get("mentions") or []))

    def _store(self, message: JSON, channel: FakeChannel) -> None:
        self.messages[int(message["id"])] = message
        if not int(message.get("flags") or 0) & MessageFlag.EPHEMERAL:
            self.channel_messages.setdefault(channel.id, []).append(int(message["id"]))
        self.notify()

    # --- HTTP plumbing --------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        path = request.path
        if path in (GATEWAY_PATH, RESUME_GATEWAY_PATH):
            return await handler(request)
        needs_auth = path.startswith(API_PREFIX) and not path.startswith(UNAUTHENTICATED_PREFIXES)
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            response: web.StreamResponse = error_response(401, 0, "401: Unauthorized")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = error_response(exc.status, 0, f"{exc.status}: {exc.reason}")
        await self._record(request, response)
        return response

    async def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        body_sent, files = await self._read_body(request)
        route = request.match_info.route
        body = None
        if isinstance(response, web.Response) and response.content_type == "application/json":
            body = json.loads(response.body)  # type: ignore[arg-type]
        path = request.path.removeprefix(API_PREFIX)
        self.requests.append(RecordedRequest(
            method=request.method, path=path, query=dict(request.query),
            body=body_sent, files=tuple((name, data) for name, data, _ in files),
            status=response.status, response=body, known_route=route.name != "unknown"))
        if route.name == "unknown":
            log.warning("fake discord: unknown route %s %s", request.method, path)
        self.notify()

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes, str]]]:
        """JSON body (or multipart payload_json) and uploaded files, cached on the request."""
        if BODY_KEY in request:
            return request[BODY_KEY], request[FILES_KEY]
        body: Any = None
        files: list[tuple[str, bytes, str]] = []
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                if key == "payload_json":
                    body = json.loads(value if isinstance(value, str) else value.file.read())
                elif isinstance(value, web.FileField):
                    files.append((value.filename, value.file.read(), value.content_type))
        elif request.body_exists:
            text = await request.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
        request[BODY_KEY], request[FILES_KEY] = body, files
        return body, files

    async def _unknown_route(self, request: web.Request) -> web.Response:
        return error_response(404, 0, "404: Not Found")

    # --- REST: identity and gateway -------------------------------------------------------

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(self.me_payload())

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(int(request.match_info["user_id"]))
        if user is None:
            return error_response(404, 10013, "Unknown User")
        return json_response(user.to_payload())

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response({
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.app_owner.to_payload(),
            "team": None,
            "flags": self.application_flags(),
            "bot": self.bot_user.to_payload(),
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        })

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response({
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                    "max_concurrency": 1},
        })

    # --- REST: application commands -------------------------------------------------------

    def _command_scope(self, request: web.Request) -> tuple[int | None, web.Response | None]:
        if int(request.match_info["app_id"]) != self.application_id:
            return None, error_response(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return None, None
        if int(guild_id) not in self.guilds:
            return None, error_response(403, 50001, "Missing Access")
        return int(guild_id), None

    async def _get_commands(self, request: web.Request) -> web.Response:
        guild_id, error = self._command_scope(request)
        if error is not None:
            return error
        commands = self.global_commands if guild_id is None else self.guild_commands.get(guild_id,
                                                                                        [])
        return json_response(commands)

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id, error = self._command_scope(request)
        if error is not None:
            return error
        body, _ = await self._read_body(request)
        errors = validate_commands(body)
        if errors:
            return json_response(form_error_body(errors), 400)
        previous = {(c["type"], c["name"]): c for c in self.commands_for(
            self.guilds[guild_id] if guild_id else None)}
        stored = []
        for command in body:
            kind = command.get("type", 1)
            old = previous.get((kind, command["name"]))
            permissions = command.get("default_member_permissions")
            full = {
                "id": old["id"] if old else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description", ""),
                "description_localizations": command.get("description_localizations"),
                "options": command.get("options") or [],
                "default_member_permissions": None if permissions is None else str(permissions),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": command.get("nsfw", False),
            }
            if guild_id is not None:
                full["guild_id"] = str(guild_id)
            stored.append(full)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        return json_response(stored)

    # --- REST: interaction responses ------------------------------------------------------

    def _reject(self, record: InteractionRecord, status: int, code: int, message: str
                ) -> web.Response:
        record.rejections.append((status, {"code": code, "message": message}))
        self.notify()
        return error_response(status, code, message)

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            return error_response(404, 10062, "Unknown interaction")
        if record.callback_type is not None:
            return self._reject(record, 400, 40060, "Interaction has already been acknowledged.")
        if record.delivered_at is None or record.age() > self.ack_deadline:
            # Discord forgets an interaction not acknowledged within 3 seconds.
            return self._reject(record, 404, 10062, "Unknown interaction")
        callback_type = body.get("type") if isinstance(body, dict) else None
        allowed = {rec.APPLICATION_COMMAND: {4, 5, 9}, rec.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
                   rec.AUTOCOMPLETE: {8}, rec.MODAL_SUBMIT: {4, 5, 6, 7}}[record.type]
        if record.type == rec.MODAL_SUBMIT and "message" not in record.payload:
            allowed = {4, 5}
        if callback_type not in allowed:
            error = FormError(("type",), "INTERACTION_CALLBACK_TYPE_INVALID",
                              f"Callback type {callback_type} is invalid for interaction type "
                              f"{record.type}")
            record.rejections.append((400, form_error_body([error])))
            return json_response(form_error_body([error]), 400)
        data = body.get("data") or {}
        message: JSON | None = None
        if callback_type == rec.CHANNEL_MESSAGE:
            if failure := validate_message(data, has_files=bool(files)):
                record.rejections.append(failure)
                return json_response(failure[1], failure[0])
            message = self._interaction_message(record, data, files,
                                                flags=int(data.get("flags") or 0))
            record.original_message_id = int(message["id"])
            record.answered()
        elif callback_type == rec.DEFERRED_CHANNEL_MESSAGE:
            ephemeral = int(data.get("flags") or 0) & MessageFlag.EPHEMERAL
            message = self._interaction_message(record, {}, [],
                                                flags=MessageFlag.LOADING | ephemeral)
            record.original_message_id = int(message["id"])
            record.loading = True
        elif callback_type in (rec.DEFERRED_UPDATE_MESSAGE, rec.UPDATE_MESSAGE):
            record.original_message_id = int(record.payload["message"]["id"])
            if callback_type == rec.UPDATE_MESSAGE:
                if failure := validate_message(data, has_files=bool(files), partial=True):
                    record.rejections.append(failure)
                    return json_response(failure[1], failure[0])
                message = self._edit(record.original_message_id, data, files)
                record.answered()
        elif callback_type == rec.AUTOCOMPLETE_RESULT:
            record.autocomplete_choices = list(data.get("choices") or [])
        elif callback_type == rec.MODAL:
            if failure := self._validate_modal(data):
                record.rejections.append(failure)
                return json_response(failure[1], failure[0])
            record.modal = data
        record.callback_type = callback_type
        record.callback_body = body
        record.acknowledged_at = time.monotonic()
        self.notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        interaction: JSON = {"id": str(record.id), "type": record.type}
        resource: JSON = {"type": callback_type}
        if message is not None:
            interaction.update(
                response_message_id=message["id"],
                response_message_loading=callback_type == rec.DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=bool(int(message["flags"]) & MessageFlag.EPHEMERAL))
            resource["message"] = message
        return json_response({"interaction": interaction, "resource": resource})

    def _validate_modal(self, data: JSON) -> tuple[int, JSON] | None:
        errors = []
        if not 1 <= len(str(data.get("title") or "")) <= 45:
            errors.append(FormError(("data", "title"), "BASE_TYPE_BAD_LENGTH",
                                    "Must be between 1 and 45 in length."))
        if not 1 <= len(str(data.get("custom_id") or "")) <= 100:
            errors.append(FormError(("data", "custom_id"), "BASE_TYPE_BAD_LENGTH",
                                    "Must be between 1 and 100 in length."))
        if not 1 <= len(data.get("components") or []) <= 5:
            errors.append(FormError(("data", "components"), "BASE_TYPE_BAD_LENGTH",
                                    "Must be between 1 and 5 in length."))
        return (400, form_error_body(errors)) if errors else None

    def _interaction_message(self, record: InteractionRecord, data: JSON,
                             files: list[tuple[str, bytes, str]], *, flags: int) -> JSON:
        """A message sent as (or for) an interaction response, authored by the app."""
        guild = record.guild
        mentions = self._bot_mentions(data.get("content") or "", data.get("allowed_mentions"),
                                      replied_user=None, guild=guild)
        message = message_payload(
            message_id=self.snowflake(), channel_id=record.channel.id,
            guild_id=guild.id if guild else None, author=self.bot_user,
            content=data.get("content") or "", embeds=data.get("embeds") or [],
            components=data.get("components") or [],
            attachments=self._store_uploads(record.channel, files, data.get("attachments")),
            mentions=mentions, flags=flags & (MessageFlag.EPHEMERAL | MessageFlag.LOADING
                                               | MessageFlag.IS_COMPONENTS_V2 | 4 | 4096),
            webhook_id=self.application_id, application_id=self.application_id,
            interaction_metadata={"id": str(record.id), "type": record.type,
                                  "user": record.member.user.to_payload(),
                                  "authorizing_integration_owners": {"0": str(guild.id)}
                                  if guild else {}},
        )
        self._store(message, record.channel)
        return copy.deepcopy(message)

    def _bot_mentions(self, content: str, allowed: JSON | None, *, replied_user: int | None,
                      guild: FakeGuild | None) -> list[JSON]:
        """Who a bot message pings, by Discord's allowed_mentions rules (absent = parse all)."""
        if allowed is None:
            parse, listed, ping_replied = {"users", "roles", "everyone"}, set(), True
        else:
            parse = set(allowed.get("parse") or [])
            listed = {str(user_id) for user_id in allowed.get("users") or []}
            ping_replied = bool(allowed.get("replied_user", False))
        ids = [i for i in mentioned_user_ids(content) if "users" in parse or str(i) in listed]
        if ping_replied and replied_user is not None and replied_user not in ids:
            ids.append(replied_user)
        return [self._mention_payload(self.users[i], guild) for i in ids if i in self.users]

    def _store_uploads(self, channel: FakeChannel, files: list[tuple[str, bytes, str]],
                       kept: list[JSON] | None, previous: list[JSON] | None = None) -> list[JSON]:
        """New uploads become attachments served by the fake CDN; edits keep listed ones."""
        previous_by_id = {a["id"]: a for a in previous or []}
        result = [previous_by_id[str(a.get("id"))] for a in kept or []
                  if str(a.get("id")) in previous_by_id]
        for filename, data, content_type in files:
            result.append(self.upload_attachment(filename, data, content_type).to_payload())
        return result

    def _edit(self, message_id: int, data: JSON, files: list[tuple[str, bytes, str]]) -> JSON:
        message = self.messages[message_id]
        was_loading = bool(int(message.get("flags") or 0) & MessageFlag.LOADING)
        for key in ("content", "embeds", "components"):
            if key in data:
                message[key] = data[key] if data[key] is not None else ([] if key != "content"
                                                                        else "")
        if "attachments" in data or files:
            channel_id = int(message["channel_id"])
            channel = next(c for g in self.guilds.values() for c in g.channels
                           if c.id == channel_id)
            message["attachments"] = self._store_uploads(channel, files, data.get("attachments"),
                                                         message.get("attachments"))
        if "allowed_mentions" in data or "content" in data:
            guild = self.guilds.get(int(message.get("guild_id") or 0))
            message["mentions"] = self._bot_mentions(message.get("content") or "",
                                                     data.get("allowed_mentions"),
                                                     replied_user=None, guild=guild)
        message["flags"] = int(message.get("flags") or 0) & ~MessageFlag.LOADING
        if not was_loading:
            message["edited_timestamp"] = iso_now()
        self.notify()
        return copy.deepcopy(message)

    def _webhook_record(self, request: web.Request) -> tuple[InteractionRecord | None,
                                                              web.Response | None]:
        record = self._interactions_by_token.get(request.match_info["token"])
        if record is None or int(request.match_info["app_id"]) != self.application_id:
            return None, error_response(404, 10015, "Unknown Webhook")
        if record.callback_type is None:
            # Follow-ups and edits exist only after the interaction was acknowledged.
            return None, self._reject(record, 404, 10015, "Unknown Webhook")
        return record, None

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        record, error = self._webhook_record(request)
        if record is None:
            return error  # type: ignore[return-value]
        body = body if isinstance(body, dict) else {}
        if failure := validate_message(body, has_files=bool(files)):
            record.rejections.append(failure)
            return json_response(failure[1], failure[0])
        if record.loading and record.original_message_id is not None:
            # The first follow-up after a "thinking" defer replaces the loading message.
            message = self._edit(record.original_message_id, body, files)
            record.loading = False
        else:
            message = self._interaction_message(record, body, files,
                                                flags=int(body.get("flags") or 0))
            record.followup_ids.append(int(message["id"]))
        record.answered()
        self.notify()
        if request.query.get("wait") in ("true", "1", "True"):
            return json_response(message)
        return web.Response(status=204)

    def _webhook_target(self, record: InteractionRecord, raw_id: str) -> int | None:
        if raw_id == "@original":
            return record.original_message_id
        message_id = int(raw_id)
        owned = message_id == record.original_message_id or message_id in record.followup_ids
        return message_id if owned and message_id in self.messages else None

    def _webhook_message(
        self, request: web.Request
    ) -> tuple[InteractionRecord, int] | web.Response:
        """The interaction and the message a webhook route names, or the error Discord sends."""
        record, error = self._webhook_record(request)
        if record is None:
            return error  # type: ignore[return-value]
        target = self._webhook_target(record, request.match_info["message_id"])
        if target is None or target not in self.messages:
            return error_response(404, 10008, "Unknown Message")
        return record, target

    async def _webhook_get_message(self, request: web.Request) -> web.Response:
        found = self._webhook_message(request)
        if isinstance(found, web.Response):
            return found
        _record, target = found
        return json_response(self.messages[target])

    async def _webhook_edit_message(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        found = self._webhook_message(request)
        if isinstance(found, web.Response):
            return found
        record, target = found
        body = body if isinstance(body, dict) else {}
        if failure := validate_message(body, has_files=bool(files), partial=True):
            record.rejections.append(failure)
            return json_response(failure[1], failure[0])
        message = self._edit(target, body, files)
        if target == record.original_message_id:
            record.loading = False
        record.answered()
        self.notify()
        return json_response(message)

    async def _webhook_delete_message(self, request: web.Request) -> web.Response:
        found = self._webhook_message(request)
        if isinstance(found, web.Response):
            return found
        record, target = found
        del self.messages[target]
        if target == record.original_message_id:
            record.loading = False
        self.notify()
        return web.Response(status=204)

    # --- REST: channels, guilds, CDN ------------------------------------------------------

    def _channel(self, request: web.Request) -> tuple[FakeChannel | None, FakeGuild | None]:
        channel_id = int(request.match_info["channel_id"])
        for guild in self.guilds.values():
            channel = guild.channel(channel_id)
            if channel is not None:
                return channel, guild
        return None, None

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel, _ = self._channel(request)
        if channel is None:
            return error_response(404, 10003, "Unknown Channel")
        return json_response(channel.to_payload())

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        channel, guild = self._channel(request)
        if channel is None or guild is None:
            return error_response(404, 10003, "Unknown Channel")
        needed = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
        if self.bot_member(guild).permissions & needed != needed:
            return error_response(403, 50013, "Missing Permissions")
        body = body if isinstance(body, dict) else {}
        if failure := validate_message(body, has_files=bool(files)):
            return json_response(failure[1], failure[0])
        reference = body.get("message_reference")
        referenced = None
        if reference is not None:
            referenced = self.messages.get(int(reference.get("message_id") or 0))
            if referenced is None or referenced["channel_id"] != str(channel.id):
                if reference.get("fail_if_not_exists", True):
                    error = FormError(("message_reference",), "REPLIES_UNKNOWN_MESSAGE",
                                      "Unknown message")
                    return json_response(form_error_body([error]), 400)
                reference = referenced = None
            else:
                reference = {"type": 0, "message_id": referenced["id"],
                             "channel_id": referenced["channel_id"], "guild_id": str(guild.id)}
        replied_user = int(referenced["author"]["id"]) if referenced else None
        message = message_payload(
            message_id=self.snowflake(), channel_id=channel.id, guild_id=guild.id,
            author=self.bot_user, member=self.bot_member(guild),
            content=body.get("content") or "", embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=self._store_uploads(channel, files, body.get("attachments")),
            mentions=self._bot_mentions(body.get("content") or "", body.get("allowed_mentions"),
                                        replied_user=replied_user, guild=guild),
            flags=int(body.get("flags") or 0) & (4 | 4096 | MessageFlag.IS_COMPONENTS_V2),
            reference=reference, referenced_message=copy.deepcopy(referenced),
        )
        self._store(message, channel)
        session = self.gateway.current
        if session is not None and session.has_intent(Intent.GUILD_MESSAGES):
            # Discord echoes a bot's own messages to it; a bot must ignore itself.
            await self.gateway.dispatch("MESSAGE_CREATE", copy.deepcopy(message))
        return json_response(message)

    def _channel_message(self, request: web.Request) -> tuple[JSON | None, web.Response | None]:
        channel, _ = self._channel(request)
        if channel is None:
            return None, error_response(404, 10003, "Unknown Channel")
        message_id = int(request.match_info["message_id"])
        if message_id not in self.channel_messages.get(channel.id, []) or \
                message_id not in self.messages:
            return None, error_response(404, 10008, "Unknown Message")
        return self.messages[message_id], None

    async def _get_channel_message(self, request: web.Request) -> web.Response:
        message, error = self._channel_message(request)
        if message is None:
            return error  # type: ignore[return-value]
        return json_response(self._as_seen_by_bot(message, self._session()))

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        message, error = self._channel_message(request)
        if message is None:
            return error  # type: ignore[return-value]
        if message["author"]["id"] != str(self.bot_user.id):
            return error_response(403, 50005, "Cannot edit a message authored by another user")
        body = body if isinstance(body, dict) else {}
        if failure := validate_message(body, has_files=bool(files), partial=True):
            return json_response(failure[1], failure[0])
        return json_response(self._edit(int(message["id"]), body, files))

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        message, error = self._channel_message(request)
        if message is None:
            return error  # type: ignore[return-value]
        del self.messages[int(message["id"])]
        self.notify()
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        channel, _ = self._channel(request)
        if channel is None:
            return error_response(404, 10003, "Unknown Channel")
        self.typing.append(channel.id)
        return web.Response(status=204)

    async def _add_reaction(self, request: web.Request) -> web.Response:
        message, error = self._channel_message(request)
        if message is None:
            return error  # type: ignore[return-value]
        emoji = request.match_info["emoji"]
        reactions = message.setdefault("reactions", [])
        if not any(r["emoji"]["name"] == emoji for r in reactions):
            reactions.append({"count": 1, "me": True, "emoji": {"id": None, "name": emoji},
                              "burst_colors": [], "count_details": {"burst": 0, "normal": 1},
                              "me_burst": False, "burst_me": False, "burst_count": 0})
        self.notify()
        return web.Response(status=204)

    async def _remove_reaction(self, request: web.Request) -> web.Response:
        message, error = self._channel_message(request)
        if message is None:
            return error  # type: ignore[return-value]
        emoji = request.match_info["emoji"]
        message["reactions"] = [r for r in message.get("reactions", [])
                                if r["emoji"]["name"] != emoji]
        self.notify()
        return web.Response(status=204)

    async def _get_guild(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            return error_response(404, 10004, "Unknown Guild")
        payload = guild.to_create_payload(members=[])
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at"):
            payload.pop(key)
        return json_response(payload)

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            return error_response(404, 10004, "Unknown Guild")
        member = guild.members.get(int(request.match_info["user_id"]))
        if member is None:
            return error_response(404, 10007, "Unknown Member")
        return json_response(member.to_payload())

    async def _get_attachment(self, request: web.Request) -> web.Response:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or attachment.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        content_type = attachment.content_type or "application/octet-stream"
        return web.Response(body=attachment.data, headers={"Content-Type": content_type})


__all__ = ["ChannelType", "ClientWouldNotSend", "FakeDiscord", "json_response"]
