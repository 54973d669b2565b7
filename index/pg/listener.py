"""LISTEN on a PostgreSQL channel from a background thread, across outages.

One dedicated connection (not the pool's: a pooled connection goes back to the pool and
would stop listening). `on_connect` runs after every (re)connect, once LISTEN is in place,
so a caller that reloads its cache there misses nothing sent while it was disconnected;
`on_notify` runs for each notification, in this thread. A lost connection is retried with
a growing wait (0.5 s … 30 s) until `close()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from index.errors import DatabaseUnavailableError
from index.pg.urls import redact

log = logging.getLogger(__name__)
# How long one wait for notifications lasts: how soon close() is noticed.
POLL_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


class Listener:
    def __init__(self, url: str, channel: str, *, on_notify: Callable[[str], None],
                 on_connect: Callable[[], None], name: str = "pg-listener") -> None:
        self._url = url
        self._channel = channel
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._stop = threading.Event()
        self.connected = threading.Event()  # listening now (tests wait on it)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(POLL_SECONDS + 5)

    def _run(self) -> None:
        delay = 0.5
        failing = False  # log once per outage, not once per retry
        while not self._stop.is_set():
            try:
                self._listen()
            except (psycopg.Error, DatabaseUnavailableError) as error:
                if self.connected.is_set():
                    failing, delay = False, 0.5  # it was listening: a new outage
                if not failing:
                    log.warning("Listening on %s at %s stopped (%s); retrying",
                                self._channel, redact(self._url), str(error).strip()[:200])
                failing = True
            except Exception:  # a callback's bug must not end the thread
                log.exception("Listener on %s failed; retrying", self._channel)
            self.connected.clear()
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._on_connect()
            self.connected.set()
            log.debug("Listening on %s", self._channel)
            while not self._stop.is_set():
                for notification in connection.notifies(timeout=POLL_SECONDS):
                    self._on_notify(notification.payload)
