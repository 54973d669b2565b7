"""index/embedded_passages.py: the embedded store as the pipeline reads it."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.records import Article
from index.library import Library

STORIES = [
    Article(title="Volcano erupts", text="The volcano erupted at dawn, covering the valley "
            "in ash.", source="volcano.txt"),
    Article(title="Chef wins award", text="The chef won the golden spoon for her ramen.",
            source="chef.txt"),
]


@pytest.fixture
def library(built_library) -> Library:
    return built_library(STORIES)


def test_candidates_vectors_come_from_faiss_not_the_stores_rows(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    read_from_store: list[list[int]] = []
    store = library.storage.store
    stored = store.passage_vectors

    def recording(passage_ids, scopes):
        read_from_store.append(list(passage_ids))
        return stored(passage_ids, scopes)

    monkeypatch.setattr(store, "passage_vectors", recording)
    assert library.search("volcano ash", k=2)[0].source == "volcano.txt"
    assert read_from_store == []


def test_a_passage_faiss_has_not_caught_up_with_is_read_from_the_store(
        library: Library) -> None:
    """Another process added it: FAISS gets it on the next refresh, the store has it now."""
    source, store = library.storage.passages, library.storage.store
    ids = store.passage_ids().tolist()
    library.storage._vectors._snapshot.dense.remove([ids[0]])
    found = source.passage_vectors(ids, ("global",))
    assert sorted(found) == sorted(ids)
    np.testing.assert_array_equal(found[ids[0]], store.passage_vectors([ids[0]],
                                                                       ("global",))[ids[0]])
