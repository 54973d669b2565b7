"""Retrievers: each ranks the passages visible to a query by one kind of evidence."""

from __future__ import annotations

from index.parts import Query, Ranking
from index.store import Store
from index.terms import content_words
from index.vectors import VectorIndex


class DenseRetriever:
    """Meaning: cosine between the question's vector and each passage's."""

    name = "dense"
    needs_vector = True

    def __init__(self, vectors: VectorIndex) -> None:
        self._vectors = vectors

    def retrieve(self, query: Query, k: int) -> Ranking:
        return self._vectors.search(query.vector, k, query.scopes)


class KeywordRetriever:
    """Words: SQLite FTS5 bm25 over the question's content words (stop-words dropped)."""

    name = "keyword"
    # The pipeline starts it while the question is still being embedded.
    needs_vector = False

    def __init__(self, store: Store) -> None:
        self._store = store

    def retrieve(self, query: Query, k: int) -> Ranking:
        return self._store.keyword_search(content_words(query.text), query.scopes, k)
