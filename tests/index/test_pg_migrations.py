"""index/pg/migrations.py and database.py against a real PostgreSQL (pgserver)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from index.errors import DatabaseUnavailableError, SchemaVersionError
from index.pg.database import Database
from index.pg.migrations import Migration, check_schema, migrate, schema_version
from index.pg.urls import redact

pytestmark = pytest.mark.postgres

FIRST = Migration(1, "notes", "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
                              "CREATE INDEX notes_body ON notes (body)")
SECOND = Migration(2, "note authors", "ALTER TABLE notes ADD COLUMN author text")


@pytest.fixture
def database(postgres_url: str):
    database = Database.open(postgres_url)
    yield database
    database.close()


def test_migrates_an_empty_database_then_only_what_is_new(database: Database) -> None:
    assert schema_version(database, "test") == 0
    assert migrate(database, "test", [FIRST]) == [1]
    assert migrate(database, "test", [FIRST, SECOND]) == [2]
    assert migrate(database, "test", [FIRST, SECOND]) == []
    assert schema_version(database, "test") == 2
    with database.transaction() as connection:
        connection.execute("INSERT INTO notes (body, author) VALUES ('x', 'y')")


def test_components_have_their_own_versions(database: Database) -> None:
    migrate(database, "test", [FIRST, SECOND])
    assert schema_version(database, "other") == 0


def test_a_newer_schema_is_refused_and_left_alone(database: Database) -> None:
    migrate(database, "test", [FIRST, SECOND])
    with pytest.raises(SchemaVersionError, match="version 2, newer than this Spotlight knows"):
        migrate(database, "test", [FIRST])
    with pytest.raises(SchemaVersionError):
        check_schema(database, "test", [FIRST])
    assert schema_version(database, "test") == 2


def test_a_failing_migration_leaves_the_previous_version(database: Database) -> None:
    migrate(database, "test", [FIRST])
    broken = Migration(2, "broken", "ALTER TABLE notes ADD COLUMN a text; SELECT 1/0")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(database, "test", [FIRST, broken])
    assert schema_version(database, "test") == 1
    with database.connection() as connection:
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes'"
        ).fetchall()
    assert {name for (name,) in columns} == {"id", "body"}


def test_two_processes_starting_together_migrate_once(postgres_url: str) -> None:
    databases = [Database.open(postgres_url) for _ in range(4)]
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda d=d: results.append(migrate(d, "test", [FIRST])))
               for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [[], [], [], [1]]
    for database in databases:
        database.close()


def test_misnumbered_migrations_are_a_programming_error(database: Database) -> None:
    with pytest.raises(ValueError, match="numbered"):
        migrate(database, "test", [SECOND])


def test_an_unreachable_database_is_one_short_error() -> None:
    url = "postgresql://spotlight:secret@127.0.0.1:1/nowhere"
    with pytest.raises(DatabaseUnavailableError, match="unavailable") as raised:
        Database.open(url, timeout=2)
    assert "secret" not in str(raised.value)
    assert redact(url) == "postgresql://spotlight:***@127.0.0.1:1/nowhere"
