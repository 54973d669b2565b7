"""Connections for the library's queries: the pool's, or one held for a whole question.

Answering one question takes about ten queries; taking a connection from the pool for
each costs a round trip more each (the pool checks a connection before handing it out).
Within `pinned()`, every query this thread makes uses one connection, taken once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import psycopg

from index.pg.database import Database


class Connections(Protocol):
    def connection(self) -> AbstractContextManager[psycopg.Connection]:
        """For reads: each statement its own transaction."""
        ...

    def transaction(self) -> AbstractContextManager[psycopg.Connection]:
        """One transaction, committed when the block ends."""
        ...


class PinnedConnections:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._local = threading.local()

    def _pinned(self) -> psycopg.Connection | None:
        return getattr(self._local, "connection", None)

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """This thread's queries share one connection until the block ends (nested blocks
        share the outer one). An outage inside raises DatabaseUnavailableError."""
        if self._pinned() is not None:
            yield
            return
        with self.database.connection() as connection:
            self._local.connection = connection
            try:
                yield
            finally:
                self._local.connection = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        pinned = self._pinned()
        if pinned is not None:
            yield pinned
            return
        with self.database.connection() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        pinned = self._pinned()
        if pinned is not None:
            with pinned.transaction():
                yield pinned
            return
        with self.database.transaction() as connection:
            yield connection
