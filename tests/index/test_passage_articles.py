"""index/passage_articles.py: the in-memory passage -> article map, against the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from index.passage_articles import PassageArticles

GUILD = 4242
SCOPE_SETS = [("global",), (str(GUILD),), ("global", str(GUILD)), ("9999",)]


def story(name: str, sentences: int = 1) -> Article:
    text = " ".join(f"The {name} story, part {n}, tells of {name} at length." * 12
                    for n in range(sentences))
    return Article(title=f"{name} news", text=text, source=f"{name}.txt")


def assert_map_is_the_store(library: Library) -> list[int]:
    """Every passage (and ids no passage has) asked in every scope: the same answers."""
    store, source = library.storage.store, library.storage.passages
    ids = store.passage_ids().tolist()
    asked = [*ids, max(ids) + 1, max(ids) + 10_000, 0]
    for scopes in SCOPE_SETS:
        assert source.articles_of(asked, scopes) == store.articles_of(asked, scopes)
    return ids


@pytest.fixture
def library(built_library) -> Library:
    library = built_library([story("volcano", 3), story("chef", 2)])
    library.add_articles([story("harbour", 2)], guild_id=GUILD)
    return library


def test_the_map_answers_as_the_store_does_in_every_scope(library: Library) -> None:
    ids = assert_map_is_the_store(library)
    assert len(ids) >= 3
    both = library.storage.passages.articles_of(ids, ("global", str(GUILD)))
    assert len(set(both.values())) == 3


def test_known_passages_are_not_asked_of_the_store(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[int]] = []
    store = library.storage.store
    monkeypatch.setattr(store, "articles_of",
                        lambda ids, scopes: asked.append(list(ids)) or {})
    ids = store.passage_ids().tolist()
    assert len(library.storage.passages.articles_of(ids, ("global", str(GUILD)))) == len(ids)
    assert library.ask("what did the chef story tell?").hits
    assert asked == []


def test_the_map_follows_this_process_writes(library: Library) -> None:
    before = set(library.storage.store.passage_ids().tolist())
    library.add_articles([story("comet", 4)])
    library.add_articles([story("chef", 3)])  # changed: its passages replaced
    volcano = library.search("volcano", k=1)[0].article_id
    assert library.remove(volcano)
    after = set(assert_map_is_the_store(library))
    gone = sorted(before - after)
    assert gone and library.storage.passages.articles_of(gone, ("global",)) == {}


def test_the_map_catches_up_with_another_process(
        library: Library, tmp_path: Path, fake_embedder: FakeEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Library objects on one folder are two processes' views of it."""
    other = Library.open(tmp_path / "index", fake_embedder)
    try:
        other.add_articles([story("meteor", 3)], guild_id=GUILD)
        assert other.remove(other.search("volcano", k=1)[0].article_id)
        # Not caught up yet: a passage the map does not know is asked of the store.
        store, source = library.storage.store, library.storage.passages
        new = sorted(set(store.passage_ids().tolist()))[-1]
        assert source.articles_of([new], (str(GUILD),)) == store.articles_of([new],
                                                                             (str(GUILD),))
        library.query("meteor")  # a question catches the caches up first
        assert_map_is_the_store(library)
        # This process writing from the other's generation: caught up, then applied.
        other.add_articles([story("glacier", 2)])
        library.add_articles([story("desert", 2)])
        ids = assert_map_is_the_store(library)
        asked: list[list[int]] = []
        monkeypatch.setattr(store, "articles_of",
                            lambda ids, scopes: asked.append(list(ids)) or {})
        assert len(source.articles_of(ids, ("global", str(GUILD)))) == len(ids)
        assert asked == []  # the glacier's passages too: learnt, not looked up
    finally:
        other.close()


def test_a_write_from_another_generation_is_caught_up_from_the_store(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """`apply` is told of a write that started after one it was not told of (another
    process's): what it lacks comes from the store, not from the write alone."""
    store = library.storage.store
    articles = PassageArticles(store)
    library.add_articles([story("comet", 3)])  # not told to this map
    told_before = store.generation()
    library.add_articles([story("tundra", 2)])
    articles.apply([], [], [], generation_before=told_before,
                   generation_after=store.generation())
    assert articles.generation == store.generation()
    monkeypatch.setattr(store, "articles_of", lambda ids, scopes: {})
    ids = library.storage.store.passage_ids().tolist()
    truth = {pid: article for pid, article, _ in store.passage_articles()}
    assert articles.articles_of(ids, ("global", str(GUILD))) == truth
