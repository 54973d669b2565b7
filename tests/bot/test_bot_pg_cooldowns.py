"""PgCooldowns: the in-memory cooldowns' contract, held across two processes' instances on
one database, and one turn when many ask at the same instant."""

from __future__ import annotations

import threading

import pytest

from bot.pg.cooldowns import PgCooldowns
from bot.pg.schema import migrate_bot
from index.pg.database import Database

pytestmark = pytest.mark.postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(postgres_url: str):
    """Two processes' pools on one database."""
    databases = [Database.open(postgres_url, max_connections=4) for _ in range(2)]
    migrate_bot(databases[0])
    yield databases
    for database in databases:
        database.close()


def test_a_turn_used_through_one_process_is_used_in_the_other(database) -> None:
    clock = Clock()
    first, second = (PgCooldowns(one, clock) for one in database)
    key = (1, 42, "ask")
    assert first.try_use(key, 10) is None
    clock.now += 4
    assert second.try_use(key, 10) == pytest.approx(6)
    assert second.try_use((1, 43, "ask"), 10) is None  # another member is not affected
    assert second.try_use((1, 42, "sources"), 10) is None  # nor another command
    clock.now += 5
    assert first.try_use(key, 10) == pytest.approx(1)  # a refused use does not extend it
    clock.now += 1
    assert second.try_use(key, 10) is None
    assert first.try_use(key, 0) is None  # 0: no cooldown
    clock.now += 5
    assert first.try_use(key, 60) is not None
    assert second.try_use(key, 5) is None  # lowering a server's cooldown frees at once
    first.reset(key)
    assert second.try_use(key, 60) is None


def test_one_turn_when_both_processes_ask_at_once(database) -> None:
    """Eight threads over two instances, database clock: exactly one gets the turn."""
    instances = [PgCooldowns(one) for one in database]
    start = threading.Barrier(8)
    results: list[float | None] = []

    def ask(index: int) -> None:
        start.wait()
        results.append(instances[index % 2].try_use((5, 77, "ask"), 30))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1
    assert all(0 < wait <= 30 for wait in results if wait is not None)
