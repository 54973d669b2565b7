"""Per-member cooldowns that a server can change at run time.

discord.py's `checks.cooldown`/`dynamic_cooldown` keep their buckets inside the decorator
(one mapping per command for the whole process) and fix a bucket's rate when it is
created, so a changed `/settings cooldown` would not apply to members already tracked, and
the mention path could not share them. This small limiter is owned by the bot instead and
used by `/ask`, `/sources` and mentions alike (see Services.check_cooldown). It is checked
after the question passes its length check, so a rejected question costs no turn.

`Cooldowns` is what the bot needs; `MemberCooldowns` keeps them in this process's memory
and `bot.pg.cooldowns.PgCooldowns` in PostgreSQL, where every bot process sees them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Protocol

# Sweep out expired entries each time the table grows by this many (bounded memory).
_PRUNE_EVERY = 1024


class Cooldowns(Protocol):
    """One use per `per` seconds for each key (typically (guild id, user id, kind))."""

    # True when try_use waits on the network (a database): the bot then calls it from a
    # thread, with a deadline; False: it is called on the event loop.
    blocking: bool

    def try_use(self, key: Hashable, per: float) -> float | None:
        """Record a use and return None, or return the seconds left without recording."""
        ...

    def reset(self, key: Hashable) -> None: ...


class MemberCooldowns:
    """Cooldowns in this process's memory (thread-safe)."""

    blocking = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_use: dict[Hashable, tuple[float, float]] = {}  # key -> (time, per)
        self._lock = threading.Lock()

    def try_use(self, key: Hashable, per: float) -> float | None:
        """Record a use and return None, or return the seconds left without recording.

        The wait is measured with the current `per`, so lowering a server's cooldown
        frees members at once.
        """
        if per <= 0:
            return None
        with self._lock:
            return self._try_use(key, per)

    def _try_use(self, key: Hashable, per: float) -> float | None:
        now = self._clock()
        previous = self._last_use.get(key)
        if previous is not None:
            waited = now - previous[0]
            if waited < per:
                return per - waited
        self._last_use[key] = (now, per)
        if len(self._last_use) % _PRUNE_EVERY == 0:
            self._prune(now)
        return None

    def reset(self, key: Hashable) -> None:
        with self._lock:
            self._last_use.pop(key, None)

    def __len__(self) -> int:
        return len(self._last_use)

    def _prune(self, now: float) -> None:
        expired = [key for key, (used, per) in self._last_use.items() if now - used >= per]
        for key in expired:
            del self._last_use[key]
