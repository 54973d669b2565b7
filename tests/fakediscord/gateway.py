"""The gateway websocket, speaking Discord's protocol to a real discord.py client.

HELLO -> (HEARTBEAT <-> HEARTBEAT_ACK) -> IDENTIFY -> READY + GUILD_CREATE... -> DISPATCH
events, each with a sequence number. A session keeps its events, so a client that lost its
socket can RESUME on `resume_gateway_url` and receive what it missed, then RESUMED.
Compression: `compress=zlib-stream` in the URL means one zlib stream per connection, each
message flushed with Z_SYNC_FLUSH (frames end in 00 00 ff ff), as Discord does.
Sharding: a client that identifies with `shard: [id, count]` is sent only the guilds that
shard owns (`(guild_id >> 22) % count`, DMs on shard 0), and each event goes to the one
session of the shard owning its guild, so several bot processes can share one fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .payloads import JSON, Intent

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    6, 7, 8, 9, 10, 11)

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014


class GatewayConnection:
    """One websocket. Its zlib stream must see frames in send order, hence the lock."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.path = request.path
        self.query = dict(request.query)
        self.transport = request.transport
        compress = request.query.get("compress")
        self.compressor = zlib.compressobj() if compress == "zlib-stream" else None
        self.session: GatewaySession | None = None
        self.received: list[JSON] = []  # every payload the client sent, in order
        self.close_code: int | None = None
        self._lock = asyncio.Lock()

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, payload: JSON) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            if self.compressor is None:
                await self.ws.send_str(text)
                return
            frame = self.compressor.compress(text.encode()) + self.compressor.flush(
                zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(frame)

    async def close(self, code: int, reason: str) -> None:
        self.close_code = code
        await self.ws.close(code=code, message=reason.encode())


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """Discord's rule: which shard receives a guild's events (DMs: shard 0)."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def event_guild_id(event: str, data: JSON) -> int | None:
    raw = data.get("id") if event == "GUILD_CREATE" else data.get("guild_id")
    return int(raw) if raw else None


@dataclass
class LoggedEvent:
    seq: int
    frame: JSON
    on_sent: Callable[[], None] | None
    sent: bool = False


@dataclass
class GatewaySession:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    events: list[LoggedEvent] = field(default_factory=list)
    connection: GatewayConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    @property
    def shard_count(self) -> int:
        return self.shard[1] if self.shard else 1

    def owns(self, guild_id: int) -> bool:
        return shard_of(guild_id, self.shard_count) == self.shard_id


class Gateway:
    """All gateway state of one FakeDiscord."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None  # the last to identify or resume
        self.shards: dict[int, GatewaySession] = {}  # each shard id's latest session
        self.moved: dict[int, int] = {}  # guild id -> shard id, see move_guild
        self.connections: list[GatewayConnection] = []
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeats = 0

    # --- test API -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        session = self.current
        return bool(session and session.connection and session.connection.open)

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The session that receives a guild's events: its shard's latest."""
        shard = self.moved.get(guild_id) if guild_id is not None else None
        if shard is None:
            if self.current is None:
                return None
            shard = shard_of(guild_id, self.current.shard_count)
        return self.shards.get(shard)

    def live_shards(self) -> set[int]:
        """Shard ids whose session has an open connection now."""
        return {shard for shard, session in self.shards.items()
                if session.connection is not None and session.connection.open}

    def move_guild(self, guild_id: int, shard_id: int) -> None:
        """From now on send this guild's events to `shard_id` (as after resharding)."""
        self.moved[guild_id] = shard_id

    async def dispatch(self, event: str, data: JSON,
                       on_sent: Callable[[], None] | None = None) -> int:
        """Send a DISPATCH to the session of the shard owning the event's guild; held for
        replay while it is disconnected."""
        session = self.session_for(event_guild_id(event, data))
        if session is None:
            raise RuntimeError(f"no gateway session to send {event} to: is the bot connected?")
        async with session.lock:
            return await self._dispatch_locked(session, event, data, on_sent)

    async def drop_connection(self, *, code: int = CLOSE_UNKNOWN_ERROR, abrupt: bool = False
                              ) -> None:
        """Lose the socket the way networks do; the session stays resumable."""
        session = self.current
        if session is None or session.connection is None:
            raise RuntimeError("the bot has no open gateway connection to drop")
        connection = session.connection
        session.connection = None
        if abrupt:
            connection.close_code = 1006
            if connection.transport is not None:
                connection.transport.abort()
        else:
            await connection.close(code, "Connection dropped by the test")

    async def request_reconnect(self) -> None:
        """Op 7: Discord asks the client to reconnect and resume."""
        session = self.current
        if session is None or session.connection is None:
            raise RuntimeError("the bot has no open gateway connection")
        await session.connection.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    # --- websocket handler ----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 22)
        await ws.prepare(request)
        connection = GatewayConnection(ws, request)
        self.connections.append(connection)
        self.fake.notify()
        try:
            await connection.send({
                "op": HELLO, "s": None, "t": None,
                "d": {"heartbeat_interval": self.fake.heartbeat_interval_ms,
                      "_trace": ["[\"fake-gateway\",{\"micros\":0}]"]},
            })
            while True:
                message = await ws.receive()
                if message.type == WSMsgType.CLOSE and connection.close_code is None:
                    connection.close_code = int(message.data)  # the client's own close code
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    await connection.close(CLOSE_DECODE_ERROR, "Error while decoding payload.")
                    break
                connection.received.append(payload)
                await self._on_payload(connection, payload)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if connection.close_code is None:
                connection.close_code = ws.close_code
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
            self.fake.notify()
        return ws

    async def _on_payload(self, connection: GatewayConnection, payload: JSON) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(connection, data or {})
        elif op == RESUME:
            await self._resume(connection, data or {})
        elif op == REQUEST_GUILD_MEMBERS:
            await self._send_member_chunk(connection, data or {})
        elif op in (PRESENCE_UPDATE, VOICE_STATE):
            pass  # recorded in connection.received
        else:
            log.warning("fake gateway: unexpected op %s", op)

    async def _identify(self, connection: GatewayConnection, data: JSON) -> None:
        if connection.session is not None:
            await connection.close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") != self.fake.token:
            await connection.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await connection.close(CLOSE_INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & Intent.PRIVILEGED & ~self.fake.enabled_privileged_intents:
            await connection.close(CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard = data.get("shard")
        if shard is not None and not (isinstance(shard, list) and len(shard) == 2
                                      and 0 <= shard[0] < shard[1]):
            await connection.close(CLOSE_INVALID_SHARD, "Invalid shard.")
            return
        session = GatewaySession(secrets.token_hex(16), intents, shard)
        self.sessions[session.session_id] = session
        self.current = self.shards[session.shard_id] = session
        connection.session = session
        guilds = [guild for guild in self.fake.guilds.values() if session.owns(guild.id)]
        ready = self.fake.ready_payload(session)
        ready["guilds"] = [{"id": str(guild.id), "unavailable": True} for guild in guilds]
        async with session.lock:
            session.connection = connection
            await self._dispatch_locked(session, "READY", ready)
            for guild in guilds:
                await self._dispatch_locked(session, "GUILD_CREATE",
                                            self.fake.guild_create_payload(guild, session))
        self.identify_count += 1
        self.fake.notify()

    async def _resume(self, connection: GatewayConnection, data: JSON) -> None:
        if data.get("token") != self.fake.token:
            await connection.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        if session is None or seq > session.seq:
            # The client must identify again (discord.py reconnects to its default gateway).
            await connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        async with session.lock:
            connection.session = session
            session.connection = connection
            for event in session.events:
                if event.seq > seq:
                    await self._send_event(connection, event)
            await self._dispatch_locked(session, "RESUMED", {"_trace": ["fake-gateway"]})
        self.current = self.shards[session.shard_id] = session
        self.resume_count += 1
        self.fake.notify()

    async def _send_member_chunk(self, connection: GatewayConnection, data: JSON) -> None:
        session = connection.session
        guild = self.fake.guilds.get(int(data.get("guild_id") or 0))
        if session is None or guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(user_id) for user_id in data["user_ids"]}
            members = [member for member in members if member.id in wanted]
        chunk = {
            "guild_id": str(guild.id),
            "members": [member.to_payload() for member in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        async with session.lock:
            await self._dispatch_locked(session, "GUILD_MEMBERS_CHUNK", chunk)

    # --- sending --------------------------------------------------------------------------

    async def _dispatch_locked(self, session: GatewaySession, event: str, data: JSON,
                               on_sent: Callable[[], None] | None = None) -> int:
        session.seq += 1
        logged = LoggedEvent(session.seq, {"op": DISPATCH, "t": event, "s": session.seq,
                                           "d": data}, on_sent)
        session.events.append(logged)
        if session.connection is not None and session.connection.open:
            await self._send_event(session.connection, logged)
        return logged.seq

    async def _send_event(self, connection: GatewayConnection, event: LoggedEvent) -> None:
        try:
            await connection.send(event.frame)
        except (ConnectionResetError, RuntimeError) as exc:
            log.info("fake gateway: event %s not delivered (%s); kept for resume",
                     event.seq, exc)
            return
        if not event.sent:
            event.sent = True
            if event.on_sent is not None:
                event.on_sent()
        self.fake.notify()

    def received_ops(self) -> list[int]:
        return [payload.get("op") for conn in self.connections for payload in conn.received]

    def sent_frames(self) -> list[Any]:
        session = self.current
        return [] if session is None else [event.frame for event in session.events]
