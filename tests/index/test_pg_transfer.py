"""index/transfer.py: an embedded index into PostgreSQL and back, nothing re-embedded;
counts, vectors and answers match after each move."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from corpus import load_path
from index.config import LibraryConfig
from index.embedded_transfer import EmbeddedSource, EmbeddedTarget
from index.embedder import FakeEmbedder
from index.errors import TransferError
from index.library import Library, open_library
from index.pg.storage import open_database, read_record
from index.pg.transfer import PgSource, PgTarget
from index.transfer import copy_library
from tests.conftest import SAMPLE_DIR
from tests.index.test_library import GUILD_A, GUILD_B, article

pytestmark = pytest.mark.postgres

QUESTIONS = ["why was kim kardashian criticized?", "who did betty white celebrate with?",
             "what did ariana grande say after manchester?", "quantum chromodynamics lattice",
             "what are the clooneys donating?", "why are bieber's pants news?"]


class Counter:
    """An embedder that counts what it embeds (questions only, after a move)."""

    def __init__(self) -> None:
        self.inner = FakeEmbedder()
        self.name, self.dim, self.backend = self.inner.name, self.inner.dim, self.inner.backend
        self.fingerprint = self.inner.fingerprint
        self.texts = 0

    def encode(self, texts):
        self.texts += len(texts)
        return self.inner.encode(texts)


FTS5 = LibraryConfig(keyword_engine="fts5")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An embedded index: the sample articles, two servers' own, questions and votes."""
    library = Library.open(tmp_path / "source", FakeEmbedder(), create=True)
    library.build(load_path(SAMPLE_DIR).articles)
    library.add_articles([article("Secret gig", "The band played a secret gig downstairs.")],
                         guild_id=GUILD_A)
    library.add_articles([article("Bake sale", "The club held a bake sale for the roof.")],
                         guild_id=GUILD_B)
    for question in QUESTIONS:
        answer = library.ask(question, guild_id=GUILD_A)
        asked = library.log_question(question, answer, guild_id=GUILD_A, user_id=7)
        library.record_feedback(asked, user_id=8, vote=-1 if answer.abstained else 1)
    library.close()
    return tmp_path / "source"


def stored_vectors(library: Library) -> dict[tuple[str, int], tuple]:
    """(article, position) -> (passage vector, sentence spans, sentence vectors), every
    scope (passage ids are below 1,000 here)."""
    rows = library.storage.passages.evidence(
        list(range(1, 1_000)), ("global", str(GUILD_A), str(GUILD_B)), library.embedder.dim)
    return {(row.passage.article_id, row.passage.position): (
        row.vector, row.sentence_spans, row.sentence_vectors) for row in rows}


def answers(library: Library) -> list[dict]:
    result = []
    for guild in (None, GUILD_A, GUILD_B):
        for question in QUESTIONS:
            data = library.ask(question, guild_id=guild).to_json()
            result.append({**data, "evidence": round(data["evidence"], 3),
                           "confidence": round(data["confidence"], 3),
                           "hits": [{**hit, "score": round(hit["score"], 4)}
                                    for hit in data["hits"]]})
    return result


def assert_same_library(moved: Library, original: Library) -> None:
    for guild in (None, GUILD_A, GUILD_B):
        assert moved.info(guild_id=guild).articles == original.info(guild_id=guild).articles
        assert moved.info(guild_id=guild).passages == original.info(guild_id=guild).passages
        assert moved.question_stats(guild_id=guild) == original.question_stats(guild_id=guild)
        assert moved.list_articles(guild_id=guild, limit=100) == original.list_articles(
            guild_id=guild, limit=100)
    before, after = stored_vectors(original), stored_vectors(moved)
    assert before.keys() == after.keys() and len(before) > 40
    for key, (vector, spans, sentences) in before.items():
        assert np.array_equal(after[key][0], vector)
        assert after[key][1] == spans
        assert np.array_equal(after[key][2], sentences)
    assert answers(moved) == answers(original)


def test_an_index_moves_into_postgres_and_back_unchanged(
    source: Path, postgres_url: str, tmp_path: Path
) -> None:
    counts = copy_library(EmbeddedSource(source), PgTarget(postgres_url))
    assert counts.articles == 15 and counts.questions == counts.feedback == len(QUESTIONS)
    # FTS5's keyword ranking, which PostgreSQL's mirrors, so the answers compare equal
    # (the embedded default is tantivy's, a different ranking).
    original = Library.open(source, FakeEmbedder(), config=FTS5)
    moved = Counter()
    in_database = open_library(LibraryConfig(database_url=postgres_url), moved,
                               folder=tmp_path)
    assert_same_library(in_database, original)
    assert moved.texts == 3 * len(QUESTIONS)  # the questions asked: nothing re-embedded

    back = tmp_path / "back"
    assert copy_library(PgSource(postgres_url), EmbeddedTarget(back)) == counts
    returned = Library.open(back, FakeEmbedder(), config=FTS5)
    assert_same_library(returned, original)
    # The moved library keeps working: writes, question ids after the copied ones.
    for library in (in_database, returned):
        library.add_articles([article("Comet seen", "A bright comet was seen over the sky.")])
        assert library.search("bright comet", k=1)[0].title == "Comet seen"
        answer = library.ask("bright comet")
        assert library.log_question("bright comet", answer, guild_id=None, user_id=1) > len(
            QUESTIONS)
    for library in (original, in_database, returned):
        library.close()


def test_an_export_refuses_a_target_that_holds_a_library(
    source: Path, postgres_url: str, tmp_path: Path
) -> None:
    copy_library(EmbeddedSource(source), PgTarget(postgres_url))
    with pytest.raises(TransferError, match="already holds 15 articles"):
        copy_library(EmbeddedSource(source), PgTarget(postgres_url))
    with pytest.raises(TransferError, match="not empty"):
        copy_library(PgSource(postgres_url), EmbeddedTarget(source))


def test_a_failed_export_leaves_nothing_behind(source: Path, postgres_url: str,
                                               tmp_path: Path) -> None:
    """The source is damaged half-way (a passage without its keyword row): the copy
    stops, and the database holds no library, the folder no index."""
    with sqlite3.connect(source / "store.sqlite") as db:
        db.execute("DELETE FROM passages_fts WHERE rowid = (SELECT max(id) FROM passages)")
    with pytest.raises(TransferError, match="would hold"):
        copy_library(EmbeddedSource(source), PgTarget(postgres_url))
    database = open_database(postgres_url)
    assert read_record(database) is None
    database.close()
