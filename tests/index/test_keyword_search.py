"""The keyword search skips passages holding only common words (index/bm25.py) yet returns
what one FTS5 query over every word returns: the same passages, order and scores, within
the asker's scopes, while other threads write."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

import index.store
from corpus.records import Article
from index.bm25 import common_bound, merge_split, phrase_bound, split_common
from index.embedder import FakeEmbedder
from index.library import Library
from index.records import visible_scopes
from index.store import Store

GUILD = 42
OTHER_GUILD = 7
# Zipf-like: "one" and "years" are in most passages, "kim" in many, the rest rarer.
COMMON = ["one", "years", "new", "show"]
NAMES = ["kim", "taylor", "selena", "justin", "kanye", "ariana", "drake", "rihanna"]
RARE = [f"topic{n}" for n in range(60)]


def story(rng: random.Random, n: int) -> Article:
    words = [w for w in COMMON if rng.random() < 0.7]
    words += rng.sample(NAMES, rng.randint(0, 2)) + rng.sample(RARE, rng.randint(1, 3))
    words *= rng.randint(1, 3)  # repeats: term frequencies above one
    words += ["filler"] * rng.randint(0, 30)  # lengths vary: bm25's length normalisation
    rng.shuffle(words)
    return Article(title=" ".join(rng.sample(words, min(3, len(words)))),
                   text=" ".join(words) + ".", source=f"s{n}.txt")


def questions(rng: random.Random, count: int) -> list[list[str]]:
    asked = []
    for _ in range(count):
        words = rng.sample(COMMON, rng.randint(0, 3)) + rng.sample(NAMES, rng.randint(0, 2))
        words += rng.sample(RARE, rng.randint(0, 2)) + (["absentword"] if rng.random() < .2 else [])
        rng.shuffle(words)
        asked.append(words or ["one"])
    return asked


def one_query(store: Store, words: Sequence[str], scopes: Sequence[str],
              k: int) -> list[tuple[int, float]]:
    """What the keyword search returned before: bm25 over an OR of every word."""
    match = " OR ".join(f'"{word}"' for word in words)
    rows = store.db.execute(
        "SELECT f.rowid, bm25(passages_fts, 0.5, 1.0) AS rank FROM passages_fts f "
        "JOIN passages p ON p.id = f.rowid WHERE passages_fts MATCH ? "
        f"AND p.scope IN ({','.join('?' * len(scopes))}) ORDER BY rank, f.rowid LIMIT ?",
        (match, *scopes, k))
    return [(row[0], -row[1]) for row in rows]


def assert_same(found: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [pid for pid, _ in found] == [pid for pid, _ in expected]
    assert [score for _, score in found] == pytest.approx([s for _, s in expected], rel=1e-9)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    rng = random.Random(5)
    opened = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    opened.build([story(rng, n) for n in range(300)])
    opened.add_articles([story(rng, n) for n in range(300, 360)], guild_id=GUILD)
    opened.add_articles([story(rng, n) for n in range(360, 420)], guild_id=OTHER_GUILD)
    yield opened
    opened.close()


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each split the search tried gave the top k (False: it fell back)."""
    tried: list[bool] = []

    def spy(*args, **kwargs):
        top = merge_split(*args, **kwargs)
        tried.append(top is not None)
        return top

    monkeypatch.setattr(index.store, "merge_split", spy)
    return tried


@pytest.mark.parametrize("guild_id", [None, GUILD])
@pytest.mark.parametrize("k", [3, 10, 50])
def test_the_split_search_returns_what_one_query_over_every_word_returns(
        library: Library, splits: list[bool], guild_id: int | None, k: int) -> None:
    store = library.storage.store
    scopes = visible_scopes(guild_id)
    for words in questions(random.Random(k), 80):
        assert_same(store.keyword_search(words, scopes, k), one_query(store, words, scopes, k))
    assert any(splits), "no question took the split: the test proves nothing"
    if k == 50:  # past the rare words' passages: some splits must fall back
        assert not all(splits)


def test_another_guilds_passages_never_come_back(library: Library) -> None:
    store = library.storage.store
    own = set(store.passage_ids_in(visible_scopes(GUILD)).tolist())
    for words in questions(random.Random(1), 60):
        assert {pid for pid, _ in store.keyword_search(words, visible_scopes(GUILD), 50)} <= own


def test_counts_follow_writes(library: Library) -> None:
    """The cached passage counts of each word are the current generation's: after an add
    makes a rare word common, the search still matches one query over every word."""
    store = library.storage.store
    words, scopes = ["topic1", "one", "zebra"], visible_scopes(None)
    assert_same(store.keyword_search(words, scopes, 10), one_query(store, words, scopes, 10))
    rng = random.Random(9)
    library.add_articles([Article(title="zebra", text=f"zebra zebra one {rng.random()}.",
                                  source=f"z{n}.txt") for n in range(200)])
    assert_same(store.keyword_search(words, scopes, 10), one_query(store, words, scopes, 10))


def test_searches_beside_a_writer_see_one_state_each(library: Library) -> None:
    """Readers on several threads while articles are added: no errors, nothing from
    another guild, every ranking the same as one query run in the same snapshot."""
    store = library.storage.store
    failures: list[BaseException] = []
    done = threading.Event()

    def read(seed: int) -> None:
        try:
            for words in questions(random.Random(seed), 40):
                with store.snapshot():
                    found = store.keyword_search(words, visible_scopes(GUILD), 20)
                    expected = one_query(store, words, visible_scopes(GUILD), 20)
                assert [pid for pid, _ in found] == [pid for pid, _ in expected]
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    def write() -> None:
        rng = random.Random(3)
        while not done.is_set():
            library.add_articles([story(rng, 1000 + rng.randrange(10**6))], guild_id=OTHER_GUILD)

    writer = threading.Thread(target=write)
    writer.start()
    readers = [threading.Thread(target=read, args=(seed,)) for seed in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    done.set()
    writer.join()
    assert not failures, failures


def test_a_common_word_cannot_add_more_than_its_bound() -> None:
    rows = 1000
    assert phrase_bound(900, rows) == pytest.approx(2.2e-6)  # in most rows: the idf floor
    assert phrase_bound(10, rows) > phrase_bound(100, rows)
    rare, common = split_common(["kim", "one", "years"], {"kim": 5, "one": 900, "years": 600},
                                rows)
    assert (rare, common) == (["kim"], ["one", "years"])
    assert common_bound(common, {"one": 900, "years": 600}, rows) < 1
    # Never everything: at least one phrase is left to find the candidates with.
    assert split_common(["one"], {"one": 900}, rows) == (["one"], [])
    # Rare phrases stay: their bound is too high to clear and they cost little anyway.
    assert split_common(["kim", "topic"], {"kim": 5, "topic": 3}, rows)[1] == []


def test_a_split_only_answers_when_the_kth_best_beats_the_common_words() -> None:
    rare_only = [(1, 9.0), (2, 5.0), (3, 4.0)]
    with_common = [(3, 8.0), (4, 6.0)]  # 3 also holds a common word: its full score
    assert merge_split(rare_only, with_common, 3, bound=5.5) == [(1, 9.0), (3, 8.0), (4, 6.0)]
    assert merge_split(rare_only, with_common, 3, bound=6.0) is None  # a tie could beat it
    assert merge_split(rare_only[:1], [], 3, bound=0.1) is None  # fewer than k found


def test_candidates_articles_come_only_from_the_askers_scopes(library: Library) -> None:
    store = library.storage.store
    everyone = store.passage_ids().tolist()
    own = set(store.passage_ids_in(visible_scopes(GUILD)).tolist())
    found = store.articles_of(everyone, visible_scopes(GUILD))
    assert found.keys() == own
    rows = store.passages(sorted(own), visible_scopes(GUILD))
    assert found == {pid: row.article_id for pid, row in rows.items()}


def test_a_store_made_before_the_articles_index_gains_it(library: Library) -> None:
    """articles_of names its covering index: a store written by an older version (no such
    index) gets it when opened, with the same answers."""
    store = library.storage.store
    path, everyone = store.path, store.passage_ids().tolist()
    expected = store.articles_of(everyone, visible_scopes(GUILD))
    with store.transaction() as db:
        db.execute("DROP INDEX passages_articles")
    with pytest.raises(sqlite3.OperationalError, match="no such index"):
        store.articles_of(everyone, visible_scopes(GUILD))
    reopened = Store(path)
    assert reopened.articles_of(everyone, visible_scopes(GUILD)) == expected
    plan = reopened.db.execute("EXPLAIN QUERY PLAN SELECT id, article_id FROM passages "
                               "INDEXED BY passages_articles WHERE id IN (1, 2)").fetchall()
    assert "COVERING INDEX passages_articles" in str(plan)


def test_words_no_passage_holds_change_nothing(library: Library) -> None:
    """Absent words and ones FTS5 reads as no token at all ("_") match nothing and add
    nothing; a question of only such words finds nothing."""
    store, scopes = library.storage.store, visible_scopes(None)
    words = ["kim", "_", "absentword", "one"]
    assert_same(store.keyword_search(words, scopes, 10), one_query(store, words, scopes, 10))
    assert store.keyword_search(["_", "absentword"], scopes, 10) == []
