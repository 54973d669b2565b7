"""index/pg/keyword.py: bm25 on PostgreSQL equals the embedded index's FTS5 bm25."""

from __future__ import annotations

import contextlib
import itertools
import math
from pathlib import Path

import pytest

from corpus import load_path
from index.config import LibraryConfig
from index.embedder import FakeEmbedder
from index.library import Library, open_library
from index.pg.keyword import Term, clauses, idf, match_query
from index.records import visible_scopes
from tests.conftest import SAMPLE_DIR
from tests.index.test_library import article

# Punctuation, diacritics, numbers and repeats, where tokenizers differ.
TRICKY = [
    article("Beyoncé’s café tour", "Beyoncé opened a café in Zoë’s town — fans queued; "
            "the tour’s 3.5 million tickets sold. Jay-Z said: “wow!” #tour #café"),
    article("Kim Kardashian's Japan trip", "Kim Kardashian's trip to Japan with North: Kim "
            "posted photos, Kim's fans (and critics) replied. Kardashian-West family news."),
    article("Naïve résumé", "A naïve résumé named Ångström and Dvořák, e-mail a@b.com, "
            "site www.example.com/page?x=1, version 2.0.1, covid19 and 100% sure_thing."),
]
QUESTIONS = [
    "why was kim kardashian criticized", "kim kim japan trip", "beyonce cafe", "Zoe town",
    "naive resume angstrom dvorak", "3.5 million tickets", "jay z", "betty white birthday",
    "what did ariana grande say about manchester", "clooney donation splc", "bieber pants",
    "email example com", "covid19", "sure thing", "jennifer aniston friends reunion tour",
    "lady gaga netflix documentary", "ben affleck batman training",
]


@pytest.mark.parametrize(("bounds", "threshold", "expected"), [
    ([5.0, 3.0, 1.0], 4.0, [(0,), (1, 2)]),
    ([5.0, 3.0, 1.0], 8.5, [(0, 1, 2)]),
    ([5.0, 3.0, 1.0], 0.5, [(0,), (1,), (2,)]),
    ([5.0, 3.0, 1.0], 9.5, []),
    ([2.0, 2.0], 3.0, [(0, 1)]),
])
def test_clauses_are_the_smallest_sets_of_words_reaching_the_threshold(
    bounds: list[float], threshold: float, expected: list[tuple[int, ...]]
) -> None:
    assert clauses(bounds, threshold) == expected


def test_every_set_of_words_reaching_the_threshold_holds_a_clause() -> None:
    bounds = [7.1, 6.5, 3.3, 3.2, 1.0, 0.4]
    found = clauses(bounds, 9.0)
    for size in range(1, len(bounds) + 1):
        for words in itertools.combinations(range(len(bounds)), size):
            reaches = sum(bounds[i] for i in words) >= 9.0
            assert reaches == any(set(clause) <= set(words) for clause in found), words


def test_too_many_clauses_means_no_pruning() -> None:
    assert clauses([1.0] * 12, 6.0, limit=64) is None


def test_match_query_and_idf_follow_fts5() -> None:
    terms = [Term("kim", 1.0), Term("japan", 2.0)]
    assert match_query(terms, None) == "'kim' | 'japan'"
    assert match_query(terms, [(0, 1)]) == "('kim' & 'japan')"
    assert idf(100, 80) == 1e-6  # in most passages: FTS5's floor
    assert math.isclose(idf(100, 1), math.log(99.5 / 1.5))


def keyword_ranking(library: Library, question: str) -> list[tuple[tuple[str, int], float]]:
    """(article id, passage position) and bm25, best first, as the retriever returns them."""
    query = library.query(question, embed=False)
    ranking = library.pipeline.retrievers["keyword"].retrieve(query, 50)
    rows = library.storage.passages.passages([pid for pid, _ in ranking], query.scopes)
    return [((rows[pid].article_id, rows[pid].position), score) for pid, score in ranking]


@pytest.mark.postgres
def test_keyword_ranking_and_scores_equal_fts5(postgres_url: str, tmp_path: Path,
                                               fake_embedder: FakeEmbedder) -> None:
    articles = load_path(SAMPLE_DIR).articles + TRICKY
    # FTS5 explicitly: PostgreSQL's ranking mirrors it (the default engine is tantivy).
    embedded = Library.open(tmp_path / "index", fake_embedder, create=True,
                            config=LibraryConfig(keyword_engine="fts5"))
    database = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                            folder=tmp_path, create=True)
    for library in (embedded, database):
        library.build(articles)
    for question in QUESTIONS:
        expected = keyword_ranking(embedded, question)
        found = keyword_ranking(database, question)
        assert expected, question
        # Ties may come in either order: compare the order of distinct scores.
        assert [round(score, 6) for _, score in found] == [
            round(score, 6) for _, score in expected], question
        assert {key: round(score, 6) for key, score in found} == {
            key: round(score, 6) for key, score in expected}, question
    embedded.close()
    database.close()


@pytest.mark.postgres
def test_pruned_search_equals_scoring_every_candidate(
    postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two-pass search (index/pg/keyword.py) returns what scoring every passage that
    holds a word returns, also for k far below the number of matches."""
    library = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                           folder=tmp_path, create=True)
    library.build([article(f"Note {n}", f"Garden note {n} about "
                           f"{'tulips ' * (n % 4 + 1)}and {'roses ' * (n % 3)}in the park.")
                   for n in range(120)] + TRICKY)
    retriever = library.pipeline.retrievers["keyword"]
    questions = ["tulips roses park garden", "kim japan tulips", "roses", "note 7 tulips"]
    monkeypatch.setattr("index.pg.keyword.SCORE_ALL_BELOW", 0)  # prune even this few
    passes: list[object] = []
    score = retriever._score
    monkeypatch.setattr(retriever, "_score", lambda *args: passes.append(args[-1]) or score(
        *args))
    pruned = {(q, k): retriever.retrieve(library.query(q, embed=False), k)
              for q in questions for k in (3, 10, 200)}
    assert any(groups is not None for groups in passes), "no pass was pruned"
    assert len(passes) > len(pruned), "no search took a second pass"
    monkeypatch.setattr("index.pg.keyword.MAX_PRUNED_TERMS", 0)  # score every candidate
    for (question, k), found in pruned.items():
        assert found == retriever.retrieve(library.query(question, embed=False), k), (question, k)
    library.close()


@pytest.mark.postgres
def test_a_word_count_is_one_snapshot_whatever_is_written_meanwhile(
        postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    """A server's count of a word is all passages holding it less the other servers' ones:
    counted in two snapshots, a passage another server added in between made it wrong (-1
    at worst: a division by zero in the answerer's idf)."""
    library = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                           folder=tmp_path, create=True)
    library.build([article("Public recipe", "A saffron honey cake.")])
    library.add_articles([article("Guild recipe 0", "Saffron rice.")], guild_id=1)
    statistics = library.storage.store.statistics
    counting, added = "count(*) FROM passages WHERE keywords", []

    class WriteAfterTheFirstCount:
        def __init__(self, connection) -> None:
            self._connection = connection

        def execute(self, query, *args):
            result = self._connection.execute(query, *args)
            if counting in str(query) and not added:  # another server writes now
                added.append(library.add_articles(
                    [article("Guild recipe 1", "More saffron.")], guild_id=1))
            return result

    class Connections:
        def __init__(self, database) -> None:
            self._database = database

        @contextlib.contextmanager
        def connection(self):
            with self._database.connection() as connection:
                yield WriteAfterTheFirstCount(connection)

    statistics._current()  # the other scopes, read before the race
    statistics._database = Connections(statistics._database)
    (lexemes,) = library.storage.store._lexicon.lexemes(["saffron"])
    assert statistics.passages_holding(lexemes, visible_scopes(2)) == 1
    assert added  # the write did land during the count
    library.close()
