"""One pool of connections to a PostgreSQL database, shared by a process's threads.

Connections are checked before use, so after the server restarts the next call gets a
fresh connection instead of a dead one; while it is down, every call raises
`DatabaseUnavailableError` (short, retryable) instead of psycopg's own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from index.errors import DatabaseUnavailableError
from index.pg.urls import redact


def _unavailable(url: str, error: Exception) -> DatabaseUnavailableError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DatabaseUnavailableError(f"The database at {redact(url)} is unavailable: {reason}")


def _configure(connection: psycopg.Connection) -> None:
    register_vector(connection)
    connection.commit()  # register_vector's type lookup opened a transaction


class Database:
    def __init__(self, url: str, pool: ConnectionPool) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    def open(cls, url: str, *, max_connections: int = 8, timeout: float = 10.0) -> Database:
        """Connect, creating the pgvector extension if this database lacks it (the first
        migration of every component relies on it). Raises DatabaseUnavailableError."""
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=int(timeout)) as first:
                first.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as error:
            raise _unavailable(url, error) from error
        pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, timeout=timeout, open=False,
            configure=_configure, check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": int(timeout)},
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as error:
            pool.close()
            raise _unavailable(url, error) from error
        return cls(url, pool)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection for reads (each statement its own transaction)."""
        try:
            with self._pool.connection() as connection:
                connection.autocommit = True
                yield connection
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise _unavailable(self.url, error) from error

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises (or
        if the process dies mid-way: PostgreSQL never keeps half of it)."""
        try:
            with self._pool.connection() as connection:
                connection.autocommit = False
                with connection.transaction():
                    yield connection
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise _unavailable(self.url, error) from error

    def close(self) -> None:
        self._pool.close()
