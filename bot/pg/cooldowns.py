"""Member cooldowns in PostgreSQL, so they hold whichever process serves the member.

One statement decides and records a use: the INSERT … ON CONFLICT DO UPDATE takes the
key's row lock, and its WHERE lets the update through only when the last use is at least
`per` seconds old, so two processes asking at the same instant cannot both get the turn.
Time is the database's clock (`clock_timestamp()`), one clock for every machine, unless a
test passes its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from index.errors import DatabaseUnavailableError
from index.pg.database import Database

# Sweep expired rows after this many granted uses in this process (bounded table).
_PRUNE_EVERY = 1024

_TRY_USE = """
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8) AS now
), used AS (
    INSERT INTO bot_member_cooldowns AS c (key, used_at, per)
    SELECT %(key)s, clock.now, %(per)s FROM clock
    ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at, per = excluded.per
    WHERE c.used_at <= excluded.used_at - excluded.per
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM used), clock.now,
       (SELECT used_at FROM bot_member_cooldowns WHERE key = %(key)s)
FROM clock
"""


def key_text(key: Hashable) -> str:
    """(guild id, user id, kind) -> '123|456|ask'."""
    parts = key if isinstance(key, tuple) else (key,)
    return "|".join(str(part) for part in parts)


class PgCooldowns:
    """Expects the "bot" tables (bot.pg.schema.migrate_bot; PgBotState.open runs it)."""

    blocking = True

    def __init__(self, database: Database, clock: Callable[[], float] | None = None, *,
                 max_wait: float | None = None) -> None:
        self._database = database
        self._clock = clock
        # Past this many seconds waiting for the database the caller has given up (and told
        # the member the library is unavailable): the use is then not recorded when the
        # database comes back, or the member would find their turn spent.
        self._max_wait = max_wait
        self._granted = 0
        self._lock = threading.Lock()

    def try_use(self, key: Hashable, per: float) -> float | None:
        if per <= 0:
            return None
        now = self._clock() if self._clock is not None else None
        asked = time.monotonic()
        with self._database.transaction() as connection:
            if self._max_wait is not None and time.monotonic() - asked > self._max_wait:
                raise DatabaseUnavailableError("The database answered too late to count a use")
            granted, now, previous = connection.execute(
                _TRY_USE, {"key": key_text(key), "per": per, "now": now}).fetchone()
        if granted:
            self._count_grant(now)
            return None
        # `previous` is read from the statement's snapshot: when a use that another process
        # committed just now refused this one, it still shows the older use (or none).
        left = per - (now - previous) if previous is not None else 0.0
        return left if left > 0 else per

    def reset(self, key: Hashable) -> None:
        with self._database.transaction() as connection:
            connection.execute("DELETE FROM bot_member_cooldowns WHERE key = %s",
                               (key_text(key),))

    def _count_grant(self, now: float) -> None:
        with self._lock:
            self._granted += 1
            due = self._granted % _PRUNE_EVERY == 0
        if due:
            with self._database.transaction() as connection:
                connection.execute("DELETE FROM bot_member_cooldowns WHERE used_at + per < %s",
                                   (now,))
