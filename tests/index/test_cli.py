"""`python -m index …` end to end with the fake embedder (the real one is in another file)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from index.cli import run
from index.embedder import FakeEmbedder
from tests.index.backends import Backend


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = run(args, embedder=FakeEmbedder())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def where(backend: Backend) -> list[str]:
    """The options naming the library: the index folder, or the database."""
    url = backend.config.database_url
    return ["--index", str(backend.folder), *(["--database-url", url] if url else [])]


def test_build_info_search_ask_remove(corpus_dir: Path, library_backend: Backend,
                                      capsys) -> None:
    index = where(library_backend)
    code, out, err = cli(["build", "--corpus", str(corpus_dir), *index], capsys)
    assert code == 0
    assert "2 articles read (2 new" in out and "1 files skipped" in out
    assert "junk.bin.txt" in err

    code, out, _ = cli(["info", *index, "--json"], capsys)
    assert json.loads(out)["articles"] == 2

    code, out, _ = cli(["search", "world tour lisbon", *index, "--json"], capsys)
    top = json.loads(out)[0]
    assert (top["source"], top["url"], top["date"]) == (
        "music/tour.json", "https://example.org/tour", "2024-05-01")

    code, out, _ = cli(["ask", "where does the singer's tour start?", *index], capsys)
    assert "Singer announces tour" in out and "[1]" in out

    code, out, _ = cli(["build", "--corpus", str(corpus_dir), *index], capsys)
    assert "0 new, 0 updated, 2 unchanged" in out and "0 passages embedded" in out

    code, out, _ = cli(["remove", top["article_id"], *index], capsys)
    assert code == 0
    code, out, _ = cli(["remove", top["article_id"], *index], capsys)
    assert code == 1


def test_upgrade_stores_the_sentence_signals_of_passages_stored_without(
        corpus_dir: Path, tmp_path: Path, capsys) -> None:
    index = ["--index", str(tmp_path / "index")]
    assert cli(["build", "--corpus", str(corpus_dir), *index], capsys)[0] == 0
    store = tmp_path / "index" / "store.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE passages SET sentence_signals = NULL")

    code, out, err = cli(["upgrade", *index], capsys)
    assert code == 0 and "Stored the sentence signals of 2 passages" in out
    # A running count: how many are left is not known, so no bar claims to be full.
    assert "2passage" in err and "100%" not in err
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT COUNT(*) FROM passages "
                          "WHERE sentence_signals IS NULL").fetchone() == (0,)
    assert "of 0 passages" in cli(["upgrade", *index], capsys)[1]


def test_missing_index_is_one_clear_line(tmp_path: Path, capsys) -> None:
    code, _out, err = cli(["ask", "hello?", "--index", str(tmp_path / "none")], capsys)
    assert code == 2
    assert err.startswith("error: No index at") and err.count("\n") == 1


def test_empty_corpus_leaves_the_index_alone(corpus_dir: Path, tmp_path: Path, capsys) -> None:
    index = str(tmp_path / "index")
    cli(["build", "--corpus", str(corpus_dir), "--index", index], capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(["build", "--corpus", str(empty), "--index", index], capsys)
    assert code == 2 and "No articles found" in err
    code, out, _ = cli(["info", "--index", index, "--json"], capsys)
    assert json.loads(out)["articles"] == 2


def test_overlong_question_is_refused(corpus_dir: Path, tmp_path: Path, capsys) -> None:
    index = str(tmp_path / "index")
    cli(["build", "--corpus", str(corpus_dir), "--index", index], capsys)
    code, _, err = cli(["ask", "x" * 10_000, "--index", index], capsys)
    assert code == 2 and "10,000 characters" in err


def test_rebuild_replaces_an_index_made_with_another_model(
    corpus_dir: Path, library_backend: Backend, capsys
) -> None:
    index = where(library_backend)
    assert run(["build", "--corpus", str(corpus_dir), *index],
               embedder=FakeEmbedder(dim=32)) == 0
    capsys.readouterr()
    code, _, err = cli(["ask", "volcano?", *index], capsys)
    assert code == 2 and "--rebuild" in err and err.count("\n") == 1
    code, out, _ = cli(["build", "--rebuild", "--corpus", str(corpus_dir), *index], capsys)
    assert code == 0 and "2 new" in out
    code, out, _ = cli(["info", *index, "--json"], capsys)
    assert json.loads(out)["dim"] == 64


# --- issue 8, defect 12: one-line errors and skipped lines, never a traceback -------------


def test_questions_file_that_is_not_utf8_is_one_clear_line(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    index = str(tmp_path / "index")
    cli(["build", "--corpus", str(corpus_dir), "--index", index], capsys)
    questions = tmp_path / "questions.txt"
    questions.write_bytes(b"where is the tour?\n\xff\xfe caf\xe9?\n")
    code, _, err = cli(["ask", "--questions", str(questions), "--index", index], capsys)
    assert code == 2
    assert err.startswith("error: ") and "not UTF-8" in err and err.count("\n") == 1


def test_questions_file_skips_lines_empty_after_cleaning(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    index = str(tmp_path / "index")
    cli(["build", "--corpus", str(corpus_dir), "--index", index], capsys)
    questions = tmp_path / "questions.txt"
    questions.write_text("<@123456789>\nwhere does the singer's tour start?\n")
    code, out, err = cli(["ask", "--questions", str(questions), "--index", index, "--json"],
                         capsys)
    assert code == 0
    [answer] = [json.loads(line) for line in out.splitlines()]
    assert "tour" in answer["question"]
    assert "skipped question" in err


def test_a_garbage_store_is_one_clear_line(corpus_dir: Path, tmp_path: Path, capsys) -> None:
    index = tmp_path / "index"
    cli(["build", "--corpus", str(corpus_dir), "--index", str(index)], capsys)
    (index / "store.sqlite").write_bytes(bytes(range(256)) * 64)
    for name in ("store.sqlite-wal", "store.sqlite-shm"):
        (index / name).unlink(missing_ok=True)
    code, _, err = cli(["ask", "volcano?", "--index", str(index)], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1


def test_a_half_saved_file_keeps_its_indexed_articles_until_it_is_really_gone(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    index = str(tmp_path / "index")
    build = ["build", "--corpus", str(corpus_dir), "--index", index]
    assert cli(build, capsys)[0] == 0
    tour = corpus_dir / "music" / "tour.json"
    tour.write_text('[{"id": "t1", "title": "Singer announces tour", "te')  # mid-save
    code, out, err = cli(build, capsys)
    assert code == 0 and "0 removed" in out and "tour.json" in err
    assert "Singer announces tour" in cli(["search", "world tour Lisbon", "--index", index],
                                          capsys)[1]
    tour.unlink()
    assert "1 removed" in cli(build, capsys)[1]


def test_an_unknown_embedding_backend_is_a_one_line_error(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTLIGHT_EMBEDDING_BACKEND", "gpu-magic")
    code, _out, err = cli(["info", "--index", str(tmp_path / "index")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "SPOTLIGHT_EMBEDDING_BACKEND" in err
