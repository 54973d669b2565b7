"""Every component's tables in the shared database, in the order they are migrated:
what `python -m index migrate` applies. A component with tables of its own adds its
migration list here. (The bot's state, component "bot", lives in bot/pg and migrates
when the bot starts: index/ never imports bot/.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.feeds import pg_store as feeds
from index.pg import library_schema as library
from index.pg.database import Database
from index.pg.migrations import Migration, migrate, schema_version

COMPONENTS: dict[str, Sequence[Migration]] = {
    library.COMPONENT: library.MIGRATIONS,  # first: the others refer to its articles
    feeds.COMPONENT: feeds.MIGRATIONS,
}


@dataclass(frozen=True)
class Migrated:
    component: str
    applied: list[int]
    version: int

    def __str__(self) -> str:
        done = (f"applied {', '.join(map(str, self.applied))}" if self.applied
                else "up to date")
        return f"{self.component}: schema version {self.version} ({done})"


def migrate_all(database: Database) -> list[Migrated]:
    """Raises SchemaVersionError for a component whose schema is newer than this code."""
    migrated = []
    for component, migrations in COMPONENTS.items():
        applied = migrate(database, component, migrations)
        migrated.append(Migrated(component, applied, schema_version(database, component)))
    return migrated
