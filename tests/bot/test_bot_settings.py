"""Settings from the environment and .env: defaults, one variable moving all state, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings


def test_defaults_live_under_the_project():
    settings = Settings.from_env({})
    assert settings.token is None
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.index_dir == PROJECT_ROOT / "data" / "index"
    assert settings.state_path == PROJECT_ROOT / "data" / "bot.sqlite"
    assert settings.corpus_dir == PROJECT_ROOT / "samples" / "articles"
    assert settings.dev_guild_id is None and settings.owner_ids == frozenset()
    assert settings.max_question_chars == 500


def test_one_variable_moves_all_state(tmp_path):
    settings = Settings.from_env({"SPOTLIGHT_DATA_DIR": str(tmp_path)})
    assert settings.index_dir == tmp_path / "index"
    assert settings.state_path == tmp_path / "bot.sqlite"


def test_every_variable_is_read(tmp_path):
    settings = Settings.from_env({
        "DISCORD_TOKEN": "abc.def.ghi",
        "SPOTLIGHT_INDEX_DIR": str(tmp_path / "elsewhere"),
        "SPOTLIGHT_CORPUS_DIR": str(tmp_path / "corpus"),
        "SPOTLIGHT_DEV_GUILD_ID": "123456789012345678",
        "SPOTLIGHT_OWNER_IDS": "111111111111111111, 222222222222222222 333333333333333333",
        "SPOTLIGHT_COOLDOWN_SECONDS": "2.5",
        "SPOTLIGHT_MAX_QUESTION_CHARS": "300",
        "SPOTLIGHT_MAX_UPLOAD_BYTES": "1_000_000",
        "SPOTLIGHT_FETCH_TIMEOUT": "3",
        "SPOTLIGHT_FETCH_MAX_BYTES": "500000",
        "SPOTLIGHT_LOG_LEVEL": "debug",
        "SPOTLIGHT_SHARDED": "yes",
    })
    assert settings.token == "abc.def.ghi"
    assert settings.index_dir == tmp_path / "elsewhere"
    assert settings.corpus_dir == tmp_path / "corpus"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.owner_ids == {111111111111111111, 222222222222222222, 333333333333333333}
    assert settings.cooldown_seconds == 2.5
    assert settings.max_question_chars == 300
    assert settings.max_upload_bytes == 1_000_000
    assert settings.fetch_timeout == 3.0 and settings.fetch_max_bytes == 500_000
    assert settings.log_level == "DEBUG" and settings.sharded is True


def test_empty_values_count_as_unset():
    settings = Settings.from_env({"DISCORD_TOKEN": "", "SPOTLIGHT_DEV_GUILD_ID": "  "})
    assert settings.token is None and settings.dev_guild_id is None


@pytest.mark.parametrize(("name", "value"), [
    ("SPOTLIGHT_DEV_GUILD_ID", "my-server"),
    ("SPOTLIGHT_OWNER_IDS", "123, bob"),
    ("SPOTLIGHT_COOLDOWN_SECONDS", "-1"),
    ("SPOTLIGHT_MAX_QUESTION_CHARS", "lots"),
    ("SPOTLIGHT_FETCH_TIMEOUT", "0"),
    ("SPOTLIGHT_SHARDED", "maybe"),
    ("SPOTLIGHT_LOG_LEVEL", "LOUD"),
])
def test_malformed_values_name_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_token_never_in_repr():
    settings = Settings.from_env({"DISCORD_TOKEN": "super-secret-token"})
    assert "super-secret-token" not in repr(settings)
    assert "super-secret-token" not in str(settings)


def test_dotenv_fills_gaps_but_real_environment_wins(tmp_path: Path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "DISCORD_TOKEN=from-dotenv\nSPOTLIGHT_MAX_QUESTION_CHARS=123\n", encoding="utf-8"
    )
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("SPOTLIGHT_MAX_QUESTION_CHARS", "321")
    settings = Settings.from_env(dotenv_path=dotenv)
    assert settings.token == "from-dotenv"
    assert settings.max_question_chars == 321
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)  # load_dotenv wrote it to os.environ


def test_burst_settings_default_and_read():
    defaults = Settings.from_env({})
    assert (defaults.ask_workers, defaults.embed_batch, defaults.embed_wait_ms,
            defaults.answer_within_ms) == (4, 16, 2.0, 1000.0)
    settings = Settings.from_env({"SPOTLIGHT_ASK_WORKERS": "8", "SPOTLIGHT_EMBED_BATCH": "1",
                                  "SPOTLIGHT_EMBED_WAIT_MS": "0.5",
                                  "SPOTLIGHT_ANSWER_WITHIN_MS": "0"})
    assert (settings.ask_workers, settings.embed_batch, settings.embed_wait_ms,
            settings.answer_within_ms) == (8, 1, 0.5, 0.0)


@pytest.mark.parametrize(("name", "value"), [
    ("SPOTLIGHT_ASK_WORKERS", "0"),
    ("SPOTLIGHT_EMBED_BATCH", "many"),
    ("SPOTLIGHT_EMBED_WAIT_MS", "-1"),
    ("SPOTLIGHT_ANSWER_WITHIN_MS", "2500"),  # past Discord's 3 s, less the request's time
    ("SPOTLIGHT_ANSWER_WITHIN_MS", "soon"),
])
def test_malformed_burst_settings_name_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(("ids", "count", "expected"), [
    ("0", "1", (0,)),
    ("0,1", "2", (0, 1)),
    ("0-3", "8", (0, 1, 2, 3)),
    ("4-5, 7,5", "8", (4, 5, 7)),
])
def test_a_shard_range(ids, count, expected):
    settings = Settings.from_env({"SPOTLIGHT_SHARD_IDS": ids, "SPOTLIGHT_SHARD_COUNT": count})
    assert (settings.shard_ids, settings.shard_count) == (expected, int(count))
    assert Settings.from_env({}).shard_ids is Settings.from_env({}).shard_count is None


@pytest.mark.parametrize(("env", "complaint"), [
    ({"SPOTLIGHT_SHARD_IDS": "0,1"}, "must be set together"),
    ({"SPOTLIGHT_SHARD_COUNT": "2"}, "must be set together"),
    ({"SPOTLIGHT_SHARD_IDS": "0-2", "SPOTLIGHT_SHARD_COUNT": "2"}, "numbered 0 to 1, got 2"),
    ({"SPOTLIGHT_SHARD_IDS": "one", "SPOTLIGHT_SHARD_COUNT": "2"}, "SPOTLIGHT_SHARD_IDS must"),
    ({"SPOTLIGHT_SHARD_IDS": "3-1", "SPOTLIGHT_SHARD_COUNT": "4"}, "goes down"),
    ({"SPOTLIGHT_SHARD_IDS": "-1", "SPOTLIGHT_SHARD_COUNT": "4"}, "SPOTLIGHT_SHARD_IDS must"),
    ({"SPOTLIGHT_SHARD_IDS": "0", "SPOTLIGHT_SHARD_COUNT": "0"}, "SPOTLIGHT_SHARD_COUNT must"),
])
def test_a_wrong_shard_range_says_what_is_wrong(env, complaint):
    with pytest.raises(ValueError, match=complaint):
        Settings.from_env(env)


def test_one_database_url_for_the_library_and_the_bot_never_shown():
    url = "postgresql://spotlight:hunter2@db.internal:5432/spotlight"
    settings = Settings.from_env({"SPOTLIGHT_DATABASE_URL": url})
    assert settings.database_url == settings.library.database_url == url
    assert "hunter2" not in repr(settings) and "hunter2" not in repr(settings.library)
    assert Settings.from_env({}).library.database_url is None
    with pytest.raises(ValueError, match="SPOTLIGHT_DATABASE_URL") as caught:
        Settings.from_env({"SPOTLIGHT_DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)
