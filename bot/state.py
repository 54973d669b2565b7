"""The bot's own small store, separate from the article index.

It holds what only the bot cares about: each server's answer channels and cooldown, and the
question behind each answer message so a reply to it can be read as a follow-up.

`BotState` is what the bot needs of it; `SqliteBotState` (`data_dir/bot.sqlite`, one
process) is the default and `bot.pg.state.PgBotState` the one several processes share.
Server settings are read on every message, so both cache them in memory and `guild()` never
touches the database (it runs on the event loop); every other method may block and is
called through `asyncio.to_thread`. All methods are thread-safe.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

# Follow-ups to answers older than this are treated as fresh questions; keeps the table small.
ANSWER_CONTEXT_MAX_AGE_SECONDS = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guild_settings (
    guild_id INTEGER PRIMARY KEY,
    cooldown_seconds REAL
);
CREATE TABLE IF NOT EXISTS answer_channels (
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
CREATE TABLE IF NOT EXISTS answers (
    message_id INTEGER PRIMARY KEY,
    guild_id INTEGER,
    channel_id INTEGER,
    question TEXT NOT NULL,
    question_id INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_created_at ON answers (created_at);
"""


@dataclass(frozen=True)
class GuildSettings:
    cooldown_seconds: float | None = None  # None: the operator's default
    answer_channels: frozenset[int] = field(default_factory=frozenset)  # empty: everywhere


@dataclass(frozen=True)
class AnswerContext:
    """The question an answer message answered (already composed, for chained follow-ups)."""

    message_id: int
    question: str
    question_id: int | None


@dataclass(frozen=True)
class SavedAnswer:
    """One answer message and the question it answered, as remember_answers stores it."""

    message_id: int
    question: str
    question_id: int | None
    guild_id: int | None
    channel_id: int | None
    created_at: float


class BotState(Protocol):
    def guild(self, guild_id: int) -> GuildSettings:
        """The server's settings, from memory (never blocks)."""
        ...

    def set_cooldown(self, guild_id: int, seconds: float | None) -> None: ...

    def add_answer_channel(self, guild_id: int, channel_id: int) -> None: ...

    def remove_answer_channel(self, guild_id: int, channel_id: int) -> bool: ...

    def clear_answer_channels(self, guild_id: int) -> None: ...

    def remember_answers(self, answers: Sequence[SavedAnswer]) -> None:
        """In one transaction; also prunes answers older than ANSWER_CONTEXT_MAX_AGE_SECONDS
        (bot.answers saves them in batches behind the answers)."""
        ...

    def answer_context(self, message_id: int, *,
                       now: float | None = None) -> AnswerContext | None: ...

    def close(self) -> None: ...


class SqliteBotState:
    """`data_dir/bot.sqlite`: writes go to sqlite first, then to the cache."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = threading.Lock()
        self._guilds: dict[int, GuildSettings] = {}
        self._load_guilds()

    @classmethod
    def open(cls, path: Path | str) -> SqliteBotState:
        """Open (creating if needed) the store; ":memory:" works for tests."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(_SCHEMA)
        return cls(connection)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- server settings (cached) ---

    def guild(self, guild_id: int) -> GuildSettings:
        return self._guilds.get(guild_id, GuildSettings())

    def set_cooldown(self, guild_id: int, seconds: float | None) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO guild_settings (guild_id, cooldown_seconds) VALUES (?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET cooldown_seconds = excluded.cooldown_seconds",
                (guild_id, seconds),
            )
            self._guilds[guild_id] = replace(self.guild(guild_id), cooldown_seconds=seconds)

    def add_answer_channel(self, guild_id: int, channel_id: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO answer_channels (guild_id, channel_id) VALUES (?, ?)",
                (guild_id, channel_id),
            )
            self._set_channels(guild_id, self.guild(guild_id).answer_channels | {channel_id})

    def remove_answer_channel(self, guild_id: int, channel_id: int) -> bool:
        with self._lock, self._db:
            cursor = self._db.execute(
                "DELETE FROM answer_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            self._set_channels(guild_id, self.guild(guild_id).answer_channels - {channel_id})
            return cursor.rowcount > 0

    def clear_answer_channels(self, guild_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM answer_channels WHERE guild_id = ?", (guild_id,))
            self._set_channels(guild_id, frozenset())

    def _set_channels(self, guild_id: int, channels: frozenset[int]) -> None:
        self._guilds[guild_id] = replace(self.guild(guild_id), answer_channels=channels)

    def _load_guilds(self) -> None:
        with self._lock:
            for guild_id, seconds in self._db.execute(
                "SELECT guild_id, cooldown_seconds FROM guild_settings"
            ):
                self._guilds[guild_id] = GuildSettings(cooldown_seconds=seconds)
            channels: dict[int, set[int]] = {}
            for guild_id, channel_id in self._db.execute(
                "SELECT guild_id, channel_id FROM answer_channels"
            ):
                channels.setdefault(guild_id, set()).add(channel_id)
            for guild_id, ids in channels.items():
                self._set_channels(guild_id, frozenset(ids))

    # --- answer context for follow-ups ---

    def remember_answers(self, answers: Sequence[SavedAnswer]) -> None:
        if not answers:
            return
        newest = max(answer.created_at for answer in answers)
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO answers "
                "(message_id, guild_id, channel_id, question, question_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(a.message_id, a.guild_id, a.channel_id, a.question, a.question_id,
                  a.created_at) for a in answers],
            )
            self._db.execute(
                "DELETE FROM answers WHERE created_at < ?",
                (newest - ANSWER_CONTEXT_MAX_AGE_SECONDS,),
            )

    def answer_context(self, message_id: int, *, now: float | None = None) -> AnswerContext | None:
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                "SELECT question, question_id FROM answers "
                "WHERE message_id = ? AND created_at >= ?",
                (message_id, now - ANSWER_CONTEXT_MAX_AGE_SECONDS),
            ).fetchone()
        if row is None:
            return None
        return AnswerContext(message_id=message_id, question=row[0], question_id=row[1])
