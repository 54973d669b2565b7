"""BotState on PostgreSQL: what every bot process of one deployment shares.

Server settings are read on every message, on the event loop, so each process keeps them in
memory (`guild()` is a dict lookup). A change made through one process must reach the
others promptly; we use LISTEN/NOTIFY rather than re-reading with a TTL:

- the writing transaction sends `NOTIFY spotlight_guild_settings, '<guild id>'`, delivered
  to every listening process when (and only if) it commits, so the others re-read that one
  server within milliseconds instead of serving a stale setting for up to a TTL;
- it costs nothing while nothing changes (a TTL re-reads every server in every process all
  the time, or reads on the event loop when an entry expires);
- a listener that lost its connection (an outage, a restart) reloads every server when it
  is back, so a notification sent meanwhile is never missed.

The writer also re-reads what it wrote before returning, so the moderator's own process
answers with the new setting at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

from bot.pg.schema import SETTINGS_CHANNEL, migrate_bot
from bot.state import ANSWER_CONTEXT_MAX_AGE_SECONDS, AnswerContext, GuildSettings, SavedAnswer
from index.errors import DatabaseUnavailableError
from index.pg.database import Database
from index.pg.listener import Listener

log = logging.getLogger(__name__)

_GUILD_ROWS = """
SELECT g.guild_id, s.cooldown_seconds,
       coalesce(array_agg(c.channel_id) FILTER (WHERE c.channel_id IS NOT NULL), ARRAY[]::bigint[])
FROM (SELECT guild_id FROM bot_guild_settings UNION SELECT guild_id FROM bot_answer_channels)
     AS g
LEFT JOIN bot_guild_settings s ON s.guild_id = g.guild_id
LEFT JOIN bot_answer_channels c ON c.guild_id = g.guild_id
{where}
GROUP BY g.guild_id, s.cooldown_seconds
"""


class PgBotState:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._guilds: dict[int, GuildSettings] = {}
        # One refresh at a time: a slower read of older data never overwrites a newer one.
        self._refresh_lock = threading.Lock()
        self._listener = Listener(database.url, SETTINGS_CHANNEL, on_notify=self._notified,
                                  on_connect=self._reload_all, name="bot-settings-listener")

    @classmethod
    def open(cls, database: Database) -> PgBotState:
        """Migrate the "bot" tables, load every server's settings, start listening."""
        migrate_bot(database)
        state = cls(database)
        state._reload_all()
        state._listener.start()
        return state

    def close(self) -> None:
        self._listener.close()  # the database is the library's: it closes it

    @property
    def listening(self) -> threading.Event:
        return self._listener.connected

    # --- server settings (cached; refreshed on every change, by any process) ---

    def guild(self, guild_id: int) -> GuildSettings:
        return self._guilds.get(guild_id, GuildSettings())

    def set_cooldown(self, guild_id: int, seconds: float | None) -> None:
        self._change(guild_id, (
            "INSERT INTO bot_guild_settings (guild_id, cooldown_seconds) VALUES (%s, %s) "
            "ON CONFLICT (guild_id) DO UPDATE SET cooldown_seconds = excluded.cooldown_seconds",
            (guild_id, seconds)))

    def add_answer_channel(self, guild_id: int, channel_id: int) -> None:
        self._change(guild_id, (
            "INSERT INTO bot_answer_channels (guild_id, channel_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING", (guild_id, channel_id)))

    def remove_answer_channel(self, guild_id: int, channel_id: int) -> bool:
        return self._change(guild_id, (
            "DELETE FROM bot_answer_channels WHERE guild_id = %s AND channel_id = %s",
            (guild_id, channel_id))) > 0

    def clear_answer_channels(self, guild_id: int) -> None:
        self._change(guild_id, ("DELETE FROM bot_answer_channels WHERE guild_id = %s",
                                (guild_id,)))

    def _change(self, guild_id: int, statement: tuple[str, tuple]) -> int:
        """Run the statement and tell every process, in one transaction; then re-read the
        server here. Returns the rows the statement changed."""
        with self._database.transaction() as connection:
            changed = connection.execute(*statement).rowcount
            connection.execute("SELECT pg_notify(%s, %s)", (SETTINGS_CHANNEL, str(guild_id)))
        try:
            self._refresh([guild_id])
        except DatabaseUnavailableError:  # committed; the listener reloads when it is back
            log.warning("Server %s's settings changed but could not be re-read yet", guild_id)
        return changed

    def _notified(self, payload: str) -> None:
        if payload.isdigit():
            self._refresh([int(payload)])

    def _refresh(self, guild_ids: Iterable[int]) -> None:
        ids = list(guild_ids)
        with self._refresh_lock, self._database.connection() as connection:
            rows = connection.execute(_GUILD_ROWS.format(where="WHERE g.guild_id = ANY(%s)"),
                                      (ids,)).fetchall()
            self._apply(rows, ids)

    def _reload_all(self) -> None:
        with self._refresh_lock, self._database.connection() as connection:
            rows = connection.execute(_GUILD_ROWS.format(where="")).fetchall()
            self._apply(rows, list(self._guilds))

    def _apply(self, rows: list[tuple], asked: list[int]) -> None:
        """Set the servers read; forget the asked ones that have no settings left."""
        found = {guild_id: GuildSettings(cooldown_seconds=seconds,
                                         answer_channels=frozenset(channels))
                 for guild_id, seconds, channels in rows}
        for guild_id in asked:
            if guild_id not in found:
                self._guilds.pop(guild_id, None)
        self._guilds.update(found)

    # --- answer context for follow-ups ---

    def remember_answers(self, answers: Sequence[SavedAnswer]) -> None:
        if not answers:
            return
        newest = max(answer.created_at for answer in answers)
        with self._database.transaction() as connection, connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bot_answers "
                "(message_id, guild_id, channel_id, question, question_id, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (message_id) DO UPDATE SET "
                "guild_id = excluded.guild_id, channel_id = excluded.channel_id, "
                "question = excluded.question, question_id = excluded.question_id, "
                "created_at = excluded.created_at",
                [(a.message_id, a.guild_id, a.channel_id, a.question, a.question_id,
                  a.created_at) for a in answers])
            cursor.execute("DELETE FROM bot_answers WHERE created_at < %s",
                           (newest - ANSWER_CONTEXT_MAX_AGE_SECONDS,))

    def answer_context(self, message_id: int, *,
                       now: float | None = None) -> AnswerContext | None:
        now = time.time() if now is None else now
        with self._database.connection() as connection:
            row = connection.execute(
                "SELECT question, question_id FROM bot_answers "
                "WHERE message_id = %s AND created_at >= %s",
                (message_id, now - ANSWER_CONTEXT_MAX_AGE_SECONDS)).fetchone()
        if row is None:
            return None
        return AnswerContext(message_id=message_id, question=row[0], question_id=row[1])

