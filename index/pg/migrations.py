"""Versioned schema migrations, one ordered list per component ("library", "bot",
"feeds"), applied at start (and by `python -m index migrate`).

Applying holds a transaction-scoped advisory lock, so two processes starting together
migrate once; each migration runs in that one transaction with its version row, so a crash
leaves the database at the previous version. A database whose schema is newer than this
code is refused: an older Spotlight must not write tables it does not understand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from index.errors import SchemaVersionError
from index.pg.database import Database
from index.pg.urls import redact

log = logging.getLogger(__name__)
SCHEMA_TABLE = "spotlight_schema"
_LOCK_KEY = 7_310_318_201  # any constant, the same in every Spotlight process


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def _check_order(component: str, migrations: Sequence[Migration]) -> None:
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{component} migrations must be numbered 1..n, got {versions}")


def _current(connection: psycopg.Connection, component: str) -> int:
    row = connection.execute(
        f"SELECT max(version) FROM {SCHEMA_TABLE} WHERE component = %s", (component,)
    ).fetchone()
    return row[0] or 0


def _refuse_newer(component: str, current: int, known: int, url: str) -> None:
    if current > known:
        raise SchemaVersionError(
            f"The database's {component} schema is version {current}, newer than this "
            f"Spotlight knows ({known}). Upgrade Spotlight; it will not write to {redact(url)}."
        )


def schema_version(database: Database, component: str) -> int:
    """0 when the component was never migrated here."""
    with database.connection() as connection:
        exists = connection.execute("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone()[0]
        return _current(connection, component) if exists else 0


def migrate(database: Database, component: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply the pending migrations; returns the versions applied (empty when current)."""
    _check_order(component, migrations)
    known = len(migrations)
    with database.transaction() as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ("
            " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        current = _current(connection, component)
        _refuse_newer(component, current, known, database.url)
        applied = []
        for migration in migrations[current:]:
            connection.execute(migration.sql)
            connection.execute(
                f"INSERT INTO {SCHEMA_TABLE} (component, version, name) VALUES (%s, %s, %s)",
                (component, migration.version, migration.name),
            )
            applied.append(migration.version)
            log.info("Migrated %s schema to version %d (%s)", component, migration.version,
                     migration.name)
        return applied


def check_schema(database: Database, component: str, migrations: Sequence[Migration]) -> None:
    """Refuse a newer schema without changing anything (for read-only tools)."""
    _refuse_newer(component, schema_version(database, component), len(migrations), database.url)
