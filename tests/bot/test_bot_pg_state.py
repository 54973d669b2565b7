"""BotState on both backends (one contract), and PgBotState across processes: a server's
settings changed through one BotState reach another on the same database (LISTEN/NOTIFY),
also after the other's listening connection was cut."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.pg.state import PgBotState
from bot.state import (
    ANSWER_CONTEXT_MAX_AGE_SECONDS,
    BotState,
    GuildSettings,
    SavedAnswer,
    SqliteBotState,
)
from index.pg.database import Database
from tests.conftest import block_database

Opener = Callable[[], BotState]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the backend's state afresh on the same storage (a restart), closed at the end."""
    opened: list[BotState] = []

    def opener() -> BotState:
        if request.param == "sqlite":
            state: BotState = SqliteBotState.open(tmp_path / "bot.sqlite")
        else:
            state = PgBotState.open(request.getfixturevalue("pg_database"))
        opened.append(state)
        return state

    yield opener
    for state in opened:
        state.close()


def test_settings_and_answer_context_survive_a_restart(open_state: Opener) -> None:
    state = open_state()
    state.add_answer_channel(1, 10)
    state.add_answer_channel(1, 11)
    state.add_answer_channel(1, 11)  # twice is once
    state.add_answer_channel(2, 20)
    assert state.remove_answer_channel(1, 11) is True
    assert state.remove_answer_channel(1, 99) is False
    state.set_cooldown(1, 30.0)
    state.set_cooldown(3, 5.0)
    assert state.guild(1) == GuildSettings(cooldown_seconds=30.0, answer_channels=frozenset({10}))
    state.remember_answers([SavedAnswer(500, question="why was Kim criticized?", question_id=7,
                                        guild_id=1, channel_id=10, created_at=1000.0)])

    reopened = open_state()
    assert reopened.guild(1) == GuildSettings(cooldown_seconds=30.0,
                                              answer_channels=frozenset({10}))
    assert reopened.guild(2) == GuildSettings(answer_channels=frozenset({20}))
    assert reopened.guild(3) == GuildSettings(cooldown_seconds=5.0)
    assert reopened.guild(4) == GuildSettings()
    context = reopened.answer_context(500, now=1001.0)
    assert context is not None and (context.question, context.question_id) == (
        "why was Kim criticized?", 7)
    assert reopened.answer_context(501, now=1001.0) is None
    assert reopened.answer_context(500, now=1000.0 + ANSWER_CONTEXT_MAX_AGE_SECONDS + 1) is None
    reopened.clear_answer_channels(1)
    reopened.set_cooldown(1, None)
    assert reopened.guild(1) == GuildSettings()
    assert open_state().guild(1) == GuildSettings()


@pytest.mark.postgres
def test_a_change_through_one_process_reaches_the_others(pg_database: Database) -> None:
    first, second = PgBotState.open(pg_database), PgBotState.open(pg_database)
    try:
        first.set_cooldown(7, 45.0)
        assert first.guild(7).cooldown_seconds == 45.0  # its own change, at once
        wait_until(lambda: second.guild(7).cooldown_seconds == 45.0, "the cooldown in B")
        second.add_answer_channel(7, 70)
        second.add_answer_channel(7, 71)
        wait_until(lambda: first.guild(7).answer_channels == {70, 71}, "the channels in A")
        first.clear_answer_channels(7)
        first.set_cooldown(7, None)
        wait_until(lambda: second.guild(7) == GuildSettings(), "the defaults again in B")
        # An answer remembered by one process is context for a reply handled by another.
        first.remember_answers([SavedAnswer(900, question="who went to the Met Gala?",
                                            question_id=3, guild_id=7, channel_id=70,
                                            created_at=time.time())])
        context = second.answer_context(900)
        assert context is not None and context.question == "who went to the Met Gala?"
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_a_listener_cut_off_catches_up_when_it_reconnects(postgres_server: str,
                                                          postgres_url: str) -> None:
    databases = [Database.open(postgres_url) for _ in range(2)]  # two processes' pools
    first, second = (PgBotState.open(database) for database in databases)
    try:
        wait_until(second.listening.is_set, "B to listen")
        block_database(postgres_server, postgres_url, blocked=True)  # B's listener is cut
        wait_until(lambda: not second.listening.is_set(), "B to notice")
        block_database(postgres_server, postgres_url, blocked=False)
        first.set_cooldown(8, 12.0)  # may be sent before B listens again: B reloads then
        wait_until(lambda: second.guild(8).cooldown_seconds == 12.0, "B to catch up")
    finally:
        for state, database in zip((first, second), databases, strict=True):
            state.close()
            database.close()
