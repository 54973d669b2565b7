"""The bot's own sqlite store: server settings survive a restart; answer context for follow-ups."""

from __future__ import annotations

from bot.state import ANSWER_CONTEXT_MAX_AGE_SECONDS, GuildSettings, SavedAnswer, SqliteBotState


def test_server_settings_survive_a_restart(tmp_path):
    path = tmp_path / "bot.sqlite"
    state = SqliteBotState.open(path)
    state.add_answer_channel(1, 10)
    state.add_answer_channel(1, 11)
    state.add_answer_channel(2, 20)
    assert state.remove_answer_channel(1, 11) is True
    assert state.remove_answer_channel(1, 99) is False
    state.set_cooldown(1, 30.0)
    state.close()

    reopened = SqliteBotState.open(path)
    assert reopened.guild(1) == GuildSettings(
        cooldown_seconds=30.0, answer_channels=frozenset({10})
    )
    assert reopened.guild(2).answer_channels == {20}
    assert reopened.guild(3) == GuildSettings()
    reopened.clear_answer_channels(1)
    reopened.set_cooldown(1, None)
    assert reopened.guild(1) == GuildSettings()
    reopened.close()
    assert SqliteBotState.open(path).guild(1) == GuildSettings()


def test_store_uses_wal(tmp_path):
    state = SqliteBotState.open(tmp_path / "bot.sqlite")
    assert state._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state.close()


def answer(message_id: int, question: str, *, created_at: float) -> SavedAnswer:
    return SavedAnswer(message_id, question=question, question_id=None, guild_id=None,
                       channel_id=None, created_at=created_at)


def test_answer_context_round_trip_and_expiry():
    state = SqliteBotState.open(":memory:")
    state.remember_answers([SavedAnswer(500, question="why was Kim criticized?", question_id=7,
                                        guild_id=1, channel_id=2, created_at=1000.0)])
    context = state.answer_context(500, now=1001.0)
    assert context is not None
    assert (context.question, context.question_id) == ("why was Kim criticized?", 7)
    assert state.answer_context(501, now=1001.0) is None
    assert state.answer_context(500, now=1000.0 + ANSWER_CONTEXT_MAX_AGE_SECONDS + 1) is None


def test_old_answers_are_pruned_on_write():
    state = SqliteBotState.open(":memory:")
    state.remember_answers([answer(1, "old", created_at=0.0)])
    state.remember_answers([answer(2, "new", created_at=ANSWER_CONTEXT_MAX_AGE_SECONDS + 10)])
    assert state._db.execute("SELECT message_id FROM answers").fetchall() == [(2,)]
