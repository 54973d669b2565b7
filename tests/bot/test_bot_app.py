"""run_bot.py's main(): clear exits for bad configuration, a missing or wrong token."""

from __future__ import annotations

import io

import discord
import pytest

from bot import app
from bot.client import SpotlightBot


class StubLibrary:
    closed = False
    database = None  # embedded

    def ask(self, question, *, guild_id=None):
        raise AssertionError("not asked in these tests")

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def library(monkeypatch, tmp_path):
    stub = StubLibrary()
    monkeypatch.setattr(app, "open_library", lambda settings: stub)
    # A root handler per call would outlive each test's captured stream.
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kwargs: None)
    monkeypatch.setenv("SPOTLIGHT_DATA_DIR", str(tmp_path))
    return stub


def test_malformed_setting_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("SPOTLIGHT_DEV_GUILD_ID", "my server")
    assert app.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SPOTLIGHT_DEV_GUILD_ID" in err


def test_without_a_token_it_explains_and_runs_the_console(library, monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "")
    monkeypatch.setattr("sys.stdin", io.StringIO("quit\n"))
    assert app.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith(app.NO_TOKEN_NOTE + "\n")
    assert len(app.NO_TOKEN_NOTE.splitlines()) == 3
    assert "discord.com/developers" in out and "DISCORD_TOKEN" in out
    assert library.closed


def test_console_flag_skips_the_note(library, monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "some-token")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert app.main(["--console"]) == 0
    assert app.NO_TOKEN_NOTE not in capsys.readouterr().out


def test_wrong_token_is_one_line_exit_2_and_never_printed(library, monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "wrong.token.value")

    async def refuse(self, token, *, reconnect=True):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(SpotlightBot, "start", refuse)
    assert app.main([]) == 2
    captured = capsys.readouterr()
    assert captured.err == app.BAD_TOKEN + "\n"
    assert "Traceback" not in captured.err + captured.out
    assert "wrong.token.value" not in captured.err + captured.out
    assert library.closed


def test_an_index_built_with_another_model_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    from index.errors import IndexMismatchError

    def mismatch(settings):
        raise IndexMismatchError("Built with model X; rebuild: python -m index build ...")

    monkeypatch.setattr(app, "open_library", mismatch)
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kwargs: None)
    monkeypatch.setenv("SPOTLIGHT_DATA_DIR", str(tmp_path))
    assert app.main(["--console"]) == 2
    assert capsys.readouterr().err == "Built with model X; rebuild: python -m index build ...\n"


@pytest.mark.parametrize(("batch", "batched"), [(8, True), (1, False)])
def test_the_bot_embeds_questions_in_batches_unless_turned_off(monkeypatch, tmp_path, batch,
                                                                batched):
    from bot.settings import Settings
    from index import embedder as embedder_module
    from index.batching import BatchingEmbedder
    from index.embedder import FakeEmbedder

    model = FakeEmbedder()
    monkeypatch.setattr(embedder_module, "make_embedder", lambda: model)
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "none",
                        embed_batch=batch, embed_wait_ms=3.0)
    library = app.open_library(settings)
    try:
        if batched:
            assert isinstance(library.embedder, BatchingEmbedder)
            assert library.embedder.inner is model
            assert (library.embedder.max_batch, library.embedder.max_wait) == (8, 0.003)
        else:
            assert library.embedder is model
    finally:
        app.close_library(library)
    assert not batched or library.embedder.closed


def test_a_library_stored_by_an_earlier_version_gets_its_sentence_signals_at_start(
        monkeypatch, tmp_path, capsys):
    import sqlite3
    from contextlib import closing

    from bot.settings import Settings
    from index import embedder as embedder_module
    from index.embedder import FakeEmbedder

    monkeypatch.setattr(embedder_module, "make_embedder", FakeEmbedder)
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "chef.txt").write_text("Chef wins award\n\nThe chef won the golden spoon. "
                                         "Critics praised the rich broth.\n")
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus_dir, embed_batch=1)
    app.close_library(app.open_library(settings))
    assert "signals" not in capsys.readouterr().out  # stored as it was added
    store = tmp_path / "index" / "store.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE passages SET sentence_signals = NULL")  # as an earlier version

    app.close_library(app.open_library(settings))
    assert "Stored the sentence signals of 1 passages." in capsys.readouterr().out
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT sentence_signals IS NOT NULL FROM passages").fetchall() == [(1,)]
    app.close_library(app.open_library(settings))
    assert "signals" not in capsys.readouterr().out  # once
